import Foundation
import KBTokenizer
import KBTensor

/// Unlabeled text for general distillation: WikiExtractor files (`<doc id=.. url=.. title=..>` …
/// `</doc>`), packed into fixed-length token sequences.
public enum WikiCorpus {
    /// The documents of every `wiki_*` file under `dir` (sorted by name), title line dropped.
    /// Malformed markup (a `<doc` without its `</doc>`) is an error naming the file and line.
    public static func documents(dir: String, maxFiles: Int? = nil) throws(DataError) -> [String] {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: dir) else { throw .missingFile(path: dir) }
        let files = names.filter { $0.hasPrefix("wiki_") }.sorted().prefix(maxFiles ?? Int.max)
        guard !files.isEmpty else { throw .unreadable(path: dir, reason: "no wiki_* files") }
        var docs: [String] = []
        for f in files { docs += try parse(path: dir + "/" + f) }
        return docs
    }

    public static func parse(path: String) throws(DataError) -> [String] {
        guard let d = FileManager.default.contents(atPath: path) else { throw .unreadable(path: path, reason: "cannot read") }
        guard let text = String(validating: d, as: UTF8.self) else { throw .unreadable(path: path, reason: "not valid UTF-8") }
        var docs: [String] = []
        var current: [Substring]? = nil
        var openLine = 0
        for (i, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            if line.hasPrefix("<doc ") || line == "<doc>" {
                if current != nil { throw .malformedRow(path: path, line: i + 1, reason: "<doc> inside the document opened at line \(openLine)") }
                current = []; openLine = i + 1
            } else if line == "</doc>" {
                guard let lines = current else { throw .malformedRow(path: path, line: i + 1, reason: "</doc> without <doc>") }
                // The first line repeats the title; the body follows.
                let body = lines.dropFirst().filter { !$0.isEmpty }.joined(separator: "\n")
                if !body.isEmpty { docs.append(body) }
                current = nil
            } else if current != nil {
                current!.append(line)
            }
        }
        if current != nil { throw .malformedRow(path: path, line: openLine, reason: "<doc> never closed") }
        return docs
    }

    /// How often each token id occurs in the last `maxTokens` content tokens of `docs` (read from
    /// the last document backwards, so a corpus read from the start for stage 1 keeps its held-out
    /// slice out of the counts unless the two overlap), with the number of content tokens counted.
    public static func tokenCounts(_ docs: [String], tokenizer: BertTokenizer, maxTokens: Int) -> (counts: [Int], tokens: Int) {
        var counts = [Int](repeating: 0, count: tokenizer.vocab.count)
        var used = 0
        for doc in docs.reversed() where used < maxTokens {
            for t in tokenizer.tokenize(doc) where used < maxTokens {
                let id = Int(t.id)
                if id >= 0 && id < counts.count { counts[id] += 1; used += 1 }
            }
        }
        // [CLS] and [SEP] open and close every input the model sees (and the classifier reads
        // [CLS]): counted as often as the most frequent token.
        let top = counts.max() ?? 0
        for id in [Int(tokenizer.clsId), Int(tokenizer.sepId)] where id >= 0 && id < counts.count { counts[id] = top }
        return (counts, used)
    }

    /// Packs documents into sequences of exactly `maxLength` tokens ([CLS] … [SEP]); text flows
    /// across document boundaries, each document ending with [SEP]. Stops after `maxTokens`
    /// content tokens; a last partial sequence is dropped (and counted in `droppedTokens`).
    public static func pack(_ docs: [String], tokenizer: BertTokenizer, maxLength: Int, maxTokens: Int? = nil)
        -> (sequences: [[Int32]], droppedTokens: Int) {
        let body = maxLength - 2
        precondition(body > 0, "max length must leave room for [CLS] and [SEP]")
        var sequences: [[Int32]] = []
        var buffer: [Int32] = []
        var used = 0
        for doc in docs {
            buffer += tokenizer.tokenize(doc).map(\.id)
            buffer.append(tokenizer.sepId)
            while buffer.count >= body {
                sequences.append([tokenizer.clsId] + buffer[0..<body] + [tokenizer.sepId])
                buffer.removeFirst(body)
                used += body
                if let m = maxTokens, used >= m { return (sequences, 0) }
            }
        }
        return (sequences, buffer.count)
    }
}

