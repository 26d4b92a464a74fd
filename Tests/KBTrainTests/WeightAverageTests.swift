import Foundation
import KBSafeTensors
import Testing
@testable import KBTrain

/// All of a checkpoint's parameters, in file order, and its weight average (nil when not saved).
private func checkpointValues(_ out: String) throws -> (params: [Float], average: [Float]?, updates: Int?) {
    let weights = try latestCheckpointWeights(out)
    let file = try SafeTensorsFile(path: weights)
    let params = try file.names.flatMap { try file.floatTensor($0).data }
    let opt = try SafeTensorsFile(path: weights.replacingOccurrences(of: "/model-", with: "/optimizer-"))
    let state = try JSONDecoder().decode(TrainState.self, from: Data(contentsOf: URL(fileURLWithPath: out + "/checkpoint/state.json")))
    return (params, opt.contains("average") ? try opt.floatTensor("average").data : nil, state.averageUpdates)
}

/// Values of a saved model folder's weights by name, without HF's `bert.` prefix (the checkpoint's names).
private func folderWeights(_ dir: String) throws -> [String: [Float]] {
    let f = try SafeTensorsFile(path: dir + "/model.safetensors")
    return Dictionary(uniqueKeysWithValues: try f.names.map { (String($0.hasPrefix("bert.") ? $0.dropFirst(5) : $0[...]), try f.floatTensor($0).data) })
}

@Suite(.serialized) struct WeightAverageTests {
    @Test func rampAndUpdate() {
        #expect(WeightAverage.decay(0.999, update: 1) == Float(2) / 11)
        #expect(WeightAverage.decay(0.5, update: 100) == 0.5)
        var a = WeightAverage(decay: 0.9, start: [1, -2])
        a.update([3, 2])                                   // d = 2/11
        #expect(abs(a.values[0] - Float((2.0 * 1 + 9.0 * 3) / 11)) < 1e-6 && abs(a.values[1] - Float((2.0 * -2 + 9.0 * 2) / 11)) < 1e-6)
        a.restart(from: [5, 5])
        #expect(a.updates == 0 && a.values == [5, 5])
    }

