import Foundation
import Testing
import KBBert
import KBLayers
import KBSafeTensors
import KBTensor
import KBData
import KBTokenizer
@testable import KBTrain

let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let tinyCls = repoRoot.appendingPathComponent("Tests/KBBertTests/Fixtures/tiny-cls").path
let tinyGolden = repoRoot.appendingPathComponent("Tests/KBBertTests/Fixtures/tiny_golden.safetensors").path
func trainFixture(_ name: String) -> String { Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil)!.path }

func tinyBatch() throws -> BertInput {
    let g = try SafeTensorsFile(path: tinyGolden)
    let ids = try g.intTensor("input_ids").values.map { Int32($0) }
    let types = try g.intTensor("token_type_ids").values.map { Int32($0) }
    let mask = try g.intTensor("attention_mask").values.map { Int32($0) }
    var seqs: [[Int32]] = [], tys: [[Int32]] = []
    for b in 0..<3 {
        let n = mask[b * 7 ..< (b + 1) * 7].filter { $0 == 1 }.count
        seqs.append(Array(ids[b * 7 ..< b * 7 + n])); tys.append(Array(types[b * 7 ..< b * 7 + n]))
    }
    return BertInput(ids: seqs, typeIds: tys)
}

/// Loss and gradients of cross-entropy for the tiny classifier at its current weights.
func lossAndGrads(_ model: BertModel, _ input: BertInput, _ labels: [Int], clsOnly: Bool = false) throws -> (Float, [Float]) {
    var drop: DropoutState? = nil
    let (out, cache) = try model.forwardTrain(input, options: ForwardOptions(clsOnly: clsOnly), dropout: &drop)
    #expect(cache.clsOnly == clsOnly, "the tiny classifier qualifies for a [CLS]-only last layer")
    let (loss, dlogits) = Loss.crossEntropy(logits: out.logits!.data, labels: labels, classes: 3)
    var grads = [Float](repeating: 0, count: model.params.count)
    grads.withUnsafeMutableBufferPointer { model.backward(cache, BertUpstream(logits: dlogits), into: $0.baseAddress!) }
    return (loss, grads)
}

/// Compares every parameter's gradient with the golden file's `grad.<name>`: max |Δ| within
/// rtol 1e-4 of the tensor's scale (max |g|), plus 1e-6 for gradients that are zero in exact
/// arithmetic (the key bias: softmax is shift-invariant). Returns how many tensors it checked.
func expectGradientsMatch(_ model: BertModel, _ grads: [Float], _ g: SafeTensorsFile) throws -> Int {
    var checked = 0
    for (name, ref) in model.params.entries {
        let expected = try g.floatTensor("grad." + name)
        #expect(expected.shape == ref.shape, "\(name)")
        let ours = Array(grads[ref.offset..<(ref.offset + ref.count)])
        let scale = expected.data.map { abs($0) }.max() ?? 0
        let worst = zip(ours, expected.data).map { abs($0 - $1) }.max() ?? 0
        #expect(worst <= 1e-4 * scale + 1e-6, "\(name): max |Δ| \(worst), max |g| \(scale)")
        checked += 1
    }
    return checked
}

@Suite(.serialized) struct TrainGoldenTests {
    /// Also with the last layer computed for the [CLS] rows alone (`ForwardOptions.clsOnly`):
    /// the same gradients, since nothing else of that layer reaches the loss.
    @Test(arguments: [1, 2], [false, true])
    func everyGradientEqualsPyTorchAutograd(threads: Int, clsOnly: Bool) throws {
        Threads.set(threads)
        let model = try BertModel.load(folder: tinyCls)
        let g = try SafeTensorsFile(path: trainFixture("train_golden.safetensors"))
        let labels = try g.intTensor("labels").values.map { Int($0) }
        let (_, grads) = try lossAndGrads(model, try tinyBatch(), labels, clsOnly: clsOnly)
        #expect(try expectGradientsMatch(model, grads, g) == 41)
    }

