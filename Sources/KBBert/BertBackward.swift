import KBLayers
import KBTensor

/// Gradients flowing into a training forward pass's outputs.
public struct BertUpstream {
    /// ∂L/∂logits: [B, C] (classification) or [B, T, 2] (QA).
    public var logits: [Float]?
    /// ∂L/∂h_l for l in 0...L (0 = embedding output), each [B·T·H]. Used by distillation.
    public var hidden: [Int: [Float]] = [:]
    /// ∂L/∂S_l, the pre-mask, pre-softmax scores of layer l (0-based), each [B·NH·T·T].
    public var scores: [Int: [Float]] = [:]
    public init(logits: [Float]? = nil, hidden: [Int: [Float]] = [:], scores: [Int: [Float]] = [:]) {
        self.logits = logits; self.hidden = hidden; self.scores = scores
    }
}

extension BertModel {
    /// Backward pass of `forwardTrain`: ACCUMULATES ∂L/∂θ into `grads` (same layout as
    /// `params.data`). It reads as the forward pass in reverse.
    public func backward(_ cache: BertCache, _ up: BertUpstream, into grads: UnsafeMutablePointer<Float>) {
        precondition(cache.training, "backward needs a cache from forwardTrain")
        let c = config, input = cache.input
        let B = input.batch, T = input.seqLen, H = c.hiddenSize, NH = c.numAttentionHeads
        let I = c.intermediateSize, BT = B * T, L = layers.count
        let pDrop = Dropout(p: c.attentionProbsDropoutProb), hDrop = Dropout(p: c.hiddenDropoutProb)
        let G = grads
        let dh = FloatBuffer(count: BT * H)                 // ∂L/∂h_l, walking down   [B·T, H]
        // A clsOnly last layer has only the [CLS] rows of h_L and no scores to take gradients on.
        precondition(!cache.clsOnly || (up.hidden[L] == nil && up.scores[L - 1] == nil),
                     "a clsOnly forward pass has no last hidden state or scores to take gradients on")
        if let g = up.hidden[L] { dh.ptr.update(from: g, count: BT * H) }

        params.data.withUnsafeBufferPointer { pbuf in
            let P = pbuf.baseAddress!
            let last = cache.h(L)
            // Heads.
            if let lg = up.logits {
                precondition(lg.count == (classifier.map { B * $0.outFeatures } ?? BT * 2), "upstream logits gradient of the wrong size")
                if let classifier, let pooler, let pin = cache.poolIn, let pooled = cache.pooled, let cin = cache.pooledDrop {
                    let dpool = FloatBuffer(count: B * H)
                    linearBackward(classifier, cin.ptr, dy: lg, rows: B, P: P, G: G, dx: dpool.ptr)
                    if cache.dropout { hDrop.apply(dpool.ptr, mask: cache.poolMask, count: B * H) }
                    ActivationGrad.tanhFromOutput(pooled.ptr, grad: dpool.ptr, count: B * H)
                    let dpin = FloatBuffer(count: B * H)
                    linearBackward(pooler, pin.ptr, dy: dpool.ptr, rows: B, P: P, G: G, dx: dpin.ptr)
                    // (clsOnly: ∂L/∂h_L is over the B compact [CLS] rows)
                    let stride = cache.clsOnly ? H : T * H
                    for b in 0..<B { Kernels.add(dh.ptr + b * stride, dpin.ptr + b * H, count: H) }
                } else if let qaOutputs {
                    linearBackward(qaOutputs, last.ptr, dy: lg, rows: BT, P: P, G: G, dx: dh.ptr, accumulate: true)
                }
            }
            let dA = FloatBuffer(count: BT * H, zeroed: false)    // scratch [B·T, H]
            let dB = FloatBuffer(count: BT * H, zeroed: false)    // scratch [B·T, H]
            let dG = FloatBuffer(count: BT * I, zeroed: false)    // scratch [B·T, I]
            let dqkv = FloatBuffer(count: BT * 3 * H, zeroed: false)
            let dP = FloatBuffer(count: B * NH * T * T, zeroed: false)
            for l in stride(from: L - 1, through: 0, by: -1) {
                let layerInput = cache.h(l).ptr          // h_l, the layer's input (kept in training)
                let layer = layers[l], lc = cache.layers[l]
                // Queries per sequence and rows from the attention output on (see the forward pass).
                let Q = cache.clsOnly && l == L - 1 ? 1 : T, R = B * Q
                // h_l = LN(fSum): dfSum -> dA
                LayerNorm.backward(lc.fSum.ptr, dy: dh.ptr, rows: R, cols: H, gamma: P + layer.outputNorm.weight.offset,
                                   mean: lc.fMean.ptr, rstd: lc.fRstd.ptr, dx: dA.ptr,
                                   dGamma: G + layer.outputNorm.weight.offset, dBeta: G + layer.outputNorm.bias.offset)
                // fSum = dropout(f) + h1: residual -> dh1 (dB); branch -> df (dA, in place)
                dB.ptr.update(from: dA.ptr, count: R * H)
                if cache.dropout { hDrop.apply(dA.ptr, mask: lc.maskF, count: R * H) }
                // f = g1 · W_2ᵀ + b_2
                linearBackward(layer.output, lc.g1.ptr, dy: dA.ptr, rows: R, P: P, G: G, dx: dG.ptr, packs: cache.trainPacks, packsT: cache.trainPacksT)
                // g1 = act(z1)
                switch c.hiddenAct {
                case .gelu: ActivationGrad.geluErf(lc.z1.ptr, grad: dG.ptr, count: R * I)
                case .geluNew, .geluPytorchTanh, .geluFast: ActivationGrad.geluTanh(lc.z1.ptr, grad: dG.ptr, count: R * I)
                case .relu: ActivationGrad.relu(lc.z1.ptr, grad: dG.ptr, count: R * I)
                }
                // z1 = h1 · W_1ᵀ + b_1: dh1 += dz1 · W_1
                linearBackward(layer.intermediate, lc.h1.ptr, dy: dG.ptr, rows: R, P: P, G: G, dx: dB.ptr, accumulate: true, packs: cache.trainPacks, packsT: cache.trainPacksT)
                // h1 = LN(aSum): daSum -> dA
                LayerNorm.backward(lc.aSum.ptr, dy: dB.ptr, rows: R, cols: H, gamma: P + layer.attentionNorm.weight.offset,
                                   mean: lc.aMean.ptr, rstd: lc.aRstd.ptr, dx: dA.ptr,
                                   dGamma: G + layer.attentionNorm.weight.offset, dBeta: G + layer.attentionNorm.bias.offset)
                // aSum = dropout(a) + x: residual -> dx (dh; with one query per sequence, only
                // its [CLS] rows); branch -> da (dA)
                if Q == T {
                    dh.ptr.update(from: dA.ptr, count: BT * H)
                } else {
                    dh.zero()
                    for b in 0..<B { (dh.ptr + b * T * H).update(from: dA.ptr + b * H, count: H) }
                }
                if cache.dropout { hDrop.apply(dA.ptr, mask: lc.maskA, count: R * H) }
                // a = ctx · W_oᵀ + b_o: dctx -> dB
                linearBackward(layer.attentionOutput, lc.ctx.ptr, dy: dA.ptr, rows: R, P: P, G: G, dx: dB.ptr, packs: cache.trainPacks, packsT: cache.trainPacksT)
                // Attention: dctx (dB) -> dqkv
                let dq = dqkv.ptr
                let pv = cache.dropout ? UnsafePointer(lc.probsDrop.ptr) : UnsafePointer(lc.probs.ptr)
                let scoreGrad = up.scores[l] ?? []
                lc.maskP.withUnsafeBufferPointer { mp in
                    scoreGrad.withUnsafeBufferPointer { sg in
                        Attention.backward(qkv: lc.qkv.ptr, probs: lc.probs.ptr, probsUsed: pv,
                                           dropout: cache.dropout ? (pDrop, mp.baseAddress!) : nil, batch: B, seqLen: T,
                                           hidden: H, heads: NH, queries: Q, dCtx: dB.ptr, dScores: sg.isEmpty ? nil : sg.baseAddress!,
                                           scratch: dP.ptr, dQKV: dq)
                    }
                }
                // qkv = x · W_qkvᵀ + b: dx += dqkv · W_qkv
                if Q == 1, let cls = cache.clsInput {
                    clsQKVBackward(layer, x: layerInput, cls: cls.ptr, dqkv: dq, batch: B, seqLen: T, H: H, P: P, G: G,
                                   dx: dh.ptr, packs: cache.trainPacks, packsT: cache.trainPacksT)
                } else if qkvFused(layer) {
                    Linear.backward(layerInput, dy: dq, rows: BT, inF: H, outF: 3 * H, weight: P + layer.query.weight!.offset,
                                    dWeight: G + layer.query.weight!.offset, dBias: G + layer.query.bias.offset, dx: dh.ptr, accumulate: true,
                                    packedT: cache.trainPacksT[layer.query.weight!.offset])
                } else {
                    for (k, lin) in [layer.query, layer.key, layer.value].enumerated() {
                        linearBackward(lin, layerInput, dy: dq + k * H, rows: BT, P: P, G: G, dx: dh.ptr, accumulate: true, ldDy: 3 * H, packs: cache.trainPacks, packsT: cache.trainPacksT)
                    }
                }
                if let g = up.hidden[l] { Kernels.add(dh.ptr, g, count: BT * H) }
            }
            // Embeddings: h_0 = dropout(LN(embSum)).
            if cache.dropout { hDrop.apply(dh.ptr, mask: cache.embMask, count: BT * H) }
            LayerNorm.backward(cache.embSum.ptr, dy: dh.ptr, rows: BT, cols: H, gamma: P + embeddingNorm.weight.offset,
                               mean: cache.embMean.ptr, rstd: cache.embRstd.ptr, dx: dA.ptr,
                               dGamma: G + embeddingNorm.weight.offset, dBeta: G + embeddingNorm.bias.offset)
            wordEmbeddingBackward(input.ids, dy: dA.ptr, P: P, G: G)
            let dPos = FloatBuffer(count: T * H)                 // ∂L/∂(position rows 0..<T)
            for i in 0..<BT {
                Kernels.add(dPos.ptr + (i % T) * H, dA.ptr + i * H, count: H)
                Kernels.add(G + tokenTypeEmbeddings.offset + Int(input.typeIds[i]) * H, dA.ptr + i * H, count: H)
            }
            positionBackward(dPos.ptr, T, P: P, G: G)
        }
    }
}