    /// `finetune --ema D`: the training is unchanged (same final weights as without it); the
    /// checkpoint's average follows ā_k = d_k ā_{k−1} + (1 − d_k) θ_k with d_k = min(D, (1+k)/(10+k))
    /// (checked from runs killed after steps 4 and 5); the kept model is the average (one
    /// evaluation, at the end of one epoch); a killed run resumes to the same average and model;
    /// another decay does not resume it, and a decay outside (0, 1) is rejected.
    @Test func averagedWeightsAreEvaluatedAndResume() throws {
        guard let bin = kbertBinary() else { Issue.record("kbert binary not built next to the tests"); return }
        let (model, glue, root) = try tinySetup()
        defer { try? FileManager.default.removeItem(atPath: root) }
        // 42 examples, batch 4: 11 steps in one epoch.
        let common = ["finetune", "--model", model, "--task", "sst2", "--data", glue, "--epochs", "1", "--batch-size", "4",
                      "--lr", "1e-3", "--seed", "7", "--threads", "1", "--max-length", "16"]
        let ema = ["--ema", "0.5"]
        let plain = try runKbert(bin, common + ["--out", root + "/plain"])
        #expect(plain.status == 0, "\(plain.stderr)")
        let a = try runKbert(bin, common + ema + ["--out", root + "/a", "--save-every", "3"])
        #expect(a.status == 0, "\(a.stderr)")
        let (pa, avgA, updatesA) = try checkpointValues(root + "/a")
        #expect(pa == (try checkpointValues(root + "/plain")).params, "averaging changed the training")
        let average = try #require(avgA)
        #expect(updatesA == 11 && average.count == pa.count && average != pa)
        // The kept model is the average: its file holds the same values (the checkpoint's order
        // is the parameter store's, the folder's is by name; compare as multisets of tensors).
        let kept = try folderWeights(root + "/a")
        let ckpt = try SafeTensorsFile(path: try latestCheckpointWeights(root + "/a"))
        var offset = 0
        for name in ckpt.names {
            let n = try ckpt.floatTensor(name).data.count
            let same = kept[name] == Array(average[offset..<(offset + n)])
            #expect(same, "\(name): the kept model is not the average (found in the folder: \(kept[name] != nil))")
            offset += n
        }
        // The recursion, from runs killed after steps 4 and 5 (a checkpoint after every step).
        var at: [Int: (params: [Float], average: [Float]?, updates: Int?)] = [:]
        for k in [4, 5] {
            let r = try runKbert(bin, common + ema + ["--out", root + "/k\(k)", "--save-every", "1", "--debug-kill-at-step", "\(k)"])
            #expect(r.signaled, "\(r.stderr)")
            at[k] = try checkpointValues(root + "/k\(k)")
        }
        let a4 = try #require(at[4]?.average), a5 = try #require(at[5]?.average), p5 = try #require(at[5]?.params)
        #expect(at[5]?.updates == 5)
        let d = Double(min(0.5, Float(6) / 15))            // d_5 = min(0.5, 6/15)
        var worst = 0.0
        for i in a5.indices { worst = max(worst, abs(Double(a5[i]) - (d * Double(a4[i]) + (1 - d) * Double(p5[i])))) }
        #expect(worst < 1e-6, "average after step 5 off by \(worst)")
        // Killed after step 5 (checkpoint at step 3 with --save-every 3), resumed: the same average and kept model.
        let k = try runKbert(bin, common + ema + ["--out", root + "/b", "--save-every", "3", "--debug-kill-at-step", "5"])
        #expect(k.signaled)
        let b = try runKbert(bin, common + ema + ["--out", root + "/b", "--save-every", "3", "--resume"])
        #expect(b.status == 0 && b.stderr.contains("resumed from step 3"), "\(b.stderr)")
        #expect((try checkpointValues(root + "/b")).average == average)
        #expect(FileManager.default.contents(atPath: root + "/b/model.safetensors") == FileManager.default.contents(atPath: root + "/a/model.safetensors"))
        let other = try runKbert(bin, common + ["--ema", "0.6", "--out", root + "/b", "--resume"])
        #expect(other.status != 0 && other.stderr.contains("other settings"), "\(other.stderr)")
        let bad = try runKbert(bin, common + ["--ema", "1.5", "--out", root + "/z"])
        #expect(bad.status != 0 && bad.stderr.contains("--ema"), "\(bad.stderr)")
    }

    /// Two-phase distillation: the average restarts at the switch (step 6 of 12) from the weights
    /// that end phase 1, so after the first phase-2 update it is (2/11) θ_6 + (9/11) θ_7.
    @Test func averageRestartsAtTheTwoPhaseSwitch() throws {
        guard let bin = kbertBinary() else { Issue.record("kbert binary not built next to the tests"); return }
        let (model, glue, root) = try tinySetup()
        defer { try? FileManager.default.removeItem(atPath: root) }
        try tinyTeacherAndStudent(bin, model: model, glue: glue, root: root)
        let common = ["distill", "--stage", "task", "--teacher", root + "/teacher", "--student", root + "/student",
                      "--task", "sst2", "--data", glue, "--epochs", "2", "--batch-size", "8", "--threads", "1",
                      "--max-length", "16", "--lr", "1e-3", "--save-every", "1", "--seed", "5", "--ema", "0.99"]
        var at: [Int: (params: [Float], average: [Float]?, updates: Int?)] = [:]
        for k in [6, 7] {
            let r = try runKbert(bin, common + ["--out", root + "/k\(k)", "--debug-kill-at-step", "\(k)"])
            #expect(r.signaled, "\(r.stderr)")
            at[k] = try checkpointValues(root + "/k\(k)")
        }
        #expect(at[6]?.updates == 6 && at[7]?.updates == 1)
        let p6 = try #require(at[6]?.params), p7 = try #require(at[7]?.params), a7 = try #require(at[7]?.average)
        var worst = 0.0
        for i in a7.indices { worst = max(worst, abs(Double(a7[i]) - (2.0 / 11 * Double(p6[i]) + 9.0 / 11 * Double(p7[i])))) }
        #expect(worst < 1e-6, "average after the first phase-2 step off by \(worst)")
    }
}
