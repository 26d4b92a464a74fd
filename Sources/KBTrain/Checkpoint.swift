import Foundation
import KBSafeTensors
import KBTensor

/// Training state saved with every checkpoint.
public struct TrainState: Codable, Equatable, Sendable {
    public var generation: Int
    public var step: Int            // optimizer updates done
    public var epoch: Int           // current epoch (0-based)
    public var batchInEpoch: Int    // batches of `epoch` already consumed
    public var dropoutRNG: SplitMix64
    public var bestMetric: Double?
    public var bestEpoch: Int?
    public var history: [[String: Double]]
    public var configHash: String
    /// Updates in the weight average since its last restart (runs with `emaDecay`; nil otherwise).
    public var averageUpdates: Int? = nil
}

public enum CheckpointError: Error, CustomStringConvertible {
    case io(String)
    case mismatch(String)
    public var description: String {
        switch self { case let .io(m): return m; case let .mismatch(m): return m }
    }
}

/// A checkpoint folder. Files are written atomically and carry a generation number; `state.json`
/// is written last and names the generation, so a kill at any moment leaves the previous
/// complete checkpoint readable. Older generations are removed after the new state is in place.
public struct Checkpoint {
    public let dir: String
    public init(dir: String) { self.dir = dir }

    public var exists: Bool { FileManager.default.fileExists(atPath: dir + "/state.json") }

    /// `average`: a run's weight average (`WeightAverage`), kept with the optimizer moments.
    public func save(state: TrainState, params: [Float], paramNames: [(String, [Int], Int)], m: [Float], v: [Float],
                     average: [Float]? = nil) throws {
        do {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            let g = state.generation
            var tensors: [(String, TensorPayload)] = []
            for (name, shape, offset) in paramNames {
                let n = shape.reduce(1, *)
                tensors.append((name, .f32(try Tensor(shape: shape, data: Array(params[offset..<(offset + n)])))))
            }
            try SafeTensorsWriter.write(tensors, to: dir + "/model-\(g).safetensors")
            var opt: [(String, TensorPayload)] = [("m", .f32(try Tensor(shape: [m.count], data: m))), ("v", .f32(try Tensor(shape: [v.count], data: v)))]
            if let average { opt.append(("average", .f32(try Tensor(shape: [average.count], data: average)))) }
            try SafeTensorsWriter.write(opt, to: dir + "/optimizer-\(g).safetensors")
            let enc = JSONEncoder()
            enc.outputFormatting = [.prettyPrinted, .sortedKeys]
            try AtomicFile.write(try enc.encode(state), to: dir + "/state.json")
            // Remove older generations.
            for f in try FileManager.default.contentsOfDirectory(atPath: dir) {
                for prefix in ["model-", "optimizer-"] where f.hasPrefix(prefix) && f.hasSuffix(".safetensors") {
                    let gen = Int(f.dropFirst(prefix.count).dropLast(".safetensors".count))
                    if let gen, gen != g { try? FileManager.default.removeItem(atPath: dir + "/" + f) }
                }
                if f.contains(".tmp-") { try? FileManager.default.removeItem(atPath: dir + "/" + f) }
            }
        } catch let e as SafeTensorsError {
            throw CheckpointError.io("checkpoint \(dir): \(e)")
        } catch let e as CheckpointError {
            throw e
        } catch {
            throw CheckpointError.io("checkpoint \(dir): \(error)")
        }
    }

    public func loadState() throws -> TrainState {
        guard let d = FileManager.default.contents(atPath: dir + "/state.json") else { throw CheckpointError.io("\(dir)/state.json: cannot read") }
        do { return try JSONDecoder().decode(TrainState.self, from: d) } catch {
            throw CheckpointError.io("\(dir)/state.json: invalid: \(error)")
        }
    }

    /// Parameters (by name), optimizer moments and the weight average (when saved) of the state's generation.
    public func loadTensors(_ state: TrainState) throws -> (model: SafeTensorsFile, m: [Float], v: [Float], average: [Float]?) {
        do {
            let model = try SafeTensorsFile(path: dir + "/model-\(state.generation).safetensors")
            let opt = try SafeTensorsFile(path: dir + "/optimizer-\(state.generation).safetensors")
            let average = opt.contains("average") ? try opt.floatTensor("average").data : nil
            return (model, try opt.floatTensor("m").data, try opt.floatTensor("v").data, average)
        } catch {
            throw CheckpointError.io("checkpoint \(dir): \(error)")
        }
    }
}
