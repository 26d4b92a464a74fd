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

    public var count: Int { examples.count }

    /// Example indices of each batch for one epoch.
    public func batches(batchSize: Int, epoch: Int, seed: UInt64, shuffle: Bool) -> [[Int]] {
        var order = Array(0..<count)
        if shuffle {
            var rng = SplitMix64(seed: seed &* 0x9E37_79B9 &+ UInt64(epoch) &+ 1)
            if order.count > 1 {
                for i in stride(from: order.count - 1, to: 0, by: -1) {
                    let j = Int(rng.next() % UInt64(i + 1))
                    order.swapAt(i, j)
                }
            }
        }
        return stride(from: 0, to: order.count, by: max(1, batchSize)).map { Array(order[$0..<min(order.count, $0 + batchSize)]) }
    }

    /// Token ids and type ids of a batch, unpadded (padding happens when the model input is built).
    public func tokens(_ idx: [Int]) -> (ids: [[Int32]], types: [[Int32]]) {
        (idx.map { encodings[$0].ids }, idx.map { encodings[$0].typeIds })
    }
}
