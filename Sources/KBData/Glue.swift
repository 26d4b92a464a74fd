import Foundation

/// Errors from reading task data: each names the file and line.
public enum DataError: Error, Equatable, CustomStringConvertible {
    case missingFile(path: String)
    case unreadable(path: String, reason: String)
    case malformedRow(path: String, line: Int, reason: String)
    case unknownLabel(path: String, line: Int, label: String, allowed: [String])
    case missingColumn(path: String, column: String)
    case unknownTask(String)

    public var description: String {
        switch self {
        case let .missingFile(p): return "\(p): no such file"
        case let .unreadable(p, r): return "\(p): \(r)"
        case let .malformedRow(p, l, r): return "\(p):\(l): \(r)"
        case let .unknownLabel(p, l, lab, a): return "\(p):\(l): unknown label '\(lab)' (expected one of \(a.joined(separator: ", ")))"
        case let .missingColumn(p, c): return "\(p): header has no column '\(c)'"
        case let .unknownTask(t): return "unknown task '\(t)' (cola, sst2, mrpc, stsb, qqp, mnli, mnli-mm, qnli, rte, wnli)"
        }
    }
}

/// One labeled (or unlabeled, for test) example.
public struct Example: Sendable, Equatable {
    public var id: String
    public var textA: String
    public var textB: String?
    /// Class index for classification, nil for regression or unlabeled.
    public var label: Int?
    /// Target for regression (STS-B).
    public var score: Float?
    /// Extractive question answering (one window of a SQuAD question, `QAFeature`): the answer's
    /// first and last token in the window, (0, 0) when the window does not hold it.
    public var span: AnswerSpan? = nil
}

/// The answer's first and last token in a question-answering input.
public struct AnswerSpan: Sendable, Equatable {
    public var start: Int, end: Int
    public init(start: Int, end: Int) { self.start = start; self.end = end }
}

public enum Split: String, Sendable, CaseIterable { case train, dev, test }

/// The GLUE tasks in their standard TSV layout.
public enum GlueTask: String, Sendable, CaseIterable {
    case cola, sst2, mrpc, stsb, qqp, mnli, mnliMismatched = "mnli-mm", qnli, rte, wnli

    public init(name: String) throws(DataError) {
        let n = name.lowercased().replacingOccurrences(of: "-", with: "").replacingOccurrences(of: "_", with: "")
        switch n {
        case "cola": self = .cola
        case "sst2": self = .sst2
        case "mrpc": self = .mrpc
        case "stsb", "sts": self = .stsb
        case "qqp": self = .qqp
        case "mnli", "mnlim", "mnlimatched": self = .mnli
        case "mnlimm", "mnlimismatched": self = .mnliMismatched
        case "qnli": self = .qnli
        case "rte": self = .rte
        case "wnli": self = .wnli
        default: throw .unknownTask(name)
        }
    }

    /// Folder name in the GLUE release.
    public var folder: String {
        switch self {
        case .cola: return "CoLA"; case .sst2: return "SST-2"; case .mrpc: return "MRPC"; case .stsb: return "STS-B"
        case .qqp: return "QQP"; case .mnli, .mnliMismatched: return "MNLI"; case .qnli: return "QNLI"
        case .rte: return "RTE"; case .wnli: return "WNLI"
        }
    }

    public func fileName(_ split: Split) -> String {
        switch (self, split) {
        case (.mnli, .dev): return "dev_matched.tsv"
        case (.mnli, .test): return "test_matched.tsv"
        case (.mnliMismatched, .dev): return "dev_mismatched.tsv"
        case (.mnliMismatched, .test): return "test_mismatched.tsv"
        default: return "\(split.rawValue).tsv"
        }
    }

    /// Label names in HF's GLUE order; empty for regression.
    public var labels: [String] {
        switch self {
        case .mnli, .mnliMismatched: return ["contradiction", "entailment", "neutral"]
        case .qnli, .rte: return ["entailment", "not_entailment"]
        case .stsb: return []
        default: return ["0", "1"]
        }
    }

    public var isRegression: Bool { self == .stsb }
    public var numLabels: Int { isRegression ? 1 : labels.count }
    /// Whether an example is a sentence pair (every task but CoLA and SST-2).
    public var isPairTask: Bool { self != .cola && self != .sst2 }

    /// The name of the GLUE submission file for test predictions.
    public var submissionName: String {
        switch self {
        case .cola: return "CoLA"; case .sst2: return "SST-2"; case .mrpc: return "MRPC"; case .stsb: return "STS-B"
        case .qqp: return "QQP"; case .mnli: return "MNLI-m"; case .mnliMismatched: return "MNLI-mm"
        case .qnli: return "QNLI"; case .rte: return "RTE"; case .wnli: return "WNLI"
        }
    }

    /// Main metric first.
    public var metricNames: [String] {
        switch self {
        case .cola: return ["mcc"]
        case .mrpc, .qqp: return ["f1", "accuracy"]
        case .stsb: return ["spearman", "pearson"]
        default: return ["accuracy"]
        }
    }
}

