import ArgumentParser
import Foundation
import KBBert
import KBCompress
import KBData
import KBLayers
import KBTokenizer
import KBTrain

struct Compress: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Compress a BERT folder with Kronecker products (nearest Kronecker product initialization).",
        discussion: """
        Writes a student folder: config.json with a `kronecker` section (every factored matrix's A and
        B shapes and rank), model.safetensors with factors named after the weight they replace
        (`<name>.kron_a`, `<name>.kron_b`, with a term index `.k` when the rank is above 1), and the
        tokenizer files. Every other command loads it.
        """)

    @Option(help: "Dense teacher folder.") var model: String?
    @Option(help: "Instead of --model: a config.json with seeded random weights (for timing on BERT-base).") var config: String?
    @Option(help: "Student folder to write.") var out: String
    @OptionGroup var planOptions: PlanOptions
    @OptionGroup var weighting: EmbeddingWeightOptions
    @Flag(help: "Print JSON.") var json = false
    @OptionGroup var threads: ThreadOptions

    func run() throws {
        try threads.apply()
        let teacher = try loadModel(model: model, config: config)
        let plan = try planOptions.resolve(teacher: teacher)
        let specs = try plan.specs(for: teacher.config)
        let rowWeights = try weighting.rowWeights(model: model, specs: specs)
        let t0 = Date()
        let (student, report) = try Compressor.compress(teacher, specs: specs, rowWeights: rowWeights)
        let secs = Date().timeIntervalSince(t0)
        try student.save(folder: out)
        if let model { try copyTokenizerFiles(from: model, to: out) }
        let cf = Double(teacher.parameterCount) / Double(student.parameterCount)
        if json {
            let layers = report.map { "{\"name\": \"\($0.name)\", \"relative_error\": \($0.relativeError), \"rank_bound\": \($0.spec.shape.rankBound(terms: $0.spec.rank))}" }.joined(separator: ", ")
            print("{\"parameters\": \(student.parameterCount), \"teacher_parameters\": \(teacher.parameterCount), "
                  + "\"compression_factor\": \(cf), \"flops\": \(student.encoderLinearFLOPs()), \"seconds\": \(secs), \"layers\": [\(layers)]}")
            return
        }
        print(layerTable(report.map { ($0.name, $0.spec, $0.relativeError) }))
        print(String(format: "\nplan: %@\nparameters %@ -> %@ (compression %.2fx); encoder linear FLOPs at 128 tokens %.3g -> %.3g; decomposed in %.2f s\nwrote %@",
                     plan.summary, fmtInt(teacher.parameterCount), fmtInt(student.parameterCount), cf,
                     teacher.encoderLinearFLOPs(), student.encoderLinearFLOPs(), secs, out))
    }
}

/// How to choose the factor shapes: a preset, a target ratio (planned), or explicit shapes.
struct PlanOptions: ParsableArguments {
    @Option(help: "Preset: kb8 or kb21 (the paper's shapes on BERT-base), or tuned8 / tuned21 (the best measured recipes on MiniLM: attention B 2x2 / 2x4, FFN A 8x4, position rank 16, pooler rank 8, the word embedding's rank filling ratio 8 / 21 or --ratio).") var preset: String?
    @Option(help: "Target compression factor for the whole model: alone, shapes are planned automatically; with --attention/--ffn or a tuned preset, the word embedding's rank fills what the rest leaves.") var ratio: Double?
    @Option(help: "A's shape for Q, K, V and O, as M1xN1.") var attention: String?
    @Option(help: "A's shape for the first FFN matrix, as M1xN1 (the second uses it swapped).") var ffn: String?
    @Option(help: "Embedding: B^E is 1xN.") var embedding: Int?
    @Option(help: "Word embedding as a sum of K products A_k (V x 1) x B_k (1 x H), i.e. its rank-K SVD (about the parameters of --embedding H/K, a better fit); replaces the plan's embedding shape.") var embeddingRank: Int?
    @Option(help: "Also factor the position embedding the same way: B is 1xN.") var positionEmbedding: Int?
    @Option(help: "Also factor the position embedding as its rank-K SVD (as --embedding-rank; with --ratio the parameters it frees go to the other components).") var positionEmbeddingRank: Int?
    @Option(help: "Also factor the pooler's matrix as its rank-K SVD (2KH parameters instead of H^2; with --ratio the parameters it frees go to the other components).") var poolerRank: Int?
    @Flag(help: "With --ratio: keep the paper's word-embedding form A^E (V x H/n) x B^E (1 x n) instead of the planner's default, the rank-H/n SVD (a better fit for K*H more parameters).") var paperEmbedding = false
    @Option(help: "Terms per matrix (sum of r Kronecker products).") var rank: Int = 1

