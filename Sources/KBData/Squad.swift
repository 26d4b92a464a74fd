import Foundation
import KBTokenizer

// SQuAD v1.1 and v2.0: the JSON reader, the model's input windows (Hugging Face's `run_qa.py`
// preprocessing), answer extraction from start/end logits (`utils_qa.postprocess_qa_predictions`)
// and the official scorers' exact match and F1 (evaluate-v1.1.py, evaluate-v2.0.py).
//
// Character positions are Unicode code points, as Python's string indices (SQuAD's
// `answer_start`) and the tokenizer's offsets are.

/// One gold answer: its text and where it starts in the context (code points).
public struct SquadAnswer: Sendable, Equatable {
    public var text: String
    public var start: Int
    public init(text: String, start: Int) { self.text = text; self.start = start }
}

/// One question on one paragraph.
public struct SquadExample: Sendable, Equatable {
    public var id: String
    public var question: String
    public var context: String
    /// Empty for SQuAD 2.0's unanswerable questions.
    public var answers: [SquadAnswer]
    public var isImpossible: Bool
    public init(id: String, question: String, context: String, answers: [SquadAnswer], isImpossible: Bool = false) {
        self.id = id; self.question = question; self.context = context; self.answers = answers; self.isImpossible = isImpossible
    }
}

/// A SQuAD file: its questions in file order.
public struct SquadDataset: Sendable {
    public var version: String
    public var examples: [SquadExample]
    /// SQuAD 2.0 (unanswerable questions allowed, scored with evaluate-v2.0.py's rules): the
    /// file's version starts with "v2" or any question is marked `is_impossible`.
    public var isVersion2: Bool

    /// Reads a SQuAD JSON file. A missing or mistyped field is an error naming the file and the
    /// field's path (e.g. `data[3].paragraphs[0].qas[7].answers[0].answer_start`), as is an answer
    /// that does not lie inside its context.
    public static func read(path: String) throws(DataError) -> SquadDataset {
        guard let d = FileManager.default.contents(atPath: path) else {
            throw FileManager.default.fileExists(atPath: path) ? .unreadable(path: path, reason: "cannot read") : .missingFile(path: path)
        }
        let root: Any
        do { root = try JSONSerialization.jsonObject(with: d) } catch {
            throw .unreadable(path: path, reason: "not valid JSON (\(error.localizedDescription))")
        }
        func bad(_ field: String, _ why: String) -> DataError { .unreadable(path: path, reason: "field '\(field)': \(why)") }
        guard let top = root as? [String: Any] else { throw bad("(top level)", "not a JSON object") }
        guard let data = top["data"] as? [Any] else { throw bad("data", "missing or not a list") }
        let version = top["version"] as? String ?? ""
        var examples: [SquadExample] = []
        for (ai, art) in data.enumerated() {
            guard let art = art as? [String: Any], let paras = art["paragraphs"] as? [Any] else {
                throw bad("data[\(ai)].paragraphs", "missing or not a list")
            }
            for (pi, para) in paras.enumerated() {
                let at = "data[\(ai)].paragraphs[\(pi)]"
                guard let para = para as? [String: Any] else { throw bad(at, "not an object") }
                guard let context = para["context"] as? String else { throw bad(at + ".context", "missing or not a string") }
                guard let qas = para["qas"] as? [Any] else { throw bad(at + ".qas", "missing or not a list") }
                let contextLength = context.unicodeScalars.count
                for (qi, qa) in qas.enumerated() {
                    let qat = "\(at).qas[\(qi)]"
                    guard let qa = qa as? [String: Any] else { throw bad(qat, "not an object") }
                    guard let id = qa["id"] as? String else { throw bad(qat + ".id", "missing or not a string") }
                    guard let question = qa["question"] as? String else { throw bad(qat + ".question", "missing or not a string") }
                    var impossible = false
                    if let v = qa["is_impossible"] {
                        guard let b = v as? Bool else { throw bad(qat + ".is_impossible", "not a boolean") }
                        impossible = b
                    }
                    guard let raw = qa["answers"] as? [Any] else { throw bad(qat + ".answers", "missing or not a list") }
                    var answers: [SquadAnswer] = []
                    for (k, a) in raw.enumerated() {
                        let aat = "\(qat).answers[\(k)]"
                        guard let a = a as? [String: Any], let text = a["text"] as? String else { throw bad(aat + ".text", "missing or not a string") }
                        guard let n = a["answer_start"] as? NSNumber, let start = Int(exactly: n.doubleValue) else {
                            throw bad(aat + ".answer_start", "missing or not an integer")
                        }
                        guard start >= 0, start + text.unicodeScalars.count <= contextLength else {
                            throw bad(aat + ".answer_start", "\(start) + \(text.unicodeScalars.count) characters lies outside the context (\(contextLength) characters)")
                        }
                        answers.append(SquadAnswer(text: text, start: start))
                    }
                    if impossible && !answers.isEmpty { throw bad(qat + ".answers", "an unanswerable question with answers") }
                    examples.append(SquadExample(id: id, question: question, context: context, answers: answers, isImpossible: impossible))
                }
            }
        }
        var ids = Set<String>()
        for e in examples where !ids.insert(e.id).inserted { throw .unreadable(path: path, reason: "question id '\(e.id)' appears twice") }
        return SquadDataset(version: version, examples: examples,
                            isVersion2: version.hasPrefix("v2") || version.hasPrefix("2") || examples.contains { $0.isImpossible })
    }
}

