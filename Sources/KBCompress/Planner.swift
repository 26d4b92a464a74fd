import Foundation
import KBBert
import KBLayers

/// Chooses factor shapes for a target compression factor of the whole model (embeddings, pooler
/// and head included).
///
/// Candidates (with min(m1·n1, m2·n2) ≤ 256, which bounds the SVD cost): A shapes whose B has power-of-two sides (attention: B m2×n2 with m2, n2 | H; FFN W1:
/// B m2×n2 with m2 | I, n2 | H; embedding n | H). Each candidate's initialization error is measured
/// (nearest Kronecker product) on the first and last layers' matrices. Among the combinations that
/// reach the target (up to 1.5× it), the one whose most compressed component (word embedding,
/// attention or FFN) is least compressed wins; then the lowest parameter-weighted mean error; then FLOPs.
///
/// The lowest-error shapes are often low-rank ones (B with one column: A ⊗ b has rank ≤ m1; see
/// `KroneckerShape.rankBound`, shown by `kbert compress`). Ranking by the reachable rank before
/// the error was tried (session 16) and not kept: on MiniLM at the demo's budget it planned
/// attention A 3×3 and FFN A 192×192 at ratio 8, which kept 90.8% of SST-2 against 92.8% for this
/// rule's plan (attention rank ≤ 48, FFN rank ≤ 96), with a higher stage-1 loss (15.8 vs 13.0).
///
/// The search runs over the paper's family (word embedding A^E (V × H/n) ⊗ B^E (1 × n)); by
/// default the chosen embedding is then replaced by its rank-K SVD with K = H/n
/// (`CompressionPlan.embeddingRank`: K·H more parameters, a better fit) whenever the plan still
/// meets the target. At ratio 8 on MiniLM that form kept 92.7% of STS-B against 72.2% and 97.7%
/// of MRPC's F1 against 94.6% after the same distillation (session 18).
public enum Planner {
    /// How the planned word embedding is factored.
    public enum EmbeddingForm: Sendable { case svd, paper }

    public struct Result { public var plan: CompressionPlan; public var ratio: Double; public var error: Double }

