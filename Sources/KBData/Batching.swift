import KBTensor
import KBTokenizer

/// A task's examples, tokenized once, served as shuffled batches with dynamic padding.
///
/// Every example is served exactly once per epoch: the last batch may be smaller (nothing is
/// dropped). Shuffling is a seeded Fisher–Yates per epoch, so epoch e of seed s is reproducible
/// (and resumable) on its own.
public struct TaskDataset: Sendable {
    public let examples: [Example]
    public let encodings: [Encoding]

    public init(examples: [Example], tokenizer: BertTokenizer, maxLength: Int) throws(TokenizerError) {
        self.examples = examples
        var enc: [Encoding] = []
        enc.reserveCapacity(examples.count)
        for e in examples { enc.append(try tokenizer.encode(e.textA, e.textB, maxLength: maxLength)) }
        encodings = enc
    }

    /// Unlabeled, already tokenized sequences (general distillation): type ids 0, no padding.
    public init(sequences: [[Int32]]) {
        examples = sequences.indices.map { Example(id: String($0), textA: "", textB: nil, label: nil, score: nil) }
        encodings = sequences.map {
            Encoding(ids: $0, typeIds: [Int32](repeating: 0, count: $0.count), attentionMask: [Int32](repeating: 1, count: $0.count),
                     offsets: [Offset](repeating: Offset(0, 0), count: $0.count), sequenceIds: [Int8?](repeating: 0, count: $0.count))
        }
    }

    /// Question-answering windows (`QAFeaturizer`): each with its answer span as the label; the
    /// example ids are the windows' example indices.
    public init(features: [QAFeature]) {
        examples = features.map { Example(id: String($0.example), textA: "", textB: nil, label: nil, score: nil, span: AnswerSpan(start: $0.start, end: $0.end)) }
        encodings = features.map {
            Encoding(ids: $0.ids, typeIds: $0.typeIds, attentionMask: [Int32](repeating: 1, count: $0.ids.count),
                     offsets: $0.offsets.map { $0 ?? Offset(0, 0) }, sequenceIds: $0.typeIds.map { Int8($0) })
        }
    }

    public var count: Int { examples.count }

    /// Example indices of each batch for one epoch.
    ///
    /// `groupByLength` > 1 (shuffled epochs only): after the shuffle, every run of `groupByLength`
    /// batches' worth of examples is sorted by token count (longest first, ties in shuffled order)
    /// and cut into batches, and then the batch order is shuffled, so a batch holds examples of
    /// similar length and dynamic padding adds little (GLUE training sets padded to each random
    /// batch's longest example hold 1.5-3x their real tokens; grouped by 50 batches, ~1.02-1.05x).
    /// Every example is still served once per epoch, and epoch e of seed s is the same on every run.
    public func batches(batchSize: Int, epoch: Int, seed: UInt64, shuffle: Bool, groupByLength: Int = 0) -> [[Int]] {
        var order = Array(0..<count)
        if shuffle {
            var rng = SplitMix64(seed: seed &* 0x9E37_79B9 &+ UInt64(epoch) &+ 1)
            Self.shuffle(&order, &rng)
        }
        let size = max(1, batchSize)
        func cut(_ run: ArraySlice<Int>) -> [[Int]] {
            stride(from: run.startIndex, to: run.endIndex, by: size).map { Array(run[$0..<min(run.endIndex, $0 + size)]) }
        }
        guard shuffle, groupByLength > 1 else { return cut(order[...]) }
        var out: [[Int]] = []
        let group = groupByLength * size
        for start in stride(from: 0, to: order.count, by: group) {
            // (length, position in the shuffled order): a total order, so the sort is deterministic.
            let run = order[start..<min(order.count, start + group)].enumerated()
                .sorted { (encodings[$0.element].count, $1.offset) > (encodings[$1.element].count, $0.offset) }
                .map(\.element)
            out += cut(run[...])
        }
        var rng = SplitMix64(seed: (seed &* 0x9E37_79B9 &+ UInt64(epoch) &+ 1) ^ 0x6C07_A5E1_B3D2_9F41)
        Self.shuffle(&out, &rng)
        return out
    }

    /// Seeded Fisher–Yates.
    static func shuffle<T>(_ a: inout [T], _ rng: inout SplitMix64) {
        guard a.count > 1 else { return }
        for i in stride(from: a.count - 1, to: 0, by: -1) {
            let j = Int(rng.next() % UInt64(i + 1))
            a.swapAt(i, j)
        }
    }

    /// Token ids and type ids of a batch, unpadded (padding happens when the model input is built).
    public func tokens(_ idx: [Int]) -> (ids: [[Int32]], types: [[Int32]]) {
        (idx.map { encodings[$0].ids }, idx.map { encodings[$0].typeIds })
    }
}
