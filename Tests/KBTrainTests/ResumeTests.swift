import Foundation
import Testing
import KBTestSupport
import KBSafeTensors
import KBBert

/// The `kbert` binary built next to this test bundle.
func kbertBinary() -> String? {
    let dir = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
    let p = dir.appendingPathComponent("kbert").path
    return FileManager.default.isExecutableFile(atPath: p) ? p : nil
}

@discardableResult
func runKbert(_ bin: String, _ args: [String]) throws -> (status: Int32, signaled: Bool, stderr: String, stdout: String) {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: bin)
    p.arguments = args
    let err = Pipe()
    p.standardError = err
    // stdout into a file, so that neither pipe can fill while the other is drained.
    let outPath = FileManager.default.temporaryDirectory.appendingPathComponent("kbert-stdout-\(UUID().uuidString)").path
    FileManager.default.createFile(atPath: outPath, contents: nil)
    defer { try? FileManager.default.removeItem(atPath: outPath) }
    let out = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
    p.standardOutput = out
    try p.run()
    let data = err.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    try out.close()
    let stdout = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
    return (p.terminationStatus, p.terminationReason == .uncaughtSignal, String(decoding: data, as: UTF8.self), stdout)
}

/// A tiny SST-2 task and a tiny BERT folder with a vocabulary.
func tinySetup() throws -> (model: String, glue: String, root: String) {
    let root = scratchDirectory("kb-resume")
    let model = root + "/model", glue = root + "/glue"
    try FileManager.default.createDirectory(atPath: model, withIntermediateDirectories: true)
    try FileManager.default.createDirectory(atPath: glue + "/SST-2", withIntermediateDirectories: true)
    for f in ["config.json", "model.safetensors"] { try FileManager.default.copyItem(atPath: tinyCls + "/" + f, toPath: model + "/" + f) }
    let words = (0..<94).map { "w\($0)" }
    try (["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words).joined(separator: "\n").appending("\n")
        .write(toFile: model + "/vocab.txt", atomically: true, encoding: .utf8)
    var rng = SystemRandomNumberGenerator()
    _ = rng.next()
    func rows(_ n: Int, _ salt: Int) -> String {
        var s = "sentence\tlabel\n"
        for i in 0..<n {
            let len = 3 + (i * 7 + salt) % 9
            let toks = (0..<len).map { "w\(($0 * 13 + i * 5 + salt) % 94)" }
            s += toks.joined(separator: " ") + " \t\((i + salt) % 2)\n"
        }
        return s
    }
    try rows(42, 1).write(toFile: glue + "/SST-2/train.tsv", atomically: true, encoding: .utf8)
    try rows(10, 3).write(toFile: glue + "/SST-2/dev.tsv", atomically: true, encoding: .utf8)
    return (model, glue, root)
}

/// One epoch of SST-2 fine-tuning on the tiny setup (a teacher for the distillation tests).
func finetuneTiny(_ bin: String, model: String, glue: String, out: String) throws {
    let ft = try runKbert(bin, ["finetune", "--model", model, "--task", "sst2", "--data", glue, "--epochs", "1",
                                "--batch-size", "8", "--threads", "1", "--out", out, "--max-length", "16"])
    #expect(ft.status == 0, "\(ft.stderr)")
}

/// The tiny teacher (`finetuneTiny`) in root/teacher and its Kronecker student in root/student.
func tinyTeacherAndStudent(_ bin: String, model: String, glue: String, root: String) throws {
    try finetuneTiny(bin, model: model, glue: glue, out: root + "/teacher")
    let cp = try runKbert(bin, ["compress", "--model", root + "/teacher", "--out", root + "/student",
                                "--attention", "4x8", "--ffn", "37x2", "--embedding", "8"])
    #expect(cp.status == 0, "\(cp.stderr)")
}

/// Two epochs of SST-2 fine-tuning on the tiny setup, 11 steps each, a checkpoint every 3 steps
/// (the resume tests' run; add --out and the options under test).
func twoEpochFinetuneArgs(model: String, glue: String) -> [String] {
    ["finetune", "--model", model, "--task", "sst2", "--data", glue, "--epochs", "2", "--batch-size", "4",
     "--lr", "1e-3", "--save-every", "3", "--seed", "7", "--threads", "1", "--max-length", "16"]
}

/// The weights file of a run's latest checkpoint (OUT/checkpoint/model-<generation>.safetensors).
func latestCheckpointWeights(_ out: String) throws -> String {
    let st = try String(contentsOfFile: out + "/checkpoint/state.json", encoding: .utf8)
    let g = (st.split(separator: "\n").first { $0.contains("\"generation\"") } ?? "").filter(\.isNumber)
    return out + "/checkpoint/model-\(g).safetensors"
}

/// A WikiExtractor folder of 30 short documents over the tiny vocabulary.
func writeTinyWiki(_ dir: String) throws {
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    var wiki = ""
    for k in 0..<30 { wiki += "<doc id=\"\(k)\" url=\"x\" title=\"T\">\nT\n" + (0..<20).map { "w\(($0 * 7 + k) % 94)" }.joined(separator: " ") + "\n</doc>\n" }
    try wiki.write(toFile: dir + "/wiki_00", atomically: true, encoding: .utf8)
}

@Suite(.serialized) struct ResumeTests {
    /// A run SIGKILLed mid-epoch and resumed ends with the same weights (and the same losses) as
    /// an uninterrupted run.
    @Test func killedAndResumedEqualsUninterrupted() throws {
        guard let bin = kbertBinary() else { Issue.record("kbert binary not built next to the tests"); return }
        let (model, glue, root) = try tinySetup()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let common = twoEpochFinetuneArgs(model: model, glue: glue)
        let a = try runKbert(bin, common + ["--out", root + "/a"])
        #expect(a.status == 0, "uninterrupted run failed: \(a.stderr)")
        #expect(a.stderr.contains("starting a fresh head"), "a 3-way head on a 2-way task is replaced, with a note")
        let killed = try runKbert(bin, common + ["--out", root + "/b", "--debug-kill-at-step", "8"])
        #expect(killed.signaled && killed.status == 9, "the run was SIGKILLed")
        let refused = try runKbert(bin, common + ["--out", root + "/b"])
        #expect(refused.status != 0 && refused.stderr.contains("--resume"), "an existing checkpoint is not overwritten")
        let b = try runKbert(bin, common + ["--out", root + "/b", "--resume"])
        #expect(b.status == 0, "resumed run failed: \(b.stderr)")
        #expect(b.stderr.contains("resumed from step 6"))
        for f in ["model.safetensors", "config.json", "eval_results.json"] {
            let da = FileManager.default.contents(atPath: root + "/a/" + f), db = FileManager.default.contents(atPath: root + "/b/" + f)
            #expect(da != nil && da == db, "\(f) differs")
        }
        let wa = FileManager.default.contents(atPath: try latestCheckpointWeights(root + "/a"))
        let wb = FileManager.default.contents(atPath: try latestCheckpointWeights(root + "/b"))
        #expect(wa != nil && wa == wb, "final weights differ")
        let la = try String(contentsOfFile: root + "/a/log.jsonl", encoding: .utf8).split(separator: "\n")
        let lb = try String(contentsOfFile: root + "/b/log.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(la.count == 22 && lb.count == 22, "one log line per step, none duplicated by the resume")
        let loss = { (l: Substring) in l.split(separator: ",").first { $0.contains("\"loss\"") } ?? "" }
        #expect(la.map(loss) == lb.map(loss))
    }
}

extension ResumeTests {
    /// `--eval-every N` evaluates within epochs too (here steps 4, 8 | 12, 16, 20 besides the epoch
    /// ends 11 and 22), keeps the best of all of them, leaves the training itself unchanged (same
    /// final weights as a run without it), and a run killed and resumed keeps the same choice.
    @Test func evalEveryKeepsTheBestOfEveryEvaluation() throws {
        guard let bin = kbertBinary() else { Issue.record("kbert binary not built next to the tests"); return }
        let (model, glue, root) = try tinySetup()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let common = twoEpochFinetuneArgs(model: model, glue: glue)
        let plain = try runKbert(bin, common + ["--out", root + "/plain"])
        #expect(plain.status == 0, "\(plain.stderr)")
        let e = try runKbert(bin, common + ["--out", root + "/every", "--eval-every", "4"])
        #expect(e.status == 0, "\(e.stderr)")
        let mid = e.stderr.split(separator: "\n").filter { $0.hasPrefix("dev at step") }
        #expect(mid.map { $0.split(separator: " ")[3] } == ["4", "8", "12", "16", "20"], "\(e.stderr)")
        #expect(e.stderr.split(separator: "\n").filter { $0.hasPrefix("dev after epoch") }.count == 2)
        let wp = FileManager.default.contents(atPath: try latestCheckpointWeights(root + "/plain"))
        let we = FileManager.default.contents(atPath: try latestCheckpointWeights(root + "/every"))
        #expect(wp != nil && wp == we, "evaluating changed the training")
        // The kept model is the best of the seven evaluations (the first to reach it).
        let state = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: root + "/every/checkpoint/state.json"))) as! [String: Any]
        let history = state["history"] as! [[String: Double]]
        #expect(history.map { Int($0["step"]!) } == [4, 8, 11, 12, 16, 20, 22])
        let best = history.max { $0["accuracy"]! < $1["accuracy"]! || ($0["accuracy"]! == $1["accuracy"]! && $0["step"]! > $1["step"]!) }!
        let kept = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: root + "/every/eval_results.json"))) as! [String: Any]
        #expect((kept["step"] as! NSNumber).intValue == Int(best["step"]!))
        #expect(((kept["metrics"] as! [String: Double])["accuracy"]!) == best["accuracy"]!)
        // Killed after step 8 (checkpoint at step 6), resumed: the same kept model and weights.
        let killed = try runKbert(bin, common + ["--out", root + "/b", "--eval-every", "4", "--debug-kill-at-step", "8"])
        #expect(killed.signaled && killed.status == 9)
        let b = try runKbert(bin, common + ["--out", root + "/b", "--eval-every", "4", "--resume"])
        #expect(b.status == 0, "\(b.stderr)")
        for f in ["model.safetensors", "eval_results.json"] {
            let da = FileManager.default.contents(atPath: root + "/every/" + f), db = FileManager.default.contents(atPath: root + "/b/" + f)
            #expect(da != nil && da == db, "\(f) differs")
        }
        // Resuming with another --eval-every is refused; 0 is rejected.
        let other = try runKbert(bin, common + ["--out", root + "/b", "--eval-every", "5", "--resume"])
        #expect(other.status != 0 && other.stderr.contains("other settings"))
        let zero = try runKbert(bin, common + ["--out", root + "/z", "--eval-every", "0"])
        #expect(zero.status != 0 && zero.stderr.contains("--eval-every"))
    }
}

