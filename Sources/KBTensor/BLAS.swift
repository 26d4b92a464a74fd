import CKBLAS
#if canImport(Glibc)
import Glibc
#endif

// The only file in the project that calls BLAS or LAPACK.

/// Thread control for OpenBLAS and for the project's own kernels.
public enum Threads {
    nonisolated(unsafe) private static var _count: Int = {
        let n: Int
        if let s = getenvString("OPENBLAS_NUM_THREADS"), let v = Int(s), v > 0 { n = v }
        else { n = Int(openblas_get_num_threads()) }
        openblas_set_num_threads(1)  // see `set`: our threads split the work, OpenBLAS runs on one
        return n
    }()

    /// Threads used by GEMM and by the element-wise kernels.
    public static var count: Int { _count }

    /// Sets the thread count for GEMM and the kernels. Values below 1 are clamped to 1.
    ///
    /// OpenBLAS itself always runs single-threaded: `sgemm` splits large products over the
    /// project's own threads instead, so that OpenBLAS's spinning workers never compete with the
    /// element-wise kernels for the same cores.
    public static func set(_ n: Int) {
        let n = max(1, n)
        _count = n
        openblas_set_num_threads(1)
    }

    /// Applies `OPENBLAS_NUM_THREADS` (if set) or an explicit value.
    public static func configure(_ explicit: Int?) {
        if let e = explicit { set(e) } else { set(_count) }
    }
}

func getenvString(_ name: String) -> String? {
    guard let p = getenv(name) else { return nil }
    return String(cString: p)
}

/// Single-precision GEMM: C = alpha * op(A) * op(B) + beta * C, row-major.
///
/// - `op(A)` is M×K, `op(B)` is K×N, C is M×N. `lda`, `ldb`, `ldc` are row strides of the stored
///   (untransposed) matrices.
/// - With `Threads.count > 1` and a large enough product, C is split into row blocks (column
///   blocks when M < 512 and N is wide enough), each computed by single-threaded `cblas_sgemm` on one of our threads.
///   `parallel: false` keeps it on the calling thread (for GEMMs issued from parallel regions).
@inlinable
public func sgemm(
    transA: Bool, transB: Bool, m: Int, n: Int, k: Int,
    alpha: Float = 1, a: UnsafePointer<Float>, lda: Int,
    b: UnsafePointer<Float>, ldb: Int,
    beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int, parallel: Bool = true
) {
    if m == 0 || n == 0 { return }
    let threads = insideParallelChunk ? 1 : Threads.count
    if parallel && threads > 1 && k > 0 && m * n * k >= 1 << 20 {
        // Few rows (a short batch through a big weight): column blocks, so that each thread packs
        // and streams only its share of op(B) instead of all of it (BERT-base 1×128 at two
        // threads: 147–174 ms with row blocks, 135–138 ms with column blocks).
        let columnsFirst = m < 512 && n >= 64 * threads
        if m >= 32 * threads && !columnsFirst {
            // Row blocks, multiples of 16 rows: op(A) rows and C rows move together.
            parallelBlocks(m, threads: threads, multipleOf: 16) { r0, rows in
                let aBlock = transA ? a + r0 : a + r0 * lda
                _sgemm(transA, transB, rows, n, k, alpha, aBlock, lda, b, ldb, beta, c + r0 * ldc, ldc)
            }
            return
        }
        if n >= 64 * threads {
            // Column blocks: op(B) columns and C columns move together.
            parallelBlocks(n, threads: threads, multipleOf: 16) { c0, cols in
                let bBlock = transB ? b + c0 * ldb : b + c0
                _sgemm(transA, transB, m, cols, k, alpha, a, lda, bBlock, ldb, beta, c + c0, ldc)
            }
            return
        }
    }
    if k == 0 {
        // BLAS leaves C scaled by beta; do the same explicitly.
        for i in 0..<m { for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] } }
        return
    }
    _sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

@usableFromInline
func _sgemm(
    _ transA: Bool, _ transB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float,
    _ a: UnsafePointer<Float>, _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int,
    _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int
) {
    cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                blasint(m), blasint(n), blasint(k), alpha, a, blasint(lda), b, blasint(ldb),
                beta, c, blasint(ldc))
}

/// Batched GEMM over `batch` independent problems laid out with fixed strides; the problems are
/// spread over the threads, each one single-threaded.
@inlinable
public func sgemmBatched(
    batch: Int, transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
    a: UnsafePointer<Float>, lda: Int, strideA: Int,
    b: UnsafePointer<Float>, ldb: Int, strideB: Int,
    beta: Float = 0, c: UnsafeMutablePointer<Float>, ldc: Int, strideC: Int
) {
    parallelChunks(batch, minPerThread: 1) { r in for i in r {
        sgemm(transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha,
              a: a + i * strideA, lda: lda, b: b + i * strideB, ldb: ldb,
              beta: beta, c: c + i * strideC, ldc: ldc, parallel: false)
    } }
}

/// Thin SVD of a row-major M×N matrix via LAPACK `sgesdd`: A = U · diag(S) · Vᵀ.
/// Returns U (M×r), S (r), Vᵀ (r×N) with r = min(M, N).
public func svd(_ a: Tensor) throws(TensorError) -> (u: Tensor, s: [Float], vt: Tensor) {
    precondition(a.rank == 2, "svd needs a matrix")
    let m = a.shape[0], n = a.shape[1], r = min(m, n)
    var work = a.data
    var s = [Float](repeating: 0, count: r)
    var u = [Float](repeating: 0, count: m * r)
    var vt = [Float](repeating: 0, count: r * n)
    let info = LAPACKE_sgesdd(LAPACK_ROW_MAJOR, Int8(UInt8(ascii: "S")), Int32(m), Int32(n),
                              &work, Int32(n), &s, &u, Int32(r), &vt, Int32(n))
    guard info == 0 else { throw .lapack(routine: "sgesdd", info: Int(info)) }
    return (try Tensor(shape: [m, r], data: u), s, try Tensor(shape: [r, n], data: vt))
}
