import CKBKernels

/// A weight W [n, k] (a linear layer's [out, in]) packed for `multiply` (y = x · Wᵀ): weights
/// that stay fixed over many calls (inference, a distillation teacher), or a training step's
/// weights packed once per step. OpenBLAS packs both operands on every call; with the weight
/// packed ahead, the AVX-512 kernel of `kb_gemm.c` is 1.15–1.31× OpenBLAS's single-thread sgemm at
/// 128 rows and 1.07–1.17× at 4096 (BERT and MiniLM shapes, `tools/bench_gemm.py`). `nil` where
/// the machine has no AVX-512 (callers keep `sgemm`).
///
/// With `strassen`, a weight whose sides are even and at least `strassenMinSide` is packed for one
/// level of Strassen's algorithm instead (`kb_gemm.c`): seven products of half size in place of
/// eight, the weight-side sums formed once when packing. Measured 1.04–1.10× the classical packed
/// product on BERT-base and MiniLM shapes at 128–4,096 rows in `tools/strassen_harness.c` (one thread, session 13),
/// but only 0.91–1.04× in whole forward passes, for 1.75× the packed floats and about twice the
/// classical product's rounding error (5× on MiniLM's last hidden state); so callers opt in. On a
/// Zen 5 core (two 512-bit FMA pipes, session 29) it is slower: 0.93–1.03× in the harness at 4,096
/// rows and 0.90× in BERT-base passes, where the extra traffic of the sums outweighs the saved FMAs.
public final class PackedWeight: @unchecked Sendable {
    public let n: Int, k: Int
    /// Packed for Strassen's algorithm (see the type's note).
    public let strassen: Bool
    let storage: FloatBuffer

    /// The kernel's panel width (output features per packed panel).
    public static var panelWidth: Int { Int(kb_packed_panel_width()) }

    /// Whether this machine runs the packed kernel (AVX-512).
    public static let isSupported: Bool = kb_gemm_packed_supported() != 0

    /// The smallest side (n and k) packed for Strassen's algorithm when asked: halves of at least
    /// two kernel panels.
    public static let strassenMinSide = 96

    /// Whether a weight [n, k] can be packed for Strassen's algorithm.
    public static func strassenFits(n: Int, k: Int) -> Bool {
        n % 2 == 0 && k % 2 == 0 && n >= strassenMinSide && k >= strassenMinSide
    }

    /// Packs `weight` ([n, k], row stride `ld`, default k); nil without AVX-512 or for an empty
    /// matrix. `strassen`: for Strassen's algorithm where the shape fits (`strassenFits`).
    public init?(weight: UnsafePointer<Float>, n: Int, k: Int, ld: Int? = nil, strassen: Bool = false) {
        guard Self.isSupported, n > 0, k > 0, n < Int(Int32.max), k < Int(Int32.max) else { return nil }
        self.n = n; self.k = k
        self.strassen = strassen && Self.strassenFits(n: n, k: k)
        storage = FloatBuffer(count: Self.floats(n: n, k: k, strassen: self.strassen), zeroed: false)
        repack(weight, transposed: false, ld: ld)
    }

    /// Packs the transpose of `weight` ([rows, cols], row stride `ld`, default cols), so that
    /// `multiply` computes y = x · W (x [m, rows]) : a linear layer's input gradient dy · W.
    public init?(transposing weight: UnsafePointer<Float>, rows: Int, cols: Int, ld: Int? = nil, strassen: Bool = false) {
        guard Self.isSupported, rows > 0, cols > 0, rows < Int(Int32.max), cols < Int(Int32.max) else { return nil }
        self.n = cols; self.k = rows
        self.strassen = strassen && Self.strassenFits(n: cols, k: rows)
        storage = FloatBuffer(count: Self.floats(n: cols, k: rows, strassen: self.strassen), zeroed: false)
        repack(weight, transposed: true, ld: ld)
    }

    private static func floats(n: Int, k: Int, strassen: Bool) -> Int {
        strassen ? kb_strassen_packed_floats(Int32(n), Int32(k)) : kb_packed_floats(Int32(n), Int32(k))
    }

    /// Packs new values of the same shape into this storage (W [n, k], or with `transposed` the
    /// transpose of W [k, n]): a training step's weights, without a new allocation.
    public func repack(_ weight: UnsafePointer<Float>, transposed: Bool, ld: Int? = nil) {
        let l = Int32(ld ?? (transposed ? n : k))
        if strassen { kb_pack_weight_strassen(weight, l, Int32(n), Int32(k), transposed ? 1 : 0, storage.ptr) }
        else if transposed { kb_pack_weight_t(weight, l, Int32(n), Int32(k), storage.ptr) }
        else { kb_pack_weight(weight, l, Int32(n), Int32(k), storage.ptr) }
    }

    /// Floats held (the packed copy; panels of the kernel's width, the last one zero-padded).
    public var floats: Int { storage.count }

    /// Whether `multiply` can take `columns` (output features) of this weight: a classical pack
    /// (not Strassen's) and a range from a panel boundary to one or to n.
    public func takesPart(columns: Range<Int>) -> Bool {
        let w = Self.panelWidth
        return !strassen && columns.lowerBound >= 0 && columns.upperBound <= n && columns.lowerBound % w == 0
            && (columns.upperBound == n || columns.upperBound % w == 0)
    }

