import Foundation
import Testing
import KBSafeTensors
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
