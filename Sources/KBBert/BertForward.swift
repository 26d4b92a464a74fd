import KBLayers
import KBTensor

/// Dropout during training, driven by an injected generator.
public struct DropoutState {
    public var rng: SplitMix64
    public init(seed: UInt64) { rng = SplitMix64(seed: seed) }
    public init(rng: SplitMix64) { self.rng = rng }
}

/// Activations of one encoder layer kept for the backward pass. In inference all layers share
/// one instance (reused in place).
final class LayerCache {
    let qkv: FloatBuffer        // Q | K | V                  [B·T, 3H]
    let probs: FloatBuffer      // softmax(S + mask)          [B, NH, T, T]
    let probsDrop: FloatBuffer  // dropout(probs)             [B, NH, T, T] (training with dropout)
    let ctx: FloatBuffer        // context                    [B·T, H]
    let aSum: FloatBuffer       // attn dense + bias (+drop) + x, before LN [B·T, H]
    let aMean: FloatBuffer, aRstd: FloatBuffer   // [B·T]
    let h1: FloatBuffer         // LN(aSum)                   [B·T, H]
    let z1: FloatBuffer         // intermediate pre-activation [B·T, I]
    let g1: FloatBuffer         // act(z1)                    [B·T, I]
    let fSum: FloatBuffer       // output dense + bias (+drop) + h1, before LN [B·T, H]
    let fMean: FloatBuffer, fRstd: FloatBuffer   // [B·T]
    var maskP: [UInt8] = [], maskA: [UInt8] = [], maskF: [UInt8] = []

    init(BT: Int, B: Int, T: Int, H: Int, NH: Int, I: Int, training: Bool, dropout: Bool) {
        qkv = FloatBuffer(count: BT * 3 * H, zeroed: false)
        probs = FloatBuffer(count: B * NH * T * T, zeroed: false)
        probsDrop = FloatBuffer(count: dropout ? B * NH * T * T : 0, zeroed: false)
        ctx = FloatBuffer(count: BT * H, zeroed: false)
        aSum = FloatBuffer(count: BT * H, zeroed: false)
        aMean = FloatBuffer(count: BT, zeroed: false); aRstd = FloatBuffer(count: BT, zeroed: false)
        h1 = FloatBuffer(count: BT * H, zeroed: false)
        z1 = FloatBuffer(count: training ? BT * I : 0, zeroed: false)
        g1 = FloatBuffer(count: BT * I, zeroed: false)
        fSum = FloatBuffer(count: BT * H, zeroed: false)
        fMean = FloatBuffer(count: BT, zeroed: false); fRstd = FloatBuffer(count: BT, zeroed: false)
    }
}

/// Everything a training forward pass keeps for `BertModel.backward`.
public final class BertCache {
    let input: BertInput
    let training: Bool
    let dropout: Bool
    /// The last layer ran for the [CLS] rows alone (`ForwardOptions.clsOnly`): its activations
    /// and h_L hold B compact rows.
    public internal(set) var clsOnly = false
    var clsInput: FloatBuffer?                    // h_{L-1}[:, 0] there     [B, H]
    let embSum: FloatBuffer                       // word + pos + type     [B·T, H]
    let embMean: FloatBuffer, embRstd: FloatBuffer
    var embMask: [UInt8] = []
    let hidden: [FloatBuffer]                     // h_0 ... h_L           [B·T, H] each (training)
    let layers: [LayerCache]
    /// This step's packed weights (dense matrices and Kronecker factors) (training with `ForwardOptions.packWeights`): W by the
    /// weight's offset for the forward products, Wᵀ for the backward's input gradients.
    var trainPacks: [Int: PackedWeight] = [:]
    var trainPacksT: [Int: PackedWeight] = [:]
    /// Where the packs go back when the step is done (the next step repacks them in place).
    var packPool: TrainingPackPool?

