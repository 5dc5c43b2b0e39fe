import CodeGen
import Foundation
import ModelSpec
import NNKernels

/// A model compiled to machine code, owning every buffer its functions need: parameters,
/// gradients, optimizer state, the arena, one batch of inputs and targets and the input gradient.
/// Safe to call many times; everything is freed when the object goes away. Not thread-safe:
/// use one object per thread.
public final class CompiledModel {
    /// The analysed model.
    public let analysis: ModelAnalysis
    /// Everything the compiler produced (graphs, memory plan, C text).
    public let compilation: Compilation
    /// The back end's name ("tcc" or "cc").
    public let backendName: String
    /// Seconds from model analysis to callable functions (code generation and C compilation).
    public let compileSeconds: Double
    /// float32 or float64.
    public var scalar: ScalarType { compilation.code.scalar }

    private let library: any CompiledLibrary
    private let fns: Functions
    private let params, grads, optState, arena, x, y, dx: Buffer
    private var stepCounter: Int64 = 0

    /// Generates C for the model and compiles it with `backend`. With the tcc back end the
    /// generated helpers (register tiles, packing, epilogue steps) are not compiled by tcc,
    /// which cannot vectorise them: the source is compiled with `NN_PRECOMPILED` and linked
    /// against nngen's precompiled copies (`PrecompiledHelpers`); `symbols` may override them.
    public convenience init(analysis: ModelAnalysis, backend: any CBackend, scalar: ScalarType = .f32,
                            symbols: [String: UnsafeRawPointer] = [:]) throws {
        try self.init(analysis: analysis, backend: backend, options: CompileOptions(scalar: scalar), symbols: symbols)
    }

    /// The same with every option of the pipeline (scalar type, fusion rules, input gradient).
    public convenience init(analysis: ModelAnalysis, backend: any CBackend, options: CompileOptions,
                            symbols: [String: UnsafeRawPointer] = [:]) throws {
        let start = DispatchTime.now().uptimeNanoseconds
        let compilation = compile(analysis, options: options)
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        try self.init(analysis: analysis, compilation: compilation, backend: backend, symbols: symbols,
                      generationSeconds: seconds)
    }

    /// Compiles C that was already generated for `analysis` (another `CompiledModel`'s
    /// ``compilation``: the tiered model builds its cc copy from the tcc copy's text).
    /// `generationSeconds`, the time code generation took, is added to ``compileSeconds``.
    public init(analysis: ModelAnalysis, compilation: Compilation, backend: any CBackend,
                symbols: [String: UnsafeRawPointer] = [:], generationSeconds: Double = 0) throws {
        let start = DispatchTime.now().uptimeNanoseconds
        let scalar = compilation.code.scalar
        self.analysis = analysis
        self.compilation = compilation
        if backend is TCCBackend {
            library = try backend.compile(source: "#define NN_PRECOMPILED 1\n" + compilation.code.singleUnit,
                                          symbols: PrecompiledHelpers.symbols.merging(symbols) { $1 })
        } else {
            library = try backend.compile(source: compilation.code.singleUnit, symbols: symbols)
        }
        fns = try Functions(library, name: analysis.model.name, scalar: scalar)
        compileSeconds = generationSeconds + Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        backendName = backend.name
        let s = scalar.size
        params = try Buffer(bytes: analysis.parameterCount * s, "parameters")
        grads = try Buffer(bytes: max(analysis.gradientCount, 1) * s, "gradients")  // the trainable parameters only
        optState = try Buffer(bytes: max(analysis.optimizerStateElements, 1) * s, "optimizer state")
        arena = try Buffer(bytes: compilation.code.arenaElements * s, "arena")  // NAME_ARENA_COUNT
        x = try Buffer(bytes: analysis.inputElements * s, "input batch")
        y = try Buffer(bytes: analysis.targetElements * (analysis.model.loss.usesLabels ? 4 : s), "target batch")
        dx = try Buffer(bytes: analysis.inputElements * s, "input gradient")
    }

    // MARK: state

    /// Draws the parameters from the seed with the generated `NAME_init`, and resets the
    /// optimizer state and the step count.
    public func initialize(seed: UInt64) {
        fns.initialize(params.raw, seed)
        optState.zero()
        stepCounter = 0
    }