    /// `positionRank`: the position embedding is factored as its rank-K SVD (`CompressionPlan.
    /// positionEmbeddingRank`), and the parameters it frees count toward the target; `poolerRank`
    /// the same for the pooler (`CompressionPlan.poolerRank`).
    public static func plan(teacher: BertModel, targetRatio: Double, rank: Int = 1, embeddingForm: EmbeddingForm = .svd,
                            positionRank: Int? = nil, poolerRank: Int? = nil) throws(CompressionError) -> Result {
        guard targetRatio > 1 else { throw .plan("--ratio must be above 1") }
        let c = teacher.config, H = c.hiddenSize, I = c.intermediateSize, L = c.numHiddenLayers
        let total = Double(teacher.parameterCount)
        let pow2 = { (n: Int) in (0..<20).map { 1 << $0 }.filter { n % $0 == 0 } }
        let sampleLayers = Array(Set([0, L - 1])).sorted()
        func err(_ names: [String], _ shape: KroneckerShape) throws(CompressionError) -> Double {
            var e = 0.0
            for n in names {
                let w = teacher.params.values(teacher.params.ref(n + ".weight")!)
                let d = try NearestKronecker.decompose(w, shape: shape, rank: min(rank, shape.maxRank))
                let norm = w.map { Double($0) * Double($0) }.reduce(0, +).squareRoot()
                e += norm > 0 ? Double(d.residual) / norm : 0
            }
            return e / Double(max(names.count, 1))
        }
        // (params of the component across the model, FLOPs, error, A shape)
        typealias Cand = (params: Int, flops: Double, error: Double, a: (Int, Int))
        var att: [Cand] = [], ffn: [Cand] = [], emb: [(params: Int, error: Double, n: Int)] = []
        let attNames = sampleLayers.flatMap { l in ["query", "key", "value"].map { "encoder.layer.\(l).attention.self.\($0)" } + ["encoder.layer.\(l).attention.output.dense"] }
        for m2 in pow2(H) { for n2 in pow2(H) where m2 * n2 > 1 && m2 * n2 < H * H {
            let s = KroneckerShape(m1: H / m2, n1: H / n2, m2: m2, n2: n2)
            guard rank <= s.maxRank, s.maxRank <= 256 else { continue }   // bounded SVD cost
            let e = try err(attNames, s)
            att.append((4 * L * s.parameters(rank: rank), 4 * Double(L) * KroneckerLinear(shape: s, rank: rank).flops(tokens: 128), e, (s.m1, s.n1)))
        } }
        let ffnNames = sampleLayers.map { "encoder.layer.\($0).intermediate.dense" }
        for m2 in pow2(I) { for n2 in pow2(H) where m2 * n2 > 1 && m2 * n2 < I * H {
            let s = KroneckerShape(m1: I / m2, n1: H / n2, m2: m2, n2: n2)
            guard rank <= s.maxRank, s.maxRank <= 256 else { continue }
            let e = try err(ffnNames, s)
            let s2 = KroneckerShape(m1: s.n1, n1: s.m1, m2: s.n2, n2: s.m2)
            let fl = Double(L) * (KroneckerLinear(shape: s, rank: rank).flops(tokens: 128) + KroneckerLinear(shape: s2, rank: rank).flops(tokens: 128))
            ffn.append((2 * L * s.parameters(rank: rank), fl, e, (s.m1, s.n1)))
        } }
        if let wref = teacher.params.ref("embeddings.word_embeddings.weight") {
            let w = teacher.params.values(wref)
            let norm = w.map { Double($0) * Double($0) }.reduce(0, +).squareRoot()
            for n in pow2(H) where n > 1 && n < H {
                let s = KroneckerShape(m1: c.vocabSize, n1: H / n, m2: 1, n2: n)
                let d = try NearestKronecker.decompose(w, shape: s, rank: 1)
                emb.append((s.parameters(rank: 1), Double(d.residual) / norm, n))
            }
        }
        let attDense = 4 * L * H * H, ffnDense = 2 * L * H * I, embDense = c.vocabSize * H
        var rest = teacher.parameterCount - attDense - ffnDense - embDense
        if positionRank != nil, let spec = try CompressionPlan(positionEmbeddingRank: positionRank).specs(for: c)["embeddings.position_embeddings"] {
            rest += spec.parameters - c.maxPositionEmbeddings * H   // (the specs check K)
        }
        if poolerRank != nil {
            guard teacher.pooler != nil else { throw .plan("the model has no pooler to factor") }
            if let spec = try CompressionPlan(poolerRank: poolerRank).specs(for: c)["pooler.dense"] { rest += spec.parameters - H * H }
        }
        var best: (spread: Double, score: Double, flops: Double, plan: CompressionPlan, params: Int, ratio: Double)? = nil
        for a in att { for f in ffn { for e in emb {
            let params = rest + a.params + f.params + e.params
            let ratio = total / Double(params)
            guard ratio >= targetRatio, ratio <= targetRatio * 1.5 else { continue }
            // First: the most compressed component as lightly compressed as possible (no component
            // crushed to pay for another: on MiniLM the error-only rule gave the word embedding
            // n = 64 at ratio 8, a student that kept 72% of SST-2 after distillation).
            let spread = (log2([Double(attDense) / Double(a.params), Double(ffnDense) / Double(f.params),
                                Double(embDense) / Double(e.params)].max()!) * 100).rounded() / 100
            // Then: mean relative error, weighted by the dense size each component replaces; then FLOPs.
            let score = (a.error * Double(attDense) + f.error * Double(ffnDense) + e.error * Double(embDense)) / Double(attDense + ffnDense + embDense)
            let flops = a.flops + f.flops
            let better: Bool
            if let b = best {
                if spread != b.spread { better = spread < b.spread }
                else if abs(score - b.score) > 1e-9 { better = score < b.score }
                else { better = flops < b.flops }
            } else { better = true }
            if better { best = (spread, score, flops, CompressionPlan(attention: a.a, ffn: f.a, embedding: e.n, positionEmbeddingRank: positionRank, poolerRank: poolerRank, rank: rank), params, ratio) }
        } } }
        guard let b = best else {
            throw .plan("no plan reaches a compression factor of \(targetRatio) (within 1.5x of it) for this model")
        }
        // The SVD form of the chosen embedding: rank K = H/n costs V·K + K·H against V·K + n.
        if embeddingForm == .svd, let n = b.plan.embedding, let paper = emb.first(where: { $0.n == n }),
           let wref = teacher.params.ref("embeddings.word_embeddings.weight"),
           let spec = try CompressionPlan(embeddingRank: H / n).specs(for: c)["embeddings.word_embeddings"] {
            let k = H / n
            let ratio = total / Double(b.params - paper.params + spec.parameters)
            if ratio >= targetRatio {
                let w = teacher.params.values(wref)
                let norm = w.map { Double($0) * Double($0) }.reduce(0, +).squareRoot()
                let d = try NearestKronecker.decompose(w, shape: KroneckerShape(m1: c.vocabSize, n1: 1, m2: 1, n2: H), rank: k)
                let score = b.score + (Double(d.residual) / norm - paper.error) * Double(embDense) / Double(attDense + ffnDense + embDense)
                var plan = b.plan
                plan.embedding = nil; plan.embeddingRank = k
                return Result(plan: plan, ratio: ratio, error: score)
            }
        }
        return Result(plan: b.plan, ratio: b.ratio, error: b.score)
    }
}

