import Foundation

/// Errors from loading a tokenizer or encoding with it. Each names the file or field at fault.
public enum TokenizerError: Error, Equatable, CustomStringConvertible {
    case missingFile(path: String)
    case unreadable(path: String, reason: String)
    case invalidConfig(file: String, field: String, reason: String)
    case missingSpecialToken(file: String, token: String)
    case maxLengthTooLow(maxLength: Int, specialTokens: Int)

    public var description: String {
        switch self {
        case let .missingFile(p): return "\(p): no such file (a BERT folder needs vocab.txt or tokenizer.json)"
        case let .unreadable(p, r): return "\(p): \(r)"
        case let .invalidConfig(f, k, r): return "\(f): field '\(k)': \(r)"
        case let .missingSpecialToken(f, t): return "\(f): special token '\(t)' is not in the vocabulary"
        case let .maxLengthTooLow(m, s): return "max length \(m) is too low: the special tokens alone need \(s)"
        }
    }
}

/// A span of the original text in Unicode code points (Python string indices), end exclusive.
public struct Offset: Sendable, Equatable, Hashable {
    public var start: Int, end: Int
    public init(_ start: Int, _ end: Int) { self.start = start; self.end = end }
}

/// One encoded input (a text or a pair): what the model consumes.
public struct Encoding: Sendable, Equatable {
    public var ids: [Int32]
    public var typeIds: [Int32]
    public var attentionMask: [Int32]
    /// Character span of each token in its own text; special tokens get (0, 0).
    public var offsets: [Offset]
    /// 0 for the first text, 1 for the second, nil for special tokens.
    public var sequenceIds: [Int8?]
    public var count: Int { ids.count }

    public init(ids: [Int32], typeIds: [Int32], attentionMask: [Int32], offsets: [Offset], sequenceIds: [Int8?]) {
        self.ids = ids; self.typeIds = typeIds; self.attentionMask = attentionMask; self.offsets = offsets; self.sequenceIds = sequenceIds
    }
}

/// Hugging Face's BERT WordPiece tokenizer, reproduced exactly (`tokenizers`' BertNormalizer,
/// BertPreTokenizer, WordPiece model and BERT template post-processor).
///
/// Pipeline per text: split out special tokens -> clean text -> CJK spacing -> NFD + drop Mn
/// (when stripping accents) -> lowercase -> split on whitespace and punctuation -> greedy
/// longest-match WordPiece with the `##` prefix (a word over `maxInputCharsPerWord` characters
/// becomes `[UNK]`).
public final class BertTokenizer: Sendable {
    public let vocab: Vocab
    public let options: NormalizerOptions
    public let maxInputCharsPerWord: Int
    public let unkId: Int32, clsId: Int32, sepId: Int32, padId: Int32
    /// Tokens matched verbatim in the raw text before normalization (HF "added tokens").
    let specials: [(scalars: [UInt32], id: Int32)]
    let normalizer: ScalarNormalizer

    public init(vocab: Vocab, options: NormalizerOptions = NormalizerOptions(), unk: String = "[UNK]",
                cls: String = "[CLS]", sep: String = "[SEP]", pad: String = "[PAD]",
                specialTokens: [String] = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"],
                maxInputCharsPerWord: Int = 100, file: String = "<vocab>") throws(TokenizerError) {
        self.vocab = vocab
        self.options = options
        self.maxInputCharsPerWord = maxInputCharsPerWord
        func need(_ t: String) throws(TokenizerError) -> Int32 {
            guard let id = vocab.id(t) else { throw .missingSpecialToken(file: file, token: t) }
            return id
        }
        unkId = try need(unk); clsId = try need(cls); sepId = try need(sep); padId = try need(pad)
        var sp: [(scalars: [UInt32], id: Int32)] = []
        for t in specialTokens where !t.isEmpty {
            if let id = vocab.id(t) { sp.append((t.unicodeScalars.map(\.value), id)) }
        }
        // Longest first so that overlapping specials resolve as HF's leftmost-longest matcher does.
        specials = sp.sorted { $0.scalars.count > $1.scalars.count }
        normalizer = ScalarNormalizer(options)
    }