    /// Takes over everything `other` holds, byte for byte: parameters, gradients, optimizer state,
    /// the arena, the batch (inputs, targets, input gradient) and the step count, so that the next
    /// call continues exactly where `other` stopped. `other` must run the same generated C (the
    /// other back end's build of it), which is checked.
    public func takeState(from other: CompiledModel) throws {
        guard other !== self else { return }
        guard other.compilation.code.singleUnit == compilation.code.singleUnit else {
            throw ModelRunError("cannot move the state of \(other.analysis.model.name) (\(other.backendName)) to "
                                + "\(analysis.model.name) (\(backendName)): they run different generated C")
        }
        for (to, from) in [(params, other.params), (grads, other.grads), (optState, other.optState),
                           (arena, other.arena), (x, other.x), (y, other.y), (dx, other.dx)] {
            to.raw.copyMemory(from: from.raw, byteCount: min(to.bytes, from.bytes))
        }
        stepCounter = other.stepCounter
    }

    /// The flat parameters (as Double whatever the scalar type).
    public var parameters: [Double] {
        get { read(params, analysis.parameterCount) }
        set { write(newValue, to: params, analysis.parameterCount) }
    }

    /// The gradients of the last `backward` or `trainStep`, in the flat parameter layout
    /// (`ParameterInfo.offset`); 0 for frozen parameters, which have none.
    public var gradients: [Double] {
        let g = read(grads, analysis.gradientCount)
        guard analysis.hasFrozenParameters else { return g }
        var out = [Double](repeating: 0, count: analysis.parameterCount)
        for p in analysis.parameters {
            guard let at = p.gradientOffset else { continue }
            out.replaceSubrange(p.offset..<(p.offset + p.count), with: g[at..<(at + p.count)])
        }
        return out
    }

    /// The input gradient of the last `backward(inputGradient: true)`.
    public var inputGradient: [Double] { read(dx, analysis.inputElements) }

    /// Optimizer state (momentum buffer, or Adam's m then v), each slot over the trainable
    /// parameters at their `gradientOffset`.
    public var optimizerState: [Double] {
        get { read(optState, analysis.optimizerStateElements) }
        set { write(newValue, to: optState, analysis.optimizerStateElements) }
    }

    /// Optimizer steps taken.
    public var step: Int64 {
        get { stepCounter }
        set { stepCounter = newValue }
    }

    /// The model outputs of the last forward pass (batch x outputs).
    public var outputs: [Double] {
        guard case .arena(let o)? = compilation.plan.locations[compilation.plan.graph.output] else { return [] }
        let n = analysis.model.batch * analysis.outputCount
        return scalar == .f32
            ? (0..<n).map { Double(arena.raw.load(fromByteOffset: (o + $0) * 4, as: Float.self)) }
            : (0..<n).map { arena.raw.load(fromByteOffset: (o + $0) * 8, as: Double.self) }
    }

    // MARK: batches

    /// Sets the batch: `x` holds batch x input elements; `labels` one class per row (softmax
    /// cross-entropy) or `values` batch x outputs targets.
    public func setBatch(x input: [Double], labels: [Int]? = nil, values: [Double]? = nil) throws {
        guard input.count == analysis.inputElements else {
            throw ModelRunError("the batch holds \(input.count) input values; the model takes \(analysis.inputElements) (\(analysis.model.batch) rows)")
        }
        write(input, to: x, analysis.inputElements)
        if analysis.model.loss.usesLabels {
            guard let labels, labels.count == analysis.model.batch else {
                throw ModelRunError("softmax cross-entropy needs \(analysis.model.batch) integer labels")
            }
            let classes = analysis.outputCount
            for (i, l) in labels.enumerated() {
                guard l >= 0 && l < classes else {
                    throw ModelRunError("label \(l) in row \(i) is outside 0..<\(classes)")
                }
                y.raw.storeBytes(of: Int32(l), toByteOffset: i * 4, as: Int32.self)
            }
        } else {
            guard let values, values.count == analysis.targetElements else {
                throw ModelRunError("the targets must hold \(analysis.targetElements) values (\(analysis.model.batch) rows x \(analysis.outputCount))")
            }
            write(values, to: y, analysis.targetElements)
        }
    }

    // MARK: running

    /// One forward pass on the current batch; returns the loss.
    @discardableResult
    public func forward() -> Double {
        fns.forward(params.raw, x.raw, y.raw, arena.raw)
    }

    /// The backward pass after `forward()`: parameter gradients, and the input gradient if asked.
    public func backward(inputGradient: Bool = false) {
        fns.backward(params.raw, x.raw, y.raw, grads.raw, inputGradient ? dx.raw : nil, arena.raw)
    }

    /// One optimizer step with the given learning rate.
    public func update(learningRate: Double) {
        fns.update(params.raw, grads.raw, optState.raw, &stepCounter, learningRate)
    }

