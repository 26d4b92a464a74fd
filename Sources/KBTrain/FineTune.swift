import Foundation
import KBBert
import KBCompress
import KBData
import KBDistill
import KBLayers
import KBSafeTensors
import KBTensor
import KBTokenizer

/// Settings of a fine-tuning run (`kbert finetune`).
public struct FineTuneConfig: Codable, Sendable {
    public var task: String
    public var modelDir: String
    public var dataDir: String
    public var outDir: String
    public var epochs: Int = 3
    public var lr: Float = 2e-5
    public var batchSize: Int = 32
    public var maxLength: Int = 128
    /// A fraction of the total steps when below 1, else a step count.
    public var warmup: Double = 0.1
    public var weightDecay: Float = 0.01
    public var seed: UInt64 = 42
    public var maxSteps: Int? = nil
    public var saveEvery: Int = 200
    public var gradAccum: Int = 1
    public var clipNorm: Float = 1.0
    /// Abort when the loss exceeds this (an exploding run), or is NaN / infinite.
    public var maxLoss: Float = 1e4
    /// Test hook: SIGKILL the process right after this optimizer step.
    public var debugKillAtStep: Int? = nil
    /// Task distillation (stage 2): the fine-tuned teacher; `modelDir` is then the student.
    public var teacherDir: String? = nil
    /// "joint" (the paper: intermediate + prediction + supervised every step) or "two-phase"
    /// (intermediate terms for the first half of the steps, then prediction + supervised).
    public var schedule: String = "joint"
    /// Two-phase only: when set, the prediction phase is a fresh optimisation at this peak rate:
    /// each phase has its own warm-up (the `warmup` fraction of its steps) and linear decay to 0,
    /// and the AdamW moments start from zero at the switch. When nil, one schedule spans both
    /// phases and the moments carry over (the recipe of the runs before session 18).
    public var predictionLR: Float? = nil
    public var distillWeights = DistillWeights()
    /// General distillation (stage 1): a WikiExtractor folder instead of a task; intermediate
    /// terms only; the best student is the one with the lowest held-out loss.
    public var corpusDir: String? = nil
    /// Content tokens of the corpus to use (default: 2M).
    public var generalTokens: Int = 2_000_000
    /// Share of the packed sequences held out for validation.
    public var validationFraction: Double = 0.01
    /// Task distillation: label-free variants per training example (`Augmenter`), taught by the
    /// teacher alone; 0 = the training set as it is.
    public var augment: Int = 0
    /// Task distillation: other GLUE tasks whose training texts, without their labels, join the
    /// transfer set (taught by the teacher alone, and augmented with the task's own examples when
    /// `augment` > 0): more real inputs of the same form (pairs for a pair task) than the task's
    /// small training set holds. `TASK:dev` takes another task's dev texts instead (QNLI and
    /// MNLI have only dev sets here); the task's own dev is never read for training.
    public var transferTasks: [String] = []
    /// Task distillation: label-free variants per `transferTasks` text, when it should differ from
    /// `augment` (e.g. 0: thousands of real pairs join unaugmented beside a small task's augmented
    /// examples, session 32); nil = `augment`, as in the runs before session 32.
    public var transferAugment: Int? = nil
    /// Task distillation: this many unlabeled texts from the WikiExtractor folder
    /// `transferCorpusDir` join the transfer set after augmentation (not augmented themselves;
    /// `WikiCorpus.transferExamples`: sentence pairs from related to near-identical for a pair
    /// task, single sentences otherwise), taught by the teacher alone.
    public var corpusTransfer: Int = 0
    public var transferCorpusDir: String? = nil

    /// A `transferTasks` entry as the resume key spells it: the task as `GlueTask` reads it, and
    /// `:SPLIT` unless the split is train.
    static func transferKey(_ entry: String) -> String {
        guard let (t, split) = try? transferSource(entry) else { return entry }
        return t.rawValue + (split == .train ? "" : ":" + split.rawValue)
    }

    /// A `transferTasks` entry: `TASK` (its training split) or `TASK:SPLIT` (train or dev).
    public static func transferSource(_ entry: String) throws -> (task: GlueTask, split: Split) {
        let parts = entry.split(separator: ":", omittingEmptySubsequences: false).map { String($0).trimmingCharacters(in: .whitespaces) }
        guard parts.count <= 2 else { throw TrainError.setup("transfer task \(entry): TASK or TASK:SPLIT") }
        let task = try GlueTask(name: parts[0])
        guard parts.count == 2 else { return (task, .train) }
        guard let split = Split(rawValue: parts[1].lowercased()), split != .test else {
            throw TrainError.setup("transfer task \(entry): split '\(parts[1])' (train or dev; test sets have no usable rows here)")
        }
        return (task, split)
    }
    /// Task distillation: steps whose terms read only the teacher's logits (the prediction phase,
    /// a run of the prediction terms alone) take them from `TeacherLogitCache`, computed once per
    /// example, instead of a teacher pass per step, when those steps are an epoch or more. The
    /// same values up to float rounding (the teacher's logits of an example move in the last bits
    /// with its batch's padded length), and deterministic across a resume.
    public var cacheTeacherLogits = true
    /// Training batches of similar length (`TaskDataset.batches`): examples sorted by length
    /// within runs of this many batches after the shuffle; 0 or 1 = plain shuffled batches (the
    /// runs before session 20). Task data only: general distillation packs its sequences to one
    /// length and ignores it (`lengthGroups`). Dev evaluation always sorts by length.
    public var groupByLength: Int = FineTuneConfig.defaultGroupByLength
    /// Also evaluate on dev every this many optimizer steps within an epoch (each epoch's end is
    /// evaluated anyway), keeping the best model: for small dev sets whose score peaks between
    /// epoch ends (RTE's distillation runs peak in their first epoch). nil: epoch ends only.
    public var evalEvery: Int? = nil
    /// Evaluate and keep an exponential moving average of the weights with this decay
    /// (`WeightAverage`; restarted at the two-phase switch) instead of the weights themselves;
    /// nil: the weights. Training itself is unchanged.
    public var emaDecay: Float? = nil
    public static let defaultGroupByLength = 50
    /// SQuAD: context tokens shared by consecutive windows of a long context (`QAFeaturizer`).
    public var docStride: Int = 128
    /// The grouping the run uses: `groupByLength` for a task, none for general distillation.
    var lengthGroups: Int { corpusDir == nil && groupByLength > 1 ? groupByLength : 0 }

