import CodeGen
import DataIO
import Foundation
import JIT
import ModelSpec
import Reference

/// What computes the gradients for `nngen grad`.
public enum GradEngine: Sendable {
    /// The generated C, compiled by a back end, in float32 or float64.
    case generated(any CBackend, ScalarType)
    /// The Swift reference interpreter (float64).
    case reference

    /// `tcc`, `cc` or `reference`, as written into the output's metadata.
    public var name: String {
        switch self {
        case .generated(let b, _): return b.name
        case .reference: return "reference"
        }
    }

    /// The scalar type of the run, and so of the tensors written.
    public var scalar: ScalarType {
        switch self {
        case .generated(_, let s): return s
        case .reference: return .f64
        }
    }
}

/// The loss and the gradients of one batch, as `nngen grad` writes them.
public struct GradResult: Sendable {
    /// The mean loss of the batch.
    public var loss: Double
    /// `dL/dparameter` for every parameter, by name, flat row-major.
    public var gradients: [String: [Double]]
    /// `dL/dx`, shaped like `x`.
    public var input: [Double]
    /// The shape of `x` (and of `input`): `[B, F]` or `[B, L, C]`.
    public var inputShape: [Int]
    /// The engine's scalar type; the tensors are stored as F32 or F64 accordingly.
    public var scalar: ScalarType
    /// The tensors in the order they are written: `loss`, every parameter's gradient (in the
    /// model's parameter order), `input`.
    public var file: SafetensorsFile
}

/// An input to `nngen grad` that does not fit the model: names the file, the tensor and what
/// was expected.
public struct GradInputError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The whole message.
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// `nngen grad`: reads parameters and one batch, runs one forward and backward pass (generated
/// code or the reference interpreter) and writes `loss` (shape `[]`), one gradient per parameter
/// under the parameter's own name and `input` (the gradient of `x`) to `outputFile` as
/// safetensors, in the engine's dtype (F64 for the reference). The model's `trainable` settings
/// are ignored here: every parameter gets its gradient.
///
/// - Parameters:
///   - parametersFile: safetensors holding every parameter by name with exactly its shape, in
///     F32 or F64 (other tensors, such as a checkpoint's optimizer state, are ignored).
///   - batchFile: safetensors holding `x` (`[B, F]` or `[B, L, C]`, B the model's batch, F32 or
///     F64) and `y` (`[B]` integer labels, I32 or I64, for softmax cross-entropy; `[B, outputs]`
///     F32 or F64 otherwise), as docs/CONVENTIONS.md describes. `x` is used as given (not standardised).
///   - outputFile: where to write; written atomically, and only when everything else succeeded.
///   - engine: the generated code on a back end and dtype, or the reference interpreter.
/// - Throws: `GradInputError` for tensors that do not fit, `DataError` for unreadable files,
///   `JITError` when the C does not compile.
@discardableResult
public func computeGradients(_ analysis: ModelAnalysis, parametersFile: String, batchFile: String,
                             outputFile: String, engine: GradEngine) throws -> GradResult {
    // The model's constants against the dtype first, before any file is read.
    if case .generated(_, let scalar) = engine { try analysis.validate(for: scalar) }
    // Gradients are a diagnostic: every parameter's and the input's, whatever the model freezes.
    var everything = analysis.model
    everything.trainable = [:]
    let analysis = analysis.hasFrozenParameters ? try everything.analyze(file: analysis.file) : analysis
    let parameters = try readParameters(analysis, from: parametersFile)
    let batch = try readBatch(analysis, from: batchFile)
    let loss: Double, grads: [Double], input: [Double]
    switch engine {
    case .generated(let backend, let scalar):
        let model = try CompiledModel(analysis: analysis, backend: backend, scalar: scalar)
        model.parameters = parameters
        switch batch.targets {
        case .labels(let l): try model.setBatch(x: batch.x, labels: l)
        case .values(let v): try model.setBatch(x: batch.x, values: v)
        }
        loss = model.forward()
        model.backward(inputGradient: true)
        grads = model.gradients
        input = model.inputGradient
    case .reference:
        let g = try ReferenceInterpreter(analysis).gradients(parameters: parameters, input: batch.x,
                                                              targets: batch.targets, inputGradient: true)
        loss = g.loss
        grads = g.parameters
        input = g.input ?? []
    }
    let dtype = DType(engine.scalar)
    var byName: [String: [Double]] = [:]
    var tensors = [try Tensor(name: "loss", shape: [], doubles: [loss], dtype: dtype)]
    for p in analysis.parameters {
        let g = Array(grads[p.offset..<(p.offset + p.count)])
        byName[p.name] = g
        tensors.append(try Tensor(name: p.name, shape: p.shape, doubles: g, dtype: dtype))
    }
    tensors.append(try Tensor(name: "input", shape: batch.xShape, doubles: input, dtype: dtype))
    let file = try SafetensorsFile(tensors: tensors, metadata: [
        "format": "nngen-gradients-1", "model": analysis.model.name, "engine": engine.name,
        "dtype": engine.scalar.rawValue,
    ])
    try file.write(to: URL(fileURLWithPath: outputFile))
    return GradResult(loss: loss, gradients: byName, input: input, inputShape: batch.xShape, scalar: engine.scalar,
                      file: file)
}

