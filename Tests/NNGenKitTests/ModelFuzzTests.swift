import CodeGen
import Foundation
import JIT
import ModelSpec
import NNGenKit
import XCTest

/// Random valid models through `checkGradients` (generated C against the reference
/// interpreter, with 2 optimizer steps).
///
/// `RandomModelGenerator` draws models from a seed: every layer and layer option, vector and
/// sequence inputs, residual blocks nested up to 3 deep, odd sizes, batches 1...5, every loss and
/// optimizer variant. Drafts that `Model.validate()` refuses are discarded and counted. Every
/// model runs on tcc in f32 and f64; a subset (`NNGEN_FUZZ_CC`, default every 2nd) also on cc
/// in both dtypes. A failure prints the model's seed and its JSON. See docs/TESTING.md.
final class ModelFuzzTests: XCTestCase {
    /// The generator reaches every layer type, every option, every loss and every optimizer
    /// variant within the default number of models.
    func testGeneratorCoversTheVocabulary() throws {
        let (models, _) = RandomModelGenerator.models(count: max(FuzzSettings.models, 50), base: FuzzSettings.seed)
        var seen = Set<String>()
        func walk(_ layers: [Layer], depth: Int) {
            for l in layers {
                seen.insert(l.typeName)
                switch l {
                case .dense(_, let bias): seen.insert("dense bias \(bias)")
                case .conv1d(_, _, let stride, let padding, let dilation, let bias):
                    seen.insert("conv bias \(bias)")
                    if stride > 1 { seen.insert("conv stride") }
                    if dilation > 1 { seen.insert("conv dilation") }
                    switch padding {
                    case .explicit(let p): seen.insert(p > 0 ? "conv padding int" : "conv padding 0")
                    case .same: seen.insert("conv padding same")
                    case .valid: seen.insert("conv padding valid")
                    }
                case .layerNorm(let eps, let affine):
                    seen.insert("layernorm affine \(affine)")
                    if eps != 1e-5 { seen.insert("layernorm eps") }
                case .activation(.leakyReLU(let s)): if s != 0.01 { seen.insert("leaky slope") }
                case .maxPool1d(let k, let s), .avgPool1d(let k, let s):
                    seen.insert("\(l.typeName) stride \(s < k ? "<" : s > k ? ">" : "=") kernel")
                case .residual(let body):
                    seen.insert("residual depth \(depth + 1)")
                    walk(body, depth: depth + 1)
                default: break
                }
            }
        }
        for m in models {
            walk(m.layers, depth: 0)
            seen.insert("loss " + m.loss.typeName)
            if case .huber(let d) = m.loss, d != 1 { seen.insert("huber delta") }
            switch m.input {
            case .features: seen.insert("vector input")
            case .sequence: seen.insert("sequence input")
            }
            seen.insert("batch \(m.batch)")
            switch m.optimizer {
            case .sgd(_, let momentum, let nesterov, let wd):
                seen.insert(momentum == 0 ? "sgd" : nesterov ? "sgd nesterov" : "sgd momentum")
                if wd != 0 { seen.insert("sgd weight decay") }
            case .adam(_, _, _, _, let wd): seen.insert(wd == 0 ? "adam" : "adam weight decay")
            case .adamw: seen.insert("adamw")
            }
        }
        var expected = Set(Layer.typeNames)
        expected.formUnion(["dense bias true", "dense bias false", "conv bias true", "conv bias false", "conv stride",
                            "conv dilation", "conv padding int", "conv padding 0", "conv padding same", "conv padding valid",
                            "layernorm affine true", "layernorm affine false", "layernorm eps", "leaky slope",
                            "maxpool1d stride < kernel", "maxpool1d stride > kernel", "maxpool1d stride = kernel",
                            "avgpool1d stride < kernel", "avgpool1d stride > kernel", "avgpool1d stride = kernel",
                            "residual depth 1", "residual depth 2", "residual depth 3", "huber delta",
                            "vector input", "sequence input", "sgd", "sgd momentum", "sgd nesterov", "sgd weight decay",
                            "adam", "adam weight decay", "adamw"])
        expected.formUnion(Loss.allCases.map { "loss " + $0.typeName })
        expected.formUnion((1...5).map { "batch \($0)" })
        // Freezing: every setting, on the layers that can take it.
        for m in models {
            for (path, t) in m.trainable where !path.contains(".") {
                let i = Int(path.dropFirst("layers[".count).dropLast()) ?? 0
                seen.insert("trainable \(t) on \(m.layers[i].typeName)")
            }
        }
        expected.formUnion(["trainable false on dense", "trainable \"bias\" on dense", "trainable \"weight\" on dense",
                            "trainable false on conv1d", "trainable \"bias\" on conv1d",
                            "trainable false on layernorm", "trainable false on residual"])
        // (a bias-only layernorm is in CheckMatrixTests.frozenModels; top-level affine layernorms
        // are too rare among these drafts to count on one)
        XCTAssertEqual(expected.subtracting(seen), [], "not generated in \(models.count) models")
    }

