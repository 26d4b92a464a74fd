import Foundation
import Testing
import KBSafeTensors
import KBTensor
@testable import KBDistill

@Suite struct DistillLossTests {
    static func golden() throws -> SafeTensorsFile {
        try SafeTensorsFile(path: Bundle.module.url(forResource: "Fixtures/distill_golden.safetensors", withExtension: nil)!.path)
    }

    func close(_ a: [Float], _ b: [Float], _ tol: Float = 1e-6) -> Bool {
        a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= tol * (1 + abs($1)) }
    }

    @Test func termsMatchPyTorch() throws {
        let g = try Self.golden()
        let mask = try g.intTensor("mask").values.map { Int32($0) }
        let h = DistillLoss.hiddenMSE(student: try g.floatTensor("hidden.s").data, teacher: try g.floatTensor("hidden.t").data, mask: mask, hidden: 7)
        #expect(close([h.loss], try g.floatTensor("hidden.loss").data, 1e-5))
        #expect(close(h.grad, try g.floatTensor("hidden.grad").data))
        let a = DistillLoss.attentionMSE(student: try g.floatTensor("attn.s").data, teacher: try g.floatTensor("attn.t").data, mask: mask,
                                         batch: 3, heads: 2, seqLen: 5)
        #expect(close([a.loss], try g.floatTensor("attn.loss").data, 1e-5))
        #expect(close(a.grad, try g.floatTensor("attn.grad").data))
        let l = DistillLoss.logits(student: try g.floatTensor("logits.s").data, teacher: try g.floatTensor("logits.t").data, classes: 3, temperature: 2)
        #expect(close([l.loss], try g.floatTensor("logits.loss").data, 1e-5))
        #expect(close(l.grad, try g.floatTensor("logits.grad").data))
        let q = DistillLoss.spanLogits(student: try g.floatTensor("span.s").data, teacher: try g.floatTensor("span.t").data, mask: mask,
                                       batch: 3, temperature: 2)
        #expect(close([q.loss], try g.floatTensor("span.loss").data, 1e-5))
        #expect(close(q.grad, try g.floatTensor("span.grad").data))
    }

    /// `--logit-loss mse` on a 3-way classifier: PyTorch's `mse_loss` (mean over every element)
    /// and its gradient, which also differs from the soft cross-entropy's (the option is used).
    @Test func logitMSEMatchesPyTorch() throws {
        let g = try Self.golden()
        let s = try g.floatTensor("logits.s").data, t = try g.floatTensor("logits.t").data
        let m = DistillLoss.logits(student: s, teacher: t, classes: 3, temperature: 2, loss: .mse)
        #expect(close([m.loss], try g.floatTensor("logits.mse.loss").data, 1e-5))
        #expect(close(m.grad, try g.floatTensor("logits.mse.grad").data))
        #expect(!close(m.grad, try g.floatTensor("logits.grad").data, 1e-3))
        func f(_ x: [Double]) -> Double { zip(x, t).map { ($0 - Double($1)) * ($0 - Double($1)) }.reduce(0, +) / Double(x.count) }
        var x = s.map(Double.init)
        for k in x.indices {
            let x0 = x[k]
            x[k] = x0 + 1e-6; let up = f(x); x[k] = x0 - 1e-6; let dn = f(x); x[k] = x0
            #expect(abs((up - dn) / 2e-6 - Double(m.grad[k])) < 1e-6, "element \(k)")
        }
    }

    /// The weights' text is part of every distillation run's resume key: with the default logit
    /// loss it keeps the form checkpoints before `--logit-loss` were written with, so they resume;
    /// mse changes it; and a JSON without the field decodes to the default.
    @Test func weightsKeyKeepsItsOldForm() throws {
        var w = DistillWeights()
        w.temperature = 0.25
        #expect("\(w)" == "DistillWeights(embedding: 1.0, attention: 1.0, hidden: 1.0, logits: 1.0, supervised: 1.0, temperature: 0.25)")
        w.logitLoss = .mse
        #expect("\(w)" == "DistillWeights(embedding: 1.0, attention: 1.0, hidden: 1.0, logits: 1.0, supervised: 1.0, temperature: 0.25, logitLoss: mse)")
        let old = #"{"embedding":1,"attention":1,"hidden":0.5,"logits":1,"supervised":0,"temperature":2}"#
        let d = try JSONDecoder().decode(DistillWeights.self, from: Data(old.utf8))
        #expect(d.logitLoss == .ce && d.hidden == 0.5 && d.temperature == 2)
        let back = try JSONDecoder().decode(DistillWeights.self, from: try JSONEncoder().encode(w))
        #expect(back == w)
    }

    /// The span term's gradient by central differences in Double; padded positions get none.
    @Test func spanLogitsFiniteDifferences() throws {
        let g = try Self.golden()
        let mask = try g.intTensor("mask").values.map { Int32($0) }
        let s = try g.floatTensor("span.s").data, t = try g.floatTensor("span.t").data
        let (_, grad) = DistillLoss.spanLogits(student: s, teacher: t, mask: mask, batch: 3, temperature: 2)
        func f(_ x: [Double]) -> Double {
            var tot = 0.0
            for b in 0..<3 {
                let real = (0..<5).filter { mask[b * 5 + $0] != 0 }
                for k in 0..<2 {
                    let zs = real.map { x[(b * 5 + $0) * 2 + k] / 2 }, zt = real.map { Double(t[(b * 5 + $0) * 2 + k]) / 2 }
                    let ls = Foundation.log(zs.map(Foundation.exp).reduce(0, +)), st = zt.map(Foundation.exp).reduce(0, +)
                    for j in real.indices { tot -= Foundation.exp(zt[j]) / st * (zs[j] - ls) / 2 }
                }
            }
            return tot / 3
        }
        var x = s.map(Double.init)
        for k in x.indices {
            let x0 = x[k]
            x[k] = x0 + 1e-6; let up = f(x); x[k] = x0 - 1e-6; let dn = f(x); x[k] = x0
            #expect(abs((up - dn) / 2e-6 - Double(grad[k])) < 1e-6, "element \(k)")
        }
        #expect(grad[(1 * 5 + 4) * 2] == 0 && grad[(2 * 5 + 1) * 2 + 1] == 0)
    }

    /// Central differences in Double against the analytic gradients.
    @Test func finiteDifferences() throws {
        let g = try Self.golden()
        let mask = try g.intTensor("mask").values.map { Int32($0) }
        let s = try g.floatTensor("attn.s").data, t = try g.floatTensor("attn.t").data
        let (_, grad) = DistillLoss.attentionMSE(student: s, teacher: t, mask: mask, batch: 3, heads: 2, seqLen: 5)
        func f(_ x: [Double]) -> Double {
            var tot = 0.0, n = 0.0
            for b in 0..<3 { for h in 0..<2 { for i in 0..<5 where mask[b * 5 + i] != 0 { for j in 0..<5 where mask[b * 5 + j] != 0 {
                let k = ((b * 2 + h) * 5 + i) * 5 + j
                tot += (x[k] - Double(t[k])) * (x[k] - Double(t[k])); n += 1
            } } } }
            return tot / n
        }
        var x = s.map(Double.init)
        for k in stride(from: 0, to: s.count, by: 7) {
            let x0 = x[k]
            x[k] = x0 + 1e-6; let up = f(x); x[k] = x0 - 1e-6; let dn = f(x); x[k] = x0
            #expect(abs((up - dn) / 2e-6 - Double(grad[k])) < 1e-5, "element \(k)")
        }
        // Padded pairs carry no gradient.
        #expect(grad[((2 * 2 + 0) * 5 + 0) * 5 + 3] == 0)
    }
}

