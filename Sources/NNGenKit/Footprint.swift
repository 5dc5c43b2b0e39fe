import CodeGen
import Foundation
import ModelSpec

/// Where the on-device trainer's bytes go on a Cortex-M core: RAM (each static buffer of
/// train_device.c, sized by the macros of the generated `NAME.h`, and the stack the kernels need)
/// and flash (the model's code, measured with `arm-none-eabi-size` when the cross compiler is
/// there, estimated otherwise; the embedded data and parameters).
public struct Footprint: Sendable, Equatable {
    /// One line of the report: a buffer or a part of the program, its bytes, how they were found.
    public struct Item: Sendable, Equatable {
        /// What it is (`parameters`, `arena`, `model code`...).
        public var name: String
        /// Its size.
        public var bytes: Int
        /// Its elements or how it was measured.
        public var note: String
    }

    /// The core the figures are for.
    public var core: DeviceCore
    /// RAM: the static buffers, then the stack.
    public var ram: [Item]
    /// Flash: the model's code and read-only data, then the embedded arrays.
    public var flash: [Item]
    /// Whether the code size and stack were measured by the cross compiler (else estimated).
    public var measured: Bool
    /// The parameters trained (`NAME_GRAD_COUNT` when the header has it) and all of them.
    public var trained: (count: Int, of: Int) = (0, 0)

    /// Two footprints are equal when their figures are.
    public static func == (a: Footprint, b: Footprint) -> Bool {
        a.core == b.core && a.ram == b.ram && a.flash == b.flash && a.measured == b.measured
            && a.trained.count == b.trained.count && a.trained.of == b.trained.of
    }

    /// Total RAM bytes.
    public var ramBytes: Int { ram.reduce(0) { $0 + $1.bytes } }
    /// Total flash bytes.
    public var flashBytes: Int { flash.reduce(0) { $0 + $1.bytes } }

    /// The `#define NAME_KEY value` integers of a generated header, by KEY (`PARAM_COUNT`...).
    public static func headerMacros(_ header: String, model name: String) -> [String: Int] {
        var out: [String: Int] = [:]
        for line in header.split(separator: "\n") where line.hasPrefix("#define \(name)_") {
            let parts = line.split(separator: " ")
            guard parts.count >= 3, let v = Int(parts[2]) else { continue }
            out[String(parts[1].dropFirst(name.count + 1))] = v
        }
        return out
    }

    /// The footprint of training `compilation`'s model on `core` with train_device.c: `dataRows`
    /// embedded rows when known (the order array and the data), `embedsParameters` when a checkpoint
    /// is compiled in. Measures with `compiler` (`arm-none-eabi-gcc` found on PATH by default) and
    /// its `-size`; estimates when it is missing or fails.
    public static func of(_ compilation: Compilation, core: DeviceCore, dataRows: Int? = nil,
                          embedsParameters: Bool = false, compiler: String? = findArmCompiler()) -> Footprint {
        let name = compilation.analysis.model.name
        let m = headerMacros(compilation.code.header, model: name)
        let s = m["SCALAR_BYTES"] ?? compilation.code.scalar.size
        let real = compilation.code.scalar.cName
        let params = m["PARAM_COUNT"] ?? 0
        let grads = m["GRAD_COUNT"] ?? params  // a header that prunes frozen gradients may say fewer
        // A core compiled with frozenApart reads the frozen parameters from flash: RAM holds the trainable ones.
        let frozen = m["FROZEN_COUNT"] ?? 0
        let inRAM = params - frozen
        let state = m["OPT_STATE_COUNT"] ?? 0
        let arena = m["ARENA_COUNT"] ?? 0
        let batch = m["BATCH"] ?? 0, inputs = m["INPUT_SIZE"] ?? 0, targets = m["TARGET_COUNT"] ?? 0
        let labels = (m["TARGETS_ARE_LABELS"] ?? 0) != 0
        func buffer(_ what: String, _ n: Int, _ size: Int, _ type: String) -> Item {
            Item(name: what, bytes: n * size, note: "\(ByteSize.grouped(n)) \(type)")
        }
        var ram = [
            buffer(frozen > 0 ? "trained parameters" : "parameters", inRAM, s, real),
            buffer("gradients", grads, s, real),
            buffer("optimizer state", state, s, real),
            buffer("arena", arena, s, real),
            buffer("batch inputs", batch * inputs, s, real),
            buffer("batch targets", targets, labels ? 4 : s, labels ? "int32_t" : real),
        ]
        if let rows = dataRows {
            let index = Device.indexType(rows: rows)
            ram.append(buffer("shuffle order", rows, index.size, index.name))
        }
        if compilation.code.localElements > 0 {  // NN_STATIC_LOCALS: the kernels' panels, off the stack
            ram.append(Item(name: "kernel panels", bytes: compilation.code.localElements * s,
                            note: "\(ByteSize.grouped(compilation.code.localElements)) \(real) (\(name).c's nn_locals)"))
        }
        var flash: [Item] = []
        let measurement = compiler.flatMap { measure(compilation, core: core, compiler: $0) }
        if let mm = measurement {
            ram.append(Item(name: "stack", bytes: mm.stack, note: mm.stackNote))
            flash.append(Item(name: "model code", bytes: mm.code,
                              note: "\(name).c text + data, arm-none-eabi-size"))
        } else {
            let est = estimate(compilation)
            ram.append(Item(name: "stack", bytes: est.stack, note: "estimated: the largest kernel's local arrays + 512 B"))
            flash.append(Item(name: "model code", bytes: est.code,
                              note: "estimated: 0.2 B per character of \(name).c (no arm-none-eabi-gcc)"))
        }
        if let rows = dataRows {
            let features = compilation.analysis.model.input.shape.elementCount
            let targetBytes = labels ? 4 : s * targets / max(batch, 1)
            flash.append(Item(name: "embedded data", bytes: rows * (features * s + targetBytes),
                              note: "\(ByteSize.grouped(rows)) rows"))
        }
        if frozen > 0 {
            flash.append(buffer("frozen parameters", frozen, s, real))
        }
        if embedsParameters {
            flash.append(buffer("initial parameters", inRAM, s, real))
        }
        return Footprint(core: core, ram: ram, flash: flash, measured: measurement != nil, trained: (grads, params))
    }

