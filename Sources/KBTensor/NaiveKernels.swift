import Foundation

/// Straightforward reference twins of `Kernels`, written for clarity (scalar loops, libm).
/// Tests compare each optimized kernel with its twin.
public enum NaiveKernels {
    public static func addBias(_ x: inout [Float], rows: Int, cols: Int, bias: [Float]) {
        for r in 0..<rows { for c in 0..<cols { x[r * cols + c] += bias[c] } }
    }

    public static func add(_ x: inout [Float], _ y: [Float]) {
        for i in x.indices { x[i] += y[i] }
    }

    public static func gelu(_ x: inout [Float]) {
        for i in x.indices { let v = Double(x[i]); x[i] = Float(v * 0.5 * (1 + erf(v / 2.0.squareRoot()))) }
    }

    public static func geluTanh(_ x: inout [Float]) {
        for i in x.indices {
            let v = Double(x[i])
            x[i] = Float(0.5 * v * (1 + Foundation.tanh((2.0 / Double.pi).squareRoot() * (v + 0.044715 * v * v * v))))
        }
    }

    public static func tanh(_ x: inout [Float]) {
        for i in x.indices { x[i] = Float(Foundation.tanh(Double(x[i]))) }
    }

    public static func relu(_ x: inout [Float]) {
        for i in x.indices { x[i] = max(0, x[i]) }
    }

    public static func softmax(_ x: inout [Float], rows: Int, cols: Int, mask: [Float]? = nil, rowsPerMask: Int = 1) {
        for r in 0..<rows {
            var v = (0..<cols).map { Double(x[r * cols + $0]) + Double(mask?[(r / rowsPerMask) * cols + $0] ?? 0) }
            let m = v.max() ?? 0
            v = v.map { Foundation.exp($0 - m) }
            let s = v.reduce(0, +)
            for c in 0..<cols { x[r * cols + c] = Float(v[c] / s) }
        }
    }

    public static func layerNorm(_ x: [Float], rows: Int, cols: Int, gamma: [Float], beta: [Float], eps: Float) -> [Float] {
        var out = x
        for r in 0..<rows {
            let row = (0..<cols).map { Double(x[r * cols + $0]) }
            let mu = row.reduce(0, +) / Double(cols)
            let v = row.map { ($0 - mu) * ($0 - mu) }.reduce(0, +) / Double(cols)
            let rs = 1 / (v + Double(eps)).squareRoot()
            for c in 0..<cols { out[r * cols + c] = Float((row[c] - mu) * rs * Double(gamma[c]) + Double(beta[c])) }
        }
        return out
    }

    public static func gather(table: [Float], cols: Int, ids: [Int32]) -> [Float] {
        ids.flatMap { id in Array(table[Int(id) * cols ..< (Int(id) + 1) * cols]) }
    }

    /// C = op(A) · op(B) in Double accumulation (row-major).
    public static func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, a: [Float], b: [Float]) -> [Float] {
        var c = [Float](repeating: 0, count: m * n)
        for i in 0..<m {
            for j in 0..<n {
                var s = 0.0
                for p in 0..<k {
                    let av = transA ? a[p * m + i] : a[i * k + p]
                    let bv = transB ? b[j * k + p] : b[p * n + j]
                    s += Double(av) * Double(bv)
                }
                c[i * n + j] = Float(s)
            }
        }
        return c
    }
}