/// The blocked, parallel loss kernels against plain double loops on shapes that span several
/// blocks, with padding, and with a gradient scale.
@Suite struct DistillLossBlockTests {
    @Test func hiddenAndAttentionMSEMatchPlainLoops() {
        Threads.set(2)
        var rng = SplitMix64(seed: 11)
        func rand(_ n: Int) -> [Float] { (0..<n).map { _ in Float(Double(rng.next() >> 11) / Double(1 << 53)) * 2 - 1 } }
        let B = 3, T = 50, H = 400, NH = 2
        let lengths = [50, 31, 7]
        let mask: [Int32] = lengths.flatMap { n in (0..<T).map { $0 < n ? 1 : 0 } }
        let s = rand(B * T * H), t = rand(B * T * H)
        let h = DistillLoss.hiddenMSE(student: s, teacher: t, mask: mask, hidden: H, gradScale: 0.5)
        let n = Double(lengths.reduce(0, +) * H)
        var total = 0.0
        for i in 0..<(B * T) { for j in 0..<H {
            let d = Double(s[i * H + j]) - Double(t[i * H + j])
            let g = mask[i] != 0 ? 0.5 * 2 * d / n : 0
            if mask[i] != 0 { total += d * d }
            #expect(abs(Double(h.grad[i * H + j]) - g) < 1e-9)
        } }
        #expect(abs(Double(h.loss) - total / n) < 1e-6 * total / n)
        let sa = rand(B * NH * T * T), ta = rand(B * NH * T * T)
        let a = DistillLoss.attentionMSE(student: sa, teacher: ta, mask: mask, batch: B, heads: NH, seqLen: T, gradScale: 2)
        let na = Double(lengths.map { NH * $0 * $0 }.reduce(0, +))
        var ta2 = 0.0, worst = 0.0
        for b in 0..<B { for hh in 0..<NH { for i in 0..<T { for j in 0..<T {
            let o = ((b * NH + hh) * T + i) * T + j
            let keep = mask[b * T + i] != 0 && mask[b * T + j] != 0
            let d = Double(sa[o]) - Double(ta[o])
            if keep { ta2 += d * d }
            worst = max(worst, abs(Double(a.grad[o]) - (keep ? 2 * 2 * d / na : 0)))
        } } } }
        #expect(worst < 1e-9)
        #expect(abs(Double(a.loss) - ta2 / na) < 1e-6 * ta2 / na)
    }
}
