import Foundation
import Testing
@testable import KBTokenizer

/// Repository root, found from this file's path.
let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let modelDir = repoRoot.appendingPathComponent("models/all-MiniLM-L6-v2").path
let dataDir = ProcessInfo.processInfo.environment["KBERT_DATA"] ?? repoRoot.deletingLastPathComponent().appendingPathComponent("shared/data").path

func fixtureURL(_ name: String) -> URL { Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil)! }

func fnv(_ values: [Int32]) -> UInt32 {
    var h: UInt32 = 0x811C_9DC5
    for v in values {
        var x = UInt32(bitPattern: v)
        for _ in 0..<4 { h = (h ^ (x & 0xFF)) &* 0x0100_0193; x >>= 8 }
    }
    return h
}

func idsHash(_ e: Encoding) -> UInt32 { fnv(e.ids + [-1] + e.typeIds) }
func offsetsHash(_ e: Encoding) -> UInt32 { fnv(e.offsets.flatMap { [Int32($0.start), Int32($0.end)] }) }

/// Rows of a GLUE TSV exactly as tools/gen_tokenizer_golden.py reads them.
func readTSV(_ path: String, header: Bool, columns: [Int]) throws -> [[String]] {
    let d = try Data(contentsOf: URL(fileURLWithPath: path))
    let s = String(decoding: d, as: UTF8.self)
    var lines = s.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    if lines.last == "" { lines.removeLast() }
    if header { lines.removeFirst() }
    return lines.map { line in
        let f = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
        return columns.map { f[$0] }
    }
}

func squadRows(_ path: String, field: String) throws -> [[String]] {
    let d = try Data(contentsOf: URL(fileURLWithPath: path))
    let obj = try JSONSerialization.jsonObject(with: d) as! [String: Any]
    var rows: [[String]] = []
    for art in obj["data"] as! [[String: Any]] {
        for p in art["paragraphs"] as! [[String: Any]] {
            let ctx = p["context"] as! String
            if field == "context" { rows.append([ctx]) }
            for q in p["qas"] as! [[String: Any]] {
                let question = q["question"] as! String
                if field == "question" { rows.append([question]) }
                if field.hasPrefix("question+context") { rows.append([question, ctx]) }
            }
        }
    }
    return rows
}

@Suite(.serialized) struct TokenizerGoldenTests {
    static let tokenizer: BertTokenizer? = try? BertTokenizer(folder: modelDir)

    @Test func datasetsMatchHuggingFaceExactly() throws {
        let tok = try #require(Self.tokenizer, "default model missing: run scripts/setup.sh")
        let index = try JSONSerialization.jsonObject(with: Data(contentsOf: fixtureURL("golden_index.json"))) as! [String: Any]
        let hashes = try Data(contentsOf: fixtureURL("golden_hashes.bin"))
        let sets = index["sets"] as! [[String: Any]]
        var total = 0
        for s in sets {
            let name = s["name"] as! String, path = dataDir + "/" + (s["path"] as! String)
            let maxLength = s["max_length"] as? Int
            try #require(FileManager.default.fileExists(atPath: path), "data file missing: \(path) (set KBERT_DATA)")
            let rows = (s["kind"] as! String) == "tsv"
                ? try readTSV(path, header: s["header"] as! Bool, columns: s["columns"] as! [Int])
                : try squadRows(path, field: s["field"] as! String)
            #expect(rows.count == s["count"] as! Int, "\(name): row count")
            let base = (s["offset"] as! Int) * 8
            for (i, r) in rows.enumerated() {
                let e = try tok.encode(r[0], r.count > 1 ? r[1] : nil, maxLength: maxLength)
                let (h1, h2) = hashes.withUnsafeBytes { b in
                    (b.loadUnaligned(fromByteOffset: base + 8 * i, as: UInt32.self),
                     b.loadUnaligned(fromByteOffset: base + 8 * i + 4, as: UInt32.self))
                }
                if idsHash(e) != h1 {
                    Issue.record("\(name) row \(i): input_ids/token_type_ids differ from HF. text=\(r) ours=\(e.ids) types=\(e.typeIds)")
                    return
                }
                if offsetsHash(e) != h2 {
                    Issue.record("\(name) row \(i): offsets differ from HF. text=\(r) ours=\(e.offsets.map { [$0.start, $0.end] })")
                    return
                }
            }
            total += rows.count
        }
        #expect(total > 130_000)
    }

    @Test func adversarialCasesMatchExactly() throws {
        let tok = try #require(Self.tokenizer, "default model missing: run scripts/setup.sh")
        let cases = try JSONSerialization.jsonObject(with: Data(contentsOf: fixtureURL("adversarial.json"))) as! [[String: Any]]
        #expect(cases.count > 100)
        for c in cases {
            let a = c["a"] as! String, b = c["b"] as? String, ml = c["max_length"] as? Int
            let e = try tok.encode(a, b, maxLength: ml)
            let ids = (c["ids"] as! [Int]).map(Int32.init), types = (c["type_ids"] as! [Int]).map(Int32.init)
            let offs = (c["offsets"] as! [[Int]]).map { Offset($0[0], $0[1]) }
            guard e.ids == ids, e.typeIds == types else {
                Issue.record("ids differ for \(a.debugDescription) / \(String(describing: b?.debugDescription)) max=\(String(describing: ml)): ours \(e.ids) HF \(ids)")
                return
            }
            guard e.offsets == offs else {
                Issue.record("offsets differ for \(a.debugDescription): ours \(e.offsets.map { [$0.start, $0.end] }) HF \(offs.map { [$0.start, $0.end] })")
                return
            }
            #expect(e.attentionMask == [Int32](repeating: 1, count: e.count))
        }
    }

    /// Every code point: the normalizer's output and the pre-tokenizer's class equal HF's.
    @Test func everyCodePointMatchesReference() throws {
        let text = try String(contentsOf: fixtureURL("unicode_reference.txt"), encoding: .utf8)
        let opts = NormalizerOptions()  // the MiniLM (uncased BERT) settings the reference was made with
        var mismatches: [String] = []
        var checked = 0
        for line in text.split(separator: "\n") {
            let f = line.split(separator: " ")
            let lo = UInt32(f[0], radix: 16)!, hi = UInt32(f[1], radix: 16)!
            let kind = String(f[2]), cls = String(f[3])
            for cp in lo...hi {
                checked += 1
                let ours: String
                switch ScalarNormalizer.compute(cp, opts) {
                case .keep: ours = "="
                case .drop: ours = "-"
                case .space: ours = "_"
                case let .chinese(v): ours = v == [cp] ? "C" : "M20," + v.map { String($0, radix: 16) }.joined(separator: ",") + ",20"
                case let .map(v): ours = "M" + v.map { String($0, radix: 16) }.joined(separator: ",")
                }
                let ourCls = BertChar.isWhitespace(cp) ? "W" : BertChar.isPunctuation(cp) ? "P" : "O"
                if ours != kind || ourCls != cls {
                    mismatches.append(String(format: "U+%04X: ours %@ %@, HF %@ %@", cp, ours, ourCls, kind, cls))
                }
            }
        }
        #expect(checked == 0x110000 - 0x800)
        #expect(mismatches.isEmpty, "\(mismatches.count) code points differ; first: \(mismatches.prefix(20))")
    }
}
