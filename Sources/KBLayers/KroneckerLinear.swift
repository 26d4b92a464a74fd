import CKBKernels
import KBTensor

/// y = (Σ_k A_k ⊗ B_k) x + b for every row x of a batch, without forming A ⊗ B.
///
/// With x viewed as X (n1 × n2, row-major) the product is Y = Σ_k A_k X B_kᵀ (m1 × m2). Over N
/// tokens this runs as a few large GEMMs and one axis swap, in the cheaper of two orders:
/// - `.bFirst`: Z = X·Bᵀ as one [N·n1, n2]×[n2, m2] GEMM, swap to [n1, N·m2], then A·Z.
///   FLOPs 2N·m2·n1·(n2 + m1) per term.
/// - `.aFirst`: swap X to [n1, N·n2], W = A·X ([m1, N·n2]), then W·Bᵀ as [m1·N, n2]×[n2, m2].
///   FLOPs 2N·m1·n2·(n1 + m2) per term.
/// Parameter layout: A [r, m1, n1], B [r, m2, n2], bias [m1·m2].
public struct KroneckerLinear: Sendable, Equatable {
    public enum Order: String, Sendable, Codable { case aFirst, bFirst }
    public let shape: KroneckerShape
    public let rank: Int
    public let order: Order

    public init(shape: KroneckerShape, rank: Int, order: Order? = nil) {
        self.shape = shape
        self.rank = rank
        self.order = order ?? KroneckerLinear.cheaperOrder(shape)
    }

    public static func flops(_ s: KroneckerShape, _ o: Order, tokens: Int = 1) -> Double {
        let n = Double(tokens)
        switch o {
        case .bFirst: return 2 * n * Double(s.m2 * s.n1) * Double(s.n2 + s.m1)
        case .aFirst: return 2 * n * Double(s.m1 * s.n2) * Double(s.n1 + s.m2)
        }
    }

    public static func cheaperOrder(_ s: KroneckerShape) -> Order {
        flops(s, .aFirst) < flops(s, .bFirst) ? .aFirst : .bFirst
    }

    /// Forward FLOPs for `tokens` rows (all terms, bias excluded).
    public func flops(tokens: Int) -> Double { Double(rank) * KroneckerLinear.flops(shape, order, tokens: tokens) }

    /// Scratch floats needed for N rows.
    public func scratchCount(rows n: Int) -> Int {
        let s = shape
        return 2 * n * max(s.n1 * max(s.n2, s.m2), s.m1 * max(s.n2, s.m2)) + n * s.m1 * s.m2
    }

    /// y[N, m] = x[N, n] · (Σ A_k ⊗ B_k)ᵀ + bias. Row t of y starts at `y + t·ldOut` (default m),
    /// so that y can be a column block of a wider matrix (Q | K | V).
    ///
    /// `epilogue`, when given, is called once for every range of rows as soon as they are final
    /// (bias included), from the thread that computed them, so that the caller can apply an
    /// element-wise function while those rows are still in cache. Ranges are disjoint and cover
    /// 0..<N.
    /// `packed`: the factors packed once (fixed weights), used by the GEMMs that multiply by a
    /// factor's transpose (`PackedWeight`); nil runs every GEMM through `sgemm`.
    public func forward(_ x: UnsafePointer<Float>, rows N: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                        bias: UnsafePointer<Float>?, out y: UnsafeMutablePointer<Float>, ldOut: Int? = nil,
                        packed: PackedFactors? = nil, epilogue: ((Range<Int>) -> Void)? = nil) {
        let s = shape
        let ld = ldOut ?? s.rows
        let big = N * max(s.n1 * max(s.n2, s.m2), s.m1 * s.n2)
        let direct = ld == s.rows || usesSmallB || usesColumnB
        ScratchPool.shared.with([big, big, N * s.m1 * s.m2, direct ? 0 : N * s.rows]) { buf in
            if direct {
                forward(x, rows: N, a: a, b: b, bias: bias, out: y, ldOut: ld, t1: buf[0], t2: buf[1], yp: buf[2], packed: packed, epilogue: epilogue)
            } else {
                forward(x, rows: N, a: a, b: b, bias: bias, out: buf[3], ldOut: s.rows, t1: buf[0], t2: buf[1], yp: buf[2], packed: packed, epilogue: nil)
                for r in 0..<N { (y + r * ld).update(from: buf[3] + r * s.rows, count: s.rows) }
                epilogue?(0..<N)
            }
        }
    }

    /// The per-token paths: a small A (m1·n1 ≤ 64), or a small B (m2·n2 ≤ 64) in `.bFirst`.
    public var usesSmallA: Bool { shape.m1 * shape.n1 <= 64 }
    public var usesSmallB: Bool { !usesSmallA && shape.m2 * shape.n2 <= 64 && order == .bFirst }
    /// B one column (n2 = 1) in `.aFirst`: A·X_t is a matrix-vector product per token, so all
    /// tokens' are one [N, n1]×[n1, m1] GEMM with no axis moved, and Y_t = Σ_k (A_k x_t) ⊗ b_k an
    /// outer product written straight out. The planner's lowest-error shapes have this form.
    public var usesColumnB: Bool { !usesSmallA && order == .aFirst && shape.n2 == 1 }