@Suite(.serialized) struct EvaluateCommandTests {
    /// `kbert evaluate --split test` writes GLUE submission lines (index, label name).
    @Test func testSplitWritesSubmission() throws {
        guard let bin = kbertBinary() else { Issue.record("kbert binary not built next to the tests"); return }
        let (model, glue, root) = try tinySetup()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try finetuneTiny(bin, model: model, glue: glue, out: root + "/ft")
        try "index\tsentence\n0\tw1 w2 w3\n1\tw4\n".write(toFile: glue + "/SST-2/test.tsv", atomically: true, encoding: .utf8)
        let ev = try runKbert(bin, ["evaluate", "--model", root + "/ft", "--task", "sst2", "--split", "test", "--data", glue,
                                    "--output", root + "/SST-2.tsv"])
        #expect(ev.status == 0, "\(ev.stderr)")
        let lines = try String(contentsOfFile: root + "/SST-2.tsv", encoding: .utf8).split(separator: "\n")
        #expect(lines.first == "index\tprediction" && lines.count == 3)
        #expect(lines.dropFirst().allSatisfy { $0.hasSuffix("\t0") || $0.hasSuffix("\t1") })
        let dev = try runKbert(bin, ["evaluate", "--model", root + "/ft", "--task", "rte", "--data", glue])
        #expect(dev.status != 0 && dev.stderr.contains("RTE/dev.tsv: no such file"), "missing data: a clear error naming the file")
    }
}

