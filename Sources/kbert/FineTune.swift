import ArgumentParser
import Foundation
import KBBert
import KBData
import KBTensor
import KBTokenizer
import KBTrain

/// The data folder: --data, else $KBERT_DATA/glue, else ../shared/data/glue.
func defaultGlueRoot(_ explicit: String?) -> String {
    if let explicit { return explicit }
    if let env = ProcessInfo.processInfo.environment["KBERT_DATA"] { return env + "/glue" }
    return FileManager.default.currentDirectoryPath + "/../shared/data/glue"
}

/// The data folder of a task: --data, else the GLUE root, or for SQuAD $KBERT_DATA/squad, else
/// ../shared/data/squad.
func defaultDataRoot(_ explicit: String?, task: String) -> String {
    guard SquadTask(name: task) != nil else { return defaultGlueRoot(explicit) }
    if let explicit { return explicit }
    if let env = ProcessInfo.processInfo.environment["KBERT_DATA"] { return env + "/squad" }
    return FileManager.default.currentDirectoryPath + "/../shared/data/squad"
}

/// `--transfer mrpc,rte`: the task names, blanks and empty items dropped.
func taskList(_ s: String?) -> [String] {
    (s ?? "").split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
}

/// Tokens per task example when --max-length is not given: 128, for SQuAD 384 (per window).
func defaultMaxLength(task: String) -> Int { SquadTask(name: task) != nil ? 384 : 128 }

/// The corpus folder: --corpus, else $KBERT_DATA/corpus/wikipedia_en, else ../shared/data/corpus/wikipedia_en.
func defaultCorpusDir(_ explicit: String?) -> String {
    if let explicit { return explicit }
    if let env = ProcessInfo.processInfo.environment["KBERT_DATA"] { return env + "/corpus/wikipedia_en" }
    return FileManager.default.currentDirectoryPath + "/../shared/data/corpus/wikipedia_en"
}

struct FineTune: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "finetune",
        abstract: "Fine-tune a BERT folder on a GLUE task or SQuAD; keep the best dev model in OUT (HF layout).",
        discussion: """
        Writes OUT/config.json, OUT/model.safetensors and the tokenizer files (best dev epoch),
        OUT/eval_results.json, OUT/log.jsonl (one JSON object per step) and OUT/checkpoint/
        (model, optimizer and RNG state, written atomically). --resume continues a killed run
        exactly where its last checkpoint left it.
        SQuAD (--task squad or squad-v2; --data a folder with train-v1.1.json and dev-v1.1.json, or
        the v2.0 files): contexts are cut into windows of --max-length tokens (default 384)
        sharing --doc-stride tokens, as Hugging Face's run_qa.py; the head is qa_outputs; dev is
        scored by the official EM/F1, and OUT/predictions.json holds the best model's answers.
        """)

    @Option(help: "Hugging Face BERT folder to start from.") var model: String
    @Option(help: "Task: cola, sst2, mrpc, stsb, qqp, mnli, mnli-mm, qnli, rte, wnli; squad, squad-v2.") var task: String
    @Option(help: "GLUE root holding the task folders (default: $KBERT_DATA/glue or ../shared/data/glue); for SQuAD the folder of its JSON files (default: $KBERT_DATA/squad).") var data: String?
    @Option(help: "Output folder.") var out: String
    @Option(help: "Epochs.") var epochs: Int = 3
    @Option(help: "Peak learning rate.") var lr: Float = 2e-5
    @Option(help: "Examples per batch.") var batchSize: Int = 32
    @Option(help: "Tokens per example (longer inputs are truncated longest_first; SQuAD: per window). Default: 128, SQuAD 384.") var maxLength: Int?
    @Option(help: "SQuAD: context tokens shared by consecutive windows.") var docStride: Int = 128
    @Option(help: "Warm-up: a fraction of the steps (< 1) or a step count.") var warmup: Double = 0.1
    @Option(help: "AdamW weight decay (not on biases and LayerNorm).") var weightDecay: Float = 0.01
    @Option(help: "Seed for the head, shuffling and dropout.") var seed: UInt64 = 42
    @Option(help: "Batches of similar length: after the shuffle, examples are sorted by length within runs of N batches, and the batches shuffled (0: plain shuffled batches, the runs before session 20; GLUE training sets pad to 1.5-3x their tokens in random batches, ~1.04x at 50: 1.4-2.4x the examples per second).") var groupByLength: Int = FineTuneConfig.defaultGroupByLength
    @Option(help: "Batches per optimizer step.") var gradAccum: Int = 1
    @Option(help: "Stop after this many optimizer steps.") var maxSteps: Int?
    @Option(help: "Checkpoint every N steps (and at each epoch end).") var saveEvery: Int = 200
    @Option(help: "Also evaluate on dev every N steps within an epoch, keeping the best model (default: at each epoch end only).") var evalEvery: Int?
    @Option(help: "Evaluate and keep an exponential moving average of the weights with this decay (e.g. 0.998; ramped up over the first updates) instead of the weights themselves.") var ema: Float?
    @Flag(help: "Continue from OUT/checkpoint.") var resume = false
    @Option(help: .hidden) var debugKillAtStep: Int?
    @OptionGroup var threads: ThreadOptions

    func run() throws {
        try threads.apply()
        var c = FineTuneConfig(task: task, modelDir: model, dataDir: defaultDataRoot(data, task: task), outDir: out)
        c.epochs = epochs; c.lr = lr; c.batchSize = batchSize; c.warmup = warmup
        c.maxLength = maxLength ?? defaultMaxLength(task: task); c.docStride = docStride
        c.weightDecay = weightDecay; c.seed = seed; c.gradAccum = gradAccum; c.maxSteps = maxSteps
        c.groupByLength = groupByLength
        c.saveEvery = saveEvery; c.debugKillAtStep = debugKillAtStep
        c.evalEvery = evalEvery
        c.emaDecay = ema
        let printer = EventPrinter()
        let tuner = try FineTuner(c, onEvent: printer.handle)
        try tuner.run(resume: resume, onEvent: printer.handle)
        printer.finish()
        if let d = FileManager.default.contents(atPath: out + "/eval_results.json") {
            print(String(decoding: d, as: UTF8.self))
        }
    }
}