    public init(task: String, modelDir: String, dataDir: String, outDir: String) {
        self.task = task; self.modelDir = modelDir; self.dataDir = dataDir; self.outDir = outDir
    }

    /// What must match for `--resume` to continue a run. Folders are compared as normalized
    /// paths (`normalizedPath`), so `KBERT_DATA=/work/shared/data` and the fallback
    /// `../shared/data` (or `runs/x` and `./runs/x/`) resume each other.
    var resumeKey: String {
        let path = FineTuneConfig.normalizedPath
        return "\(task)|\(path(modelDir))|\(epochs)|\(lr)|\(batchSize)|\(maxLength)|\(warmup)|\(weightDecay)|\(seed)|\(maxSteps ?? -1)|\(gradAccum)|\(clipNorm)"
            + (teacherDir.map { "|teacher=\(path($0))|\(schedule)|\(distillWeights)" } ?? "")
            + (predictionLR.map { "|prediction-lr=\($0)" } ?? "")
            + (corpusDir.map { "|corpus=\(path($0))|\(generalTokens)|\(validationFraction)" } ?? "")
            + (augment > 0 ? "|augment=\(augment)" : "")
            + (transferTasks.isEmpty ? "" : "|transfer=\(transferTasks.map(Self.transferKey).joined(separator: ","))")
            + (transferAugment.map { "|transfer-augment=\($0)" } ?? "")
            + (corpusTransfer > 0 ? "|corpus-transfer=\(corpusTransfer)@\(path(transferCorpusDir ?? ""))" : "")
            + (lengthGroups > 0 ? "|group-by-length=\(lengthGroups)" : "")
            + (evalEvery.map { "|eval-every=\($0)" } ?? "")
            + (emaDecay.map { "|ema=\($0)" } ?? "")
            + (SquadTask(name: task) != nil && corpusDir == nil ? "|doc-stride=\(docStride)" : "")
    }

    /// `p` without "." components, repeated or trailing slashes, and with each "name/.." pair
    /// removed, lexically (the file system is not read, and a relative path stays relative, so the
    /// keys of existing checkpoints, written with the paths as given, still match).
    static func normalizedPath(_ p: String) -> String {
        let absolute = p.hasPrefix("/")
        var parts: [Substring] = []
        for c in p.split(separator: "/") where c != "." {
            if c == "..", let last = parts.last, last != ".." { parts.removeLast(); continue }
            if c == "..", absolute { continue }   // "/.." is "/"
            parts.append(c)
        }
        let joined = parts.joined(separator: "/")
        return absolute ? "/" + joined : (joined.isEmpty ? "." : joined)
    }
}

/// Progress and results reported while training (the CLI prints them; the library does not).
public enum TrainEvent {
    case note(String)
    case step(step: Int, total: Int, epoch: Int, loss: Float, lr: Float, examplesPerSecond: Double, etaSeconds: Double,
              terms: [(String, Float)])
    case evaluation(epoch: Int, step: Int, metrics: [(String, Double)], best: Bool, endOfEpoch: Bool)
    case checkpoint(step: Int)
}

public enum TrainError: Error, CustomStringConvertible {
    case divergence(step: Int, loss: Float, checkpoint: String)
    case setup(String)
    public var description: String {
        switch self {
        case let .divergence(s, l, c): return "loss is \(l) at step \(s): stopping; the last good checkpoint is kept in \(c)"
        case let .setup(m): return m
        }
    }
}

/// Fine-tunes a BERT folder on a GLUE task or SQuAD (extractive question answering): AdamW, linear warm-up/decay, clipping, gradient
/// accumulation, dev evaluation each epoch (the best model kept in HF layout in `outDir`),
/// atomic checkpoints in `outDir/checkpoint` and exact resumption.
public final class FineTuner {
    public let config: FineTuneConfig
    /// The GLUE task; nil for SQuAD and general distillation.
    public let task: GlueTask?
    /// SQuAD (a question-answering head trained on answer spans, scored by EM/F1 on dev).
    public let squad: SquadTask?
    /// SQuAD's dev questions and their windows, for the official metrics.
    let squadDev: (data: SquadDataset, features: [QAFeature])?
    /// A task run (GLUE or SQuAD), not general distillation.
    var isTask: Bool { task != nil || squad != nil }
    public private(set) var model: BertModel
    /// The teacher of task distillation, when distilling.
    let teacher: BertModel?
    let tokenizer: BertTokenizer
    let train: TaskDataset
    let dev: TaskDataset