    deinit { packPool?.giveBack(trainPacks, trainPacksT) }
    /// How many matrices this step packed (forward and transposed layouts together).
    public var packedCount: Int { trainPacks.count + trainPacksT.count }
    /// How many of them are packed for Strassen's algorithm (`ForwardOptions.strassen`).
    public var strassenPackedCount: Int { trainPacks.values.filter(\.strassen).count + trainPacksT.values.filter(\.strassen).count }
    var poolIn: FloatBuffer?                      // h_L[:, 0]             [B, H]
    var pooled: FloatBuffer?                      // tanh(...)             [B, H]
    var pooledDrop: FloatBuffer?                  // dropout(pooled)       [B, H]
    var poolMask: [UInt8] = []

    init(input: BertInput, config c: BertConfig, training: Bool, dropout: Bool) {
        self.input = input
        self.training = training
        self.dropout = dropout
        let B = input.batch, T = input.seqLen, BT = B * T, H = c.hiddenSize
        embSum = FloatBuffer(count: BT * H, zeroed: false)
        embMean = FloatBuffer(count: BT, zeroed: false); embRstd = FloatBuffer(count: BT, zeroed: false)
        if training {
            hidden = (0...c.numHiddenLayers).map { _ in FloatBuffer(count: BT * H, zeroed: false) }
            layers = (0..<c.numHiddenLayers).map { _ in
                LayerCache(BT: BT, B: B, T: T, H: H, NH: c.numAttentionHeads, I: c.intermediateSize, training: true, dropout: dropout)
            }
        } else {
            hidden = [FloatBuffer(count: BT * H, zeroed: false), FloatBuffer(count: BT * H, zeroed: false)]
            let shared = LayerCache(BT: BT, B: B, T: T, H: H, NH: c.numAttentionHeads, I: c.intermediateSize, training: false, dropout: false)
            layers = Array(repeating: shared, count: c.numHiddenLayers)
        }
    }

    /// Buffer holding h_l (in inference two buffers alternate).
    func h(_ l: Int) -> FloatBuffer { training ? hidden[l] : hidden[l % 2] }
}

extension BertModel {
    /// Runs the encoder, pooler and head (inference: no dropout, buffers reused across layers).
    public func forward(_ input: BertInput, options: ForwardOptions = ForwardOptions()) throws(ModelError) -> BertOutput {
        try run(input, options: options, training: false, dropout: nil).output
    }

    /// A training forward pass: keeps every activation for `backward`, applies dropout when a
    /// generator is given (HF positions: embeddings, attention probabilities, both residual
    /// branches, the classifier input).
    public func forwardTrain(_ input: BertInput, options: ForwardOptions = ForwardOptions(),
                             dropout: inout DropoutState?) throws(ModelError) -> (output: BertOutput, cache: BertCache) {
        try run(input, options: options, training: true, dropout: &dropout)
    }

    func run(_ input: BertInput, options: ForwardOptions, training: Bool, dropout: DropoutState?) throws(ModelError) -> (output: BertOutput, cache: BertCache) {
        var d = dropout
        return try run(input, options: options, training: training, dropout: &d)
    }

    func validate(_ input: BertInput) throws(ModelError) {
        let BT = input.batch * input.seqLen
        guard input.seqLen <= config.maxPositionEmbeddings else {
            throw .invalidInput("sequence length \(input.seqLen) exceeds max_position_embeddings \(config.maxPositionEmbeddings)")
        }
        guard input.ids.count == BT, input.typeIds.count == BT, input.mask.count == BT else {
            throw .invalidInput("input arrays must hold batch × seqLen = \(BT) entries")
        }
        for id in input.ids where id < 0 || Int(id) >= config.vocabSize {
            throw .invalidInput("token id \(id) out of range for vocab_size \(config.vocabSize)")
        }
        for t in input.typeIds where t < 0 || Int(t) >= config.typeVocabSize {
            throw .invalidInput("token type id \(t) out of range 0..<\(config.typeVocabSize)")
        }
    }