// MARK: - The measured recipes, and the word embedding filling a budget

extension Planner {
    /// The student's parameter count for `plan` on `teacher`: every factored matrix's dense size
    /// replaced by its factors' (biases, LayerNorms, heads unchanged).
    public static func parameterCount(_ plan: CompressionPlan, teacher: BertModel) throws(CompressionError) -> Int {
        var n = teacher.parameterCount
        for (_, s) in try plan.specs(for: teacher.config) { n += s.parameters - s.shape.rows * s.shape.cols }
        return n
    }

    /// `plan` with the word embedding as its rank-K SVD at the largest K whose student still
    /// reaches `targetRatio` (the encoder, position embedding and pooler as planned; K ≤ H, and
    /// K·(V + H) below the dense V·H).
    /// Throws when even K = 1 misses the target. The same student is then one rank short of
    /// missing it: the embedding takes whatever the rest of the plan leaves.
    public static func fillEmbedding(_ plan: CompressionPlan, teacher: BertModel, targetRatio: Double) throws(CompressionError) -> (plan: CompressionPlan, ratio: Double) {
        guard targetRatio > 1 else { throw .plan("--ratio must be above 1") }
        guard plan.embedding == nil else { throw .plan("the plan fixes the word embedding (n = \(plan.embedding!)); filling the budget needs it open") }
        let c = teacher.config, total = Double(teacher.parameterCount)
        var p = plan
        p.embeddingRank = nil
        let rest = try parameterCount(p, teacher: teacher) - c.vocabSize * c.hiddenSize
        let budget = Int((total / targetRatio).rounded(.down))
        let perRank = c.vocabSize + c.hiddenSize
        // At most the rank below the dense matrix's size (K·(V + H) < V·H): a fill above it would
        // store more than the dense embedding.
        let cap = max(1, min(c.hiddenSize, (c.vocabSize * c.hiddenSize - 1) / perRank))
        let k = min((budget - rest) / perRank, cap)
        guard budget - rest >= perRank, k >= 1 else {
            throw .plan(String(format: "ratio %g allows %d parameters, but the plan without the word embedding already has %d (the embedding at rank 1 adds %d): lighten the encoder", targetRatio, budget, rest, perRank))
        }
        p.embeddingRank = k
        return (p, total / Double(try parameterCount(p, teacher: teacher)))
    }