    public init(_ config: FineTuneConfig, onEvent: (TrainEvent) -> Void = { _ in }) throws {
        self.config = config
        guard config.batchSize > 0, config.epochs > 0, config.gradAccum > 0, config.maxLength > 2 else {
            throw TrainError.setup("batch size, epochs and grad-accum must be positive, max length above 2")
        }
        if let e = config.evalEvery, e <= 0 { throw TrainError.setup("--eval-every must be a positive step count (got \(e))") }
        if let d = config.emaDecay, !(d > 0 && d < 1) { throw TrainError.setup("--ema must be a decay between 0 and 1 (got \(d))") }
        let general = config.corpusDir != nil
        guard !general || config.teacherDir != nil else { throw TrainError.setup("general distillation needs a teacher") }
        let squad = general ? nil : SquadTask(name: config.task)
        let task: GlueTask? = general || squad != nil ? nil : try GlueTask(name: config.task)
        self.task = task
        self.squad = squad
        if squad != nil && config.augment > 0 {
            throw TrainError.setup("--augment is for GLUE tasks (SQuAD's windows keep their answers' offsets)")
        }
        if squad != nil && config.teacherDir != nil && config.distillWeights.logitLoss == .mse {
            throw TrainError.setup("--logit-loss mse is for GLUE classifiers (SQuAD's span loss is the soft cross-entropy over each window's tokens)")
        }
        tokenizer = try BertTokenizer(folder: config.modelDir)
        var cfg = try BertConfig(file: config.modelDir + "/config.json")
        // The teacher first: in task distillation the student's missing head comes from it.
        var t: BertModel? = nil
        if let td = config.teacherDir {
            let tm = try BertModel.load(folder: td)
            guard tm.config.numHiddenLayers == cfg.numHiddenLayers, tm.config.hiddenSize == cfg.hiddenSize,
                  tm.config.numAttentionHeads == cfg.numAttentionHeads else {
                throw TrainError.setup("\(td): the teacher's layers / hidden size / heads differ from the student's")
            }
            if squad != nil, tm.head != .questionAnswering {
                throw TrainError.setup("\(td): the teacher needs a question-answering head (qa_outputs) for SQuAD (found \(tm.head)); fine-tune it first")
            }
            if let task, tm.head != .classification(numLabels: task.numLabels) {
                throw TrainError.setup("\(td): the teacher needs a \(task.numLabels)-way classifier for \(task.rawValue) (found \(tm.head)); fine-tune it first")
            }
            t = tm
        }
        if let task {
            cfg.id2label = task.isRegression ? ["LABEL_0"] : task.labels
            cfg.problemType = task.isRegression ? "regression" : "single_label_classification"
            let wpath = config.modelDir + "/model.safetensors"
            guard FileManager.default.fileExists(atPath: wpath) else { throw ModelError.missingFile(path: wpath) }
            let file = try SafeTensorsFile(path: wpath)
            let found = try BertWeights.inspect(file)
            var m = try BertModel.load(config: cfg, weights: file, head: .classification(numLabels: task.numLabels), allowMissingHead: true)
            var poolerSet = found.pooler
            if found.head != .classification(numLabels: task.numLabels) {
                if let t {
                    // Stage 2 (PAPER.md §1): the prediction head, and the pooler under it, come from
                    // the fine-tuned teacher.
                    onEvent(.note("\(config.modelDir): no \(task.numLabels)-way classifier (found \(found.head)); copying the classifier and pooler from the teacher \(config.teacherDir!)"))
                    // A pooler the student holds factored (compress --pooler-rank) is fitted from the
                    // teacher's dense one by the nearest Kronecker product.
                    do { try Compressor.transfer(from: t, to: &m, prefixes: ["classifier.", "pooler."]) } catch {
                        throw TrainError.setup("\(config.teacherDir!): \(error)")
                    }
                    poolerSet = true
                } else {
                    onEvent(.note("\(config.modelDir): no \(task.numLabels)-way classifier (found \(found.head)); starting a fresh head"))
                    m.initializeRandomly(seed: config.seed, only: ["classifier."])
                }
            }
            if !poolerSet {
                onEvent(.note("\(config.modelDir): no pooler; starting a fresh one"))
                m.initializeRandomly(seed: config.seed &+ 1, only: ["pooler."])
            }
            model = m
        } else if squad != nil {
            let wpath = config.modelDir + "/model.safetensors"
            guard FileManager.default.fileExists(atPath: wpath) else { throw ModelError.missingFile(path: wpath) }
            let file = try SafeTensorsFile(path: wpath)
            var m = try BertModel.load(config: cfg, weights: file, head: .questionAnswering, allowMissingHead: true)
            if try BertWeights.inspect(file).head != .questionAnswering {
                if let t {
                    onEvent(.note("\(config.modelDir): no question-answering head (qa_outputs); copying it from the teacher \(config.teacherDir!)"))
                    do { try Compressor.transfer(from: t, to: &m, prefixes: ["qa_outputs."]) } catch {
                        throw TrainError.setup("\(config.teacherDir!): \(error)")
                    }
                } else {
                    onEvent(.note("\(config.modelDir): no question-answering head (qa_outputs); starting a fresh one"))
                    m.initializeRandomly(seed: config.seed, only: ["qa_outputs."])
                }
            }
            model = m
        } else {
            model = try BertModel.load(folder: config.modelDir)   // general: the student as it is, head untouched
        }
        var teaching: BertModel? = nil
        if let td = config.teacherDir {
            let w = config.distillWeights
            if (task != nil || squad != nil) && w.embedding == 0 && w.attention == 0 && w.hidden == 0 && w.logits == 0 {
                // no distillation term is weighted: plain supervised training, no teacher pass
                onEvent(.note("every distillation weight is 0: training on the labels only (the teacher \(td) only gave the head)"))
            } else {
                t?.packForInference()   // fixed weights: the packed GEMM (see PackedWeight)
                teaching = t
                onEvent(.note("distilling from \(td) (\(config.schedule) schedule)"))
            }
        }
        teacher = teaching
        let maxLen = min(config.maxLength, cfg.maxPositionEmbeddings)
        guard config.augment >= 0, config.augment == 0 || (task != nil && teaching != nil) else {
            throw TrainError.setup("augmentation needs task distillation with a teacher term weighted (augmented examples have no labels)")
        }
        guard config.transferTasks.isEmpty || (task != nil && teaching != nil) else {
            throw TrainError.setup("transfer tasks need GLUE task distillation with a teacher term weighted (their examples keep no labels)")
        }
        if let n = config.transferAugment {
            guard n >= 0, !config.transferTasks.isEmpty else {
                throw TrainError.setup("transfer augmentation (\(n) copies) needs transfer tasks and a count of 0 or more")
            }
        }
        guard config.corpusTransfer >= 0, config.corpusTransfer == 0 || (task != nil && teaching != nil) else {
            throw TrainError.setup("corpus transfer texts need GLUE task distillation with a teacher term weighted (they have no labels)")
        }
        var squadDev: (data: SquadDataset, features: [QAFeature])? = nil
        if let squad {
            let trainPath = config.dataDir + "/" + squad.fileName(.train), devPath = config.dataDir + "/" + squad.fileName(.dev)
            let trainSet = try SquadDataset.read(path: trainPath)
            let devSet = try SquadDataset.read(path: devPath)
            let fz = QAFeaturizer(maxLength: maxLen, docStride: config.docStride)
            train = TaskDataset(features: try fz.features(trainSet.examples, tokenizer: tokenizer, source: trainPath))
            let devFeatures = try fz.features(devSet.examples, tokenizer: tokenizer, source: devPath)
            dev = TaskDataset(features: devFeatures)
            squadDev = (devSet, devFeatures)
            onEvent(.note("\(squad.rawValue): \(trainSet.examples.count) train questions in \(train.count) windows / \(devSet.examples.count) dev questions in \(dev.count) windows of \(maxLen) tokens (stride \(config.docStride))"))
        } else if let task {
            var examples = try task.read(root: config.dataDir, split: .train)
            let originals = examples.count
            var added: Set<String> = []
            for name in config.transferTasks {
                let (other, split) = try FineTuneConfig.transferSource(name)
                guard other != task, other.isPairTask == task.isPairTask else {
                    throw TrainError.setup("transfer task \(name): needs another \(task.isPairTask ? "sentence-pair" : "single-sentence") task than \(task.rawValue)")
                }
                guard added.insert("\(other.rawValue):\(split.rawValue)").inserted else {
                    throw TrainError.setup("transfer task \(name): named more than once")
                }
                let prefix = other.rawValue + (split == .train ? "" : "-" + split.rawValue)
                examples += try other.read(root: config.dataDir, split: split).map { e -> Example in
                    var u = e
                    u.id = "\(prefix)-\(e.id)"; u.label = nil; u.score = nil
                    return u
                }
            }
            let real = examples.count
            if let n = config.transferAugment {
                // The task's examples and the transfer texts, each with its own number of variants.
                let augmenter = Augmenter(examples: examples)
                let own = Array(examples[..<originals]), other = Array(examples[originals...])
                examples += augmenter.variants(of: own, copies: config.augment, seed: config.seed &+ 0xA6)
                examples += augmenter.variants(of: other, copies: n, seed: config.seed &+ 0xA7)
            } else if config.augment > 0 {
                examples += Augmenter(examples: examples).variants(of: examples, copies: config.augment, seed: config.seed &+ 0xA6)
            }
            let augmented = examples.count
            if config.corpusTransfer > 0 {
                guard let dir = config.transferCorpusDir else { throw TrainError.setup("corpus transfer texts need a corpus folder") }
                let drawn = WikiCorpus.transferExamples(try WikiCorpus.documents(dir: dir), count: config.corpusTransfer,
                                                        pairs: task.isPairTask, seed: config.seed &+ 0xC0)
                guard drawn.count == config.corpusTransfer else {
                    throw TrainError.setup("\(dir): only \(drawn.count) of the \(config.corpusTransfer) corpus transfer texts could be drawn (too few sentences of 4-40 words)")
                }
                examples += drawn
            }
            train = try TaskDataset(examples: examples, tokenizer: tokenizer, maxLength: maxLen)
            dev = try TaskDataset(examples: task.read(root: config.dataDir, split: .dev), tokenizer: tokenizer, maxLength: maxLen)
            onEvent(.note("\(task.rawValue): \(originals) train"
                          + (real > originals ? " + \(real - originals) from \(config.transferTasks.joined(separator: ", ")) (teacher-labeled)" : "")
                          + (augmented > real ? " + \(augmented - real) augmented (teacher-labeled)" : "")
                          + (config.corpusTransfer > 0 ? " + \(config.corpusTransfer) from the corpus \(config.transferCorpusDir ?? "") (teacher-labeled)" : "")
                          + " / \(dev.count) dev examples"
                          + (config.lengthGroups > 0 ? "; batches grouped by length (runs of \(config.lengthGroups) batches)" : "")))
        } else {
            let docs = try WikiCorpus.documents(dir: config.corpusDir!)
            let (seqs, _) = WikiCorpus.pack(docs, tokenizer: tokenizer, maxLength: maxLen, maxTokens: config.generalTokens)
            guard seqs.count >= 2 else { throw TrainError.setup("\(config.corpusDir!): too little text for sequences of \(maxLen) tokens") }
            let held = max(1, Int(Double(seqs.count) * config.validationFraction))
            train = TaskDataset(sequences: Array(seqs.dropLast(held)))
            dev = TaskDataset(sequences: Array(seqs.suffix(held)))
            onEvent(.note("corpus: \(docs.count) documents -> \(train.count) train / \(dev.count) held-out sequences of \(maxLen) tokens"))
        }
        self.squadDev = squadDev
    }

