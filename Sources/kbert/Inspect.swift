import ArgumentParser
import Foundation
import KBBert
import KBCompress
import KBLayers

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
    @Option(help: "Dense teacher of a compressed student: adds each factored matrix's relative error.") var teacher: String?
    @Option(help: "Preview a preset (kb8, kb21, tuned8, tuned21) on --config or --model without writing anything.") var preset: String?
    @Option(help: "Sequence length for the FLOP count.") var seq: Int = 128
    @Flag(help: "Print JSON.") var json = false

    func run() throws {
        var m: BertModel
        if let model { m = try BertModel.load(folder: model) }
        else if let config { m = BertModel(config: try BertConfig(file: config)) }
        else { throw ValidationError("give --model DIR or --config FILE") }
        if let preset {
            let specs = try Planner.preset(preset, teacher: m).specs(for: m.config)
            var cfg = m.config
            cfg.kronecker = specs
            m = BertModel(config: cfg, pooler: m.pooler != nil, head: m.head, kronecker: specs)
        }
        let c = m.config
        let flops = m.encoderLinearFLOPs(seqLen: seq)
        let parts = m.parameterBreakdown
        var errors: [String: Double] = [:]
        if let teacher {
            let t = try BertModel.load(folder: teacher)
            for (n, e) in try Compressor.relativeErrors(student: m, teacher: t) { errors[n] = e }
        }
        let cf = Double(m.denseParameterCount) / Double(m.parameterCount)
        let names = m.kronecker.keys.sorted { $0.compare($1, options: .numeric) == .orderedAscending }
        if json {
            let comps = parts.map { "\"\($0.component)\": \($0.count)" }.joined(separator: ", ")
            let layers = names.map { n -> String in
                let s = m.kronecker[n]!
                return "{\"name\": \"\(n)\", \"a\": [\(s.shape.m1), \(s.shape.n1)], \"b\": [\(s.shape.m2), \(s.shape.n2)], \"rank\": \(s.rank), "
                    + "\"parameters\": \(s.parameters), \"flops\": \(KroneckerLinear(shape: s.shape, rank: s.rank).flops(tokens: seq)), "
                    + "\"relative_error\": \(errors[n].map { "\($0)" } ?? "null")}"
            }.joined(separator: ", ")
            print("{\"parameters\": \(m.parameterCount), \"flops\": \(flops), \"compression_factor\": \(cf), \"seq_len\": \(seq), "
                  + "\"layers\": [\(layers)], \"num_layers\": \(c.numHiddenLayers), \"hidden_size\": \(c.hiddenSize), \"components\": {\(comps)}}")
            return
        }
        if !names.isEmpty {
            print(layerTable(names.map { ($0, m.kronecker[$0]!, errors[$0]) }))
            print(String(format: "compression factor %.2fx (dense equivalent %@ parameters)\n", cf, fmtInt(m.denseParameterCount)))
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
        print("(parameters: every float of the checkpoint's parameters, pooler and head included; not the position_ids buffer)")
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