@Suite struct RunCommandTests {
    /// `kbert run --pooled-only` (the last layer for the [CLS] rows alone) writes the full run's
    /// pooled output and logits, and no last hidden state.
    @Test func pooledOnlyMatchesTheFullRun() throws {
        guard let bin = kbertBinary() else { Issue.record("kbert binary not built next to the tests"); return }
        let (model, _, root) = try tinySetup()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try "w1 w2 w3 w4 w5\nw7 w8\tw9 w10 w11\nw12\n".write(toFile: root + "/in.txt", atomically: true, encoding: .utf8)
        for (out, extra) in [("full", [String]()), ("pooled", ["--pooled-only"])] {
            let r = try runKbert(bin, ["run", "--model", model, "--input", root + "/in.txt", "--output", root + "/\(out).safetensors",
                                       "--threads", "1"] + extra)
            #expect(r.status == 0, "\(r.stderr)")
        }
        let full = try SafeTensorsFile(path: root + "/full.safetensors"), pooled = try SafeTensorsFile(path: root + "/pooled.safetensors")
        #expect(pooled.names.contains("last_hidden_state") == false && full.names.contains("last_hidden_state"))
        for name in ["pooler_output", "logits"] {
            let a = try full.floatTensor(name), b = try pooled.floatTensor(name)
            #expect(a.shape == b.shape && a.shape[0] == 3)
            #expect(zip(a.data, b.data).map { abs($0 - $1) }.max()! < 1e-5, "\(name)")
        }
    }
}