    var checkpoint: Checkpoint { Checkpoint(dir: config.outDir + "/checkpoint") }

    /// Loss and ∂L/∂logits for a batch (`mask`: the batch's padding mask, for answer spans).
    func lossAndGrad(_ logits: Tensor, _ idx: [Int], mask: [Int32]) -> (Float, [Float]) {
        if squad != nil {
            let spans = idx.map { train.examples[$0].span ?? AnswerSpan(start: 0, end: 0) }
            return Loss.spanCrossEntropy(logits: logits.data, mask: mask, starts: spans.map(\.start), ends: spans.map(\.end))
        }
        guard let task else { return (0, [Float](repeating: 0, count: logits.count)) }
        if task.isRegression {
            return Loss.mse(logits.data, idx.map { train.examples[$0].score ?? 0 })
        }
        return Loss.crossEntropy(logits: logits.data, labels: idx.map { train.examples[$0].label ?? 0 }, classes: task.numLabels)
    }

    /// Runs (or resumes) the whole schedule. Returns the dev history.
    @discardableResult
    public func run(resume: Bool, onEvent: (TrainEvent) -> Void = { _ in }) throws -> [[String: Double]] {
        let c = config
        let fm = FileManager.default
        try fm.createDirectory(atPath: c.outDir, withIntermediateDirectories: true)
        let batchesPerEpoch = (train.count + c.batchSize - 1) / c.batchSize
        let updatesPerEpoch = (batchesPerEpoch + c.gradAccum - 1) / c.gradAccum
        let total = c.maxSteps.map { min($0, c.epochs * updatesPerEpoch) } ?? c.epochs * updatesPerEpoch
        let plan = PhasePlan(config: c, total: total, restart: teacher != nil && isTask && c.distillWeights.hasIntermediate)
        var opt = AdamW(parameters: model.params, weightDecay: c.weightDecay)
        var state = TrainState(generation: 0, step: 0, epoch: 0, batchInEpoch: 0, dropoutRNG: SplitMix64(seed: c.seed &+ 0xD0),
                               bestMetric: nil, bestEpoch: nil, history: [], configHash: c.resumeKey)
        let logPath = c.outDir + "/log.jsonl"
        var average = c.emaDecay.map { WeightAverage(decay: $0, start: model.params.data) }
        if let d = c.emaDecay {
            onEvent(.note("evaluating and keeping the weights' exponential moving average (decay \(d)\(teacher != nil && isTask && c.schedule == "two-phase" ? ", restarted at the two-phase switch" : ""))"))
        }
        if checkpoint.exists {
            guard resume else {
                throw TrainError.setup("\(checkpoint.dir) exists: pass --resume to continue it, or choose another --out")
            }
            state = try checkpoint.loadState()
            guard state.configHash == c.resumeKey else {
                throw TrainError.setup("\(checkpoint.dir): it was written with other settings (\(state.configHash)) than this run's (\(c.resumeKey)); resume with the same options")
            }
            let (file, m, v, averaged) = try checkpoint.loadTensors(state)
            for (name, ref) in model.params.entries { model.params.set(ref, try file.floatTensor(name).data) }
            opt.restore(step: plan.optimizerStep(state.step), m: m, v: v)
            if let d = c.emaDecay {
                guard let averaged, averaged.count == model.params.count else {
                    throw TrainError.setup("\(checkpoint.dir): no weight average of \(model.params.count) values for --ema")
                }
                average = WeightAverage(decay: d, start: averaged, updates: state.averageUpdates ?? 0)
            }
            try truncateLog(logPath, keepingStepsUpTo: state.step)
            onEvent(.note("resumed from step \(state.step) (epoch \(state.epoch + 1), batch \(state.batchInEpoch))"))
        } else if fm.fileExists(atPath: logPath) {
            try? fm.removeItem(atPath: logPath)
        }
        let log = try JSONLWriter(path: logPath)
        let names = model.params.entries.map { ($0.name, $0.ref.shape, $0.ref.offset) }
        func save() throws {
            state.generation += 1
            state.averageUpdates = average?.updates
            try checkpoint.save(state: state, params: model.params.data, paramNames: names, m: opt.m, v: opt.v, average: average?.values)
            onEvent(.checkpoint(step: state.step))
        }
        // The rate and ETA count from here (the progress line's over the last 100 steps), restarted
        // after a one-off teacher-logit fill and at the two-phase switch (prediction steps run at
        // another speed than intermediate ones).
        var clock = ProgressClock()
        var grads = [Float](repeating: 0, count: model.params.count)
        // The cache pays when the steps that read only logits cover every example at least once
        // (then one chunked pass costs no more teacher work than a pass per step, and every later
        // read is free); on fewer steps (a prediction phase shorter than an epoch, as the demo's)
        // the chunks would cost more teacher rows than the steps they serve.
        // (GLUE only: SQuAD's logits are per token, and the cache keeps one row per example.)
        let logitsOnlySteps = teacher != nil && task != nil ? (0..<total).filter { !distillTerms(step: $0, total: total).intermediate }.count : 0
        var logitCache = c.cacheTeacherLogits && logitsOnlySteps >= updatesPerEpoch ? TeacherLogitCache(data: train, chunkSize: c.batchSize) : nil
        while state.epoch < c.epochs && state.step < total {
            let batches = train.batches(batchSize: c.batchSize, epoch: state.epoch, seed: c.seed, shuffle: true, groupByLength: c.lengthGroups)
            while state.batchInEpoch < batches.count && state.step < total {
                if plan.restartsAt(state.step) { opt = AdamW(parameters: model.params, weightDecay: c.weightDecay) }
                // The two-phase switch: the objective changes here.
                let switching = teacher != nil && state.step > 0
                    && distillTerms(step: state.step, total: total).intermediate != distillTerms(step: state.step - 1, total: total).intermediate
                if switching { average?.restart(from: model.params.data) }   // average the new phase alone
                if let teacher {
                    let intermediate = distillTerms(step: state.step, total: total).intermediate
                    var restart = clock.steps > 0 && switching
                    if !intermediate, var cache = logitCache, cache.chunksLeft > 0 {
                        try fillLogitCache(&cache, teacher: teacher, onEvent: onEvent)
                        logitCache = cache
                        restart = true
                    }
                    if restart { clock.restart() }
                }
                for i in grads.indices { grads[i] = 0 }
                var lossSum: Float = 0
                var termSums: [(String, Float)] = []
                let group = batches[state.batchInEpoch..<min(batches.count, state.batchInEpoch + c.gradAccum)]
                let examplesInGroup = group.map(\.count).reduce(0, +)
                for idx in group {
                    let t = train.tokens(idx)
                    let input = BertInput(ids: t.ids, typeIds: t.types, padId: tokenizer.padId)
                    var drop: DropoutState? = DropoutState(rng: state.dropoutRNG)
                    // Each batch's mean loss, weighted by its share of the group's examples.
                    let w = Float(idx.count) / Float(examplesInGroup)
                    if let teacher {
                        // Intermediate terms need every layer of both models; the prediction
                        // terms alone need only the logits, i.e. the last layer's [CLS] rows.
                        let terms = distillTerms(step: state.step, total: total)
                        let all = terms.intermediate ? ForwardOptions(hiddenStates: true, attentionScores: true) : ForwardOptions(clsOnly: true)
                        let tOut = !terms.intermediate && logitCache != nil
                            ? try logitCache!.output(for: idx, teacher: teacher, data: train, padId: tokenizer.padId)
                            : try teacher.forward(input, options: all)
                        let (out, cache) = try model.forwardTrain(input, options: all, dropout: &drop)
                        state.dropoutRNG = drop!.rng
                        let r = DistillStep.compute(teacher: tOut, student: out, input: input, heads: model.config.numAttentionHeads,
                                                    weights: c.distillWeights, terms: terms,
                                                    labels: task.map { $0.isRegression } == false ? idx.map { train.examples[$0].label ?? 0 } : nil,
                                                    targets: task?.isRegression == true ? idx.map { train.examples[$0].score ?? 0 } : nil,
                                                    labeled: idx.map { train.examples[$0].label != nil || train.examples[$0].score != nil },
                                                    starts: squad != nil ? idx.map { train.examples[$0].span?.start ?? 0 } : nil,
                                                    ends: squad != nil ? idx.map { train.examples[$0].span?.end ?? 0 } : nil,
                                                    gradScale: w)
                        lossSum += r.total * w
                        if termSums.isEmpty { termSums = r.terms.map { ($0.0, 0) } }
                        for (i, term) in r.terms.enumerated() where i < termSums.count { termSums[i].1 += term.1 * w }
                        grads.withUnsafeMutableBufferPointer { model.backward(cache, r.upstream, into: $0.baseAddress!) }
                    } else {
                        // A classifier reads only the [CLS] rows of the last layer (ForwardOptions.clsOnly).
                        let (out, cache) = try model.forwardTrain(input, options: ForwardOptions(clsOnly: true), dropout: &drop)
                        state.dropoutRNG = drop!.rng
                        var (loss, g) = lossAndGrad(out.logits!, idx, mask: input.mask)
                        for k in g.indices { g[k] *= w }
                        lossSum += loss * w
                        grads.withUnsafeMutableBufferPointer { model.backward(cache, BertUpstream(logits: g), into: $0.baseAddress!) }
                    }
                }
                guard lossSum.isFinite, lossSum < c.maxLoss else {
                    throw TrainError.divergence(step: state.step, loss: lossSum, checkpoint: checkpoint.dir)
                }
                let norm = clipGradNorm(&grads, maxNorm: c.clipNorm)
                let lr = plan.lr(step: state.step)
                model.params.withMutableStorage { opt.update(params: &$0, grads: grads, lr: lr) }
                average?.update(model.params.data)
                state.step += 1
                state.batchInEpoch += group.count
                clock.tick(examples: examplesInGroup)
                let rate = clock.averageExamplesPerSecond   // the log's: since the clock's (re)start
                let termJSON = termSums.map { ", \"\($0.0)\": \($0.1)" }.joined()
                try log.append("{\"step\": \(state.step), \"epoch\": \(state.epoch + 1), \"loss\": \(lossSum), \"lr\": \(lr), \"grad_norm\": \(norm), \"examples_per_s\": \(rate)\(termJSON)}")
                onEvent(.step(step: state.step, total: total, epoch: state.epoch + 1, loss: lossSum, lr: lr,
                              examplesPerSecond: clock.examplesPerSecond, etaSeconds: clock.eta(stepsLeft: total - state.step), terms: termSums))
                if let e = c.evalEvery, state.step % e == 0, state.batchInEpoch < batches.count, state.step < total {
                    try evaluateAndKeepBest(&state, endOfEpoch: false, average: average, onEvent: onEvent)
                }
                if c.saveEvery > 0 && state.step % c.saveEvery == 0 { try save() }
                if let k = c.debugKillAtStep, state.step == k { log.flush(); kill(getpid(), SIGKILL) }
            }
            let epochDone = state.batchInEpoch >= batches.count
            if epochDone || state.step >= total {
                try evaluateAndKeepBest(&state, average: average, onEvent: onEvent)
            }
            if epochDone { state.epoch += 1; state.batchInEpoch = 0 }
            try save()
        }
        log.flush()
        if let cache = logitCache, cache.teacherPasses > 0 {
            onEvent(.note("teacher logits for the prediction terms: \(cache.teacherPasses) teacher passes over fixed chunks of \(c.batchSize) examples, read back at every later step"))
        }
        return state.history
    }

