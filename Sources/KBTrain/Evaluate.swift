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

    /// Start and end logits of every question-answering window, each over the window's own
    /// tokens (batches of similar length; padding never reaches the answer extraction).
    /// `progress` is called after each batch with (windows done, windows in all).
    public static func spanLogits(_ model: BertModel, features: [QAFeature], batchSize: Int = 32, padId: Int32 = 0,
                                  progress: ((Int, Int) -> Void)? = nil) throws -> [(start: [Float], end: [Float])] {
        guard model.head == .questionAnswering else { throw ModelError.invalidInput("the model has no question-answering head (qa_outputs)") }
        let order = features.indices.sorted { features[$0].ids.count < features[$1].ids.count }
        var out = [(start: [Float], end: [Float])](repeating: ([], []), count: features.count)
        for from in stride(from: 0, to: order.count, by: batchSize) {
            let idx = Array(order[from..<min(order.count, from + batchSize)])
            let input = BertInput(ids: idx.map { features[$0].ids }, typeIds: idx.map { features[$0].typeIds }, padId: padId)
            let res = try model.forward(input, options: ForwardOptions())
            guard let lg = res.logits else { throw ModelError.invalidInput("the model returned no span logits") }
            let T = input.seqLen
            for (row, i) in idx.enumerated() {
                let n = features[i].ids.count
                out[i] = ((0..<n).map { lg.data[(row * T + $0) * 2] }, (0..<n).map { lg.data[(row * T + $0) * 2 + 1] })
            }
            progress?(from + idx.count, features.count)
        }
        return out
    }

    /// Answers for every question of `data` from its windows (`features`, made from
    /// `data.examples` in order) and their scores by the official metric of the file's version.
    public static func evaluateSquad(_ model: BertModel, data: SquadDataset, features: [QAFeature], batchSize: Int = 32,
                                     padId: Int32 = 0, nBest: Int = 20, maxAnswerLength: Int = 30,
                                     progress: ((Int, Int) -> Void)? = nil) throws -> (scores: SquadScores, predictions: [String: String]) {
        let logits = try spanLogits(model, features: features, batchSize: batchSize, padId: padId, progress: progress)
        var byExample = [[Int]](repeating: [], count: data.examples.count)
        for (i, f) in features.enumerated() { byExample[f.example].append(i) }
        var predictions: [String: String] = [:]
        for (k, e) in data.examples.enumerated() {
            let windows = byExample[k].map { (offsets: features[$0].offsets, start: logits[$0].start, end: logits[$0].end) }
            predictions[e.id] = QAAnswer.extract(context: e.context, features: windows, version2: data.isVersion2,
                                                 nBest: nBest, maxAnswerLength: maxAnswerLength)
        }
        return (SquadMetrics.evaluate(data, predictions: predictions), predictions)
    }
}