    /// Runs `body(first token, token count)` over token blocks of `tokenBlock(n)`, whole blocks
    /// spread over the threads.
    func forEachTokenBlock(_ n: Int, _ body: (Int, Int) -> Void) {
        let tb = tokenBlock(n)
        parallelChunks((n + tb - 1) / tb, minPerThread: 1) { blocks in
            for blk in blocks { body(blk * tb, min(tb, n - blk * tb)) }
        }
    }

    /// Floats of a token block's widest intermediate: ~768 KB, inside a 1 MB L2 with room to spare.
    public static let blockFloats = 196_608

    /// Tokens per block on the per-token paths: about 768 KB of the widest per-token row, so that a
    /// block's intermediates stay in L2 from one pass to the next, and at least one block per thread.
    func tokenBlock(_ n: Int) -> Int {
        let s = shape
        let widest = max(s.cols, s.rows, s.n1 * max(s.n2, s.m2), s.m1 * s.n2)
        let threads = insideParallelChunk ? 1 : Threads.count   // nested: the caller already split the work
        let perThread = (n + threads - 1) / threads
        return max(1, min(max(8, KroneckerLinear.blockFloats / max(1, widest)), perThread))
    }

    func forward(_ x: UnsafePointer<Float>, rows N: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                 bias: UnsafePointer<Float>?, out y: UnsafeMutablePointer<Float>, ldOut: Int,
                 t1: UnsafeMutablePointer<Float>, t2: UnsafeMutablePointer<Float>, yp: UnsafeMutablePointer<Float>,
                 packed: PackedFactors? = nil, epilogue: ((Range<Int>) -> Void)?) {
        // Only the small-B path writes rows `ldOut` apart; the public `forward` passes the row
        // length to the others (and copies into a wider matrix itself).
        let s = shape
        if usesSmallA {
            forwardSmallA(x, rows: N, a: a, b: b, bias: bias, out: y, t1: t1, packed: packed, epilogue: epilogue)
            return
        }
        if usesSmallB {
            forwardSmallB(x, rows: N, a: a, b: b, bias: bias, out: y, ldOut: ldOut, z: t1, w: yp, packed: packed, epilogue: epilogue)
            return
        }
        if usesColumnB {
            forwardColumnB(x, rows: N, a: a, b: b, bias: bias, out: y, ldOut: ldOut, w: t1, packed: packed, epilogue: epilogue)
            return
        }
        if order == .aFirst { swapAxes(x, d0: N, d1: s.n1, d2: s.n2, into: t1) }  // Xp [n1][N·n2]
        for k in 0..<rank {
            let ak = a + k * s.m1 * s.n1, bk = b + k * s.m2 * s.n2
            let beta: Float = k == 0 ? 0 : 1
            switch order {
            case .bFirst:
                // Zp = (X · B_kᵀ) with axes swapped: [n1][N·m2]
                rightMultiplyBt(x, rows: N * s.n1, k: s.n2, b: bk, n: s.m2, into: t1, accumulate: false, packed: packed?.b[k])
                swapAxes(t1, d0: N, d1: s.n1, d2: s.m2, into: t2)
                // Yp += A_k · Zp: [m1, n1] × [n1, N·m2]
                sgemm(transA: false, transB: false, m: s.m1, n: N * s.m2, k: s.n1, a: ak, lda: s.n1, b: t2, ldb: N * s.m2,
                      beta: beta, c: yp, ldc: N * s.m2)
            case .aFirst:
                // W = A_k · Xp: [m1, n1] × [n1, N·n2] -> [m1][N][n2]
                sgemm(transA: false, transB: false, m: s.m1, n: N * s.n2, k: s.n1, a: ak, lda: s.n1, b: t1, ldb: N * s.n2,
                      c: t2, ldc: N * s.n2)
                // Yp += W · B_kᵀ: [m1·N, n2] × [n2, m2]
                rightMultiplyBt(t2, rows: s.m1 * N, k: s.n2, b: bk, n: s.m2, into: yp, accumulate: beta != 0, packed: packed?.b[k])
            }
        }
        swapAxes(yp, d0: s.m1, d1: N, d2: s.m2, into: y)   // [N][m1][m2]
        if let bias { Kernels.addBias(y, rows: N, cols: s.rows, bias: bias) }
        epilogue?(0..<N)
    }