    /// Every generated model passes validation (the generator already discarded the others) and
    /// its JSON reads back to the same model.
    func testGeneratedModelsAreValidAndRoundTrip() throws {
        let (models, discarded) = RandomModelGenerator.models(count: FuzzSettings.models, base: FuzzSettings.seed)
        print("fuzz models: \(models.count) valid, \(discarded) drafts discarded by validation")
        for m in models {
            XCTAssertEqual(m.validate(), [])
            XCTAssertEqual(try Model.decode(Data(m.jsonString.utf8)), m, m.jsonString)
        }
    }

    /// The gradient check on every generated model: tcc f32 and f64 for all, cc f32 and f64 for
    /// the subset `NNGEN_FUZZ_CC` selects.
    func testRandomModelsPassTheGradientCheck() throws {
        let base = FuzzSettings.seed
        let (models, discarded) = RandomModelGenerator.models(count: FuzzSettings.models, base: base)
        var list: [ModelFuzzJob] = []
        for (i, m) in models.enumerated() {
            var backends: [any CBackend] = [TCCBackend()]
            if FuzzSettings.usesCC(i) { backends.append(CCBackend()) }
            for b in backends {
                for s in [ScalarType.f32, .f64] { list.append(ModelFuzzJob(index: i, model: m, backend: b, scalar: s)) }
            }
        }
        let jobs = list
        let log = FuzzLog()
        let start = Date()
        DispatchQueue.concurrentPerform(iterations: jobs.count) { j in
            let job = jobs[j]
            let label = "\(job.model.name) \(job.backend.name) \(job.scalar.rawValue)"
            func report(_ what: String) {
                log.fail("""
                \(label): \(what)
                  seed: NNGEN_FUZZ_SEED=\(base), model index \(job.index) (model seed \(RandomModelGenerator.seed(base, job.index)))
                  reproduce: save the JSON below as m.json, then
                  nngen check m.json --backend \(job.backend.name) --dtype \(job.scalar.rawValue) --seed 1 --steps 2
                \(job.model.jsonString)
                """)
            }
            do {
                let analysis = try job.model.analyze()
                let r = try checkGradients(analysis, backend: job.backend, scalar: job.scalar, seed: 1, steps: 2)
                log.count("checks \(job.backend.name)")
                let bad = r.rows.filter { !$0.passed }
                if !bad.isEmpty {
                    report(bad.map {
                        String(format: "%@ rel err %.3e (abs %.3e) > tol %.1e", $0.name, $0.maxRelativeError,
                               $0.maxAbsoluteError, $0.tolerance)
                    }.joined(separator: "; "))
                } else if r.rows.count != analysis.parameters.count + 4 {
                    report("\(r.rows.count) rows, expected \(analysis.parameters.count + 4)")
                }
            } catch {
                report("threw \(error)")
            }
        }
        print(String(format: "fuzz models: %d models (%d drafts discarded), %d checks (%@) in %.1f s, %d failures",
                     models.count, discarded, jobs.count, log.summary, Date().timeIntervalSince(start), log.failures.count))
        XCTAssertTrue(log.failures.isEmpty, "\(log.failures.count) failing checks:\n" + log.failures.joined(separator: "\n"))
    }
}

/// One `checkGradients` call of the fuzz run.
struct ModelFuzzJob: Sendable {
    var index: Int
    var model: Model
    var backend: any CBackend
    var scalar: ScalarType
}

/// Draws random models that `Model.validate()` accepts.
enum RandomModelGenerator {
    /// The seed of model `index` under the base seed.
    static func seed(_ base: UInt64, _ index: Int) -> UInt64 { FuzzSettings.caseSeed(base, stream: 1, index: index) }

