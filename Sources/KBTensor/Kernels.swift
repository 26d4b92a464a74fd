/// Optimized element-wise and row-wise kernels (SIMD16, multi-threaded over rows).
///
/// Every kernel here has a naive twin in `NaiveKernels`; the tests compare the two on awkward shapes.
/// All pointers are row-major; `rows × cols` matrices are contiguous.
public enum Kernels {
    // MARK: helpers

    @inlinable @inline(__always)
    static func load(_ p: UnsafePointer<Float>, _ n: Int) -> V16 {
        if n >= 16 { return UnsafeRawPointer(p).loadUnaligned(as: V16.self) }
        var v = V16(repeating: 0)
        for i in 0..<n { v[i] = p[i] }
        return v
    }

    @inlinable @inline(__always)
    static func store(_ v: V16, _ p: UnsafeMutablePointer<Float>, _ n: Int) {
        if n >= 16 { UnsafeMutableRawPointer(p).storeBytes(of: v, as: V16.self); return }
        for i in 0..<n { p[i] = v[i] }
    }

    /// Applies `f` to `count` floats in place, 16 lanes at a time, in parallel chunks.
    @inlinable @inline(__always)
    static func map(_ x: UnsafeMutablePointer<Float>, count: Int, _ f: (V16) -> V16) {
        parallelChunks((count + 15) / 16, minPerThread: 2048) { r in
            var i = r.lowerBound * 16
            let end = min(count, r.upperBound * 16)
            while i < end {
                let n = min(16, end - i)
                store(f(load(x + i, n)), x + i, n)
                i += 16
            }
        }
    }

    // MARK: bias, residual

    /// x[r, c] += bias[c] for an `rows × cols` matrix.
    public static func addBias(_ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int, bias: UnsafePointer<Float>) {
        parallelChunks(rows, minPerThread: max(1, 16384 / max(cols, 1))) { r in
            for row in r {
                let p = x + row * cols
                var j = 0
                while j < cols {
                    let n = min(16, cols - j)
                    store(load(p + j, n) + load(bias + j, n), p + j, n)
                    j += 16
                }
            }
        }
    }

    /// x[i] += y[i] (residual connection).
    public static func add(_ x: UnsafeMutablePointer<Float>, _ y: UnsafePointer<Float>, count: Int) {
        parallelChunks((count + 15) / 16, minPerThread: 2048) { r in
            var i = r.lowerBound * 16
            let end = min(count, r.upperBound * 16)
            while i < end {
                let n = min(16, end - i)
                store(load(x + i, n) + load(y + i, n), x + i, n)
                i += 16
            }
        }
    }

    // MARK: activations

    /// GELU, erf form (HF "gelu"): x · ½ (1 + erf(x/√2)). In place.
    public static func gelu(_ x: UnsafeMutablePointer<Float>, count: Int) {
        map(x, count: count) { v in v * 0.5 * (1 + verf(v * 0.70710678118654752)) }
    }

    /// GELU, tanh form (HF "gelu_new"): ½x (1 + tanh(√(2/π)(x + 0.044715 x³))). In place.
    public static func geluTanh(_ x: UnsafeMutablePointer<Float>, count: Int) {
        map(x, count: count) { v in
            let u = 0.7978845608028654 * (v + 0.044715 * v * v * v)
            return 0.5 * v * (1 + vtanh(u))
        }
    }

    /// tanh, in place.
    public static func tanh(_ x: UnsafeMutablePointer<Float>, count: Int) {
        map(x, count: count) { vtanh($0) }
    }

    /// ReLU, in place.
    public static func relu(_ x: UnsafeMutablePointer<Float>, count: Int) {
        map(x, count: count) { $0.replacing(with: 0, where: $0 .< 0) }
    }

    // MARK: softmax

