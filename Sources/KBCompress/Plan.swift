import Foundation
import KBBert
import KBLayers

/// Which matrices become Kronecker products, with what factor shapes and rank.
///
/// Shapes follow the paper's convention: one A shape for Q, K, V and O; one for the first FFN
/// matrix (the second uses it swapped); the word embedding E (V × H) = A^E (V × H/n) ⊗ B^E (1 × n).
/// Position / token-type embeddings, LayerNorms, biases, pooler and heads stay dense (options
/// factor the position embedding the same way as the word embedding, and the pooler as its
/// rank-K SVD).
public struct CompressionPlan: Sendable, Equatable {
    public var attention: (m1: Int, n1: Int)?
    public var ffn: (m1: Int, n1: Int)?
    public var embedding: Int?              // n: B^E is 1 × n
    /// Instead of `embedding`: E = Σ_{k<K} A_k (V × 1) ⊗ B_k (1 × H), i.e. the rank-K truncated SVD
    /// of E. The same parameters as n = H/K in the paper's form (plus K·H), but any K-dimensional
    /// subspace instead of the fixed one {a ⊗ B^E}: MiniLM's nearest-factor error 0.79 against
    /// 0.93 at K = 48 / n = 8, 0.93 against 0.98 at K = 12 / n = 32.
    public var embeddingRank: Int?
    public var positionEmbedding: Int?      // n for the position embedding, when factored
    /// Instead of `positionEmbedding`: the position embedding as its rank-K SVD (as `embeddingRank`).
    public var positionEmbeddingRank: Int?
    /// The pooler's dense matrix (H × H) as its rank-K SVD: Σ_{k<K} A_k (H × 1) ⊗ B_k (1 × H),
    /// 2·K·H parameters instead of H². The fine-tuned MiniLM teachers keep their dev scores with
    /// the pooler at rank 4–8 (MRPC F1 87.09 vs 86.99, STS-B 85.00 vs 84.99, RTE 58.84 vs 58.48 at
    /// rank 8; session 21): the classifier reads few of its directions.
    public var poolerRank: Int?
    public var rank: Int = 1

    public init(attention: (Int, Int)? = nil, ffn: (Int, Int)? = nil, embedding: Int? = nil, embeddingRank: Int? = nil, positionEmbedding: Int? = nil, positionEmbeddingRank: Int? = nil, poolerRank: Int? = nil, rank: Int = 1) {
        self.embeddingRank = embeddingRank
        self.poolerRank = poolerRank
        self.attention = attention.map { (m1: $0.0, n1: $0.1) }
        self.ffn = ffn.map { (m1: $0.0, n1: $0.1) }
        self.embedding = embedding
        self.positionEmbedding = positionEmbedding
        self.positionEmbeddingRank = positionEmbeddingRank
        self.rank = rank
    }

    public static func == (a: CompressionPlan, b: CompressionPlan) -> Bool {
        a.attention?.m1 == b.attention?.m1 && a.attention?.n1 == b.attention?.n1 && a.ffn?.m1 == b.ffn?.m1
            && a.ffn?.n1 == b.ffn?.n1 && a.embedding == b.embedding && a.embeddingRank == b.embeddingRank && a.positionEmbedding == b.positionEmbedding && a.positionEmbeddingRank == b.positionEmbeddingRank && a.poolerRank == b.poolerRank && a.rank == b.rank
    }

    /// The paper's presets, stated by their B shapes so that they apply to any width
    /// (on BERT-base they are Table 1's shapes):
    /// - kb8: attention B 2×2; FFN W1 B (H/2)×(H/2); embedding n = 8.
    /// - kb21: attention B 2×16; FFN W1 B (H/4)×(H/2); embedding n = 16.
    public static func preset(_ name: String, config c: BertConfig) throws(CompressionError) -> CompressionPlan {
        let H = c.hiddenSize, I = c.intermediateSize
        switch name.lowercased() {
        case "kb8":
            return CompressionPlan(attention: (H / 2, H / 2), ffn: (I / (H / 2), 2), embedding: 8)
        case "kb21":
            return CompressionPlan(attention: (H / 2, H / 16), ffn: (I / (H / 4), 2), embedding: 16)
        default:
            throw .badPlan("unknown preset '\(name)' (kb8, kb21)")
        }
    }