    /// `count` valid models (model `i` is the first valid draft from the seeds of index `i`,
    /// tried in turn), and the number of drafts validation refused.
    static func models(count: Int, base: UInt64) -> ([Model], Int) {
        var out: [Model] = []
        var discarded = 0
        for i in 0..<count {
            var attempt = 0
            while true {
                var r = FuzzRandom(seed: seed(base, i) &+ UInt64(attempt) &* 0x1_0000_0001)
                let m = draft(&r, name: "fuzz\(i)", index: i)
                if m.validate().isEmpty {
                    out.append(m)
                    break
                }
                discarded += 1
                attempt += 1
            }
        }
        return (out, discarded)
    }

    /// One draft. Shapes are tracked so that most drafts are valid; the few that are not (a
    /// conv or pool left with no positions, a layernorm over fewer than 3 values...) are what
    /// validation is for.
    ///
    /// So that every run covers the rare options, the first models of a run start with one of
    /// them (`forcedFirstLayers`), and the loss and the optimizer variant follow the index.
    static func draft(_ r: inout FuzzRandom, name: String, index: Int) -> Model {
        var shape: Shape = r.bool()
            ? .vector(r.int(1, 9))
            : .sequence(length: r.int(1, 12), channels: r.int(1, 5))
        var layers: [Layer] = []
        if index < forcedFirstLayers.count {
            let (start, first) = forcedFirstLayers[index]
            shape = start
            layers.append(first)
        }
        let input: InputShape
        switch shape {
        case .vector(let f): input = .features(f)
        case .sequence(let l, let c): input = .sequence(length: l, channels: c)
        }
        if index < forcedFirstLayers.count {
            // The shape after the forced layer.
            let m = Model(name: name, input: input, batch: 1, layers: layers, loss: .mse)
            if let a = try? m.analyze() { shape = a.outputShape }
        }
        for _ in 0..<r.int(0, 6) {
            layers.append(layer(&r, &shape, depth: 0))
        }
        // To a vector, then the output layer.
        if case .sequence = shape {
            layers.append(r.bool() ? .flatten : .globalAvgPool1d)
            if r.bool(0.3) { layers.append(activation(&r)) }
        }
        let loss: Loss
        _ = r.int(0, 3)
        switch index % 4 {
        case 0: loss = .mse
        case 1: loss = .bceWithLogits
        case 2: loss = .softmaxCrossEntropy
        default: loss = .huber(delta: r.bool(0.3) ? 1.0 : r.pick([0.05, 0.3, 0.5, 2.0, 5.0]))
        }
        let outputs = loss == .softmaxCrossEntropy ? r.int(2, 5) : r.int(1, 4)
        layers.append(.dense(units: outputs, bias: r.bool(0.8)))
        let batch = r.int(1, 5)
        let opt = optimizer(&r, variant: index % 6)
        return Model(name: name, input: input, batch: batch, layers: layers, loss: loss, optimizer: opt,
                     trainable: index % 3 == 1 ? trainable(&r, layers) : [:])
    }

    /// Every third model freezes some of its layers (drawn after everything else, so the layers
    /// are those the model would have anyway): a top-level dense, conv1d or affine layernorm
    /// trains fully, not at all, only its bias or only its weight; a residual block is frozen
    /// or not. The output layer always trains, so something does.
    static func trainable(_ r: inout FuzzRandom, _ layers: [Layer]) -> [String: Trainable] {
        var out: [String: Trainable] = [:]
        for (i, l) in layers.dropLast().enumerated() {
            switch l {
            case .dense(_, let bias), .conv1d(_, _, _, _, _, let bias):
                out["layers[\(i)]"] = r.pick(bias ? [.frozen, .biasOnly, .weightOnly, .all] : [.frozen, .all])
            case .layerNorm(_, true):
                out["layers[\(i)]"] = r.pick([.frozen, .biasOnly, .weightOnly, .all])
            case .residual:
                if r.bool() { out["layers[\(i)]"] = .frozen }
            default:
                break
            }
        }
        return out
    }

