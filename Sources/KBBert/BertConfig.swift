import Foundation
import KBLayers

/// Errors from reading a model folder. Each names the file and the field or tensor at fault.
public enum ModelError: Error, Equatable, CustomStringConvertible {
    case missingFile(path: String)
    case invalidConfig(file: String, field: String, reason: String)
    case missingWeight(file: String, key: String)
    case unexpectedWeight(file: String, key: String)
    case wrongShape(file: String, key: String, expected: [Int], actual: [Int])
    case weights(String)
    case invalidInput(String)

    public var description: String {
        switch self {
        case let .missingFile(p): return "\(p): no such file"
        case let .invalidConfig(f, k, r): return "\(f): field '\(k)': \(r)"
        case let .missingWeight(f, k): return "\(f): missing weight '\(k)'"
        case let .unexpectedWeight(f, k): return "\(f): unexpected weight '\(k)' (not part of a BERT model or its heads)"
        case let .wrongShape(f, k, e, a): return "\(f): weight '\(k)' has shape \(a), expected \(e)"
        case let .weights(m): return m
        case let .invalidInput(m): return m
        }
    }
}

/// Activation of the intermediate (FFN) layer, as named by HF's `hidden_act`.
public enum Activation: String, Sendable, Codable, CaseIterable {
    case gelu                       // erf form
    case geluNew = "gelu_new"       // tanh approximation
    case geluPytorchTanh = "gelu_pytorch_tanh"
    case geluFast = "gelu_fast"
    case relu
}

/// A BERT configuration: HF's `config.json` fields with HF's defaults, validated once.
public struct BertConfig: Equatable {
    public var vocabSize = 30522
    public var hiddenSize = 768
    public var numHiddenLayers = 12
    public var numAttentionHeads = 12
    public var intermediateSize = 3072
    public var hiddenAct: Activation = .gelu
    public var hiddenDropoutProb: Float = 0.1
    public var attentionProbsDropoutProb: Float = 0.1
    public var maxPositionEmbeddings = 512
    public var typeVocabSize = 2
    public var layerNormEps: Float = 1e-12
    public var padTokenId = 0
    /// Label names by index (`id2label`); its count is `num_labels`.
    public var id2label: [String] = ["LABEL_0", "LABEL_1"]
    /// "regression", "single_label_classification", ... (HF `problem_type`), when given.
    public var problemType: String?
    /// Kronecker-factored matrices (a student written by `kbert compress`), by parameter prefix.
    public var kronecker: [String: KroneckerSpec] = [:]
    /// Every field of the original JSON, kept so that writing a folder preserves what we don't model.
    public var raw: [String: Any] = [:]

    public var numLabels: Int { id2label.count }
    public var headDim: Int { hiddenSize / numAttentionHeads }

    public static func == (a: BertConfig, b: BertConfig) -> Bool {
        a.vocabSize == b.vocabSize && a.hiddenSize == b.hiddenSize && a.numHiddenLayers == b.numHiddenLayers
            && a.numAttentionHeads == b.numAttentionHeads && a.intermediateSize == b.intermediateSize
            && a.hiddenAct == b.hiddenAct && a.maxPositionEmbeddings == b.maxPositionEmbeddings
            && a.typeVocabSize == b.typeVocabSize && a.layerNormEps == b.layerNormEps && a.id2label == b.id2label
            && a.problemType == b.problemType && a.kronecker == b.kronecker
    }

    public init() {}

    /// The BERT-base configuration (for shape, FLOP and speed work).
    public static var bertBase: BertConfig { BertConfig() }

    /// Reads and validates `config.json`.
    public init(file: String) throws(ModelError) {
        guard let d = FileManager.default.contents(atPath: file) else { throw .missingFile(path: file) }
        guard let obj = (try? JSONSerialization.jsonObject(with: d)) as? [String: Any] else {
            throw .invalidConfig(file: file, field: "(root)", reason: "not a JSON object")
        }
        try self.init(json: obj, file: file)
    }

