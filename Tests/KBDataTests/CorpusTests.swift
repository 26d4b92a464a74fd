import Foundation
import Testing
import KBTestSupport
import KBTokenizer
@testable import KBData

@Suite struct CorpusTests {
    @Test func parsesWikiExtractorAndPacks() throws {
        let dir = scratchDirectory("kb-wiki")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "<doc id=\"1\" url=\"?curid=1\" title=\"A\">\nA\n\na b a b a\n</doc>\n<doc id=\"2\" url=\"?curid=2\" title=\"Empty\">\nEmpty\n\n</doc>\n<doc id=\"3\" url=\"x\" title=\"B\">\nB\nb b b\n</doc>\n"
            .write(toFile: dir + "/wiki_00", atomically: true, encoding: .utf8)
        let docs = try WikiCorpus.documents(dir: dir)
        #expect(docs == ["a b a b a", "b b b"], "titles dropped, empty documents skipped")
        let vocab = dir + "/v"
        try FileManager.default.createDirectory(atPath: vocab, withIntermediateDirectories: true)
        try "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\nb\n".write(toFile: vocab + "/vocab.txt", atomically: true, encoding: .utf8)
        let tok = try BertTokenizer(folder: vocab)
        let (seqs, dropped) = WikiCorpus.pack(docs, tokenizer: tok, maxLength: 5)
        // 5 + [SEP] + 3 + [SEP] = 10 tokens -> three sequences of 3 content tokens, 1 left over.
        #expect(seqs.count == 3 && dropped == 1)
        #expect(seqs.allSatisfy { $0.count == 5 && $0.first == 2 && $0.last == 3 })
        #expect(seqs[0] == [2, 5, 6, 5, 3] && seqs[1] == [2, 6, 5, 3, 3])
        #expect(WikiCorpus.pack(docs, tokenizer: tok, maxLength: 5, maxTokens: 4).sequences.count == 2)
    }

    /// Token counts for a frequency-weighted embedding: read from the last document backwards,
    /// capped at maxTokens content tokens, [CLS] and [SEP] counted as the most frequent token.
    @Test func tokenCountsFromTheEnd() throws {
        let dir = scratchDirectory("kb-wiki-counts")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\nb\nc\n".write(toFile: dir + "/vocab.txt", atomically: true, encoding: .utf8)
        let tok = try BertTokenizer(folder: dir)
        let docs = ["a a a a", "b c", "c c b"]
        let all = WikiCorpus.tokenCounts(docs, tokenizer: tok, maxTokens: 100)
        #expect(all.tokens == 9)
        #expect(all.counts == [0, 0, 4, 4, 0, 4, 2, 3])
        // The last 4 tokens: "c c b" then "b" of "b c" (the document is read in order).
        let tail = WikiCorpus.tokenCounts(docs, tokenizer: tok, maxTokens: 4)
        #expect(tail.tokens == 4)
        #expect(tail.counts == [0, 0, 2, 2, 0, 0, 2, 2])
        // Unknown words count as [UNK].
        #expect(WikiCorpus.tokenCounts(["zzz a"], tokenizer: tok, maxTokens: 10).counts[1] == 1)
    }

    @Test func malformedMarkupNamesFileAndLine() throws {
        let dir = scratchDirectory("kb-wiki")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try "<doc id=\"1\">\nT\ntext\n<doc id=\"2\">\n".write(toFile: dir + "/wiki_00", atomically: true, encoding: .utf8)
        #expect(throws: DataError.malformedRow(path: dir + "/wiki_00", line: 4, reason: "<doc> inside the document opened at line 1")) {
            _ = try WikiCorpus.documents(dir: dir)
        }
    }

    @Test func realCorpusFileParses() throws {
        let dir = (ProcessInfo.processInfo.environment["KBERT_DATA"] ?? repoRoot.deletingLastPathComponent().appendingPathComponent("shared/data").path)
            + "/corpus/wikipedia_en"
        let docs = try WikiCorpus.documents(dir: dir, maxFiles: 1)
        #expect(docs.count > 100)
        #expect(!docs.contains { $0.contains("<doc") || $0.contains("</doc>") })
    }
}

@Suite struct CorpusTransferTests {
    @Test func sentencesSplitAtSentenceEnds() {
        let doc = "The first sentence is here. The second one, with 3 commas, is longer! Is this the third one?\nToo short. A line without a final stop but words enough"
        #expect(WikiCorpus.sentences(doc) == ["The first sentence is here.", "The second one, with 3 commas, is longer!",
                                              "Is this the third one?", "A line without a final stop but words enough"])
        // No cut inside numbers or before lower case; over 40 words dropped.
        #expect(WikiCorpus.sentences("It cost 3.5 million dollars. then it went on and on.") == ["It cost 3.5 million dollars. then it went on and on."])
        #expect(WikiCorpus.sentences((0..<41).map { "w\($0)" }.joined(separator: " ")).isEmpty)
    }

    /// Pairs in turn: consecutive sentences of one document, sentences of two documents, a
    /// sentence and a copy that lost words (in order); unlabeled, deterministic for a seed.
    @Test func transferExamplesSpanRelatedToNearIdentical() {
        let docs = (0..<6).map { d in (0..<5).map { s in "Doc \(d) sentence \(s) has these words." }.joined(separator: " ") }
        func place(_ s: String) -> (doc: Int, sentence: Int)? {
            let w = s.split(separator: " ")
            guard w.count == 7, let d = Int(w[1]), let k = Int(w[3]) else { return nil }
            return (d, k)
        }
        let ex = WikiCorpus.transferExamples(docs, count: 30, pairs: true, seed: 9)
        #expect(ex.count == 30)
        #expect(ex.allSatisfy { $0.label == nil && $0.score == nil && $0.textB != nil && $0.id.hasPrefix("corpus-") })
        for (i, e) in ex.enumerated() {
            let a = place(e.textA)!
            switch i % 3 {
            case 0:
                let b = place(e.textB!)!
                #expect(a.doc == b.doc && b.sentence == a.sentence + 1, "\(e)")
            case 1:
                let b = place(e.textB!)!
                #expect(a.doc != b.doc, "\(e)")
            default:
                let wa = e.textA.split(separator: " "), wb = e.textB!.split(separator: " ")
                var j = 0
                for w in wa where j < wb.count && w == wb[j] { j += 1 }
                #expect(j == wb.count && !wb.isEmpty, "the copy keeps a subsequence of the words: \(e)")
            }
        }
        #expect(ex.enumerated().contains { $0.offset % 3 == 2 && $0.element.textA != $0.element.textB }, "some copies lost words")
        #expect(WikiCorpus.transferExamples(docs, count: 30, pairs: true, seed: 9) == ex)
        #expect(WikiCorpus.transferExamples(docs, count: 30, pairs: true, seed: 10) != ex)
        let single = WikiCorpus.transferExamples(docs, count: 7, pairs: false, seed: 9)
        #expect(single.count == 7 && single.allSatisfy { $0.textB == nil && place($0.textA) != nil })
        // One-sentence documents cannot give consecutive pairs: fewer than asked, no endless search.
        #expect(WikiCorpus.transferExamples(["Only one sentence in here."], count: 3, pairs: true, seed: 1).count < 3)
    }
}
