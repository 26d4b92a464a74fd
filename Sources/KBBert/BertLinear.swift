import KBLayers
import KBTensor

extension BertModel {
    /// y = x · Wᵀ (+ b with `withBias`) for a dense or Kronecker-factored linear. `ldOut` is the
    /// row stride of y (a view into a wider matrix). `epilogue` runs on every range of finished
    /// rows: block by block while they are in cache on the Kronecker per-token paths, once over
    /// all rows otherwise.
    /// `packs`: the packed weights to use (a training step's), default the model's `packed`.
    func linearForward(_ l: LinearRef, _ x: UnsafePointer<Float>, rows: Int, P: UnsafePointer<Float>, withBias: Bool,
                       out: UnsafeMutablePointer<Float>, ldOut: Int? = nil, packs: [Int: PackedWeight]? = nil,
                       epilogue: ((Range<Int>) -> Void)? = nil) {
        let bias: UnsafePointer<Float>? = withBias ? P + l.bias.offset : nil
        let table = packs ?? packed
        if let w = l.weight {
            Linear.forward(x, rows: rows, inF: l.inFeatures, outF: l.outFeatures, weight: P + w.offset, bias: bias, out: out,
                           ldOut: ldOut, packed: table[w.offset])
            epilogue?(0..<rows)
            return
        }
        let k = l.kron!
        k.layer.forward(x, rows: rows, a: P + k.a.offset, b: P + k.b.offset, bias: bias, out: out, ldOut: ldOut,
                        packed: packedFactors(k, table), epilogue: epilogue)
    }

    /// The packed factors of a Kronecker layer (`packForInference`), or nil when none are packed.
    func packedFactors(_ k: KronRef, _ packed: [Int: PackedWeight]) -> PackedFactors? {
        if packed.isEmpty { return nil }
        let s = k.layer.shape, r = k.layer.rank
        let f = PackedFactors(a: (0..<r).map { packed[k.a.offset + $0 * s.m1 * s.n1] },
                              b: (0..<r).map { packed[k.b.offset + $0 * s.m2 * s.n2] })
        return f.a.allSatisfy { $0 == nil } && f.b.allSatisfy { $0 == nil } ? nil : f
    }

    /// Accumulates ∂L/∂W (or ∂L/∂A, ∂L/∂B) and ∂L/∂b into `G`; dx (= or +=) ∂L/∂x.
    func linearBackward(_ l: LinearRef, _ x: UnsafePointer<Float>, dy: UnsafePointer<Float>, rows: Int, P: UnsafePointer<Float>,
                        G: UnsafeMutablePointer<Float>, dx: UnsafeMutablePointer<Float>?, accumulate: Bool = false, ldDy: Int? = nil,
                        packs: [Int: PackedWeight] = [:], packsT: [Int: PackedWeight] = [:]) {
        if let w = l.weight {
            Linear.backward(x, dy: dy, rows: rows, inF: l.inFeatures, outF: l.outFeatures, weight: P + w.offset,
                            dWeight: G + w.offset, dBias: G + l.bias.offset, dx: dx, accumulate: accumulate, ldDy: ldDy,
                            packedT: packsT[w.offset])
            return
        }
        let k = l.kron!
        let ld = ldDy ?? l.outFeatures
        var g = dy
        let tmp = FloatBuffer(count: ld == l.outFeatures ? 0 : rows * l.outFeatures, zeroed: false)
        if ld != l.outFeatures {
            for r in 0..<rows { (tmp.ptr + r * l.outFeatures).update(from: dy + r * ld, count: l.outFeatures) }
            g = UnsafePointer(tmp.ptr)
        }
        k.layer.backward(x, dy: g, rows: rows, a: P + k.a.offset, b: P + k.b.offset, dA: G + k.a.offset, dB: G + k.b.offset,
                         dBias: G + l.bias.offset, dx: dx, accumulate: accumulate,
                         packed: packedFactors(k, packs), packedT: packedFactors(k, packsT))
    }

    /// Word-embedding rows for token ids: a gather (dense) or A[id] ⊗ B (factored).   [N, H]
    func wordEmbeddingForward(_ ids: [Int32], P: UnsafePointer<Float>, out: UnsafeMutablePointer<Float>) {
        let H = config.hiddenSize
        ids.withUnsafeBufferPointer { idp in
            if let w = wordEmbeddings {
                for (i, id) in idp.enumerated() { (out + i * H).update(from: P + w.offset + Int(id) * H, count: H) }
            } else if let k = wordKron {
                k.embedding.forward(ids: idp, a: P + k.a.offset, b: P + k.b.offset, out: out)
            }
        }
    }

    /// Rows 0..<T of the position embedding (dense, or A[t] ⊗ B when factored).   [T, H]
    func positionTable(_ T: Int, P: UnsafePointer<Float>) -> FloatBuffer {
        let H = config.hiddenSize
        let out = FloatBuffer(count: T * H, zeroed: false)
        if let w = positionEmbeddings {
            out.ptr.update(from: P + w.offset, count: T * H)
        } else if let k = positionKron {
            let ids = (0..<T).map(Int32.init)
            ids.withUnsafeBufferPointer { k.embedding.forward(ids: $0, a: P + k.a.offset, b: P + k.b.offset, out: out.ptr) }
        }
        return out
    }

    /// Accumulates ∂L/∂(position rows 0..<T) into the dense table or its factors.
    func positionBackward(_ dPos: UnsafePointer<Float>, _ T: Int, P: UnsafePointer<Float>, G: UnsafeMutablePointer<Float>) {
        let H = config.hiddenSize
        if let w = positionEmbeddings {
            Kernels.add(G + w.offset, dPos, count: T * H)
        } else if let k = positionKron {
            let ids = (0..<T).map(Int32.init)
            ids.withUnsafeBufferPointer {
                k.embedding.backward(ids: $0, dy: dPos, a: P + k.a.offset, b: P + k.b.offset, dA: G + k.a.offset, dB: G + k.b.offset)
            }
        }
    }

    func wordEmbeddingBackward(_ ids: [Int32], dy: UnsafePointer<Float>, P: UnsafePointer<Float>, G: UnsafeMutablePointer<Float>) {
        ids.withUnsafeBufferPointer { idp in
            if let w = wordEmbeddings {
                EmbeddingGrad.scatterAdd(ids: idp, dy: dy, cols: config.hiddenSize, dTable: G + w.offset)
            } else if let k = wordKron {
                k.embedding.backward(ids: idp, dy: dy, a: P + k.a.offset, b: P + k.b.offset, dA: G + k.a.offset, dB: G + k.b.offset)
            }
        }
    }
}
