import Foundation
import Testing
import KBTestSupport
@testable import KBTokenizer

@Suite struct TokenizerTests {
    @Test func longestFirstRule() {
        // The tokenizers rule: the shorter text keeps its length when the longer can absorb the cut.
        #expect(BertTokenizer.longestFirst(10, 200, 125) == (10, 115))
        #expect(BertTokenizer.longestFirst(200, 10, 125) == (115, 10))
        #expect(BertTokenizer.longestFirst(100, 100, 125) == (62, 63))
        #expect(BertTokenizer.longestFirst(100, 90, 125) == (63, 62))
        #expect(BertTokenizer.longestFirst(0, 300, 5) == (0, 5))
    }

    func tinyFolder(lower: Bool, extra: String = "") throws -> String {
        let dir = scratchDirectory("kb-tok")
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hello", "Hello", "world", "##s", "##ing", "play", ",", "!", "é", "e"]
        try vocab.joined(separator: "\n").appending("\n").write(toFile: dir + "/vocab.txt", atomically: true, encoding: .utf8)
        try "{\"do_lower_case\": \(lower)\(extra)}".write(toFile: dir + "/tokenizer_config.json", atomically: true, encoding: .utf8)
        return dir
    }

    @Test func vocabTxtWithConfig() throws {
        let lower = try BertTokenizer(folder: tinyFolder(lower: true))
        #expect(try lower.encode("Hello, worlds playing!").ids == [2, 5, 11, 7, 8, 10, 9, 12, 3])
        let cased = try BertTokenizer(folder: tinyFolder(lower: false))
        #expect(try cased.encode("Hello hello").ids == [2, 6, 5, 3])
        // Cased and strip_accents unset: accents kept, so "é" stays one piece.
        #expect(try cased.encode("é").ids == [2, 13, 3])
        let strip = try BertTokenizer(folder: tinyFolder(lower: false, extra: ", \"strip_accents\": true"))
        #expect(try strip.encode("é").ids == [2, 14, 3])
    }

    @Test func unknownWordsAndLongWords() throws {
        let tok = try BertTokenizer(folder: tinyFolder(lower: true))
        #expect(try tok.encode("xyz").ids == [2, 1, 3])
        #expect(try tok.encode(String(repeating: "hello", count: 21)).ids == [2, 1, 3], "105 characters > 100")
        let e = try tok.encode("hello", "world")
        #expect(e.typeIds == [0, 0, 0, 1, 1])
        #expect(e.offsets == [Offset(0, 0), Offset(0, 5), Offset(0, 0), Offset(0, 5), Offset(0, 0)])
    }

    @Test func errors() throws {
        #expect(throws: TokenizerError.missingFile(path: "/nonexistent")) { _ = try BertTokenizer(folder: "/nonexistent") }
        let empty = scratchDirectory("kb-empty")
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        #expect(throws: TokenizerError.missingFile(path: empty + "/vocab.txt")) { _ = try BertTokenizer(folder: empty) }
        let tok = try BertTokenizer(folder: tinyFolder(lower: true))
        #expect(throws: TokenizerError.maxLengthTooLow(maxLength: 2, specialTokens: 3)) { _ = try tok.encode("a", "b", maxLength: 2) }
        let bad = try tinyFolder(lower: true, extra: ", \"strip_accents\": \"yes\"")
        #expect(throws: TokenizerError.invalidConfig(file: bad + "/tokenizer_config.json", field: "strip_accents", reason: "not a boolean or null")) {
            _ = try BertTokenizer(folder: bad)
        }
    }

    @Test func vocabIsExactNotCanonical() {
        // "é" precomposed and "e" + U+0301 are equal Swift Strings but different vocabulary entries.
        let v = Vocab(tokens: ["\u{E9}", "e\u{301}"])
        #expect(v.id("\u{E9}") == 0)
        #expect(v.id("e\u{301}") == 1)
    }
}
