import DataIO
import Foundation
import JIT
import ModelSpec

/// Starting parameters from a pretrained safetensors file (`nngen train --init FILE`,
/// `ModelTrainer.loadParameters`): every tensor is matched to a parameter by name, in F32 or
/// F64 (converted to the run's dtype).
///
/// Names (docs/CONVENTIONS.md "Parameter names"): nngen's own (`layers.0.weight`,
/// `layers.2.layers.1.bias`), or a PyTorch `nn.Sequential` state_dict's, which lack the leading
/// `layers.` (`0.weight` is `layers.0.weight`, `2.layers.1.bias` is `layers.2.layers.1.bias`);
/// a file may mix both. An nngen checkpoint works too: its optimizer state, step, epoch and
/// standardizer are not parameters and are skipped.
public struct InitialParameters: Sendable, Equatable {
    /// The flat parameters: the file's values, and for parameters it lacks (only with
    /// `partial`) the values given as `base`.
    public var values: [Double]
    /// The parameter names taken from the file, in parameter order.
    public var loaded: [String]
    /// The parameter names the file lacks (kept at their `base` values), in parameter order.
    public var missing: [String]

    /// The parameter name a tensor name stands for: itself, or `layers.` + it when it starts with
    /// a digit (PyTorch `nn.Sequential`).
    public static func parameterName(forTensor name: String) -> String {
        guard let first = name.unicodeScalars.first, ("0"..."9").contains(first) else { return name }
        return "layers." + name
    }

    /// Matches the tensors of `file` to the parameters of `analysis`.
    ///
    /// - Parameters:
    ///   - base: the values of parameters the file lacks (the seeded initial values).
    ///   - partial: whether missing parameters are allowed (`--init-partial`).
    ///   - source: the file, named in errors.
    /// - Throws: `InitialParametersError` listing every missing, extra, misshapen or
    ///   wrongly typed tensor at once.
    public init(file: SafetensorsFile, source: String, for analysis: ModelAnalysis, base: [Double],
                partial: Bool) throws {
        let isCheckpoint = file.metadata["format"] == Checkpoint.format
        var byParameter: [String: Tensor] = [:]
        var extra: [String] = [], problems: [String] = []
        for name in file.names {
            guard let t = file[name] else { continue }
            if isCheckpoint && (name.hasPrefix("optimizer.") || name.hasPrefix("training.") || name.hasPrefix("standardizer.")) {
                continue
            }
            let target = Self.parameterName(forTensor: name)
            guard let p = analysis.parameter(named: target) else { extra.append(name); continue }
            if byParameter[target] != nil {
                problems.append("\"\(name)\" and another tensor both give \(target)")
                continue
            }
            if t.dtype != .f32 && t.dtype != .f64 {
                problems.append("\"\(name)\" is \(t.dtype.rawValue), expected F32 or F64")
            } else if t.shape != p.shape {
                problems.append("\"\(name)\" has shape \(t.shape), \(p.name) needs \(p.shape)")
            }
            byParameter[target] = t
        }
        let missing = analysis.parameters.map(\.name).filter { byParameter[$0] == nil }
        if !extra.isEmpty || !problems.isEmpty || (!missing.isEmpty && !partial) {
            throw InitialParametersError(file: source, missing: partial ? [] : missing, extra: extra, problems: problems,
                                         parameters: analysis.parameters.map { "\($0.name) \($0.shape)" })
        }
        guard base.count == analysis.parameterCount else {
            throw CheckpointError.sizeMismatch(what: "base parameters", expected: analysis.parameterCount, found: base.count)
        }
        var values = base
        var loaded: [String] = []
        for p in analysis.parameters {
            guard let t = byParameter[p.name] else { continue }
            values.replaceSubrange(p.offset..<(p.offset + p.count), with: t.asDoubles())
            loaded.append(p.name)
        }
        self.values = values
        self.loaded = loaded
        self.missing = missing
    }

    /// Reads `url` and matches it as `init(file:source:for:base:partial:)` does.
    public static func read(from url: URL, for analysis: ModelAnalysis, base: [Double],
                            partial: Bool) throws -> InitialParameters {
        try InitialParameters(file: SafetensorsFile.read(from: url), source: url.path, for: analysis, base: base,
                              partial: partial)
    }
}

extension CompiledModel {
    /// Replaces the parameters with those of a pretrained file (see `InitialParameters`); the
    /// parameters the file lacks keep their current values (`partial` only). Returns what was
    /// loaded. The optimizer state and step are left as they are.
    @discardableResult
    public func loadInitialParameters(from url: URL, partial: Bool) throws -> InitialParameters {
        let loaded = try InitialParameters.read(from: url, for: analysis, base: parameters, partial: partial)
        parameters = loaded.values
        return loaded
    }
}

/// Why a pretrained file cannot give the starting parameters: every problem at once.
public struct InitialParametersError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file.
    public var file: String
    /// Parameters the file lacks (empty with `--init-partial`).
    public var missing: [String]
    /// Tensors that name no parameter of the model.
    public var extra: [String]
    /// Tensors of the wrong shape or dtype, one line each.
    public var problems: [String]
    /// The model's parameters with their shapes, for the message.
    public var parameters: [String]

    public var description: String {
        var lines = ["\(file) cannot give this model's parameters:"]
        if !missing.isEmpty {
            lines.append("  missing (\(missing.count)): " + missing.joined(separator: ", ")
                         + " (pass --init-partial to keep their seeded values)")
        }
        if !extra.isEmpty { lines.append("  not parameters of the model (\(extra.count)): " + extra.joined(separator: ", ")) }
        for p in problems { lines.append("  " + p) }
        lines.append("  the model's parameters: " + parameters.joined(separator: ", ")
                     + " (PyTorch nn.Sequential names such as 0.weight are read as layers.0.weight)")
        return lines.joined(separator: "\n")
    }
}

extension InitialParametersError: LocalizedError {
    /// The same text as `description`.
    public var errorDescription: String? { description }
}
