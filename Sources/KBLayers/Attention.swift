import KBTensor

/// Multi-head scaled dot-product self-attention over a packed Q | K | V matrix.
///
/// Shapes: qkv [B·T, 3H] (row b·T + t holds q | k | v of token t), mask [B, T] additive
/// (0 or −FLT_MAX per key), probs [B, NH, Q, T], ctx [B·Q, H]; HD = H / NH.
///   S_bh = Q_bh K_bhᵀ / √HD,  P_bh = softmax(S_bh + mask_b),  ctx_bh = dropout(P_bh) V_bh
/// Q = `queries` (default T) takes only each sequence's first Q query positions (every key and
/// value still counts): Q = 1 gives the [CLS] rows alone, all that a pooled head reads of the
/// last layer. The (b, h) problems are spread over the threads; each GEMM is single-threaded.
public enum Attention {
    /// Scores S (pre-mask) into `probs`; `scores`, when given, receives a copy [B, NH, Q, T]; then
    /// softmax in place and the context. `dropout.out` (when given) receives dropout(P), which then
    /// multiplies V.
    public static func forward(qkv: UnsafePointer<Float>, batch B: Int, seqLen T: Int, hidden H: Int, heads NH: Int,
                               queries: Int? = nil,
                               mask: UnsafePointer<Float>, probs: UnsafeMutablePointer<Float>,
                               scores: UnsafeMutablePointer<Float>? = nil,
                               dropout: (Dropout, mask: UnsafePointer<UInt8>, out: UnsafeMutablePointer<Float>)? = nil,
                               ctx: UnsafeMutablePointer<Float>) {
        // One (sequence, head) at a time from scores to context, so that its T×T block stays in
        // cache between the two products and the softmax instead of streaming B·NH·T·T floats
        // through memory three times.
        forEachHead(batch: B, seqLen: T, hidden: H, heads: NH, queries: queries) { g, bh, b, h, base in
            let (Q, HD, scale, TT) = (g.Q, g.HD, g.scale, g.TT)
            let p = probs + bh * TT
            sgemm(transA: false, transB: true, m: Q, n: T, k: HD, alpha: scale,
                  a: qkv + base + h * HD, lda: 3 * H, b: qkv + base + H + h * HD, ldb: 3 * H,
                  c: p, ldc: T, parallel: false)
            scores?.advanced(by: bh * TT).update(from: p, count: TT)
            Kernels.softmax(p, rows: Q, cols: T, mask: mask + b * T, rowsPerMask: Q)
            var used = UnsafePointer(p)
            if let d = dropout {
                let o = d.out + bh * TT
                o.update(from: p, count: TT)
                d.0.apply(o, mask: d.mask + bh * TT, count: TT)
                used = UnsafePointer(o)
            }
            sgemm(transA: false, transB: false, m: Q, n: HD, k: T, a: used, lda: T,
                  b: qkv + base + 2 * H + h * HD, ldb: 3 * H, c: ctx + b * Q * H + h * HD, ldc: H, parallel: false)
        }
    }

    /// Backward: from ∂L/∂ctx [B·Q, H] (and optionally ∂L/∂S, the pre-mask scores) to ∂L/∂qkv
    /// [B·T, 3H] (overwritten; the rows of queries past Q get zero). `probsUsed` is what
    /// multiplied V (dropout(P) or P); `scratch` holds B·NH·Q·T floats.
    public static func backward(qkv: UnsafePointer<Float>, probs: UnsafePointer<Float>, probsUsed: UnsafePointer<Float>,
                                dropout: (Dropout, mask: UnsafePointer<UInt8>)?, batch B: Int, seqLen T: Int,
                                hidden H: Int, heads NH: Int, queries: Int? = nil, dCtx: UnsafePointer<Float>,
                                dScores: UnsafePointer<Float>? = nil, scratch dP: UnsafeMutablePointer<Float>,
                                dQKV: UnsafeMutablePointer<Float>) {
        // One (sequence, head) at a time, so that its T×T blocks stay in cache through every step.
        forEachHead(batch: B, seqLen: T, hidden: H, heads: NH, queries: queries) { geo, bh, b, h, base in
            let (Q, HD, scale, TT) = (geo.Q, geo.HD, geo.scale, geo.TT)
            let g = dP + bh * TT
            // dP' = dctx_bh · V_bhᵀ   [Q, T];   dV_bh = P'ᵀ · dctx_bh   [T, HD]
            sgemm(transA: false, transB: true, m: Q, n: T, k: HD, a: dCtx + b * Q * H + h * HD, lda: H,
                  b: qkv + base + 2 * H + h * HD, ldb: 3 * H, c: g, ldc: T, parallel: false)
            sgemm(transA: true, transB: false, m: T, n: HD, k: Q, a: probsUsed + bh * TT, lda: T,
                  b: dCtx + b * Q * H + h * HD, ldb: H, c: dQKV + base + 2 * H + h * HD, ldc: 3 * H, parallel: false)
            if let d = dropout { d.0.apply(g, mask: d.mask + bh * TT, count: TT) }
            SoftmaxGrad.backward(probs + bh * TT, grad: g, rows: Q, cols: T)
            if let dScores { Kernels.add(g, dScores + bh * TT, count: TT) }
            // dQ_bh = dS · K_bh / √HD  [Q, HD] (queries past Q: 0);   dK_bh = dSᵀ · Q_bh / √HD  [T, HD]
            sgemm(transA: false, transB: false, m: Q, n: HD, k: T, alpha: scale, a: g, lda: T,
                  b: qkv + base + H + h * HD, ldb: 3 * H, c: dQKV + base + h * HD, ldc: 3 * H, parallel: false)
            for t in Q..<T { (dQKV + base + t * 3 * H + h * HD).update(repeating: 0, count: HD) }
            sgemm(transA: true, transB: false, m: T, n: HD, k: Q, alpha: scale, a: g, lda: T,
                  b: qkv + base + h * HD, ldb: 3 * H, c: dQKV + base + H + h * HD, ldc: 3 * H, parallel: false)
        }
    }

    /// The per-(sequence, head) geometry: Q query rows, head size HD, score scale 1/√HD, TT = Q·T.
    struct Geometry { var Q: Int, HD: Int, scale: Float, TT: Int }

    /// Runs `body(geometry, bh, b, h, base)` for every (sequence b, head h), bh = b·NH + h, spread
    /// over the threads (each call single-threaded); `base` is sequence b's first qkv element.
    private static func forEachHead(batch B: Int, seqLen T: Int, hidden H: Int, heads NH: Int, queries: Int?,
                                    _ body: (Geometry, Int, Int, Int, Int) -> Void) {
        let Q = queries ?? T
        precondition(Q >= 1 && Q <= T, "queries must be in 1...seqLen")
        let HD = H / NH, geo = Geometry(Q: Q, HD: HD, scale: 1 / Float(HD).squareRoot(), TT: Q * T)
        parallelChunks(B * NH, minPerThread: 1) { r in
            for bh in r { body(geo, bh, bh / NH, bh % NH, (bh / NH) * T * 3 * H) }
        }
    }
}
