import ModelSpec

// Matrix products as register tiles: the loops over tiles and panels, with literal bounds.

/// How the tiles of one product read their right-hand operand `b(p, j)`.
enum ProductB {
    /// `b(p, j) = B[p * stride + j]`: rows of B run along the output columns. Panels are
    /// copied into a contiguous buffer first unless `ProductShape.inPlace`.
    case rows(String, stride: Int)
    /// `b(p, j) = B[j * stride + p]`: B is stored transposed; panels are packed first.
    case transposed(String, stride: Int)
    /// Already packed by the kernel: the panel of columns `j0 ..< j0 + w` is at `B + j0 * depth`,
    /// `depth` rows of `w` (`w` = the panel's width: a full tile, or the last panel's vectors).
    case panels(String)
}

/// One product `C[rows, cols] = sum over p < depth of a(i, p) b(p, j)`, with
/// `a(i, p) = A[i * aRow + p * aStep]` and C row-major with `cols` columns.
struct ProductShape {
    var rows: Int, cols: Int, depth: Int
    var a: String, aRow: Int, aStep: Int
    var b: ProductB
    var c: String
    /// The product in math form, the comment over its loops (`out[m][n] = sum_k x[m][k] * weight[n][k]`).
    var math = ""
    /// Whether the tiles add to what C holds (an expression: `"0"`, `"1"`, `"b > 0"`).
    var accumulate = "0"
    /// `.rows` operands are read where they are (the caller guarantees whole readable panels).
    var inPlace = false
    /// Whether the column panels may be shared among threads.
    var parallel = true
    /// Indentation of the emitted loops.
    var indent = "    "
    /// Multiply-adds of the product.
    var macs: Int { rows * cols * depth }
}

extension KernelWriter {
    /// Products of at least this many multiply-adds split their column panels over threads
    /// (`NN_PARALLEL_FOR`, OpenMP when compiled with it); smaller ones would lose more to the
    /// fork and join than they gain.
    static let parallelMinimumMACs = 1 << 19

    /// Elementwise loops over at least this many elements (epilogues, the optimizer) are shared
    /// among threads too.
    static let parallelMinimumElements = 1 << 15

    /// Bytes of one packed panel of b at most (the stack buffer `bp` of a product kernel): it
    /// stays in the level-1 cache while the row tiles stream past it.
    static let packBytes = 16384

    /// Operands stored by rows are read in place when the rows a panel spans fit in this many
    /// bytes (a level-1-sized window); longer strided panels are copied, which keeps them in cache.
    static let inPlaceBytes = 65536

    /// The longest run of the reduction packed at once.
    var packDepth: Int { KernelWriter.packBytes / (c.tileColumns * c.scalar.size) }

    /// Whether `productLoops` runs row tiles outermost for this product: `a` read down its columns
    /// (`aRow` 1), `b` stored by rows and read in place, at least one full panel, and a strip of
    /// `a` small enough to pack on the stack.
    func stripsOutermost(_ s: ProductShape) -> Bool {
        guard case .rows(_, let stride) = s.b, s.aRow == 1, s.aStep != 1, s.cols >= c.tileColumns else { return false }
        let bInPlace = s.inPlace || s.depth * stride * c.scalar.size <= KernelWriter.inPlaceBytes
        return bInPlace && s.depth * CSyntax.tileRows * c.scalar.size <= KernelWriter.packBytes * 2
    }

