import ArgumentParser
import Foundation
import KBTokenizer

struct Tokenize: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Tokenize one text (or TAB-separated pair) per line; print one JSON object per line.")

    @Option(help: "Hugging Face BERT folder (vocab.txt, tokenizer.json or tokenizer_config.json).")
    var model: String
    @Option(help: "Input file, one text or TAB-separated pair per line ('-' for stdin).")
    var input: String
    @Option(help: "Truncate longest_first to this many tokens, special tokens included.")
    var maxLength: Int?
    @Flag(help: "Also print character offsets (code points) of each token.")
    var offsets = false

    func run() throws {
        let tok = try BertTokenizer(folder: model)
        let lines = try readLines(input)
        var out = ""
        out.reserveCapacity(lines.count * 128)
        let stdout = FileHandle.standardOutput
        for (i, line) in lines.enumerated() {
            let (a, b) = splitPair(line)
            let e = try tok.encode(a, b, maxLength: maxLength)
            out += "{\"input_ids\":\(jsonArray(e.ids)),\"token_type_ids\":\(jsonArray(e.typeIds)),\"attention_mask\":\(jsonArray(e.attentionMask))"
            if offsets { out += ",\"offsets\":[" + e.offsets.map { "[\($0.start),\($0.end)]" }.joined(separator: ",") + "]" }
            out += "}\n"
            if out.utf8.count > 1 << 20 || i == lines.count - 1 {
                stdout.write(Data(out.utf8))
                out.removeAll(keepingCapacity: true)
            }
        }
    }
}