extension BertModel {
    /// Backward of `clsQKVForward`: dqkv [B·T, 3H] holds the key and value gradients of every row
    /// and the query gradients of the [CLS] rows (rows b·T; attention wrote zeros to the others).
    /// Accumulates the weight and bias gradients and adds the input gradient to dx [B·T, H].
    func clsQKVBackward(_ layer: BertLayerRefs, x: UnsafePointer<Float>, cls: UnsafePointer<Float>, dqkv dq: UnsafePointer<Float>,
                        batch B: Int, seqLen T: Int, H: Int, P: UnsafePointer<Float>, G: UnsafeMutablePointer<Float>,
                        dx: UnsafeMutablePointer<Float>, packs: [Int: PackedWeight], packsT: [Int: PackedWeight]) {
        let BT = B * T
        if qkvFused(layer) {
            let wo = layer.query.weight!.offset, w = P + wo, dW = G + wo, db = G + layer.query.bias.offset
            // dW_kv += dKVᵀ · x over every row; dW_q += dQᵀ · x over the [CLS] rows
            sgemm(transA: true, transB: false, m: 2 * H, n: H, k: BT, a: dq + H, lda: 3 * H, b: x, ldb: H, beta: 1, c: dW + H * H, ldc: H)
            sgemm(transA: true, transB: false, m: H, n: H, k: B, a: dq, lda: T * 3 * H, b: cls, ldb: H, beta: 1, c: dW, ldc: H)
            Linear.biasGrad(dq + H, rows: BT, cols: 2 * H, ld: 3 * H, into: db + H)
            Linear.biasGrad(dq, rows: B, cols: H, ld: T * 3 * H, into: db)
            // dx += dKV · W_kv over every row, + dQ · W_q on the [CLS] rows
            if let pt = packsT[wo], pt.n == H, pt.k == 3 * H, !pt.strassen {
                pt.multiply(dq, rows: BT, ldX: 3 * H, out: dx, accumulate: true, depth: H..<3 * H)
                pt.multiply(dq, rows: B, ldX: T * 3 * H, out: dx, ldOut: T * H, accumulate: true, depth: 0..<H)
            } else {
                sgemm(transA: false, transB: false, m: BT, n: H, k: 2 * H, a: dq + H, lda: 3 * H, b: w + H * H, ldb: H, beta: 1, c: dx, ldc: H)
                sgemm(transA: false, transB: false, m: B, n: H, k: H, a: dq, lda: T * 3 * H, b: w, ldb: H, beta: 1, c: dx, ldc: T * H)
            }
            return
        }
        for (i, l) in [(1, layer.key), (2, layer.value)] {
            linearBackward(l, x, dy: dq + i * H, rows: BT, P: P, G: G, dx: dx, accumulate: true, ldDy: 3 * H, packs: packs, packsT: packsT)
        }
        let dcls = FloatBuffer(count: B * H, zeroed: false)
        linearBackward(layer.query, cls, dy: dq, rows: B, P: P, G: G, dx: dcls.ptr, ldDy: T * 3 * H, packs: packs, packsT: packsT)
        for b in 0..<B { Kernels.add(dx + b * T * H, dcls.ptr + b * H, count: H) }
    }
}