    /// Loads from a Hugging Face folder: `tokenizer.json` when present (its normalizer, model and
    /// added tokens), otherwise `vocab.txt` with `tokenizer_config.json` (do_lower_case,
    /// strip_accents, tokenize_chinese_chars).
    public convenience init(folder: String) throws(TokenizerError) {
        let fm = FileManager.default
        var isDir: ObjCBool = false
        guard fm.fileExists(atPath: folder, isDirectory: &isDir), isDir.boolValue else {
            throw .missingFile(path: folder)
        }
        let tjson = folder + "/tokenizer.json", vtxt = folder + "/vocab.txt", tcfg = folder + "/tokenizer_config.json"
        if fm.fileExists(atPath: tjson) {
            let cfg = try TokenizerJSON.load(tjson)
            // Prefer vocab.txt for the strings (exact code points); check it agrees with tokenizer.json.
            var tokens = cfg.tokens
            if fm.fileExists(atPath: vtxt) {
                let v = try Self.readVocabTxt(vtxt)
                if v.count == tokens.count { tokens = v }
            }
            try self.init(vocab: Vocab(tokens: tokens, continuationPrefix: cfg.prefix), options: cfg.options,
                          unk: cfg.unk, specialTokens: cfg.added, maxInputCharsPerWord: cfg.maxChars, file: tjson)
            return
        }
        guard fm.fileExists(atPath: vtxt) else { throw .missingFile(path: vtxt) }
        let tokens = try Self.readVocabTxt(vtxt)
        var opts = NormalizerOptions()
        var names = ["unk_token": "[UNK]", "cls_token": "[CLS]", "sep_token": "[SEP]", "pad_token": "[PAD]", "mask_token": "[MASK]"]
        if fm.fileExists(atPath: tcfg) {
            guard let d = fm.contents(atPath: tcfg),
                  let obj = try? JSONSerialization.jsonObject(with: d) as? [String: Any] else {
                throw .unreadable(path: tcfg, reason: "not a JSON object")
            }
            if let v = obj["do_lower_case"] {
                guard let b = v as? Bool else { throw .invalidConfig(file: tcfg, field: "do_lower_case", reason: "not a boolean") }
                opts.lowercase = b
            }
            if let v = obj["strip_accents"], !(v is NSNull) {
                guard let b = v as? Bool else { throw .invalidConfig(file: tcfg, field: "strip_accents", reason: "not a boolean or null") }
                opts.stripAccents = b
            }
            if let v = obj["tokenize_chinese_chars"] {
                guard let b = v as? Bool else { throw .invalidConfig(file: tcfg, field: "tokenize_chinese_chars", reason: "not a boolean") }
                opts.handleChineseChars = b
            }
            for k in Array(names.keys) {
                if let s = obj[k] as? String { names[k] = s }
                else if let o = obj[k] as? [String: Any], let s = o["content"] as? String { names[k] = s }
            }
        }
        try self.init(vocab: Vocab(tokens: tokens), options: opts, unk: names["unk_token"]!, cls: names["cls_token"]!,
                      sep: names["sep_token"]!, pad: names["pad_token"]!,
                      specialTokens: [names["pad_token"]!, names["unk_token"]!, names["cls_token"]!, names["sep_token"]!, names["mask_token"]!],
                      file: vtxt)
    }

    static func readVocabTxt(_ path: String) throws(TokenizerError) -> [String] {
        guard let d = FileManager.default.contents(atPath: path) else { throw .unreadable(path: path, reason: "cannot read") }
        guard let s = String(validating: d, as: UTF8.self) else { throw .unreadable(path: path, reason: "not valid UTF-8") }
        var lines = s.split(separator: "\n", omittingEmptySubsequences: false).map { line -> String in
            line.hasSuffix("\r") ? String(line.dropLast()) : String(line)
        }
        if lines.last == "" { lines.removeLast() }
        guard !lines.isEmpty else { throw .unreadable(path: path, reason: "empty vocabulary") }
        return lines
    }

    // MARK: - Tokenization

    /// A token before post-processing: id and character span in the original text.
    public struct Piece: Sendable, Equatable {
        public var id: Int32
        public var offset: Offset
    }

    /// Tokens of one text, without [CLS]/[SEP].
    public func tokenize(_ text: String) -> [Piece] {
        var out: [Piece] = []
        out.reserveCapacity(text.utf8.count / 3 + 4)
        var scratch = Scratch()
        var cps: [UInt32] = []
        cps.reserveCapacity(text.utf8.count)
        for s in text.unicodeScalars { cps.append(s.value) }
        cps.withUnsafeBufferPointer { buf in
            var segStart = 0
            var i = 0
            let n = buf.count
            while i < n {
                if let (len, id) = matchSpecial(buf, at: i) {
                    normalizeAndSplit(buf, segStart..<i, &scratch, &out)
                    out.append(Piece(id: id, offset: Offset(i, i + len)))
                    i += len
                    segStart = i
                } else {
                    i += 1
                }
            }
            normalizeAndSplit(buf, segStart..<n, &scratch, &out)
        }
        return out
    }

    @inline(__always)
    private func matchSpecial(_ buf: UnsafeBufferPointer<UInt32>, at i: Int) -> (Int, Int32)? {
        let c = buf[i]
        for s in specials where s.scalars.first == c && i + s.scalars.count <= buf.count {
            var ok = true
            for k in 1..<s.scalars.count where buf[i + k] != s.scalars[k] { ok = false; break }
            if ok { return (s.scalars.count, s.id) }
        }
        return nil
    }

