import Foundation
import Testing
import KBTestSupport
import KBBert
import KBData
import KBLayers
import KBSafeTensors
import KBTensor
@testable import KBTrain

let tinyQA = repoRoot.appendingPathComponent("Tests/KBBertTests/Fixtures/tiny-qa").path

/// A tiny SQuAD v1.1 folder over the tiny vocabulary (w0 … w93): each answer is the two words after
/// the marker w0, in contexts of 20–40 words (longer than one window at --max-length 24).
func tinySquad(_ dir: String, train: Int = 24, dev: Int = 8) throws {
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    func file(_ n: Int, _ salt: Int, _ prefix: String) throws -> Data {
        var qas: [[String: Any]] = []
        var paragraphs: [[String: Any]] = []
        for i in 0..<n {
            let len = 20 + (i * 7 + salt) % 21
            var words = (0..<len).map { "w\(1 + ($0 * 11 + i * 5 + salt) % 93)" }
            let at = (i * 13 + salt) % (len - 3)
            words[at] = "w0"
            let context = words.joined(separator: " ")
            let before = words[0...at].joined(separator: " ").count + 1
            let answer = words[(at + 1)...(at + 2)].joined(separator: " ")
            qas = [["id": "\(prefix)\(i)", "question": "w\(1 + i % 9) w\(2 + i % 7)", "answers": [["text": answer, "answer_start": before]]]]
            paragraphs.append(["context": context, "qas": qas])
        }
        return try JSONSerialization.data(withJSONObject: ["version": "1.1", "data": [["title": "t", "paragraphs": paragraphs]]])
    }
    try file(train, 1, "tr").write(to: URL(fileURLWithPath: dir + "/train-v1.1.json"))
    try file(dev, 5, "dv").write(to: URL(fileURLWithPath: dir + "/dev-v1.1.json"))
}

/// The tiny model (`tinySetup`) with the tiny SQuAD folder in root/squad.
func tinySquadSetup() throws -> (model: String, squad: String, root: String) {
    let (model, _, root) = try tinySetup()
    try tinySquad(root + "/squad")
    return (model, root + "/squad", root)
}

@Suite(.serialized) struct SquadTrainTests {
    /// ∂L/∂θ of the span loss for the tiny QA model equals PyTorch autograd's (padded positions
    /// masked out of both softmaxes; tools/gen_train_golden.py).
    @Test func spanLossGradientsEqualPyTorch() throws {
        Threads.set(1)
        let model = try BertModel.load(folder: tinyQA)
        let g = try SafeTensorsFile(path: trainFixture("qa_train_golden.safetensors"))
        let starts = try g.intTensor("starts").values.map { Int($0) }, ends = try g.intTensor("ends").values.map { Int($0) }
        let input = try tinyBatch()
        var drop: DropoutState? = nil
        let (out, cache) = try model.forwardTrain(input, options: ForwardOptions(), dropout: &drop)
        let (loss, dlogits) = Loss.spanCrossEntropy(logits: out.logits!.data, mask: input.mask, starts: starts, ends: ends)
        #expect(abs(loss - (try g.floatTensor("loss").data[0])) < 1e-5)
        var grads = [Float](repeating: 0, count: model.params.count)
        grads.withUnsafeMutableBufferPointer { model.backward(cache, BertUpstream(logits: dlogits), into: $0.baseAddress!) }
        #expect(try expectGradientsMatch(model, grads, g) == 39)
    }

