import Foundation
import Testing
import KBTestSupport
import KBTokenizer
@testable import KBData

let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
let dataRoot = (ProcessInfo.processInfo.environment["KBERT_DATA"] ?? repoRoot.deletingLastPathComponent().appendingPathComponent("shared/data").path) + "/glue"

func tempFile(_ name: String, _ contents: String) throws -> String {
    let dir = URL(fileURLWithPath: scratchDirectory("kb-data"))
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    let p = dir.appendingPathComponent(name).path
    try contents.write(toFile: p, atomically: true, encoding: .utf8)
    return p
}

@Suite struct GlueReaderTests {
    /// Row counts of the real files here (README of the data folder).
    @Test(arguments: [
        (GlueTask.sst2, Split.train, 67349), (.sst2, .dev, 872), (.sst2, .test, 1821), (.cola, .train, 8551), (.cola, .dev, 1043),
        (.cola, .test, 1063), (.mrpc, .train, 3668), (.mrpc, .dev, 408), (.mrpc, .test, 1725), (.stsb, .train, 5749),
        (.stsb, .dev, 1500), (.stsb, .test, 1379), (.rte, .train, 2490), (.rte, .dev, 277), (.rte, .test, 3000),
        (.wnli, .train, 635), (.wnli, .dev, 71), (.wnli, .test, 146), (.qnli, .dev, 5463), (.mnli, .dev, 9815),
    ])
    func realFilesReadCompletely(task: GlueTask, split: Split, rows: Int) throws {
        let ex = try task.read(root: dataRoot, split: split)
        #expect(ex.count == rows)
        if split != .test {
            if task.isRegression { #expect(ex.allSatisfy { $0.score != nil }) } else { #expect(ex.allSatisfy { $0.label != nil }) }
        }
        #expect(ex.allSatisfy { !$0.textA.isEmpty })
    }

    @Test func labelDistributionMNLI() throws {
        let ex = try GlueTask.mnli.read(root: dataRoot, split: .dev)
        let counts = (0..<3).map { l in ex.filter { $0.label == l }.count }
        #expect(counts == [3213, 3479, 3123])   // contradiction, entailment, neutral
    }

    @Test func absentTasksOnWrittenFiles() throws {
        let qqp = try tempFile("train.tsv", "id\tqid1\tqid2\tquestion1\tquestion2\tis_duplicate\n1\t2\t3\tHow?\tWhy?\t0\n4\t5\t6\t\"Quoted\" q\tOther\t1\n")
        let q = try GlueTask.qqp.read(path: qqp, split: .train)
        #expect(q.map(\.label) == [0, 1] && q[1].textA == "\"Quoted\" q" && q[0].id == "1")
        let full = "index\tpromptID\tpairID\tgenre\tsentence1_binary_parse\tsentence2_binary_parse\tsentence1_parse\tsentence2_parse\tsentence1\tsentence2\tlabel1\tgold_label\n"
            + "0\t1\t1e\tfiction\t(a)\t(b)\t(A)\t(B)\tA man.\tA person.\tentailment\tentailment\n"
        let mm = try tempFile("dev_mismatched.tsv", full)
        let m = try GlueTask.mnliMismatched.read(path: mm, split: .dev)
        #expect(m == [Example(id: "0", textA: "A man.", textB: "A person.", label: 1, score: nil)])
        let test = try tempFile("test.tsv", "id\tquestion1\tquestion2\n7\ta\tb\n")
        #expect(try GlueTask.qqp.read(path: test, split: .test).first?.label == nil)
    }

    @Test func badRowsNameFileAndLine() throws {
        let bad = try tempFile("train.tsv", "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tentailment\n1\ta\tb\n")
        #expect(throws: DataError.malformedRow(path: bad, line: 3, reason: "3 fields, header has 4")) { _ = try GlueTask.rte.read(path: bad, split: .train) }
        let unk = try tempFile("train.tsv", "index\tsentence1\tsentence2\tlabel\n0\ta\tb\tmaybe\n")
        #expect(throws: DataError.unknownLabel(path: unk, line: 2, label: "maybe", allowed: ["entailment", "not_entailment"])) {
            _ = try GlueTask.rte.read(path: unk, split: .train)
        }
        let sts = try tempFile("train.tsv", "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore\n0\tg\tf\ty\to\ts\ts\ta\tb\tfive\n")
        #expect(throws: DataError.malformedRow(path: sts, line: 2, reason: "score 'five' is not a number")) { _ = try GlueTask.stsb.read(path: sts, split: .train) }
        #expect(throws: DataError.missingFile(path: "/nope/CoLA/train.tsv")) { _ = try GlueTask.cola.read(root: "/nope", split: .train) }
        #expect(throws: DataError.unknownTask("squad")) { _ = try GlueTask(name: "squad") }
        #expect(try GlueTask(name: "SST-2") == .sst2 && GlueTask(name: "sts-b") == .stsb)
    }