    /// Per-matrix specs for a model of config `c`. Throws when a shape does not divide its matrix
    /// or the rank is outside 1...maximum.
    public func specs(for c: BertConfig) throws(CompressionError) -> [String: KroneckerSpec] {
        let H = c.hiddenSize, I = c.intermediateSize
        var out: [String: KroneckerSpec] = [:]
        func add(_ name: String, rows: Int, cols: Int, m1: Int, n1: Int, rank: Int = rank) throws(CompressionError) {
            guard let s = KroneckerShape(rows: rows, cols: cols, m1: m1, n1: n1) else {
                throw .shapesDoNotDivide(matrix: name, rows: rows, cols: cols, m1: m1, n1: n1)
            }
            guard rank >= 1, rank <= s.maxRank else { throw .rankTooHigh(matrix: name, rank: rank, max: s.maxRank) }
            out[name] = KroneckerSpec(shape: s, rank: rank)
        }
        for l in 0..<c.numHiddenLayers {
            let pre = "encoder.layer.\(l)."
            if let a = attention {
                for m in ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"] {
                    try add(pre + m, rows: H, cols: H, m1: a.m1, n1: a.n1)
                }
            }
            if let f = ffn {
                try add(pre + "intermediate.dense", rows: I, cols: H, m1: f.m1, n1: f.n1)
                try add(pre + "output.dense", rows: H, cols: I, m1: f.n1, n1: f.m1)
            }
        }
        if let n = embedding {
            guard n >= 1, H % n == 0 else { throw .badPlan("embedding n = \(n) does not divide the hidden size \(H)") }
            try add("embeddings.word_embeddings", rows: c.vocabSize, cols: H, m1: c.vocabSize, n1: H / n)
        }
        if let k = embeddingRank {
            guard embedding == nil else { throw .badPlan("give the embedding as n (B^E 1×n) or as a rank, not both") }
            try add("embeddings.word_embeddings", rows: c.vocabSize, cols: H, m1: c.vocabSize, n1: 1, rank: k)
        }
        if let n = positionEmbedding {
            guard n >= 1, H % n == 0 else { throw .badPlan("position n = \(n) does not divide the hidden size \(H)") }
            try add("embeddings.position_embeddings", rows: c.maxPositionEmbeddings, cols: H, m1: c.maxPositionEmbeddings, n1: H / n)
        }
        if let k = positionEmbeddingRank {
            guard positionEmbedding == nil else { throw .badPlan("give the position embedding as n (B 1×n) or as a rank, not both") }
            try add("embeddings.position_embeddings", rows: c.maxPositionEmbeddings, cols: H, m1: c.maxPositionEmbeddings, n1: 1, rank: k)
        }
        if let k = poolerRank {
            try add("pooler.dense", rows: H, cols: H, m1: H, n1: 1, rank: k)
        }
        return out
    }

    public var summary: String {
        var parts: [String] = []
        if let a = attention { parts.append("attention A \(a.m1)x\(a.n1)") }
        if let f = ffn { parts.append("ffn A \(f.m1)x\(f.n1)") }
        if let n = embedding { parts.append("embedding n=\(n)") }
        if let k = embeddingRank { parts.append("embedding rank \(k)") }
        if let n = positionEmbedding { parts.append("position n=\(n)") }
        if let k = positionEmbeddingRank { parts.append("position rank \(k)") }
        if let k = poolerRank { parts.append("pooler rank \(k)") }
        parts.append("rank \(rank)")
        return parts.joined(separator: ", ")
    }
}

extension CompressionError {
    public static func badPlan(_ m: String) -> CompressionError { .plan(m) }
}