    /// out [rows, n] (row stride `ldOut`, default n) = x [rows, k] (row stride `ldX`) · Wᵀ,
    /// overwriting out (or adding to it with `accumulate`). Split over the threads like `sgemm`: by columns (panels of W) for fewer
    /// than 512 rows, so that each thread streams only its share of W; by row blocks otherwise.
    /// `columns` (where `takesPart`) computes those output columns alone (out and x still
    /// addressed from column 0); `depth` sums over those input features alone (x[:, depth] ·
    /// W[:, depth]ᵀ; classical packs only).
    public func multiply(_ x: UnsafePointer<Float>, rows m: Int, ldX: Int? = nil,
                         out: UnsafeMutablePointer<Float>, ldOut: Int? = nil, accumulate: Bool = false,
                         columns: Range<Int>? = nil, depth: Range<Int>? = nil) {
        guard m > 0 else { return }
        if strassen {
            precondition(columns == nil && depth == nil, "a Strassen pack multiplies whole")
            multiplyStrassen(x, rows: m, ldX: ldX ?? k, out: out, ldOut: ldOut ?? n, accumulate: accumulate); return
        }
        let lx = Int32(ldX ?? k), lo = Int32(ldOut ?? n), width = Self.panelWidth
        let cols = columns ?? 0..<n, d = depth ?? 0..<k
        precondition(takesPart(columns: cols) && d.lowerBound >= 0 && d.upperBound <= k, "packed product: columns or depth out of range")
        let first = cols.lowerBound / width, last = (cols.upperBound + width - 1) / width
        let (M, N, K, K0, K1) = (Int32(m), Int32(n), Int32(k), Int32(d.lowerBound), Int32(d.upperBound))
        let threads = insideParallelChunk ? 1 : Threads.count
        let p = UnsafePointer(storage.ptr), acc: Int32 = accumulate ? 1 : 0
        if threads > 1 && m * cols.count * d.count >= 1 << 20 {
            if m < 512 && last - first >= 2 * threads {
                parallelChunks(last - first, minPerThread: 1) { r in
                    kb_gemm_packed_depth(M, N, K, K0, K1, x, lx, p, Int32(first + r.lowerBound), Int32(first + r.upperBound), out, lo, acc)
                }
                return
            }
            if m >= 64 * threads {
                parallelBlocks(m, threads: threads, multipleOf: 8) { r0, rows in
                    kb_gemm_packed_depth(Int32(rows), N, K, K0, K1, x + r0 * Int(lx), lx, p, Int32(first), Int32(last),
                                         out + r0 * Int(lo), lo, acc)
                }
                return
            }
        }
        kb_gemm_packed_depth(M, N, K, K0, K1, x, lx, p, Int32(first), Int32(last), out, lo, acc)
    }

    /// `multiply` for Strassen packs: rows [0, h) and [h, 2h) (h = m/2, from 16 rows) as the two
    /// row halves of Strassen's product, a leftover row (odd m) or a batch under 16 rows from the
    /// same packs at the classical cost. Threads split the halves' rows, or for fewer than 256
    /// rows per half the columns (each thread then streams only its share of the packs).
    private func multiplyStrassen(_ x: UnsafePointer<Float>, rows m: Int, ldX lx: Int,
                                  out: UnsafeMutablePointer<Float>, ldOut lo: Int, accumulate: Bool) {
        let width = Self.panelWidth
        let panels = (n / 2 + width - 1) / width
        let threads = insideParallelChunk ? 1 : Threads.count
        let p = UnsafePointer(storage.ptr), acc: Int32 = accumulate ? 1 : 0
        let (N, K, LX, LO) = (Int32(n), Int32(k), Int32(lx), Int32(lo))
        let h = m >= 16 ? m / 2 : 0
        func halves(_ r0: Int, _ rows: Int, _ p0: Int, _ p1: Int) {
            let s = FloatBuffer(count: kb_strassen_scratch_floats(Int32(rows), K), zeroed: false)
            kb_gemm_strassen(Int32(rows), N, K, x + r0 * lx, x + (h + r0) * lx, LX, s.ptr, p, Int32(p0), Int32(p1),
                             out + r0 * lo, out + (h + r0) * lo, LO, acc)
        }
        if h > 0 {
            let split = threads > 1 && h * n * k >= 1 << 19
            if split && h < 256 && panels >= 2 * threads {
                parallelChunks(panels, minPerThread: 1) { r in halves(0, h, r.lowerBound, r.upperBound) }
            } else if split && h >= 32 * threads {
                parallelBlocks(h, threads: threads, multipleOf: 8) { r0, rows in halves(r0, rows, 0, panels) }
            } else {
                halves(0, h, 0, panels)
            }
        }
        let rest = m - 2 * h
        guard rest > 0 else { return }
        let x0 = x + 2 * h * lx, o0 = out + 2 * h * lo
        let u = FloatBuffer(count: rest * (k / 2), zeroed: false)
        kb_strassen_rowsum(Int32(rest), K, x0, LX, u.ptr)
        let up = UnsafePointer(u.ptr)
        if threads > 1 && rest * n * k >= 1 << 20 && panels >= 2 * threads {
            parallelChunks(panels, minPerThread: 1) { r in
                kb_gemm_strassen_plain(Int32(rest), N, K, x0, LX, up, p, Int32(r.lowerBound), Int32(r.upperBound), o0, LO, acc)
            }
        } else {
            kb_gemm_strassen_plain(Int32(rest), N, K, x0, LX, up, p, 0, Int32(panels), o0, LO, acc)
        }
    }
}
