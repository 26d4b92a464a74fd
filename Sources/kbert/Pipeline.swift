import ArgumentParser
import Foundation
import KBBert
import KBCompress
import KBData
import KBDistill
import KBSafeTensors
import KBTensor
import KBTokenizer
import KBTrain

struct Pipeline: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Every step: fine-tune the teacher, compress, general distillation, task distillation, evaluate.",
        discussion: """
        OUT/teacher (fine-tuned, unless --teacher is given), OUT/student-init (nearest Kronecker
        product of --model), OUT/student-general (stage 1, unless --general-student is given),
        OUT/student (stage 2, the classifier copied from the teacher), with --polish-epochs N also
        OUT/student-polish (N more epochs of the prediction terms alone at --polish-lr: the full
        runs' "-cont" recipe; the better of the two on dev is the one reported; with --assistant
        both distill from that model instead of the teacher; with --assistant-preset P or
        --assistant-ratio R the pipeline first makes that model itself, a student of plan P / ratio
        R trained the same way into OUT/assistant-init, -general, OUT/assistant and -polish, the
        better of the last two on dev serving as the assistant), then a results
        table, also written as OUT/results.json: dev metric and retention, parameters and
        compression factor, file sizes, measured forward speed-up (1×128, the chosen threads).
        SQuAD (--task squad or squad-v2; --data the folder of its JSON files): the teacher and
        stage 2 train on windows of --max-length tokens (default 384) sharing --doc-stride, the
        student gets the teacher's qa_outputs, stage 1 runs on sequences of --general-max-length
        (default 128), and the table compares dev F1 (EM in results.json).
        """)

    @Option(help: "Pre-trained BERT folder (the stage-1 teacher and the source of the student).") var model: String
    @Option(help: "Task name: a GLUE task, or squad / squad-v2.") var task: String
    @Option(help: "Output folder.") var out: String
    @OptionGroup(title: "Compression plan (as in `kbert compress`)") var planOptions: PlanOptions
    @OptionGroup var weighting: EmbeddingWeightOptions
    @Option(help: "Reuse a fine-tuned teacher instead of fine-tuning one.") var teacher: String?
    @Option(help: "Reuse a stage-1 student instead of running stage 1 (the student's; an assistant made with --assistant-preset/-ratio runs its own).") var generalStudent: String?
    @Option(help: "Stage 2 (and the polish phase) distills from this fine-tuned model instead of the teacher: a teacher assistant, e.g. a ratio-8 student of the task for a ratio-21 one (session 23: STS-B at ratio 21 kept 92.3% against 86.1% from the dense teacher); the table still compares with the teacher.") var assistant: String?
    @Option(help: "Make the teacher assistant first: a student compressed with this preset (e.g. tuned8 for a tuned21 student), trained by the same stages from the teacher, then used as --assistant.") var assistantPreset: String?
    @Option(help: "As --assistant-preset, with the assistant's shapes planned for this compression factor.") var assistantRatio: Double?
    @Option(help: "GLUE root (default: $KBERT_DATA/glue or ../shared/data/glue); for SQuAD the folder of its JSON files (default: $KBERT_DATA/squad).") var data: String?
    @Option(help: "WikiExtractor folder for stage 1 (and --corpus-transfer).") var corpus: String?
    @Option(help: "Content tokens for stage 1 (0 skips it).") var generalTokens: Int = 1_000_000
    @Option(help: "Teacher fine-tuning epochs.") var teacherEpochs: Int = 3
    @Option(help: "Teacher fine-tuning steps at most.") var teacherSteps: Int?
    @Option(help: "Stage-2 epochs.") var epochs: Int = 3
    @Option(help: "Stage-2 steps at most.") var steps: Int?
    @Option(help: "Stage-1 epochs over its tokens.") var generalEpochs: Int = 1
    @Option(help: "Examples per batch.") var batchSize: Int = 32
    @Option(help: "Tokens per example (default 128; SQuAD: per window, default 384).") var maxLength: Int?
    @Option(help: "SQuAD: context tokens shared by consecutive windows.") var docStride: Int = 128
    @Option(help: "Teacher learning rate.") var teacherLr: Float = 5e-5
    @Option(help: "Stage-1 learning rate.") var generalLr: Float = 5e-4
    @Option(help: "Stage-1 warm-up fraction or steps.") var generalWarmup: Double = 0.05
    @Option(help: "Stage-1 tokens per packed sequence (default: --max-length, SQuAD 128; the full runs used 64).") var generalMaxLength: Int?
    @Option(help: "Stage-2 learning rate.") var lr: Float = 3e-4
    @Option(help: "Stage 2: label-free variants per training example (masked / replaced words), taught by the teacher alone.") var augment: Int = 0
    @Option(help: ArgumentHelp("Stage 2: other GLUE tasks' training texts, without their labels, added to the transfer set (as kbert distill --transfer; TASK:dev for another task's dev texts).", valueName: "TASK,...")) var transfer: String?
    @Option(help: "Stage 2: label-free variants per --transfer text (as kbert distill --transfer-augment; default: --augment's count).") var transferAugment: Int?
    @Option(help: "Stage 2: this many unlabeled texts from the corpus (--corpus) join the transfer set, not augmented (as kbert distill --corpus-transfer).") var corpusTransfer: Int = 0
    @Option(help: "Stage 2 (and the polish phase): evaluate and keep an exponential moving average of the weights with this decay (as kbert distill --ema).") var ema: Float?
    @Option(help: "Stage-2 schedule: two-phase (intermediate terms, then prediction terms) or joint (the paper's).") var schedule: String = "two-phase"
    @Option(help: "Stage 2 with --schedule two-phase: the prediction phase's own peak learning rate (each phase its own warm-up and decay, AdamW restarted at the switch).") var predictionLr: Float?
    @Option(help: "After stage 2: epochs of the prediction terms alone (logits and labels, same data) from its student; 0 skips.") var polishEpochs: Int = 0
    @Option(help: "Learning rate of the --polish-epochs phase.") var polishLr: Float = 1e-4
    @OptionGroup(title: "Distillation terms (both stages)") var weights: DistillWeightOptions
    @Option(help: "Seed.") var seed: UInt64 = 42
    @Option(help: "Teacher fine-tuning and stage 2: examples sorted by length within runs of N shuffled batches, so batches pad little (0: plain shuffled batches).") var groupByLength: Int = FineTuneConfig.defaultGroupByLength
    @OptionGroup var threads: ThreadOptions

    func run() throws {
        try threads.apply()
        guard ["joint", "two-phase"].contains(schedule) else { throw ValidationError("--schedule must be joint or two-phase") }
        guard polishEpochs >= 0 else { throw ValidationError("--polish-epochs must be 0 or more") }
        guard corpusTransfer >= 0 else { throw ValidationError("--corpus-transfer must be 0 or more") }
        if let n = transferAugment, n < 0 || transfer == nil { throw ValidationError("--transfer-augment is a count of 0 or more, with --transfer") }
        if let p = predictionLr, !(p > 0 && schedule == "two-phase") {
            throw ValidationError("--prediction-lr is a positive rate, for --schedule two-phase")
        }
        guard [assistant != nil, assistantPreset != nil, assistantRatio != nil].filter({ $0 }).count <= 1 else {
            throw ValidationError("give one of --assistant DIR, --assistant-preset P, --assistant-ratio R")
        }
        let squad = SquadTask(name: task)
        let taskName = try squad?.rawValue ?? GlueTask(name: task).rawValue   // an unknown task fails here, before any work
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        let printer = EventPrinter()
        func stage(_ s: String) { printer.endLine(); FileHandle.standardError.write(Data("\n== \(s)\n".utf8)) }
        // 1. Teacher.
        if teacher == nil {
            stage("fine-tune the teacher -> \(teacherDir)")
            var c = FineTuneConfig(task: task, modelDir: model, dataDir: dataRoot, outDir: teacherDir)
            c.epochs = teacherEpochs; c.maxSteps = teacherSteps; c.lr = teacherLr; c.batchSize = batchSize
            c.maxLength = taskMaxLength; c.docStride = docStride; c.seed = seed; c.groupByLength = groupByLength
            try FineTuner(c, onEvent: printer.handle).run(resume: true, onEvent: printer.handle)
        }
        // 2–4. The assistant (when the pipeline makes it), then the student: compress the
        // pre-trained model, stage 1, stage 2 (the classifier and pooler come from the model it
        // distills from: FineTuner copies them), optionally the polish phase.
        let pre = try BertModel.load(folder: model)
        let plan = try planOptions.resolve(teacher: pre)
        let assistantPlan = try assistantPlanOptions()?.resolve(teacher: pre)
        let tok = try BertTokenizer(folder: teacherDir)
        let padId = tok.padId
        // The task's dev metrics of a model, main metric first (GLUE's in [0, 1], SQuAD's in percent).
        let evaluateDev: (BertModel) throws -> [(String, Double)]
        if let squad {
            let devPath = dataRoot + "/" + squad.fileName(.dev)
            let devSet = try SquadDataset.read(path: devPath)
            let features = try QAFeaturizer(maxLength: taskMaxLength, docStride: docStride).features(devSet.examples, tokenizer: tok, source: devPath)
            evaluateDev = { try Evaluator.evaluateSquad($0, data: devSet, features: features, padId: padId).scores.metrics }
        } else {
            let glue = try GlueTask(name: task)
            let devData = try TaskDataset(examples: glue.read(root: dataRoot, split: .dev), tokenizer: tok, maxLength: taskMaxLength)
            evaluateDev = { try Evaluator.evaluate($0, task: glue, data: devData, padId: padId) }
        }
        let percent = squad != nil ? 1.0 : 100.0
        /// Every candidate scored on dev, and the best by the task's main metric (the first candidate on ties).
        func scoreOnDev(_ dirs: [String]) throws -> (all: [Scored], best: Scored) {
            var all: [Scored] = []
            for d in dirs {
                var m = try BertModel.load(folder: d)
                m.packForInference()
                all.append((d, m, try evaluateDev(m)))
            }
            return (all, all.dropFirst().reduce(all[0]) { $1.metrics[0].1 > $0.metrics[0].1 ? $1 : $0 })
        }
        var stage2Teacher = assistant ?? teacherDir
        if let assistantPlan {
            let made = try train(plan: assistantPlan, pre: pre, name: "assistant", general: nil,
                                 stage2Teacher: teacherDir, printer: printer, stage: stage)
            let scored = try scoreOnDev(made)
            for s in scored.all {
                FileHandle.standardError.write(Data("assistant candidate \(s.dir): dev \(String(format: "%.2f", s.metrics[0].1 * percent))\n".utf8))
            }
            stage2Teacher = scored.best.dir
        }
        let candidates = try train(plan: plan, pre: pre, name: "student", general: generalStudent,
                                   stage2Teacher: stage2Teacher, printer: printer, stage: stage)
        printer.finish()
        // 5. Evaluate and compare (with a polish phase, the better student on dev is reported).
        var tm = try BertModel.load(folder: teacherDir)
        tm.packForInference()
        let tMetrics = try evaluateDev(tm)
        let (scored, chosen) = try scoreOnDev(candidates)
        if scored.count > 1 {
            for s in scored {
                print("\(s.dir): dev \(s.metrics[0].0) \(String(format: "%.2f", s.metrics[0].1 * percent))\(s.dir == chosen.dir ? "  (reported)" : "")")
            }
        }
        let studentDir = chosen.dir, sm = chosen.model, sMetrics = chosen.metrics
        let tMs = try latency(tm), sMs = try latency(sm)
        let size = { (d: String) -> Int in ((try? FileManager.default.attributesOfItem(atPath: d + "/model.safetensors"))?[.size] as? Int) ?? 0 }
        let main = tMetrics[0].0
        let tv = tMetrics[0].1, sv = sMetrics[0].1
        let rows: [[String]] = [
            ["", "teacher", "student", "student / teacher"],
            ["dev \(main)", String(format: "%.2f", tv * percent), String(format: "%.2f", sv * percent), String(format: "%.1f%% retained", tv != 0 ? sv / tv * 100 : 0)],
            ["parameters", fmtInt(tm.parameterCount), fmtInt(sm.parameterCount), String(format: "%.2fx smaller", Double(tm.parameterCount) / Double(sm.parameterCount))],
            ["file (bytes)", fmtInt(size(teacherDir)), fmtInt(size(studentDir)), String(format: "%.2fx smaller", Double(size(teacherDir)) / Double(max(1, size(studentDir))))],
            ["FLOPs (128 tokens)", String(format: "%.3g", tm.encoderLinearFLOPs()), String(format: "%.3g", sm.encoderLinearFLOPs()), String(format: "%.2fx fewer", tm.encoderLinearFLOPs() / sm.encoderLinearFLOPs())],
            ["latency 1x128, \(Threads.count) thr", String(format: "%.1f ms", tMs), String(format: "%.1f ms", sMs), String(format: "%.2fx faster", tMs / sMs)],
        ]
        print("")
        for r in rows { print(pad(r[0], 24) + pad(r[1], 16, right: true) + pad(r[2], 16, right: true) + "   " + r[3]) }
        let json: [String: Any] = [
            "task": taskName, "plan": plan.summary, "assistant": stage2Teacher == teacherDir ? NSNull() as Any : stage2Teacher as Any,
            "teacher": ["dir": teacherDir, "metrics": Dictionary(uniqueKeysWithValues: tMetrics), "parameters": tm.parameterCount,
                        "file_bytes": size(teacherDir), "flops": tm.encoderLinearFLOPs(), "latency_ms": tMs],
            "student": ["dir": studentDir, "metrics": Dictionary(uniqueKeysWithValues: sMetrics), "parameters": sm.parameterCount,
                        "file_bytes": size(studentDir), "flops": sm.encoderLinearFLOPs(), "latency_ms": sMs],
            "retention_percent": tv != 0 ? sv / tv * 100 : 0,
            "compression_factor": Double(tm.parameterCount) / Double(sm.parameterCount),
            "speedup": tMs / sMs,
            "candidates": scored.map { ["dir": $0.dir, "metrics": Dictionary(uniqueKeysWithValues: $0.metrics)] as [String: Any] },
        ]
        try AtomicFile.write(try JSONSerialization.data(withJSONObject: json, options: [.prettyPrinted, .sortedKeys]), to: out + "/results.json")
        print("\nwrote \(out)/results.json")
    }

    /// The fine-tuned teacher: --teacher, or the one the pipeline fine-tunes.
    var teacherDir: String { teacher ?? out + "/teacher" }
    /// The task's data folder: --data, else the GLUE root or the SQuAD folder under $KBERT_DATA.
    var dataRoot: String { defaultDataRoot(data, task: task) }
    /// Tokens per task example (per window for SQuAD).
    var taskMaxLength: Int { maxLength ?? defaultMaxLength(task: task) }

    typealias Scored = (dir: String, model: BertModel, metrics: [(String, Double)])

    /// The assistant's plan options when the pipeline is to make it (--assistant-preset / -ratio).
    func assistantPlanOptions() throws -> PlanOptions? {
        if let p = assistantPreset { return try PlanOptions.parse(["--preset", p]) }
        if let r = assistantRatio { return try PlanOptions.parse(["--ratio", String(r)]) }
        return nil
    }

    /// One student through the pipeline's stages: OUT/NAME-init (the nearest Kronecker product of
    /// --model under `plan`), OUT/NAME-general (stage 1 from --model, unless `general` is given or
    /// --general-tokens is 0), OUT/NAME (stage 2 from `stage2Teacher`), OUT/NAME-polish with
    /// --polish-epochs. Returns the candidate folders: stage 2's, then the polish phase's.
    func train(plan: CompressionPlan, pre: BertModel, name: String, general: String?, stage2Teacher: String,
               printer: EventPrinter, stage: (String) -> Void) throws -> [String] {
        let initDir = "\(out)/\(name)-init", dir = "\(out)/\(name)"
        stage("compress \(model) -> \(initDir)")
        let specs = try plan.specs(for: pre.config)
        let (initStudent, report) = try Compressor.compress(pre, specs: specs, rowWeights: try weighting.rowWeights(model: model, specs: specs))
        try initStudent.save(folder: initDir)
        try copyTokenizerFiles(from: model, to: initDir)
        FileHandle.standardError.write(Data("plan: \(plan.summary); mean relative error \(String(format: "%.3f", report.map(\.relativeError).reduce(0, +) / Double(max(report.count, 1))))\n".utf8))
        // Stage 1.
        var generalDir = initDir
        if let g = general { generalDir = g }
        else if generalTokens > 0 {
            stage("stage 1: general distillation on \(generalTokens) tokens -> \(dir)-general")
            var c = FineTuneConfig(task: "general", modelDir: initDir, dataDir: "", outDir: dir + "-general")
            c.teacherDir = model
            c.corpusDir = defaultCorpusDir(corpus)
            c.generalTokens = generalTokens; c.epochs = generalEpochs; c.lr = generalLr; c.warmup = generalWarmup
            c.batchSize = batchSize; c.maxLength = generalMaxLength ?? (SquadTask(name: task) != nil ? 128 : taskMaxLength); c.seed = seed; c.distillWeights = weights.weights
            try FineTuner(c, onEvent: printer.handle).run(resume: true, onEvent: printer.handle)
            generalDir = dir + "-general"
        }
        // Stage 2: the classifier (and pooler) come from the model it distills from.
        stage("stage 2: task distillation\(stage2Teacher != teacherDir ? " from the assistant \(stage2Teacher)" : "") -> \(dir)")
        var c = FineTuneConfig(task: task, modelDir: generalDir, dataDir: dataRoot, outDir: dir)
        c.teacherDir = stage2Teacher; c.schedule = schedule; c.predictionLR = predictionLr
        c.epochs = epochs; c.maxSteps = steps; c.lr = lr; c.batchSize = batchSize; c.maxLength = taskMaxLength; c.seed = seed
        c.distillWeights = weights.weights; c.augment = augment
        c.transferTasks = taskList(transfer); c.transferAugment = transferAugment
        c.groupByLength = groupByLength; c.docStride = docStride
        if corpusTransfer > 0 { c.corpusTransfer = corpusTransfer; c.transferCorpusDir = defaultCorpusDir(corpus) }
        c.emaDecay = ema
        try FineTuner(c, onEvent: printer.handle).run(resume: true, onEvent: printer.handle)
        // Optional polish: the prediction terms alone, from the stage-2 student.
        guard polishEpochs > 0 else { return [dir] }
        stage("stage 2, polish: prediction terms alone for \(polishEpochs) epoch(s) -> \(dir)-polish")
        var pc = c
        pc.modelDir = dir; pc.outDir = dir + "-polish"
        pc.schedule = "joint"; pc.epochs = polishEpochs; pc.lr = polishLr
        pc.distillWeights.embedding = 0; pc.distillWeights.attention = 0; pc.distillWeights.hidden = 0
        try FineTuner(pc, onEvent: printer.handle).run(resume: true, onEvent: printer.handle)
        return [dir, dir + "-polish"]
    }

    /// Median forward latency at 1×128 (or the model's maximum length) over 10 runs after 2 warm-ups.
    func latency(_ m: BertModel) throws -> Double {
        var rng = SplitMix64(seed: 1)
        let T = min(128, m.config.maxPositionEmbeddings)
        let input = BertInput(ids: [(0..<T).map { _ in Int32(rng.next() % UInt64(m.config.vocabSize)) }])
        var times: [Double] = []
        for i in 0..<12 {
            let t0 = DispatchTime.now().uptimeNanoseconds
            _ = try m.forward(input)
            if i >= 2 { times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6) }
        }
        return median(times)
    }
}
