import ModelSpec

/// Spelling of C for one scalar type: literals, libm names, activation formulas.
struct CSyntax {
    let scalar: ScalarType

    /// `float` or `double`.
    var real: String { scalar.cName }

    /// A floating literal that reads back as `v` in the scalar type (`0.5f` or `0.5`).
    func lit(_ v: Double) -> String {
        var s = "\(v)"
        if !s.contains(".") && !s.contains("e") && !s.contains("n") && !s.contains("i") { s += ".0" }
        return scalar == .f32 ? s + "f" : s
    }

    /// A libm function for the scalar type (`expf` or `exp`).
    func fn(_ name: String) -> String { scalar == .f32 ? name + "f" : name }

    /// `f(v)` for an activation, as a C expression of the variable `v`.
    func activation(_ a: Activation, _ v: String) -> String {
        switch a {
        case .relu: return "(\(v) > 0 ? \(v) : 0)"
        case .leakyReLU(let s): return "(\(v) > 0 ? \(v) : \(lit(s)) * \(v))"
        case .sigmoid: return "(1 / (1 + \(fn("exp"))(-\(v))))"
        case .tanh: return "\(fn("tanh"))(\(v))"
        case .gelu: return "(\(lit(0.5)) * \(v) * (1 + \(fn("erf"))(\(v) * \(lit(0.7071067811865476)))))"
        case .geluTanh:
            return "(\(lit(0.5)) * \(v) * (1 + \(fn("tanh"))(\(lit(0.7978845608028654)) * (\(v) + \(lit(0.044715)) * \(v) * \(v) * \(v)))))"
        case .identity: return v
        }
    }

    /// `f'` as a C expression of `s`, the activation's output (if `fromOutput`) or input.
    func derivative(_ a: Activation, _ s: String, fromOutput: Bool) -> String {
        switch (a, fromOutput) {
        case (.relu, _): return "(\(s) > 0 ? 1 : 0)"
        case (.leakyReLU(let slope), _): return "(\(s) > 0 ? 1 : \(lit(slope)))"
        case (.sigmoid, true): return "(\(s) * (1 - \(s)))"
        case (.sigmoid, false): return "\(real == "float" ? "nn_dsigmoidf" : "nn_dsigmoid")(\(s))"
        case (.tanh, true): return "(1 - \(s) * \(s))"
        case (.tanh, false): return "(1 - \(fn("tanh"))(\(s)) * \(fn("tanh"))(\(s)))"
        case (.gelu, _): return "\(scalar == .f32 ? "nn_dgeluf" : "nn_dgelu")(\(s))"
        case (.geluTanh, _): return "\(scalar == .f32 ? "nn_dgelu_tanhf" : "nn_dgelu_tanh")(\(s))"
        case (.identity, _): return "1"
        }
    }

    /// Helper functions the derivatives above call, defined once per file.
    var derivativeHelpers: String {
        let r = real, sfx = scalar == .f32 ? "f" : ""
        return """
        /* Derivatives of the activations that need their input (CONVENTIONS.md). */
        static inline \(r) nn_dgelu\(sfx)(\(r) x) {
            /* d/dx 0.5 x (1 + erf(x / sqrt 2)) = Phi(x) + x phi(x) */
            return \(lit(0.5)) * (1 + \(fn("erf"))(x * \(lit(0.7071067811865476)))) + x * \(lit(0.3989422804014327)) * \(fn("exp"))(\(lit(-0.5)) * x * x);
        }
        static inline \(r) nn_dgelu_tanh\(sfx)(\(r) x) {
            \(r) u = \(lit(0.7978845608028654)) * (x + \(lit(0.044715)) * x * x * x);
            \(r) t = \(fn("tanh"))(u);
            return \(lit(0.5)) * (1 + t) + \(lit(0.5)) * x * (1 - t * t) * \(lit(0.7978845608028654)) * (1 + \(lit(3 * 0.044715)) * x * x);
        }
        static inline \(r) nn_dsigmoid\(sfx)(\(r) x) {
            \(r) s = 1 / (1 + \(fn("exp"))(-x));
            return s * (1 - s);
        }

        """
    }
}

/// Turns a layer path (`layers[2].layers[1]`) into a C identifier fragment (`layers_2_layers_1`).
/// Paths are made by nngen from indices only, never from user text.
func cIdentifier(_ path: String) -> String {
    var out = ""
    for ch in path {
        if ch.isASCII && (ch.isLetter || ch.isNumber) { out.append(ch) } else if !out.hasSuffix("_") { out.append("_") }
    }
    while out.hasSuffix("_") { out.removeLast() }
    return out.isEmpty ? "model" : out
}
