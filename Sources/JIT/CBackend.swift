/// A C compiler that turns one complete translation unit into loaded machine code.
///
/// Two implementations exist: ``TCCBackend`` (libtcc, in memory, fast to compile,
/// slow code) and ``CCBackend`` (the system compiler plus `dlopen`, slow to compile,
/// fast code). Both are value types and may be used from any thread.
public protocol CBackend: Sendable {
    /// A short name used in messages: `"tcc"` or `"cc"`.
    var name: String { get }

    /// Compiles a complete C translation unit and loads it into this process.
    ///
    /// - Parameters:
    ///   - source: The C source text.
    ///   - symbols: Extra functions or objects made visible to the compiled code by
    ///     name. The C code declares them (`double helper(double);`,
    ///     `extern float table[];`) and the back end binds each declaration to the
    ///     given address. The pointed-to code and data must outlive the library.
    ///     For data, prefer declaring a pointer (`extern double *weights;`) and
    ///     passing the address of a pointer variable: tcc 0.9.27 on x86-64 mislinks
    ///     an extern `float`/`double` object used directly as an arithmetic operand
    ///     (`x + table[2]` reads garbage), while pointer and integer objects work.
    /// - Returns: The loaded library. Function pointers obtained from it are valid
    ///   only while the library object is alive.
    /// - Throws: ``JITError``.
    func compile(source: String, symbols: [String: UnsafeRawPointer]) throws -> any CompiledLibrary
}

extension CBackend {
    /// Compiles a translation unit that needs no extra symbols.
    public func compile(source: String) throws -> any CompiledLibrary {
        try compile(source: source, symbols: [:])
    }
}

/// Machine code produced by a ``CBackend``, kept alive by this object.
///
/// Releasing the last reference unloads the code; any function pointer taken from
/// it must not be called afterwards.
public protocol CompiledLibrary: AnyObject {
    /// The address of an exported function or object.
    /// - Throws: ``JITError/symbolMissing(_:)`` if the code defines no such symbol.
    func address(of symbol: String) throws -> UnsafeMutableRawPointer
}

extension CompiledLibrary {
    /// Returns an exported function as a Swift value of a `@convention(c)` function type.
    ///
    /// ```swift
    /// typealias Dot = @convention(c) (UnsafePointer<Double>, UnsafePointer<Double>, Int32) -> Double
    /// let dot = try library.function("dot", as: Dot.self)
    /// ```
    ///
    /// The signature is not checked against the C declaration: passing a type that
    /// does not match the C prototype is undefined behaviour.
    /// - Throws: ``JITError/symbolMissing(_:)``, or ``JITError/invalidFunctionType(_:)``
    ///   if `T` is not pointer-sized (a Swift closure type without `@convention(c)`).
    public func function<T>(_ name: String, as type: T.Type) throws -> T {
        guard MemoryLayout<T>.size == MemoryLayout<UnsafeMutableRawPointer>.size else {
            throw JITError.invalidFunctionType(
                "cannot use \(T.self) for the C function '\(name)': it is not a C function "
                    + "pointer type; declare it as '@convention(c) (...) -> ...'.")
        }
        let pointer = try address(of: name)
        return unsafeBitCast(pointer, to: T.self)
    }
}