    /// A small A (m1·n1 ≤ 64) is applied per token by plain loops, so no axis is ever moved:
    /// `.bFirst`: Z = X·Bᵀ ([N·n1, n2]×[n2, m2] GEMM), then Y_t = A·Z_t;
    /// `.aFirst`: W_t = A·X_t, then Y = W·Bᵀ ([N·m1, n2]×[n2, m2] GEMM).
    /// Token blocks run whole (every pass, the bias and the epilogue) on one thread.
    func forwardSmallA(_ x: UnsafePointer<Float>, rows N: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                       bias: UnsafePointer<Float>?, out y: UnsafeMutablePointer<Float>, t1: UnsafeMutablePointer<Float>,
                       packed: PackedFactors? = nil, epilogue: ((Range<Int>) -> Void)?) {
        let s = shape
        forEachTokenBlock(N) { t0, nt in
            for k in 0..<rank {
                let ak = a + k * s.m1 * s.n1, bk = b + k * s.m2 * s.n2
                switch order {
                case .bFirst:
                    rightMultiplyBt(x + t0 * s.cols, rows: nt * s.n1, k: s.n2, b: bk, n: s.m2,
                                    into: t1 + t0 * s.n1 * s.m2, accumulate: false, packed: packed?.b[k])   // [N][n1][m2]
                    kb_small_left(ak, s.m1, s.n1, t1, s.m2, t0, nt, y, k == 0 ? 0 : 1)
                case .aFirst:
                    kb_small_left(ak, s.m1, s.n1, x, s.n2, t0, nt, t1, 0)                                  // [N][m1][n2]
                    rightMultiplyBt(t1 + t0 * s.m1 * s.n2, rows: nt * s.m1, k: s.n2, b: bk, n: s.m2,
                                    into: y + t0 * s.rows, accumulate: k > 0, packed: packed?.b[k])
                }
            }
            if let bias { kb_add_bias_rows(y + t0 * s.rows, nt, s.rows, bias) }
            epilogue?(t0..<(t0 + nt))
        }
    }

