import Foundation
import Testing
import KBBert
import KBCompress
import KBLayers
import KBTensor
@testable import KBDistill

let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let tinyCls = repoRoot.appendingPathComponent("Tests/KBBertTests/Fixtures/tiny-cls").path

@Suite struct DistillStepTests {
    static let input = BertInput(ids: [[5, 8, 13, 21, 34, 2], [3, 1, 4]], typeIds: [[0, 0, 0, 1, 1, 1], [0, 1, 1]])
    static let all = ForwardOptions(hiddenStates: true, attentionScores: true)

    func totalLoss(_ student: BertModel, _ teacherOut: BertOutput, _ w: DistillWeights) throws -> (Float, DistillResult, BertCache) {
        var drop: DropoutState? = nil
        let (out, cache) = try student.forwardTrain(Self.input, options: Self.all, dropout: &drop)
        let r = DistillStep.compute(teacher: teacherOut, student: out, input: Self.input, heads: student.config.numAttentionHeads,
                                    weights: w, terms: DistillTerms(intermediate: true, prediction: true, supervised: true), labels: [2, 0])
        return (r.total, r, cache)
    }

    @Test func identicalStudentHasZeroIntermediateLoss() throws {
        let teacher = try BertModel.load(folder: tinyCls)
        let t = try teacher.forward(Self.input, options: Self.all)
        let (_, r, _) = try totalLoss(teacher, t, DistillWeights())
        let terms = Dictionary(uniqueKeysWithValues: r.terms)
        #expect(terms["embedding"]! < 1e-10 && terms["attention"]! < 1e-10 && terms["hidden"]! < 1e-10)
        #expect(terms.keys.sorted() == ["attention", "embedding", "hidden", "logits", "supervised"])
    }

    /// The gradient of the whole distillation loss through a Kronecker student, checked along a
    /// random direction in parameter space by central differences.
    @Test func endToEndGradientAlongARandomDirection() throws {
        let teacher = try BertModel.load(folder: tinyCls)
        let specs = try CompressionPlan(attention: (4, 8), ffn: (37, 2), embedding: 8).specs(for: teacher.config)
        var (student, _) = try Compressor.compress(teacher, specs: specs)
        let t = try teacher.forward(Self.input, options: Self.all)
        var w = DistillWeights(); w.temperature = 2; w.attention = 0.5
        let (_, r, cache) = try totalLoss(student, t, w)
        var grads = [Float](repeating: 0, count: student.params.count)
        grads.withUnsafeMutableBufferPointer { student.backward(cache, r.upstream, into: $0.baseAddress!) }
        var rng = SplitMix64(seed: 9)
        let dir = (0..<student.params.count).map { _ in rng.normal() }
        let analytic = zip(grads, dir).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
        let base = student.params.data
        let eps: Float = 1e-3
        student.params.replaceAll(zip(base, dir).map { $0 + eps * $1 })
        let up = try totalLoss(student, t, w).0
        student.params.replaceAll(zip(base, dir).map { $0 - eps * $1 })
        let down = try totalLoss(student, t, w).0
        let numeric = Double(up - down) / Double(2 * eps)
        print("distillation directional derivative: numeric \(numeric), analytic \(analytic)")
        #expect(abs(numeric - analytic) <= 2e-3 * abs(analytic) + 1e-4, "numeric \(numeric) vs analytic \(analytic)")
    }
}

@Suite struct SupervisedTermTests {
    @Test func unlabeledRowsAreLeftOut() {
        let logits: [Float] = [0.3, -1.2, 2.0, 0.5, 0.1, -0.4, 1.5, 1.5, -2.0, 0.0, 0.7, 0.2]   // 4 rows × 3 classes
        let labels = [2, 0, 1, 0]
        let some = DistillStep.supervised(logits: logits, classes: 3, labels: labels, targets: nil, labeled: [true, false, true, false])
        let ref = Loss.crossEntropy(logits: [0.3, -1.2, 2.0, 1.5, 1.5, -2.0], labels: [2, 1], classes: 3)
        #expect(abs(some.loss - ref.loss) < 1e-6)
        #expect(Array(some.grad[0..<3]) == Array(ref.grad[0..<3]) && Array(some.grad[6..<9]) == Array(ref.grad[3..<6]))
        #expect(some.grad[3..<6].allSatisfy { $0 == 0 } && some.grad[9..<12].allSatisfy { $0 == 0 })
        let all = DistillStep.supervised(logits: logits, classes: 3, labels: labels, targets: nil, labeled: nil)
        let full = Loss.crossEntropy(logits: logits, labels: labels, classes: 3)
        #expect(all.loss == full.loss && all.grad == full.grad)
        let none = DistillStep.supervised(logits: logits, classes: 3, labels: labels, targets: nil, labeled: [false, false, false, false])
        #expect(none.loss == 0 && none.grad.allSatisfy { $0 == 0 })
        let reg = DistillStep.supervised(logits: [1, 2, 3], classes: 1, labels: nil, targets: [0, 0, 1], labeled: [false, true, true])
        #expect(abs(reg.loss - (4 + 4) / 2) < 1e-6 && reg.grad[0] == 0 && abs(reg.grad[1] - 2) < 1e-6)
    }
}
