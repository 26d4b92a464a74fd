import ArgumentParser
import Foundation
import KBData
import KBDistill
import KBTrain

struct Distill: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Knowledge distillation from a teacher into a (compressed) student.",
        discussion: """
        --stage task: the fine-tuned teacher teaches the student on the task's training set with the
        intermediate terms (embedding output, every layer's attention scores and output: MSE) plus the
        prediction terms (soft cross-entropy at --temperature, or MSE for regression) and the
        supervised loss. Each term has a weight option (default 1) and is logged on its own in
        OUT/log.jsonl. Dev evaluation each epoch keeps the best student in OUT; checkpoints and
        --resume work as in `kbert finetune`. --augment N adds N label-free variants of every
        training example (words masked or replaced at 10% each, single sentences cut to an n-gram
        now and then; Tang et al. 2019), which only the teacher's terms see.
        --stage general: the pre-trained teacher teaches the freshly compressed student the
        intermediate terms only, on WikiExtractor text packed into sequences of --max-length tokens
        (--general-tokens of them; 1% held out); the best student has the lowest held-out loss.
        """)

    @Option(help: "general or task.") var stage: String
    @Option(help: "Teacher folder (fine-tuned on the task for --stage task).") var teacher: String
    @Option(help: "Student folder (e.g. from kbert compress; its classifier copied from the teacher).") var student: String
    @Option(help: "Task name (for --stage task).") var task: String?
    @Option(help: "WikiExtractor folder (for --stage general, and --corpus-transfer; default: $KBERT_DATA/corpus/wikipedia_en).") var corpus: String?
    @Option(help: "Content tokens of the corpus to distill on (--stage general).") var generalTokens: Int = 2_000_000
    @Option(help: "GLUE root (default: $KBERT_DATA/glue or ../shared/data/glue); for SQuAD the folder of its JSON files (default: $KBERT_DATA/squad).") var data: String?
    @Option(help: "Output folder.") var out: String
    @Option(help: "two-phase (intermediate terms for the first half of the steps, then prediction terms; the full runs' recipe) or joint (all terms throughout, the paper's).") var schedule: String = "two-phase"
    @Option(help: "--schedule two-phase: the prediction phase's own peak learning rate; each phase then has its own warm-up and decay, and AdamW restarts at the switch. Without it one schedule spans both phases.") var predictionLr: Float?
    @Option(help: "Epochs.") var epochs: Int = 3
    @Option(help: "Peak learning rate (default: 5e-4 for --stage general, 3e-4 for --stage task, as in the full runs).") var lr: Float?
    @Option(help: "Examples per batch.") var batchSize: Int = 32
    @Option(help: "Tokens per example (default 128; SQuAD: per window, default 384).") var maxLength: Int?
    @Option(help: "SQuAD: context tokens shared by consecutive windows.") var docStride: Int = 128
    @Option(help: "Warm-up fraction or steps.") var warmup: Double = 0.1
    @Option(help: "--stage task: label-free variants per training example (words masked or replaced, Tang et al. 2019), taught by the teacher alone.") var augment: Int = 0
    @Option(help: ArgumentHelp("--stage task: other GLUE tasks' training texts, without their labels, added to the transfer set (taught by the teacher alone; augmented too with --augment); comma-separated, pair tasks for a pair task; TASK:dev takes that task's dev texts (e.g. qnli:dev, mnli:dev).", valueName: "TASK,...")) var transfer: String?
    @Option(help: "--stage task: label-free variants per --transfer text (default: --augment's count; 0 = the transfer texts as they are).") var transferAugment: Int?
    @Option(help: "--stage task: this many unlabeled texts from the corpus (--corpus) join the transfer set, taught by the teacher alone and not augmented: for a pair task, in turn consecutive sentences of a document, sentences of two documents, and a sentence with a copy that lost a fifth of its words; single sentences for a single-sentence task.") var corpusTransfer: Int = 0
    @Option(help: "Seed.") var seed: UInt64 = 42
    @Option(help: "Batches of similar length: after the shuffle, examples are sorted by length within runs of N batches, and the batches shuffled (0: plain shuffled batches, the runs before session 20; --stage general packs sequences to one length and ignores it; GLUE training sets pad to 1.5-3x their tokens in random batches, ~1.04x at 50: 1.4-2.4x the examples per second).") var groupByLength: Int = FineTuneConfig.defaultGroupByLength
    @Option(help: "Stop after this many steps.") var maxSteps: Int?
    @Option(help: "Checkpoint every N steps.") var saveEvery: Int = 200
    @Option(help: "Also evaluate every N steps within an epoch (dev, or the held-out corpus slice), keeping the best student (default: at each epoch end only).") var evalEvery: Int?
    @Option(help: "Evaluate and keep an exponential moving average of the weights with this decay (e.g. 0.998; ramped up over the first updates, restarted at the two-phase switch) instead of the weights themselves.") var ema: Float?
    @Option(help: .hidden) var debugKillAtStep: Int?
    @OptionGroup(title: "Distillation terms") var weights: DistillWeightOptions
    @Flag(help: "Continue from OUT/checkpoint.") var resume = false
    @OptionGroup var threads: ThreadOptions

    func run() throws {
        try threads.apply()
        guard stage == "task" || stage == "general" else { throw ValidationError("--stage must be general or task") }
        guard ["joint", "two-phase"].contains(schedule) else { throw ValidationError("--schedule must be joint or two-phase") }
        var c: FineTuneConfig
        if stage == "general" {
            c = FineTuneConfig(task: "general", modelDir: student, dataDir: "", outDir: out)
            c.corpusDir = defaultCorpusDir(corpus)
            c.generalTokens = generalTokens
        } else {
            guard let task else { throw ValidationError("--stage task needs --task") }
            c = FineTuneConfig(task: task, modelDir: student, dataDir: defaultDataRoot(data, task: task), outDir: out)
            c.docStride = docStride
        }
        c.teacherDir = teacher; c.schedule = schedule
        if let predictionLr {
            guard stage == "task", schedule == "two-phase", predictionLr > 0 else {
                throw ValidationError("--prediction-lr is a positive rate, for --stage task --schedule two-phase")
            }
            c.predictionLR = predictionLr
        }
        c.epochs = epochs; c.lr = lr ?? (stage == "general" ? 5e-4 : 3e-4); c.batchSize = batchSize; c.warmup = warmup
        c.maxLength = maxLength ?? (stage == "task" ? defaultMaxLength(task: task ?? "") : 128)
        c.seed = seed; c.maxSteps = maxSteps; c.saveEvery = saveEvery; c.debugKillAtStep = debugKillAtStep
        c.evalEvery = evalEvery
        c.emaDecay = ema
        c.groupByLength = groupByLength
        c.distillWeights = weights.weights
        if augment != 0 {
            guard stage == "task", augment > 0 else { throw ValidationError("--augment is a positive count, for --stage task") }
            c.augment = augment
        }
        if let transfer {
            guard stage == "task" else { throw ValidationError("--transfer is for --stage task") }
            c.transferTasks = taskList(transfer)
        }
        if let transferAugment {
            guard transfer != nil, transferAugment >= 0 else { throw ValidationError("--transfer-augment is a count of 0 or more, with --transfer") }
            c.transferAugment = transferAugment
        }
        if corpusTransfer != 0 {
            guard stage == "task", corpusTransfer > 0 else { throw ValidationError("--corpus-transfer is a positive count, for --stage task") }
            c.corpusTransfer = corpusTransfer
            c.transferCorpusDir = defaultCorpusDir(corpus)
        }
        let printer = EventPrinter()
        let tuner = try FineTuner(c, onEvent: printer.handle)
        try tuner.run(resume: resume, onEvent: printer.handle)
        printer.finish()
        if let d = FileManager.default.contents(atPath: out + "/eval_results.json") { print(String(decoding: d, as: UTF8.self)) }
    }
}