    func run(_ input: BertInput, options: ForwardOptions, training: Bool,
             dropout: inout DropoutState?) throws(ModelError) -> (output: BertOutput, cache: BertCache) {
        try validate(input)
        let c = config
        let B = input.batch, T = input.seqLen, H = c.hiddenSize, NH = c.numAttentionHeads
        let I = c.intermediateSize, BT = B * T
        let useDropout = training && dropout != nil
        let cache = BertCache(input: input, config: c, training: training, dropout: useDropout)
        var hiddenStates: [Tensor] = []
        var scoresOut: [Tensor] = []
        let addMask = FloatBuffer(input.mask.map { $0 != 0 ? 0 : -Float.greatestFiniteMagnitude })  // [B, T]
        let pDrop = Dropout(p: c.attentionProbsDropoutProb), hDrop = Dropout(p: c.hiddenDropoutProb)
        let zeroBias = FloatBuffer(count: max(H, I))
        var out = BertOutput(lastHiddenState: Tensor(shape: [0]))
        let clsOnly = options.clsOnly && pooler != nil && qaOutputs == nil && !options.hiddenStates && !options.attentionScores
            && !layers.isEmpty
        cache.clsOnly = clsOnly

        params.data.withUnsafeBufferPointer { pbuf in
            let P = pbuf.baseAddress!
            if training, PackedWeight.isSupported, options.packWeights ?? (BT >= BertModel.packedTrainingRows) {
                packForStep(cache, P: P, strassen: options.strassen)
            }
            let packs = cache.trainPacks.isEmpty ? packed : cache.trainPacks
            // Embeddings: word[ids] + position[t] + type[types] -> LayerNorm -> dropout   [B·T, H]
            let e = cache.embSum.ptr
            wordEmbeddingForward(input.ids, P: P, out: e)
            let pos = positionTable(T, P: P)                      // [T, H]
            for i in 0..<BT {
                let row = e + i * H
                Kernels.add(row, pos.ptr + (i % T) * H, count: H)
                Kernels.add(row, P + tokenTypeEmbeddings.offset + Int(input.typeIds[i]) * H, count: H)
            }
            let h0 = cache.h(0).ptr
            Kernels.layerNorm(e, out: h0, rows: BT, cols: H, gamma: P + embeddingNorm.weight.offset,
                              beta: P + embeddingNorm.bias.offset, eps: c.layerNormEps,
                              mean: cache.embMean.ptr, rstd: cache.embRstd.ptr)
            if useDropout {
                cache.embMask = hDrop.mask(count: BT * H, using: &dropout!.rng)
                hDrop.apply(h0, mask: cache.embMask, count: BT * H)
            }
            if options.hiddenStates { hiddenStates.append(cache.h(0).tensor([B, T, H])) }
            /// sum = dropout(sum + bias) + residual, out = LN(sum); returns the dropout mask (empty
            /// without dropout, where bias, residual and LayerNorm run as one fused pass).
            func residualBranch(_ sum: UnsafeMutablePointer<Float>, rows R: Int, bias: UnsafePointer<Float>, residual: UnsafePointer<Float>,
                                norm: LayerNormRef, out: UnsafeMutablePointer<Float>,
                                mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>) -> [UInt8] {
                var b = bias
                var mask: [UInt8] = []
                if useDropout {
                    Kernels.addBias(sum, rows: R, cols: H, bias: bias)
                    mask = hDrop.mask(count: R * H, using: &dropout!.rng)
                    hDrop.apply(sum, mask: mask, count: R * H)
                    b = UnsafePointer(zeroBias.ptr)
                }
                addNorm(0..<R, sum: sum, bias: b, residual: residual, norm: norm, P: P, out: out, mean: mean, rstd: rstd)
                return mask
            }
            for (l, layer) in layers.enumerated() {
                let lc = cache.layers[l]
                let x = cache.h(l).ptr, hOut = cache.h(l + 1).ptr
                // Queries per sequence: T, or 1 (the [CLS] row) in a `clsOnly` last layer, whose
                // rows from the attention output on are the R = B compact [CLS] rows.
                let Q = clsOnly && l == layers.count - 1 ? 1 : T, R = B * Q
                var xRes = UnsafePointer(x)                  // the residual into aSum   [R, H]
                if Q == 1 {
                    let g = FloatBuffer(count: B * H, zeroed: false)
                    for b in 0..<B { (g.ptr + b * H).update(from: x + b * T * H, count: H) }
                    cache.clsInput = g
                    xRes = UnsafePointer(g.ptr)
                }
                // Q | K | V                                                         [B·T, 3H]
                // (one query per sequence: the queries of its [CLS] rows alone)
                if Q == 1 { clsQKVForward(layer, x: x, cls: xRes, batch: B, seqLen: T, H: H, P: P, out: lc.qkv.ptr, packs: packs) }
                else { qkvForward(layer, x: x, rows: BT, H: H, P: P, out: lc.qkv.ptr, packs: packs) }
                // Attention: probs [B, NH, Q, T], ctx [R, H]
                if useDropout { lc.maskP = pDrop.mask(count: B * NH * Q * T, using: &dropout!.rng) }
                var scores = options.attentionScores ? Tensor(shape: [B, NH, T, T]) : nil
                lc.maskP.withUnsafeBufferPointer { mp in
                    withMutableData(&scores) { sp in
                        Attention.forward(qkv: lc.qkv.ptr, batch: B, seqLen: T, hidden: H, heads: NH, queries: Q, mask: addMask.ptr,
                                          probs: lc.probs.ptr, scores: sp,
                                          dropout: useDropout ? (pDrop, mp.baseAddress!, lc.probsDrop.ptr) : nil, ctx: lc.ctx.ptr)
                    }
                }
                if let s = scores { scoresOut.append(s) }
                let ctx = lc.ctx.ptr
                // aSum = dropout(ctx · W_oᵀ + b_o) + x;  h1 = LN(aSum)                 [R, H]
                if !useDropout, layer.attentionOutput.kron != nil {
                    // Without dropout, bias + residual + LayerNorm run on each finished token block
                    // of a Kronecker W_o while it is in cache (a dense W_o ends in one call anyway).
                    let aSum = lc.aSum.ptr, h1 = lc.h1.ptr, mean = lc.aMean.ptr, rstd = lc.aRstd.ptr
                    let bo = P + layer.attentionOutput.bias.offset, norm = layer.attentionNorm
                    linearForward(layer.attentionOutput, ctx, rows: R, P: P, withBias: false, out: aSum, packs: packs) { r in
                        addNorm(r, sum: aSum, bias: bo, residual: xRes, norm: norm, P: P, out: h1, mean: mean, rstd: rstd)
                    }
                } else {
                    linearForward(layer.attentionOutput, ctx, rows: R, P: P, withBias: false, out: lc.aSum.ptr, packs: packs)
                    lc.maskA = residualBranch(lc.aSum.ptr, rows: R, bias: P + layer.attentionOutput.bias.offset, residual: xRes,
                                              norm: layer.attentionNorm, out: lc.h1.ptr, mean: lc.aMean.ptr, rstd: lc.aRstd.ptr)
                }
                if !training, layer.intermediate.kron != nil, layer.output.kron != nil {
                    // h_l = LN(act(h1 · W_1ᵀ + b_1) · W_2ᵀ + b_2 + h1), token block by token block
                    fusedKroneckerFFN(layer, h1: lc.h1.ptr, rows: R, P: P, fSum: lc.fSum.ptr, out: hOut,
                                      mean: lc.fMean.ptr, rstd: lc.fRstd.ptr)
                    if options.hiddenStates { hiddenStates.append(cache.h(l + 1).tensor([B, T, H])) }
                    continue
                }
                // g1 = act(h1 · W_1ᵀ + b_1)                                            [R, I]
                // (bias and activation applied to each block of finished rows while it is in cache)
                let g1 = lc.g1.ptr, z1 = training ? lc.z1.ptr : nil, b1 = P + layer.intermediate.bias.offset
                let act = c.hiddenAct
                linearForward(layer.intermediate, lc.h1.ptr, rows: R, P: P, withBias: false, out: g1, packs: packs) { r in
                    let g = g1 + r.lowerBound * I
                    if let z1 {
                        Kernels.addBias(g, rows: r.count, cols: I, bias: b1)
                        (z1 + r.lowerBound * I).update(from: g, count: r.count * I)
                        activate(g, count: r.count * I, act)
                    } else {
                        biasActivate(g, rows: r.count, cols: I, bias: b1, act)
                    }
                }
                // fSum = dropout(g1 · W_2ᵀ + b_2) + h1;  h_l = LN(fSum)                [R, H]
                linearForward(layer.output, lc.g1.ptr, rows: R, P: P, withBias: false, out: lc.fSum.ptr, packs: packs)
                lc.maskF = residualBranch(lc.fSum.ptr, rows: R, bias: P + layer.output.bias.offset, residual: lc.h1.ptr,
                                          norm: layer.outputNorm, out: hOut, mean: lc.fMean.ptr, rstd: lc.fRstd.ptr)
                if options.hiddenStates { hiddenStates.append(cache.h(l + 1).tensor([B, T, H])) }
            }
            let last = cache.h(layers.count)
            // With clsOnly, h_L holds the B [CLS] rows back to back.
            let lastRows = clsOnly ? B : BT, rowStride = clsOnly ? H : T * H
            out.lastHiddenState = last.tensor([B, lastRows / B, H])
            if let pooler {
                // pooled = tanh(h_L[:, 0] · W_pᵀ + b_p)                               [B, H]
                let pin = FloatBuffer(count: B * H, zeroed: false), pooled = FloatBuffer(count: B * H, zeroed: false)
                for b in 0..<B { (pin.ptr + b * H).update(from: last.ptr + b * rowStride, count: H) }
                linearForward(pooler, pin.ptr, rows: B, P: P, withBias: true, out: pooled.ptr)
                Kernels.tanh(pooled.ptr, count: B * H)
                cache.poolIn = pin; cache.pooled = pooled
                out.pooled = pooled.tensor([B, H])
                if let classifier {
                    // logits = dropout(pooled) · W_cᵀ + b_c                             [B, C]
                    var cin = pooled
                    if useDropout {
                        cin = FloatBuffer(pooled.array)
                        cache.poolMask = hDrop.mask(count: B * H, using: &dropout!.rng)
                        hDrop.apply(cin.ptr, mask: cache.poolMask, count: B * H)
                    }
                    cache.pooledDrop = cin
                    let C = classifier.outFeatures
                    let logits = FloatBuffer(count: B * C, zeroed: false)
                    linearForward(classifier, cin.ptr, rows: B, P: P, withBias: true, out: logits.ptr)
                    out.logits = logits.tensor([B, C])
                }
            }
            if let qaOutputs {
                // [start, end] per token                                               [B, T, 2]
                let logits = FloatBuffer(count: BT * 2, zeroed: false)
                linearForward(qaOutputs, last.ptr, rows: BT, P: P, withBias: true, out: logits.ptr)
                out.logits = logits.tensor([B, T, 2])
            }
        }
        if options.hiddenStates { out.hiddenStates = hiddenStates }
        if options.attentionScores { out.attentionScores = scoresOut }
        return (out, cache)
    }