    /// Reusable buffers for one tokenize call.
    struct Scratch {
        var word: [UInt32] = []     // normalized code points of the current word
        var origin: [Int32] = []    // original code-point index of each
        var bytes: [UInt8] = []     // UTF-8 of the word
        var bounds: [Int] = []      // byte offset of each code point, plus the end
    }

    private func normalizeAndSplit(_ buf: UnsafeBufferPointer<UInt32>, _ range: Range<Int>, _ s: inout Scratch, _ out: inout [Piece]) {
        if range.isEmpty { return }
        s.word.removeAll(keepingCapacity: true)
        s.origin.removeAll(keepingCapacity: true)
        for i in range {
            let c = buf[i]
            switch normalizer.action(c) {
            case .drop: continue
            case .space: flush(&s, &out)
            case .keep: classify(c, Int32(i), &s, &out)
            case let .chinese(v):
                flush(&s, &out)
                for m in v { classify(m, Int32(i), &s, &out) }
                flush(&s, &out)
            case let .map(v):
                for m in v { classify(m, Int32(i), &s, &out) }
            }
        }
        flush(&s, &out)
    }

    @inline(__always)
    private func classify(_ c: UInt32, _ origin: Int32, _ s: inout Scratch, _ out: inout [Piece]) {
        if BertChar.isWhitespace(c) { flush(&s, &out); return }
        if BertChar.isPunctuation(c) {
            flush(&s, &out)
            s.word.append(c); s.origin.append(origin)
            flush(&s, &out)
            return
        }
        s.word.append(c); s.origin.append(origin)
    }

    /// Runs WordPiece on the pending word and clears it.
    private func flush(_ s: inout Scratch, _ out: inout [Piece]) {
        let n = s.word.count
        if n == 0 { return }
        defer { s.word.removeAll(keepingCapacity: true); s.origin.removeAll(keepingCapacity: true) }
        let wordSpan = Offset(Int(s.origin[0]), Int(s.origin[n - 1]) + 1)
        if n > maxInputCharsPerWord { out.append(Piece(id: unkId, offset: wordSpan)); return }
        s.bytes.removeAll(keepingCapacity: true)
        s.bounds.removeAll(keepingCapacity: true)
        for c in s.word {
            s.bounds.append(s.bytes.count)
            appendUTF8(c, &s.bytes)
        }
        s.bounds.append(s.bytes.count)
        let before = out.count
        var start = 0
        var bad = false
        s.bytes.withUnsafeBufferPointer { bytes in
            while start < n {
                var end = n
                var found: Int32? = nil
                while start < end {
                    let slice = UnsafeBufferPointer(rebasing: bytes[s.bounds[start]..<s.bounds[end]])
                    if let id = vocab.lookup(slice, continuing: start > 0) { found = id; break }
                    end -= 1
                }
                guard let id = found else { bad = true; return }
                out.append(Piece(id: id, offset: Offset(Int(s.origin[start]), Int(s.origin[end - 1]) + 1)))
                start = end
            }
        }
        if bad {
            out.removeSubrange(before...)
            out.append(Piece(id: unkId, offset: wordSpan))
        }
    }

    // MARK: - Encoding

    /// Encodes a text or a pair as `[CLS] A [SEP]` / `[CLS] A [SEP] B [SEP]` with token type ids 0/1,
    /// truncating `longest_first` (the `tokenizers` rule) when `maxLength` is given.
    ///
    /// An empty second text counts as absent, as in `transformers` (`tokenizer("a", "")` encodes "a" alone).
    public func encode(_ a: String, _ b: String? = nil, maxLength: Int? = nil) throws(TokenizerError) -> Encoding {
        var pa = tokenize(a)
        var pb = (b?.isEmpty ?? true) ? nil : b.map { tokenize($0) }
        let added = pb == nil ? 2 : 3
        if let m = maxLength {
            guard m >= added else { throw .maxLengthTooLow(maxLength: m, specialTokens: added) }
            let budget = m - added
            if var q = pb {
                if pa.count + q.count > budget {
                    let (na, nb) = Self.longestFirst(pa.count, q.count, budget)
                    if pa.count > na { pa.removeSubrange(na...) }
                    if q.count > nb { q.removeSubrange(nb...) }
                }
                pb = q
            } else if pa.count > budget {
                pa.removeSubrange(budget...)
            }
        }
        let total = pa.count + (pb?.count ?? 0) + added
        var e = Encoding(ids: [], typeIds: [], attentionMask: [Int32](repeating: 1, count: total), offsets: [], sequenceIds: [])
        e.ids.reserveCapacity(total); e.typeIds.reserveCapacity(total); e.offsets.reserveCapacity(total); e.sequenceIds.reserveCapacity(total)
        func push(_ id: Int32, _ type: Int32, _ off: Offset, _ seq: Int8?) {
            e.ids.append(id); e.typeIds.append(type); e.offsets.append(off); e.sequenceIds.append(seq)
        }
        push(clsId, 0, Offset(0, 0), nil)
        for p in pa { push(p.id, 0, p.offset, 0) }
        push(sepId, 0, Offset(0, 0), nil)
        if let q = pb {
            for p in q { push(p.id, 1, p.offset, 1) }
            push(sepId, 1, Offset(0, 0), nil)
        }
        return e
    }

