import KBTensor

// Dimension legend: B batch, T tokens, H hidden, NH heads, HD head dim (H / NH), I intermediate,
// V vocab, P max positions, C labels, L layers. Matrices are row-major; weights are PyTorch's
// [out, in] layout, so a linear layer is y = x · Wᵀ + b.

/// A dense linear layer's parameters: weight [out, in], bias [out].
public struct LinearRef: Sendable, Equatable {
    public let weight: ParamRef
    public let bias: ParamRef
    public var inFeatures: Int { weight.shape[1] }
    public var outFeatures: Int { weight.shape[0] }
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
}

/// A BERT encoder with optional pooler and head; parameters in one `ParameterStore`.
public struct BertModel: Sendable {
    public let config: BertConfig
    public var params: ParameterStore
    public let wordEmbeddings: ParamRef        // [V, H]
    public let positionEmbeddings: ParamRef    // [P, H]
    public let tokenTypeEmbeddings: ParamRef   // [types, H]
    public let embeddingNorm: LayerNormRef
    public let layers: [BertLayerRefs]
    public let pooler: LinearRef?              // [H, H]
    public let head: BertHead
    public let classifier: LinearRef?          // [C, H]
    public let qaOutputs: LinearRef?           // [2, H]

    /// Allocates a zero-initialized model. Keys are HF's, without the `bert.` prefix.
    public init(config: BertConfig, pooler hasPooler: Bool = true, head: BertHead = .none) {
        self.config = config
        self.head = head
        let H = config.hiddenSize, I = config.intermediateSize
        var p = ParameterStore()
        func linear(_ name: String, _ out: Int, _ inp: Int) -> LinearRef {
            LinearRef(weight: p.allocate(name + ".weight", [out, inp]), bias: p.allocate(name + ".bias", [out]))
        }
        func norm(_ name: String) -> LayerNormRef {
            LayerNormRef(weight: p.allocate(name + ".weight", [H]), bias: p.allocate(name + ".bias", [H]))
        }
        wordEmbeddings = p.allocate("embeddings.word_embeddings.weight", [config.vocabSize, H])
        positionEmbeddings = p.allocate("embeddings.position_embeddings.weight", [config.maxPositionEmbeddings, H])
        tokenTypeEmbeddings = p.allocate("embeddings.token_type_embeddings.weight", [config.typeVocabSize, H])
        embeddingNorm = norm("embeddings.LayerNorm")
        var ls: [BertLayerRefs] = []
        for l in 0..<config.numHiddenLayers {
            let pre = "encoder.layer.\(l)."
            // Q, K, V weights then their biases, adjacent: the forward pass runs them as one GEMM.
            let qw = p.allocate(pre + "attention.self.query.weight", [H, H])
            let kw = p.allocate(pre + "attention.self.key.weight", [H, H])
            let vw = p.allocate(pre + "attention.self.value.weight", [H, H])
            let qb = p.allocate(pre + "attention.self.query.bias", [H])
            let kb = p.allocate(pre + "attention.self.key.bias", [H])
            let vb = p.allocate(pre + "attention.self.value.bias", [H])
            ls.append(BertLayerRefs(
                query: LinearRef(weight: qw, bias: qb), key: LinearRef(weight: kw, bias: kb), value: LinearRef(weight: vw, bias: vb),
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
        params = p
    }

    /// Parameter count (every float in the store).
    public var parameterCount: Int { params.count }
}

/// Which optional outputs a forward pass should produce.
public struct ForwardOptions: Sendable {
    public var hiddenStates = false
    public var attentionScores = false
    public init(hiddenStates: Bool = false, attentionScores: Bool = false) {
        self.hiddenStates = hiddenStates
        self.attentionScores = attentionScores
    }
}

/// y[rows, outF] (row stride ldOut) = x[rows, inF] · W[outF, inF]ᵀ + b.
@inline(__always)
func linearForward(_ x: UnsafePointer<Float>, rows: Int, inF: Int, outF: Int, weight: UnsafePointer<Float>,
                   bias: UnsafePointer<Float>?, out: UnsafeMutablePointer<Float>, ldOut: Int) {
    sgemm(transA: false, transB: true, m: rows, n: outF, k: inF, a: x, lda: inF, b: weight, ldb: inF, c: out, ldc: ldOut)
    if let bias {
        if ldOut == outF {
            Kernels.addBias(out, rows: rows, cols: outF, bias: bias)
        } else {
            for r in 0..<rows { Kernels.add(out + r * ldOut, bias, count: outF) }
        }
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