extension WikiCorpus {
    /// The sentences of a document: the text is cut after `.`, `!` or `?` followed by a space and
    /// an upper-case letter, a digit or a quote, within each line; sentences of 4 to 40 words are kept.
    public static func sentences(_ doc: String) -> [String] {
        var out: [String] = []
        for line in doc.split(separator: "\n") {
            let chars = Array(line)
            var start = 0
            func emit(_ end: Int) {
                let s = String(chars[start..<end]).trimmingCharacters(in: .whitespaces)
                let words = s.split(whereSeparator: \.isWhitespace).count
                if words >= 4 && words <= 40 { out.append(s) }
            }
            var i = 0
            while i + 2 < chars.count {
                if ".!?".contains(chars[i]), chars[i + 1] == " ", chars[i + 2].isUppercase || chars[i + 2].isNumber || chars[i + 2] == "\"" {
                    emit(i + 1); start = i + 2; i += 2
                } else {
                    i += 1
                }
            }
            if start < chars.count { emit(chars.count) }
        }
        return out
    }

    /// `count` unlabeled examples drawn from the corpus for task distillation's transfer set
    /// (the teacher labels them), deterministic for a seed. For a pair task, in turn: two
    /// consecutive sentences of one document (related text), sentences of two different documents
    /// (unrelated), and a sentence with a copy of itself that lost each word with probability 0.2
    /// (a near paraphrase), so the pairs span a sentence-pair task's range from unrelated to
    /// near-identical; for a single-sentence task, single sentences. Ids are `corpus-<i>`.
    public static func transferExamples(_ docs: [String], count: Int, pairs: Bool, seed: UInt64) -> [Example] {
        var rng = SplitMix64(seed: seed)
        func below(_ n: Int) -> Int { Int(rng.next() % UInt64(n)) }
        var cache: [Int: [String]] = [:]
        func sentencesOf(_ d: Int) -> [String] {
            if let s = cache[d] { return s }
            let s = sentences(docs[d]); cache[d] = s
            return s
        }
        /// A random document with at least `atLeast` sentences (nil when a long search finds none).
        func document(atLeast: Int) -> Int? {
            for _ in 0..<1000 { let d = below(docs.count); if sentencesOf(d).count >= atLeast { return d } }
            return nil
        }
        var out: [Example] = []
        guard !docs.isEmpty else { return out }
        out.reserveCapacity(count)
        var misses = 0
        while out.count < count && misses < 1000 {
            let kind = pairs ? out.count % 3 : 0   // a miss retries the same kind
            guard let d = document(atLeast: kind == 0 && pairs ? 2 : 1) else { misses += 1; continue }
            let s = sentencesOf(d)
            let id = "corpus-\(out.count)"
            if !pairs {
                out.append(Example(id: id, textA: s[below(s.count)], textB: nil, label: nil, score: nil))
            } else if kind == 0 {
                let j = below(s.count - 1)
                out.append(Example(id: id, textA: s[j], textB: s[j + 1], label: nil, score: nil))
            } else if kind == 1 {
                guard let e = document(atLeast: 1), e != d else { misses += 1; continue }
                let t = sentencesOf(e)
                out.append(Example(id: id, textA: s[below(s.count)], textB: t[below(t.count)], label: nil, score: nil))
            } else {
                let a = s[below(s.count)]
                let words = a.split(whereSeparator: \.isWhitespace)
                var kept = words.filter { _ in Double(rng.next() >> 11) / Double(1 << 53) >= 0.2 }
                if kept.isEmpty { kept = [words[0]] }
                out.append(Example(id: id, textA: a, textB: kept.joined(separator: " "), label: nil, score: nil))
            }
        }
        return out
    }
}