    /// Whether Q, K, V weights and biases sit back to back ([3H, H] and [3H]) in storage.
    func qkvFused(_ layer: BertLayerRefs) -> Bool {
        let H = config.hiddenSize
        guard let q = layer.query.weight, let k = layer.key.weight, let v = layer.value.weight else { return false }
        return k.offset == q.offset + H * H && v.offset == k.offset + H * H
            && layer.key.bias.offset == layer.query.bias.offset + H
            && layer.value.bias.offset == layer.key.bias.offset + H
    }

    /// Q | K | V [rows, 3H] of x, or with `parts` only those of the three (0 Q, 1 K, 2 V), each
    /// written to its columns of out.
    func qkvForward(_ layer: BertLayerRefs, x: UnsafePointer<Float>, rows: Int, H: Int, P: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>,
                    packs: [Int: PackedWeight]? = nil, parts: [Int] = [0, 1, 2]) {
        let table = packs ?? packed
        let linears = [layer.query, layer.key, layer.value]
        if parts == [0, 1, 2], qkvFused(layer) {
            Linear.forward(x, rows: rows, inF: H, outF: 3 * H, weight: P + layer.query.weight!.offset,
                           bias: P + layer.query.bias.offset, out: out, packed: table[layer.query.weight!.offset])
        } else if let q = layer.query.kron, let k = layer.key.kron, let v = layer.value.kron,
                  q.layer.sharesInput, k.layer == q.layer, v.layer == q.layer {
            // One transposition of x shared by the three (see KroneckerLinear.forwardShared).
            let terms = parts.map { i in
                let l = linears[i]
                return KroneckerLinear.SharedTerm(a: P + l.kron!.a.offset, b: P + l.kron!.b.offset, bias: P + l.bias.offset,
                                                  out: out + i * H, ldOut: 3 * H, packedA: table[l.kron!.a.offset])
            }
            q.layer.forwardShared(x, rows: rows, layers: terms)
        } else {
            for i in parts {
                linearForward(linears[i], x, rows: rows, P: P, withBias: true, out: out + i * H, ldOut: 3 * H, packs: table)
            }
        }
    }
}