    func resolve(teacher: BertModel) throws -> CompressionPlan {
        var plan: CompressionPlan
        var fillTarget: Double? = nil    // the word embedding's rank fills the budget up to this ratio
        let encoderShapes = attention != nil || ffn != nil
        if paperEmbedding && (ratio == nil || preset != nil || encoderShapes) {
            throw ValidationError("--paper-embedding applies to a planned compression (--ratio without --preset or shapes)")
        }
        if let preset {
            guard !encoderShapes && embedding == nil else { throw ValidationError("give --preset or explicit shapes (--attention, --ffn, --embedding), not both") }
            if Planner.tunedPresets[preset.lowercased()] != nil {
                guard embeddingRank == nil else { throw ValidationError("--preset \(preset) fills the word embedding's rank itself: drop --embedding-rank (or give --attention/--ffn with --embedding-rank)") }
                guard positionEmbedding == nil || positionEmbeddingRank == nil else { throw ValidationError("give --position-embedding or --position-embedding-rank, not both") }
                let tuned = try Planner.tuned(preset, teacher: teacher, targetRatio: ratio, rank: rank,
                                              positionRank: positionEmbeddingRank, positionEmbedding: positionEmbedding, poolerRank: poolerRank)
                FileHandle.standardError.write(Data("preset \(preset): \(tuned.plan.summary) (compression \(String(format: "%.2f", tuned.ratio))x)\n".utf8))
                return tuned.plan
            } else {
                if ratio != nil { throw ValidationError("--preset \(preset) has fixed shapes; --ratio goes with the tuned presets (\(Planner.tunedPresets.keys.sorted().joined(separator: ", "))) or with --attention/--ffn, the word embedding filling the budget") }
                plan = try CompressionPlan.preset(preset, config: teacher.config)
            }
        } else if let ratio, encoderShapes {
            guard embedding == nil && embeddingRank == nil else {
                throw ValidationError("with --ratio and --attention/--ffn the word embedding's rank fills the budget: drop --embedding/--embedding-rank, or --ratio")
            }
            plan = CompressionPlan(attention: try attention.map(parseShape), ffn: try ffn.map(parseShape))
            fillTarget = ratio
        } else if let ratio {
            let planned = try Planner.plan(teacher: teacher, targetRatio: ratio, rank: rank, embeddingForm: paperEmbedding ? .paper : .svd,
                                           positionRank: positionEmbeddingRank, poolerRank: poolerRank)
            plan = planned.plan
            FileHandle.standardError.write(Data("planned for ratio \(ratio): \(plan.summary) (compression \(String(format: "%.2f", planned.ratio))x)\n".utf8))
        } else if encoderShapes || embedding != nil || embeddingRank != nil || poolerRank != nil {
            plan = CompressionPlan(attention: try attention.map(parseShape), ffn: try ffn.map(parseShape), embedding: embedding)
        } else {
            throw ValidationError("give --preset, --ratio, or explicit shapes (--attention, --ffn, --embedding)")
        }
        plan.rank = rank
        if positionEmbedding != nil || positionEmbeddingRank != nil {
            guard positionEmbedding == nil || positionEmbeddingRank == nil else { throw ValidationError("give --position-embedding or --position-embedding-rank, not both") }
            plan.positionEmbedding = positionEmbedding
            plan.positionEmbeddingRank = positionEmbeddingRank
        }
        if let poolerRank { plan.poolerRank = poolerRank }
        if let embeddingRank {
            guard embedding == nil else { throw ValidationError("give --embedding or --embedding-rank, not both") }
            plan.embedding = nil; plan.embeddingRank = embeddingRank
        }
        if let target = fillTarget {
            let filled = try Planner.fillEmbedding(plan, teacher: teacher, targetRatio: target)
            plan = filled.plan
            FileHandle.standardError.write(Data("word embedding at the rank that fills ratio \(target): \(plan.summary) (compression \(String(format: "%.2f", filled.ratio))x)\n".utf8))
        }
        return plan
    }
}

