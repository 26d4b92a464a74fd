import Foundation
import KBLayers
import KBTensor

// Dimension legend: B batch, T tokens, H hidden, NH heads, HD head dim (H / NH), I intermediate,
// V vocab, P max positions, C labels, L layers. Matrices are row-major; weights are PyTorch's
// [out, in] layout, so a linear layer is y = x · Wᵀ + b.

/// A linear layer's parameters: a dense weight [out, in], or Kronecker factors A [r, m1, n1] and
/// B [r, m2, n2] with W = Σ_k A_k ⊗ B_k; and a bias [out].
public struct LinearRef: Sendable, Equatable {
    public let weight: ParamRef?
    public let kron: KronRef?
    public let bias: ParamRef
    public let inFeatures: Int, outFeatures: Int

    public init(weight: ParamRef, bias: ParamRef) {
        self.weight = weight; self.kron = nil; self.bias = bias
        inFeatures = weight.shape[1]; outFeatures = weight.shape[0]
    }
    public init(kron: KronRef, bias: ParamRef) {
        self.weight = nil; self.kron = kron; self.bias = bias
        inFeatures = kron.layer.shape.cols; outFeatures = kron.layer.shape.rows
    }
}

/// Kronecker factors of one matrix.
public struct KronRef: Sendable, Equatable {
    public let a: ParamRef          // [r, m1, n1]
    public let b: ParamRef          // [r, m2, n2]
    public let layer: KroneckerLinear
}

/// LayerNorm parameters: gamma and beta, both [H].
public struct LayerNormRef: Sendable, Equatable {
    public let weight: ParamRef
    public let bias: ParamRef
}

/// One encoder layer (HF `BertLayer`).
public struct BertLayerRefs: Sendable, Equatable {
    public let query: LinearRef, key: LinearRef, value: LinearRef   // attention.self.*
    public let attentionOutput: LinearRef                            // attention.output.dense
    public let attentionNorm: LayerNormRef                           // attention.output.LayerNorm
    public let intermediate: LinearRef                               // intermediate.dense
    public let output: LinearRef                                     // output.dense
    public let outputNorm: LayerNormRef                              // output.LayerNorm
}

/// Task heads on top of the encoder.
public enum BertHead: Sendable, Equatable {
    case none
    /// `classifier` on the pooled output; regression when it has one output.
    case classification(numLabels: Int)
    /// `qa_outputs`: start and end logits for every token.
    case questionAnswering
}

/// Inputs for one forward pass: B sequences padded to T tokens.
public struct BertInput: Sendable, Equatable {
    public let batch: Int
    public let seqLen: Int
    public var ids: [Int32]        // [B·T]
    public var typeIds: [Int32]    // [B·T]
    public var mask: [Int32]       // [B·T], 1 for real tokens, 0 for padding

    /// Pads variable-length sequences to the longest with `padId` (type 0, mask 0).
    public init(ids: [[Int32]], typeIds: [[Int32]]? = nil, padId: Int32 = 0, padTo: Int? = nil) {
        batch = ids.count
        seqLen = max(padTo ?? 0, ids.map(\.count).max() ?? 0)
        self.ids = []; self.typeIds = []; self.mask = []
        let total = batch * seqLen
        self.ids.reserveCapacity(total); self.typeIds.reserveCapacity(total); self.mask.reserveCapacity(total)
        for (b, seq) in ids.enumerated() {
            let types = typeIds?[b] ?? [Int32](repeating: 0, count: seq.count)
            for t in 0..<seqLen {
                let real = t < seq.count
                self.ids.append(real ? seq[t] : padId)
                self.typeIds.append(real && t < types.count ? types[t] : 0)
                self.mask.append(real ? 1 : 0)
            }
        }
    }
}

/// What a forward pass returns. Per-layer tensors are present only when asked for.
public struct BertOutput: Sendable {
    /// [B, T, H]
    public var lastHiddenState: Tensor
    /// [B, H], when the model has a pooler.
    public var pooled: Tensor?
    /// [B, C] for classification, [B, T, 2] (start, end) for question answering.
    public var logits: Tensor?
    /// L + 1 tensors [B, T, H]: the embedding output, then each layer's output.
    public var hiddenStates: [Tensor]?
    /// L tensors [B, NH, T, T]: Q·Kᵀ/√HD before the mask and softmax.
    public var attentionScores: [Tensor]?