    /// The report `nngen describe --target` and `nngen emit --target embedded` print.
    public var text: String {
        let what = trained.count < trained.of
            ? "fine-tuning: \(ByteSize.grouped(trained.count)) of \(ByteSize.grouped(trained.of)) parameters trained"
            : "full training"
        var rows: [String] = ["Footprint on \(core.rawValue) (train_device.c, \(what))"]
        func line(_ i: Item) -> String {
            "  " + i.name.padding(toLength: 20, withPad: " ", startingAt: 0)
                + String(repeating: " ", count: max(0, 24 - ByteSize.text(i.bytes).count)) + ByteSize.text(i.bytes)
                + "  " + i.note
        }
        rows.append("RAM")
        rows += ram.map(line)
        rows.append(line(Item(name: "RAM total", bytes: ramBytes, note: "")))
        rows.append("flash")
        rows += flash.map(line)
        rows.append(line(Item(name: "flash total", bytes: flashBytes,
                              note: "+ train_device.c, start-up, libgcc and newlib (`make size` links them)")))
        return rows.map { var r = $0; while r.last == " " { r.removeLast() }; return r }.joined(separator: "\n") + "\n"
    }

    /// Throws when the RAM total exceeds `budget` bytes: by how much, the largest buffers, and what
    /// to freeze or shrink (the layer with the most parameters, the optimizer, the batch).
    public func check(ramBudget budget: Int, analysis: ModelAnalysis) throws {
        guard ramBytes > budget else { return }
        let model = analysis.model
        let largest = ram.sorted { $0.bytes > $1.bytes }.prefix(3)
            .map { "\($0.name) \(ByteSize.text($0.bytes))" }.joined(separator: ", ")
        var advice: [String] = []
        if let big = analysis.layers.filter({ $0.depth == 0 }).max(by: { $0.parameterCount < $1.parameterCount }),
           big.parameterCount > 0 {
            advice.append("freeze (\"trainable\": false) or shrink layer \(big.path) (\(ByteSize.grouped(big.parameterCount)) parameters: "
                          + "a frozen layer needs no gradients and no optimizer state)")
        }
        if model.optimizer.stateSlotsPerParameter > 0 {
            advice.append("use sgd without momentum (no optimizer state: saves "
                          + "\(ByteSize.text(ram.first { $0.name == "optimizer state" }?.bytes ?? 0)))")
        }
        if model.batch > 1 {
            advice.append("use a smaller batch than \(model.batch) (the arena and the batch buffers scale with it)")
        }
        throw EmbeddedTargetError(
            "model \(model.name) needs \(ByteSize.text(ramBytes)) of RAM on \(core.rawValue), "
            + "\(ByteSize.text(ramBytes - budget)) over the --ram-budget of \(ByteSize.text(budget)) "
            + "(largest: \(largest)); to fit: " + advice.joined(separator: "; "))
    }

    // MARK: measuring