extension BertModel {
    /// Q | K | V of a `clsOnly` last layer: keys and values for all B·T rows, queries for the B
    /// [CLS] rows alone (`cls`, [B, H]), written to rows b·T of `out` (the other rows' query
    /// columns are neither written nor read: attention takes one query per sequence there).
    func clsQKVForward(_ layer: BertLayerRefs, x: UnsafePointer<Float>, cls: UnsafePointer<Float>, batch B: Int, seqLen T: Int,
                       H: Int, P: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>, packs: [Int: PackedWeight]? = nil) {
        let table = packs ?? packed, BT = B * T
        if qkvFused(layer) {
            let wo = layer.query.weight!.offset, w = P + wo, bias = P + layer.query.bias.offset
            if let pk = table[wo], pk.n == 3 * H, pk.k == H, pk.takesPart(columns: H..<3 * H), pk.takesPart(columns: 0..<H) {
                pk.multiply(x, rows: BT, out: out, ldOut: 3 * H, columns: H..<3 * H)
                pk.multiply(cls, rows: B, out: out, ldOut: T * 3 * H, columns: 0..<H)
            } else {
                sgemm(transA: false, transB: true, m: BT, n: 2 * H, k: H, a: x, lda: H, b: w + H * H, ldb: H, c: out + H, ldc: 3 * H)
                sgemm(transA: false, transB: true, m: B, n: H, k: H, a: cls, lda: H, b: w, ldb: H, c: out, ldc: T * 3 * H)
            }
            for r in 0..<BT { Kernels.add(out + r * 3 * H + H, bias + H, count: 2 * H) }
            for b in 0..<B { Kernels.add(out + b * T * 3 * H, bias, count: H) }
            return
        }
        qkvForward(layer, x: x, rows: BT, H: H, P: P, out: out, packs: table, parts: [1, 2])
        linearForward(layer.query, cls, rows: B, P: P, withBias: true, out: out, ldOut: T * 3 * H, packs: table)
    }
}