@Suite(.serialized) struct DistillCommandTests {
    /// finetune a tiny teacher -> compress -> distill --stage task: runs, logs each term, keeps a best student.
    @Test func taskDistillationEndToEnd() throws {
        guard let bin = kbertBinary() else { Issue.record("kbert binary not built next to the tests"); return }
        let (model, glue, root) = try tinySetup()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try tinyTeacherAndStudent(bin, model: model, glue: glue, root: root)
        let d = try runKbert(bin, ["distill", "--stage", "task", "--teacher", root + "/teacher", "--student", root + "/student",
                                   "--task", "sst2", "--data", glue, "--out", root + "/distilled", "--epochs", "2", "--batch-size", "8",
                                   "--threads", "1", "--max-length", "16", "--temperature", "2", "--schedule", "two-phase"])
        #expect(d.status == 0, "\(d.stderr)")
        let log = try String(contentsOfFile: root + "/distilled/log.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(log.count == 12)
        #expect(log.first!.contains("\"attention\"") && !log.first!.contains("\"logits\""), "two-phase: intermediate terms first")
        #expect(log.last!.contains("\"logits\"") && log.last!.contains("\"supervised\""), "then the prediction terms")
        #expect(FileManager.default.fileExists(atPath: root + "/distilled/model.safetensors"))
        // Intermediate weights all 0 (the "-cont" recipe): the prediction terms alone, computed
        // on the [CLS] rows of both models' last layers, none of the zero-weighted terms logged.
        let p = try runKbert(bin, ["distill", "--stage", "task", "--teacher", root + "/teacher", "--student", root + "/distilled",
                                   "--task", "sst2", "--data", glue, "--out", root + "/cont", "--epochs", "1", "--batch-size", "8",
                                   "--threads", "1", "--max-length", "16", "--schedule", "joint",
                                   "--w-embedding", "0", "--w-attention", "0", "--w-hidden", "0"])
        #expect(p.status == 0, "\(p.stderr)")
        let plog = try String(contentsOfFile: root + "/cont/log.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(!plog.isEmpty && plog.allSatisfy { $0.contains("\"logits\"") && !$0.contains("\"attention\"") && $0.contains("\"loss\"") })
        // --logit-loss mse: the same run with the logits matched by their MSE logs another logit
        // loss from the first step; an unknown loss is refused, naming the option.
        let cont = ["distill", "--stage", "task", "--teacher", root + "/teacher", "--student", root + "/distilled",
                    "--task", "sst2", "--data", glue, "--epochs", "1", "--batch-size", "8", "--threads", "1", "--max-length", "16",
                    "--schedule", "joint", "--w-embedding", "0", "--w-attention", "0", "--w-hidden", "0"]
        let m = try runKbert(bin, cont + ["--out", root + "/cont-mse", "--logit-loss", "mse"])
        #expect(m.status == 0, "\(m.stderr)")
        let mlog = try String(contentsOfFile: root + "/cont-mse/log.jsonl", encoding: .utf8).split(separator: "\n")
        func logits(_ line: Substring) throws -> Double {
            try #require((try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])?["logits"] as? Double)
        }
        let (m0, p0) = (try logits(mlog[0]), try logits(plog[0]))
        #expect(mlog.count == plog.count && m0 != p0, "\(m0) \(p0)")
        let kl = try runKbert(bin, cont + ["--out", root + "/cont-kl", "--logit-loss", "kl"])
        #expect(kl.status != 0 && kl.stderr.contains("logit-loss"), "\(kl.stderr)")
        // Stage 1 on a written WikiExtractor folder: intermediate terms only, held-out loss kept.
        try writeTinyWiki(root + "/wiki")
        let g = try runKbert(bin, ["distill", "--stage", "general", "--teacher", model, "--student", root + "/student", "--corpus", root + "/wiki",
                                   "--out", root + "/general", "--epochs", "1", "--batch-size", "4", "--max-length", "16", "--threads", "1"])
        #expect(g.status == 0, "\(g.stderr)")
        let glog = try String(contentsOfFile: root + "/general/log.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(!glog.isEmpty && glog.allSatisfy { $0.contains("\"hidden\"") && !$0.contains("\"logits\"") })
        let ev = try String(contentsOfFile: root + "/general/eval_results.json", encoding: .utf8)
        #expect(ev.contains("neg_intermediate_loss"))
    }
}

