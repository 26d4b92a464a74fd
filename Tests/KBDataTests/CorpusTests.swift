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
