import ArgumentParser
import Foundation
import KBBert

struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print a model's config, parameters per component and in total, and FLOPs.",
        discussion: """
        Parameters count every float in the checkpoint's parameters (embeddings, encoder, pooler and
        head; the position_ids buffer is not a parameter). FLOPs follow the paper: forward FLOPs of the
        encoder's linear layers for one sequence of 128 tokens, 2 per multiply-add (21.7e9 for BERT-base).
        """)

    @Option(help: "Hugging Face BERT folder.") var model: String?
    @Option(help: "A config.json to inspect without weights.") var config: String?
    @Option(help: "Sequence length for the FLOP count.") var seq: Int = 128
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        let m: BertModel
        if let model { m = try BertModel.load(folder: model) }
        else if let config { m = BertModel(config: try BertConfig(file: config)) }
        else { throw ValidationError("give --model DIR or --config FILE") }
        let c = m.config
        let flops = BertModel.encoderLinearFLOPs(c, seqLen: seq)
        let parts = m.parameterBreakdown
        if json {
            let comps = parts.map { "\"\($0.component)\": \($0.count)" }.joined(separator: ", ")
            print("{\"parameters\": \(m.parameterCount), \"flops\": \(flops), \"seq_len\": \(seq), "
                  + "\"layers\": \(c.numHiddenLayers), \"hidden_size\": \(c.hiddenSize), \"components\": {\(comps)}}")
            return
        }
        print("config: layers \(c.numHiddenLayers), hidden \(c.hiddenSize), heads \(c.numAttentionHeads), "
              + "intermediate \(c.intermediateSize), vocab \(c.vocabSize), positions \(c.maxPositionEmbeddings), "
              + "act \(c.hiddenAct.rawValue), head \(m.head)")
        print("")
        print(pad("component", 36) + pad("parameters", 14, right: true))
        print(String(repeating: "-", count: 50))
        for (name, n) in parts { print(pad(name, 36) + pad(fmtInt(n), 14, right: true)) }
        print(String(repeating: "-", count: 50))
        print(pad("total", 36) + pad(fmtInt(m.parameterCount), 14, right: true))
        print(String(format: "\nencoder linear FLOPs, one sequence of %d tokens: %.3g", seq, flops))
    }
}

func pad(_ s: String, _ n: Int, right: Bool = false) -> String {
    s.count >= n ? s : (right ? String(repeating: " ", count: n - s.count) + s : s + String(repeating: " ", count: n - s.count))
}

func fmtInt(_ n: Int) -> String {
    let s = String(n)
    var out = ""
    for (i, ch) in s.reversed().enumerated() { if i > 0 && i % 3 == 0 { out.append(",") }; out.append(ch) }
    return String(out.reversed())
}
