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