/// The word embedding fitted for the tokens text actually uses: a row-weighted nearest Kronecker
/// product with weights from token counts on the corpus (`NearestKronecker.frequencyWeights`).
struct EmbeddingWeightOptions: ParsableArguments {
    @Flag(help: "Fit the factored word embedding weighted by token frequency (rows of frequent tokens fitted closer; needs an embedding form whose B has one row: --embedding-rank, the planner's, or --embedding).") var frequencyWeighted = false
    @Option(help: "WikiExtractor folder to count tokens on (default: $KBERT_DATA/corpus/wikipedia_en).") var frequencyCorpus: String?
    @Option(help: "Content tokens to count, from the corpus's end (stage 1 reads from its start).") var frequencyTokens: Int = 4_000_000

    func rowWeights(model: String?, specs: [String: KroneckerSpec]) throws -> [String: [Float]] {
        guard frequencyWeighted else { return [:] }
        let name = "embeddings.word_embeddings"
        guard let spec = specs[name] else { throw ValidationError("--frequency-weighted: the plan does not factor the word embedding") }
        guard spec.shape.m2 == 1 else { throw ValidationError("--frequency-weighted: the word embedding's B is \(spec.shape.m2)x\(spec.shape.n2); it needs one row") }
        guard let model else { throw ValidationError("--frequency-weighted needs --model (its tokenizer counts the corpus)") }
        guard frequencyTokens > 0 else { throw ValidationError("--frequency-tokens must be positive") }
        let tok = try BertTokenizer(folder: model)
        let dir = defaultCorpusDir(frequencyCorpus)
        let t0 = Date()
        let (counts, used) = WikiCorpus.tokenCounts(try WikiCorpus.documents(dir: dir), tokenizer: tok, maxTokens: frequencyTokens)
        guard counts.count == spec.shape.rows else {
            throw ValidationError("\(model)/vocab.txt has \(counts.count) tokens but the word embedding \(spec.shape.rows) rows")
        }
        let seen = counts.filter { $0 > 0 }.count
        FileHandle.standardError.write(Data(String(format: "token frequencies: %@ tokens of %@ counted in %.1f s, %@ of %@ vocabulary entries seen\n",
                                                   fmtInt(used), dir, Date().timeIntervalSince(t0), fmtInt(seen), fmtInt(counts.count)).utf8))
        return [name: NearestKronecker.frequencyWeights(counts: counts)]
    }
}

func parseShape(_ s: String) throws -> (Int, Int) {
    let p = s.lowercased().split(separator: "x")
    guard p.count == 2, let a = Int(p[0]), let b = Int(p[1]), a > 0, b > 0 else {
        throw ValidationError("shape '\(s)' is not M1xN1 (e.g. 384x384)")
    }
    return (a, b)
}

/// Per-layer table: name, A, B, terms, the highest matrix rank the factors can reach (of full
/// rank), parameters, FLOPs at 128 tokens, relative error.
func layerTable(_ rows: [(String, KroneckerSpec, Double?)]) -> String {
    var out = pad("matrix", 44) + pad("A", 12) + pad("B", 12) + pad("terms", 6) + pad("max rank", 10, right: true)
        + pad("params", 12, right: true) + pad("FLOPs@128", 12, right: true) + pad("rel.err", 10, right: true) + "\n"
    out += String(repeating: "-", count: 118) + "\n"
    for (name, spec, err) in rows {
        let s = spec.shape
        let flops = KroneckerLinear(shape: s, rank: spec.rank).flops(tokens: 128)
        out += pad(name, 44) + pad("\(s.m1)x\(s.n1)", 12) + pad("\(s.m2)x\(s.n2)", 12) + pad("\(spec.rank)", 6)
            + pad("\(s.rankBound(terms: spec.rank))/\(min(s.rows, s.cols))", 10, right: true) + pad(fmtInt(spec.parameters), 12, right: true) + pad(String(format: "%.3g", flops), 12, right: true)
            + pad(err.map { String(format: "%.4f", $0) } ?? "-", 10, right: true) + "\n"
    }
    return out
}