    @Test(arguments: [false, true])
    func adamWTrajectoryEqualsPyTorch(clsOnly: Bool) throws {
        Threads.set(1)
        var model = try BertModel.load(folder: tinyCls)
        let g = try SafeTensorsFile(path: trainFixture("train_golden.safetensors"))
        let labels = try g.intTensor("labels").values.map { Int($0) }
        let ref = try g.floatTensor("losses").data
        let input = try tinyBatch()
        let entries = model.params.entries.map { (name: $0.name, offset: $0.ref.offset, count: $0.ref.count) }
        var opt = AdamW(count: model.params.count, decayMask: AdamW.decayMask(entries: entries, total: model.params.count), weightDecay: 0.01)
        let schedule = LinearSchedule(peak: 1e-3, warmup: 2, total: 10)
        for step in 0..<10 {
            var (loss, grads) = try lossAndGrads(model, input, labels, clsOnly: clsOnly)
            #expect(abs(loss - ref[step]) < 1e-4, "step \(step): loss \(loss), PyTorch \(ref[step])")
            clipGradNorm(&grads, maxNorm: 1.0)
            var p = model.params.data
            opt.update(params: &p, grads: grads, lr: schedule.lr(step: step))
            model.params.replaceAll(p)
        }
    }
}

@Suite struct AccumulationTests {
    /// Two half batches, each weighted by its share, give the full batch's gradient (dropout off).
    @Test func accumulatedHalvesEqualFullBatch() throws {
        let model = try BertModel.load(folder: tinyCls)
        let input = try tinyBatch()
        let labels = [2, 0, 1]
        let (_, full) = try lossAndGrads(model, input, labels)
        var acc = [Float](repeating: 0, count: model.params.count)
        for (idx, w) in [([0, 1], Float(2) / 3), ([2], Float(1) / 3)] {
            let sub = BertInput(ids: idx.map { b in Array(input.ids[b * 7 ..< b * 7 + 7].prefix(Int(input.mask[b * 7 ..< b * 7 + 7].reduce(0, +)))) },
                                typeIds: idx.map { b in Array(input.typeIds[b * 7 ..< b * 7 + 7].prefix(Int(input.mask[b * 7 ..< b * 7 + 7].reduce(0, +)))) })
            var drop: DropoutState? = nil
            let (out, cache) = try model.forwardTrain(sub, dropout: &drop)
            var (_, g) = Loss.crossEntropy(logits: out.logits!.data, labels: idx.map { labels[$0] }, classes: 3)
            for k in g.indices { g[k] *= w }
            acc.withUnsafeMutableBufferPointer { model.backward(cache, BertUpstream(logits: g), into: $0.baseAddress!) }
        }
        let scale = full.map { abs($0) }.max()!
        #expect(zip(full, acc).map { abs($0 - $1) }.max()! < 1e-5 * scale)
    }

    @Test func scheduleAndClipping() {
        let s = LinearSchedule(peak: 1, warmup: 2, total: 10)
        #expect([0, 1, 2, 6, 10, 11].map { s.lr(step: $0) } == [0, 0.5, 1, 0.5, 0, 0])
        var g: [Float] = [3, 4]
        #expect(clipGradNorm(&g, maxNorm: 1) == 5)
        #expect(abs(g[0] - 0.6) < 1e-6 && abs(g[1] - 0.8) < 1e-6)
        var small: [Float] = [0.3, 0.4]
        clipGradNorm(&small, maxNorm: 1)
        #expect(small == [0.3, 0.4])
    }
}

@Suite struct ResumeKeyTests {
    /// `--resume` compares folders as normalized paths: a run started with
    /// `KBERT_DATA=/work/shared/data` resumes under the fallback `../shared/data` spelling (a
    /// stage-1 run of session 21 could not), while other corpora and settings still refuse.
    @Test func corpusPathSpellings() {
        func key(_ corpus: String?, tokens: Int = 1000, lr: Float = 3e-4) -> String {
            var c = FineTuneConfig(task: "general", modelDir: "m", dataDir: "d", outDir: "o")
            c.corpusDir = corpus; c.generalTokens = tokens; c.lr = lr
            return c.resumeKey
        }
        #expect(key("/data/shared/corpus/wiki") == key("/data/main/../shared/corpus/wiki"))
        #expect(key("/data/shared/corpus/wiki") == key("/data/shared/./corpus/wiki/"))
        #expect(key("/data/shared/corpus/wiki") != key("/data/shared/corpus/wikitext"))
        #expect(key("/data/shared/corpus/wiki") != key("/data/shared/corpus/wiki", tokens: 2000))
        #expect(key("/data/shared/corpus/wiki") != key("/data/shared/corpus/wiki", lr: 5e-4))
        #expect(key("/data/shared/corpus/wiki") != key(nil))
        // The student and teacher folders the same way; a relative path stays relative.
        func folders(_ model: String, _ teacher: String) -> String {
            var c = FineTuneConfig(task: "rte", modelDir: model, dataDir: "d", outDir: "o")
            c.teacherDir = teacher
            return c.resumeKey
        }
        #expect(folders("runs/kd/s", "runs/t") == folders("./runs/kd/s/", "runs/x/../t"))
        #expect(folders("runs/kd/s", "runs/t") != folders("runs/kd/s2", "runs/t"))
        #expect(folders("runs/kd/s", "runs/t").hasPrefix("rte|runs/kd/s|"))
        #expect(FineTuneConfig.normalizedPath("../shared/./data//glue/") == "../shared/data/glue")
        #expect(FineTuneConfig.normalizedPath("/a/../../b") == "/b")
        #expect(FineTuneConfig.normalizedPath("./") == ".")
    }
}

