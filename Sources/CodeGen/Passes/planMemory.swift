import ModelSpec

/// Where a tensor's elements live at run time.
public enum Location: Hashable, Sendable {
    /// The caller's input batch.
    case input
    /// The caller's targets.
    case target
    /// The flat parameter array, from this element offset.
    case parameters(Int)
    /// The flat gradient array, from this element offset.
    case gradients(Int)
    /// The caller's input-gradient buffer (may be absent: then the nodes writing it are skipped).
    case inputGradient
    /// The arena, from this element offset.
    case arena(Int)
}

/// The memory plan: a location for every tensor the kernels touch, and the arena size.
public struct MemoryPlan: Sendable {
    /// The graph the plan is for (fused).
    public var graph: Graph
    /// Where each tensor lives.
    public var locations: [TensorID: Location]
    /// Elements of the arena (activations, saved statistics, activation gradients, scratch).
    public var arenaElements: Int
    /// What the arena would need if no buffer were reused: the sum of all arena tensors, each
    /// rounded up to the same alignment.
    public var naiveElements: Int
    /// Live ranges (first and last node index) of each arena buffer, for dumps.
    public var liveRanges: [TensorID: ClosedRange<Int>]
    /// Arena offset of the loss scalar.
    public var lossOffset: Int {
        if case .arena(let o) = locations[graph.loss] { return o }
        return 0
    }
}

/// Alignment of arena buffers in elements: 16 elements is 64 bytes in float32 (and 128 in float64).
public let arenaAlignment = 16

/// Places parameters, gradients and optimizer state at ModelSpec's flat offsets, and every
/// other tensor in one arena whose offsets come from liveness: a buffer is reused once the
/// last node reading its previous tenant has run. What backward needs from forward stays
/// alive because backward nodes read it. `reshape` outputs share their input's memory.
public func planMemory(_ graph: Graph) -> MemoryPlan {
    // Alias classes (reshape shares memory).
    var parent = Array(0..<graph.tensors.count)
    func find(_ x: Int) -> Int {
        var x = x
        while parent[x] != x { parent[x] = parent[parent[x]]; x = parent[x] }
        return x
    }
    for n in graph.nodes where n.kind == .reshape {
        let (a, b) = (find(n.inputs[0].raw), find(n.outputs[0].raw))
        if a != b { parent[b] = a }
    }
    var members: [Int: [TensorID]] = [:]
    for t in graph.tensors { members[find(t.id.raw), default: []].append(t.id) }

    // Live ranges of each class over the node schedule.
    var first: [Int: Int] = [:], last: [Int: Int] = [:]
    for (i, n) in graph.nodes.enumerated() where n.kind != .reshape {
        for t in n.writes { let r = find(t.raw); first[r] = min(first[r] ?? i, i); last[r] = max(last[r] ?? i, i) }
        for t in n.reads { let r = find(t.raw); first[r] = min(first[r] ?? i, i); last[r] = max(last[r] ?? i, i) }
    }
    let end = graph.nodes.count
    var locations: [TensorID: Location] = [:]
    var arenaClasses: [(root: Int, size: Int, range: ClosedRange<Int>)] = []
    var naive = 0
    for (root, ids) in members.sorted(by: { $0.key < $1.key }) {
        var external: Location?
        for id in ids {
            switch graph[id].role {
            case .input: external = .input
            case .target: external = .target
            case .parameter(let p): external = .parameters(p.offset)
            case .parameterGradient(let p): external = .gradients(p.offset)
            case .inputGradient: external = .inputGradient
            case .loss, .temporary: break
            }
        }
        if let external {
            ids.forEach { locations[$0] = external }
            continue
        }
        guard let s = first[root] else { continue }  // never touched
        var range = s...(last[root] ?? s)
        if ids.contains(graph.loss) { range = 0...end }  // returned after every phase
        let size = max(1, graph[ids[0]].count)
        naive += align(size)
        arenaClasses.append((root, size, range))
    }

    // Greedy placement in order of first use: the lowest aligned offset free over the range.
    var placed: [(offset: Int, size: Int, range: ClosedRange<Int>)] = []
    var arena = 0
    var ranges: [TensorID: ClosedRange<Int>] = [:]
    for c in arenaClasses.sorted(by: { ($0.range.lowerBound, -$0.size) < ($1.range.lowerBound, -$1.size) }) {
        let busy = placed.filter { $0.range.overlaps(c.range) }.sorted { $0.offset < $1.offset }
        var offset = 0
        for b in busy where offset + c.size > b.offset && offset < b.offset + b.size {
            offset = align(b.offset + b.size)
        }
        // A second pass: the sorted sweep above can skip past a later overlap.
        var moved = true
        while moved {
            moved = false
            for b in busy where offset < b.offset + b.size && b.offset < offset + c.size {
                offset = align(b.offset + b.size)
                moved = true
            }
        }
        placed.append((offset, c.size, c.range))
        arena = max(arena, align(offset + c.size))
        for id in members[c.root] ?? [] {
            locations[id] = .arena(offset)
            ranges[id] = c.range
        }
    }
    return MemoryPlan(graph: graph, locations: locations, arenaElements: arena, naiveElements: naive,
                      liveRanges: ranges)
}

private func align(_ n: Int) -> Int { (n + arenaAlignment - 1) / arenaAlignment * arenaAlignment }