    public init(lastHiddenState: Tensor, pooled: Tensor? = nil, logits: Tensor? = nil, hiddenStates: [Tensor]? = nil, attentionScores: [Tensor]? = nil) {
        self.lastHiddenState = lastHiddenState
        self.pooled = pooled
        self.logits = logits
        self.hiddenStates = hiddenStates
        self.attentionScores = attentionScores
    }
}

/// A BERT encoder with optional pooler and head; parameters in one `ParameterStore`.
public struct BertModel: Sendable {
    public let config: BertConfig
    /// Every parameter. Any change makes the packed copies of `packForInference` stale (unused).
    public var params: ParameterStore
    /// Encoder weights packed for the fixed-weight GEMM, by the weight's offset in `params` (Q, K
    /// and V as one [3H, H] matrix when dense; each Kronecker term's A and B, when not tiny);
    /// empty until `packForInference`, and again once `params` has changed since (its `version`).
    /// (A version check rather than a `didSet` on `params`: property observers made every
    /// in-place optimizer update copy the whole parameter array.)
    public var packed: [Int: PackedWeight] { packedVersion == params.version ? packedStore : [:] }
    private var packedStore: [Int: PackedWeight] = [:]
    private var packedVersion = -1
    /// The last training step's packs, returned by its cache and repacked in place by the next
    /// step (one set of packed copies in memory instead of one per step in flight).
    let trainingPackPool = TrainingPackPool()
    public let wordEmbeddings: ParamRef?       // [V, H] (dense)
    public let wordKron: (embedding: KroneckerEmbedding, a: ParamRef, b: ParamRef)?  // A [r, V, H/n], B [r, n]
    public let positionEmbeddings: ParamRef?   // [P, H] (dense)
    public let positionKron: (embedding: KroneckerEmbedding, a: ParamRef, b: ParamRef)?  // A [r, P, H/n], B [r, n]
    public let tokenTypeEmbeddings: ParamRef   // [types, H]
    public let embeddingNorm: LayerNormRef
    public let layers: [BertLayerRefs]
    public let pooler: LinearRef?              // [H, H]
    public let head: BertHead
    public let classifier: LinearRef?          // [C, H]
    public let qaOutputs: LinearRef?           // [2, H]

    /// Kronecker-factored matrices by parameter prefix (e.g. "encoder.layer.0.attention.self.query").
    public let kronecker: [String: KroneckerSpec]