extension DistillCommandTests {
    /// Two-phase with `--prediction-lr`: each phase has its own warm-up and decay (phase 1 decays
    /// to 0 at the switch, phase 2 warms up from 0 to its own peak), and runs killed just after the
    /// switch and later in phase 2 resume to the uninterrupted run's weights (AdamW's restart and
    /// its bias-correction count survive the checkpoint).
    @Test func predictionPhaseRestartsAndResumes() throws {
        guard let bin = kbertBinary() else { Issue.record("kbert binary not built next to the tests"); return }
        let (model, glue, root) = try tinySetup()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try tinyTeacherAndStudent(bin, model: model, glue: glue, root: root)
        // 42 examples, batch 8: 6 steps per epoch, 12 in all, the prediction phase from step 6.
        func args(warmup: String = "0.34", saveEvery: String = "3") -> [String] {
            ["distill", "--stage", "task", "--teacher", root + "/teacher", "--student", root + "/student",
             "--task", "sst2", "--data", glue, "--epochs", "2", "--batch-size", "8", "--threads", "1",
             "--max-length", "16", "--lr", "1e-3", "--prediction-lr", "2e-4", "--warmup", warmup,
             "--save-every", saveEvery, "--seed", "5"]
        }
        let common = args()
        let a = try runKbert(bin, common + ["--out", root + "/a"])
        #expect(a.status == 0, "\(a.stderr)")
        let lines = try String(contentsOfFile: root + "/a/log.jsonl", encoding: .utf8).split(separator: "\n")
        let rows = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        let lrs = rows.compactMap { ($0["lr"] as? NSNumber)?.doubleValue }
        try #require(lrs.count == 12)
        // Phase 1 (6 steps, warm-up 2): 0, 5e-4, 1e-3, then down to 2.5e-4; phase 2 the same shape at 2e-4.
        let expected = [0, 5e-4, 1e-3, 7.5e-4, 5e-4, 2.5e-4, 0, 1e-4, 2e-4, 1.5e-4, 1e-4, 5e-5]
        for (x, e) in zip(lrs, expected) { #expect(abs(x - e) < 1e-9, "lr \(lrs) against \(expected)") }
        #expect(rows[5]["attention"] != nil && rows[6]["logits"] != nil && rows[6]["attention"] == nil, "the switch at step 6")
        for (dir, killAt, from) in [("b", 7, 6), ("c", 11, 9)] {
            let k = try runKbert(bin, common + ["--out", root + "/" + dir, "--debug-kill-at-step", "\(killAt)"])
            #expect(k.signaled && k.status == 9, "the run was SIGKILLed")
            let r = try runKbert(bin, common + ["--out", root + "/" + dir, "--resume"])
            #expect(r.status == 0 && r.stderr.contains("resumed from step \(from)"), "\(r.stderr)")
            let wa = FileManager.default.contents(atPath: try latestCheckpointWeights(root + "/a"))
            let wb = FileManager.default.contents(atPath: try latestCheckpointWeights(root + "/" + dir))
            #expect(wa != nil && wa == wb, "killed at step \(killAt): final weights differ from the uninterrupted run's")
        }
        // The restart itself: with no warm-up, AdamW's first update after a restart moves every
        // parameter with a gradient and no weight decay by the full rate (|m̂/√v̂| = 1); the
        // classifier bias (no gradient in phase 1) would move by about half of it with the
        // phase-1 moments and step count carried over.
        let nw = args(warmup: "0", saveEvery: "1")
        var bias: [[Float]] = []
        for (dir, killAt) in [("e", 6), ("f", 7)] {
            let k = try runKbert(bin, nw + ["--out", root + "/" + dir, "--debug-kill-at-step", "\(killAt)"])
            #expect(k.signaled, "\(k.stderr)")
            bias.append(try SafeTensorsFile(path: try latestCheckpointWeights(root + "/" + dir)).floatTensor("classifier.bias").data)
        }
        try #require(bias.count == 2 && bias[0].count == bias[1].count)
        for (x, y) in zip(bias[0], bias[1]) { #expect(abs(abs(y - x) - 2e-4) < 2e-6, "first phase-2 step moved the bias by \(y - x)") }
        let bad = try runKbert(bin, common + ["--schedule", "joint", "--out", root + "/d"])
        #expect(bad.status != 0 && bad.stderr.contains("--prediction-lr"), "only with the two-phase schedule")
    }

    /// Stage 2 from a student without the task's head: the classifier and pooler are copied from
    /// the fine-tuned teacher (checked at lr 0, where they cannot move); with every distillation
    /// weight at 0 the run trains on the labels only (the "no KD in stage 2" ablation).
    @Test func headFromTeacherAndLabelOnlyAblation() throws {
        guard let bin = kbertBinary() else { Issue.record("kbert binary not built next to the tests"); return }
        let (model, glue, root) = try tinySetup()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try finetuneTiny(bin, model: model, glue: glue, out: root + "/teacher")
        // The pre-trained tiny model has a 3-way head: not SST-2's.
        let cp = try runKbert(bin, ["compress", "--model", model, "--out", root + "/student", "--attention", "4x8", "--ffn", "37x2", "--embedding", "8", "--json"])
        #expect(cp.status == 0, "\(cp.stderr)")
        // --json names each factored matrix with its reachable rank: attention A 4×8 ⊗ B 8×4 on
        // hidden 32: min(4,8)·min(8,4) = 16; FFN W1 37×2 ⊗ 1×16: 2; embedding B 1×8: rank ≤ 32/8 = 4.
        let report = try #require(try JSONSerialization.jsonObject(with: Data(cp.stdout.utf8)) as? [String: Any], "\(cp.stdout)")
        let layers = try #require(report["layers"] as? [[String: Any]])
        let bounds = Dictionary(uniqueKeysWithValues: layers.compactMap { l in (l["name"] as? String).map { ($0, l["rank_bound"] as? Int) } })
        #expect(bounds["encoder.layer.0.attention.self.query"] == 16)
        #expect(bounds["encoder.layer.1.intermediate.dense"] == 2)
        #expect(bounds["embeddings.word_embeddings"] == 4)
        let d = try runKbert(bin, ["distill", "--stage", "task", "--teacher", root + "/teacher", "--student", root + "/student",
                                   "--task", "sst2", "--data", glue, "--out", root + "/ablation", "--epochs", "1", "--batch-size", "8",
                                   "--threads", "1", "--max-length", "16", "--lr", "0", "--w-embedding", "0", "--w-attention", "0",
                                   "--w-hidden", "0", "--w-logits", "0"])
        #expect(d.status == 0, "\(d.stderr)")
        #expect(d.stderr.contains("copying the classifier and pooler from the teacher"), "\(d.stderr)")
        #expect(d.stderr.contains("training on the labels only"), "\(d.stderr)")
        let t = try SafeTensorsFile(path: root + "/teacher/model.safetensors")
        let s = try SafeTensorsFile(path: root + "/ablation/model.safetensors")
        for name in ["classifier.weight", "classifier.bias", "bert.pooler.dense.weight"] {
            #expect(try t.floatTensor(name).data == s.floatTensor(name).data, "\(name) copied from the teacher")
        }
        let log = try String(contentsOfFile: root + "/ablation/log.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(!log.isEmpty && log.allSatisfy { !$0.contains("\"attention\"") }, "no distillation terms logged")
    }
}