/// The flat parameter array of `analysis` read from a safetensors file: every parameter by
/// name, with exactly its shape, F32 or F64. Other tensors in the file are ignored.
/// - Throws: `GradInputError` naming the file, the tensor and the expected shape or dtype.
public func readParameters(_ analysis: ModelAnalysis, from path: String) throws -> [Double] {
    let file = try SafetensorsFile.read(from: URL(fileURLWithPath: path))
    var flat = [Double](repeating: 0, count: analysis.parameterCount)
    let model = analysis.model.name
    for p in analysis.parameters {
        guard let t = file[p.name] else {
            let available = file.names.isEmpty ? "it holds no tensors" : "it holds " + listed(file.names)
            throw GradInputError("\(path): no tensor '\(p.name)'; model \(model) needs every parameter by name, "
                                 + "this one with shape \(shapeText(p.shape)) (\(available))")
        }
        guard t.shape == p.shape else {
            throw GradInputError("\(path): tensor '\(p.name)' has shape \(shapeText(t.shape)); "
                                 + "model \(model) expects \(shapeText(p.shape))")
        }
        guard !t.dtype.isInteger else {
            throw GradInputError("\(path): tensor '\(p.name)' is \(t.dtype.rawValue); parameters must be F32 or F64")
        }
        flat.replaceSubrange(p.offset..<(p.offset + p.count), with: t.asDoubles())
    }
    return flat
}

/// One batch read from a safetensors file for `analysis`.
public struct GradBatch: Sendable {
    /// The inputs, `B * input size` values.
    public var x: [Double]
    /// The shape of `x` as stored: `[B, F]` or `[B, L, C]`.
    public var xShape: [Int]
    /// Labels (softmax cross-entropy) or target values.
    public var targets: Targets
}

/// Reads `x` and `y` from a batch file and checks them against the model (see `computeGradients`).
/// A CSV file (labelled rows as `nngen train` reads them) gives its first `batch` rows, in file
/// order and not standardised.
/// - Throws: `GradInputError` naming the file, the tensor and what was expected.
public func readBatch(_ analysis: ModelAnalysis, from path: String) throws -> GradBatch {
    let m = analysis.model
    let B = m.batch
    let xShape = [B] + m.input.shape.dimensions
    if URL(fileURLWithPath: path).pathExtension.lowercased() == "csv" {
        let data = try ModelData.load(URL(fileURLWithPath: path), for: analysis)
        guard data.count >= B else {
            throw GradInputError("\(path): \(data.count) rows; model \(m.name) takes a batch of \(B) (the first \(B) "
                                 + "rows are used)")
        }
        let f = m.input.shape.elementCount, k = analysis.outputCount
        let targets: Targets
        switch data.targets {
        case .labels(let l, _): targets = .labels(Array(l.prefix(B)))
        case .values(let v, _): targets = .values(Array(v.prefix(B * k)))
        }
        return GradBatch(x: Array(data.x.prefix(B * f)), xShape: xShape, targets: targets)
    }
    let file = try SafetensorsFile.read(from: URL(fileURLWithPath: path))
    let xDoc: String
    switch m.input {
    case .features(let f): xDoc = "batch \(B) x \(f) features"
    case .sequence(let l, let c): xDoc = "batch \(B) x \(l) positions x \(c) channels"
    }
    guard let x = file["x"] else {
        throw GradInputError("\(path): no tensor 'x'; expected the inputs with shape \(shapeText(xShape)) (\(xDoc))")
    }
    guard x.shape == xShape else {
        throw GradInputError("\(path): tensor 'x' has shape \(shapeText(x.shape)); model \(m.name) expects "
                             + "\(shapeText(xShape)) (\(xDoc))")
    }
    guard !x.dtype.isInteger else {
        throw GradInputError("\(path): tensor 'x' is \(x.dtype.rawValue); inputs must be F32 or F64")
    }
    let classes = analysis.outputCount
    let yShape = m.loss.usesLabels ? [B] : [B, classes]
    let yDoc = m.loss.usesLabels ? "\(B) integer class labels in 0..<\(classes) for \(m.loss.typeName)"
        : "\(B) rows of \(classes) target \(classes == 1 ? "value" : "values") for \(m.loss.typeName)"
    guard let y = file["y"] else {
        throw GradInputError("\(path): no tensor 'y'; expected shape \(shapeText(yShape)) (\(yDoc))")
    }
    guard y.shape == yShape else {
        throw GradInputError("\(path): tensor 'y' has shape \(shapeText(y.shape)); model \(m.name) expects "
                             + "\(shapeText(yShape)) (\(yDoc))")
    }
    let targets: Targets
    if m.loss.usesLabels {
        guard y.dtype.isInteger else {
            throw GradInputError("\(path): tensor 'y' is \(y.dtype.rawValue); \(m.loss.typeName) needs integer labels "
                                 + "(I32 or I64) in 0..<\(classes)")
        }
        let labels = try y.asInts()
        if let bad = labels.firstIndex(where: { !(0..<classes).contains($0) }) {
            throw GradInputError("\(path): y[\(bad)] = \(labels[bad]) is not a class of model \(m.name); "
                                 + "labels must be in 0..<\(classes)")
        }
        targets = .labels(labels)
    } else {
        guard !y.dtype.isInteger else {
            throw GradInputError("\(path): tensor 'y' is \(y.dtype.rawValue); \(m.loss.typeName) targets must be F32 or F64")
        }
        targets = .values(y.asDoubles())
    }
    return GradBatch(x: x.asDoubles(), xShape: xShape, targets: targets)
}

private func shapeText(_ s: [Int]) -> String { "[" + s.map(String.init).joined(separator: ", ") + "]" }

/// `'a', 'b', 'c'` (the first few names).
private func listed(_ names: [String]) -> String {
    let shown = names.prefix(6).map { "'\($0)'" }.joined(separator: ", ")
    return names.count > 6 ? shown + " and \(names.count - 6) more" : shown
}
