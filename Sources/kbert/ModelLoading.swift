import Foundation
import KBBert
import KBTokenizer

/// Loads `--model DIR`, or a config file with seeded random weights (`--config FILE`) for speed work.
func loadModel(model: String?, config: String?, seed: UInt64 = 0) throws -> BertModel {
    if let model {
        guard FileManager.default.fileExists(atPath: model) else { throw CLIError("\(model): no such model folder") }
        return try BertModel.load(folder: model)
    }
    guard let config else { throw CLIError("give --model DIR or --config FILE") }
    var m = BertModel(config: try BertConfig(file: config))
    m.initializeRandomly(seed: seed)
    return m
}