@Suite(.serialized) struct TeacherLogitCacheTests {
    /// Task distillation with the teacher's logits cached for the prediction terms trains the
    /// student of a run with a teacher pass every step, up to float rounding: the cache computes
    /// an example's logits in a fixed chunk instead of its training batch, and the teacher's
    /// logits move in the last bits with the batch's padded length (~2e-8 on the tiny model).
    /// Checked for the two-phase schedule (the cache serves its second half) and the prediction
    /// terms alone (all of it), with augmented copies and batches grouped by length. A killed
    /// and resumed run reads the same chunks, so it stays byte-equal to an uninterrupted one
    /// (`predictionPhaseRestartsAndResumes`).
    @Test(arguments: ["two-phase", "joint"])
    func cachedLogitsTrainTheSameStudent(schedule: String) throws {
        guard let bin = kbertBinary() else { Issue.record("kbert binary not built next to the tests"); return }
        let (model, glue, root) = try tinySetup()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try tinyTeacherAndStudent(bin, model: model, glue: glue, root: root)
        var weights: [[Float]] = [], dev: [Double] = []
        for cached in [true, false] {
            var c = FineTuneConfig(task: "sst2", modelDir: root + "/student", dataDir: glue, outDir: root + "/s-\(cached)")
            c.teacherDir = root + "/teacher"; c.schedule = schedule; c.epochs = 3; c.batchSize = 4; c.maxLength = 16
            c.augment = 2; c.groupByLength = 3; c.lr = 1e-3; c.cacheTeacherLogits = cached
            if schedule == "joint" { c.distillWeights.embedding = 0; c.distillWeights.attention = 0; c.distillWeights.hidden = 0 }
            var notes: [String] = []
            let history = try FineTuner(c).run(resume: false) { if case let .note(n) = $0 { notes.append(n) } }
            #expect(notes.contains { $0.hasPrefix("teacher logits for the prediction terms") } == cached, "\(notes)")
            // Filled once, up front, with progress: the last progress note has every chunk.
            #expect(notes.contains { $0.hasPrefix("teacher logits: ") && $0.contains("/ \((42 * 3 + 3) / 4) chunks") } == cached, "\(notes)")
            dev.append(history.last?["accuracy"] ?? -1)
            let dir = root + "/s-\(cached)/checkpoint"
            let file = try #require(try FileManager.default.contentsOfDirectory(atPath: dir).first { $0.hasPrefix("model-") })
            let st = try SafeTensorsFile(path: dir + "/" + file)
            weights.append(try st.names.sorted().flatMap { try st.floatTensor($0).data })
        }
        // The cached logits themselves: every example's equals a teacher pass over a batch of its own.
        let teacher = try BertModel.load(folder: root + "/teacher")
        let tok = try BertTokenizer(folder: root + "/teacher")
        let train = try TaskDataset(examples: try GlueTask(name: "sst2").read(root: glue, split: .train), tokenizer: tok, maxLength: 16)
        var cache = TeacherLogitCache(data: train, chunkSize: 4)
        let idx = [5, 0, 17, 3, 41]
        let cached = try cache.output(for: idx, teacher: teacher, data: train, padId: tok.padId).logits!
        let t = train.tokens(idx)
        let direct = try teacher.forward(BertInput(ids: t.ids, typeIds: t.types, padId: tok.padId)).logits!
        #expect(cached.shape == direct.shape && cached.maxAbsDiff(direct) < 1e-6 && cache.teacherPasses <= idx.count)
        // Filling every chunk up front gives the same rows as computing them when first read.
        var filled = TeacherLogitCache(data: train, chunkSize: 4)
        var reported: [Int] = []
        try filled.fill(teacher: teacher, data: train, padId: tok.padId) { done, _ in reported.append(done) }
        #expect(filled.chunksLeft == 0 && filled.teacherPasses == filled.chunkCount && reported == Array(1...filled.chunkCount))
        let again = try filled.output(for: idx, teacher: teacher, data: train, padId: tok.padId).logits!
        #expect(again.data == cached.data && filled.teacherPasses == filled.chunkCount)
        #expect(weights[0].count == weights[1].count && weights[0].count > 1000)
        let scale = weights[1].map { abs($0) }.max()!
        let worst = zip(weights[0], weights[1]).map { abs($0 - $1) }.max()!
        #expect(worst < 1e-4 * scale, "max |Δ| \(worst) against max |w| \(scale)")
        #expect(dev[0] == dev[1] && dev[0] >= 0, "\(dev)")
        // One epoch of the two-phase schedule: half an epoch of prediction steps would read fewer
        // examples than the chunks hold, so no cache.
        var c = FineTuneConfig(task: "sst2", modelDir: root + "/student", dataDir: glue, outDir: root + "/s-short")
        c.teacherDir = root + "/teacher"; c.schedule = "two-phase"; c.epochs = 1; c.batchSize = 4; c.maxLength = 16; c.augment = 2
        var notes: [String] = []
        _ = try FineTuner(c).run(resume: false) { if case let .note(n) = $0 { notes.append(n) } }
        #expect(!notes.contains { $0.hasPrefix("teacher logits for the prediction terms") }, "\(notes)")
    }
}

