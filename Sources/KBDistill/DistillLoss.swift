import CKBKernels
import Foundation
import KBLayers
import KBTensor

/// The distillation loss terms of KroneckerBERT (PAPER.md §3), each with its value and its
/// gradient with respect to the student's tensor. Teacher tensors are constants.
///
/// Which tensors: the embedding output h_0 (after the embedding LayerNorm), every layer's output h_l
/// (after the output LayerNorm: HF's `hidden_states[l]`), every layer's pre-softmax attention scores
/// S_l = Q·Kᵀ/√d_head over all heads (before the mask), and the logits.
/// Padding: hidden-state terms average over real tokens only; attention terms over (query, key)
/// pairs that are both real tokens. Means are over the counted elements.
public enum DistillLoss {
    /// mean over real tokens t and features of (s − t)²; s, t: [B·T·H], mask: [B·T]. The gradient
    /// is multiplied by `gradScale` (a term weight, a batch share) as it is written.
    public static func hiddenMSE(student s: [Float], teacher t: [Float], mask: [Int32], hidden H: Int,
                                 gradScale: Float = 1) -> (loss: Float, grad: [Float]) {
        precondition(s.count == t.count && s.count == mask.count * H)
        let real = mask.reduce(0) { $0 + ($1 != 0 ? 1 : 0) }
        let n = Double(max(1, real * H))
        let rows = mask.count
        let chunk = max(1, 16384 / max(1, H))
        var partial = [Double](repeating: 0, count: (rows + chunk - 1) / chunk)
        let grad = [Float](unsafeUninitializedCapacity: s.count) { g, done in
            s.withUnsafeBufferPointer { sp in t.withUnsafeBufferPointer { tp in mask.withUnsafeBufferPointer { mp in
                partial.withUnsafeMutableBufferPointer { pp in
                    let gp = g.baseAddress!, ps = pp.baseAddress!
                    parallelChunks(pp.count, minPerThread: 1) { blocks in
                        for k in blocks {
                            let r0 = k * chunk, nr = min(chunk, rows - r0)
                            ps[k] = kb_masked_sqdiff(sp.baseAddress! + r0 * H, tp.baseAddress! + r0 * H, gp + r0 * H, nr, H,
                                                     mp.baseAddress! + r0, nil, Float(2 / n) * gradScale)
                        }
                    }
                }
            } } }
            done = s.count
        }
        return (Float(partial.reduce(0, +) / n), grad)
    }

    /// mean over (b, head, i, j) with tokens i and j both real of (s − t)²; s, t: [B·NH·T·T]. The
    /// gradient is multiplied by `gradScale` as it is written.
    public static func attentionMSE(student s: [Float], teacher t: [Float], mask: [Int32], batch B: Int, heads NH: Int, seqLen T: Int,
                                    gradScale: Float = 1) -> (loss: Float, grad: [Float]) {
        precondition(s.count == B * NH * T * T && t.count == s.count && mask.count == B * T)
        var count = 0
        for b in 0..<B { let r = mask[(b * T)..<((b + 1) * T)].reduce(0) { $0 + ($1 != 0 ? 1 : 0) }; count += NH * r * r }
        let n = Double(max(1, count))
        let keep = mask.map { $0 != 0 ? Float(1) : 0 }
        var partial = [Double](repeating: 0, count: B * NH)
        let grad = [Float](unsafeUninitializedCapacity: s.count) { g, done in
            s.withUnsafeBufferPointer { sp in t.withUnsafeBufferPointer { tp in mask.withUnsafeBufferPointer { mp in
                keep.withUnsafeBufferPointer { kp in partial.withUnsafeMutableBufferPointer { pp in
                    let gp = g.baseAddress!, ps = pp.baseAddress!
                    parallelChunks(B * NH, minPerThread: 1) { blocks in
                        for bh in blocks {
                            let b = bh / NH, o = bh * T * T
                            ps[bh] = kb_masked_sqdiff(sp.baseAddress! + o, tp.baseAddress! + o, gp + o, T, T,
                                                      mp.baseAddress! + b * T, kp.baseAddress! + b * T, Float(2 / n) * gradScale)
                        }
                    }
                } }
            } } }
            done = s.count
        }
        return (Float(partial.reduce(0, +) / n), grad)
    }

    /// The prediction-layer loss: soft cross-entropy at temperature T for classification
    /// (`Loss.softCrossEntropy`), or with `.mse` the mean squared error between the logits (Kim et
    /// al. 2021: it matches the teacher's margins, which a near-uniform soft label barely
    /// constrains); always MSE for regression (one output).
    public static func logits(student: [Float], teacher: [Float], classes C: Int, temperature T: Float,
                              loss: DistillWeights.LogitLoss = .ce) -> (loss: Float, grad: [Float]) {
        C == 1 || loss == .mse ? Loss.mse(student, teacher) : Loss.softCrossEntropy(student: student, teacher: teacher, classes: C, temperature: T)
    }

    /// The prediction-layer loss of extractive question answering: logits [B, T, 2] (start, end per
    /// token), the soft cross-entropy at temperature T over each sequence's real tokens
    /// (`Loss.spanSoftCrossEntropy`).
    public static func spanLogits(student: [Float], teacher: [Float], mask: [Int32], batch B: Int, temperature T: Float) -> (loss: Float, grad: [Float]) {
        Loss.spanSoftCrossEntropy(student: student, teacher: teacher, mask: mask, batch: B, temperature: T)
    }
}

/// Weights of the loss terms (default 1 each), the temperature, and the classification logit loss.
public struct DistillWeights: Sendable, Codable, Equatable, CustomStringConvertible {
    /// The prediction-layer loss of a classifier: soft cross-entropy at the temperature (the
    /// paper's), or the MSE between the logits.
    public enum LogitLoss: String, Sendable, Codable, CaseIterable { case ce, mse }
    public var embedding: Float = 1
    public var attention: Float = 1
    public var hidden: Float = 1
    public var logits: Float = 1
    public var supervised: Float = 1
    public var temperature: Float = 1
    public var logitLoss: LogitLoss = .ce
    public init() {}
    /// Whether any intermediate term (embedding output, attention scores, layer outputs) is weighted.
    public var hasIntermediate: Bool { embedding != 0 || attention != 0 || hidden != 0 }

    /// Part of a run's resume key: the form runs before `logitLoss` existed were written with,
    /// extended only when the logit loss is not the default, so that their checkpoints still resume.
    public var description: String {
        "DistillWeights(embedding: \(embedding), attention: \(attention), hidden: \(hidden), logits: \(logits), "
            + "supervised: \(supervised), temperature: \(temperature)\(logitLoss == .ce ? "" : ", logitLoss: \(logitLoss.rawValue)"))"
    }

    enum CodingKeys: String, CodingKey { case embedding, attention, hidden, logits, supervised, temperature, logitLoss }
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        embedding = try c.decode(Float.self, forKey: .embedding)
        attention = try c.decode(Float.self, forKey: .attention)
        hidden = try c.decode(Float.self, forKey: .hidden)
        logits = try c.decode(Float.self, forKey: .logits)
        supervised = try c.decode(Float.self, forKey: .supervised)
        temperature = try c.decode(Float.self, forKey: .temperature)
        logitLoss = try c.decodeIfPresent(LogitLoss.self, forKey: .logitLoss) ?? .ce
    }
}
