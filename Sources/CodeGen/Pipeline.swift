import ModelSpec

/// The stages of the compiler, each a function from one representation to the next.
public enum Stage: String, CaseIterable, Sendable {
    case lower, differentiate, fuse, planMemory, emitC
}

/// Options for `compile`.
public struct CompileOptions: Sendable {
    /// float32 or float64 code.
    public var scalar: ScalarType
    /// Whether the backward pass can produce the gradient of the input (run only when asked).
    public var inputGradient: Bool
    /// The fusion rules to apply (all by default; empty for the unfused graph).
    public var fusionRules: [FusionRule]
    /// For a model with frozen parameters: the core reads them from `NAME_frozen_params`, a const
    /// array the program defines (the embedded target puts it in flash), and `params` holds the
    /// trainable parameters only, at their gradient offsets. No effect on a model without frozen
    /// parameters; off by default (one flat array, what the host paths and checkpoints use).
    public var frozenApart: Bool
    /// Whether the backward pass marks where each layer's gradients are final
    /// (`NN_GRADS_READY(offset, count)`, nothing unless compiled with `-DNN_MPI`): the standalone
    /// program's `train_mpi` averages them over the processes while the backward goes on.
    public var gradientHooks: Bool

    public init(scalar: ScalarType = .f32, inputGradient: Bool = true, fusionRules: [FusionRule] = FusionRule.all,
                frozenApart: Bool = false, gradientHooks: Bool = false) {
        self.scalar = scalar
        self.inputGradient = inputGradient
        self.fusionRules = fusionRules
        self.frozenApart = frozenApart
        self.gradientHooks = gradientHooks
    }
}

/// Everything the pipeline produced for one model.
public struct Compilation: Sendable {
    public var analysis: ModelAnalysis
    public var lowered: Graph
    public var differentiated: Graph
    public var fused: Graph
    public var plan: MemoryPlan
    public var code: GeneratedC

    /// What a stage produced, as text (`nngen emit --dump-after STAGE`).
    public func dump(after stage: Stage) -> String {
        switch stage {
        case .lower: return lowered.dump()
        case .differentiate: return differentiated.dump()
        case .fuse: return fused.dump()
        case .planMemory: return plan.dump()
        case .emitC: return code.header + "\n" + code.source
        }
    }
}

/// Runs the whole pipeline: lower -> differentiate -> fuse -> planMemory -> emitC.
///
/// A model with frozen parameters gets no input gradient: its backward pass stops before the
/// first trainable parameter (`dx` is left untouched).
public func compile(_ analysis: ModelAnalysis, options: CompileOptions = CompileOptions()) -> Compilation {
    let lowered = lower(analysis)
    let differentiated = differentiate(lowered, inputGradient: options.inputGradient && !analysis.hasFrozenParameters)
    let fused = fuse(differentiated, rules: options.fusionRules)
    let plan = planMemory(fused)
    let code = emitC(plan, scalar: options.scalar, frozenApart: options.frozenApart, gradientHooks: options.gradientHooks)
    return Compilation(analysis: analysis, lowered: lowered, differentiated: differentiated, fused: fused,
                       plan: plan, code: code)
}

/// The pipeline up to the memory plan, without writing C (what `nngen describe` reports: the
/// arena and the naive sum): lower -> differentiate -> fuse -> planMemory.
public func memoryPlan(for analysis: ModelAnalysis, options: CompileOptions = CompileOptions()) -> MemoryPlan {
    let differentiated = differentiate(lower(analysis), inputGradient: options.inputGradient && !analysis.hasFrozenParameters)
    return planMemory(fuse(differentiated, rules: options.fusionRules))
}