extension DistillWeights.LogitLoss: ExpressibleByArgument {}

/// The distillation terms' weights and temperature (`kbert distill`, `kbert pipeline`).
struct DistillWeightOptions: ParsableArguments {
    @Option(help: "Temperature of the soft logit loss.") var temperature: Float = 1
    @Option(help: "Weight of the embedding-output MSE.") var wEmbedding: Float = 1
    @Option(help: "Weight of the attention-score MSE (summed over layers).") var wAttention: Float = 1
    @Option(help: "Weight of the layer-output MSE (summed over layers).") var wHidden: Float = 1
    @Option(help: "Weight of the logit loss.") var wLogits: Float = 1
    @Option(help: "Weight of the supervised loss.") var wSupervised: Float = 1
    @Option(help: "A classifier's logit loss: ce (soft cross-entropy at --temperature, the paper's) or mse (the mean squared error between the logits, Kim et al. 2021: it matches the teacher's margins, which near-uniform soft labels barely constrain). Regression always uses MSE; SQuAD's span loss is soft cross-entropy.") var logitLoss: DistillWeights.LogitLoss = .ce

    var weights: DistillWeights {
        var w = DistillWeights()
        w.temperature = temperature; w.embedding = wEmbedding; w.attention = wAttention; w.hidden = wHidden
        w.logits = wLogits; w.supervised = wSupervised
        w.logitLoss = logitLoss
        return w
    }
}
