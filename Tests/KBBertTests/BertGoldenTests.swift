import Foundation
import Testing
import KBTestSupport
import KBSafeTensors
import KBTensor
import KBTokenizer
@testable import KBBert

let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let miniLM = repoRoot.appendingPathComponent("models/all-MiniLM-L6-v2").path
func fixture(_ name: String) -> String { Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil)!.path }

/// Largest |a - b| over whole tensors, with shapes checked.
func maxDiff(_ a: Tensor, _ b: Tensor) -> Float {
    #expect(a.shape == b.shape)
    guard a.shape == b.shape else { return .infinity }
    return a.maxAbsDiff(b)
}

func ints(_ f: SafeTensorsFile, _ name: String) throws -> [Int32] { try f.intTensor(name).values.map { Int32($0) } }

@Suite struct BertGoldenTests {
    static func tinyInput() throws -> (BertInput, SafeTensorsFile) {
        let g = try SafeTensorsFile(path: fixture("tiny_golden.safetensors"))
        let ids = try ints(g, "input_ids"), types = try ints(g, "token_type_ids"), mask = try ints(g, "attention_mask")
        let T = 7
        var seqs: [[Int32]] = [], tys: [[Int32]] = []
        for b in 0..<3 {
            let n = mask[b * T ..< (b + 1) * T].filter { $0 == 1 }.count
            seqs.append(Array(ids[b * T ..< b * T + n])); tys.append(Array(types[b * T ..< b * T + n]))
        }
        let input = BertInput(ids: seqs, typeIds: tys)
        #expect(input.ids == ids && input.mask == mask && input.typeIds == types)
        return (input, g)
    }

