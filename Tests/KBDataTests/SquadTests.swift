import Foundation
import Testing
import KBTokenizer
@testable import KBData

let squadRoot = (ProcessInfo.processInfo.environment["KBERT_DATA"] ?? repoRoot.deletingLastPathComponent().appendingPathComponent("shared/data").path) + "/squad"
let squadTokenizerDir = repoRoot.appendingPathComponent("models/all-MiniLM-L6-v2").path

/// tools/gen_squad_golden.py's fixture.
private func squadGolden() throws -> [String: Any] {
    let url = Bundle.module.url(forResource: "Fixtures/squad_golden.json", withExtension: nil)!
    return try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as! [String: Any]
}

private func examples(_ raw: [[String: Any]]) -> [SquadExample] {
    raw.map { e in
        SquadExample(id: e["id"] as! String, question: e["question"] as! String, context: e["context"] as! String,
                     answers: (e["answers"] as! [[String: Any]]).map { SquadAnswer(text: $0["text"] as! String, start: $0["answer_start"] as! Int) },
                     isImpossible: e["is_impossible"] as! Bool)
    }
}

@Suite struct SquadMetricTests {
    /// Per-question exact match and F1 of the official v1.1 and v2.0 scorers on hard cases
    /// (articles inside words, Unicode case and punctuation, empty answers, repeated tokens).
    @Test func matchTheOfficialScorers() throws {
        for c in try squadGolden()["metrics"] as! [[String: Any]] {
            let p = c["prediction"] as! String, g = c["golds"] as! [String]
            let v1 = SquadMetrics.score(prediction: p, golds: g, version2: false)
            let v2 = SquadMetrics.score(prediction: p, golds: g, version2: true)
            #expect(v1.exact == c["exact_v1"] as! Double, "exact v1.1 of \(p) vs \(g)")
            #expect(abs(v1.f1 - (c["f1_v1"] as! Double)) < 1e-12, "F1 v1.1 of \(p) vs \(g)")
            #expect(v2.exact == c["exact_v2"] as! Double, "exact v2.0 of \(p) vs \(g)")
            #expect(abs(v2.f1 - (c["f1_v2"] as! Double)) < 1e-12, "F1 v2.0 of \(p) vs \(g)")
        }
    }

    /// The data folder's check for an EM/F1 implementation: a published BERT model's dev
    /// predictions score EM 86.21 / F1 92.20 with the official v1.1 scorer.
    @Test func referencePredictionsScoreAsPublished() throws {
        let data = try SquadDataset.read(path: squadRoot + "/dev-v1.1.json")
        #expect(data.examples.count == 10570 && !data.isVersion2)
        let d = try Data(contentsOf: URL(fileURLWithPath: squadRoot + "/reference_predictions/bert-ensemble-google-dev-v1.1.predictions.json"))
        let preds = try JSONSerialization.jsonObject(with: d) as! [String: String]
        let s = SquadMetrics.evaluate(data, predictions: preds)
        #expect(String(format: "%.2f", s.exact) == "86.21")
        #expect(String(format: "%.2f", s.f1) == "92.20")
        #expect(s.total == 10570 && s.missing == 0)
        // A missing prediction scores 0 and still counts (v1.1).
        var fewer = preds
        fewer.removeValue(forKey: data.examples[0].id)
        let m = SquadMetrics.evaluate(data, predictions: fewer)
        #expect(m.total == 10570 && m.missing == 1 && m.exact < s.exact)
    }

    /// SQuAD 2.0: every question answered with "" scores the unanswerable share exactly.
    @Test func version2NullAnswers() throws {
        let data = try SquadDataset.read(path: squadRoot + "/dev-v2.0.json")
        #expect(data.isVersion2 && data.examples.count == 11873)
        let noAns = data.examples.filter { $0.answers.isEmpty }.count
        #expect(noAns == 5945)
        let s = SquadMetrics.evaluate(data, predictions: Dictionary(uniqueKeysWithValues: data.examples.map { ($0.id, "") }))
        #expect(abs(s.exact - 100 * Double(noAns) / 11873) < 1e-9 && abs(s.f1 - s.exact) < 1e-9)
        #expect(s.noAnswer?.exact == 100 && s.hasAnswer?.exact == 0 && s.hasAnswer?.total == 11873 - noAns)
    }