    /// Computes the teacher's logits of every training example not cached yet, with a progress
    /// note about every 10% (rate and ETA).
    func fillLogitCache(_ cache: inout TeacherLogitCache, teacher: BertModel, onEvent: (TrainEvent) -> Void) throws {
        let t0 = Date()
        onEvent(.note("teacher logits for the prediction terms: computing \(cache.chunksLeft) of \(cache.chunkCount) chunks of \(config.batchSize) training examples once"))
        try cache.fill(teacher: teacher, data: train, padId: tokenizer.padId) { done, of in
            guard done % max(1, of / 10) == 0 || done == of else { return }
            let s = Date().timeIntervalSince(t0)
            onEvent(.note(String(format: "teacher logits: %d / %d chunks, %.0f examples/s, ETA %.0f s", done, of,
                                 Double(done * config.batchSize) / max(s, 1e-9), s / Double(done) * Double(of - done))))
        }
    }

    /// Terms of task distillation at an optimizer step, by schedule. Two-phase: the intermediate
    /// terms for the first half of the steps, then the prediction terms (soft logits and labels)
    /// alone, so that clipping driven by the large intermediate gradients no longer shrinks them.
    func distillTerms(step: Int, total: Int) -> DistillTerms {
        if !isTask { return DistillTerms(intermediate: true) }
        // Intermediate terms all weighted 0 are left out (not computed, not logged).
        let intermediate = config.distillWeights.hasIntermediate
        if config.schedule == "two-phase" {
            return step < PhasePlan.switchStep(total: total) && intermediate ? DistillTerms(intermediate: true)
                : DistillTerms(intermediate: false, prediction: true, supervised: true)
        }
        return DistillTerms(intermediate: intermediate, prediction: true, supervised: true)
    }