/// The SQuAD tasks: their names on the command line and their files in a SQuAD folder.
public enum SquadTask: String, Sendable, CaseIterable {
    case v1 = "squad", v2 = "squad-v2"

    /// squad, squad1, squad-v1.1, …; squad2, squad-v2, squad_v2.0, …; nil for anything else.
    public init?(name: String) {
        let n = name.lowercased().replacingOccurrences(of: "-", with: "").replacingOccurrences(of: "_", with: "")
        switch n {
        case "squad", "squad1", "squadv1", "squad11", "squadv11", "squad1.1", "squadv1.1": self = .v1
        case "squad2", "squadv2", "squad20", "squadv20", "squad2.0", "squadv2.0": self = .v2
        default: return nil
        }
    }

    /// The file of a split (the official names): train-v1.1.json, dev-v1.1.json, train-v2.0.json,
    /// dev-v2.0.json. SQuAD has no public test set.
    public func fileName(_ split: Split) -> String {
        "\(split == .train ? "train" : "dev")-\(self == .v1 ? "v1.1" : "v2.0").json"
    }
}

// MARK: - Model inputs

/// One window of one example: `[CLS] question [SEP] context window [SEP]`.
public struct QAFeature: Sendable, Equatable {
    /// Index of the example in the list the features were made from.
    public var example: Int
    public var ids: [Int32]
    public var typeIds: [Int32]
    /// Per token, its span in the context (code points); nil for the question and special tokens.
    public var offsets: [Offset?]
    /// Training labels: the answer's first and last token, or [CLS] (0) when the window does not
    /// hold the whole answer or the question has none.
    public var start: Int
    public var end: Int
}

/// Cuts examples into model inputs as Hugging Face's `run_qa.py` does (the fast tokenizer with
/// truncation "only_second", overflowing tokens and a stride): each window holds
/// `maxLength - question - 3` context tokens, consecutive windows share `docStride` tokens, and
/// the last one reaches the context's end. Questions longer than `maxQueryLength` tokens are cut
/// to it first (Google's `run_squad.py`; `run_qa.py` keeps them whole, the same for every SQuAD
/// question under 64 tokens).
public struct QAFeaturizer: Sendable {
    public var maxLength: Int
    public var docStride: Int
    public var maxQueryLength: Int
    public init(maxLength: Int = 384, docStride: Int = 128, maxQueryLength: Int = 64) {
        self.maxLength = maxLength; self.docStride = docStride; self.maxQueryLength = maxQueryLength
    }

    /// `source` names the examples' file in errors.
    public func features(_ examples: [SquadExample], tokenizer: BertTokenizer, source: String = "<squad>") throws(DataError) -> [QAFeature] {
        guard docStride >= 0, maxQueryLength > 0 else { throw .unreadable(path: source, reason: "the document stride must be ≥ 0 and the query length positive") }
        var out: [QAFeature] = []
        // A paragraph's questions are consecutive: its context is tokenized once, not per question.
        var context: (text: String, pieces: [BertTokenizer.Piece])? = nil
        for (k, e) in examples.enumerated() {
            if context?.text != e.context { context = (e.context, tokenizer.tokenize(e.context)) }
            out += try features(e, index: k, contextPieces: context!.pieces, tokenizer: tokenizer, source: source)
        }
        return out
    }