@Suite(.serialized) struct CompressOptionsTests {
    /// A student whose pooler is factored (`--pooler-rank`) gets it in stage 2 from the fine-tuned
    /// dense teacher by the nearest Kronecker product: at lr 0 its pooler factors and classifier
    /// are exactly those of `compress --pooler-rank` applied to the teacher itself.
    @Test func factoredPoolerFromTheTeacher() throws {
        guard let bin = kbertBinary() else { Issue.record("kbert binary not built next to the tests"); return }
        let (model, glue, root) = try tinySetup()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try finetuneTiny(bin, model: model, glue: glue, out: root + "/teacher")
        for (src, out) in [(model, "/student"), (root + "/teacher", "/reference")] {
            let cp = try runKbert(bin, ["compress", "--model", src, "--out", root + out, "--attention", "4x8", "--pooler-rank", "2"])
            #expect(cp.status == 0, "\(cp.stderr)")
        }
        let d = try runKbert(bin, ["distill", "--stage", "task", "--teacher", root + "/teacher", "--student", root + "/student",
                                   "--task", "sst2", "--data", glue, "--out", root + "/s2", "--epochs", "1", "--batch-size", "8",
                                   "--threads", "1", "--max-length", "16", "--lr", "0"])
        #expect(d.status == 0, "\(d.stderr)")
        #expect(d.stderr.contains("copying the classifier and pooler from the teacher"), "\(d.stderr)")
        let r = try SafeTensorsFile(path: root + "/reference/model.safetensors")
        let s = try SafeTensorsFile(path: root + "/s2/model.safetensors")
        #expect(!s.names.contains { $0.hasSuffix("pooler.dense.weight") })
        for name in ["bert.pooler.dense.kron_a.0", "bert.pooler.dense.kron_a.1", "bert.pooler.dense.kron_b.0", "bert.pooler.dense.kron_b.1", "bert.pooler.dense.bias", "classifier.weight", "classifier.bias"] {
            #expect(try r.floatTensor(name).data == s.floatTensor(name).data, "\(name)")
        }
    }

