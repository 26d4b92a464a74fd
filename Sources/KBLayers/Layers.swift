import CKBKernels
import KBTensor

// Layers with explicit forward and backward side by side. Pointer-level, row-major, shapes in
// the doc comments. Backward passes ACCUMULATE into parameter gradients (dW, db, dgamma, ...)
// and, unless stated otherwise, OVERWRITE input gradients (dx).

/// y[N, out] = x[N, in] · Wᵀ + b, W: [out, in].
public enum Linear {
    /// `packed`: the weight packed for `PackedWeight` (same values), or nil for `sgemm`.
    public static func forward(_ x: UnsafePointer<Float>, rows n: Int, inF: Int, outF: Int,
                               weight: UnsafePointer<Float>, bias: UnsafePointer<Float>?,
                               out y: UnsafeMutablePointer<Float>, ldOut: Int? = nil, packed: PackedWeight? = nil) {
        let ld = ldOut ?? outF
        if let packed, packed.n == outF, packed.k == inF {
            packed.multiply(x, rows: n, out: y, ldOut: ld)
        } else {
            sgemm(transA: false, transB: true, m: n, n: outF, k: inF, a: x, lda: inF, b: weight, ldb: inF, c: y, ldc: ld)
        }
        if let bias {
            if ld == outF { Kernels.addBias(y, rows: n, cols: outF, bias: bias) }
            else { for r in 0..<n { Kernels.add(y + r * ld, bias, count: outF) } }
        }
    }

    /// dW += dyᵀ · x; db += Σ_rows dy; dx (= or += with `accumulate`) dy · W.
    /// `ldDy` is dy's row stride (for views into wider matrices). `packedT`: Wᵀ packed for
    /// `PackedWeight` (`init(transposing:)`), or nil for `sgemm`.
    public static func backward(_ x: UnsafePointer<Float>, dy: UnsafePointer<Float>, rows n: Int, inF: Int, outF: Int,
                                weight: UnsafePointer<Float>, dWeight: UnsafeMutablePointer<Float>,
                                dBias: UnsafeMutablePointer<Float>?, dx: UnsafeMutablePointer<Float>?,
                                accumulate: Bool = false, ldDy: Int? = nil, packedT: PackedWeight? = nil) {
        let ld = ldDy ?? outF
        sgemm(transA: true, transB: false, m: outF, n: inF, k: n, a: dy, lda: ld, b: x, ldb: inF,
              beta: 1, c: dWeight, ldc: inF)
        if let dBias { biasGrad(dy, rows: n, cols: outF, ld: ld, into: dBias) }
        if let dx {
            if let packedT, packedT.n == inF, packedT.k == outF {
                packedT.multiply(dy, rows: n, ldX: ld, out: dx, accumulate: accumulate)
            } else {
                sgemm(transA: false, transB: false, m: n, n: inF, k: outF, a: dy, lda: ld, b: weight, ldb: inF,
                      beta: accumulate ? 1 : 0, c: dx, ldc: inF)
            }
        }
    }

    /// db[c] += Σ_r dy[r, c] (rows split over threads, partial sums reduced).
    public static func biasGrad(_ dy: UnsafePointer<Float>, rows: Int, cols: Int, ld: Int, into db: UnsafeMutablePointer<Float>) {
        parallelSum(rows, minPerThread: max(1, 16384 / max(cols, 1)), width: cols, into: db) { r, part in
            if ld == cols {
                kb_bias_grad(dy + r.lowerBound * cols, part, r.count, cols)
            } else {
                for i in r { kb_add(part, dy + i * ld, cols) }
            }
        }
    }
}

/// LayerNorm over the last dimension with per-row statistics kept for the backward pass.
public enum LayerNorm {
    /// dx = ∂L/∂x (overwritten); dgamma += Σ dy·x̂; dbeta += Σ dy.
    public static func backward(_ x: UnsafePointer<Float>, dy: UnsafePointer<Float>, rows: Int, cols: Int,
                                gamma: UnsafePointer<Float>, mean: UnsafePointer<Float>, rstd: UnsafePointer<Float>,
                                dx: UnsafeMutablePointer<Float>, dGamma: UnsafeMutablePointer<Float>, dBeta: UnsafeMutablePointer<Float>) {
        parallelChunks(rows, minPerThread: max(1, 8192 / max(cols, 1))) { r in
            let o = r.lowerBound
            kb_layernorm_backward_rows(x + o * cols, dy + o * cols, gamma, mean + o, rstd + o, dx + o * cols, r.count, cols)
        }
        // dgamma | dbeta summed over row chunks, then added to the two gradients.
        let sums = UnsafeMutablePointer<Float>.allocate(capacity: 2 * cols)
        sums.initialize(repeating: 0, count: 2 * cols)
        defer { sums.deallocate() }
        parallelSum(rows, minPerThread: max(1, 8192 / max(cols, 1)), width: 2 * cols, into: sums) { r, part in
            let o = r.lowerBound
            kb_layernorm_param_grads(x + o * cols, dy + o * cols, mean + o, rstd + o, part, part + cols, r.count, cols)
        }
        kb_add(dGamma, sums, cols)
        kb_add(dBeta, sums + cols, cols)
    }
}