    /// Evaluates on dev (or the held-out corpus), records it in the history and keeps the model
    /// when it is the best so far. `endOfEpoch` false: a mid-epoch evaluation (`evalEvery`).
    /// With `average`, the averaged weights are evaluated and kept (the model's own are put back).
    func evaluateAndKeepBest(_ state: inout TrainState, endOfEpoch: Bool = true, average: WeightAverage? = nil,
                             onEvent: (TrainEvent) -> Void) throws {
        var own: [Float]? = nil
        if let average { own = model.params.data; model.params.replaceAll(average.values) }
        defer { if let own { model.params.replaceAll(own) } }
        let metrics: [(String, Double)]
        var answers: [String: String]? = nil
        if let task {
            metrics = try Evaluator.evaluate(model, task: task, data: dev, padId: tokenizer.padId)
        } else if let squadDev {
            let r = try Evaluator.evaluateSquad(model, data: squadDev.data, features: squadDev.features, padId: tokenizer.padId)
            metrics = r.scores.metrics
            answers = r.predictions
        } else {
            // General distillation: the held-out intermediate loss, negated so that higher is better.
            metrics = [("neg_intermediate_loss", -(try heldOutLoss()))]
        }
        var row = Dictionary(uniqueKeysWithValues: metrics)
        row["epoch"] = Double(state.epoch + 1); row["step"] = Double(state.step)
        state.history.append(row)
        let main = metrics[0].1
        let best = state.bestMetric.map { main > $0 } ?? true
        if best {
            state.bestMetric = main
            state.bestEpoch = state.epoch + 1
            try model.save(folder: config.outDir)
            try copyTokenizerFiles(from: config.modelDir, to: config.outDir)
            if let answers {
                // The best model's dev answers, as the official scorer reads them.
                let d = try JSONSerialization.data(withJSONObject: answers, options: [.sortedKeys])
                try AtomicFile.write(d, to: config.outDir + "/predictions.json")
            }
            let summary: [String: Any] = ["task": task?.rawValue ?? squad?.rawValue ?? "general", "epoch": state.epoch + 1, "step": state.step,
                                          "metrics": Dictionary(uniqueKeysWithValues: metrics)]
            let d = try JSONSerialization.data(withJSONObject: summary, options: [.prettyPrinted, .sortedKeys])
            try AtomicFile.write(d, to: config.outDir + "/eval_results.json")
        }
        onEvent(.evaluation(epoch: state.epoch + 1, step: state.step, metrics: metrics, best: best, endOfEpoch: endOfEpoch))
    }
}