@Suite(.serialized) struct TransferTaskTests {
    /// `--transfer`: another task's training texts join the transfer set without their labels
    /// (so only the teacher's terms train on them), are augmented with the task's own examples,
    /// change the resume key, and are refused when the forms differ, the task is the same, or
    /// there is no teacher to label them.
    @Test func otherTasksTextsJoinUnlabeled() throws {
        guard let bin = kbertBinary() else { Issue.record("kbert binary not built next to the tests"); return }
        let (model, glue, root) = try tinySetup()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try tinyTeacherAndStudent(bin, model: model, glue: glue, root: root)
        // CoLA's layout: no header; source, label, original label, sentence.
        try FileManager.default.createDirectory(atPath: glue + "/CoLA", withIntermediateDirectories: true)
        try (0..<13).map { i in "src\t\(i % 2)\t\t" + (0..<(4 + i % 5)).map { "w\(($0 * 11 + i * 3) % 94)" }.joined(separator: " ") }
            .joined(separator: "\n").appending("\n").write(toFile: glue + "/CoLA/train.tsv", atomically: true, encoding: .utf8)
        func config(_ transfer: [String], augment: Int = 0, teacher: Bool = true) -> FineTuneConfig {
            var c = FineTuneConfig(task: "sst2", modelDir: root + "/student", dataDir: glue, outDir: root + "/s")
            if teacher { c.teacherDir = root + "/teacher" }
            c.epochs = 1; c.batchSize = 4; c.maxLength = 16; c.transferTasks = transfer; c.augment = augment
            return c
        }
        var notes: [String] = []
        let t = try FineTuner(config(["cola"], augment: 2)) { if case let .note(n) = $0 { notes.append(n) } }
        let own = try GlueTask(name: "sst2").read(root: glue, split: .train)
        let cola = try GlueTask(name: "cola").read(root: glue, split: .train)
        #expect(own.count == 42 && cola.count == 13)
        #expect(t.train.count == (42 + 13) * 3, "\(t.train.count)")
        let transferred = t.train.examples[42 ..< 55]
        #expect(transferred.map(\.textA) == cola.map(\.textA))
        #expect(transferred.allSatisfy { $0.label == nil && $0.score == nil && $0.id.hasPrefix("cola-") })
        #expect(t.train.examples.prefix(42).map(\.label) == own.map(\.label))
        #expect(notes.contains { $0.contains("42 train + 13 from cola (teacher-labeled) + 110 augmented") }, "\(notes)")
        // --transfer-augment: the transfer texts get their own number of variants (0: as they are),
        // after the task's own; it changes the resume key and needs transfer tasks.
        for n in [0, 1] {
            var c = config(["cola"], augment: 2); c.transferAugment = n
            notes = []
            let ta = try FineTuner(c) { if case let .note(m) = $0 { notes.append(m) } }
            #expect(ta.train.count == 42 * 3 + 13 * (1 + n), "\(ta.train.count)")
            #expect(ta.train.examples[..<55].map(\.id) == t.train.examples[..<55].map(\.id))
            #expect(ta.train.examples[55 ..< 139].map(\.textA) == t.train.examples[55 ..< 139].map(\.textA))   // own variants unchanged
            #expect(ta.train.examples[139...].allSatisfy { $0.label == nil && $0.id.hasPrefix("cola-") }, "\(ta.train.examples[139...].map(\.id))")
            #expect(notes.contains { $0.contains("42 train + 13 from cola (teacher-labeled) + \(84 + 13 * n) augmented") }, "\(notes)")
            #expect(c.resumeKey != config(["cola"], augment: 2).resumeKey)
        }
        var noTransfer = config([], augment: 2); noTransfer.transferAugment = 0
        #expect { _ = try FineTuner(noTransfer) } throws: { "\($0)".contains("transfer augmentation") }
        #expect(config(["cola"]).resumeKey != config([]).resumeKey)
        #expect(config(["CoLA"]).resumeKey == config(["cola"]).resumeKey)   // task names as GlueTask reads them
        for (bad, message) in [(config(["mrpc"]), "single-sentence"), (config(["sst2"]), "another"), (config(["cola", "CoLA"]), "once"),
                               (config(["cola"], teacher: false), "teacher")] {
            #expect { _ = try FineTuner(bad) } throws: { "\($0)".contains(message) }
        }
        #expect(throws: (any Error).self) { _ = try FineTuner(config(["nosuchtask"])) }
        // TASK:dev: another task's dev texts (the task's own dev is refused as any own split).
        try (0..<5).map { i in "src\t\(i % 2)\t\tdev\(i) w\(i)" }.joined(separator: "\n").appending("\n")
            .write(toFile: glue + "/CoLA/dev.tsv", atomically: true, encoding: .utf8)
        let d = try FineTuner(config(["cola", "cola:dev"]))
        #expect(d.train.count == 42 + 13 + 5)
        #expect(d.train.examples[55...].map(\.textA) == (0..<5).map { "dev\($0) w\($0)" })
        #expect(d.train.examples[55...].allSatisfy { $0.label == nil && $0.id.hasPrefix("cola-dev-") })
        #expect(config(["cola:dev"]).resumeKey != config(["cola"]).resumeKey)
        #expect(config(["cola:train"]).resumeKey == config(["cola"]).resumeKey)
        for (bad, message) in [(config(["cola:test"]), "split"), (config(["cola:dev", "CoLA:Dev"]), "once"),
                               (config(["sst2:dev"]), "another"), (config(["cola:dev:x"]), "TASK:SPLIT")] {
            #expect { _ = try FineTuner(bad) } throws: { "\($0)".contains(message) }
        }
        // The CLI: a run with the transfer set distills and says what it added.
        let r = try runKbert(bin, ["distill", "--stage", "task", "--task", "sst2", "--teacher", root + "/teacher",
                                   "--student", root + "/student", "--data", glue, "--out", root + "/cli", "--transfer", "cola",
                                   "--epochs", "1", "--batch-size", "8", "--max-length", "16", "--threads", "1"])
        #expect(r.status == 0 && r.stderr.contains("+ 13 from cola"), "\(r.stderr)")
    }
}