    /// Backward: dA += ∂L/∂A, dB += ∂L/∂B, dBias += Σ dy, and dx (= or +=) ∂L/∂x.
    /// `packed`: the factors packed as for `forward` (the forward products recomputed here);
    /// `packedT`: their transposes packed (A_kᵀ [n1, m1], B_kᵀ [n2, m2]), for the products that
    /// multiply by a factor itself on the way to ∂L/∂x. Each nil (or a nil entry) runs `sgemm`.
    public func backward(_ x: UnsafePointer<Float>, dy: UnsafePointer<Float>, rows N: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                         dA: UnsafeMutablePointer<Float>, dB: UnsafeMutablePointer<Float>, dBias: UnsafeMutablePointer<Float>?,
                         dx: UnsafeMutablePointer<Float>?, accumulate: Bool = false,
                         packed: PackedFactors? = nil, packedT: PackedFactors? = nil) {
        let s = shape
        if usesSmallA {
            if let dBias { Linear.biasGrad(dy, rows: N, cols: s.rows, ld: s.rows, into: dBias) }
            backwardSmallA(x, dy: dy, rows: N, a: a, b: b, dA: dA, dB: dB, dx: dx, accumulate: accumulate, packed: packed, packedT: packedT)
            return
        }
        if usesColumnB {
            if let dBias { Linear.biasGrad(dy, rows: N, cols: s.rows, ld: s.rows, into: dBias) }
            backwardColumnB(x, dy: dy, rows: N, a: a, b: b, dA: dA, dB: dB, dx: dx, accumulate: accumulate, packed: packed, packedT: packedT)
            return
        }
        if usesSmallB {
            if let dBias { Linear.biasGrad(dy, rows: N, cols: s.rows, ld: s.rows, into: dBias) }
            backwardSmallB(x, dy: dy, rows: N, a: a, b: b, dA: dA, dB: dB, dx: dx, accumulate: accumulate, packedT: packedT)
            return
        }
        let big = N * max(s.n1 * max(s.n2, s.m2), s.m1 * max(s.n2, s.m2))
        let dyp = FloatBuffer(count: N * s.m1 * s.m2, zeroed: false)  // [m1][N][m2]
        swapAxes(dy, d0: N, d1: s.m1, d2: s.m2, into: dyp.ptr)
        if let dBias { Linear.biasGrad(dy, rows: N, cols: s.rows, ld: s.rows, into: dBias) }
        let t1 = FloatBuffer(count: big, zeroed: false), t2 = FloatBuffer(count: big, zeroed: false)
        let dxAcc = FloatBuffer(count: dx == nil ? 0 : N * s.cols)      // ∂L/∂x in [N][n1][n2] (or [n1][N][n2])
        if order == .aFirst { swapAxes(x, d0: N, d1: s.n1, d2: s.n2, into: t1.ptr) }
        for k in 0..<rank {
            let ak = a + k * s.m1 * s.n1, bk = b + k * s.m2 * s.n2
            let dak = dA + k * s.m1 * s.n1, dbk = dB + k * s.m2 * s.n2
            switch order {
            case .bFirst:
                rightMultiplyBt(x, rows: N * s.n1, k: s.n2, b: bk, n: s.m2, into: t1.ptr, accumulate: false, packed: packed?.b[k])
                swapAxes(t1.ptr, d0: N, d1: s.n1, d2: s.m2, into: t2.ptr)                 // Zp [n1][N·m2]
                // dA_k += dYp · Zpᵀ
                sgemm(transA: false, transB: true, m: s.m1, n: s.n1, k: N * s.m2, a: dyp.ptr, lda: N * s.m2, b: t2.ptr, ldb: N * s.m2,
                      beta: 1, c: dak, ldc: s.n1)
                // dZp = A_kᵀ · dYp: [n1, N·m2]; back to [N][n1][m2]
                sgemm(transA: true, transB: false, m: s.n1, n: N * s.m2, k: s.m1, a: ak, lda: s.n1, b: dyp.ptr, ldb: N * s.m2,
                      c: t2.ptr, ldc: N * s.m2)
                swapAxes(t2.ptr, d0: s.n1, d1: N, d2: s.m2, into: t1.ptr)                 // dZ [N·n1, m2]
                // dB_k += dZᵀ · X: [m2, N·n1] × [N·n1, n2]
                sgemm(transA: true, transB: false, m: s.m2, n: s.n2, k: N * s.n1, a: t1.ptr, lda: s.m2, b: x, ldb: s.n2,
                      beta: 1, c: dbk, ldc: s.n2)
                // dX += dZ · B_k: [N·n1, m2] × [m2, n2]
                if dx != nil {
                    multiplyByFactor(t1.ptr, rows: N * s.n1, k: s.m2, factor: bk, n: s.n2, packedT: packedT?.b[k], into: dxAcc.ptr, accumulate: true)
                }
            case .aFirst:
                // W = A_k · Xp  [m1][N·n2]
                sgemm(transA: false, transB: false, m: s.m1, n: N * s.n2, k: s.n1, a: ak, lda: s.n1, b: t1.ptr, ldb: N * s.n2,
                      c: t2.ptr, ldc: N * s.n2)
                // dB_k += dYpᵀ · W: [m2, m1·N] × [m1·N, n2]
                sgemm(transA: true, transB: false, m: s.m2, n: s.n2, k: s.m1 * N, a: dyp.ptr, lda: s.m2, b: t2.ptr, ldb: s.n2,
                      beta: 1, c: dbk, ldc: s.n2)
                // dW = dYp · B_k: [m1·N, m2] × [m2, n2]
                multiplyByFactor(dyp.ptr, rows: s.m1 * N, k: s.m2, factor: bk, n: s.n2, packedT: packedT?.b[k], into: t2.ptr, accumulate: false)
                // dA_k += dW · Xpᵀ: [m1, N·n2] × [N·n2, n1]
                sgemm(transA: false, transB: true, m: s.m1, n: s.n1, k: N * s.n2, a: t2.ptr, lda: N * s.n2, b: t1.ptr, ldb: N * s.n2,
                      beta: 1, c: dak, ldc: s.n1)
                // dXp += A_kᵀ · dW: [n1, N·n2]
                if dx != nil {
                    sgemm(transA: true, transB: false, m: s.n1, n: N * s.n2, k: s.m1, a: ak, lda: s.n1, b: t2.ptr, ldb: N * s.n2,
                          beta: 1, c: dxAcc.ptr, ldc: N * s.n2)
                }
            }
        }
        guard let dx else { return }
        if order == .aFirst {
            swapAxes(dxAcc.ptr, d0: s.n1, d1: N, d2: s.n2, into: t1.ptr)
            store(t1.ptr, into: dx, count: N * s.cols, accumulate: accumulate)
        } else {
            store(dxAcc.ptr, into: dx, count: N * s.cols, accumulate: accumulate)
        }
    }
}

