import KBBert
import KBData
import KBTensor

/// The teacher's logits of every training example, for the steps whose distillation terms read
/// nothing else (the prediction phase of the two-phase schedule, a run of the prediction terms
/// alone): the teacher runs without dropout and the training set is fixed (augmented copies
/// included: `Augmenter` is seeded), so each example's logits are computed once and read back in
/// every later epoch, instead of a teacher pass per step (about two thirds of such a step for a
/// ratio-21 student).
///
/// The logits are computed in fixed chunks (the training set in length order, `chunkSize`
/// examples each), never in the training batches, so what a step reads does not depend on how
/// batches were drawn or where a killed run was resumed.
struct TeacherLogitCache {
    private let chunks: [[Int]]
    private let chunkOf: [Int]
    private var rows: [[Float]?]
    private(set) var teacherPasses = 0

    init(data: TaskDataset, chunkSize: Int) {
        let order = (0..<data.count).sorted { (data.encodings[$0].ids.count, $0) < (data.encodings[$1].ids.count, $1) }
        let size = max(1, chunkSize)
        chunks = stride(from: 0, to: order.count, by: size).map { Array(order[$0..<min(order.count, $0 + size)]) }
        var of = [Int](repeating: 0, count: data.count)
        for (c, members) in chunks.enumerated() { for i in members { of[i] = c } }
        chunkOf = of
        rows = Array(repeating: nil, count: data.count)
        chunksLeft = chunks.count
    }

    /// Chunks whose logits are not computed yet.
    private(set) var chunksLeft: Int
    var chunkCount: Int { chunks.count }

    /// Computes every chunk not computed yet, in order, calling `progress(done, of)` after each
    /// (`of`: the chunks left when it started). The trainer fills the cache before the first step
    /// that reads it, so that step times and the ETA are not the teacher's one-off passes.
    mutating func fill(teacher: BertModel, data: TaskDataset, padId: Int32, progress: (_ done: Int, _ of: Int) -> Void = { _, _ in }) throws {
        let of = chunksLeft
        var done = 0
        for members in chunks where rows[members[0]] == nil {
            try compute(chunk: members, teacher: teacher, data: data, padId: padId)
            done += 1
            progress(done, of)
        }
    }

    private mutating func compute(chunk members: [Int], teacher: BertModel, data: TaskDataset, padId: Int32) throws {
        let t = data.tokens(members)
        let out = try teacher.forward(BertInput(ids: t.ids, typeIds: t.types, padId: padId), options: ForwardOptions(clsOnly: true))
        guard let l = out.logits, l.shape.count == 2, l.shape[0] == members.count else {
            throw TrainError.setup("the teacher gave no [batch, classes] logits to distill from")
        }
        let C = l.shape[1]
        for (r, j) in members.enumerated() { rows[j] = Array(l.data[(r * C)..<((r + 1) * C)]) }
        teacherPasses += 1
        chunksLeft -= 1
    }

    /// A teacher output holding the logits [idx.count, C] of examples `idx` (nothing else),
    /// computing the chunks of any not computed yet.
    mutating func output(for idx: [Int], teacher: BertModel, data: TaskDataset, padId: Int32) throws -> BertOutput {
        for i in idx where rows[i] == nil {
            try compute(chunk: chunks[chunkOf[i]], teacher: teacher, data: data, padId: padId)
        }
        let C = rows[idx[0]]!.count
        return BertOutput(lastHiddenState: Tensor(shape: [0]), logits: try Tensor(shape: [idx.count, C], data: idx.flatMap { rows[$0]! }))
    }
}