    /// `kbert finetune --task squad` on the tiny model: windows, a fresh qa_outputs head on a
    /// folder without one, EM/F1 on dev each epoch, the best model's answers in predictions.json,
    /// which `kbert evaluate --task squad` reproduces (from the model and from the file); a run
    /// killed and resumed ends with the same weights; task distillation into a Kronecker student.
    @Test func finetuneEvaluateAndResume() throws {
        guard let bin = kbertBinary() else { Issue.record("kbert binary not built next to the tests"); return }
        let (model, squad, root) = try tinySquadSetup()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let common = ["finetune", "--model", model, "--task", "squad", "--data", squad, "--epochs", "2", "--batch-size", "4",
                      "--lr", "1e-3", "--save-every", "3", "--seed", "7", "--threads", "1", "--max-length", "24", "--doc-stride", "8"]
        let a = try runKbert(bin, common + ["--out", root + "/a"])
        #expect(a.status == 0, "\(a.stderr)")
        #expect(a.stderr.contains("no question-answering head"), "a classifier folder gets a fresh qa_outputs head")
        #expect(a.stderr.contains("24 train questions in") && a.stderr.contains("f1 "))
        let results = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: root + "/a/eval_results.json"))) as! [String: Any]
        let metrics = results["metrics"] as! [String: Double]
        #expect(metrics["f1"] != nil && metrics["exact"] != nil && results["task"] as? String == "squad")
        let preds = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: root + "/a/predictions.json"))) as! [String: String]
        #expect(preds.count == 8)
        let ev = try runKbert(bin, ["evaluate", "--model", root + "/a", "--task", "squad", "--data", squad, "--max-length", "24",
                                    "--doc-stride", "8", "--output", root + "/p.json", "--json", "--threads", "1"])
        #expect(ev.status == 0, "\(ev.stderr)")
        let evj = try JSONSerialization.jsonObject(with: Data(ev.stdout.utf8)) as! [String: Double]
        #expect(abs(evj["f1"]! - metrics["f1"]!) < 1e-9 && abs(evj["exact"]! - metrics["exact"]!) < 1e-9)
        let again = try runKbert(bin, ["evaluate", "--task", "squad", "--data", squad, "--predictions", root + "/p.json", "--json"])
        #expect(again.stdout == ev.stdout)
        // Killed at step 7 (12 steps), resumed from the checkpoint of step 6: the same weights.
        let killed = try runKbert(bin, common + ["--out", root + "/b", "--debug-kill-at-step", "7"])
        #expect(killed.signaled)
        let b = try runKbert(bin, common + ["--out", root + "/b", "--resume"])
        #expect(b.status == 0 && b.stderr.contains("resumed from step 6"), "\(b.stderr)")
        let wa = FileManager.default.contents(atPath: try latestCheckpointWeights(root + "/a"))
        let wb = FileManager.default.contents(atPath: try latestCheckpointWeights(root + "/b"))
        #expect(wa != nil && wa == wb, "final weights differ")
        // Options that would change the windows do not resume the run.
        let other = try runKbert(bin, common.map { $0 == "8" ? "6" : $0 } + ["--out", root + "/b", "--resume"])
        #expect(other.status != 0 && other.stderr.contains("doc-stride=6"))
        // Task distillation on SQuAD: a Kronecker student of the fine-tuned model, the intermediate
        // terms, then the span terms (soft start/end distributions and the labels).
        let cp = try runKbert(bin, ["compress", "--model", root + "/a", "--out", root + "/s", "--attention", "4x8", "--ffn", "37x2", "--embedding", "8"])
        #expect(cp.status == 0, "\(cp.stderr)")
        let d = try runKbert(bin, ["distill", "--stage", "task", "--task", "squad", "--teacher", root + "/a", "--student", root + "/s",
                                   "--data", squad, "--out", root + "/d", "--epochs", "2", "--batch-size", "4", "--threads", "1",
                                   "--max-length", "24", "--doc-stride", "8"])
        #expect(d.status == 0, "\(d.stderr)")
        let log = try String(contentsOfFile: root + "/d/log.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(log.first?.contains("\"attention\"") == true && log.last?.contains("\"logits\"") == true && log.last?.contains("\"supervised\"") == true)
        #expect(FileManager.default.fileExists(atPath: root + "/d/predictions.json"))
        // A teacher without a question-answering head is refused, naming it.
        let bad = try runKbert(bin, ["distill", "--stage", "task", "--task", "squad", "--teacher", model, "--student", root + "/s",
                                     "--data", squad, "--out", root + "/e", "--max-length", "24", "--doc-stride", "8"])
        #expect(bad.status != 0 && bad.stderr.contains("question-answering head"), "\(bad.stderr)")
        // The span loss stays the soft cross-entropy: --logit-loss mse is refused on SQuAD.
        let mse = try runKbert(bin, ["distill", "--stage", "task", "--task", "squad", "--teacher", root + "/a", "--student", root + "/s",
                                     "--data", squad, "--out", root + "/f", "--max-length", "24", "--doc-stride", "8", "--logit-loss", "mse"])
        #expect(mse.status != 0 && mse.stderr.contains("--logit-loss mse"), "\(mse.stderr)")
    }

    /// `kbert pipeline --task squad` on the tiny model: the QA teacher, compression, stage 1 on
    /// --general-max-length, stage 2 on SQuAD windows, and the table compares dev F1 (in percent,
    /// not scaled again) with EM in results.json.
    @Test func pipelineOnSquad() throws {
        guard let bin = kbertBinary() else { Issue.record("kbert binary not built next to the tests"); return }
        let (model, squad, root) = try tinySquadSetup()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try writeTinyWiki(root + "/wiki")
        let p = try runKbert(bin, ["pipeline", "--model", model, "--task", "squad", "--data", squad, "--corpus", root + "/wiki",
                                   "--out", root + "/pipe", "--ratio", "2", "--general-tokens", "400", "--general-max-length", "12",
                                   "--teacher-epochs", "1", "--teacher-lr", "1e-3", "--epochs", "1", "--batch-size", "4",
                                   "--max-length", "24", "--doc-stride", "8", "--threads", "1"])
        #expect(p.status == 0, "\(p.stderr)")
        #expect(p.stdout.contains("dev f1"), "\(p.stdout)")
        let results = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: root + "/pipe/results.json"))) as! [String: Any]
        #expect(results["task"] as? String == "squad")
        let tm = (results["teacher"] as! [String: Any])["metrics"] as! [String: Double]
        let sm = (results["student"] as! [String: Any])["metrics"] as! [String: Double]
        #expect(tm["f1"] != nil && tm["exact"] != nil && sm["f1"] != nil)
        // The table prints the F1 as the evaluation gives it (percent), not times 100.
        #expect(p.stdout.contains(String(format: "%.2f", tm["f1"]!)), "\(p.stdout)")
        let st = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: root + "/pipe/student/checkpoint/state.json"))) as! [String: Any]
        #expect((st["configHash"] as! String).contains("doc-stride=8"))
        #expect(try BertModel.load(folder: root + "/pipe/student").head == .questionAnswering)
    }
}
