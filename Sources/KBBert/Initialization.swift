import Foundation
import KBTensor

extension BertModel {
    /// HF's BERT initialization: weights N(0, std), biases 0, LayerNorm gamma 1 and beta 0.
    /// `only` restricts it to parameters whose names start with one of the prefixes.
    public mutating func initializeRandomly(seed: UInt64, std: Float = 0.02, only prefixes: [String]? = nil) {
        var rng = SplitMix64(seed: seed)
        for (name, ref) in params.entries {
            if let prefixes, !prefixes.contains(where: { name.hasPrefix($0) }) { continue }
            let v: [Float]
            if name.contains("LayerNorm.") {
                v = [Float](repeating: name.hasSuffix(".weight") ? 1 : 0, count: ref.count)
            } else if name.hasSuffix(".bias") {
                v = [Float](repeating: 0, count: ref.count)
            } else {
                v = (0..<ref.count).map { _ in rng.normal() * std }
            }
            params.set(ref, v)
        }
    }

    /// Parameters per component, in model order: embeddings, each layer's attention / FFN /
    /// LayerNorms, pooler, head.
    public var parameterBreakdown: [(component: String, count: Int)] {
        var out: [(String, Int)] = []
        func add(_ name: String, _ n: Int) {
            if let i = out.firstIndex(where: { $0.0 == name }) { out[i].1 += n } else { out.append((name, n)) }
        }
        for (name, ref) in params.entries {
            let parts = name.split(separator: ".")
            let comp: String
            if name.hasPrefix("embeddings.word") { comp = "embeddings.word" }
            else if name.hasPrefix("embeddings.") { comp = "embeddings.position+type+LayerNorm" }
            else if name.hasPrefix("encoder.layer."), parts.count > 3 {
                let l = parts[2]
                if name.contains("LayerNorm") { comp = "layer.\(l).LayerNorms" }
                else if name.contains(".attention.") { comp = "layer.\(l).attention" }
                else { comp = "layer.\(l).ffn" }
            } else { comp = String(parts[0]) }
            add(comp, ref.count)
        }
        return out
    }

    /// Forward FLOPs of the encoder's linear layers for one sequence of `seqLen` tokens
    /// (the paper's convention: 2 FLOPs per multiply-add; 21.7e9 for BERT-base at 128).
    public static func encoderLinearFLOPs(_ c: BertConfig, seqLen: Int = 128) -> Double {
        let H = Double(c.hiddenSize), I = Double(c.intermediateSize), T = Double(seqLen)
        return 2 * T * (4 * H * H + 2 * H * I) * Double(c.numHiddenLayers)
    }
}