    /// The input shape and first layer of the first models of every run.
    static let forcedFirstLayers: [(Shape, Layer)] = [
        (.sequence(length: 9, channels: 2), .maxPool1d(kernel: 3, stride: 2)),
        (.sequence(length: 8, channels: 3), .maxPool1d(kernel: 2, stride: 2)),
        (.sequence(length: 11, channels: 2), .maxPool1d(kernel: 2, stride: 3)),
        (.sequence(length: 7, channels: 3), .avgPool1d(kernel: 3, stride: 1)),
        (.sequence(length: 6, channels: 2), .avgPool1d(kernel: 3, stride: 3)),
        (.sequence(length: 10, channels: 1), .avgPool1d(kernel: 1, stride: 2)),
        (.sequence(length: 7, channels: 2), .conv1d(filters: 3, kernel: 3, padding: .valid)),
        (.sequence(length: 9, channels: 2), .conv1d(filters: 2, kernel: 2, stride: 2, padding: .explicit(1), dilation: 2, bias: false)),
        (.sequence(length: 5, channels: 3), .conv1d(filters: 4, kernel: 4, padding: .same)),
        (.vector(5), .residual([.residual([.residual([.dense(units: 5), .activation(.tanh)]), .layerNorm(eps: 0.01)])])),
        (.vector(4), .layerNorm(eps: 0.1, affine: false)),
        (.vector(3), .activation(.leakyReLU(negativeSlope: 0.2))),
    ]

    static func activation(_ r: inout FuzzRandom) -> Layer {
        switch r.int(0, 7) {
        case 0: return .activation(.relu)
        case 1: return .activation(.leakyReLU(negativeSlope: r.bool(0.3) ? 0.01 : r.pick([0.1, 0.2, 0.3, 0.5])))
        case 2: return .activation(.sigmoid)
        case 3: return .activation(.tanh)
        case 4: return .activation(.gelu)
        case 5: return .activation(.geluTanh)
        case 6: return .activation(.identity)
        default: return .activation(.silu)
        }
    }

    static func layerNorm(_ r: inout FuzzRandom) -> Layer {
        .layerNorm(eps: r.bool(0.5) ? 1e-5 : r.pick([1e-3, 0.01, 0.1, 1.0]), affine: r.bool(0.7))
    }

    /// Layers are appended so that `shape` follows them; `depth` is the residual nesting.
    static func layer(_ r: inout FuzzRandom, _ shape: inout Shape, depth: Int) -> Layer {
        switch shape {
        case .vector(let f):
            switch r.int(0, 9) {
            case 0, 1, 2:
                let units = r.int(1, 9)
                shape = .vector(units)
                return .dense(units: units, bias: r.bool(0.75))
            case 3:
                if f >= 3 { return layerNorm(&r) }
                return activation(&r)
            case 4, 5, 6: return activation(&r)
            default:
                if depth < 3 { return .residual(residualBody(&r, shape, depth: depth + 1)) }
                return activation(&r)
            }
        case .sequence(let l, let c):
            if l < 1 { return activation(&r) }  // an earlier conv left no positions: validation refuses it
            switch r.int(0, 11) {
            case 0, 1, 2:
                return conv(&r, &shape)
            case 3:
                if c >= 3 { return layerNorm(&r) }
                return activation(&r)
            case 4, 5: return activation(&r)
            case 6, 7:
                // The stride below, equal to or above the kernel, a third of the time each.
                var k = r.int(1, min(l, 4))
                let s: Int
                switch r.int(0, 2) {
                case 0 where l >= 2:
                    k = max(k, 2)
                    s = r.int(1, k - 1)
                case 1: s = k
                default: s = r.int(k + 1, k + 2)
                }
                shape = .sequence(length: (l - k) / s + 1, channels: c)
                return r.bool() ? .maxPool1d(kernel: k, stride: s) : .avgPool1d(kernel: k, stride: s)
            case 8:
                shape = .vector(l * c)
                return .flatten
            case 9:
                shape = .vector(c)
                return .globalAvgPool1d
            default:
                if depth < 3 { return .residual(residualBody(&r, shape, depth: depth + 1)) }
                return activation(&r)
            }
        }
    }

