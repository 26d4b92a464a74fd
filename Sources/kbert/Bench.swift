import ArgumentParser
import Foundation
import KBTensor
import KBBert
import KBCompress
import KBDistill
import KBLayers
import KBTrain
import KBTokenizer

struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Time a workload after a warm-up; report the median (and JSON with --json).",
        discussion: """
        Modes: gemm (C = A·Bᵀ at M×N×K, as a linear layer), tokenize (sentences/s over a text file).
        Ratios against baselines are computed by tools/bench_*.py in the same run.
        """)

    enum Mode: String, ExpressibleByArgument { case forward, train, distill, gemm, tokenize }

    @Option(help: "What to time: forward | train (forward + backward + AdamW) | distill (teacher forward + student forward/backward on every distillation term + AdamW) | gemm | tokenize.") var mode: Mode = .forward
    @Option(help: "Student folder (distill mode; else --preset gives a random-weight student of the teacher's config).") var student: String?
    @Option(help: "A config.json to benchmark with seeded random weights (forward mode).") var config: String?
    @Option(help: "With --config: benchmark a random-weight student of this preset (kb8, kb21, tuned8, tuned21).") var preset: String?
    @Option(help: "Batch size (forward mode).") var batch: Int = 1
    @Option(help: "Sequence length (forward mode).") var seq: Int = 128
    @Option(help: "GEMM rows (tokens).") var m: Int = 512
    @Option(help: "GEMM output features.") var n: Int = 768
    @Option(help: "GEMM input features.") var k: Int = 768
    @Option(help: "Timed iterations.") var iters: Int = 10
    @Option(help: "Warm-up iterations (and more until 0.2 s have passed).") var warmup: Int = 2
    @Option(help: "Model folder (tokenize mode).") var model: String?
    @Option(help: "Input file (tokenize mode; TSV: first column, header skipped with --header).") var input: String?
    @Flag(help: "Skip the first input line.") var header = false
    @Flag(help: "Print JSON.") var json = false
    @Flag(help: "Run every matrix through OpenBLAS sgemm instead of the packed GEMM (forward: the fixed weights; train: the per-step packs; distill: both).") var noPack = false
    @Flag(help: "Pack the matrices whose sides are even and >= 96 for one level of Strassen's algorithm (see PackedWeight) instead of the classical product.") var strassen = false
    @Flag(help: "Train mode: compute the last layer for every token, as PyTorch does, instead of for the [CLS] rows alone, all that the classifier reads (what `kbert finetune` does; same gradients).") var fullLastLayer = false
    @OptionGroup var threads: ThreadOptions

    func run() throws {
        try threads.apply()
        switch mode {
        case .forward: try benchForward()
        case .train: try benchTrain()
        case .distill: try benchDistill()
        case .gemm: try benchGemm()
        case .tokenize: try benchTokenize()
        }
    }

    func report(_ times: [Double], extra: [String: Double]) {
        let med = median(times)
        if json {
            var fields = ["\"median_ms\": \(med * 1000)", "\"threads\": \(Threads.count)"]
            for (k, v) in extra.sorted(by: { $0.key < $1.key }) { fields.append("\"\(k)\": \(v)") }
            print("{" + fields.joined(separator: ", ") + "}")
        } else {
            var line = String(format: "median %.3f ms over %d iterations, %d thread(s)", med * 1000, times.count, Threads.count)
            for (k, v) in extra.sorted(by: { $0.key < $1.key }) { line += String(format: ", %@ %.1f", k, v) }
            print(line)
        }
    }

    func benchForward() throws {
        guard batch > 0, seq > 0 else { throw ValidationError("--batch and --seq must be positive") }
        var m = try loadModel(model: model, config: config)
        if let preset {
            let specs = try Planner.preset(preset, teacher: m).specs(for: m.config)
            var cfg = m.config
            cfg.kronecker = specs
            m = BertModel(config: cfg, pooler: m.pooler != nil, head: m.head, kronecker: specs)
            m.initializeRandomly(seed: 0)
        }
        guard seq <= m.config.maxPositionEmbeddings else { throw ValidationError("--seq exceeds max_position_embeddings") }
        if !noPack { m.packForInference(strassen: strassen) }
        var rng = SplitMix64(seed: 1)
        let ids = (0..<batch).map { _ in (0..<seq).map { _ in Int32(rng.next() % UInt64(m.config.vocabSize)) } }
        let input = BertInput(ids: ids)
        let times = try timed {
            _ = try m.forward(input)
        }
        let tokensPerS = Double(batch * seq) / median(times)
        report(times, extra: ["tokens_per_s": tokensPerS, "peak_rss_mb": peakRSSMegabytes(),
                              "parameters": Double(m.parameterCount)])
    }

    /// One training step: forward with dropout, cross-entropy on a 2-way head, backward, AdamW.
    func benchTrain() throws {
        guard batch > 0, seq > 0 else { throw ValidationError("--batch and --seq must be positive") }
        // The loaded model is dropped once its weights are copied (kept alive, it was one more
        // parameter copy in the peak RSS).
        var m = withTwoWayHead(try loadModel(model: model, config: config), seed: 3)
        let (input, labels) = randomBatch(vocab: m.config.vocabSize)
        var opt = AdamW(parameters: m.params)
        var grads = [Float](repeating: 0, count: m.params.count)
        var drop: DropoutState? = DropoutState(seed: 5)
        let times = try timed {
            for i in grads.indices { grads[i] = 0 }
            let (out, cache) = try m.forwardTrain(input, options: ForwardOptions(packWeights: noPack ? false : nil, strassen: strassen,
                                                                                 clsOnly: !fullLastLayer), dropout: &drop)
            let (_, g) = Loss.crossEntropy(logits: out.logits!.data, labels: labels, classes: 2)
            grads.withUnsafeMutableBufferPointer { m.backward(cache, BertUpstream(logits: g), into: $0.baseAddress!) }
            clipGradNorm(&grads, maxNorm: 1)
            m.params.withMutableStorage { opt.update(params: &$0, grads: grads, lr: 1e-5) }
        }
        report(times, extra: ["tokens_per_s": Double(batch * seq) / median(times), "peak_rss_mb": peakRSSMegabytes(),
                              "parameters": Double(m.parameterCount)])
    }

    /// `warmup` untimed calls, and more until 0.2 s have passed (GCD starts its worker threads
    /// lazily: a few sub-millisecond calls can all run on the calling thread), then `iters` timed.
    func timed(_ body: () throws -> Void) rethrows -> [Double] {
        let start = DispatchTime.now().uptimeNanoseconds
        var done = 0
        while done < warmup || DispatchTime.now().uptimeNanoseconds - start < 200_000_000 {
            try body()
            done += 1
        }
        var times: [Double] = []
        for _ in 0..<iters {
            let t0 = DispatchTime.now().uptimeNanoseconds
            try body()
            times.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
        }
        return times
    }

    /// `batch` × `seq` seeded random token ids and 2-way labels (the same for every mode and run).
    func randomBatch(vocab: Int) -> (BertInput, [Int]) {
        var rng = SplitMix64(seed: 1)
        let ids = (0..<batch).map { _ in (0..<seq).map { _ in Int32(rng.next() % UInt64(vocab)) } }
        let labels = (0..<batch).map { _ in Int(rng.next() % 2) }
        return (BertInput(ids: ids), labels)
    }

    /// A model with a fresh 2-way classifier (and pooler when missing) over `base`'s weights.
    func withTwoWayHead(_ base: BertModel, seed: UInt64) -> BertModel {
        var cfg = base.config
        cfg.id2label = ["LABEL_0", "LABEL_1"]
        var m = BertModel(config: cfg, pooler: true, head: .classification(numLabels: 2), kronecker: base.kronecker)
        for (name, ref) in base.params.entries { if let r = m.params.ref(name), r.count == ref.count { m.params.set(r, base.params.values(ref)) } }
        m.initializeRandomly(seed: seed, only: ["classifier.", base.pooler == nil ? "pooler." : "-"])
        return m
    }

    /// One stage-2 distillation step (batch × seq, 2-way task): teacher forward with hidden states
    /// and scores, student forward with dropout, every term (embedding, attention, hidden, soft
    /// logits, cross-entropy), backward, clipping, AdamW.
    func benchDistill() throws {
        guard batch > 0, seq > 0 else { throw ValidationError("--batch and --seq must be positive") }
        // Loaded models are dropped once their weights are copied into the two-way-head models.
        var teacher = withTwoWayHead(try loadModel(model: model, config: config), seed: 3)
        if !noPack { teacher.packForInference(strassen: strassen) }
        let tc = teacher.config
        var s = try withTwoWayHead({ () throws -> BertModel in
            if let student { return try BertModel.load(folder: student) }
            guard let preset else { throw ValidationError("distill mode needs --student DIR or --preset") }
            let specs = try Planner.preset(preset, teacher: teacher).specs(for: tc)
            var sbase = BertModel(config: tc.with(kronecker: specs), pooler: true, kronecker: specs)
            sbase.initializeRandomly(seed: 4)
            return sbase
        }(), seed: 5)
        guard s.config.numHiddenLayers == teacher.config.numHiddenLayers, s.config.hiddenSize == teacher.config.hiddenSize else {
            throw ValidationError("the student's layers / hidden size differ from the teacher's")
        }
        let (input, labels) = randomBatch(vocab: tc.vocabSize)
        var opt = AdamW(parameters: s.params)
        var grads = [Float](repeating: 0, count: s.params.count)
        var drop: DropoutState? = DropoutState(seed: 5)
        let all = ForwardOptions(hiddenStates: true, attentionScores: true, packWeights: noPack ? false : nil, strassen: strassen)
        let times = try timed {
            for i in grads.indices { grads[i] = 0 }
            let tOut = try teacher.forward(input, options: all)
            let (out, cache) = try s.forwardTrain(input, options: all, dropout: &drop)
            let r = DistillStep.compute(teacher: tOut, student: out, input: input, heads: s.config.numAttentionHeads,
                                        weights: DistillWeights(), terms: DistillTerms(intermediate: true, prediction: true, supervised: true),
                                        labels: labels)
            grads.withUnsafeMutableBufferPointer { s.backward(cache, r.upstream, into: $0.baseAddress!) }
            clipGradNorm(&grads, maxNorm: 1)
            s.params.withMutableStorage { opt.update(params: &$0, grads: grads, lr: 1e-5) }
        }
        report(times, extra: ["tokens_per_s": Double(batch * seq) / median(times), "peak_rss_mb": peakRSSMegabytes(),
                              "student_parameters": Double(s.parameterCount)])
    }

    func benchGemm() throws {
        guard m > 0, n > 0, k > 0 else { throw ValidationError("--m, --n and --k must be positive") }
        var a = [Float](repeating: 0, count: m * k), b = [Float](repeating: 0, count: n * k)
        for i in a.indices { a[i] = Float(i % 13) * 0.01 - 0.06 }
        for i in b.indices { b[i] = Float(i % 7) * 0.02 - 0.06 }
        var c = [Float](repeating: 0, count: m * n)
        // With packing (the default where AVX-512 is there): B is a weight packed once, as in inference.
        let packed = noPack ? nil : b.withUnsafeBufferPointer { PackedWeight(weight: $0.baseAddress!, n: n, k: k, strassen: strassen) }
        let times = timed {
            a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
                if let packed {
                    packed.multiply(ap.baseAddress!, rows: m, out: cp.baseAddress!)
                } else {
                    sgemm(transA: false, transB: true, m: m, n: n, k: k, a: ap.baseAddress!, lda: k,
                          b: bp.baseAddress!, ldb: k, c: cp.baseAddress!, ldc: n)
                }
            } } }
        }
        let gflops = 2.0 * Double(m) * Double(n) * Double(k) / median(times) / 1e9
        report(times, extra: ["gflops": gflops])
    }

    func benchTokenize() throws {
        guard let model, let input else { throw ValidationError("tokenize mode needs --model and --input") }
        let tok = try BertTokenizer(folder: model)
        var lines = try readLines(input)
        if header, !lines.isEmpty { lines.removeFirst() }
        let texts = lines.map { line -> String in
            if let tab = line.firstIndex(of: "\t") { return String(line[..<tab]) }
            return line
        }
        var times: [Double] = []
        var checksum = 0
        for it in 0..<(warmup + iters) {
            let t0 = DispatchTime.now().uptimeNanoseconds
            for t in texts { checksum &+= try tok.encode(t).count }
            let dt = Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
            if it >= warmup { times.append(dt) }
        }
        report(times, extra: ["sentences_per_s": Double(texts.count) / median(times), "tokens": Double(checksum / (warmup + iters))])
    }
}

/// Peak resident set size of this process, in MiB (Linux ru_maxrss is in KiB).
func peakRSSMegabytes() -> Double {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_maxrss) / 1024
}

func median(_ v: [Double]) -> Double {
    let s = v.sorted()
    if s.isEmpty { return .nan }
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}