    public init(json obj: [String: Any], file: String = "config.json") throws(ModelError) {
        raw = obj
        func int(_ k: String, _ v: inout Int) throws(ModelError) {
            guard let x = obj[k] else { return }
            guard let n = x as? NSNumber, Double(n.intValue) == n.doubleValue else {
                throw .invalidConfig(file: file, field: k, reason: "not an integer")
            }
            v = n.intValue
        }
        func float(_ k: String, _ v: inout Float) throws(ModelError) {
            guard let x = obj[k] else { return }
            guard let n = x as? NSNumber else { throw .invalidConfig(file: file, field: k, reason: "not a number") }
            v = n.floatValue
        }
        if let mt = obj["model_type"] as? String, mt != "bert" {
            throw .invalidConfig(file: file, field: "model_type", reason: "'\(mt)' is not supported (bert only)")
        }
        try int("vocab_size", &vocabSize)
        try int("hidden_size", &hiddenSize)
        try int("num_hidden_layers", &numHiddenLayers)
        try int("num_attention_heads", &numAttentionHeads)
        try int("intermediate_size", &intermediateSize)
        try int("max_position_embeddings", &maxPositionEmbeddings)
        try int("type_vocab_size", &typeVocabSize)
        try int("pad_token_id", &padTokenId)
        try float("hidden_dropout_prob", &hiddenDropoutProb)
        try float("attention_probs_dropout_prob", &attentionProbsDropoutProb)
        try float("layer_norm_eps", &layerNormEps)
        if let a = obj["hidden_act"] {
            guard let s = a as? String, let act = Activation(rawValue: s) else {
                throw .invalidConfig(file: file, field: "hidden_act",
                                     reason: "'\(a)' is not supported (\(Activation.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            hiddenAct = act
        }
        if let p = obj["position_embedding_type"] {
            guard (p as? String) == "absolute" else {
                throw .invalidConfig(file: file, field: "position_embedding_type", reason: "'\(p)' is not supported (absolute only)")
            }
        }
        if let x = obj["is_decoder"] as? Bool, x { throw .invalidConfig(file: file, field: "is_decoder", reason: "decoders are not supported") }
        if let pt = obj["problem_type"], !(pt is NSNull) {
            guard let s = pt as? String else { throw .invalidConfig(file: file, field: "problem_type", reason: "not a string") }
            problemType = s
        }
        var n: Int? = nil
        if obj["num_labels"] != nil { var v = 0; try int("num_labels", &v); n = v }
        if let m = obj["id2label"] {
            guard let dict = m as? [String: Any] else { throw .invalidConfig(file: file, field: "id2label", reason: "not an object") }
            var labels = [String?](repeating: nil, count: dict.count)
            for (k, v) in dict {
                guard let i = Int(k), i >= 0, i < dict.count, labels[i] == nil else {
                    throw .invalidConfig(file: file, field: "id2label", reason: "keys must be 0..<\(dict.count)")
                }
                labels[i] = "\(v)"
            }
            id2label = labels.map { $0! }
        }
        if let n, n != id2label.count {
            if obj["id2label"] != nil {
                throw .invalidConfig(file: file, field: "num_labels", reason: "\(n) disagrees with id2label (\(id2label.count) labels)")
            }
            id2label = (0..<n).map { "LABEL_\($0)" }
        }
        if let k = obj["kronecker"] {
            guard let kd = k as? [String: Any], let layers = kd["layers"] as? [String: Any] else {
                throw .invalidConfig(file: file, field: "kronecker", reason: "expected {\"layers\": {name: {a, b, rank}}}")
            }
            for (name, v) in layers {
                guard let e = v as? [String: Any], let a = e["a"] as? [Int], let b = e["b"] as? [Int], a.count == 2, b.count == 2,
                      let r = (e["rank"] as? NSNumber)?.intValue, r >= 1, a.allSatisfy({ $0 > 0 }), b.allSatisfy({ $0 > 0 }) else {
                    throw .invalidConfig(file: file, field: "kronecker.layers.\(name)", reason: "expected {\"a\": [m1, n1], \"b\": [m2, n2], \"rank\": r}")
                }
                let shape = KroneckerShape(m1: a[0], n1: a[1], m2: b[0], n2: b[1])
                guard r <= shape.maxRank else {
                    throw .invalidConfig(file: file, field: "kronecker.layers.\(name)", reason: "rank \(r) above the maximum \(shape.maxRank)")
                }
                kronecker[name] = KroneckerSpec(shape: shape, rank: r)
            }
        }
        try validate(file: file)
    }

    /// Checks the invariants the model relies on.
    public func validate(file: String = "config.json") throws(ModelError) {
        func positive(_ v: Int, _ k: String) throws(ModelError) {
            guard v > 0 else { throw .invalidConfig(file: file, field: k, reason: "must be positive, got \(v)") }
        }
        try positive(vocabSize, "vocab_size"); try positive(hiddenSize, "hidden_size")
        try positive(numHiddenLayers, "num_hidden_layers"); try positive(numAttentionHeads, "num_attention_heads")
        try positive(intermediateSize, "intermediate_size"); try positive(maxPositionEmbeddings, "max_position_embeddings")
        try positive(typeVocabSize, "type_vocab_size")
        guard hiddenSize % numAttentionHeads == 0 else {
            throw .invalidConfig(file: file, field: "hidden_size", reason: "\(hiddenSize) is not divisible by num_attention_heads \(numAttentionHeads)")
        }
        guard layerNormEps > 0 else { throw .invalidConfig(file: file, field: "layer_norm_eps", reason: "must be positive") }
        guard !id2label.isEmpty else { throw .invalidConfig(file: file, field: "num_labels", reason: "must be at least 1") }
    }

    /// The same config with another set of factored matrices.
    public func with(kronecker k: [String: KroneckerSpec]) -> BertConfig {
        var c = self
        c.kronecker = k
        return c
    }

    /// JSON for writing a model folder: the original fields, updated with ours.
    public func jsonObject() -> [String: Any] {
        var o = raw
        o["model_type"] = "bert"
        o["vocab_size"] = vocabSize; o["hidden_size"] = hiddenSize; o["num_hidden_layers"] = numHiddenLayers
        o["num_attention_heads"] = numAttentionHeads; o["intermediate_size"] = intermediateSize
        o["hidden_act"] = hiddenAct.rawValue; o["hidden_dropout_prob"] = hiddenDropoutProb
        o["attention_probs_dropout_prob"] = attentionProbsDropoutProb
        o["max_position_embeddings"] = maxPositionEmbeddings; o["type_vocab_size"] = typeVocabSize
        o["layer_norm_eps"] = layerNormEps; o["pad_token_id"] = padTokenId
        o["position_embedding_type"] = "absolute"
        o["id2label"] = Dictionary(uniqueKeysWithValues: id2label.enumerated().map { ("\($0.offset)", $0.element) })
        o["label2id"] = Dictionary(uniqueKeysWithValues: id2label.enumerated().map { ($0.element, $0.offset) })
        if let p = problemType { o["problem_type"] = p }
        if kronecker.isEmpty { o.removeValue(forKey: "kronecker") } else {
            var layers: [String: Any] = [:]
            for (name, spec) in kronecker {
                layers[name] = ["a": [spec.shape.m1, spec.shape.n1], "b": [spec.shape.m2, spec.shape.n2], "rank": spec.rank]
            }
            o["kronecker"] = ["layers": layers, "format": "W = sum_k kron(A_k, B_k); A_k is <name>.kron_a[.k], B_k is <name>.kron_b[.k]"]
        }
        return o
    }
}

extension BertConfig: @unchecked Sendable {}
