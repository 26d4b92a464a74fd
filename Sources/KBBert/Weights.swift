import Foundation
import KBSafeTensors
import KBTensor

/// The one map between checkpoint keys and model parameters.
///
/// - Keys are accepted with or without the `bert.` prefix (`BertModel` vs `BertFor*` checkpoints);
///   old `LayerNorm.gamma` / `LayerNorm.beta` names are read as `.weight` / `.bias`.
/// - Explicitly ignored: the `position_ids` / `token_type_ids` buffers and the pre-training heads
///   (`cls.predictions.*`, `cls.seq_relationship.*`), which no command here uses.
/// - Every other tensor must be a parameter, and every parameter must be present with its shape.
public enum BertWeights {
    public static let ignoredKeys: Set<String> = ["embeddings.position_ids", "embeddings.token_type_ids"]
    public static let ignoredPrefixes = ["cls.predictions.", "cls.seq_relationship."]

    /// Maps a checkpoint key to the model's parameter name, or nil if the key is ignored.
    public static func canonicalKey(_ key: String) -> String? {
        var k = key
        if k.hasPrefix("bert.") { k.removeFirst(5) }
        if ignoredKeys.contains(k) || ignoredPrefixes.contains(where: { k.hasPrefix($0) }) { return nil }
        if k.hasSuffix("LayerNorm.gamma") { k = String(k.dropLast(5)) + "weight" }
        if k.hasSuffix("LayerNorm.beta") { k = String(k.dropLast(4)) + "bias" }
        return k
    }

    /// Which head and pooler a checkpoint carries, read from its keys.
    public static func inspect(_ file: SafeTensorsFile) throws(ModelError) -> (pooler: Bool, head: BertHead, map: [String: String]) {
        var map: [String: String] = [:]   // canonical -> original key
        for name in file.names {
            guard let c = canonicalKey(name) else { continue }
            if let other = map[c] {
                throw .weights("\(file.path): keys '\(other)' and '\(name)' both name parameter '\(c)'")
            }
            map[c] = name
        }
        var head = BertHead.none
        if let w = map["classifier.weight"] {
            let shape = try info(file, w).shape
            guard shape.count == 2 else { throw .wrongShape(file: file.path, key: w, expected: [-1, -1], actual: shape) }
            head = .classification(numLabels: shape[0])
        }
        if map["qa_outputs.weight"] != nil {
            if head != .none { throw .unexpectedWeight(file: file.path, key: map["qa_outputs.weight"]!) }
            head = .questionAnswering
        }
        return (map["pooler.dense.weight"] != nil || map["pooler.dense.bias"] != nil, head, map)
    }

    static func info(_ f: SafeTensorsFile, _ key: String) throws(ModelError) -> TensorInfo {
        do { return try f.info(key) } catch { throw .weights(error.description) }
    }
}

extension BertModel {
    /// Loads a Hugging Face BERT folder: `config.json` and `model.safetensors`, strictly.
    ///
    /// The head comes from the weights (`classifier.*` or `qa_outputs.*`). Its size must agree
    /// with `num_labels` in the config.
    public static func load(folder: String) throws(ModelError) -> BertModel {
        let config = try BertConfig(file: folder + "/config.json")
        let wpath = folder + "/model.safetensors"
        guard FileManager.default.fileExists(atPath: wpath) else { throw .missingFile(path: wpath) }
        let file: SafeTensorsFile
        do { file = try SafeTensorsFile(path: wpath) } catch { throw .weights(error.description) }
        return try load(config: config, weights: file)
    }