    /// Row softmax with an optional additive mask, max-subtracted. In place.
    ///
    /// `mask`, when given, is `[rows / rowsPerMask, cols]`: row `r` adds mask row `r / rowsPerMask`.
    public static func softmax(
        _ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int,
        mask: UnsafePointer<Float>? = nil, rowsPerMask: Int = 1
    ) {
        parallelChunks(rows, minPerThread: max(1, 8192 / max(cols, 1))) { r in
            for row in r {
                let p = x + row * cols
                let m = mask.map { $0 + (row / rowsPerMask) * cols }
                var vmax = V16(repeating: -.infinity)
                var j = 0
                while j < cols {
                    let n = min(16, cols - j)
                    var v = load(p + j, n)
                    if let m { v += load(m + j, n) }
                    if n < 16 { for l in n..<16 { v[l] = -.infinity } }
                    store(v, p + j, n)
                    vmax = pointwiseMax(vmax, v)
                    j += 16
                }
                let mx = vmax.max()
                var vsum = V16(repeating: 0)
                j = 0
                while j < cols {
                    let n = min(16, cols - j)
                    var e = vexp(load(p + j, n) - mx)
                    if n < 16 { for l in n..<16 { e[l] = 0 } }
                    store(e, p + j, n)
                    vsum += e
                    j += 16
                }
                let inv = 1 / vsum.sum()
                j = 0
                while j < cols {
                    let n = min(16, cols - j)
                    store(load(p + j, n) * inv, p + j, n)
                    j += 16
                }
            }
        }
    }

    // MARK: layer norm

    /// LayerNorm over the last dimension: out = (x − mean) / sqrt(var + eps) · gamma + beta.
    /// Optionally stores each row's mean and 1/sqrt(var + eps) (for the backward pass).
    public static func layerNorm(
        _ x: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, rows: Int, cols: Int,
        gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, eps: Float,
        mean: UnsafeMutablePointer<Float>? = nil, rstd: UnsafeMutablePointer<Float>? = nil
    ) {
        parallelChunks(rows, minPerThread: max(1, 16384 / max(cols, 1))) { r in
            for row in r {
                let p = x + row * cols, o = out + row * cols
                var acc = V16(repeating: 0)
                var j = 0
                while j < cols { acc += load(p + j, min(16, cols - j)); j += 16 }
                let mu = acc.sum() / Float(cols)
                var vacc = V16(repeating: 0)
                j = 0
                while j < cols {
                    let n = min(16, cols - j)
                    var d = load(p + j, n) - mu
                    if n < 16 { for l in n..<16 { d[l] = 0 } }
                    vacc += d * d
                    j += 16
                }
                let rs = 1 / (vacc.sum() / Float(cols) + eps).squareRoot()
                j = 0
                while j < cols {
                    let n = min(16, cols - j)
                    let y = (load(p + j, n) - mu) * rs * load(gamma + j, n) + load(beta + j, n)
                    store(y, o + j, n)
                    j += 16
                }
                mean?[row] = mu
                rstd?[row] = rs
            }
        }
    }

    // MARK: embedding gather

    /// out[i, :] = table[ids[i], :] for a `vocab × cols` table. Throws on an id outside the table.
    public static func gather(
        table: UnsafePointer<Float>, vocab: Int, cols: Int, ids: UnsafeBufferPointer<Int32>,
        out: UnsafeMutablePointer<Float>
    ) throws(TensorError) {
        for (i, id) in ids.enumerated() {
            guard id >= 0 && Int(id) < vocab else { throw .indexOutOfRange(index: Int(id), limit: vocab) }
            (out + i * cols).update(from: table + Int(id) * cols, count: cols)
        }
    }
}

/// tanh(x) = 1 − 2 / (exp(2x) + 1), saturating cleanly for large |x|.
@inlinable @inline(__always)
public func vtanh(_ x: V16) -> V16 {
    let e = vexp(2 * x.clamped(lowerBound: V16(repeating: -20), upperBound: V16(repeating: 20)))
    return 1 - 2 / (e + 1)
}