    /// `compress --frequency-weighted` counts tokens on the corpus and fits the word embedding
    /// row-weighted: a larger plain error than the plain (Frobenius-optimal) fit, and a clear
    /// refusal when the plan does not factor the word embedding.
    @Test func frequencyWeightedEmbedding() throws {
        guard let bin = kbertBinary() else { Issue.record("kbert binary not built next to the tests"); return }
        let (model, _, root) = try tinySetup()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try writeTinyWiki(root + "/wiki")
        func embeddingError(_ extra: [String]) throws -> Double {
            let cp = try runKbert(bin, ["compress", "--model", model, "--out", root + "/s", "--attention", "4x8", "--embedding-rank", "2",
                                        "--json", "--threads", "1"] + extra)
            #expect(cp.status == 0, "\(cp.stderr)")
            let report = try #require(try JSONSerialization.jsonObject(with: Data(cp.stdout.utf8)) as? [String: Any], "\(cp.stdout)")
            let layers = try #require(report["layers"] as? [[String: Any]])
            let e = try #require(layers.first { $0["name"] as? String == "embeddings.word_embeddings" })
            return try #require(e["relative_error"] as? Double)
        }
        let plain = try embeddingError([])
        let weighted = try embeddingError(["--frequency-weighted", "--frequency-corpus", root + "/wiki"])
        #expect(weighted > plain + 1e-4, "plain \(plain), weighted \(weighted)")
        let bad = try runKbert(bin, ["compress", "--model", model, "--out", root + "/s2", "--attention", "4x8", "--frequency-weighted",
                                     "--frequency-corpus", root + "/wiki"])
        #expect(bad.status != 0)
        #expect(bad.stderr.contains("does not factor the word embedding"), "\(bad.stderr)")
        let missing = try runKbert(bin, ["compress", "--model", model, "--out", root + "/s3", "--embedding-rank", "2", "--frequency-weighted",
                                         "--frequency-corpus", root + "/nowhere"])
        #expect(missing.status != 0)
        #expect(missing.stderr.contains(root + "/nowhere"), "\(missing.stderr)")
    }