extension KroneckerLinear {
    /// A small B (m2·n2 ≤ 64, `.bFirst`): every move of data stays inside a token. Per term,
    /// Z'_t = B·X_tᵀ ([m2, n1], one token-local pass), then W = Z'·Aᵀ as one contiguous
    /// [N·m2, n1]×[n1, m1] GEMM (W_t = (X_t Bᵀ)ᵀ Aᵀ = Y_tᵀ), and Y_t = W_tᵀ (a token-local transpose).
    /// Replaces the cross-token axis swaps, which ran at a few GB/s on the kb8 attention shapes.
    func forwardSmallB(_ x: UnsafePointer<Float>, rows N: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                       bias: UnsafePointer<Float>?, out y: UnsafeMutablePointer<Float>, ldOut: Int,
                       z: UnsafeMutablePointer<Float>, w: UnsafeMutablePointer<Float>, packed: PackedFactors? = nil,
                       epilogue: ((Range<Int>) -> Void)?) {
        let s = shape
        forEachTokenBlock(N) { t0, nt in
            for k in 0..<rank {
                let ak = a + k * s.m1 * s.n1, bk = b + k * s.m2 * s.n2
                kb_bmix_tr(x, s.n1, s.n2, bk, s.m2, t0, nt, z)
                if let pa = packed?.a[k] {
                    pa.multiply(z + t0 * s.m2 * s.n1, rows: nt * s.m2, out: w + t0 * s.m2 * s.m1, accumulate: k > 0)
                } else {
                    sgemm(transA: false, transB: true, m: nt * s.m2, n: s.m1, k: s.n1, a: z + t0 * s.m2 * s.n1, lda: s.n1,
                          b: ak, ldb: s.n1, beta: k == 0 ? 0 : 1, c: w + t0 * s.m2 * s.m1, ldc: s.m1, parallel: false)
                }
            }
            kb_tr_tokens(w, s.m2, s.m1, t0, nt, y, ldOut, bias)
            epilogue?(t0..<(t0 + nt))
        }
    }

    /// `usesColumnB`: per token block, W = X·A_kᵀ ([nt, n1]×[n1, m1], A packed where it is), then
    /// y_t (+)= W_t ⊗ b_k, the bias with the last term.
    func forwardColumnB(_ x: UnsafePointer<Float>, rows N: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                        bias: UnsafePointer<Float>?, out y: UnsafeMutablePointer<Float>, ldOut: Int,
                        w: UnsafeMutablePointer<Float>, packed: PackedFactors? = nil, epilogue: ((Range<Int>) -> Void)?) {
        let s = shape
        forEachTokenBlock(N) { t0, nt in
            for k in 0..<rank {
                let ak = a + k * s.m1 * s.n1, bk = b + k * s.m2
                if let pa = packed?.a[k] {
                    pa.multiply(x + t0 * s.cols, rows: nt, out: w + t0 * s.m1, accumulate: false)
                } else {
                    sgemm(transA: false, transB: true, m: nt, n: s.m1, k: s.n1, a: x + t0 * s.cols, lda: s.n1,
                          b: ak, ldb: s.n1, beta: 0, c: w + t0 * s.m1, ldc: s.m1, parallel: false)
                }
                kb_outer_rows(w, s.m1, bk, s.m2, t0, nt, y, ldOut, k == rank - 1 ? bias : nil, k > 0 ? 1 : 0)
            }
            epilogue?(t0..<(t0 + nt))
        }
    }

    /// Backward of `forwardColumnB`, every product a GEMM on all N tokens, no axis moved: with G
    /// = ∂L/∂Y viewed as [N·m1, m2] and W_k = X·A_kᵀ recomputed, ∂W_k = G·b_k, ∂b_k += W_kᵀ·G
    /// (both over N·m1 rows), ∂A_k += ∂W_kᵀ·X and ∂X (+)= ∂W_k·A_k.
    func backwardColumnB(_ x: UnsafePointer<Float>, dy: UnsafePointer<Float>, rows N: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                         dA: UnsafeMutablePointer<Float>, dB: UnsafeMutablePointer<Float>, dx: UnsafeMutablePointer<Float>?, accumulate: Bool,
                         packed: PackedFactors? = nil, packedT: PackedFactors? = nil) {
        let s = shape
        let w = FloatBuffer(count: N * s.m1, zeroed: false), dw = FloatBuffer(count: N * s.m1, zeroed: false)
        let dxAcc = FloatBuffer(count: dx == nil ? 0 : N * s.cols)
        for k in 0..<rank {
            let ak = a + k * s.m1 * s.n1, bk = b + k * s.m2
            let dak = dA + k * s.m1 * s.n1, dbk = dB + k * s.m2
            if let pa = packed?.a[k] { pa.multiply(x, rows: N, out: w.ptr, accumulate: false) }
            else { sgemm(transA: false, transB: true, m: N, n: s.m1, k: s.n1, a: x, lda: s.n1, b: ak, ldb: s.n1, c: w.ptr, ldc: s.m1) }
            // ∂W_k = G·b_k: [N·m1, m2] × [m2, 1]
            sgemm(transA: false, transB: false, m: N * s.m1, n: 1, k: s.m2, a: dy, lda: s.m2, b: bk, ldb: 1, c: dw.ptr, ldc: 1)
            // ∂b_k += W_kᵀ·G: [1, N·m1] × [N·m1, m2]
            sgemm(transA: false, transB: false, m: 1, n: s.m2, k: N * s.m1, a: w.ptr, lda: N * s.m1, b: dy, ldb: s.m2,
                  beta: 1, c: dbk, ldc: s.m2)
            // ∂A_k += ∂W_kᵀ·X: [m1, N] × [N, n1]
            sgemm(transA: true, transB: false, m: s.m1, n: s.n1, k: N, a: dw.ptr, lda: s.m1, b: x, ldb: s.n1, beta: 1, c: dak, ldc: s.n1)
            if dx != nil {
                multiplyByFactor(dw.ptr, rows: N, k: s.m1, factor: ak, n: s.n1, packedT: packedT?.a[k], into: dxAcc.ptr, accumulate: k > 0)
            }
        }
        if let dx { store(dxAcc.ptr, into: dx, count: N * s.cols, accumulate: accumulate) }
    }

