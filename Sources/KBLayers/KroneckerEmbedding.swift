import CKBKernels
import KBTensor

/// A Kronecker-factored spec: shapes and number of terms.
public struct KroneckerSpec: Sendable, Equatable, Codable, Hashable {
    public var shape: KroneckerShape
    public var rank: Int
    public init(shape: KroneckerShape, rank: Int) { self.shape = shape; self.rank = rank }
    public var parameters: Int { shape.parameters(rank: rank) }
}

/// Embedding rows of E = Σ_k A_k ⊗ B_k with A_k (V × d/n) a lookup table and B_k (1 × n):
/// row i is Σ_k A_k[i] ⊗ B_k, O(d) per token. Layout: A [r, V, d/n], B [r, n].
public struct KroneckerEmbedding: Sendable, Equatable {
    public let vocab: Int, dim: Int, n: Int, rank: Int
    public init(spec: KroneckerSpec) {
        vocab = spec.shape.m1; dim = spec.shape.n1 * spec.shape.n2; n = spec.shape.n2; rank = spec.rank
    }

    /// The rank-K SVD form (A_k V × 1, B_k 1 × d, several terms) runs as products: the gathered
    /// coefficients G [T, K] times B [K, d] (and their transposes backward) instead of K scaled
    /// rows per token.
    var gathers: Bool { dim == n && rank > 1 }

    /// G[t, k] = A_k[ids[t]] (the rank-K form, A [K, V]).
    func gather(_ ids: UnsafeBufferPointer<Int32>, _ a: UnsafePointer<Float>) -> [Float] {
        var g = [Float](repeating: 0, count: ids.count * rank)
        for (t, id) in ids.enumerated() { for k in 0..<rank { g[t * rank + k] = a[k * vocab + Int(id)] } }
        return g
    }

    /// out[t, j1·n + j2] = Σ_k A_k[ids[t], j1] · B_k[j2].
    public func forward(ids: UnsafeBufferPointer<Int32>, a: UnsafePointer<Float>, b: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>) {
        if gathers {
            let g = gather(ids, a)
            sgemm(transA: false, transB: false, m: ids.count, n: dim, k: rank, a: g, lda: rank, b: b, ldb: dim, c: out, ldc: dim)
            return
        }
        let w = dim / n
        for (t, id) in ids.enumerated() {
            let o = out + t * dim
            o.update(repeating: 0, count: dim)
            for k in 0..<rank {
                let row = a + (k * vocab + Int(id)) * w, bk = b + k * n
                for j1 in 0..<w { let av = row[j1]; for j2 in 0..<n { o[j1 * n + j2] += av * bk[j2] } }
            }
        }
    }

    /// dA_k[ids[t], j1] += Σ_j2 dy[t, j1·n + j2] B_k[j2];  dB_k[j2] += Σ_t Σ_j1 dy[t, j1·n + j2] A_k[ids[t], j1].
    public func backward(ids: UnsafeBufferPointer<Int32>, dy: UnsafePointer<Float>, a: UnsafePointer<Float>, b: UnsafePointer<Float>,
                         dA: UnsafeMutablePointer<Float>, dB: UnsafeMutablePointer<Float>) {
        if gathers {
            let T = ids.count, g = gather(ids, a)
            var dg = [Float](repeating: 0, count: T * rank)
            sgemm(transA: false, transB: true, m: T, n: rank, k: dim, a: dy, lda: dim, b: b, ldb: dim, c: &dg, ldc: rank)
            for (t, id) in ids.enumerated() { for k in 0..<rank { dA[k * vocab + Int(id)] += dg[t * rank + k] } }
            sgemm(transA: true, transB: false, m: rank, n: dim, k: T, a: g, lda: rank, b: dy, ldb: dim, beta: 1, c: dB, ldc: dim)
            return
        }
        let w = dim / n
        for (t, id) in ids.enumerated() {
            let g = dy + t * dim
            for k in 0..<rank {
                let row = a + (k * vocab + Int(id)) * w, drow = dA + (k * vocab + Int(id)) * w, bk = b + k * n, dbk = dB + k * n
                for j1 in 0..<w {
                    var s: Float = 0
                    let av = row[j1]
                    for j2 in 0..<n { s += g[j1 * n + j2] * bk[j2]; dbk[j2] += g[j1 * n + j2] * av }
                    drow[j1] += s
                }
            }
        }
    }
}