    /// Target lengths for a pair under `longest_first`, as `tokenizers` computes them: the shorter
    /// text keeps its length if the longer can absorb the cut; otherwise both get half the budget,
    /// and an odd token goes to the text that was longer (to the second on a tie).
    static func longestFirst(_ a: Int, _ b: Int, _ budget: Int) -> (Int, Int) {
        var n1 = a, n2 = b
        let swap = n1 > n2
        if swap { Swift.swap(&n1, &n2) }
        n2 = n1 > budget ? n1 : max(n1, budget - n1)
        if n1 + n2 > budget {
            n1 = budget / 2
            n2 = n1 + budget % 2
        }
        if swap { Swift.swap(&n1, &n2) }
        return (n1, n2)
    }
}

@inline(__always)
func appendUTF8(_ c: UInt32, _ out: inout [UInt8]) {
    if c < 0x80 { out.append(UInt8(c)) }
    else if c < 0x800 { out.append(UInt8(0xC0 | (c >> 6))); out.append(UInt8(0x80 | (c & 0x3F))) }
    else if c < 0x10000 {
        out.append(UInt8(0xE0 | (c >> 12))); out.append(UInt8(0x80 | ((c >> 6) & 0x3F))); out.append(UInt8(0x80 | (c & 0x3F)))
    } else {
        out.append(UInt8(0xF0 | (c >> 18))); out.append(UInt8(0x80 | ((c >> 12) & 0x3F)))
        out.append(UInt8(0x80 | ((c >> 6) & 0x3F))); out.append(UInt8(0x80 | (c & 0x3F)))
    }
}

/// The parts of a `tokenizer.json` that a BERT WordPiece tokenizer uses.
struct TokenizerJSON {
    var tokens: [String]
    var prefix: String
    var unk: String
    var maxChars: Int
    var options: NormalizerOptions
    var added: [String]

    static func load(_ path: String) throws(TokenizerError) -> TokenizerJSON {
        guard let d = FileManager.default.contents(atPath: path) else { throw .unreadable(path: path, reason: "cannot read") }
        guard let obj = (try? JSONSerialization.jsonObject(with: d)) as? [String: Any] else {
            throw .unreadable(path: path, reason: "not a JSON object")
        }
        guard let model = obj["model"] as? [String: Any] else { throw .invalidConfig(file: path, field: "model", reason: "missing") }
        guard (model["type"] as? String) == "WordPiece" else {
            throw .invalidConfig(file: path, field: "model.type", reason: "'\(model["type"] ?? "nil")' is not supported (WordPiece only)")
        }
        guard let vocab = model["vocab"] as? [String: Any] else { throw .invalidConfig(file: path, field: "model.vocab", reason: "missing") }
        var tokens = [String?](repeating: nil, count: vocab.count)
        for (k, v) in vocab {
            guard let id = (v as? NSNumber)?.intValue, id >= 0, id < tokens.count, tokens[id] == nil else {
                throw .invalidConfig(file: path, field: "model.vocab", reason: "ids must be 0..<\(vocab.count), each once (token '\(k)')")
            }
            tokens[id] = k
        }
        var opts = NormalizerOptions()
        if let n = obj["normalizer"] as? [String: Any] {
            guard (n["type"] as? String) == "BertNormalizer" else {
                throw .invalidConfig(file: path, field: "normalizer.type", reason: "'\(n["type"] ?? "nil")' is not supported (BertNormalizer only)")
            }
            opts.cleanText = n["clean_text"] as? Bool ?? true
            opts.handleChineseChars = n["handle_chinese_chars"] as? Bool ?? true
            opts.stripAccents = n["strip_accents"] as? Bool
            opts.lowercase = n["lowercase"] as? Bool ?? true
        }
        let added = (obj["added_tokens"] as? [[String: Any]] ?? []).compactMap { $0["content"] as? String }
        return TokenizerJSON(tokens: tokens.map { $0 ?? "" }, prefix: model["continuing_subword_prefix"] as? String ?? "##",
                             unk: model["unk_token"] as? String ?? "[UNK]",
                             maxChars: (model["max_input_chars_per_word"] as? NSNumber)?.intValue ?? 100,
                             options: opts, added: added.isEmpty ? ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] : added)
    }
}