    /// Backward of `forwardSmallB`: with G'_t = (∂L/∂Y_t)ᵀ ([m2, m1], token-local),
    /// ∂A += G'ᵀ Z' and ∂Z' = G' A (GEMMs over N·m2 rows), then ∂B and ∂X from ∂Z' token by token.
    func backwardSmallB(_ x: UnsafePointer<Float>, dy: UnsafePointer<Float>, rows N: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                        dA: UnsafeMutablePointer<Float>, dB: UnsafeMutablePointer<Float>, dx: UnsafeMutablePointer<Float>?, accumulate: Bool,
                        packedT: PackedFactors? = nil) {
        let s = shape
        let per = max(1, 16384 / max(1, s.cols))
        let g = FloatBuffer(count: N * s.m2 * s.m1, zeroed: false)
        parallelChunks(N, minPerThread: per) { r in kb_tr_tokens(dy, s.m1, s.m2, r.lowerBound, r.count, g.ptr, s.m1 * s.m2, nil) }
        let z = FloatBuffer(count: N * s.m2 * s.n1, zeroed: false), dz = FloatBuffer(count: N * s.m2 * s.n1, zeroed: false)
        let dxAcc = FloatBuffer(count: dx == nil ? 0 : N * s.cols)
        for k in 0..<rank {
            let ak = a + k * s.m1 * s.n1, bk = b + k * s.m2 * s.n2
            let dak = dA + k * s.m1 * s.n1, dbk = dB + k * s.m2 * s.n2
            parallelChunks(N, minPerThread: per) { r in kb_bmix_tr(x, s.n1, s.n2, bk, s.m2, r.lowerBound, r.count, z.ptr) }
            // ∂A_k += G'ᵀ · Z': [m1, N·m2] × [N·m2, n1]
            sgemm(transA: true, transB: false, m: s.m1, n: s.n1, k: N * s.m2, a: g.ptr, lda: s.m1, b: z.ptr, ldb: s.n1,
                  beta: 1, c: dak, ldc: s.n1)
            // ∂Z' = G' · A_k: [N·m2, m1] × [m1, n1]
            multiplyByFactor(g.ptr, rows: N * s.m2, k: s.m1, factor: ak, n: s.n1, packedT: packedT?.a[k], into: dz.ptr, accumulate: false)
            parallelSum(N, minPerThread: per, width: s.m2 * s.n2, into: dbk) { r, part in
                kb_bmix_tr_back_b(dz.ptr, x, s.n1, s.n2, s.m2, r.lowerBound, r.count, part)
            }
            if dx != nil {
                parallelChunks(N, minPerThread: per) { r in kb_bmix_tr_back_x(dz.ptr, s.n1, s.n2, bk, s.m2, r.lowerBound, r.count, dxAcc.ptr) }
            }
        }
        if let dx { store(dxAcc.ptr, into: dx, count: N * s.cols, accumulate: accumulate) }
    }

