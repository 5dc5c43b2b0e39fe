import ModelSpec

extension Graph {
    /// A readable listing: tensors with shapes and roles, then nodes in execution order.
    public func dump() -> String {
        var lines = ["graph \(analysis.model.name): \(tensors.count) tensors, \(nodes.count) nodes", "tensors:"]
        for t in tensors {
            let role: String
            switch t.role {
            case .input: role = "input"
            case .target: role = "target"
            case .parameter: role = "parameter"
            case .parameterGradient: role = "parameter gradient"
            case .inputGradient: role = "input gradient"
            case .loss: role = "loss"
            case .temporary: role = "temporary"
            }
            lines.append("  \(t.id) \(t.name) \(t.shape) \(role)")
        }
        lines.append("nodes:")
        for n in nodes {
            var s = "  [\(n.phase.rawValue)] \(n.layerPath) \(n.kind.name)(\(n.inputs.map(\.description).joined(separator: ", ")))"
            s += " -> (\(n.outputs.map(\.description).joined(separator: ", ")))"
            if !n.epilogue.isEmpty { s += " epilogue[" + n.epilogue.map(\.dumpText).joined(separator: ", ") + "]" }
            if !n.fusedBy.isEmpty { s += " fused{" + n.fusedBy.joined(separator: ",") + "}" }
            if n.inputGradientOnly { s += " (input gradient only)" }
            lines.append(s)
        }
        return lines.joined(separator: "\n") + "\n"
    }
}

extension Epilogue {
    var dumpText: String {
        switch self {
        case .bias(let t): return "bias \(t)"
        case .store(let t): return "store \(t)"
        case .activation(let a): return a.name
        case .add(let t): return "add \(t)"
        case .activationDerivative(let a, let s, let fromOutput): return "\(a.name)'(\(s)\(fromOutput ? " out" : " in"))"
        }
    }
}

extension MemoryPlan {
    /// The placement of every tensor, the arena size and the naive sum.
    public func dump() -> String {
        var lines = ["memory plan \(graph.analysis.model.name): arena \(arenaElements) elements, naive sum \(naiveElements)"]
        for t in graph.tensors {
            guard let loc = locations[t.id] else { continue }
            let place: String
            switch loc {
            case .input: place = "input x"
            case .target: place = "targets y"
            case .parameters(let o): place = "params + \(o)"
            case .gradients(let o): place = "grads + \(o)"
            case .inputGradient: place = "dx"
            case .arena(let o):
                let r = liveRanges[t.id].map { " live nodes \($0.lowerBound)...\($0.upperBound)" } ?? ""
                place = "arena + \(o)\(r)"
            }
            lines.append("  \(t.id) \(t.name) \(t.shape): \(place)")
        }
        return lines.joined(separator: "\n") + "\n"
    }
}
