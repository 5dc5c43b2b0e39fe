/// One problem found in a model description, with the place it was found.
public struct ModelIssue: Hashable, Sendable, CustomStringConvertible {
    /// Where: `model`, `input`, `optimizer`, `loss`, or a layer path such as
    /// `layers[3].layers[1] (conv1d)`.
    public var place: String
    /// What is wrong and what would be right.
    public var message: String

    public init(place: String, message: String) {
        self.place = place
        self.message = message
    }

    public var description: String { "\(place): \(message)" }
}

/// The error thrown when a model description cannot be read or is not valid.
/// Its description lists every problem found, one per line, prefixed by the file if known.
public struct ModelSpecError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The model file, if the model came from one.
    public var file: String?
    /// The problems, in the order they were found (never empty).
    public var issues: [ModelIssue]

    public init(file: String? = nil, issues: [ModelIssue]) {
        self.file = file
        self.issues = issues
    }

    public init(file: String? = nil, place: String, _ message: String) {
        self.init(file: file, issues: [ModelIssue(place: place, message: message)])
    }

    public var description: String {
        let prefix = file.map { "\($0): " } ?? ""
        if issues.count == 1 { return prefix + issues[0].description }
        let head = prefix + "\(issues.count) problems in the model:"
        return ([head] + issues.map { "  - \($0)" }).joined(separator: "\n")
    }
}

/// Size limits every model must respect. Every tensor (each activation including the batch
/// dimension, each parameter) and the sum of the parameter and activation elements must hold
/// at most `maxElements` elements. Gradients and optimizer state live in arrays of their own
/// with the parameters' offsets, so every index and offset in the generated C fits a 32-bit
/// `int`, and no size arithmetic in nngen can overflow.
public enum ModelLimits {
    /// 2^31 - 1 elements: 8 GiB of float32, 16 GiB of float64.
    public static let maxElements = Int(Int32.max)
    /// The longest model name (it prefixes C identifiers).
    public static let maxNameLength = 64
}

/// Multiplies non-negative sizes, returning nil on overflow.
func checkedProduct(_ values: Int...) -> Int? { checkedProduct(values) }

/// Multiplies non-negative sizes, returning nil on overflow.
func checkedProduct(_ values: [Int]) -> Int? {
    var r = 1
    for v in values {
        let (p, o) = r.multipliedReportingOverflow(by: v)
        if o { return nil }
        r = p
    }
    return r
}