/// Column layout of one GLUE file: which fields hold the texts, label and id.
struct Layout {
    var header: Bool
    var a: Column, b: Column?, label: Column?, id: Column?
    enum Column { case index(Int), name(String) }
}

extension GlueTask {
    func layout(_ split: Split) -> Layout {
        let test = split == .test
        switch self {
        case .cola:
            return test ? Layout(header: true, a: .name("sentence"), b: nil, label: nil, id: .name("index"))
                        : Layout(header: false, a: .index(3), b: nil, label: .index(1), id: nil)
        case .sst2:
            return Layout(header: true, a: .name("sentence"), b: nil, label: test ? nil : .name("label"), id: test ? .name("index") : nil)
        case .mrpc:
            return Layout(header: true, a: .name("#1 String"), b: .name("#2 String"), label: test ? nil : .name("Quality"),
                          id: test ? .name("index") : nil)
        case .stsb:
            return Layout(header: true, a: .name("sentence1"), b: .name("sentence2"), label: test ? nil : .name("score"), id: .name("index"))
        case .qqp:
            return Layout(header: true, a: .name("question1"), b: .name("question2"), label: test ? nil : .name("is_duplicate"), id: .name("id"))
        case .mnli, .mnliMismatched:
            return Layout(header: true, a: .name("sentence1"), b: .name("sentence2"), label: test ? nil : .name("gold_label"), id: .name("index"))
        case .qnli:
            return Layout(header: true, a: .name("question"), b: .name("sentence"), label: test ? nil : .name("label"), id: .name("index"))
        case .rte, .wnli:
            return Layout(header: true, a: .name("sentence1"), b: .name("sentence2"), label: test ? nil : .name("label"), id: .name("index"))
        }
    }

    /// Reads `root/<folder>/<file>` for a split. Rows are split on TAB without quote handling; a
    /// UTF-8 BOM on the header is ignored; every row must have the header's column count.
    public func read(root: String, split: Split) throws(DataError) -> [Example] {
        let path = root + "/" + folder + "/" + fileName(split)
        return try read(path: path, split: split)
    }

    public func read(path: String, split: Split) throws(DataError) -> [Example] {
        guard FileManager.default.fileExists(atPath: path) else { throw .missingFile(path: path) }
        guard let data = FileManager.default.contents(atPath: path) else { throw .unreadable(path: path, reason: "cannot read") }
        guard var text = String(validating: data, as: UTF8.self) else { throw .unreadable(path: path, reason: "not valid UTF-8") }
        if text.hasPrefix("\u{FEFF}") { text.removeFirst() }
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { $0.hasSuffix("\r") ? $0.dropLast() : $0 }
        if lines.last?.isEmpty == true { lines.removeLast() }
        let lay = layout(split)
        var names: [String: Int] = [:]
        var width: Int? = nil
        var first = 0
        if lay.header {
            guard let h = lines.first else { throw .malformedRow(path: path, line: 1, reason: "missing header") }
            let cols = h.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            for (i, c) in cols.enumerated() where names[c] == nil { names[c] = i }
            width = cols.count
            first = 1
        }
        func resolve(_ c: Layout.Column?) throws(DataError) -> Int? {
            guard let c else { return nil }
            switch c {
            case let .index(i): return i
            case let .name(n):
                guard let i = names[n] else { throw .missingColumn(path: path, column: n) }
                return i
            }
        }
        let ia = try resolve(lay.a)!, ib = try resolve(lay.b), il = try resolve(lay.label), iid = try resolve(lay.id)
        let needed = [ia, ib ?? 0, il ?? 0, iid ?? 0].max()! + 1
        var out: [Example] = []
        out.reserveCapacity(lines.count)
        for k in first..<lines.count {
            let lineNo = k + 1
            let f = lines[k].split(separator: "\t", omittingEmptySubsequences: false)
            if let w = width, f.count != w {
                throw .malformedRow(path: path, line: lineNo, reason: "\(f.count) fields, header has \(w)")
            }
            guard f.count >= needed else { throw .malformedRow(path: path, line: lineNo, reason: "\(f.count) fields, need at least \(needed)") }
            var ex = Example(id: iid.map { String(f[$0]) } ?? String(k - first), textA: String(f[ia]),
                             textB: ib.map { String(f[$0]) }, label: nil, score: nil)
            if let il {
                let raw = String(f[il])
                if isRegression {
                    guard let v = Float(raw), v.isFinite else {
                        throw .malformedRow(path: path, line: lineNo, reason: "score '\(raw)' is not a number")
                    }
                    ex.score = v
                } else {
                    guard let i = labels.firstIndex(of: raw) else { throw .unknownLabel(path: path, line: lineNo, label: raw, allowed: labels) }
                    ex.label = i
                }
            }
            out.append(ex)
        }
        return out
    }
}