extension FineTuner {
    /// Mean intermediate distillation loss of the student on the held-out sequences.
    func heldOutLoss() throws -> Double {
        guard let teacher else { return 0 }
        let all = ForwardOptions(hiddenStates: true, attentionScores: true)
        var total = 0.0, n = 0
        for idx in dev.batches(batchSize: config.batchSize, epoch: 0, seed: 0, shuffle: false) {
            let t = dev.tokens(idx)
            let input = BertInput(ids: t.ids, typeIds: t.types, padId: tokenizer.padId)
            let r = DistillStep.compute(teacher: try teacher.forward(input, options: all), student: try model.forward(input, options: all),
                                        input: input, heads: model.config.numAttentionHeads, weights: config.distillWeights,
                                        terms: DistillTerms(intermediate: true))
            total += Double(r.total) * Double(idx.count); n += idx.count
        }
        return total / Double(max(n, 1))
    }
}

/// Copies the tokenizer files of a model folder (vocab.txt, tokenizer.json, tokenizer_config.json,
/// special_tokens_map.json) next to a saved model.
public func copyTokenizerFiles(from src: String, to dst: String) throws {
    let fm = FileManager.default
    for f in ["vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"] where fm.fileExists(atPath: src + "/" + f) {
        if src == dst { continue }
        guard let d = fm.contents(atPath: src + "/" + f) else { continue }
        try AtomicFile.write(d, to: dst + "/" + f)
    }
}

