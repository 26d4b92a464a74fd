import KBTensor

/// Label-free variants of a task's training examples for task distillation: the teacher labels
/// them (soft logits, intermediate states), so the student sees many more inputs than the small
/// GLUE sets hold. The rules are those of Tang et al. 2019 ("Distilling task-specific knowledge
/// from BERT into simple neural networks", §3.3), the augmentation TinyBERT's task distillation
/// builds on:
///
/// - each word, with probability `maskProbability`, becomes `[MASK]`;
/// - else, with probability `replaceProbability`, another word drawn from the training texts'
///   word distribution (Tang et al. draw a word of the same part of speech; no tagger here);
/// - then, for single-sentence tasks, with probability `ngramProbability`, the example shrinks to
///   a random n-gram of its words, n uniform in 1...`maxNgram`.
///
/// Words are whitespace-separated, as in the GLUE files. A variant has `label` and `score` nil, so
/// only the teacher's terms apply to it. Deterministic: variant c of example i depends only on the
/// seed, i and c.
public struct Augmenter: Sendable {
    public var maskProbability = 0.1
    public var replaceProbability = 0.1
    public var ngramProbability = 0.25
    public var maxNgram = 5
    public static let maskToken = "[MASK]"
    /// Every word of the training texts, repeats kept (drawing uniformly draws by frequency).
    let pool: [Substring]

    public init(examples: [Example]) {
        var p: [Substring] = []
        for e in examples {
            p.append(contentsOf: e.textA.split(whereSeparator: \.isWhitespace))
            if let b = e.textB { p.append(contentsOf: b.split(whereSeparator: \.isWhitespace)) }
        }
        pool = p
    }

    /// One variant of `e`.
    public func variant(of e: Example, rng: inout SplitMix64) -> Example {
        func words(_ s: String) -> [String] {
            s.split(whereSeparator: \.isWhitespace).map { w -> String in
                let u = Double(rng.next() >> 11) / Double(1 << 53)
                if u < maskProbability { return Augmenter.maskToken }
                if u < maskProbability + replaceProbability, !pool.isEmpty { return String(pool[Int(rng.next() % UInt64(pool.count))]) }
                return String(w)
            }
        }
        var a = words(e.textA)
        let b = e.textB.map(words)
        if b == nil, a.count > 1, Double(rng.next() >> 11) / Double(1 << 53) < ngramProbability {
            let n = 1 + Int(rng.next() % UInt64(min(maxNgram, a.count)))
            let start = Int(rng.next() % UInt64(a.count - n + 1))
            a = Array(a[start..<(start + n)])
        }
        return Example(id: e.id + "#aug", textA: a.joined(separator: " "), textB: b?.joined(separator: " "), label: nil, score: nil)
    }

    /// `copies` variants of every example, example by example (variant c of example i is seeded by
    /// `seed`, i and c).
    public func variants(of examples: [Example], copies: Int, seed: UInt64) -> [Example] {
        var out: [Example] = []
        out.reserveCapacity(examples.count * max(0, copies))
        for (i, e) in examples.enumerated() {
            for c in 0..<max(0, copies) {
                var rng = SplitMix64(seed: seed ^ (UInt64(i) &* 0x9E37_79B9_7F4A_7C15) ^ (UInt64(c + 1) &* 0xC2B2_AE3D_27D4_EB4F))
                var v = variant(of: e, rng: &rng)
                v.id = "\(e.id)#aug\(c)"
                out.append(v)
            }
        }
        return out
    }
}