/// Activation backward, in place: `grad` holds ∂L/∂y on entry and ∂L/∂x = ∂L/∂y · act'(x) on
/// return, with x the pre-activation (or y the output, for tanh).
public enum ActivationGrad {
    public static func geluErf(_ x: UnsafePointer<Float>, grad: UnsafeMutablePointer<Float>, count: Int) {
        parallelChunks(count, minPerThread: 16384) { r in kb_gelu_erf_backward(x + r.lowerBound, grad + r.lowerBound, r.count) }
    }
    public static func geluTanh(_ x: UnsafePointer<Float>, grad: UnsafeMutablePointer<Float>, count: Int) {
        parallelChunks(count, minPerThread: 16384) { r in kb_gelu_tanh_backward(x + r.lowerBound, grad + r.lowerBound, r.count) }
    }
    public static func relu(_ x: UnsafePointer<Float>, grad: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count where x[i] <= 0 { grad[i] = 0 }
    }
    public static func tanhFromOutput(_ y: UnsafePointer<Float>, grad: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count { grad[i] *= 1 - y[i] * y[i] }
    }
}

/// Row softmax backward from the probabilities, in place: `grad` holds ∂L/∂p on entry and
/// ∂L/∂x = p ⊙ (∂L/∂p − Σ ∂L/∂p ⊙ p) on return.
public enum SoftmaxGrad {
    public static func backward(_ p: UnsafePointer<Float>, grad: UnsafeMutablePointer<Float>, rows: Int, cols: Int) {
        parallelChunks(rows, minPerThread: max(1, 8192 / max(cols, 1))) { r in
            let o = r.lowerBound * cols
            kb_softmax_backward_rows(p + o, grad + o, r.count, cols)
        }
    }
}

/// Embedding lookup backward: scatter-add rows of dy into the table gradient.
public enum EmbeddingGrad {
    public static func scatterAdd(ids: UnsafeBufferPointer<Int32>, dy: UnsafePointer<Float>, cols: Int, dTable: UnsafeMutablePointer<Float>) {
        for (i, id) in ids.enumerated() { kb_add(dTable + Int(id) * cols, dy + i * cols, cols) }
    }
}

/// Inverted dropout with an injected generator: kept values are scaled by 1/(1 − p).
public struct Dropout: Sendable {
    public let p: Float
    public init(p: Float) { self.p = p }

    /// A fresh keep-mask of `count` entries (1 keep, 0 drop): each 64-bit draw decides four
    /// entries from 16 bits each (drop probability p quantized to 1/65536).
    public func mask<G: RandomNumberGenerator>(count: Int, using rng: inout G) -> [UInt8] {
        if p <= 0 { return [UInt8](repeating: 1, count: count) }
        let threshold = UInt64((Double(p) * 65536).rounded())
        var out = [UInt8](repeating: 0, count: count)
        var i = 0
        while i < count {
            var r = rng.next()
            for _ in 0..<min(4, count - i) {
                out[i] = (r & 0xFFFF) >= threshold ? 1 : 0
                r >>= 16
                i += 1
            }
        }
        return out
    }

    /// The same mask as the generic `mask(count:using:)` for a `SplitMix64`, in one vectorized
    /// C loop (each draw depends only on its index), leaving `rng` in the same state.
    public func mask(count: Int, using rng: inout SplitMix64) -> [UInt8] {
        if p <= 0 { return [UInt8](repeating: 1, count: count) }
        let threshold = UInt64((Double(p) * 65536).rounded())
        var out = [UInt8](repeating: 0, count: count)
        let state = rng.state
        rng.state = out.withUnsafeMutableBufferPointer { kb_dropout_mask(state, threshold, count, $0.baseAddress) }
        return out
    }

    /// x = x · mask / (1 − p), in place. Also the backward pass (apply to dy).
    public func apply(_ x: UnsafeMutablePointer<Float>, mask: UnsafePointer<UInt8>, count: Int) {
        if p <= 0 { return }
        kb_mask_scale(x, mask, 1 / (1 - p), count)
    }
}