/// Prints training events: notes on their own line, steps as one redrawn progress line.
final class EventPrinter {
    var lastDraw: UInt64 = 0
    var onLine = false

    func handle(_ e: TrainEvent) {
        let err = FileHandle.standardError
        switch e {
        case let .note(s):
            endLine(); err.write(Data("\(s)\n".utf8))
        case let .step(step, total, epoch, loss, lr, rate, eta, terms):
            let now = DispatchTime.now().uptimeNanoseconds
            guard now - lastDraw > 250_000_000 || step == total else { return }
            lastDraw = now
            let t = terms.map { String(format: " %@ %.4f", $0.0, $0.1) }.joined()
            let line = String(format: "\rstep %d/%d | epoch %d | loss %.4f%@ | lr %.2e | %.1f ex/s | ETA %@   ",
                              step, total, epoch, loss, t.isEmpty ? "" : " (\(t.dropFirst()))", lr, rate, formatDuration(eta))
            err.write(Data(line.utf8)); onLine = true
        case let .evaluation(epoch, step, metrics, best, endOfEpoch):
            endLine()
            let m = metrics.map { String(format: "%@ %.4f", $0.0, $0.1) }.joined(separator: ", ")
            let when = endOfEpoch ? "after epoch \(epoch) (step \(step))" : "at step \(step) (epoch \(epoch))"
            err.write(Data("dev \(when): \(m)\(best ? "  [best, saved]" : "")\n".utf8))
        case .checkpoint:
            break
        }
    }
    func endLine() { if onLine { FileHandle.standardError.write(Data("\n".utf8)); onLine = false } }
    func finish() { endLine() }
}

struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a fine-tuned folder on a GLUE split or SQuAD dev; for GLUE test, write submission predictions.",
        discussion: """
        SQuAD (--task squad or squad-v2): the model's answers to every dev question (windows of
        --max-length tokens sharing --doc-stride, the best span of at most 30 tokens among the
        20 best starts and ends, SQuAD 2.0's null answer when it scores higher) are written to
        --output (default: predictions.json in the model folder) and scored by the official
        scorer's rules: exact match and F1 in percent (v2.0 also HasAns / NoAns). With
        --predictions FILE instead of --model, scores that file of {question id: answer}.
        """)

    @Option(help: "Fine-tuned BERT folder (with a classifier, or qa_outputs for SQuAD).") var model: String?
    @Option(help: "Task name (GLUE, or squad / squad-v2).") var task: String
    @Option(help: "dev or test (SQuAD: dev).") var split: String = "dev"
    @Option(help: "GLUE root (default: $KBERT_DATA/glue or ../shared/data/glue); for SQuAD the folder of its JSON files (default: $KBERT_DATA/squad).") var data: String?
    @Option(help: "Where to write predictions (GLUE test: default <SubmissionName>.tsv in the model folder; SQuAD: default predictions.json there).") var output: String?
    @Option(help: "SQuAD: score this predictions file ({question id: answer}) instead of running a model.") var predictions: String?
    @Option(help: "Tokens per example (default 128; SQuAD: per window, default 384).") var maxLength: Int?
    @Option(help: "SQuAD: context tokens shared by consecutive windows.") var docStride: Int = 128
    @Flag(help: "Print JSON.") var json = false
    @OptionGroup var threads: ThreadOptions

    func run() throws {
        try threads.apply()
        if let squad = SquadTask(name: task) { return try runSquad(squad) }
        guard predictions == nil else { throw ValidationError("--predictions scores SQuAD answers only") }
        guard let model else { throw ValidationError("--model is required") }
        let maxLength = self.maxLength ?? 128
        let t = try GlueTask(name: task)
        guard let sp = Split(rawValue: split), sp != .train else { throw ValidationError("--split must be dev or test") }
        let tok = try BertTokenizer(folder: model)
        var m = try BertModel.load(folder: model)
        m.packForInference()
        guard case let .classification(n) = m.head, n == t.numLabels else {
            throw CLIError("\(model): needs a \(t.numLabels)-output classifier for \(t.rawValue), found \(m.head)")
        }
        let ds = try TaskDataset(examples: t.read(root: defaultGlueRoot(data), split: sp), tokenizer: tok,
                                 maxLength: min(maxLength, m.config.maxPositionEmbeddings))
        let p = try Evaluator.predict(m, ds, padId: tok.padId)
        if sp == .test {
            let path = output ?? model + "/\(t.submissionName).tsv"
            var s = "index\tprediction\n"
            for (i, e) in ds.examples.enumerated() {
                let pred = t.isRegression ? String(format: "%.3f", min(5, max(0, p.scores[i]))) : t.labels[p.classes[i]]
                s += "\(e.id)\t\(pred)\n"
            }
            try AtomicWrite.string(s, to: path)
            print("wrote \(ds.count) predictions to \(path)")
            return
        }
        let metrics = Metrics.evaluate(task: t, predictions: p.classes, scores: p.scores, examples: ds.examples)
        if json {
            print("{" + metrics.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + ", \"examples\": \(ds.count)}")
        } else {
            print("\(t.rawValue) \(sp.rawValue) (\(ds.count) examples): " + metrics.map { String(format: "%@ %.4f", $0.0, $0.1) }.joined(separator: ", "))
        }
    }

    func runSquad(_ squad: SquadTask) throws {
        guard split == "dev" else { throw ValidationError("SQuAD has a dev split only (its test set is not public)") }
        let path = defaultDataRoot(data, task: task) + "/" + squad.fileName(.dev)
        let data = try SquadDataset.read(path: path)
        let scores: SquadScores
        switch (model, predictions) {
        case let (nil, p?):
            guard let d = FileManager.default.contents(atPath: p) else { throw CLIError("\(p): no such file") }
            guard let obj = try? JSONSerialization.jsonObject(with: d), let a = obj as? [String: Any] else {
                throw CLIError("\(p): not a JSON object of question id -> answer")
            }
            var answers: [String: String] = [:]
            for (k, v) in a {
                guard let s = v as? String else { throw CLIError("\(p): the answer to '\(k)' is not a string") }
                answers[k] = s
            }
            scores = SquadMetrics.evaluate(data, predictions: answers)
        case let (m?, nil):
            let tok = try BertTokenizer(folder: m)
            var bert = try BertModel.load(folder: m)
            guard bert.head == .questionAnswering else { throw CLIError("\(m): needs a question-answering head (qa_outputs) for SQuAD, found \(bert.head)") }
            bert.packForInference()
            let fz = QAFeaturizer(maxLength: min(maxLength ?? defaultMaxLength(task: task), bert.config.maxPositionEmbeddings), docStride: docStride)
            let features = try fz.features(data.examples, tokenizer: tok, source: path)
            FileHandle.standardError.write(Data("\(squad.rawValue) dev: \(data.examples.count) questions in \(features.count) windows\n".utf8))
            let progress = Progress(total: features.count, unit: "windows")
            let r = try Evaluator.evaluateSquad(bert, data: data, features: features, padId: tok.padId) { done, _ in progress.update(done) }
            progress.finish()
            scores = r.scores
            let answers = r.predictions
            let out = output ?? m + "/predictions.json"
            let d = try JSONSerialization.data(withJSONObject: answers, options: [.sortedKeys])
            try AtomicWrite.string(String(decoding: d, as: UTF8.self), to: out)
            FileHandle.standardError.write(Data("wrote \(answers.count) answers to \(out)\n".utf8))
        default:
            throw ValidationError("SQuAD: give --model (run it) or --predictions (score a file), one of them")
        }
        let s = scores
        if s.missing > 0 { FileHandle.standardError.write(Data("\(s.missing) questions have no answer in the predictions\n".utf8)) }
        if json {
            print("{" + s.metrics.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + ", \"total\": \(s.total), \"missing\": \(s.missing)}")
        } else {
            print("\(squad.rawValue) dev (\(s.total) questions): " + s.metrics.map { String(format: "%@ %.2f", $0.0, $0.1) }.joined(separator: ", "))
        }
    }
}