    /// Loops over the register tiles of a product, with literal bounds: column panels of
    /// `tileColumns` (16 floats, 8 doubles), rows in tiles of 6 and one shorter tile for the
    /// rest, and a last, narrower panel for the remaining columns (read from a zero-padded
    /// copy). Panels are packed into a stack buffer in blocks of at most `packDepth` along the
    /// reduction; each block's tiles add to what the previous ones left in C, continuing the
    /// same chain of multiply-adds.
    func productLoops(_ s: ProductShape) -> String {
        let NB = c.tileColumns, w = c.lanes, TR = CSyntax.tileRows
        let tile = Helper.tile.name(c), packN = Helper.packN.name(c), packT = Helper.packT.name(c)
        let fullCols = s.cols / NB * NB, edgeCols = s.cols - fullCols
        // Rows in tiles of 6 and 5 when they add up (any count from 20 on), else 6s and the rest.
        let sixes = stride(from: s.rows / TR, through: 0, by: -1).first { (s.rows - TR * $0) % (TR - 1) == 0 }
        let fullRows = TR * (sixes ?? s.rows / TR)
        let fives = sixes == nil ? 0 : (s.rows - fullRows) / (TR - 1)
        let edgeRows = s.rows - fullRows - (TR - 1) * fives
        let parallel = s.parallel && s.macs >= KernelWriter.parallelMinimumMACs && s.cols / NB >= 2
        func plus(_ base: String, _ terms: [String?]) -> String {
            let t = terms.compactMap { $0 }
            return t.isEmpty ? base : base + " + " + t.joined(separator: " + ")
        }

        // The tiles of one panel whose columns start at `col`, `n` columns wide in `V` vectors,
        // reading b from `bExpr` with row stride `sb`, over reduction rows `k0 ..< k0 + kc`.
        func tiles(col: String, n: Int, V: Int, bExpr: String, sb: Int, k0: String, kc: Int, acc: String,
                   indent: String) -> String {
            func call(_ rows: Int, _ m0: String) -> String {
                let aBase = plus(s.a, [m0 == "0" ? nil : (s.aRow == 1 ? m0 : "\(m0) * \(s.aRow)"),
                                       k0 == "0" ? nil : (s.aStep == 1 ? k0 : "\(k0) * \(s.aStep)")])
                let cBase = plus(s.c, [m0 == "0" ? nil : "\(m0) * \(s.cols)", col == "0" ? nil : col])
                return "\(tile)(\(rows), \(V), \(n), \(kc), \(aBase), \(s.aRow), \(s.aStep), \(bExpr), \(sb), "
                    + "\(cBase), \(s.cols), \(acc));"
            }
            var out = ""
            if fullRows == TR {
                out += indent + call(TR, "0") + "\n"
            } else if fullRows > 0 {
                out += indent + "for (int i0 = 0; i0 < \(fullRows); i0 += \(TR)) " + call(TR, "i0") + "\n"
            }
            if fives == 1 {
                out += indent + call(TR - 1, "\(fullRows)") + "\n"
            } else if fives > 1 {
                out += indent + "for (int i0 = \(fullRows); i0 < \(s.rows); i0 += \(TR - 1)) " + call(TR - 1, "i0") + "\n"
            }
            if edgeRows > 0 { out += indent + call(edgeRows, "\(fullRows)") + "\n" }
            return out
        }

        // One panel (full or the edge): in place, pre-packed, or packed block by block.
        func panel(col: String, n: Int, indent: String) -> String {
            let V = (n + w - 1) / w, width = V * w
            let pack: (String, Int) -> String  // (k0, rows) -> the statement packing them
            switch s.b {
            case .rows(let B, let stride) where s.inPlace || (n == NB && s.depth * stride * c.scalar.size <= KernelWriter.inPlaceBytes):
                return tiles(col: col, n: n, V: V, bExpr: plus(B, [col == "0" ? nil : col]), sb: stride, k0: "0",
                             kc: s.depth, acc: s.accumulate, indent: indent)
            case .panels(let B):
                return tiles(col: col, n: n, V: V, bExpr: plus(B, [col == "0" ? nil : "\(col) * \(s.depth)"]), sb: width,
                             k0: "0", kc: s.depth, acc: s.accumulate, indent: indent)
            case .rows(let B, let stride):
                pack = { k0, kc in
                    "\(packN)(\(kc), \(n), \(width), \(plus(B, [k0 == "0" ? nil : "\(k0) * \(stride)", col == "0" ? nil : col])), \(stride), bp);"
                }
            case .transposed(let B, let stride):
                pack = { k0, kc in
                    "\(packT)(\(kc), \(n), \(width), \(plus(B, [col == "0" ? nil : "\(col) * \(stride)", k0 == "0" ? nil : k0])), \(stride), bp);"
                }
            }
            let blocks = (s.depth + packDepth - 1) / packDepth
            let kc = (s.depth + blocks - 1) / blocks
            let fullBlocks = s.depth / kc, tail = s.depth - fullBlocks * kc
            let later = s.accumulate == "0" ? "k0 > 0" : "k0 > 0 || (\(s.accumulate))"
            var out = indent + "\(c.local("bp", kc * width));  /* a panel of b, packed: \(kc) rows of \(width) */\n"
            if fullBlocks == 1 {
                out += indent + pack("0", kc) + "\n"
                out += tiles(col: col, n: n, V: V, bExpr: "bp", sb: width, k0: "0", kc: kc, acc: s.accumulate, indent: indent)
            } else {
                out += indent + "for (int k0 = 0; k0 < \(fullBlocks * kc); k0 += \(kc)) {\n"
                out += indent + "    " + pack("k0", kc) + "\n"
                out += tiles(col: col, n: n, V: V, bExpr: "bp", sb: width, k0: "k0", kc: kc, acc: later, indent: indent + "    ")
                out += indent + "}\n"
            }
            if tail > 0 {
                out += indent + pack("\(fullBlocks * kc)", tail) + "\n"
                out += tiles(col: col, n: n, V: V, bExpr: "bp", sb: width, k0: "\(fullBlocks * kc)", kc: tail, acc: "1", indent: indent)
            }
            return out
        }

        let i = s.indent
        var out = s.math.isEmpty ? "" : i + "/* \(s.math) */\n"
        // a read down columns (a(i, p) = A[i + p * aStep], the weight gradient's dout^T) and b read in
        // place: row tiles outermost, each tile's a packed once into a contiguous strip, then every
        // panel. (Panels outermost would stream all of a, at a stride, once per panel.)
        if stripsOutermost(s), case .rows(let B, let stride) = s.b {
            func strip(_ rows: Int, first: Int, count: Int) -> String {
                guard count > 0 else { return "" }
                let loop = count == 1 ? "{\n" : "for (int i0 = \(first); i0 < \(first + rows * count); i0 += \(rows)) {\n"
                let i0 = count == 1 ? "\(first)" : "i0"
                var t = i + loop
                t += i + "    \(c.local("ap", s.depth * rows));  /* rows \(i0) ... of a, as \(s.depth) rows of \(rows) */\n"
                t += i + "    \(packN)(\(s.depth), \(rows), \(rows), \(plus(s.a, [i0 == "0" ? nil : i0])), \(s.aStep), ap);\n"
                t += i + "    for (int j0 = 0; j0 < \(fullCols); j0 += \(NB)) \(tile)(\(rows), 2, \(NB), \(s.depth), ap, 1, \(rows), "
                    + "\(B) + j0, \(stride), \(plus(s.c, [i0 == "0" ? nil : "\(i0) * \(s.cols)"])) + j0, \(s.cols), \(s.accumulate));\n"
                return t + i + "}\n"
            }
            if parallel && fullRows / TR >= 2 { out += i + "NN_PARALLEL_FOR\n" }
            out += strip(TR, first: 0, count: fullRows / TR)
            out += strip(TR - 1, first: fullRows, count: fives)
            out += strip(edgeRows, first: fullRows + (TR - 1) * fives, count: edgeRows > 0 ? 1 : 0)
            if edgeCols > 0 {
                out += i + "{   /* the last \(edgeCols) column\(edgeCols == 1 ? "" : "s") */\n"
                    + panel(col: "\(fullCols)", n: edgeCols, indent: i + "    ") + i + "}\n"
            }
            return out
        }
        if fullCols == NB {
            out += i + "{\n" + panel(col: "0", n: NB, indent: i + "    ") + i + "}\n"
        } else if fullCols > 0 {
            if parallel { out += i + "NN_PARALLEL_FOR\n" }
            out += i + "for (int j0 = 0; j0 < \(fullCols); j0 += \(NB)) {\n" + panel(col: "j0", n: NB, indent: i + "    ") + i + "}\n"
        }
        if edgeCols > 0 {
            out += i + "{   /* the last \(edgeCols) column\(edgeCols == 1 ? "" : "s") */\n"
                + panel(col: "\(fullCols)", n: edgeCols, indent: i + "    ") + i + "}\n"
        }
        return out
    }
}