    func features(_ e: SquadExample, index: Int, contextPieces c: [BertTokenizer.Piece], tokenizer: BertTokenizer,
                  source: String) throws(DataError) -> [QAFeature] {
        let q = tokenizer.tokenize(e.question).prefix(maxQueryLength)
        let window = maxLength - q.count - 3
        guard window > docStride else {
            throw .unreadable(path: source, reason: "question '\(e.id)': \(q.count) question tokens leave \(window) context tokens per window of \(maxLength), not more than the stride \(docStride)")
        }
        let head: [Int32] = [tokenizer.clsId] + q.map(\.id) + [tokenizer.sepId]
        // The answer's characters [sc, ec) (code points), for the labels.
        let answer = e.answers.first.map { ($0.start, $0.start + $0.text.unicodeScalars.count) }
        var out: [QAFeature] = []
        var from = 0
        while true {
            let to = min(from + window, c.count)
            let piece = c[from..<to]
            let ids = head + piece.map(\.id) + [tokenizer.sepId]
            let types = [Int32](repeating: 0, count: head.count) + [Int32](repeating: 1, count: piece.count + 1)
            let offsets: [Offset?] = [Offset?](repeating: nil, count: head.count) + piece.map { Optional($0.offset) } + [nil]
            var start = 0, end = 0
            if let (sc, ec) = answer, !piece.isEmpty {
                let first = head.count, last = head.count + piece.count - 1
                if offsets[first]!.start <= sc && offsets[last]!.end >= ec {
                    var s = first
                    while s <= last && offsets[s]!.start <= sc { s += 1 }
                    var t = last
                    while t >= first && offsets[t]!.end >= ec { t -= 1 }
                    start = s - 1; end = t + 1
                }
            }
            out.append(QAFeature(example: index, ids: ids, typeIds: types, offsets: offsets, start: start, end: end))
            if to == c.count { break }
            from += window - docStride
        }
        return out
    }
}

// MARK: - Answers from logits

public enum QAAnswer {
    /// The answer text for one example from its features' start and end logits, as
    /// `utils_qa.postprocess_qa_predictions`: the `nBest` highest start and end tokens of each
    /// window, spans inside the context of at most `maxAnswerLength` tokens scored by the sum of
    /// their two logits, the best one's text; SQuAD 2.0: the null answer ("") when the lowest
    /// [CLS] score over the windows exceeds the best span's by more than `nullThreshold`.
    /// With no valid span, "empty" (as `utils_qa`).
    public static func extract(context: String, features: [(offsets: [Offset?], start: [Float], end: [Float])],
                               version2: Bool, nBest: Int = 20, maxAnswerLength: Int = 30, nullThreshold: Float = 0) -> String {
        struct Candidate { var a: Int, b: Int, score: Float, start: Float, end: Float }
        var prelim: [Candidate] = []
        var null: Candidate? = nil
        func top(_ v: [Float]) -> [Int] { Array(v.indices.sorted { v[$0] > v[$1] || (v[$0] == v[$1] && $0 > $1) }.prefix(nBest)) }
        for f in features {
            guard !f.start.isEmpty, f.start.count == f.end.count else { continue }
            let nullScore = f.start[0] + f.end[0]
            if null == nil || null!.score > nullScore { null = Candidate(a: 0, b: 0, score: nullScore, start: f.start[0], end: f.end[0]) }
            let ends = top(f.end)
            for s in top(f.start) {
                for e in ends {
                    guard s < f.offsets.count, e < f.offsets.count, let os = f.offsets[s], let oe = f.offsets[e] else { continue }
                    guard e >= s, e - s + 1 <= maxAnswerLength else { continue }
                    prelim.append(Candidate(a: os.start, b: oe.end, score: f.start[s] + f.end[e], start: f.start[s], end: f.end[e]))
                }
            }
        }
        if version2, let null { prelim.append(null) }
        // Python's sorted(..., reverse=True) is stable: equal scores keep their order.
        var preds = Array(prelim.enumerated().sorted { ($0.element.score, -$0.offset) > ($1.element.score, -$1.offset) }.map(\.element).prefix(nBest))
        if version2, let null, !preds.contains(where: { $0.a == 0 && $0.b == 0 }) { preds.append(null) }
        let scalars = Array(context.unicodeScalars)
        func text(_ c: Candidate) -> String {
            let a = max(0, min(c.a, scalars.count)), b = max(a, min(c.b, scalars.count))
            var s = String.UnicodeScalarView(); s.append(contentsOf: scalars[a..<b]); return String(s)
        }
        var texts = preds.map { (text($0), $0) }
        if texts.isEmpty || (texts.count == 1 && texts[0].0.isEmpty) {
            texts.insert(("empty", Candidate(a: 0, b: 0, score: 0, start: 0, end: 0)), at: 0)
        }
        guard version2, let null else { return texts[0].0 }
        guard let best = texts.first(where: { !$0.0.isEmpty }) else { return "" }
        return null.score - best.1.start - best.1.end > nullThreshold ? "" : best.0
    }
}