    /// Backward of `forwardSmallA` (no axis moves): with G_t = ∂L/∂Y_t,
    /// `.bFirst` (Z_t = X_t Bᵀ, Y_t = A Z_t): ∂Z_t = Aᵀ G_t, ∂A += Σ_t G_t Z_tᵀ, ∂B += ∂Zᵀ X, ∂X = ∂Z B;
    /// `.aFirst` (W_t = A X_t, Y = W Bᵀ): ∂B += Gᵀ W, ∂W = G B, ∂A += Σ_t ∂W_t X_tᵀ, ∂X_t = Aᵀ ∂W_t.
    func backwardSmallA(_ x: UnsafePointer<Float>, dy: UnsafePointer<Float>, rows N: Int, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                        dA: UnsafeMutablePointer<Float>, dB: UnsafeMutablePointer<Float>, dx: UnsafeMutablePointer<Float>?, accumulate: Bool,
                        packed: PackedFactors? = nil, packedT: PackedFactors? = nil) {
        let s = shape
        let per = max(1, 16384 / max(1, s.cols))
        let z = FloatBuffer(count: N * max(s.n1 * s.m2, s.m1 * s.n2), zeroed: false)
        let dz = FloatBuffer(count: N * max(s.n1 * s.m2, s.m1 * s.n2), zeroed: false)
        let dxAcc = FloatBuffer(count: dx == nil ? 0 : N * s.cols)
        for k in 0..<rank {
            let ak = a + k * s.m1 * s.n1, bk = b + k * s.m2 * s.n2
            let dak = dA + k * s.m1 * s.n1, dbk = dB + k * s.m2 * s.n2
            var at = [Float](repeating: 0, count: s.m1 * s.n1)   // Aᵀ (n1 × m1)
            for i in 0..<s.m1 { for j in 0..<s.n1 { at[j * s.m1 + i] = ak[i * s.n1 + j] } }
            switch order {
            case .bFirst:
                rightMultiplyBt(x, rows: N * s.n1, k: s.n2, b: bk, n: s.m2, into: z.ptr, accumulate: false, packed: packed?.b[k])   // Z [N][n1][m2]
                at.withUnsafeBufferPointer { atp in
                    parallelChunks(N, minPerThread: per) { r in                                               // ∂Z [N][n1][m2]
                        kb_small_left(atp.baseAddress!, s.n1, s.m1, dy, s.m2, r.lowerBound, r.count, dz.ptr, 0)
                    }
                }
                parallelSum(N, minPerThread: per, width: s.m1 * s.n1, into: dak) { r, part in
                    kb_small_outer(dy, s.m1, z.ptr, s.n1, s.m2, r.lowerBound, r.count, part)
                }
                sgemm(transA: true, transB: false, m: s.m2, n: s.n2, k: N * s.n1, a: dz.ptr, lda: s.m2, b: x, ldb: s.n2,
                      beta: 1, c: dbk, ldc: s.n2)
                if dx != nil {
                    multiplyByFactor(dz.ptr, rows: N * s.n1, k: s.m2, factor: bk, n: s.n2, packedT: packedT?.b[k], into: dxAcc.ptr, accumulate: true)
                }
            case .aFirst:
                parallelChunks(N, minPerThread: per) { r in                                                     // W [N][m1][n2]
                    kb_small_left(ak, s.m1, s.n1, x, s.n2, r.lowerBound, r.count, z.ptr, 0)
                }
                sgemm(transA: true, transB: false, m: s.m2, n: s.n2, k: N * s.m1, a: dy, lda: s.m2, b: z.ptr, ldb: s.n2,
                      beta: 1, c: dbk, ldc: s.n2)
                multiplyByFactor(dy, rows: N * s.m1, k: s.m2, factor: bk, n: s.n2, packedT: packedT?.b[k], into: dz.ptr, accumulate: false)   // ∂W [N][m1][n2]
                parallelSum(N, minPerThread: per, width: s.m1 * s.n1, into: dak) { r, part in
                    kb_small_outer(dz.ptr, s.m1, x, s.n1, s.n2, r.lowerBound, r.count, part)
                }
                if dx != nil {
                    at.withUnsafeBufferPointer { atp in
                        parallelChunks(N, minPerThread: per) { r in
                            kb_small_left(atp.baseAddress!, s.n1, s.m1, dz.ptr, s.n2, r.lowerBound, r.count, dxAcc.ptr, 1)
                        }
                    }
                }
            }
        }
        if let dx { store(dxAcc.ptr, into: dx, count: N * s.cols, accumulate: accumulate) }
    }
}

/// dst (+)= src: how a layer hands back its input gradient (`accumulate` when dst already holds one).
@inline(__always)
func store(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, count: Int, accumulate: Bool) {
    if accumulate { Kernels.add(dst, src, count: count) } else { dst.update(from: src, count: count) }
}

/// dst[j][i][:] = src[i][j][:] for src of shape [d0][d1][d2] (swap the two outer axes).
public func swapAxes(_ src: UnsafePointer<Float>, d0: Int, d1: Int, d2: Int, into dst: UnsafeMutablePointer<Float>) {
    parallelChunks(d1, minPerThread: max(1, 65536 / max(1, d0 * d2))) { r in
        // Columns j in r of src, i.e. rows j of dst: a [d0][r][d2] window of src.
        kb_swap01_window(src, d0, d1, d2, r.lowerBound, r.count, dst)
    }
}

/// rows × outF = x[rows, k] · B[outF, k]ᵀ: small B products run as plain loops (BLAS has too much
/// overhead for k, n of a few elements), large ones through `sgemm`.
@inline(__always)
func rightMultiplyBt(_ x: UnsafePointer<Float>, rows: Int, k: Int, b: UnsafePointer<Float>, n: Int,
                     into y: UnsafeMutablePointer<Float>, accumulate: Bool, packed: PackedWeight? = nil) {
    if let packed, packed.n == n, packed.k == k {
        packed.multiply(x, rows: rows, out: y, accumulate: accumulate)
    } else if k * n <= 64 {
        parallelChunks(rows, minPerThread: 8192) { r in
            kb_small_right(x + r.lowerBound * k, r.count, k, b, n, y + r.lowerBound * n, accumulate ? 1 : 0)
        }
    } else {
        sgemm(transA: false, transB: true, m: rows, n: n, k: k, a: x, lda: k, b: b, ldb: k, beta: accumulate ? 1 : 0, c: y, ldc: n)
    }
}