    /// A conv1d with random options; `shape` becomes its output (the length may drop below 1,
    /// which validation then refuses).
    static func conv(_ r: inout FuzzRandom, _ shape: inout Shape) -> Layer {
        guard case .sequence(let l, _) = shape else { fatalError("conv on a vector") }
        let filters = r.int(1, 5), kernel = r.int(1, 4), dilation = r.bool(0.7) ? 1 : r.int(2, 3)
        let stride = r.bool(0.6) ? 1 : r.int(2, 3)
        let padding: Padding
        switch r.int(0, 3) {
        case 0: padding = .valid
        case 1: padding = stride == 1 ? .same : .explicit(r.int(0, 2))
        case 2: padding = .explicit(0)
        default: padding = .explicit(r.int(1, 3))
        }
        let (pl, pr) = padding.amounts(kernel: kernel, dilation: dilation)
        let span = l + pl + pr - dilation * (kernel - 1) - 1
        let out = span < 0 ? 0 : span / stride + 1
        shape = .sequence(length: out, channels: filters)
        return .conv1d(filters: filters, kernel: kernel, stride: stride, padding: padding, dilation: dilation,
                       bias: r.bool(0.75))
    }

    /// A residual body that ends with the shape it starts with.
    static func residualBody(_ r: inout FuzzRandom, _ start: Shape, depth: Int) -> [Layer] {
        var body: [Layer] = []
        var shape = start
        for _ in 0..<r.int(1, 3) {
            switch shape {
            case .vector:
                body.append(layer(&r, &shape, depth: depth))
            case .sequence(let l, _):
                // Inside a block, keep the length: convs with 'same' or symmetric padding, no pools.
                switch r.int(0, 4) {
                case 0, 1:
                    let kernel = r.pick([1, 3, 5]), dilation = r.int(1, 2)
                    let filters = r.int(1, 5)
                    let padding: Padding = r.bool() ? .same : .explicit(dilation * (kernel - 1) / 2)
                    body.append(.conv1d(filters: filters, kernel: kernel, padding: padding, dilation: dilation,
                                        bias: r.bool(0.75)))
                    shape = .sequence(length: l, channels: filters)
                case 2:
                    if depth < 3 {
                        body.append(.residual(residualBody(&r, shape, depth: depth + 1)))
                    } else {
                        body.append(activation(&r))
                    }
                case 3:
                    if shape.lastAxis >= 3 { body.append(layerNorm(&r)) } else { body.append(activation(&r)) }
                default:
                    body.append(activation(&r))
                }
            }
        }
        // Back to the starting shape.
        switch (start, shape) {
        case (.vector(let f), .vector(let g)):
            if f != g || r.bool(0.3) { body.append(.dense(units: f, bias: r.bool(0.75))) }
        case (.sequence(let l, let c), .sequence(let l2, let c2)) where l == l2:
            if c != c2 || r.bool(0.3) {
                body.append(.conv1d(filters: c, kernel: r.pick([1, 3]), padding: .same, bias: r.bool(0.75)))
            }
        default:
            // The body left the start shape in a way a final layer cannot undo: an identity body.
            body = [activation(&r)]
        }
        return body
    }

    /// Variant 0 sgd, 1 sgd with momentum, 2 nesterov, 3 adam, 4 adamw, 5 adam with weight decay.
    static func optimizer(_ r: inout FuzzRandom, variant: Int) -> Optimizer {
        let lr = r.logUniform(1e-3, 0.1)
        var wd = r.bool(0.4) ? r.pick([1e-4, 1e-3, 0.01, 0.1]) : 0
        _ = r.int(0, 4)
        if variant == 5 { wd = r.pick([1e-4, 1e-3, 0.01, 0.1]) }
        switch variant == 5 ? 3 : variant {
        case 0: return .sgd(lr: lr, weightDecay: wd)
        case 1: return .sgd(lr: lr, momentum: r.pick([0.5, 0.9, 0.99]), weightDecay: wd)
        case 2: return .sgd(lr: lr, momentum: r.pick([0.5, 0.9]), nesterov: true, weightDecay: wd)
        case 3:
            return .adam(lr: lr, beta1: r.pick([0.9, 0.8, 0.5, 0]), beta2: r.pick([0.999, 0.99, 0.9]),
                         eps: r.pick([1e-8, 1e-6, 1e-3]), weightDecay: wd)
        default:
            return .adamw(lr: lr, beta1: r.pick([0.9, 0.8, 0.5]), beta2: r.pick([0.999, 0.99, 0.9]),
                          eps: r.pick([1e-8, 1e-6, 1e-3]), weightDecay: r.bool(0.3) ? 0.01 : r.pick([0, 1e-3, 0.1]))
        }
    }
}