    /// `compress --ratio R` with explicit encoder shapes: the word embedding takes the largest
    /// rank that reaches R (stated on stderr; the student's factor reaches R); combinations that
    /// would silently ignore an option are refused with a message naming it.
    @Test func ratioWithEncoderShapesFillsTheEmbedding() throws {
        guard let bin = kbertBinary() else { Issue.record("kbert binary not built next to the tests"); return }
        let (model, _, root) = try tinySetup()
        defer { try? FileManager.default.removeItem(atPath: root) }
        let cp = try runKbert(bin, ["compress", "--model", model, "--out", root + "/s", "--attention", "8x4", "--ffn", "1x4",
                                    "--pooler-rank", "2", "--ratio", "3", "--json", "--threads", "1"])
        #expect(cp.status == 0, "\(cp.stderr)")
        #expect(cp.stderr.contains("fills ratio 3.0: attention A 8x4, ffn A 1x4, embedding rank 14, pooler rank 2"), "\(cp.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(cp.stdout.utf8)) as? [String: Any], "\(cp.stdout)")
        let cf = try #require(report["compression_factor"] as? Double)
        #expect(cf >= 3 && cf < 3.1, "\(cf)")
        let layers = try #require(report["layers"] as? [[String: Any]])
        #expect(layers.contains { $0["name"] as? String == "embeddings.word_embeddings" } && layers.contains { $0["name"] as? String == "pooler.dense" })
        for (args, message) in [(["--preset", "kb8", "--ratio", "2"], "fixed shapes"),
                                (["--attention", "8x4", "--ratio", "2", "--embedding-rank", "2"], "fills the budget"),
                                (["--preset", "tuned8", "--attention", "8x4"], "not both"),
                                (["--preset", "tuned8"], "divisible by 8"),
                                (["--attention", "8x4", "--ratio", "50"], "lighten the encoder")] {
            let bad = try runKbert(bin, ["compress", "--model", model, "--out", root + "/bad"] + args)
            #expect(bad.status != 0 && bad.stderr.contains(message), "\(args): \(bad.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: root + "/bad"))
    }
}

@Suite(.serialized) struct PipelineCommandTests {
    /// The whole pipeline on the tiny model: teacher, compress (--ratio), stage 1, stage 2, the
    /// polish phase, table (the better of the two stage-2 students on dev is the one reported).
    @Test func pipelineEndToEnd() throws {
        guard let bin = kbertBinary() else { Issue.record("kbert binary not built next to the tests"); return }
        let (model, glue, root) = try tinySetup()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try writeTinyWiki(root + "/wiki")
        let p = try runKbert(bin, ["pipeline", "--model", model, "--task", "sst2", "--data", glue, "--corpus", root + "/wiki",
                                   "--out", root + "/pipe", "--ratio", "2", "--general-tokens", "400", "--teacher-epochs", "1",
                                   "--epochs", "1", "--polish-epochs", "1", "--batch-size", "8", "--max-length", "16", "--general-max-length", "12",
                                   "--threads", "1"])
        #expect(p.status == 0, "\(p.stderr)")
        #expect(p.stderr.contains("stage 2, polish"), "\(p.stderr)")
        // Stage 1 packed its sequences at --general-max-length (batch 8 × 12 in its resume key), stage 2 at --max-length.
        let key2 = { (dir: String) throws -> String in
            let st = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: dir + "/checkpoint/state.json"))) as! [String: Any]
            return st["configHash"] as! String
        }
        let key = { (d: String) throws -> String in try key2(root + "/pipe/" + d) }
        let k1 = try key("student-general"), k2 = try key("student")
        #expect(k1.contains("|8|12|") && k2.contains("|8|16|"), "\(k1) / \(k2)")
        let results = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: root + "/pipe/results.json"))) as! [String: Any]
        #expect((results["compression_factor"] as! Double) >= 2)
        #expect(results["retention_percent"] != nil && results["speedup"] != nil)
        for d in ["teacher", "student-init", "student-general", "student", "student-polish"] {
            #expect(FileManager.default.fileExists(atPath: root + "/pipe/\(d)/model.safetensors"), "\(d)")
        }
        // The polish phase trains the prediction terms alone, and the reported student is the
        // better candidate on dev.
        let log = try String(contentsOfFile: root + "/pipe/student-polish/log.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(!log.isEmpty && log.allSatisfy { !$0.contains("\"attention\"") }, "no intermediate terms in the polish phase")
        let cands = results["candidates"] as! [[String: Any]]
        #expect(cands.count == 2)
        let score = { (c: [String: Any]) in (c["metrics"] as! [String: Double])["accuracy"]! }
        let student = results["student"] as! [String: Any]
        #expect((student["metrics"] as! [String: Double])["accuracy"]! == cands.map(score).max()!)
        #expect(cands.contains { $0["dir"] as! String == student["dir"] as! String })
        // --assistant: stage 2 distills from that model (here the first run's compressed student)
        // while the table still compares with the teacher.
        let a = try runKbert(bin, ["pipeline", "--model", model, "--task", "sst2", "--data", glue, "--out", root + "/pipe2",
                                   "--ratio", "2", "--teacher", root + "/pipe/teacher", "--general-student", root + "/pipe/student-general",
                                   "--assistant", root + "/pipe/student", "--epochs", "1", "--batch-size", "8", "--max-length", "16", "--threads", "1"])
        #expect(a.status == 0 && a.stderr.contains("from the assistant \(root)/pipe/student"), "\(a.stderr)")
        let k3 = try key2(root + "/pipe2/student")
        #expect(k3.contains("teacher=\(root)/pipe/student|"), "\(k3)")
        let r2 = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: root + "/pipe2/results.json"))) as! [String: Any]
        #expect(r2["assistant"] as? String == root + "/pipe/student" && (r2["teacher"] as! [String: Any])["dir"] as? String == root + "/pipe/teacher")
        // --assistant-ratio: the pipeline makes the assistant itself (its own compression, stage 1
        // and stage 2 from the teacher), then distills the student from it.
        let m = try runKbert(bin, ["pipeline", "--model", model, "--task", "sst2", "--data", glue, "--corpus", root + "/wiki",
                                   "--out", root + "/pipe3", "--ratio", "3", "--assistant-ratio", "1.5", "--teacher", root + "/pipe/teacher",
                                   "--general-tokens", "400", "--general-max-length", "12", "--epochs", "1", "--batch-size", "8",
                                   "--max-length", "16", "--threads", "1"])
        #expect(m.status == 0 && m.stderr.contains("from the assistant \(root)/pipe3/assistant"), "\(m.stderr)")
        for d in ["assistant-init", "assistant-general", "assistant", "student-init", "student-general", "student"] {
            #expect(FileManager.default.fileExists(atPath: root + "/pipe3/\(d)/model.safetensors"), "\(d)")
        }
        #expect(try key2(root + "/pipe3/assistant").contains("teacher=\(root)/pipe/teacher|"))
        #expect(try key2(root + "/pipe3/student").contains("teacher=\(root)/pipe3/assistant|"))
        let r3 = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: root + "/pipe3/results.json"))) as! [String: Any]
        #expect(r3["assistant"] as? String == root + "/pipe3/assistant")
        let ap = try BertModel.load(folder: root + "/pipe3/assistant").parameterCount
        let sp = try BertModel.load(folder: root + "/pipe3/student").parameterCount
        #expect(ap > sp, "the assistant (ratio 1.5) is larger than the student (ratio 3): \(ap) vs \(sp)")
        // One assistant at a time.
        let both = try runKbert(bin, ["pipeline", "--model", model, "--task", "sst2", "--data", glue, "--out", root + "/pipe4",
                                      "--ratio", "2", "--assistant", root + "/pipe/student", "--assistant-preset", "kb8"])
        #expect(both.status != 0 && both.stderr.contains("give one of --assistant DIR"), "\(both.stderr)")
    }
}