    /// Builds a model for `config` and fills it from `file` through the key map.
    /// `head` overrides the head found in the file (`nil`: use the file's). With
    /// `allowMissingHead`, head and pooler tensors that are absent or of another size are skipped
    /// (left zero, for the caller to initialize) instead of failing.
    public static func load(config: BertConfig, weights file: SafeTensorsFile, head: BertHead? = nil,
                            allowMissingHead: Bool = false) throws(ModelError) -> BertModel {
        let found = try BertWeights.inspect(file)
        let wantHead = head ?? found.head
        if case let .classification(c) = wantHead, head == nil, c != config.numLabels {
            throw .wrongShape(file: file.path, key: found.map["classifier.weight"] ?? "classifier.weight",
                              expected: [config.numLabels, config.hiddenSize], actual: [c, config.hiddenSize])
        }
        var needsPooler = found.pooler
        if case .classification = wantHead { needsPooler = true }  // the classifier reads the pooled output
        var model = BertModel(config: config, pooler: needsPooler, head: wantHead, kronecker: config.kronecker)
        var consumed = Set<String>()
        let headKeys: Set<String> = ["classifier.weight", "classifier.bias", "qa_outputs.weight", "qa_outputs.bias",
                                     "pooler.dense.weight", "pooler.dense.bias"]
        for (name, ref) in model.params.entries {
            if name.hasSuffix(".kron_a") || name.hasSuffix(".kron_b") {
                // Factors: [r, x, y] stored as `name` [x, y] (r = 1) or `name.0` ... `name.{r-1}`.
                let r = ref.shape[0], term = Array(ref.shape.dropFirst())
                let keys = r == 1 ? [name] : (0..<r).map { "\(name).\($0)" }
                var values: [Float] = []
                for k in keys {
                    guard let key = found.map[k] else { throw .missingWeight(file: file.path, key: k) }
                    let info = try BertWeights.info(file, key)
                    guard info.shape == term else { throw .wrongShape(file: file.path, key: key, expected: term, actual: info.shape) }
                    do { values += try file.floatTensor(key).data } catch { throw .weights(error.description) }
                    consumed.insert(k)
                }
                model.params.set(ref, values)
                continue
            }
            guard let key = found.map[name] else {
                if allowMissingHead && headKeys.contains(name) { continue }
                throw .missingWeight(file: file.path, key: name)
            }
            let info = try BertWeights.info(file, key)
            guard info.shape == ref.shape else {
                if allowMissingHead && headKeys.contains(name) { continue }
                throw .wrongShape(file: file.path, key: key, expected: ref.shape, actual: info.shape)
            }
            let t: Tensor
            do { t = try file.floatTensor(key) } catch { throw .weights(error.description) }
            model.params.set(ref, t.data)
            consumed.insert(name)
        }
        for (canonical, original) in found.map.sorted(by: { $0.key < $1.key }) where !consumed.contains(canonical) {
            if allowMissingHead && headKeys.contains(canonical) { continue }
            throw .unexpectedWeight(file: file.path, key: original)
        }
        return model
    }

    /// Writes `config.json` and `model.safetensors` (atomically) into `folder`, HF layout and names.
    public func save(folder: String) throws(ModelError) {
        do { try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true) } catch {
            throw .weights("\(folder): cannot create folder: \(error.localizedDescription)")
        }
        var cfg = config.jsonObject()
        switch head {
        case .classification: cfg["architectures"] = ["BertForSequenceClassification"]
        case .questionAnswering: cfg["architectures"] = ["BertForQuestionAnswering"]
        case .none: cfg["architectures"] = ["BertModel"]
        }
        do {
            let json = try JSONSerialization.data(withJSONObject: cfg, options: [.prettyPrinted, .sortedKeys])
            try AtomicFile.write(json, to: folder + "/config.json")
            let prefix = head == .none ? "" : "bert."
            var tensors: [(String, TensorPayload)] = []
            for e in params.entries {
                let key = (e.name.hasPrefix("classifier.") || e.name.hasPrefix("qa_outputs.")) ? e.name : prefix + e.name
                if e.name.hasSuffix(".kron_a") || e.name.hasSuffix(".kron_b") {
                    let r = e.ref.shape[0], term = Array(e.ref.shape.dropFirst()), n = term.reduce(1, *)
                    let v = params.values(e.ref)
                    for k in 0..<r {
                        tensors.append((r == 1 ? key : "\(key).\(k)", .f32(try Tensor(shape: term, data: Array(v[(k * n)..<((k + 1) * n)])))))
                    }
                } else {
                    tensors.append((key, .f32(params.tensor(e.ref))))
                }
            }
            try SafeTensorsWriter.write(tensors, metadata: ["format": "pt"], to: folder + "/model.safetensors")
        } catch let e as SafeTensorsError {
            throw .weights(e.description)
        } catch {
            throw .weights("\(folder): \(error.localizedDescription)")
        }
    }
}
