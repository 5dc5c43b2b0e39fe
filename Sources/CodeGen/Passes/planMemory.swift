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

/// Places parameters, gradients and optimizer state at ModelSpec's flat offsets (gradients at
/// `ParameterInfo.gradientOffset`: the trainable parameters only), and every
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
            case .parameterGradient(let p): external = .gradients(p.gradientOffset ?? p.offset)
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
    // The buffers placed so far that are still live when a class starts are exactly those it
    // overlaps (classes come in order of first use), and they are disjoint in the arena: they sit
    // in a search tree by offset (`ArenaBlocks`), and leave it once their last user has run.
    var live = ArenaBlocks()
    var expiry: [(last: Int, offset: Int)] = []  // a min-heap on `last`
    var arena = 0
    var ranges: [TensorID: ClosedRange<Int>] = [:]
    for c in arenaClasses.sorted(by: { ($0.range.lowerBound, -$0.size) < ($1.range.lowerBound, -$1.size) }) {
        while let top = expiry.first, top.last < c.range.lowerBound {
            live.remove(offset: top.offset)
            popMin(&expiry)
        }
        let offset = live.firstFit(size: c.size)
        live.insert(offset: offset, end: offset + c.size)
        push(&expiry, (c.range.upperBound, offset))
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

private func push(_ heap: inout [(last: Int, offset: Int)], _ e: (last: Int, offset: Int)) {
    heap.append(e)
    var c = heap.count - 1
    while c > 0, heap[c].last < heap[(c - 1) / 2].last {
        heap.swapAt(c, (c - 1) / 2)
        c = (c - 1) / 2
    }
}

private func popMin(_ heap: inout [(last: Int, offset: Int)]) {
    let last = heap.removeLast()
    guard !heap.isEmpty else { return }
    heap[0] = last
    var p = 0
    while true {
        let l = 2 * p + 1, r = l + 1
        var m = p
        if l < heap.count && heap[l].last < heap[m].last { m = l }
        if r < heap.count && heap[r].last < heap[m].last { m = r }
        if m == p { return }
        heap.swapAt(p, m)
        p = m
    }
}

/// Disjoint arena blocks `[offset, end)` in a treap ordered by offset. Each subtree knows its
/// first offset, its last end and the largest aligned gap between its blocks, so the lowest
/// aligned offset where `size` elements fit is found in one descent (expected O(log n)).
private struct ArenaBlocks {
    private final class Node {
        let offset: Int, end: Int, priority: UInt64
        var left: Node?, right: Node?
        var minOffset: Int, maxEnd: Int, maxGap: Int
        init(offset: Int, end: Int, priority: UInt64) {
            self.offset = offset; self.end = end; self.priority = priority
            minOffset = offset; maxEnd = end; maxGap = 0
        }
        /// Elements free from the aligned end `a` up to `b`.
        static func gap(_ a: Int, _ b: Int) -> Int { b - align(a) }
        func update() {
            minOffset = left?.minOffset ?? offset
            maxEnd = right?.maxEnd ?? end
            var g = max(left?.maxGap ?? 0, right?.maxGap ?? 0)
            if let l = left { g = max(g, Node.gap(l.maxEnd, offset)) }
            if let r = right { g = max(g, Node.gap(end, r.minOffset)) }
            maxGap = g
        }
    }
    private var root: Node?
    private var seed: UInt64 = 0x9E3779B97F4A7C15

    private static func split(_ t: Node?, _ key: Int) -> (Node?, Node?) {  // (< key, >= key)
        guard let t else { return (nil, nil) }
        if t.offset < key {
            let (a, b) = split(t.right, key)
            t.right = a; t.update()
            return (t, b)
        }
        let (a, b) = split(t.left, key)
        t.left = b; t.update()
        return (a, t)
    }

    private static func merge(_ a: Node?, _ b: Node?) -> Node? {
        guard let a else { return b }
        guard let b else { return a }
        if a.priority > b.priority {
            a.right = merge(a.right, b); a.update()
            return a
        }
        b.left = merge(a, b.left); b.update()
        return b
    }

    mutating func insert(offset: Int, end: Int) {
        seed ^= seed << 13; seed ^= seed >> 7; seed ^= seed << 17
        let (a, b) = Self.split(root, offset)
        root = Self.merge(Self.merge(a, Node(offset: offset, end: end, priority: seed)), b)
    }

    mutating func remove(offset: Int) {
        let (a, rest) = Self.split(root, offset)
        let (_, b) = Self.split(rest, offset + 1)
        root = Self.merge(a, b)
    }

    /// The lowest aligned offset `o` with `[o, o + size)` outside every block.
    func firstFit(size: Int) -> Int {
        guard let root else { return 0 }
        if Node.gap(0, root.minOffset) >= size { return 0 }
        return Self.find(root, size: size) ?? align(root.maxEnd)
    }

    /// Within `t` (whose first block is known not to leave room before it): the first gap between
    /// its blocks where `size` fits.
    private static func find(_ t: Node, size: Int) -> Int? {
        if let l = t.left {
            if l.maxGap >= size { return find(l, size: size) }
            if Node.gap(l.maxEnd, t.offset) >= size { return align(l.maxEnd) }
        }
        if let r = t.right {
            if Node.gap(t.end, r.minOffset) >= size { return align(t.end) }
            if r.maxGap >= size { return find(r, size: size) }
        }
        return nil
    }
}