    @Test(arguments: ["tiny-cls", "tiny-qa"])
    func tinyModelMatchesPyTorch(name: String) throws {
        let plain = try BertModel.load(folder: fixture(name))
        var packed = plain
        packed.packForInference()
        #expect(packed.packed.isEmpty != PackedWeight.isSupported, "every dense encoder weight packed where the kernel runs")
        let (input, g) = try Self.tinyInput()
        for (threads, model) in [(1, plain), (2, plain), (1, packed), (2, packed)] {
            Threads.set(threads)
            let out = try model.forward(input, options: ForwardOptions(hiddenStates: true, attentionScores: true))
            let hs = try #require(out.hiddenStates), sc = try #require(out.attentionScores)
            #expect(hs.count == 3 && sc.count == 2)
            for (i, h) in hs.enumerated() {
                let d = maxDiff(h, try g.floatTensor("\(name).hidden.\(i)"))
                #expect(d < 1e-5, "\(name) hidden state \(i): max abs diff \(d)")
            }
            for (i, s) in sc.enumerated() {
                let d = maxDiff(s, try g.floatTensor("\(name).scores.\(i)"))
                #expect(d < 1e-5, "\(name) attention scores \(i): max abs diff \(d)")
            }
            let dl = maxDiff(out.lastHiddenState, try g.floatTensor("\(name).hidden.2"))
            #expect(dl < 1e-5)
            if g.contains("\(name).pooled") {
                let dp = maxDiff(try #require(out.pooled), try g.floatTensor("\(name).pooled"))
                #expect(dp < 1e-5, "\(name) pooled: \(dp)")
            }
            let dlog = maxDiff(try #require(out.logits), try g.floatTensor("\(name).logits"))
            #expect(dlog < 1e-5, "\(name) logits: \(dlog)")
        }
    }

    /// With the classical packs (`kbert run`'s default; the tiny model's test covers unpacked) and
    /// with Strassen packs (`kbert run --strassen`: every MiniLM matrix fits).
    @Test(arguments: [false, true])
    func miniLMMatchesPyTorchOnRealText(strassen: Bool) throws {
        guard FileManager.default.fileExists(atPath: miniLM + "/model.safetensors") else {
            Issue.record("default model missing: run scripts/setup.sh"); return
        }
        var model = try BertModel.load(folder: miniLM)
        model.packForInference(strassen: strassen)
        if PackedWeight.isSupported { #expect(model.packed.values.allSatisfy { $0.strassen == strassen }) }
        let tok = try BertTokenizer(folder: miniLM)
        let g = try SafeTensorsFile(path: fixture("minilm_golden.safetensors"))
        let texts = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: fixture("minilm_golden.json")))) as! [[String: Any]]
        #expect(texts.count >= 32)
        let refIds = try ints(g, "input_ids"), lens = try ints(g, "lengths").map(Int.init)
        let encs = try texts.map { try tok.encode($0["a"] as! String, $0["b"] as? String) }
        #expect(encs.flatMap(\.ids) == refIds, "our tokenizer gives HF's ids")
        // One batch of all texts (HF ran batches of 12): padding to another length must not matter.
        Threads.set(2)
        let input = BertInput(ids: encs.map(\.ids), typeIds: encs.map(\.typeIds), padId: tok.padId)
        let out = try model.forward(input)
        let H = model.config.hiddenSize, T = input.seqLen
        let refHidden = try g.floatTensor("hidden"), refPooled = try g.floatTensor("pooled")
        var worst: Float = 0, row = 0
        for (b, n) in lens.enumerated() {
            for t in 0..<n {
                for j in 0..<H {
                    worst = max(worst, abs(out.lastHiddenState.data[(b * T + t) * H + j] - refHidden.data[(row + t) * H + j]))
                }
            }
            row += n
        }
        #expect(worst < 1e-4, "MiniLM last hidden state (Strassen \(strassen)): max abs diff \(worst)")
        let dp = maxDiff(try #require(out.pooled), refPooled)
        #expect(dp < 1e-4, "MiniLM pooled: max abs diff \(dp)")
        // The last layer for the [CLS] rows alone (`kbert run --pooled-only`, evaluation).
        let cls = try model.forward(input, options: ForwardOptions(clsOnly: true))
        #expect(cls.lastHiddenState.shape == [input.batch, 1, H])
        let dc = maxDiff(try #require(cls.pooled), refPooled)
        #expect(dc < 1e-4, "MiniLM pooled, [CLS]-only last layer: max abs diff \(dc)")
    }

    @Test func changingParametersDropsThePackedWeights() throws {
        var model = try BertModel.load(folder: fixture("tiny-cls"))
        model.packForInference()
        guard PackedWeight.isSupported else { #expect(model.packed.isEmpty); return }
        #expect(model.packed.count == model.config.numHiddenLayers * 4, "Q|K|V, W_o, W_1, W_2 per layer")
        let (input, _) = try Self.tinyInput()
        let before = try model.forward(input).lastHiddenState
        let ref = try #require(model.params.ref("encoder.layer.0.intermediate.dense.weight"))
        model.params.set(ref, model.params.values(ref).map { $0 * 2 })
        #expect(model.packed.isEmpty, "a change to the parameters must drop the stale packed copies")
        var fresh = model
        fresh.packForInference()
        let changed = try model.forward(input).lastHiddenState, repacked = try fresh.forward(input).lastHiddenState
        #expect(maxDiff(changed, before) > 1e-3, "the change reaches the output")
        #expect(maxDiff(changed, repacked) < 1e-5)
    }

    /// A random 2-layer BERT (hidden 96, 4 heads, intermediate 192: shapes that fit Strassen packs)
    /// with a classifier.
    static func randomBert(labels: Int, seed: UInt64) -> BertModel {
        var c = BertConfig()
        c.vocabSize = 50; c.hiddenSize = 96; c.numHiddenLayers = 2; c.numAttentionHeads = 4; c.intermediateSize = 192
        c.maxPositionEmbeddings = 16
        var model = BertModel(config: c, pooler: true, head: .classification(numLabels: labels))
        model.initializeRandomly(seed: seed)
        return model
    }

    /// A training step with Strassen packs (`ForwardOptions.strassen`) on a random BERT whose
    /// matrices fit (hidden 96, intermediate 192; 27 rows, so an odd leftover row) gives the
    /// unpacked step's outputs and gradients, at one and two threads.
    @Test func strassenTrainingStepEqualsUnpacked() throws {
        let model = Self.randomBert(labels: 2, seed: 7)
        var rng = SplitMix64(seed: 9)
        let seqs: [[Int32]] = [9, 9, 9].map { n in (0..<n).map { _ in Int32(rng.next() % 50) } }
        let input = BertInput(ids: seqs, typeIds: seqs.map { $0.map { _ in 0 } })
        let all = ForwardOptions(hiddenStates: true, attentionScores: true)
        var fast = packing(all, true); fast.strassen = true
        let up = BertUpstream(logits: (0..<(input.batch * 2)).map { _ in Float(rng.next() % 1000) / 500 - 1 },
                              hidden: [1: (0..<(input.batch * input.seqLen * 96)).map { _ in Float(rng.next() % 1000) / 500 - 1 }])
        for threads in [1, 2] {
            Threads.set(threads)
            let (a, ga, _) = try trainingStep(model, input, options: packing(all, false), upstream: up)
            let (b, gb, n) = try trainingStep(model, input, options: fast, upstream: up)
            if PackedWeight.isSupported {
                // Every matrix of this model fits: all of them (both layouts) take Strassen packs.
                var drop: DropoutState? = nil
                let (_, cache) = try model.forwardTrain(input, options: fast, dropout: &drop)
                #expect(n > 0 && cache.strassenPackedCount == n, "\(cache.strassenPackedCount) of \(n) packs are Strassen packs")
            }
            // The classical packed step's bounds (packedTrainingStepEqualsUnpacked): measured 7e-7
            // on the hidden state and 1.2e-7 of the largest gradient here.
            #expect(maxDiff(a.lastHiddenState, b.lastHiddenState) < 1e-5)
            #expect(maxDiff(try #require(a.logits), try #require(b.logits)) < 1e-5)
            var worst: Float = 0, scale: Float = 0
            for i in ga.indices { worst = max(worst, abs(ga[i] - gb[i])); scale = max(scale, abs(ga[i])) }
            #expect(scale > 0 && worst <= 1e-5 * max(1, scale), "\(threads) thread(s): gradients differ by \(worst) (largest \(scale))")
        }
    }

    /// A training step with its weights packed (`ForwardOptions.packWeights`: W for the forward
    /// products, Wᵀ for the input gradients) gives the unpacked step's outputs and every gradient,
    /// at one and two threads (upstream gradients on the logits and on a hidden state).
    @Test func packedTrainingStepEqualsUnpacked() throws {
        let model = try BertModel.load(folder: fixture("tiny-cls"))
        let (input, _) = try Self.tinyInput()
        let all = ForwardOptions(hiddenStates: true, attentionScores: true)
        var rng = SplitMix64(seed: 3)
        guard case let .classification(labels) = model.head else { Issue.record("tiny-cls has no classifier"); return }
        let up = BertUpstream(logits: (0..<(input.batch * labels)).map { _ in Float(rng.next() % 1000) / 500 - 1 },
                              hidden: [1: (0..<(input.batch * input.seqLen * model.config.hiddenSize)).map { _ in Float(rng.next() % 1000) / 500 - 1 }])
        for threads in [1, 2] {
            Threads.set(threads)
            let (a, ga, _) = try trainingStep(model, input, options: packing(all, false), upstream: up)
            let (b, gb, _) = try trainingStep(model, input, options: packing(all, true), upstream: up)
            #expect(maxDiff(a.lastHiddenState, b.lastHiddenState) < 1e-5)
            #expect(maxDiff(try #require(a.logits), try #require(b.logits)) < 1e-5)
            var worst: Float = 0, scale: Float = 0
            for i in ga.indices { worst = max(worst, abs(ga[i] - gb[i])); scale = max(scale, abs(ga[i])) }
            #expect(scale > 0 && worst <= 1e-5 * max(1, scale), "\(threads) thread(s): gradients differ by \(worst) (largest \(scale))")
        }
    }

    /// A last layer computed for the [CLS] rows alone (`ForwardOptions.clsOnly`) gives the full
    /// pass's pooled output, logits and every gradient, on padded sequences of three lengths,
    /// packed (42 rows) and unpacked, at one and two threads; inference gives the same logits.
    @Test func clsOnlyLastLayerEqualsFullPass() throws {
        let model = Self.randomBert(labels: 3, seed: 11)
        var rng = SplitMix64(seed: 5)
        let seqs: [[Int32]] = [14, 5, 9].map { n in (0..<n).map { _ in Int32(rng.next() % 50) } }
        let input = BertInput(ids: seqs, typeIds: seqs.map { $0.map { _ in 0 } })
        let up = BertUpstream(logits: (0..<(input.batch * 3)).map { _ in Float(rng.next() % 1000) / 500 - 1 })
        for threads in [1, 2] {
            Threads.set(threads)
            for pack in [false, true] {
                var cls = packing(ForwardOptions(), pack); cls.clsOnly = true
                let (a, ga, _) = try trainingStep(model, input, options: packing(ForwardOptions(), pack), upstream: up)
                let (b, gb, _) = try trainingStep(model, input, options: cls, upstream: up)
                #expect(b.lastHiddenState.shape == [3, 1, 96])
                for i in 0..<3 {
                    let full = a.lastHiddenState.data[(i * 14 * 96)..<(i * 14 * 96 + 96)], row = b.lastHiddenState.data[(i * 96)..<(i * 96 + 96)]
                    #expect(zip(full, row).map { abs($0 - $1) }.max()! < 1e-5, "sequence \(i)'s [CLS] row")
                }
                #expect(maxDiff(try #require(a.pooled), try #require(b.pooled)) < 1e-5)
                #expect(maxDiff(try #require(a.logits), try #require(b.logits)) < 1e-5)
                var worst: Float = 0, scale: Float = 0
                for i in ga.indices { worst = max(worst, abs(ga[i] - gb[i])); scale = max(scale, abs(ga[i])) }
                #expect(scale > 0 && worst <= 1e-5 * max(1, scale), "\(threads) thread(s), packed \(pack): gradients differ by \(worst) (largest \(scale))")
            }
            let full = try model.forward(input), cls = try model.forward(input, options: ForwardOptions(clsOnly: true))
            #expect(maxDiff(try #require(full.logits), try #require(cls.logits)) < 1e-5)
        }
        // Asking for the hidden states (as distillation does) keeps the full last layer.
        let (out, _, _) = try trainingStep(model, input, options: ForwardOptions(hiddenStates: true, clsOnly: true), upstream: up)
        #expect(out.lastHiddenState.shape == [3, 14, 96])
    }

    @Test func paddingDoesNotChangeRealPositions() throws {
        let model = try BertModel.load(folder: fixture("tiny-cls"))
        let seqs: [[Int32]] = [[5, 8, 13, 21, 34], [3, 1, 4]]
        let alone = try seqs.map { try model.forward(BertInput(ids: [$0])) }
        let padded = try model.forward(BertInput(ids: seqs, padTo: 11))
        let H = model.config.hiddenSize
        for (b, s) in seqs.enumerated() {
            for t in 0..<s.count {
                for j in 0..<H {
                    let x = padded.lastHiddenState.data[(b * 11 + t) * H + j], y = alone[b].lastHiddenState.data[t * H + j]
                    #expect(abs(x - y) < 1e-5)
                }
            }
            let dl = zip(padded.logits!.data[(b * 3)..<(b * 3 + 3)], alone[b].logits!.data).map { abs($0 - $1) }.max()!
            #expect(dl < 1e-5)
        }
    }
}