// MARK: - The official metrics

/// Exact match and F1 as SQuAD's official scorers compute them.
public enum SquadMetrics {
    /// The scorers' `normalize_answer`: lower case, ASCII punctuation removed, the words a/an/the
    /// removed, whitespace collapsed to single spaces (Python's `str.lower`, `\b` and `str.split`
    /// semantics on code points).
    public static func normalize(_ s: String) -> String {
        var v = String.UnicodeScalarView()
        for (i, t) in normalizedTokens(s).enumerated() {
            if i > 0 { v.append(" ") }
            v.append(contentsOf: t.compactMap(Unicode.Scalar.init))
        }
        return String(v)
    }

    /// The normalized answer's tokens as code points: compared and counted as Python compares
    /// strings (code point by code point; Swift's `String` equality would equate canonically
    /// equivalent spellings, "é" and "e" + U+0301, which the scorers tell apart).
    static func normalizedTokens(_ s: String) -> [[UInt32]] {
        let lowered = pythonLower(s)
        let punct = Set("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~".unicodeScalars.map(\.value))
        let kept = lowered.filter { !punct.contains($0.value) }
        // Remove articles: a maximal run of word characters equal to a, an or the becomes a space.
        var noArticles: [Unicode.Scalar] = []
        var i = 0
        while i < kept.count {
            if isWord(kept[i]) {
                var j = i
                while j < kept.count && isWord(kept[j]) { j += 1 }
                let run = kept[i..<j].map(\.value)
                if run == [97] || run == [97, 110] || run == [116, 104, 101] { noArticles.append(" ") } else { noArticles += kept[i..<j] }
                i = j
            } else {
                noArticles.append(kept[i]); i += 1
            }
        }
        // Python's str.split(): runs of whitespace separate, none are kept.
        var out: [[UInt32]] = []
        var cur: [UInt32] = []
        for c in noArticles {
            if isSpace(c) {
                if !cur.isEmpty { out.append(cur); cur = [] }
            } else { cur.append(c.value) }
        }
        if !cur.isEmpty { out.append(cur) }
        return out
    }

    /// Python's `str.isspace`: White_Space, plus the information separators U+001C–U+001F.
    static func isSpace(_ c: Unicode.Scalar) -> Bool { c.properties.isWhitespace || (0x1C...0x1F).contains(c.value) }

