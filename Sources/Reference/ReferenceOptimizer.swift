import Foundation
import ModelSpec

/// The optimizers of docs/CONVENTIONS.md with PyTorch's semantics, in `Double`, over one flat
/// parameter array.
///
/// State slots (`state`), each as long as the parameters:
/// - sgd with momentum: `[v]`, the momentum buffer; plain sgd: none.
/// - adam, adamw: `[m, v]`, the first and second moments.
///
/// One `update` is one step `t` (counted from 1):
/// - sgd: `g = grad + wd*p`; with momentum `v = momentum*v + g` (v starts at 0, so the first
///   step gives `v = g`, as PyTorch's buffer initialisation does); the step direction is
///   `g + momentum*v` with nesterov, `v` with momentum, `g` without; `p -= lr * direction`.
/// - adam: `g = grad + wd*p`; `m = b1 m + (1-b1) g`; `v = b2 v + (1-b2) g^2`;
///   `mhat = m / (1 - b1^t)`; `vhat = v / (1 - b2^t)`; `p -= lr * mhat / (sqrt(vhat) + eps)`.
/// - adamw: `p -= lr*wd*p` first, then adam with `g = grad` (no L2 term).
public struct ReferenceOptimizer: Hashable, Sendable {
    /// The optimizer and its hyper-parameters.
    public let optimizer: Optimizer
    /// The number of parameters it updates.
    public let parameterCount: Int
    /// Steps taken so far (0 before the first `update`).
    public private(set) var step: Int
    /// The state slots (see the type's description), `optimizer.stateSlotsPerParameter`
    /// arrays of `parameterCount` values.
    public var state: [[Double]]
    /// Which elements are updated (`ReferenceInterpreter.trainableMask`); nil updates all.
    /// A frozen element keeps its value (no weight decay either) and its state stays 0.
    public var trainable: [Bool]?

    /// A fresh optimizer: step 0, every state value 0.
    /// - Precondition: `parameterCount >= 0`.
    public init(_ optimizer: Optimizer, parameterCount: Int) {
        precondition(parameterCount >= 0, "parameterCount must be >= 0 (got \(parameterCount))")
        self.optimizer = optimizer
        self.parameterCount = parameterCount
        self.step = 0
        self.state = Array(repeating: Array(repeating: 0, count: parameterCount),
                           count: optimizer.stateSlotsPerParameter)
    }

    /// An optimizer resumed after `step` steps with the given state.
    /// - Throws: `ReferenceError` if `step` is negative or the state's slots or sizes are wrong.
    public init(_ optimizer: Optimizer, parameterCount: Int, step: Int, state: [[Double]]) throws(ReferenceError) {
        guard parameterCount >= 0 else {
            throw .optimizerSize(what: "parameter count", expected: 0, got: parameterCount)
        }
        guard step >= 0 else { throw .invalidStep(step) }
        self.optimizer = optimizer
        self.parameterCount = parameterCount
        self.step = step
        self.state = state
        try checkState()
    }

    private func checkState() throws(ReferenceError) {
        let slots = optimizer.stateSlotsPerParameter
        guard state.count == slots else {
            throw .optimizerSize(what: "state (number of slots for \(optimizer.typeName))", expected: slots, got: state.count)
        }
        for (k, slot) in state.enumerated() where slot.count != parameterCount {
            throw .optimizerSize(what: "state slot \(k)", expected: parameterCount, got: slot.count)
        }
    }

    /// Takes one step: updates `parameters` in place from `gradients` and advances `step`.
    /// - Throws: `ReferenceError.optimizerSize` (and changes nothing) if `parameters`,
    ///   `gradients` or the state do not hold `parameterCount` values.
    public mutating func update(parameters: inout [Double], gradients: [Double]) throws(ReferenceError) {
        guard parameters.count == parameterCount else {
            throw .optimizerSize(what: "parameters", expected: parameterCount, got: parameters.count)
        }
        guard gradients.count == parameterCount else {
            throw .optimizerSize(what: "gradients", expected: parameterCount, got: gradients.count)
        }
        try checkState()
        if let t = trainable, t.count != parameterCount {
            throw .optimizerSize(what: "trainable mask", expected: parameterCount, got: t.count)
        }
        let before = parameters
        step += 1
        defer {
            if let t = trainable { for i in 0..<parameterCount where !t[i] { parameters[i] = before[i] } }
        }
        let grads = trainable.map { t in gradients.indices.map { t[$0] ? gradients[$0] : 0 } } ?? gradients
        let savedState = state
        defer {
            if let t = trainable { for k in state.indices { for i in 0..<parameterCount where !t[i] { state[k][i] = savedState[k][i] } } }
        }
        let gradients = grads
        switch optimizer {
        case .sgd(let lr, let momentum, let nesterov, let weightDecay):
            sgdStep(&parameters, gradients, lr: lr, momentum: momentum, nesterov: nesterov, weightDecay: weightDecay)
        case .adam(let lr, let beta1, let beta2, let eps, let weightDecay):
            adamStep(&parameters, gradients, lr: lr, beta1: beta1, beta2: beta2, eps: eps, l2: weightDecay)
        case .adamw(let lr, let beta1, let beta2, let eps, let weightDecay):
            for i in 0..<parameterCount { parameters[i] -= lr * weightDecay * parameters[i] }
            adamStep(&parameters, gradients, lr: lr, beta1: beta1, beta2: beta2, eps: eps, l2: 0)
        }
    }

    private mutating func sgdStep(_ p: inout [Double], _ grad: [Double], lr: Double, momentum: Double,
                                  nesterov: Bool, weightDecay: Double) {
        for i in 0..<parameterCount {
            let g = grad[i] + weightDecay * p[i]
            var direction = g
            if momentum != 0 {
                let v = momentum * state[0][i] + g
                state[0][i] = v
                direction = nesterov ? g + momentum * v : v
            }
            p[i] -= lr * direction
        }
    }

    private mutating func adamStep(_ p: inout [Double], _ grad: [Double], lr: Double, beta1: Double, beta2: Double,
                                   eps: Double, l2: Double) {
        let t = Double(step)
        let correction1 = 1 - pow(beta1, t)
        let correction2 = 1 - pow(beta2, t)
        for i in 0..<parameterCount {
            let g = grad[i] + l2 * p[i]
            let m = beta1 * state[0][i] + (1 - beta1) * g
            let v = beta2 * state[1][i] + (1 - beta2) * g * g
            state[0][i] = m
            state[1][i] = v
            let mhat = m / correction1
            let vhat = v / correction2
            p[i] -= lr * mhat / (vhat.squareRoot() + eps)
        }
    }
}