/// `body` with a pointer to the tensor's floats, or nil when there is no tensor.
private func withMutableData<R>(_ t: inout Tensor?, _ body: (UnsafeMutablePointer<Float>?) -> R) -> R {
    guard t != nil else { return body(nil) }
    return t!.data.withUnsafeMutableBufferPointer { body($0.baseAddress) }
}

extension BertModel {
    /// Packs this step's `packableMatrices` into `cache` (see `ForwardOptions.packWeights`).
    func packForStep(_ cache: BertCache, P: UnsafePointer<Float>, strassen: Bool) {
        var (reuse, reuseT) = trainingPackPool.take()
        cache.packPool = trainingPackPool
        // Each matrix M [rows, cols] at offset o: M for the forward products (x · Mᵀ), Mᵀ for the
        // input gradients (dy · M), in last step's storage where the shapes agree.
        for (o, rows, cols) in packableMatrices {
            let s = strassen && PackedWeight.strassenFits(n: rows, k: cols)
            if let p = reuse.removeValue(forKey: o), p.n == rows, p.k == cols, p.strassen == s { p.repack(P + o, transposed: false); cache.trainPacks[o] = p }
            else { cache.trainPacks[o] = PackedWeight(weight: P + o, n: rows, k: cols, strassen: s) }
            if let p = reuseT.removeValue(forKey: o), p.n == cols, p.k == rows, p.strassen == s { p.repack(P + o, transposed: true); cache.trainPacksT[o] = p }
            else { cache.trainPacksT[o] = PackedWeight(transposing: P + o, rows: rows, cols: cols, strassen: s) }
        }
    }