extension TransferTaskTests {
    /// `--corpus-transfer N`: N texts drawn from the corpus join the transfer set after the
    /// augmentation (not augmented), without labels, and change the resume key; a corpus with too
    /// few sentences is an error naming it, and there must be a teacher to label them.
    @Test func corpusTextsJoinUnlabeled() throws {
        guard let bin = kbertBinary() else { Issue.record("kbert binary not built next to the tests"); return }
        let (model, glue, root) = try tinySetup()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try tinyTeacherAndStudent(bin, model: model, glue: glue, root: root)
        let wiki = root + "/wiki"
        try FileManager.default.createDirectory(atPath: wiki, withIntermediateDirectories: true)
        var text = ""
        for d in 0..<8 {
            text += "<doc id=\"\(d)\" url=\"x\" title=\"T\">\nT\n"
            text += (0..<4).map { s in "W\(d) " + (0..<5).map { "w\(($0 * 7 + s * 3 + d) % 94)" }.joined(separator: " ") + "." }.joined(separator: " ") + "\n</doc>\n"
        }
        try text.write(toFile: wiki + "/wiki_00", atomically: true, encoding: .utf8)
        func config(_ n: Int, augment: Int = 0, teacher: Bool = true) -> FineTuneConfig {
            var c = FineTuneConfig(task: "sst2", modelDir: root + "/student", dataDir: glue, outDir: root + "/s")
            if teacher { c.teacherDir = root + "/teacher" }
            c.epochs = 1; c.batchSize = 4; c.maxLength = 16; c.augment = augment
            c.corpusTransfer = n; c.transferCorpusDir = wiki
            return c
        }
        var notes: [String] = []
        let t = try FineTuner(config(9, augment: 1)) { if case let .note(n) = $0 { notes.append(n) } }
        #expect(t.train.count == 42 * 2 + 9, "\(t.train.count)")
        let drawn = t.train.examples[84...]
        #expect(drawn.allSatisfy { $0.label == nil && $0.score == nil && $0.textB == nil && $0.id.hasPrefix("corpus-") })
        #expect(Array(drawn) == WikiCorpus.transferExamples(try WikiCorpus.documents(dir: wiki), count: 9, pairs: false, seed: 42 &+ 0xC0))
        #expect(notes.contains { $0.contains("42 train + 42 augmented (teacher-labeled) + 9 from the corpus") }, "\(notes)")
        #expect(config(9).resumeKey != config(0).resumeKey && config(9).resumeKey != config(8).resumeKey)
        #expect { _ = try FineTuner(config(9, teacher: false)) } throws: { "\($0)".contains("teacher") }
        try "<doc id=\"1\" url=\"x\" title=\"T\">\nT\nshort\n</doc>\n".write(toFile: root + "/wiki_00", atomically: true, encoding: .utf8)
        var few = config(3); few.transferCorpusDir = root
        #expect { _ = try FineTuner(few) } throws: { "\($0)".contains(root) && "\($0)".contains("only 0 of the 3") }
        // The CLI.
        let r = try runKbert(bin, ["distill", "--stage", "task", "--task", "sst2", "--teacher", root + "/teacher",
                                   "--student", root + "/student", "--data", glue, "--out", root + "/cli", "--corpus-transfer", "5",
                                   "--corpus", wiki, "--epochs", "1", "--batch-size", "8", "--max-length", "16", "--threads", "1"])
        #expect(r.status == 0 && r.stderr.contains("+ 5 from the corpus"), "\(r.stderr)")
        let bad = try runKbert(bin, ["distill", "--stage", "general", "--teacher", model, "--student", root + "/student",
                                     "--corpus", wiki, "--out", root + "/g", "--corpus-transfer", "5"])
        #expect(bad.status != 0 && bad.stderr.contains("--corpus-transfer"), "\(bad.stderr)")
    }
}