    /// forward + backward + update; returns the loss before the update. With `clipNorm`, the
    /// gradients are clipped to that global L2 norm before the update (`NAME_train_step_clip`).
    @discardableResult
    public func trainStep(learningRate: Double, clipNorm: Double? = nil) -> Double {
        fns.trainStep(params.raw, grads.raw, optState.raw, &stepCounter, x.raw, y.raw, learningRate, clipNorm ?? 0, arena.raw)
    }

    /// Clips the current gradients to global L2 norm `maxNorm` with the generated
    /// `NAME_clip_grad_norm`; returns the norm before clipping.
    @discardableResult
    public func clipGradients(maxNorm: Double) -> Double {
        fns.clip(grads.raw, maxNorm)
    }

    /// Outputs for `rows` samples (at most the batch size) given row-major in `input`.
    public func predict(_ input: [Double], rows: Int) throws -> [Double] {
        let inSize = analysis.model.input.shape.elementCount
        guard rows >= 1 && rows <= analysis.model.batch, input.count == rows * inSize else {
            throw ModelRunError("predict takes 1...\(analysis.model.batch) rows of \(inSize) values")
        }
        let tmpIn = try Buffer(bytes: input.count * scalar.size, "predict input")
        write(input, to: tmpIn, input.count)
        let out = try Buffer(bytes: rows * analysis.outputCount * scalar.size, "predict output")
        fns.predict(params.raw, tmpIn.raw, Int32(rows), out.raw, arena.raw)
        return read(out, rows * analysis.outputCount)
    }

    /// Raw pointers for benchmarks and tools that drive the C functions directly.
    public var rawBuffers: (params: UnsafeMutableRawPointer, x: UnsafeMutableRawPointer, y: UnsafeMutableRawPointer) {
        (params.raw, x.raw, y.raw)
    }

    private func read(_ b: Buffer, _ n: Int) -> [Double] {
        scalar == .f32
            ? (0..<n).map { Double(b.raw.load(fromByteOffset: $0 * 4, as: Float.self)) }
            : (0..<n).map { b.raw.load(fromByteOffset: $0 * 8, as: Double.self) }
    }

    private func write(_ v: [Double], to b: Buffer, _ n: Int) {
        precondition(v.count == n, "expected \(n) values, got \(v.count)")
        if scalar == .f32 {
            for i in 0..<n { b.raw.storeBytes(of: Float(v[i]), toByteOffset: i * 4, as: Float.self) }
        } else {
            for i in 0..<n { b.raw.storeBytes(of: v[i], toByteOffset: i * 8, as: Double.self) }
        }
    }
}

/// A zeroed, 64-byte aligned allocation freed with its owner.
private final class Buffer {
    let raw: UnsafeMutableRawPointer
    let bytes: Int
    private let base: UnsafeMutableRawPointer
    private let mapped: Int  // the mapping's length; 0 for a calloc block

    /// `bytes` zeroed bytes at a 64-byte boundary, never written before their first use: the
    /// first step of a big model (W2, W4) used to wait ~5 ms for a memset of its megabytes and
    /// then as long again for their page faults. Blocks of 2 MiB and more are anonymous mappings
    /// (zero pages) at a 2 MiB boundary, marked for transparent huge pages on Linux (one fault per
    /// 2 MiB instead of 512); smaller ones come from calloc, zeroed only where the kernel did not.
    init(bytes: Int, _ what: String) throws {
        self.bytes = max(bytes, 64)
        let huge = 2 << 20
        if self.bytes >= huge {
            let length = (self.bytes + huge - 1) / huge * huge + huge  // + room to align
            guard let m = mmap(nil, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0), m != MAP_FAILED else {
                throw ModelRunError("out of memory: cannot map \(self.bytes) bytes for the model's \(what)")
            }
            base = m
            mapped = length
            raw = m + (huge - Int(bitPattern: m) % huge) % huge
            #if os(Linux)
            _ = madvise(raw, length - huge, MADV_HUGEPAGE)  // advice only: small pages if it is refused
            #endif
            return
        }
        guard let block = calloc(1, self.bytes + 64) else {
            throw ModelRunError("out of memory: cannot allocate \(self.bytes) bytes for the model's \(what)")
        }
        base = block
        mapped = 0
        raw = block + (64 - Int(bitPattern: block) % 64) % 64
    }

    func zero() { raw.initializeMemory(as: UInt8.self, repeating: 0, count: bytes) }

    deinit {
        if mapped > 0 { munmap(base, mapped) } else { free(base) }
    }
}

