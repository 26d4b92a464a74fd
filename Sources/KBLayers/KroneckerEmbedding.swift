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

    /// out[t, j1·n + j2] = Σ_k A_k[ids[t], j1] · B_k[j2].
    public func forward(ids: UnsafeBufferPointer<Int32>, a: UnsafePointer<Float>, b: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>) {
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