    /// Allocates a zero-initialized model. Keys are HF's, without the `bert.` prefix. Matrices
    /// named in `kronecker` get factors `<name>.kron_a` [r, m1, n1] and `<name>.kron_b` [r, m2, n2]
    /// instead of `<name>.weight`.
    public init(config: BertConfig, pooler hasPooler: Bool = true, head: BertHead = .none, kronecker: [String: KroneckerSpec] = [:]) {
        self.config = config
        self.head = head
        self.kronecker = kronecker
        let H = config.hiddenSize, I = config.intermediateSize
        var p = ParameterStore()
        func linear(_ name: String, _ out: Int, _ inp: Int) -> LinearRef {
            if let spec = kronecker[name] {
                let s = spec.shape
                let kr = KronRef(a: p.allocate(name + ".kron_a", [spec.rank, s.m1, s.n1]), b: p.allocate(name + ".kron_b", [spec.rank, s.m2, s.n2]),
                                 layer: KroneckerLinear(shape: s, rank: spec.rank))
                return LinearRef(kron: kr, bias: p.allocate(name + ".bias", [out]))
            }
            return LinearRef(weight: p.allocate(name + ".weight", [out, inp]), bias: p.allocate(name + ".bias", [out]))
        }
        func norm(_ name: String) -> LayerNormRef {
            LayerNormRef(weight: p.allocate(name + ".weight", [H]), bias: p.allocate(name + ".bias", [H]))
        }
        /// A dense table [rows, H], or its factors A [r, rows, H/n] and B [r, n] when planned.
        func table(_ name: String, rows: Int) -> (ParamRef?, (embedding: KroneckerEmbedding, a: ParamRef, b: ParamRef)?) {
            guard let spec = kronecker[name] else { return (p.allocate(name + ".weight", [rows, H]), nil) }
            let s = spec.shape
            return (nil, (KroneckerEmbedding(spec: spec), p.allocate(name + ".kron_a", [spec.rank, s.m1, s.n1]),
                          p.allocate(name + ".kron_b", [spec.rank, s.m2 * s.n2])))
        }
        (wordEmbeddings, wordKron) = table("embeddings.word_embeddings", rows: config.vocabSize)
        (positionEmbeddings, positionKron) = table("embeddings.position_embeddings", rows: config.maxPositionEmbeddings)
        tokenTypeEmbeddings = p.allocate("embeddings.token_type_embeddings.weight", [config.typeVocabSize, H])
        embeddingNorm = norm("embeddings.LayerNorm")
        var ls: [BertLayerRefs] = []
        for l in 0..<config.numHiddenLayers {
            let pre = "encoder.layer.\(l)."
            let qkvNames = ["query", "key", "value"].map { pre + "attention.self." + $0 }
            let q: LinearRef, k: LinearRef, v: LinearRef
            if qkvNames.allSatisfy({ kronecker[$0] == nil }) {
                // Q, K, V weights then their biases, adjacent: the forward pass runs them as one GEMM.
                let qw = p.allocate(qkvNames[0] + ".weight", [H, H])
                let kw = p.allocate(qkvNames[1] + ".weight", [H, H])
                let vw = p.allocate(qkvNames[2] + ".weight", [H, H])
                let qb = p.allocate(qkvNames[0] + ".bias", [H])
                let kb = p.allocate(qkvNames[1] + ".bias", [H])
                let vb = p.allocate(qkvNames[2] + ".bias", [H])
                q = LinearRef(weight: qw, bias: qb); k = LinearRef(weight: kw, bias: kb); v = LinearRef(weight: vw, bias: vb)
            } else {
                q = linear(qkvNames[0], H, H); k = linear(qkvNames[1], H, H); v = linear(qkvNames[2], H, H)
            }
            ls.append(BertLayerRefs(
                query: q, key: k, value: v,
                attentionOutput: linear(pre + "attention.output.dense", H, H),
                attentionNorm: norm(pre + "attention.output.LayerNorm"),
                intermediate: linear(pre + "intermediate.dense", I, H),
                output: linear(pre + "output.dense", H, I),
                outputNorm: norm(pre + "output.LayerNorm")))
        }
        layers = ls
        pooler = hasPooler ? linear("pooler.dense", H, H) : nil
        switch head {
        case .none: classifier = nil; qaOutputs = nil
        case let .classification(c): classifier = linear("classifier", c, H); qaOutputs = nil
        case .questionAnswering: classifier = nil; qaOutputs = linear("qa_outputs", 2, H)
        }
        p.materialize()
        params = p
    }

    /// Packs the encoder's matrices (dense weights and Kronecker factors) once for `PackedWeight`
    /// (a no-op without AVX-512): faster forward passes for weights that stay fixed (inference, a
    /// distillation teacher), at the cost of a second copy of those weights. Any later change to `params` drops the packed copies.
    /// `strassen`: matrices whose shape fits are packed for one level of Strassen's algorithm
    /// (`PackedWeight`): 2–4% faster forward passes at 32×128 in session 13's runs, none or slower
    /// at 1×128, 1.75× the packed floats, about 5× the classical product's rounding error; off by default.
    public mutating func packForInference(strassen: Bool = false) {
        guard PackedWeight.isSupported else { return }
        var out: [Int: PackedWeight] = [:]
        params.data.withUnsafeBufferPointer { pbuf in
            let P = pbuf.baseAddress!
            for m in packableMatrices { out[m.offset] = PackedWeight(weight: P + m.offset, n: m.rows, k: m.cols, strassen: strassen) }
        }
        packedStore = out
        packedVersion = params.version
    }

    /// Every encoder matrix the packed GEMM serves, as (offset in `params`, rows, cols) of M
    /// [rows, cols] (the forward products multiply by Mᵀ): each dense weight, Q | K | V as the one
    /// [3H, H] matrix of `qkvForward` where they are fused, and each Kronecker term's A and B above
    /// 64 floats (smaller factors run as plain loops). Used by `packForInference` and the training
    /// step's `packForStep`.
    var packableMatrices: [(offset: Int, rows: Int, cols: Int)] {
        var out: [(offset: Int, rows: Int, cols: Int)] = []
        func add(_ l: LinearRef, rows: Int? = nil) {
            if let k = l.kron {
                let s = k.layer.shape
                for t in 0..<k.layer.rank {
                    if s.m1 * s.n1 > 64 { out.append((k.a.offset + t * s.m1 * s.n1, s.m1, s.n1)) }
                    if s.m2 * s.n2 > 64 { out.append((k.b.offset + t * s.m2 * s.n2, s.m2, s.n2)) }
                }
            } else if let w = l.weight {
                out.append((w.offset, rows ?? l.outFeatures, l.inFeatures))
            }
        }
        for layer in layers {
            if qkvFused(layer) { add(layer.query, rows: 3 * config.hiddenSize) }
            else { add(layer.query); add(layer.key); add(layer.value) }
            add(layer.attentionOutput); add(layer.intermediate); add(layer.output)
        }
        return out
    }

