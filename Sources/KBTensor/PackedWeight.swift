import CKBKernels

/// A weight W [n, k] (a linear layer's [out, in]) packed for `multiply` (y = x · Wᵀ): weights
/// that stay fixed over many calls (inference, a distillation teacher), or a training step's
/// weights packed once per step. OpenBLAS packs both operands on every call; with the weight
/// packed ahead, the AVX-512 kernel of `kb_gemm.c` is 1.15–1.31× OpenBLAS's single-thread sgemm at
/// 128 rows and 1.07–1.17× at 4096 (BERT and MiniLM shapes, `tools/bench_gemm.py`). `nil` where
/// the machine has no AVX-512 (callers keep `sgemm`).
public final class PackedWeight: @unchecked Sendable {
    public let n: Int, k: Int
    let storage: FloatBuffer

    /// Whether this machine runs the packed kernel (AVX-512).
    public static let isSupported: Bool = kb_gemm_packed_supported() != 0

    /// Packs `weight` ([n, k], row stride `ld`, default k); nil without AVX-512 or for an empty matrix.
    public init?(weight: UnsafePointer<Float>, n: Int, k: Int, ld: Int? = nil) {
        guard Self.isSupported, n > 0, k > 0, n < Int(Int32.max), k < Int(Int32.max) else { return nil }
        self.n = n; self.k = k
        storage = FloatBuffer(count: kb_packed_floats(Int32(n), Int32(k)), zeroed: false)
        kb_pack_weight(weight, Int32(ld ?? k), Int32(n), Int32(k), storage.ptr)
    }

    /// Packs the transpose of `weight` ([rows, cols], row stride `ld`, default cols), so that
    /// `multiply` computes y = x · W (x [m, rows]) : a linear layer's input gradient dy · W.
    public init?(transposing weight: UnsafePointer<Float>, rows: Int, cols: Int, ld: Int? = nil) {
        guard Self.isSupported, rows > 0, cols > 0, rows < Int(Int32.max), cols < Int(Int32.max) else { return nil }
        self.n = cols; self.k = rows
        storage = FloatBuffer(count: kb_packed_floats(Int32(cols), Int32(rows)), zeroed: false)
        kb_pack_weight_t(weight, Int32(ld ?? cols), Int32(cols), Int32(rows), storage.ptr)
    }

    /// Packs new values of the same shape into this storage (W [n, k], or with `transposed` the
    /// transpose of W [k, n]): a training step's weights, without a new allocation.
    public func repack(_ weight: UnsafePointer<Float>, transposed: Bool, ld: Int? = nil) {
        if transposed { kb_pack_weight_t(weight, Int32(ld ?? n), Int32(n), Int32(k), storage.ptr) }
        else { kb_pack_weight(weight, Int32(ld ?? k), Int32(n), Int32(k), storage.ptr) }
    }

    /// Floats held (the packed copy; panels of the kernel's width, the last one zero-padded).
    public var floats: Int { storage.count }

    /// out [rows, n] (row stride `ldOut`, default n) = x [rows, k] (row stride `ldX`) · Wᵀ,
    /// overwriting out (or adding to it with `accumulate`). Split over the threads like `sgemm`: by columns (panels of W) for fewer
    /// than 512 rows, so that each thread streams only its share of W; by row blocks otherwise.
    public func multiply(_ x: UnsafePointer<Float>, rows m: Int, ldX: Int? = nil,
                         out: UnsafeMutablePointer<Float>, ldOut: Int? = nil, accumulate: Bool = false) {
        guard m > 0 else { return }
        let lx = Int32(ldX ?? k), lo = Int32(ldOut ?? n), width = Int(kb_packed_panel_width())
        let panels = (n + width - 1) / width
        let threads = insideParallelChunk ? 1 : Threads.count
        let p = UnsafePointer(storage.ptr), acc: Int32 = accumulate ? 1 : 0
        if threads > 1 && m * n * k >= 1 << 20 {
            if m < 512 && panels >= 2 * threads {
                parallelChunks(panels, minPerThread: 1) { r in
                    kb_gemm_packed(Int32(m), Int32(n), Int32(k), x, lx, p, Int32(r.lowerBound), Int32(r.upperBound), out, lo, acc)
                }
                return
            }
            if m >= 64 * threads {
                parallelBlocks(m, threads: threads, multipleOf: 8) { r0, rows in
                    kb_gemm_packed(Int32(rows), Int32(n), Int32(k), x + r0 * Int(lx), lx, p, 0, Int32(panels),
                                   out + r0 * Int(lo), lo, acc)
                }
                return
            }
        }
        kb_gemm_packed(Int32(m), Int32(n), Int32(k), x, lx, p, 0, Int32(panels), out, lo, acc)
    }
}