    /// Python's `\w` in a str pattern: letters, numbers and the underscore.
    static func isWord(_ c: Unicode.Scalar) -> Bool {
        if c == "_" { return true }
        switch c.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return c.properties.numericType != nil
        }
    }

    /// Python's `str.lower`: full lowercase mappings, with capital sigma as final sigma after a
    /// cased letter and not before one (case-ignorable characters skipped).
    static func pythonLower(_ s: String) -> [Unicode.Scalar] {
        let cps = Array(s.unicodeScalars)
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(cps.count)
        for (i, c) in cps.enumerated() {
            if c.value == 0x3A3 {
                var before = false, after = false
                var j = i - 1
                while j >= 0 && cps[j].properties.isCaseIgnorable { j -= 1 }
                if j >= 0 && cps[j].properties.isCased { before = true }
                j = i + 1
                while j < cps.count && cps[j].properties.isCaseIgnorable { j += 1 }
                if j < cps.count && cps[j].properties.isCased { after = true }
                out.append(before && !after ? "\u{3C2}" : "\u{3C3}")
            } else {
                out += c.properties.lowercaseMapping.unicodeScalars
            }
        }
        return out
    }

    public static func exactMatch(_ prediction: String, _ gold: String) -> Bool { normalizedTokens(prediction) == normalizedTokens(gold) }

    /// evaluate-v1.1.py's `f1_score` (0 when no token is shared, even if both are empty).
    public static func f1V1(_ prediction: String, _ gold: String) -> Double {
        overlapF1(normalizedTokens(prediction), normalizedTokens(gold))
    }

    /// evaluate-v2.0.py's `compute_f1`: 1 when both are empty, 0 when one is.
    public static func f1V2(_ prediction: String, _ gold: String) -> Double {
        let p = normalizedTokens(prediction), g = normalizedTokens(gold)
        if p.isEmpty || g.isEmpty { return p == g ? 1 : 0 }
        return overlapF1(p, g)
    }

    static func overlapF1(_ p: [[UInt32]], _ g: [[UInt32]]) -> Double {
        var counts: [[UInt32]: Int] = [:]
        for t in g { counts[t, default: 0] += 1 }
        var same = 0
        for t in p where (counts[t] ?? 0) > 0 { counts[t]! -= 1; same += 1 }
        guard same > 0 else { return 0 }
        let precision = Double(same) / Double(p.count), recall = Double(same) / Double(g.count)
        return 2 * precision * recall / (precision + recall)
    }

    /// One question's scores against its gold answers (v1.1: the texts as given; v2.0: the texts
    /// that normalize to something, or "" for an unanswerable question).
    public static func score(prediction: String, golds: [String], version2: Bool) -> (exact: Double, f1: Double) {
        if version2 {
            let g = golds.filter { !normalizedTokens($0).isEmpty }
            let gold = g.isEmpty ? [""] : g
            return (gold.map { exactMatch(prediction, $0) ? 1.0 : 0.0 }.max() ?? 0, gold.map { f1V2(prediction, $0) }.max() ?? 0)
        }
        return (golds.map { exactMatch(prediction, $0) ? 1.0 : 0.0 }.max() ?? 0, golds.map { f1V1(prediction, $0) }.max() ?? 0)
    }

    /// The official totals in percent. v1.1: every question of the file counts, a missing
    /// prediction scoring 0. v2.0: the questions with a prediction count (evaluate-v2.0.py skips
    /// the others), with the answerable (`HasAns`) and unanswerable (`NoAns`) subsets.
    public static func evaluate(_ data: SquadDataset, predictions: [String: String]) -> SquadScores {
        var em = 0.0, f1 = 0.0, n = 0, missing = 0
        var has = (em: 0.0, f1: 0.0, n: 0), no = (em: 0.0, f1: 0.0, n: 0)
        for e in data.examples {
            guard let p = predictions[e.id] else {
                missing += 1
                if !data.isVersion2 { n += 1 }
                continue
            }
            let s = score(prediction: p, golds: e.answers.map(\.text), version2: data.isVersion2)
            em += s.exact; f1 += s.f1; n += 1
            if data.isVersion2 {
                if e.answers.isEmpty { no.em += s.exact; no.f1 += s.f1; no.n += 1 } else { has.em += s.exact; has.f1 += s.f1; has.n += 1 }
            }
        }
        func pct(_ x: Double, _ n: Int) -> Double { n == 0 ? 0 : 100 * x / Double(n) }
        var r = SquadScores(exact: pct(em, n), f1: pct(f1, n), total: n, missing: missing)
        if data.isVersion2 {
            if has.n > 0 { r.hasAnswer = (pct(has.em, has.n), pct(has.f1, has.n), has.n) }
            if no.n > 0 { r.noAnswer = (pct(no.em, no.n), pct(no.f1, no.n), no.n) }
        }
        return r
    }
}

/// SQuAD totals in percent, as the official scorers print them.
public struct SquadScores: Sendable {
    public var exact: Double
    public var f1: Double
    /// Questions counted.
    public var total: Int
    /// Questions without a prediction.
    public var missing: Int
    public var hasAnswer: (exact: Double, f1: Double, total: Int)? = nil
    public var noAnswer: (exact: Double, f1: Double, total: Int)? = nil

    /// The metrics as (name, value), main metric (F1) first.
    public var metrics: [(String, Double)] {
        var m: [(String, Double)] = [("f1", f1), ("exact", exact)]
        if let h = hasAnswer { m += [("HasAns_f1", h.f1), ("HasAns_exact", h.exact)] }
        if let z = noAnswer { m += [("NoAns_f1", z.f1), ("NoAns_exact", z.exact)] }
        return m
    }
}