/// The generated functions, bound for one scalar type.
private struct Functions {
    typealias P = UnsafeMutableRawPointer?
    let initialize: (P, UInt64) -> Void
    let forward: (P, P, P, P) -> Double
    let backward: (P, P, P, P, P, P) -> Void
    let update: (P, P, P, UnsafeMutablePointer<Int64>, Double) -> Void
    let trainStep: (P, P, P, UnsafeMutablePointer<Int64>, P, P, Double, Double, P) -> Double
    let clip: (P, Double) -> Double
    let predict: (P, P, Int32, P, P) -> Void

    init(_ lib: any CompiledLibrary, name: String, scalar: ScalarType) throws {
        typealias Init = @convention(c) (P, UInt64) -> Void
        typealias Backward = @convention(c) (P, P, P, P, P, P) -> Void
        typealias Predict = @convention(c) (P, P, Int32, P, P) -> Void
        let i = try lib.function("\(name)_init", as: Init.self)
        let b = try lib.function("\(name)_backward", as: Backward.self)
        let p = try lib.function("\(name)_predict", as: Predict.self)
        initialize = { i($0, $1) }
        backward = { b($0, $1, $2, $3, $4, $5) }
        predict = { p($0, $1, $2, $3, $4) }
        if scalar == .f32 {
            typealias Fwd = @convention(c) (P, P, P, P) -> Float
            typealias Upd = @convention(c) (P, P, P, UnsafeMutablePointer<Int64>, Float) -> Void
            typealias Step = @convention(c) (P, P, P, UnsafeMutablePointer<Int64>, P, P, Float, Float, P) -> Float
            typealias Clip = @convention(c) (P, Float) -> Double
            let f = try lib.function("\(name)_forward", as: Fwd.self)
            let u = try lib.function("\(name)_update", as: Upd.self)
            let s = try lib.function("\(name)_train_step_clip", as: Step.self)
            let c = try lib.function("\(name)_clip_grad_norm", as: Clip.self)
            forward = { Double(f($0, $1, $2, $3)) }
            update = { u($0, $1, $2, $3, Float($4)) }
            trainStep = { Double(s($0, $1, $2, $3, $4, $5, Float($6), Float($7), $8)) }
            clip = { c($0, Float($1)) }
        } else {
            typealias Fwd = @convention(c) (P, P, P, P) -> Double
            typealias Upd = @convention(c) (P, P, P, UnsafeMutablePointer<Int64>, Double) -> Void
            typealias Step = @convention(c) (P, P, P, UnsafeMutablePointer<Int64>, P, P, Double, Double, P) -> Double
            typealias Clip = @convention(c) (P, Double) -> Double
            let f = try lib.function("\(name)_forward", as: Fwd.self)
            let u = try lib.function("\(name)_update", as: Upd.self)
            let s = try lib.function("\(name)_train_step_clip", as: Step.self)
            let c = try lib.function("\(name)_clip_grad_norm", as: Clip.self)
            forward = { f($0, $1, $2, $3) }
            update = { u($0, $1, $2, $3, $4) }
            trainStep = { s($0, $1, $2, $3, $4, $5, $6, $7, $8) }
            clip = { c($0, $1) }
        }
    }
}

/// A call to a compiled model with data that does not fit it (wrong sizes, labels out of range).
public struct ModelRunError: Error, CustomStringConvertible, Sendable {
    /// What was wrong and what was expected.
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// nngen's precompiled helpers (the `NNKernels` target, generated by
/// `CodeGen.precompiledHelpersSource()`), which libtcc-compiled models are linked against.
public enum PrecompiledHelpers {
    /// Every helper by the name generated code declares, for this CPU.
    public static var symbols: [String: UnsafeRawPointer] {
        var count: Int32 = 0
        var variantName: UnsafePointer<CChar>?
        guard let table = nn_kernel_symbols(&count, &variantName) else { return [:] }
        var result: [String: UnsafeRawPointer] = [:]
        for i in 0..<Int(count) {
            let entry = table[i]
            guard let name = entry.name, let address = entry.address else { continue }
            result[String(cString: name)] = unsafeBitCast(address, to: UnsafeRawPointer.self)
        }
        return result
    }

    /// The build the CPU runs: `"avx2+fma"` or `"baseline"`.
    public static let variant: String = {
        var count: Int32 = 0
        var variantName: UnsafePointer<CChar>?
        _ = nn_kernel_symbols(&count, &variantName)
        return variantName.map { String(cString: $0) } ?? "baseline"
    }()
}