/// y [rows, n] (= or +=) x [rows, k] · F for a factor F [k, n]: through F's packed transpose
/// where there is one (`PackedWeight(transposing:)`), else `sgemm`.
func multiplyByFactor(_ x: UnsafePointer<Float>, rows: Int, k: Int, factor f: UnsafePointer<Float>, n: Int,
                      packedT: PackedWeight?, into y: UnsafeMutablePointer<Float>, accumulate: Bool) {
    if let packedT, packedT.n == n, packedT.k == k {
        packedT.multiply(x, rows: rows, out: y, accumulate: accumulate)
    } else {
        sgemm(transA: false, transB: false, m: rows, n: n, k: k, a: x, lda: k, b: f, ldb: n, beta: accumulate ? 1 : 0, c: y, ldc: n)
    }
}

/// A layer's factors packed once for `PackedWeight` (fixed weights): term k's A_k [m1, n1] and
/// B_k [m2, n2], each nil where not packed. The forward pass uses a packed factor wherever it
/// multiplies by that factor's transpose (the small-B path's A, the B of the other paths).
public struct PackedFactors: Sendable {
    public var a: [PackedWeight?], b: [PackedWeight?]
    public init(a: [PackedWeight?], b: [PackedWeight?]) { self.a = a; self.b = b }
}

extension KroneckerLinear {
    /// One term of a layer in `forwardShared`: its factors, bias and output (rows `ldOut` apart).
    public struct SharedTerm {
        public var a: UnsafePointer<Float>, b: UnsafePointer<Float>, bias: UnsafePointer<Float>?
        public var out: UnsafeMutablePointer<Float>, ldOut: Int
        /// A packed once (fixed weights), or nil for `sgemm`.
        public var packedA: PackedWeight?
        public init(a: UnsafePointer<Float>, b: UnsafePointer<Float>, bias: UnsafePointer<Float>?, out: UnsafeMutablePointer<Float>, ldOut: Int,
                    packedA: PackedWeight? = nil) {
            self.a = a; self.b = b; self.bias = bias; self.out = out; self.ldOut = ldOut; self.packedA = packedA
        }
    }

    /// Whether `forwardShared` applies: rank 1 on the small-B path with a 2×2 B (kb8's attention),
    /// where the transposition and the way out are single vector passes. A general way out for
    /// wider B (kb21's 2×16) was a strided per-element sum that measured slower than the separate
    /// layers (kb21 at 1×128: 84 ms instead of 34), so it was dropped.
    public var sharesInput: Bool { rank == 1 && usesSmallB && shape.m2 == 2 && shape.n2 == 2 }

    /// Several rank-1 small-B layers of this shape on one input x [N, n1·n2] (Q, K and V), token
    /// block by token block: X_tᵀ ([n2, n1]) is formed once per block; then for each layer one GEMM
    /// W = Xᵀ·Aᵀ ([nt·n2, n1]×[n1, m1], so W_t = (A X_t)ᵀ) and, while W is in cache, the way out
    /// with B and the bias: Y_t[i][j] = Σ_l B[j][l] W_t[l][i] + b_{i·m2+j}, i.e. Y_t = (A X_t) Bᵀ.
    /// The same products as `forward` for each layer, with one transposition of x instead of one
    /// per layer.
    public func forwardShared(_ x: UnsafePointer<Float>, rows N: Int, layers: [SharedTerm]) {
        let s = shape
        precondition(sharesInput && !layers.isEmpty)
        let tb = tokenBlock(N)
        ScratchPool.shared.with([N * s.n2 * s.n1, N * s.n2 * s.m1, s.n2 * s.n2]) { buf in
            let z = buf[0], w = buf[1], eye = buf[2]
            for i in 0..<(s.n2 * s.n2) { eye[i] = i % (s.n2 + 1) == 0 ? 1 : 0 }
            parallelChunks((N + tb - 1) / tb, minPerThread: 1) { blocks in
                for blk in blocks {
                    let t0 = blk * tb, nt = min(tb, N - t0)
                    let zb = z + t0 * s.n2 * s.n1, wb = w + t0 * s.n2 * s.m1
                    kb_bmix_tr(x, s.n1, s.n2, eye, s.n2, t0, nt, z)                                   // X_tᵀ [n2][n1]
                    for l in layers {
                        if let pa = l.packedA {
                            pa.multiply(zb, rows: nt * s.n2, out: wb)
                        } else {
                            sgemm(transA: false, transB: true, m: nt * s.n2, n: s.m1, k: s.n1, a: zb, lda: s.n1,
                                  b: l.a, ldb: s.n1, c: wb, ldc: s.m1, parallel: false)
                        }
                        kb_mix2_tr_tokens(w, s.m1, l.b, t0, nt, l.out, l.ldOut, l.bias)
                    }
                }
            }
        }
    }
}