    /// `arm-none-eabi-gcc` when it is on PATH (or `NNGEN_ARM_CC` names one), else nil.
    public static func findArmCompiler() -> String? {
        if let cc = ProcessInfo.processInfo.environment["NNGEN_ARM_CC"], !cc.isEmpty { return cc }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let candidate = "\(dir)/arm-none-eabi-gcc"
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Compiles NAME.c for `core` with `-fstack-usage` in a temporary directory; the code's bytes
    /// (text + data of the object, by the compiler's `-size`) and a bound on the stack the training
    /// step needs: NAME_train_step's frame + the largest of forward, backward and update + the two
    /// largest other frames (a kernel and a helper it calls). Nil when anything fails.
    static func measure(_ compilation: Compilation, core: DeviceCore, compiler: String)
        -> (code: Int, stack: Int, stackNote: String)? {
        let name = compilation.analysis.model.name
        let fm = FileManager.default
        let dir = fm.temporaryDirectory.appendingPathComponent("nngen-footprint-\(UUID().uuidString)")
        defer { try? fm.removeItem(at: dir) }
        do {
            try fm.createDirectory(at: dir, withIntermediateDirectories: true)
            try Data(compilation.code.header.utf8).write(to: dir.appendingPathComponent("\(name).h"))
            try Data(compilation.code.source.utf8).write(to: dir.appendingPathComponent("\(name).c"))
        } catch { return nil }
        let object = dir.appendingPathComponent("\(name).o").path
        guard run(compiler, core.flags + ["-O2"] + DeviceCore.commonFlags + ["-fstack-usage", "-c", "\(name).c", "-o", object],
                  in: dir) != nil else { return nil }
        let sizeTool = compiler.hasSuffix("gcc") ? String(compiler.dropLast(3)) + "size" : "arm-none-eabi-size"
        guard let sizes = run(sizeTool, [object], in: dir),
              let numbers = sizes.split(separator: "\n").dropFirst().first?.split(whereSeparator: { $0 == " " || $0 == "\t" }),
              numbers.count >= 2, let text = Int(numbers[0]), let data = Int(numbers[1]),
              let su = try? String(contentsOf: dir.appendingPathComponent("\(name).su"), encoding: .utf8)
        else { return nil }
        var frames: [String: Int] = [:]
        for line in su.split(separator: "\n") {
            let fields = line.split(separator: "\t")
            guard fields.count >= 2, let bytes = Int(fields[1]),
                  let fn = fields[0].split(separator: ":").last else { continue }
            frames[String(fn)] = max(frames[String(fn)] ?? 0, bytes)
        }
        let step = frames["\(name)_train_step"] ?? 0
        let passes = ["forward", "backward", "update"].map { frames["\(name)_\($0)"] ?? 0 }.max() ?? 0
        let api = Set(["train_step", "forward", "backward", "update", "init", "predict", "loss_sum"].map { "\(name)_\($0)" })
        let others = frames.filter { !api.contains($0.key) }.sorted { $0.value > $1.value }
        let kernels = others.prefix(2).reduce(0) { $0 + $1.value }
        let biggest = others.first.map { "largest frame: \($0.key), \(ByteSize.text($0.value))" } ?? ""
        return (text + data, step + passes + kernels, "bound from -fstack-usage; \(biggest)")
    }

    /// Estimates without a cross compiler: 0.2 bytes of code per character of NAME.c (what
    /// arm-none-eabi-gcc -O2 gives the examples: 0.16 to 0.20), and a stack of the largest line of
    /// local array declarations plus 512 bytes.
    static func estimate(_ compilation: Compilation) -> (code: Int, stack: Int) {
        let source = compilation.code.source
        var largest = 0
        for line in source.split(separator: "\n") {
            let t = line.trimmingCharacters(in: .whitespaces)
            guard t.hasPrefix("float ") || t.hasPrefix("double ") else { continue }
            let size = t.hasPrefix("float ") ? 4 : 8
            var total = 0
            var rest = Substring(t)
            while let open = rest.firstIndex(of: "[") {
                let after = rest[rest.index(after: open)...]
                let digits = after.prefix { $0.isNumber }
                total += (Int(digits) ?? 0) * size
                rest = after.dropFirst(digits.count)
            }
            largest = max(largest, total)
        }
        return (source.utf8.count / 5, largest + 512)
    }

    /// Runs `tool` with `arguments` in `dir`; its standard output, or nil when it cannot start or fails.
    static func run(_ tool: String, _ arguments: [String], in dir: URL) -> String? {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [tool] + arguments
        process.currentDirectoryURL = dir
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        do { try process.run() } catch { return nil }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { return nil }
        return String(decoding: data, as: UTF8.self)
    }
}