    @Test func readerErrorsNameTheField() throws {
        let bad = try tempFile("bad.json", #"{"version": "1.1", "data": [{"title": "t", "paragraphs": [{"context": "abc", "qas": [{"id": "q1", "question": "?", "answers": [{"text": "bcd", "answer_start": 1}]}]}]}]}"#)
        #expect { try SquadDataset.read(path: bad) } throws: { e in
            "\(e)".contains("data[0].paragraphs[0].qas[0].answers[0].answer_start") && "\(e)".contains(bad)
        }
        let noId = try tempFile("noid.json", #"{"data": [{"paragraphs": [{"context": "abc", "qas": [{"question": "?", "answers": []}]}]}]}"#)
        #expect { try SquadDataset.read(path: noId) } throws: { "\($0)".contains("qas[0].id") }
        let notJSON = try tempFile("x.json", "{oops")
        #expect { try SquadDataset.read(path: notJSON) } throws: { "\($0)".contains("not valid JSON") }
        let twice = try tempFile("twice.json", #"{"data": [{"paragraphs": [{"context": "abc", "qas": [{"id": "q", "question": "?", "answers": []}, {"id": "q", "question": "?", "answers": []}]}]}]}"#)
        #expect { try SquadDataset.read(path: twice) } throws: { "\($0)".contains("appears twice") }
    }
}

@Suite struct SquadFeatureTests {
    /// Windows, ids, type ids, context offsets and training labels equal `run_qa.py`'s
    /// preprocessing with the fast tokenizer (three settings of length and stride, SQuAD 1.1 and
    /// 2.0), and the answer extracted from seeded logits equals `utils_qa`'s.
    @Test func matchRunQAPreprocessingAndAnswers() throws {
        let tok = try BertTokenizer(folder: squadTokenizerDir)
        for set in try squadGolden()["sets"] as! [[String: Any]] {
            let name = set["name"] as! String
            let exs = examples(set["examples"] as! [[String: Any]])
            let fz = QAFeaturizer(maxLength: set["max_length"] as! Int, docStride: set["doc_stride"] as! Int)
            let feats = try fz.features(exs, tokenizer: tok)
            let gold = set["features"] as! [[String: Any]]
            try #require(feats.count == gold.count, "\(name): \(feats.count) features, HF \(gold.count)")
            for (f, g) in zip(feats, gold) {
                #expect(f.example == g["example"] as! Int)
                #expect(f.ids == (g["ids"] as! [Int]).map(Int32.init), "\(name): ids of a window of example \(f.example)")
                #expect(f.typeIds == (g["type_ids"] as! [Int]).map(Int32.init))
                let offs = (g["offsets"] as! [Any]).map { o -> Offset? in (o as? [Int]).map { Offset($0[0], $0[1]) } }
                #expect(f.offsets == offs)
                #expect(f.start == g["start"] as! Int && f.end == g["end"] as! Int, "\(name): labels of example \(f.example)")
            }
            let starts = (set["start_logits"] as! [[Double]]).map { $0.map(Float.init) }
            let ends = (set["end_logits"] as! [[Double]]).map { $0.map(Float.init) }
            let answers = set["answers"] as! [String]
            for (k, e) in exs.enumerated() {
                let mine = feats.indices.filter { feats[$0].example == k }.map { (offsets: feats[$0].offsets, start: starts[$0], end: ends[$0]) }
                let a = QAAnswer.extract(context: e.context, features: mine, version2: set["version_2"] as! Bool)
                #expect(a == answers[k], "\(name): example \(e.id)")
            }
        }
    }

    /// A label is the answer's own tokens: the window's text between them holds the answer.
    @Test func labelsCoverTheAnswerInEveryWindowThatHoldsIt() throws {
        let tok = try BertTokenizer(folder: squadTokenizerDir)
        let data = try SquadDataset.read(path: squadRoot + "/dev-v1.1.json")
        let exs = Array(data.examples.prefix(300))
        let feats = try QAFeaturizer(maxLength: 96, docStride: 32).features(exs, tokenizer: tok)
        var labeled = Set<Int>()
        for f in feats where f.start > 0 {
            labeled.insert(f.example)
            let e = exs[f.example], a = e.answers[0]
            let s = f.offsets[f.start]!, t = f.offsets[f.end]!
            #expect(s.start <= a.start && t.end >= a.start + a.text.unicodeScalars.count)
            #expect(f.end >= f.start)
        }
        #expect(labeled.count == exs.count)   // every example's answer lies whole in at least one window
        #expect(feats.allSatisfy { $0.ids.count <= 96 })
    }

    @Test func aStrideThatLeavesNoRoomIsAnError() throws {
        let tok = try BertTokenizer(folder: squadTokenizerDir)
        let e = SquadExample(id: "q", question: "what is this about then", context: "a short context", answers: [])
        #expect { try QAFeaturizer(maxLength: 16, docStride: 8).features([e], tokenizer: tok, source: "x/dev.json") } throws: {
            "\($0)".contains("stride") && "\($0)".hasPrefix("x/dev.json: question 'q'")
        }
    }
}