/// Keeps the lines of a JSONL log whose "step" is at most `step` (used on resume).
func truncateLog(_ path: String, keepingStepsUpTo step: Int) throws {
    guard let d = FileManager.default.contents(atPath: path) else { return }
    let lines = String(decoding: d, as: UTF8.self).split(separator: "\n").filter { line in
        guard let obj = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
              let s = (obj["step"] as? NSNumber)?.intValue else { return false }
        return s <= step
    }
    try AtomicFile.write(Data((lines.joined(separator: "\n") + (lines.isEmpty ? "" : "\n")).utf8), to: path)
}

/// Appends lines to a file, flushing every line (a killed run keeps what it logged).
final class JSONLWriter {
    let handle: FileHandle
    init(path: String) throws {
        if !FileManager.default.fileExists(atPath: path) { _ = FileManager.default.createFile(atPath: path, contents: nil) }
        guard let h = FileHandle(forWritingAtPath: path) else { throw TrainError.setup("\(path): cannot open for writing") }
        h.seekToEndOfFile()
        handle = h
    }
    func append(_ line: String) throws { try handle.write(contentsOf: Data((line + "\n").utf8)) }
    func flush() { try? handle.synchronize() }
    deinit { try? handle.close() }
}

/// The learning-rate schedule of a run, and where the optimiser restarts. One linear warm-up and
/// decay over all steps, except for two-phase task distillation with a prediction-phase rate
/// (`FineTuneConfig.predictionLR`): then each phase has its own schedule (warm-up = the run's
/// warm-up fraction of the phase's steps), and AdamW starts afresh at the switch. The prediction
/// terms alone, at the phase-1 rate and with moments shaped by the intermediate terms' gradients,
/// drove a regression student to a constant output (STS-B, session 18).
struct PhasePlan {
    let first: LinearSchedule
    let second: LinearSchedule?
    let switchAt: Int

    /// The first step of the prediction phase of a two-phase run of `total` steps.
    static func switchStep(total: Int) -> Int { total / 2 }

    init(config c: FineTuneConfig, total: Int, restart: Bool) {
        // A fraction of the steps below 1, else a step count (at most the phase's steps).
        func warmup(_ n: Int) -> Int { c.warmup < 1 ? Int(c.warmup * Double(n)) : Int(c.warmup) }
        if restart, c.schedule == "two-phase", let plr = c.predictionLR {
            switchAt = PhasePlan.switchStep(total: total)
            first = LinearSchedule(peak: c.lr, warmup: min(warmup(switchAt), switchAt), total: switchAt)
            second = LinearSchedule(peak: plr, warmup: min(warmup(total - switchAt), total - switchAt), total: total - switchAt)
        } else {
            switchAt = total
            first = LinearSchedule(peak: c.lr, warmup: warmup(total), total: total)
            second = nil
        }
    }

    func lr(step: Int) -> Float {
        if let second, step >= switchAt { return second.lr(step: step - switchAt) }
        return first.lr(step: step)
    }
    /// AdamW's own step count (for its bias correction) after `step` updates of the run.
    func optimizerStep(_ step: Int) -> Int { second != nil && step > switchAt ? step - switchAt : step }
    /// Whether the optimiser starts afresh before the update that follows `step` updates.
    func restartsAt(_ step: Int) -> Bool { second != nil && step == switchAt }
}

/// The progress line's rate and ETA, over the last `window` steps: a run that was paused, or that
/// shared a busy machine for a while, shows the speed it runs at now rather than its average
/// since the start. `restart` where step speed changes for good (after a teacher-logit fill, at
/// the two-phase switch).
struct ProgressClock {
    let window: Int
    /// Seconds on a monotonic clock (injectable for tests).
    let now: () -> Double
    private var marks: [(time: Double, examples: Int)] = []
    private var started = 0.0
    private var examples = 0
    /// Steps ticked since the last restart.
    private(set) var steps = 0

    init(window: Int = 100, now: @escaping () -> Double = { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }) {
        self.window = window; self.now = now
        restart()
    }

    mutating func restart() {
        started = now(); marks = [(started, 0)]; examples = 0; steps = 0
    }

    mutating func tick(examples n: Int) {
        examples += n; steps += 1
        marks.append((now(), examples))
        if marks.count > window + 1 { marks.removeFirst() }
    }

    /// Examples per second since the last restart.
    var averageExamplesPerSecond: Double {
        guard let l = marks.last, steps > 0 else { return 0 }
        return Double(examples) / max(l.time - started, 1e-9)
    }

    /// Examples per second over the window.
    var examplesPerSecond: Double {
        guard let f = marks.first, let l = marks.last, marks.count > 1 else { return 0 }
        return Double(l.examples - f.examples) / max(l.time - f.time, 1e-9)
    }

    func eta(stepsLeft: Int) -> Double {
        guard let f = marks.first, let l = marks.last, marks.count > 1 else { return 0 }
        return (l.time - f.time) / Double(marks.count - 1) * Double(stepsLeft)
    }

}
