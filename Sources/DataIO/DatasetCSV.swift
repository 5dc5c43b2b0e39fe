import Foundation

extension Dataset {
    /// Loads a CSV data set: `features` input columns, then the target columns.
    ///
    /// With `.classes(k)` the last column is an integer label in `0..<k` (written `3` or `3.0`);
    /// with `.values(outs)` the last `outs` columns are real targets. Every field must be a
    /// finite number. Errors name the file, the line (1-based, the header counted) and the
    /// column (1-based field number). A plain numeric file is read by a fast path straight into
    /// memory (`NumericCSV`); any other, and every error, goes through `CSVTable`.
    public static func loadCSV(from url: URL, features: Int, target: TargetKind) throws(DataError) -> Dataset {
        if let fast = NumericCSV.load(url, features: features, target: target) { return fast }
        return try Dataset(csv: CSVTable.read(from: url), features: features, target: target)
    }

    /// The data set in a plain numeric CSV file (`NumericCSV`'s rules), read by the fast path;
    /// nil for any other file, which the caller then reads with `CSVTable` (that finds and reports
    /// its problems).
    public static func loadPlainCSV(_ url: URL, features: Int, target: TargetKind) -> Dataset? {
        NumericCSV.load(url, features: features, target: target)
    }

    /// A data set from an already split CSV table; see `loadCSV(from:features:target:)`.
    public init(csv table: CSVTable, features: Int, target: TargetKind) throws(DataError) {
        guard features >= 1 else {
            throw DataError(file: nil, .invalidArgument("the number of features must be at least 1, got \(features)"))
        }
        try target.validate()
        let expected = features + target.columns
        let layout: String
        switch target {
        case .classes: layout = "\(features) features + 1 label"
        case .values(let outs): layout = "\(features) features + \(outs) target value\(outs == 1 ? "" : "s")"
        }
        if let header = table.header, header.count != expected {
            throw DataError(file: table.source, line: 1, .fieldCount(expected: expected, found: header.count, layout: layout))
        }
        guard !table.rows.isEmpty else { throw DataError(file: table.source, .noDataRows) }

        var x: [Double] = []
        x.reserveCapacity(table.rows.count * features)
        var labels: [Int] = []
        var values: [Double] = []
        for (r, row) in table.rows.enumerated() {
            let line = table.lineNumbers[r]
            guard row.count == expected else {
                throw DataError(file: table.source, line: line, .fieldCount(expected: expected, found: row.count, layout: layout))
            }
            for c in 0..<features {
                x.append(try table.number(row[c], line: line, column: c + 1))
            }
            switch target {
            case .classes(let k):
                let field = row[features]
                let value = try table.number(field, line: line, column: features + 1)
                guard let label = Int(exactly: value) else {
                    throw DataError(file: table.source, line: line, column: features + 1,
                                    .labelNotInteger(field: field, classes: k))
                }
                guard label >= 0, label < k else {
                    throw DataError(file: table.source, line: line, column: features + 1,
                                    .labelOutOfRange(label: label, classes: k))
                }
                labels.append(label)
            case .values:
                for c in features..<expected {
                    values.append(try table.number(row[c], line: line, column: c + 1))
                }
            }
        }
        switch target {
        case .classes(let k): try self.init(x: x, inputShape: [features], targets: .labels(labels, classes: k))
        case .values(let outs): try self.init(x: x, inputShape: [features], targets: .values(values, outputs: outs))
        }
        source = table.source
        featureNames = table.header.map { Array($0.prefix(features)) }
    }
}
