import KBLayers
import KBTensor

/// Errors in compression plans and decompositions.
public enum CompressionError: Error, Equatable, CustomStringConvertible {
    case shapesDoNotDivide(matrix: String, rows: Int, cols: Int, m1: Int, n1: Int)
    case rankTooHigh(matrix: String, rank: Int, max: Int)
    case svdFailed(String)
    case plan(String)

    public var description: String {
        switch self {
        case let .shapesDoNotDivide(name, r, c, m1, n1):
            return "\(name): A of shape \(m1)x\(n1) does not divide the \(r)x\(c) matrix"
        case let .rankTooHigh(name, r, mx):
            return "\(name): rank \(r) is not in 1...\(mx) (the maximum is min(m1·n1, m2·n2))"
        case let .svdFailed(m): return "SVD failed: \(m)"
        case let .plan(m): return m
        }
    }
}

/// The nearest Kronecker product (Van Loan & Pitsianis 1993), by the rearrangement
/// R(W)[(i1·n1 + j1), (i2·n2 + j2)] = W[i1·m2 + i2, j1·n2 + j2], for which
/// R(A ⊗ B) = vec(A) vec(B)ᵀ and ‖W − Σ A_k ⊗ B_k‖_F = ‖R(W) − Σ vec(A_k) vec(B_k)ᵀ‖_F.
/// A truncated SVD of R(W) (LAPACK `sgesdd`) gives the optimal rank-r sum:
/// A_k = √σ_k · u_k, B_k = √σ_k · v_k. A ⊗ B is never formed.
public enum NearestKronecker {
    /// R(W): (m1·n1) × (m2·n2), row-major.
    public static func rearrange(_ w: UnsafePointer<Float>, _ s: KroneckerShape) -> [Float] {
        var r = [Float](repeating: 0, count: s.rows * s.cols)
        let n = s.cols
        for i1 in 0..<s.m1 { for j1 in 0..<s.n1 {
            let row = (i1 * s.n1 + j1) * (s.m2 * s.n2)
            for i2 in 0..<s.m2 {
                let src = w + (i1 * s.m2 + i2) * n + j1 * s.n2
                for j2 in 0..<s.n2 { r[row + i2 * s.n2 + j2] = src[j2] }
            }
        } }
        return r
    }

    public struct Result: Sendable {
        /// A_k, each m1·n1 floats (row-major m1 × n1), k = 0..<r.
        public var a: [[Float]]
        /// B_k, each m2·n2 floats (row-major m2 × n2).
        public var b: [[Float]]
        /// All singular values of R(W), descending.
        public var singularValues: [Float]
        /// sqrt(Σ_{k ≥ r} σ_k²): the optimal Frobenius error.
        public var residual: Float
    }

    /// Best rank-r sum of Kronecker products for W (`rows × cols`, row-major).
    ///
    /// With `rowWeights` (one positive weight d_i per row of W; only for shapes whose B has one
    /// row, m2 = 1, so that every row of W lies in one row of A, as in the embedding forms) it
    /// minimizes the row-weighted error Σ_i d_i² ‖W_i − (Σ A_k ⊗ B_k)_i‖² instead: row i of W
    /// feeds the rows (i, ·) of R(W) alone, so the optimum is the truncated SVD of D·R(W) with A's
    /// entries divided back by d_i. `residual` stays the plain Frobenius error of the result.
    public static func decompose(_ w: [Float], shape s: KroneckerShape, rank r: Int, name: String = "W",
                                 rowWeights: [Float]? = nil) throws(CompressionError) -> Result {
        precondition(w.count == s.rows * s.cols, "matrix size does not match the shape")
        guard r >= 1, r <= s.maxRank else { throw .rankTooHigh(matrix: name, rank: r, max: s.maxRank) }
        let plain = w.withUnsafeBufferPointer { rearrange($0.baseAddress!, s) }
        var rw = plain
        let p = s.m1 * s.n1, q = s.m2 * s.n2
        if let d = rowWeights {
            guard s.m2 == 1 else { throw .plan("\(name): row weights need a B with one row (B is \(s.m2)x\(s.n2))") }
            guard d.count == s.rows else { throw .plan("\(name): \(d.count) row weights for \(s.rows) rows") }
            guard d.allSatisfy({ $0.isFinite && $0 > 0 }) else { throw .plan("\(name): row weights must be positive and finite") }
            // R(W) row (i1·n1 + j1) holds W row i1 (m2 = 1).
            for i in 0..<p { let di = d[i / s.n1]; for j in 0..<q { rw[i * q + j] *= di } }
        }
        let (u, sv, vt): (Tensor, [Float], Tensor)
        do { (u, sv, vt) = try svd(try Tensor(shape: [p, q], data: rw)) } catch { throw .svdFailed("\(name): \(error)") }
        let k = sv.count
        var a: [[Float]] = [], b: [[Float]] = []
        for t in 0..<r {
            let root = sv[t].squareRoot()
            if let d = rowWeights {
                a.append((0..<p).map { u.data[$0 * k + t] * root / d[$0 / s.n1] })
            } else {
                a.append((0..<p).map { u.data[$0 * k + t] * root })
            }
            b.append((0..<q).map { vt.data[t * q + $0] * root })
        }
        guard rowWeights != nil else {
            var tail = 0.0
            for t in r..<k { tail += Double(sv[t]) * Double(sv[t]) }
            return Result(a: a, b: b, singularValues: sv, residual: Float(tail.squareRoot()))
        }
        // Weighted: the singular values are D·R(W)'s; the plain error comes from the factors.
        let err = residual(rearranged: plain, p: p, q: q, a: a.flatMap { $0 }, b: b.flatMap { $0 }, rank: r)
        return Result(a: a, b: b, singularValues: sv, residual: Float(err))
    }

