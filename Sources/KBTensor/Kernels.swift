import CKBKernels

/// Optimized element-wise and row-wise kernels: vectorized C loops (CKBKernels), split over
/// `Threads.count` threads by rows or ranges.
///
/// Every kernel here has a naive twin in `NaiveKernels`; the tests compare the two on awkward shapes.
/// All pointers are row-major; `rows × cols` matrices are contiguous.
public enum Kernels {
    @inline(__always)
    static func elementwise(_ x: UnsafeMutablePointer<Float>, _ count: Int, _ f: (UnsafeMutablePointer<Float>, Int) -> Void) {
        parallelChunks(count, minPerThread: 32768) { r in f(x + r.lowerBound, r.count) }
    }

    /// x[r, c] += bias[c] for an `rows × cols` matrix.
    public static func addBias(_ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int, bias: UnsafePointer<Float>) {
        parallelChunks(rows, minPerThread: max(1, 32768 / max(cols, 1))) { r in
            kb_add_bias_rows(x + r.lowerBound * cols, r.count, cols, bias)
        }
    }

    /// x[i] += y[i] (residual connection).
    public static func add(_ x: UnsafeMutablePointer<Float>, _ y: UnsafePointer<Float>, count: Int) {
        parallelChunks(count, minPerThread: 32768) { r in kb_add(x + r.lowerBound, y + r.lowerBound, r.count) }
    }

    /// GELU, erf form (HF "gelu"): x · ½ (1 + erf(x/√2)). In place.
    public static func gelu(_ x: UnsafeMutablePointer<Float>, count: Int) { elementwise(x, count) { kb_gelu_erf($0, $1) } }

    /// GELU, tanh form (HF "gelu_new"): ½x (1 + tanh(√(2/π)(x + 0.044715 x³))). In place.
    public static func geluTanh(_ x: UnsafeMutablePointer<Float>, count: Int) { elementwise(x, count) { kb_gelu_tanh($0, $1) } }

    /// tanh, in place.
    public static func tanh(_ x: UnsafeMutablePointer<Float>, count: Int) { elementwise(x, count) { kb_tanh($0, $1) } }

    /// ReLU, in place.
    public static func relu(_ x: UnsafeMutablePointer<Float>, count: Int) { elementwise(x, count) { kb_relu($0, $1) } }

    /// exp, in place (Cephes polynomial; ~1 ulp).
    public static func exp(_ x: UnsafeMutablePointer<Float>, count: Int) { elementwise(x, count) { kb_exp($0, $1) } }

    /// erf, in place (absolute error ≤ 3e-7).
    public static func erf(_ x: UnsafeMutablePointer<Float>, count: Int) { elementwise(x, count) { kb_erf($0, $1) } }

    /// Row softmax with an optional additive mask, max-subtracted. In place.
    ///
    /// `mask`, when given, is `[rows / rowsPerMask, cols]`: row `r` adds mask row `r / rowsPerMask`.
    public static func softmax(
        _ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int,
        mask: UnsafePointer<Float>? = nil, rowsPerMask: Int = 1
    ) {
        parallelChunks(rows, minPerThread: max(1, 16384 / max(cols, 1))) { r in
            // Offset the mask so that row indices restart at 0 inside the chunk.
            let first = r.lowerBound
            if let mask {
                var row = first
                while row < r.upperBound {
                    let group = row / rowsPerMask
                    let end = min(r.upperBound, (group + 1) * rowsPerMask)
                    kb_softmax_rows(x + row * cols, end - row, cols, mask + group * cols, end - row)
                    row = end
                }
            } else {
                kb_softmax_rows(x + first * cols, r.count, cols, nil, 1)
            }
        }
    }

    /// LayerNorm over the last dimension: out = (x − mean) / sqrt(var + eps) · gamma + beta.
    /// Optionally stores each row's mean and 1/sqrt(var + eps) (for the backward pass).
    public static func layerNorm(
        _ x: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, rows: Int, cols: Int,
        gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>, eps: Float,
        mean: UnsafeMutablePointer<Float>? = nil, rstd: UnsafeMutablePointer<Float>? = nil
    ) {
        parallelChunks(rows, minPerThread: max(1, 16384 / max(cols, 1))) { r in
            let o = r.lowerBound
            kb_layernorm_rows(x + o * cols, out + o * cols, r.count, cols, gamma, beta, eps,
                              mean.map { $0 + o }, rstd.map { $0 + o })
        }
    }

    /// x = GELU_erf(x + bias) for an `rows × cols` matrix (fused bias and activation).
    public static func biasGelu(_ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int, bias: UnsafePointer<Float>) {
        parallelChunks(rows, minPerThread: max(1, 32768 / max(cols, 1))) { r in
            kb_bias_gelu_erf_rows(x + r.lowerBound * cols, r.count, cols, bias)
        }
    }

    /// x += bias + residual (x keeps the sum), then out = LayerNorm(x) (fused; one pass per row).
    public static func biasResidualLayerNorm(
        _ x: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, residual: UnsafePointer<Float>,
        out: UnsafeMutablePointer<Float>, rows: Int, cols: Int, gamma: UnsafePointer<Float>, beta: UnsafePointer<Float>,
        eps: Float, mean: UnsafeMutablePointer<Float>? = nil, rstd: UnsafeMutablePointer<Float>? = nil
    ) {
        parallelChunks(rows, minPerThread: max(1, 16384 / max(cols, 1))) { r in
            let o = r.lowerBound
            kb_bias_residual_layernorm_rows(x + o * cols, bias, residual + o * cols, out + o * cols, r.count, cols,
                                            gamma, beta, eps, mean.map { $0 + o }, rstd.map { $0 + o })
        }
    }

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