    /// The recipes measured best on MiniLM (README, sessions 19–22), stated by factor sides so they
    /// apply to any width, with the word embedding filling the budget (`fillEmbedding`) up to the
    /// preset's ratio or `targetRatio`:
    /// - tuned8 (r8q): attention A (H/2)×(H/2), i.e. B 2×2 (rank ≤ H); FFN W1 A 8×4, i.e. B (I/8)×(H/4)
    ///   (rank ≤ H); position embedding at rank 16; pooler at rank 8.
    /// - tuned21 (r21q1): the same with attention B 2×4 (rank ≤ H/2).
    /// On MiniLM they are the students of the README's ratio-8 and ratio-21 rows: tuned21 is
    /// r21q1 exactly (word embedding rank 11, 1,056,446 parameters, 21.50×); tuned8 is r8q's shapes
    /// with rank 54 (r8q: 56, 7.86×). Those runs also fitted the embedding `--frequency-weighted`.
    /// A model whose encoder is a larger share of it than MiniLM's (BERT-base: 78% against 47%)
    /// would have no budget left for the word embedding, so while the filled rank is below H/48
    /// the attention's B grows (2×2 → 2×4 → 4×4 → 4×8 → 8×8, each step halving the attention's
    /// parameters): BERT-base gets B 2×2 at ratio 8 and B 4×4 at ratio 21. Unmeasured beyond MiniLM.
    public static let tunedPresets = ["tuned8": 8.0, "tuned21": 21.0]

    /// A preset's plan for `teacher`: the paper's (kb8, kb21: `CompressionPlan.preset`) or a tuned
    /// one at its own ratio.
    public static func preset(_ name: String, teacher: BertModel) throws(CompressionError) -> CompressionPlan {
        if tunedPresets[name.lowercased()] != nil { return try tuned(name, teacher: teacher).plan }
        return try CompressionPlan.preset(name, config: teacher.config)
    }

    /// A tuned preset's plan. `positionRank` / `poolerRank` replace the preset's 16 / 8 (nil: the
    /// preset's), `positionEmbedding` factors the position embedding in the paper's form instead.
    public static func tuned(_ name: String, teacher: BertModel, targetRatio: Double? = nil, rank: Int = 1,
                             positionRank: Int? = nil, positionEmbedding: Int? = nil, poolerRank: Int? = nil) throws(CompressionError) -> (plan: CompressionPlan, ratio: Double) {
        guard let own = tunedPresets[name.lowercased()] else {
            throw .plan("unknown preset '\(name)' (\(tunedPresets.keys.sorted().joined(separator: ", ")))")
        }
        let c = teacher.config, H = c.hiddenSize, I = c.intermediateSize
        guard H % 8 == 0, I % 8 == 0 else { throw .plan("preset \(name) needs the hidden and intermediate sizes divisible by 8 (\(H), \(I))") }
        var b = name.lowercased() == "tuned8" ? (2, 2) : (2, 4)
        var last: CompressionError? = nil
        while b.0 * b.1 <= 64 && H % b.0 == 0 && H % b.1 == 0 {
            var plan = CompressionPlan(attention: (H / b.0, H / b.1), ffn: (8, 4), rank: rank)
            plan.positionEmbeddingRank = positionEmbedding != nil ? nil : (positionRank ?? min(16, H, c.maxPositionEmbeddings))
            plan.positionEmbedding = positionEmbedding
            plan.poolerRank = poolerRank ?? (teacher.pooler != nil ? min(8, H) : nil)
            do {
                let f = try fillEmbedding(plan, teacher: teacher, targetRatio: targetRatio ?? own)
                if f.plan.embeddingRank! >= max(1, H / 48) { return f }
                last = .plan("preset \(name): the word embedding would get rank \(f.plan.embeddingRank!) only")
            } catch { last = error }
            b = b.0 == b.1 ? (b.0, b.1 * 2) : (b.0 * 2, b.1)
        }
        throw last ?? .plan("preset \(name): no attention shape fits")
    }
}
