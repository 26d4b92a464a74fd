import KBBert
import KBData
import KBTensor

/// Runs a model over a dataset (inference) and returns class predictions and raw scores.
public enum Evaluator {
    /// - Returns: per example the argmax class (classification) and the first logit (regression).
    public static func predict(_ model: BertModel, _ data: TaskDataset, batchSize: Int = 64, padId: Int32 = 0) throws -> (classes: [Int], scores: [Float], logits: [[Float]]) {
        let order = data.encodings.indices.sorted { data.encodings[$0].count < data.encodings[$1].count }
        var classes = [Int](repeating: 0, count: data.count), scores = [Float](repeating: 0, count: data.count)
        var logits = [[Float]](repeating: [], count: data.count)
        for start in stride(from: 0, to: order.count, by: batchSize) {
            let idx = Array(order[start..<min(order.count, start + batchSize)])
            let t = data.tokens(idx)
            let out = try model.forward(BertInput(ids: t.ids, typeIds: t.types, padId: padId), options: ForwardOptions(clsOnly: true))
            guard let lg = out.logits else { throw ModelError.invalidInput("the model has no classification head") }
            let C = lg.shape[1]
            for (row, i) in idx.enumerated() {
                let z = Array(lg.data[(row * C)..<(row * C + C)])
                logits[i] = z
                scores[i] = z[0]
                classes[i] = z.indices.max { z[$0] < z[$1] } ?? 0
            }
        }
        return (classes, scores, logits)
    }

    /// The task's metrics on labeled data, main metric first.
    public static func evaluate(_ model: BertModel, task: GlueTask, data: TaskDataset, batchSize: Int = 64, padId: Int32 = 0) throws -> [(String, Double)] {
        let p = try predict(model, data, batchSize: batchSize, padId: padId)
        return Metrics.evaluate(task: task, predictions: p.classes, scores: p.scores, examples: data.examples)
    }
}
