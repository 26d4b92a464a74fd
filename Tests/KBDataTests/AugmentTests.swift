import Foundation
import Testing
import KBTestSupport
import KBTensor
import KBTokenizer
@testable import KBData

@Suite struct AugmentTests {
    static let words = (0..<200).map { "w\($0)" }
    static func sentence(_ i: Int, _ n: Int) -> String { (0..<n).map { words[($0 * 7 + i) % words.count] }.joined(separator: " ") }
    static let pairs = (0..<50).map { Example(id: "p\($0)", textA: sentence($0, 12), textB: sentence($0 + 3, 9), label: $0 % 2, score: nil) }
    static let singles = (0..<50).map { Example(id: "s\($0)", textA: sentence($0, 10), textB: nil, label: 1, score: nil) }

    @Test func variantsAreDeterministicUnlabeledAndKeepThePairStructure() {
        let aug = Augmenter(examples: Self.pairs)
        let v1 = aug.variants(of: Self.pairs, copies: 3, seed: 7), v2 = aug.variants(of: Self.pairs, copies: 3, seed: 7)
        let v3 = aug.variants(of: Self.pairs, copies: 3, seed: 8)
        #expect(v1.count == 150 && v1 == v2)
        #expect(v1 != v3, "another seed, other variants")
        #expect(v1.allSatisfy { $0.label == nil && $0.score == nil && $0.textB != nil })
        #expect(v1[4].id == "p1#aug1")
        // Word counts are kept for pairs (no n-gram sampling): masking and replacement only.
        for (i, v) in v1.enumerated() {
            let e = Self.pairs[i / 3]
            #expect(v.textA.split(separator: " ").count == e.textA.split(separator: " ").count)
            #expect(v.textB!.split(separator: " ").count == e.textB!.split(separator: " ").count)
        }
        // Copies of one example differ from each other.
        #expect(Set(v1[0..<3].map(\.textA)).count > 1)
    }

    @Test func maskAndReplaceRatesMatchTheirProbabilities() {
        let aug = Augmenter(examples: Self.pairs)
        let v = aug.variants(of: Self.pairs, copies: 40, seed: 1)
        var total = 0, masked = 0, changed = 0
        for (i, x) in v.enumerated() {
            let e = Self.pairs[i / 40]
            for (a, b) in zip(e.textA.split(separator: " ") + e.textB!.split(separator: " "),
                              x.textA.split(separator: " ") + x.textB!.split(separator: " ")) {
                total += 1
                if b == Substring(Augmenter.maskToken) { masked += 1 } else if a != b { changed += 1 }
            }
        }
        let pm = Double(masked) / Double(total), pr = Double(changed) / Double(total)
        // 42,000 words: the standard error of each rate is ~0.0015.
        #expect(abs(pm - 0.1) < 0.01, "mask rate \(pm)")
        // A replacement draws the same word now and then (1/200 of the pool here).
        #expect(abs(pr - 0.1 * (1 - 1.0 / 200)) < 0.01, "replacement rate \(pr)")
    }

    @Test func ngramSamplingKeepsAContiguousRunOfWords() {
        var aug = Augmenter(examples: Self.singles)
        aug.maskProbability = 0; aug.replaceProbability = 0; aug.ngramProbability = 1
        let v = aug.variants(of: Self.singles, copies: 5, seed: 3)
        for (i, x) in v.enumerated() {
            let src = Self.singles[i / 5].textA.split(separator: " ").map(String.init)
            let got = x.textA.split(separator: " ").map(String.init)
            #expect((1...5).contains(got.count))
            let found = (0...(src.count - got.count)).contains { Array(src[$0..<($0 + got.count)]) == got }
            #expect(found, "\(got) is not a run of \(src)")
        }
        aug.ngramProbability = 0
        #expect(aug.variants(of: Self.singles, copies: 1, seed: 3).map(\.textA) == Self.singles.map(\.textA), "all rules off: the text unchanged")
    }

    @Test func maskTokenTokenizesAsTheMaskId() throws {
        let dir = scratchDirectory("kb-aug")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\nb\n".write(toFile: dir + "/vocab.txt", atomically: true, encoding: .utf8)
        let tok = try BertTokenizer(folder: dir)
        #expect(try tok.encode("a \(Augmenter.maskToken) b", nil, maxLength: 16).ids == [2, 5, 4, 6, 3])
    }
}
