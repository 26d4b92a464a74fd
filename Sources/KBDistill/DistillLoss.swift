import Foundation
import KBLayers

/// The distillation loss terms of KroneckerBERT (PAPER.md §3), each with its value and its
/// gradient with respect to the student's tensor. Teacher tensors are constants.
///
/// Which tensors: the embedding output h_0 (after the embedding LayerNorm), every layer's output h_l
/// (after the output LayerNorm: HF's `hidden_states[l]`), every layer's pre-softmax attention scores
/// S_l = Q·Kᵀ/√d_head over all heads (before the mask), and the logits.
/// Padding: hidden-state terms average over real tokens only; attention terms over (query, key)
/// pairs that are both real tokens. Means are over the counted elements.
public enum DistillLoss {
    /// mean over real tokens t and features of (s − t)²; s, t: [B·T·H], mask: [B·T].
    public static func hiddenMSE(student s: [Float], teacher t: [Float], mask: [Int32], hidden H: Int) -> (loss: Float, grad: [Float]) {
        precondition(s.count == t.count && s.count == mask.count * H)
        let real = mask.reduce(0) { $0 + ($1 != 0 ? 1 : 0) }
        let n = Double(max(1, real * H))
        var total = 0.0
        var grad = [Float](repeating: 0, count: s.count)
        for (i, m) in mask.enumerated() where m != 0 {
            for j in 0..<H {
                let d = Double(s[i * H + j]) - Double(t[i * H + j])
                total += d * d
                grad[i * H + j] = Float(2 * d / n)
            }
        }
        return (Float(total / n), grad)
    }

    /// mean over (b, head, i, j) with tokens i and j both real of (s − t)²; s, t: [B·NH·T·T].
    public static func attentionMSE(student s: [Float], teacher t: [Float], mask: [Int32], batch B: Int, heads NH: Int, seqLen T: Int) -> (loss: Float, grad: [Float]) {
        precondition(s.count == B * NH * T * T && t.count == s.count && mask.count == B * T)
        var count = 0
        for b in 0..<B { let r = mask[(b * T)..<((b + 1) * T)].reduce(0) { $0 + ($1 != 0 ? 1 : 0) }; count += NH * r * r }
        let n = Double(max(1, count))
        var total = 0.0
        var grad = [Float](repeating: 0, count: s.count)
        for b in 0..<B { for h in 0..<NH { for i in 0..<T where mask[b * T + i] != 0 {
            let row = ((b * NH + h) * T + i) * T
            for j in 0..<T where mask[b * T + j] != 0 {
                let d = Double(s[row + j]) - Double(t[row + j])
                total += d * d
                grad[row + j] = Float(2 * d / n)
            }
        } } }
        return (Float(total / n), grad)
    }

    /// The prediction-layer loss: soft cross-entropy at temperature T for classification
    /// (`Loss.softCrossEntropy`), MSE between logits for regression (one output).
    public static func logits(student: [Float], teacher: [Float], classes C: Int, temperature T: Float) -> (loss: Float, grad: [Float]) {
        C == 1 ? Loss.mse(student, teacher) : Loss.softCrossEntropy(student: student, teacher: teacher, classes: C, temperature: T)
    }
}

/// Weights of the loss terms (default 1 each) and the temperature.
public struct DistillWeights: Sendable, Codable, Equatable {
    public var embedding: Float = 1
    public var attention: Float = 1
    public var hidden: Float = 1
    public var logits: Float = 1
    public var supervised: Float = 1
    public var temperature: Float = 1
    public init() {}
}
