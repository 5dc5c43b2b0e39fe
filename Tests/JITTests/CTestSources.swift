/// Small C translation units shared by the back-end tests.
enum CTestSources {
    /// `double dot(const double*, const double*, int)` and
    /// `float activate(float)` = erff(x) + tanhf(x) + expf(x).
    static let dotAndActivate = """
        #include <math.h>
        double dot(const double *a, const double *b, int n) {
            double s = 0.0;
            for (int i = 0; i < n; ++i) s += a[i] * b[i];
            return s;
        }
        float activate(float x) { return erff(x) + tanhf(x) + expf(x); }
        """

    /// `double mathmix(double)` using erf, tanh, expf, logf and sqrtf.
    static let libm = """
        #include <math.h>
        double mathmix(double x) {
            return erf(x) + tanh(x) + (double)expf((float)x) + (double)logf((float)x + 2.0f)
                 + (double)sqrtf((float)x + 1.0f);
        }
        """

    /// A missing semicolon.
    static let syntaxError = """
        int broken(int x) {
            return x + 1
        }
        """

    /// Calls `scale_by_swift` and reads `swift_table` through a pointer, both supplied
    /// as symbols (`swift_table` is the address of a pointer variable; see `CBackend`).
    static let usesSymbols = """
        double scale_by_swift(double);
        extern double *swift_table;
        double combine(double x) { return scale_by_swift(x) + swift_table[2]; }
        """

    /// Reads `swift_array` directly as an array (works with cc, and with tcc for
    /// integer element types only).
    static let usesArraySymbol = """
        extern double swift_array[4];
        extern int swift_ints[4];
        double array_sum(double x) { return x + swift_array[2]; }
        int int_sum(int x) { return x + swift_ints[1]; }
        """

    /// `long counter_step(void)` increments a static counter: tests repeated calls.
    static let counter = """
        static long count = 0;
        long counter_step(void) { return ++count; }
        """
}

typealias DotFunction = @convention(c) (UnsafePointer<Double>?, UnsafePointer<Double>?, Int32) -> Double
typealias FloatFunction = @convention(c) (Float) -> Float
typealias DoubleFunction = @convention(c) (Double) -> Double
typealias CounterFunction = @convention(c) () -> Int
