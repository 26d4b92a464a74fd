import Foundation

/// Losses: value and gradient with respect to the predictions. Means are over the batch.
public enum Loss {
    /// Cross-entropy of logits [B, C] against class indices: mean_b −log softmax(z_b)[y_b].
    public static func crossEntropy(logits: [Float], labels: [Int], classes C: Int) -> (loss: Float, grad: [Float]) {
        let B = labels.count
        var grad = [Float](repeating: 0, count: B * C)
        var total = 0.0
        for b in 0..<B {
            let row = logits[(b * C)..<(b * C + C)].map(Double.init)
            let m = row.max() ?? 0
            let e = row.map { Foundation.exp($0 - m) }
            let s = e.reduce(0, +)
            total += -(row[labels[b]] - m - Foundation.log(s))
            for c in 0..<C { grad[b * C + c] = Float((e[c] / s - (c == labels[b] ? 1 : 0)) / Double(B)) }
        }
        return (Float(total / Double(B)), grad)
    }

    /// Mean squared error over all elements: mean (p − t)².
    public static func mse(_ p: [Float], _ t: [Float]) -> (loss: Float, grad: [Float]) {
        precondition(p.count == t.count)
        let n = Double(max(p.count, 1))
        var total = 0.0
        var grad = [Float](repeating: 0, count: p.count)
        for i in p.indices {
            let d = Double(p[i]) - Double(t[i])
            total += d * d
            grad[i] = Float(2 * d / n)
        }
        return (Float(total / n), grad)
    }

    /// Soft cross-entropy with temperature T between student and teacher logits [B, C]:
    /// mean_b Σ_c −softmax(t_b/T)_c · log softmax(s_b/T)_c (no T² factor; weight it yourself).
    public static func softCrossEntropy(student: [Float], teacher: [Float], classes C: Int, temperature T: Float) -> (loss: Float, grad: [Float]) {
        precondition(student.count == teacher.count && student.count % C == 0)
        let B = student.count / C
        var grad = [Float](repeating: 0, count: student.count)
        var total = 0.0
        let t = Double(T)
        for b in 0..<B {
            let s = student[(b * C)..<(b * C + C)].map { Double($0) / t }
            let q = teacher[(b * C)..<(b * C + C)].map { Double($0) / t }
            let ms = s.max() ?? 0, mq = q.max() ?? 0
            let es = s.map { Foundation.exp($0 - ms) }, eq = q.map { Foundation.exp($0 - mq) }
            let zs = es.reduce(0, +), zq = eq.reduce(0, +)
            for c in 0..<C {
                let pt = eq[c] / zq
                let logps = s[c] - ms - Foundation.log(zs)
                total += -pt * logps
                grad[b * C + c] = Float((es[c] / zs - pt) / t / Double(B))
            }
        }
        return (Float(total / Double(B)), grad)
    }

    /// Extractive question answering: logits [B, T, 2] (start, end per token) against the answer's
    /// first and last token: (CE(start) + CE(end)) / 2, each a mean over the batch of
    /// −log softmax over the sequence's real tokens (`mask` [B·T], 1 = real; padding takes no
    /// probability, so the loss does not depend on how far a batch is padded; Hugging Face's
    /// `BertForQuestionAnswering` includes padded positions in its softmax). Each (sequence,
    /// start/end) row of real tokens goes through `crossEntropy`.
    public static func spanCrossEntropy(logits: [Float], mask: [Int32], starts: [Int], ends: [Int]) -> (loss: Float, grad: [Float]) {
        let B = starts.count
        precondition(B == ends.count && B > 0 && mask.count % B == 0 && logits.count == 2 * mask.count)
        let T = mask.count / B
        var grad = [Float](repeating: 0, count: logits.count)
        var total = 0.0
        for b in 0..<B {
            let real = (0..<T).filter { mask[b * T + $0] != 0 }
            for (k, y) in [starts[b], ends[b]].enumerated() {
                guard let label = real.firstIndex(of: y) else { preconditionFailure("answer position \(y) is not a real token of sequence \(b)") }
                let r = crossEntropy(logits: real.map { logits[(b * T + $0) * 2 + k] }, labels: [label], classes: real.count)
                total += Double(r.loss) / 2
                for (j, t) in real.enumerated() { grad[(b * T + t) * 2 + k] = r.grad[j] / Float(2 * B) }
            }
        }
        return (Float(total / Double(B)), grad)
    }

    /// The soft counterpart of `spanCrossEntropy` (knowledge distillation): for start and for end,
    /// `softCrossEntropy` at temperature T between the teacher's and the student's distributions
    /// over each sequence's real tokens, averaged: mean_b (CE_start + CE_end) / 2.
    public static func spanSoftCrossEntropy(student s: [Float], teacher t: [Float], mask: [Int32], batch B: Int, temperature T: Float) -> (loss: Float, grad: [Float]) {
        precondition(B > 0 && mask.count % B == 0 && s.count == 2 * mask.count && t.count == s.count)
        let L = mask.count / B
        var grad = [Float](repeating: 0, count: s.count)
        var total = 0.0
        for b in 0..<B {
            let real = (0..<L).filter { mask[b * L + $0] != 0 }
            guard !real.isEmpty else { continue }
            for k in 0..<2 {
                let r = softCrossEntropy(student: real.map { s[(b * L + $0) * 2 + k] }, teacher: real.map { t[(b * L + $0) * 2 + k] },
                                         classes: real.count, temperature: T)
                total += Double(r.loss) / 2
                for (j, pos) in real.enumerated() { grad[(b * L + pos) * 2 + k] = r.grad[j] / Float(2 * B) }
            }
        }
        return (Float(total / Double(B)), grad)
    }
}