@Suite struct ProgressClockTests {
    /// The progress line's rate and ETA follow the last `window` steps: a pause (or a slow spell)
    /// leaves them once it is out of the window, and a restart forgets everything before it.
    @Test func rateAndEtaFollowTheWindow() {
        final class Time { var t = 0.0 }
        let time = Time()
        var clock = ProgressClock(window: 4, now: { time.t })
        #expect(clock.examplesPerSecond == 0 && clock.eta(stepsLeft: 10) == 0)
        for _ in 0..<4 { time.t += 2; clock.tick(examples: 32) }          // 2 s a step
        #expect(abs(clock.examplesPerSecond - 16) < 1e-9 && abs(clock.eta(stepsLeft: 10) - 20) < 1e-9)
        time.t += 100; clock.tick(examples: 32)                            // paused 98 s
        #expect(abs(clock.eta(stepsLeft: 10) - (100 + 3 * 2) / 4 * 10) < 1e-9)
        for _ in 0..<4 { time.t += 1; clock.tick(examples: 32) }          // 1 s a step: the pause has left the window
        #expect(abs(clock.examplesPerSecond - 32) < 1e-9 && abs(clock.eta(stepsLeft: 7) - 7) < 1e-9)
        #expect(clock.steps == 9 && abs(clock.averageExamplesPerSecond - 9.0 * 32 / (8 + 100 + 4)) < 1e-9)
        clock.restart()
        #expect(clock.steps == 0 && clock.examplesPerSecond == 0)
        time.t += 50; clock.tick(examples: 8)
        #expect(abs(clock.examplesPerSecond - 8.0 / 50) < 1e-9)
    }
}