    /// ‖R(W) − Σ_k vec(A_k) vec(B_k)ᵀ‖_F = ‖W − Σ A_k ⊗ B_k‖_F from R(W) (`rearrange`, p × q) and
    /// the factors (A_k at a[k·p ..< (k+1)·p], B_k at b[k·q ..< (k+1)·q]), without forming A ⊗ B:
    /// ‖W‖² − 2⟨R(W), Σ a_k b_kᵀ⟩ + Σ_{k,l} (a_k·a_l)(b_k·b_l).
    public static func residual(rearranged rw: [Float], p: Int, q: Int, a: [Float], b: [Float], rank r: Int) -> Double {
        var ww = 0.0, cross = 0.0
        for x in rw { ww += Double(x) * Double(x) }
        for k in 0..<r {
            for i in 0..<p {
                let ai = Double(a[k * p + i])
                if ai == 0 { continue }
                var s = 0.0
                for j in 0..<q { s += Double(rw[i * q + j]) * Double(b[k * q + j]) }
                cross += ai * s
            }
        }
        var kk = 0.0
        for k in 0..<r { for l in 0..<r {
            var aa = 0.0, bb = 0.0
            for i in 0..<p { aa += Double(a[k * p + i]) * Double(a[l * p + i]) }
            for j in 0..<q { bb += Double(b[k * q + j]) * Double(b[l * q + j]) }
            kk += aa * bb
        } }
        return max(0, ww - 2 * cross + kk).squareRoot()
    }

    /// Row weights for `decompose` from how often each row is used (token counts for a word
    /// embedding): d_i = √p_i with p_i = (c_i + 1) / Σ(c + 1) (add-one, so unseen rows keep a
    /// small weight), scaled to mean square 1. Σ_i d_i² ‖e_i − ê_i‖² is then the expected squared
    /// error per token occurrence.
    public static func frequencyWeights(counts: [Int]) -> [Float] {
        let p = counts.map { Double(max(0, $0)) + 1 }
        let total = p.reduce(0, +)
        let d = p.map { ($0 / total).squareRoot() }
        let ms = d.reduce(0) { $0 + $1 * $1 } / Double(max(1, d.count))
        return d.map { Float($0 / ms.squareRoot()) }
    }

    /// Σ_k A_k ⊗ B_k as a dense matrix (for tests and error reports only).
    public static func reconstruct(_ a: [[Float]], _ b: [[Float]], shape s: KroneckerShape) -> [Float] {
        var w = [Float](repeating: 0, count: s.rows * s.cols)
        for (ak, bk) in zip(a, b) {
            for i1 in 0..<s.m1 { for j1 in 0..<s.n1 {
                let av = ak[i1 * s.n1 + j1]
                for i2 in 0..<s.m2 { for j2 in 0..<s.n2 {
                    w[(i1 * s.m2 + i2) * s.cols + j1 * s.n2 + j2] += av * bk[i2 * s.n2 + j2]
                } }
            } }
        }
        return w
    }
}
