import Foundation
import Testing
import KBTestSupport
import KBSafeTensors
import KBTensor
@testable import KBBert

/// Copies tiny-cls into a temp folder, rewriting its tensors with `edit`.
func editedTiny(_ edit: (inout [(String, TensorPayload)]) -> Void) throws -> String {
    let src = fixture("tiny-cls")
    let dir = scratchDirectory("kb-load")
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    try FileManager.default.copyItem(atPath: src + "/config.json", toPath: dir + "/config.json")
    let f = try SafeTensorsFile(path: src + "/model.safetensors")
    var tensors: [(String, TensorPayload)] = try f.names.map { ($0, .f32(try f.floatTensor($0))) }
    edit(&tensors)
    try SafeTensorsWriter.write(tensors, to: dir + "/model.safetensors")
    return dir
}

@Suite struct LoadingTests {
    @Test func missingKey() throws {
        let dir = try editedTiny { $0.removeAll { $0.0 == "bert.encoder.layer.1.output.dense.bias" } }
        #expect(throws: ModelError.missingWeight(file: dir + "/model.safetensors", key: "encoder.layer.1.output.dense.bias")) {
            _ = try BertModel.load(folder: dir)
        }
    }

    @Test func unexpectedKey() throws {
        let dir = try editedTiny { $0.append(("bert.encoder.layer.9.extra.weight", .f32(Tensor(shape: [2])))) }
        #expect(throws: ModelError.unexpectedWeight(file: dir + "/model.safetensors", key: "bert.encoder.layer.9.extra.weight")) {
            _ = try BertModel.load(folder: dir)
        }
    }

    @Test func wrongShape() throws {
        let dir = try editedTiny { t in
            let i = t.firstIndex { $0.0 == "bert.encoder.layer.0.intermediate.dense.weight" }!
            t[i].1 = .f32(Tensor(shape: [36, 32]))
        }
        #expect(throws: ModelError.wrongShape(file: dir + "/model.safetensors", key: "bert.encoder.layer.0.intermediate.dense.weight",
                                              expected: [37, 32], actual: [36, 32])) {
            _ = try BertModel.load(folder: dir)
        }
    }

    @Test func truncatedFile() throws {
        let dir = try editedTiny { _ in }
        let path = dir + "/model.safetensors"
        let d = try Data(contentsOf: URL(fileURLWithPath: path))
        try d.prefix(d.count - 100).write(to: URL(fileURLWithPath: path))
        #expect(throws: ModelError.self) { _ = try BertModel.load(folder: dir) }
        do { _ = try BertModel.load(folder: dir) } catch {
            #expect("\(error)".contains(path), "message names the file: \(error)")
        }
    }

    @Test func prefixesAndIgnoredKeys() throws {
        // Without the bert. prefix, with position_ids and an MLM head: loads, and the head is ignored.
        let dir = try editedTiny { t in
            t = t.map { ($0.0.hasPrefix("bert.") ? String($0.0.dropFirst(5)) : $0.0, $0.1) }
            t.append(("embeddings.position_ids", .i64(shape: [1, 64], values: (0..<64).map(Int64.init))))
            t.append(("cls.predictions.bias", .f32(Tensor(shape: [99]))))
        }
        let m = try BertModel.load(folder: dir)
        #expect(m.head == .classification(numLabels: 3))
        let ref = try BertModel.load(folder: fixture("tiny-cls"))
        #expect(m.params.data == ref.params.data)
    }

    @Test func headSizeMustMatchConfig() throws {
        let dir = try editedTiny { t in
            for i in t.indices where t[i].0 == "classifier.weight" { t[i].1 = .f32(Tensor(shape: [5, 32])) }
            for i in t.indices where t[i].0 == "classifier.bias" { t[i].1 = .f32(Tensor(shape: [5])) }
        }
        #expect(throws: ModelError.wrongShape(file: dir + "/model.safetensors", key: "classifier.weight", expected: [3, 32], actual: [5, 32])) {
            _ = try BertModel.load(folder: dir)
        }
    }

    @Test func configValidation() throws {
        func cfg(_ j: [String: Any]) throws -> BertConfig { try BertConfig(json: j, file: "c.json") }
        #expect(throws: ModelError.invalidConfig(file: "c.json", field: "hidden_size", reason: "30 is not divisible by num_attention_heads 4")) {
            _ = try cfg(["hidden_size": 30, "num_attention_heads": 4])
        }
        #expect(throws: ModelError.self) { _ = try cfg(["hidden_act": "swishy"]) }
        #expect(throws: ModelError.self) { _ = try cfg(["position_embedding_type": "relative_key"]) }
        let c = try cfg(["num_labels": 1])
        #expect(c.numLabels == 1)
        #expect(try cfg([:]) == BertConfig.bertBase)
    }

    @Test func saveAndReload() throws {
        let m = try BertModel.load(folder: fixture("tiny-cls"))
        let dir = scratchDirectory("kb-save")
        try m.save(folder: dir)
        let r = try BertModel.load(folder: dir)
        #expect(r.params.data == m.params.data)
        #expect(r.config == m.config)
    }
}
