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

extension BertModel {
    /// Runs the encoder, pooler and head.
    public func forward(_ input: BertInput, options: ForwardOptions = ForwardOptions()) throws(ModelError) -> BertOutput {
        let B = input.batch, T = input.seqLen, H = config.hiddenSize, NH = config.numAttentionHeads
        let HD = config.headDim, I = config.intermediateSize, BT = B * T
        guard T <= config.maxPositionEmbeddings else {
            throw .invalidInput("sequence length \(T) exceeds max_position_embeddings \(config.maxPositionEmbeddings)")
        }
        guard input.ids.count == BT, input.typeIds.count == BT, input.mask.count == BT else {
            throw .invalidInput("input arrays must hold batch × seqLen = \(BT) entries")
        }
        for t in input.typeIds where t < 0 || Int(t) >= config.typeVocabSize {
            throw .invalidInput("token type id \(t) out of range 0..<\(config.typeVocabSize)")
        }
        var hidden = [Float](repeating: 0, count: BT * H)          // [B·T, H]
        var hiddenStates: [Tensor] = []
        var scoresOut: [Tensor] = []
        // Additive key mask [B, T]: 0 for tokens, the most negative float for padding (HF's finfo.min).
        let addMask: [Float] = input.mask.map { $0 != 0 ? 0 : -Float.greatestFiniteMagnitude }

        try params.data.withUnsafeBufferPointer { pbuf throws(ModelError) in
            let P = pbuf.baseAddress!
            // Embeddings: word[ids] + position[t] + type[types], then LayerNorm.
            var emb = [Float](repeating: 0, count: BT * H)          // [B·T, H]
            do {
                try input.ids.withUnsafeBufferPointer { ids in
                    try emb.withUnsafeMutableBufferPointer { e in
                        try Kernels.gather(table: P + wordEmbeddings.offset, vocab: config.vocabSize, cols: H, ids: ids, out: e.baseAddress!)
                    }
                }
            } catch {
                throw .invalidInput("token id out of range for vocab_size \(config.vocabSize): \(error)")
            }
            emb.withUnsafeMutableBufferPointer { e in
                for b in 0..<B {
                    for t in 0..<T {
                        let row = e.baseAddress! + (b * T + t) * H
                        Kernels.add(row, P + positionEmbeddings.offset + t * H, count: H)
                        Kernels.add(row, P + tokenTypeEmbeddings.offset + Int(input.typeIds[b * T + t]) * H, count: H)
                    }
                }
                hidden.withUnsafeMutableBufferPointer { h in
                    Kernels.layerNorm(e.baseAddress!, out: h.baseAddress!, rows: BT, cols: H,
                                      gamma: P + embeddingNorm.weight.offset, beta: P + embeddingNorm.bias.offset,
                                      eps: config.layerNormEps)
                }
            }
            if options.hiddenStates { hiddenStates.append((try? Tensor(shape: [B, T, H], data: hidden))!) }

            var qkv = [Float](repeating: 0, count: BT * 3 * H)       // [B·T, 3H]
            var scores = [Float](repeating: 0, count: B * NH * T * T) // [B, NH, T, T]
            var ctx = [Float](repeating: 0, count: BT * H)            // [B·T, H]
            var attn = [Float](repeating: 0, count: BT * H)           // [B·T, H]
            var h1 = [Float](repeating: 0, count: BT * H)             // [B·T, H]
            var inter = [Float](repeating: 0, count: BT * I)          // [B·T, I]
            let scale = 1 / Float(HD).squareRoot()

            for layer in layers {
                qkv.withUnsafeMutableBufferPointer { qkvp in
                    let q = qkvp.baseAddress!
                    hidden.withUnsafeBufferPointer { x in
                        // Q, K, V in one GEMM when their weights are adjacent ([3H, H]); else three.
                        if layer.key.weight.offset == layer.query.weight.offset + H * H,
                           layer.value.weight.offset == layer.key.weight.offset + H * H,
                           layer.key.bias.offset == layer.query.bias.offset + H,
                           layer.value.bias.offset == layer.key.bias.offset + H {
                            linearForward(x.baseAddress!, rows: BT, inF: H, outF: 3 * H, weight: P + layer.query.weight.offset,
                                          bias: P + layer.query.bias.offset, out: q, ldOut: 3 * H)
                        } else {
                            for (k, l) in [layer.query, layer.key, layer.value].enumerated() {
                                linearForward(x.baseAddress!, rows: BT, inF: H, outF: H, weight: P + l.weight.offset,
                                              bias: P + l.bias.offset, out: q + k * H, ldOut: 3 * H)
                            }
                        }
                    }
                    scores.withUnsafeMutableBufferPointer { sp in
                        let s = sp.baseAddress!
                        // scores[b, h] = Q_bh · K_bhᵀ / √HD       [T, T] per (b, h)
                        perHead(B * NH) { bh in
                            let b = bh / NH, hh = bh % NH
                            sgemm(transA: false, transB: true, m: T, n: T, k: HD, alpha: scale,
                                  a: q + b * T * 3 * H + hh * HD, lda: 3 * H,
                                  b: q + b * T * 3 * H + H + hh * HD, ldb: 3 * H,
                                  c: s + bh * T * T, ldc: T)
                        }
                        if options.attentionScores {
                            scoresOut.append((try? Tensor(shape: [B, NH, T, T], data: Array(sp)))!)
                        }
                        addMask.withUnsafeBufferPointer { m in
                            Kernels.softmax(s, rows: B * NH * T, cols: T, mask: m.baseAddress!, rowsPerMask: NH * T)
                        }
                        ctx.withUnsafeMutableBufferPointer { cp in
                            let c = cp.baseAddress!
                            // ctx[b, :, h] = probs[b, h] · V_bh    [T, HD] per (b, h)
                            perHead(B * NH) { bh in
                                let b = bh / NH, hh = bh % NH
                                sgemm(transA: false, transB: false, m: T, n: HD, k: T,
                                      a: s + bh * T * T, lda: T,
                                      b: q + b * T * 3 * H + 2 * H + hh * HD, ldb: 3 * H,
                                      c: c + b * T * H + hh * HD, ldc: H)
                            }
                        }
                    }
                }
                // Attention output: dense, then bias + residual + LayerNorm fused.
                ctx.withUnsafeBufferPointer { c in
                    attn.withUnsafeMutableBufferPointer { a in
                        linearForward(c.baseAddress!, rows: BT, inF: H, outF: H, weight: P + layer.attentionOutput.weight.offset,
                                      bias: nil, out: a.baseAddress!, ldOut: H)
                        hidden.withUnsafeBufferPointer { x in
                            h1.withUnsafeMutableBufferPointer { o in
                                Kernels.biasResidualLayerNorm(a.baseAddress!, bias: P + layer.attentionOutput.bias.offset,
                                                              residual: x.baseAddress!, out: o.baseAddress!, rows: BT, cols: H,
                                                              gamma: P + layer.attentionNorm.weight.offset,
                                                              beta: P + layer.attentionNorm.bias.offset, eps: config.layerNormEps)
                            }
                        }
                    }
                }
                // Feed-forward: dense + bias + activation (fused for gelu), dense + bias + residual + LayerNorm.
                h1.withUnsafeBufferPointer { x in
                    inter.withUnsafeMutableBufferPointer { m in
                        linearForward(x.baseAddress!, rows: BT, inF: H, outF: I, weight: P + layer.intermediate.weight.offset,
                                      bias: nil, out: m.baseAddress!, ldOut: I)
                        biasActivate(m.baseAddress!, rows: BT, cols: I, bias: P + layer.intermediate.bias.offset, config.hiddenAct)
                        attn.withUnsafeMutableBufferPointer { a in
                            linearForward(m.baseAddress!, rows: BT, inF: I, outF: H, weight: P + layer.output.weight.offset,
                                          bias: nil, out: a.baseAddress!, ldOut: H)
                            hidden.withUnsafeMutableBufferPointer { o in
                                Kernels.biasResidualLayerNorm(a.baseAddress!, bias: P + layer.output.bias.offset,
                                                              residual: x.baseAddress!, out: o.baseAddress!, rows: BT, cols: H,
                                                              gamma: P + layer.outputNorm.weight.offset,
                                                              beta: P + layer.outputNorm.bias.offset, eps: config.layerNormEps)
                            }
                        }
                    }
                }
                if options.hiddenStates { hiddenStates.append((try? Tensor(shape: [B, T, H], data: hidden))!) }
            }
        }
        var out = BertOutput(lastHiddenState: (try? Tensor(shape: [B, T, H], data: hidden))!,
                             hiddenStates: options.hiddenStates ? hiddenStates : nil,
                             attentionScores: options.attentionScores ? scoresOut : nil)
        params.data.withUnsafeBufferPointer { pbuf in
            let P = pbuf.baseAddress!
            if let pooler {
                // pooled = tanh(h[:, 0] · Wpᵀ + bp)        [B, H]
                var first = [Float](repeating: 0, count: B * H)
                for b in 0..<B { for j in 0..<H { first[b * H + j] = hidden[b * T * H + j] } }
                var pooled = [Float](repeating: 0, count: B * H)
                pooled.withUnsafeMutableBufferPointer { o in
                    linearForward(first, rows: B, inF: H, outF: H, weight: P + pooler.weight.offset, bias: P + pooler.bias.offset,
                                  out: o.baseAddress!, ldOut: H)
                    Kernels.tanh(o.baseAddress!, count: B * H)
                }
                out.pooled = (try? Tensor(shape: [B, H], data: pooled))!
                if let classifier {
                    // logits = dropout(pooled) · Wcᵀ + bc     [B, C]
                    let C = classifier.outFeatures
                    var logits = [Float](repeating: 0, count: B * C)
                    logits.withUnsafeMutableBufferPointer { o in
                        linearForward(pooled, rows: B, inF: H, outF: C, weight: P + classifier.weight.offset,
                                      bias: P + classifier.bias.offset, out: o.baseAddress!, ldOut: C)
                    }
                    out.logits = (try? Tensor(shape: [B, C], data: logits))!
                }
            }
            if let qaOutputs {
                // [start, end] logits per token              [B, T, 2]
                var logits = [Float](repeating: 0, count: BT * 2)
                logits.withUnsafeMutableBufferPointer { o in
                    linearForward(hidden, rows: BT, inF: H, outF: 2, weight: P + qaOutputs.weight.offset,
                                  bias: P + qaOutputs.bias.offset, out: o.baseAddress!, ldOut: 2)
                }
                out.logits = (try? Tensor(shape: [B, T, 2], data: logits))!
            }
        }
        return out
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

/// Runs `count` independent small GEMM jobs (one per batch × head) across the kernel threads,
/// with BLAS itself single-threaded meanwhile (its threading does not pay at these sizes).
func perHead(_ count: Int, _ body: (Int) -> Void) {
    let threads = Threads.count
    if threads <= 1 || count < 2 {
        for i in 0..<count { body(i) }
        return
    }
    Threads.withSingleThreadedBLAS {
        parallelChunks(count, minPerThread: 1) { r in for i in r { body(i) } }
    }
}