    /// Tokens per batch from which a training pass packs its encoder weights by default.
    public static let packedTrainingRows = 256

    /// Every dense or factored linear of the encoder, by parameter prefix, in model order.
    public var encoderLinears: [(name: String, ref: LinearRef)] {
        layers.enumerated().flatMap { (l, L) -> [(String, LinearRef)] in
            let pre = "encoder.layer.\(l)."
            return [(pre + "attention.self.query", L.query), (pre + "attention.self.key", L.key), (pre + "attention.self.value", L.value),
                    (pre + "attention.output.dense", L.attentionOutput), (pre + "intermediate.dense", L.intermediate),
                    (pre + "output.dense", L.output)]
        }
    }

    /// Parameter count (every float in the store).
    public var parameterCount: Int { params.count }
}

/// Which optional outputs a forward pass should produce.
public struct ForwardOptions: Sendable {
    public var hiddenStates = false
    public var attentionScores = false
    /// Training passes: pack this step's `packableMatrices` (dense weights and Kronecker factors;
    /// M for the forward products, Mᵀ for the products toward the input gradients) and run those
    /// products through `PackedWeight`. nil: when the batch has at least
    /// `BertModel.packedTrainingRows` tokens (packing costs two passes over the weights per step).
    public var packWeights: Bool? = nil
    /// With `packWeights`: pack the matrices whose shape fits for one level of Strassen's
    /// algorithm (`PackedWeight`; off by default: ~1.7% on a one-thread BERT-base step, none at
    /// two threads, for 1.75× the packs' memory).
    public var strassen = false
    /// Compute the last layer for the [CLS] rows alone when the pooled output is all that is read
    /// (a model with a pooler and no QA head, no hidden states or scores asked for): its Q, K and
    /// V projections still run on every token, but the attention scores and context for one
    /// query per sequence, and its attention output and FFN products, on B rows instead of B·T
    /// (9 of the layer's 12 H²-sized products per token: 6.25% of BERT-base's linear FLOPs,
    /// forward and backward; MiniLM 12.5%). `BertOutput.lastHiddenState` is then [B, 1, H].
    /// Ignored when the conditions do not hold.
    public var clsOnly = false
    public init(hiddenStates: Bool = false, attentionScores: Bool = false, packWeights: Bool? = nil, strassen: Bool = false,
                clsOnly: Bool = false) {
        self.hiddenStates = hiddenStates
        self.attentionScores = attentionScores
        self.packWeights = packWeights
        self.strassen = strassen
        self.clsOnly = clsOnly
    }
}

/// x = act(x + bias) over an `rows × cols` matrix; one fused pass for the erf GELU.
func biasActivate(_ x: UnsafeMutablePointer<Float>, rows: Int, cols: Int, bias: UnsafePointer<Float>, _ act: Activation) {
    if act == .gelu { Kernels.biasGelu(x, rows: rows, cols: cols, bias: bias); return }
    Kernels.addBias(x, rows: rows, cols: cols, bias: bias)
    activate(x, count: rows * cols, act)
}

func activate(_ x: UnsafeMutablePointer<Float>, count: Int, _ act: Activation) {
    switch act {
    case .gelu: Kernels.gelu(x, count: count)
    case .geluNew, .geluPytorchTanh, .geluFast: Kernels.geluTanh(x, count: count)
    case .relu: Kernels.relu(x, count: count)
    }
}


/// Packed-weight storage handed from one training step to the next: a step takes all of it and
/// gives it back when its cache is released, so two steps in flight (two copies of a model, or a
/// cache kept alive) never share packs; the second one allocates its own.
final class TrainingPackPool: @unchecked Sendable {
    private let lock = NSLock()
    private var packs: [Int: PackedWeight] = [:], packsT: [Int: PackedWeight] = [:]

    func take() -> ([Int: PackedWeight], [Int: PackedWeight]) {
        lock.lock(); defer { lock.unlock() }
        let r = (packs, packsT)
        packs = [:]; packsT = [:]
        return r
    }

    func giveBack(_ p: [Int: PackedWeight], _ pT: [Int: PackedWeight]) {
        lock.lock(); defer { lock.unlock() }
        packs = p; packsT = pT
    }
}
