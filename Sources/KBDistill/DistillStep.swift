import KBBert
import KBLayers

/// Which terms a distillation step uses.
public struct DistillTerms: Sendable, Equatable {
    /// Embedding output, attention scores and layer outputs (stage 1 and stage 2).
    public var intermediate = true
    /// Soft logits against the teacher (stage 2).
    public var prediction = false
    /// Cross-entropy / MSE against the labels (stage 2).
    public var supervised = false
    public init(intermediate: Bool = true, prediction: Bool = false, supervised: Bool = false) {
        self.intermediate = intermediate; self.prediction = prediction; self.supervised = supervised
    }
}

/// One distillation step's losses, each named, and the gradients they send into the student.
public struct DistillResult {
    /// Weighted total (`gradScale` applies to the gradients only).
    public var total: Float
    /// Unweighted value of each term: "embedding", "attention", "hidden", "logits", "supervised".
    public var terms: [(String, Float)]
    /// Gradients for `BertModel.backward` (weights applied).
    public var upstream: BertUpstream
}

/// Combines teacher and student outputs of one batch into the KroneckerBERT loss
/// (PAPER.md §3): the student keeps the teacher's depth and widths, so layer l maps to layer l.
/// Both forward passes must be run with `hiddenStates` and `attentionScores`.
/// `gradScale` multiplies every gradient as it is written (a batch's share of an accumulated group);
/// `labeled` marks the rows the supervised term sees (nil: all). Question answering (logits
/// [B, T, 2]): the prediction term is `DistillLoss.spanLogits` and the supervised one
/// `Loss.spanCrossEntropy` against `starts` / `ends`.
public enum DistillStep {
    public static func compute(teacher t: BertOutput, student s: BertOutput, input: BertInput, heads NH: Int,
                               weights w: DistillWeights, terms: DistillTerms,
                               labels: [Int]? = nil, targets: [Float]? = nil, labeled: [Bool]? = nil,
                               starts: [Int]? = nil, ends: [Int]? = nil,
                               gradScale: Float = 1) -> DistillResult {
        let B = input.batch, T = input.seqLen
        var up = BertUpstream()
        var named: [(String, Float)] = []
        var total: Float = 0
        if terms.intermediate, let th = t.hiddenStates, let sh = s.hiddenStates, let ts = t.attentionScores, let ss = s.attentionScores {
            let H = th[0].shape[2]
            let e = DistillLoss.hiddenMSE(student: sh[0].data, teacher: th[0].data, mask: input.mask, hidden: H,
                                          gradScale: w.embedding * gradScale)
            named.append(("embedding", e.loss)); total += w.embedding * e.loss
            up.hidden[0] = e.grad
            var attn: Float = 0, hid: Float = 0
            for l in 0..<min(ts.count, ss.count) {
                let a = DistillLoss.attentionMSE(student: ss[l].data, teacher: ts[l].data, mask: input.mask, batch: B, heads: NH, seqLen: T,
                                                 gradScale: w.attention * gradScale)
                attn += a.loss
                up.scores[l] = a.grad
                let h = DistillLoss.hiddenMSE(student: sh[l + 1].data, teacher: th[l + 1].data, mask: input.mask, hidden: H,
                                              gradScale: w.hidden * gradScale)
                hid += h.loss
                up.hidden[l + 1] = h.grad
            }
            named.append(("attention", attn)); total += w.attention * attn
            named.append(("hidden", hid)); total += w.hidden * hid
        }
        var dLogits: [Float]? = nil
        if terms.prediction, let tl = t.logits, let sl = s.logits {
            let C = sl.shape.last ?? 1
            let r = sl.shape.count == 3
                ? DistillLoss.spanLogits(student: sl.data, teacher: tl.data, mask: input.mask, batch: B, temperature: w.temperature)
                : DistillLoss.logits(student: sl.data, teacher: tl.data, classes: C, temperature: w.temperature, loss: w.logitLoss)
            named.append(("logits", r.loss)); total += w.logits * r.loss
            dLogits = r.grad.map { $0 * w.logits * gradScale }
        }
        if terms.supervised, let sl = s.logits {
            // Question answering (logits [B, T, 2]) against the answer spans, when given; otherwise
            // cross-entropy / MSE against the labels.
            let r: (loss: Float, grad: [Float])?
            if sl.shape.count == 3 {
                r = starts.flatMap { st in ends.map { Loss.spanCrossEntropy(logits: sl.data, mask: input.mask, starts: st, ends: $0) } }
            } else {
                r = supervised(logits: sl.data, classes: sl.shape.last ?? 1, labels: labels, targets: targets, labeled: labeled)
            }
            if let r {
                named.append(("supervised", r.loss)); total += w.supervised * r.loss
                let g = r.grad.map { $0 * w.supervised * gradScale }
                dLogits = dLogits.map { zip($0, g).map { $0 + $1 } } ?? g
            }
        }
        up.logits = dLogits
        return DistillResult(total: total, terms: named, upstream: up)
    }

    /// The supervised term over the labeled rows only (all, unless `labeled` says otherwise:
    /// augmented examples have no label): cross-entropy against `labels`, or MSE against `targets`
    /// for one output; the loss is the labeled rows' mean and the other rows get no gradient.
    public static func supervised(logits: [Float], classes C: Int, labels: [Int]?, targets: [Float]?,
                                  labeled: [Bool]?) -> (loss: Float, grad: [Float]) {
        let B = logits.count / max(C, 1)
        let rows = (0..<B).filter { labeled?[$0] ?? true }
        var r: (loss: Float, grad: [Float]) = (0, [Float](repeating: 0, count: logits.count))
        guard !rows.isEmpty else { return r }
        let sub = rows.count == B ? logits : rows.flatMap { logits[($0 * C)..<($0 * C + C)] }
        var part: (loss: Float, grad: [Float])? = nil
        if C == 1, let targets { part = Loss.mse(sub, rows.map { targets[$0] }) }
        else if let labels { part = Loss.crossEntropy(logits: sub, labels: rows.map { labels[$0] }, classes: C) }
        guard let part else { return r }
        r.loss = part.loss
        for (j, b) in rows.enumerated() { for c in 0..<C { r.grad[b * C + c] = part.grad[j * C + c] } }
        return r
    }
}