    /// out = LN(sum + bias + residual) on rows `r` of [rows, H] matrices (sum, residual, out) and
    /// their per-row statistics (mean, rstd); sum keeps the pre-norm values.
    func addNorm(_ r: Range<Int>, sum: UnsafeMutablePointer<Float>, bias: UnsafePointer<Float>, residual: UnsafePointer<Float>,
                 norm: LayerNormRef, P: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>,
                 mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>) {
        let H = config.hiddenSize, o = r.lowerBound
        Kernels.biasResidualLayerNorm(sum + o * H, bias: bias, residual: residual + o * H, out: out + o * H, rows: r.count, cols: H,
                                      gamma: P + norm.weight.offset, beta: P + norm.bias.offset, eps: config.layerNormEps,
                                      mean: mean + o, rstd: rstd + o)
    }
}

extension BertModel {
    /// Inference FFN of a Kronecker layer, one block of tokens at a time on one thread:
    /// g = act(h1 · W_1ᵀ + b_1), fSum = g · W_2ᵀ, out = LN(fSum + b_2 + h1), with the block's
    /// intermediate g ([rows, I], the layer's largest activation) kept in cache instead of going
    /// out to memory and back. The factored matrices are small (their factors, not I × H), so
    /// splitting the products by token block adds no weight traffic worth counting; a dense FFN
    /// keeps its whole-batch GEMMs.
    func fusedKroneckerFFN(_ layer: BertLayerRefs, h1: UnsafePointer<Float>, rows BT: Int, P: UnsafePointer<Float>,
                           fSum: UnsafeMutablePointer<Float>, out: UnsafeMutablePointer<Float>,
                           mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>) {
        let c = config, H = c.hiddenSize, I = c.intermediateSize
        // The Kronecker layers' block budget for the [rows, I] intermediate, at least one block per thread.
        let blk = max(8, min(KroneckerLinear.blockFloats / max(1, I), (BT + Threads.count - 1) / Threads.count))
        let b1 = P + layer.intermediate.bias.offset, b2 = P + layer.output.bias.offset
        let act = c.hiddenAct
        parallelChunks((BT + blk - 1) / blk, minPerThread: 1) { blocks in
            ScratchPool.shared.with([blk * I]) { buf in
                let g = buf[0]
                for bi in blocks {
                    let r0 = bi * blk, n = min(blk, BT - r0)
                    linearForward(layer.intermediate, h1 + r0 * H, rows: n, P: P, withBias: false, out: g) { r in
                        biasActivate(g + r.lowerBound * I, rows: r.count, cols: I, bias: b1, act)
                    }
                    linearForward(layer.output, g, rows: n, P: P, withBias: false, out: fSum + r0 * H)
                    addNorm(r0..<(r0 + n), sum: fSum, bias: b2, residual: h1, norm: layer.outputNorm, P: P, out: out, mean: mean, rstd: rstd)
                }
            }
        }
    }
}