    @Test func batchingServesEveryExampleOncePerEpoch() throws {
        let vocab = scratchDirectory("kb-v")
        try FileManager.default.createDirectory(atPath: vocab, withIntermediateDirectories: true)
        try "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\nb\n".write(toFile: vocab + "/vocab.txt", atomically: true, encoding: .utf8)
        let tok = try BertTokenizer(folder: vocab)
        let ex = (0..<23).map { Example(id: "\($0)", textA: String(repeating: "a ", count: $0 % 5 + 1), textB: nil, label: $0 % 2, score: nil) }
        let ds = try TaskDataset(examples: ex, tokenizer: tok, maxLength: 6)
        let b1 = ds.batches(batchSize: 4, epoch: 0, seed: 7, shuffle: true)
        #expect(b1.count == 6 && b1.last?.count == 3)
        #expect(b1.flatMap { $0 }.sorted() == Array(0..<23))
        #expect(b1 == ds.batches(batchSize: 4, epoch: 0, seed: 7, shuffle: true), "seeded")
        #expect(b1 != ds.batches(batchSize: 4, epoch: 1, seed: 7, shuffle: true), "a new order each epoch")
        #expect(ds.encodings.allSatisfy { $0.count <= 6 })
    }

    /// Length-grouped batches: still every example once per epoch, seeded, and padded far less
    /// than plain shuffled batches on examples of mixed lengths.
    @Test func lengthGroupedBatchesPadLess() throws {
        let vocab = scratchDirectory("kb-v")
        try FileManager.default.createDirectory(atPath: vocab, withIntermediateDirectories: true)
        try "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\na\nb\n".write(toFile: vocab + "/vocab.txt", atomically: true, encoding: .utf8)
        let tok = try BertTokenizer(folder: vocab)
        // lengths 3...42 tokens, in a scrambled order
        let ex = (0..<203).map { Example(id: "\($0)", textA: String(repeating: "a ", count: ($0 * 37) % 40 + 1), textB: nil, label: $0 % 2, score: nil) }
        let ds = try TaskDataset(examples: ex, tokenizer: tok, maxLength: 64)
        func padded(_ b: [[Int]]) -> Int { b.map { idx in idx.count * idx.map { ds.encodings[$0].count }.max()! }.reduce(0, +) }
        let plain = ds.batches(batchSize: 8, epoch: 0, seed: 3, shuffle: true)
        let grouped = ds.batches(batchSize: 8, epoch: 0, seed: 3, shuffle: true, groupByLength: 10)
        #expect(grouped.flatMap { $0 }.sorted() == Array(0..<203), "every example once")
        #expect(grouped.count == 26 && grouped.allSatisfy { $0.count <= 8 } && grouped.filter { $0.count < 8 }.count == 1)
        #expect(grouped == ds.batches(batchSize: 8, epoch: 0, seed: 3, shuffle: true, groupByLength: 10), "seeded")
        #expect(grouped != ds.batches(batchSize: 8, epoch: 1, seed: 3, shuffle: true, groupByLength: 10), "a new order each epoch")
        let real = ds.encodings.map(\.count).reduce(0, +)
        #expect(Double(padded(plain)) > 1.4 * Double(real))
        #expect(Double(padded(grouped)) < 1.1 * Double(real), "grouped: \(padded(grouped)) padded tokens for \(real) real ones")
        // batches are not served longest-first: the order of the batches is shuffled too
        let longest = grouped.map { $0.map { ds.encodings[$0].count }.max()! }
        #expect(longest != longest.sorted(by: >))
        // unshuffled (evaluation) batches ignore grouping
        #expect(ds.batches(batchSize: 8, epoch: 0, seed: 3, shuffle: false, groupByLength: 10) == ds.batches(batchSize: 8, epoch: 0, seed: 3, shuffle: false))
    }
}

@Suite struct MetricTests {
    @Test func matchScikitLearnAndScipy() throws {
        let url = Bundle.module.url(forResource: "Fixtures/metrics_golden.json", withExtension: nil)!
        let obj = try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: [[String: Any]]]
        for c in obj["classification"]! {
            let p = c["pred"] as! [Int], g = c["gold"] as! [Int]
            #expect(abs(Metrics.accuracy(p, g) - (c["accuracy"] as! Double)) < 1e-12)
            #expect(abs(Metrics.matthews(p, g) - (c["mcc"] as! Double)) < 1e-12)
            if let f = c["f1"] as? Double { #expect(abs(Metrics.f1(p, g) - f) < 1e-12) }
        }
        for c in obj["regression"]! {
            let x = c["x"] as! [Double], y = c["y"] as! [Double]
            #expect(abs(Metrics.pearson(x, y) - (c["pearson"] as! Double)) < 1e-12)
            #expect(abs(Metrics.spearman(x, y) - (c["spearman"] as! Double)) < 1e-12)
        }
    }
}
