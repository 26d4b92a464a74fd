import KBBert

/// One training step without dropout: the outputs, the gradient of every parameter for
/// `upstream`, and how many matrices the step packed (`BertCache.packedCount`).
public func trainingStep(_ model: BertModel, _ input: BertInput, options: ForwardOptions,
                         upstream: BertUpstream) throws -> (output: BertOutput, grads: [Float], packed: Int) {
    var drop: DropoutState? = nil
    let (out, cache) = try model.forwardTrain(input, options: options, dropout: &drop)
    var g = [Float](repeating: 0, count: model.params.count)
    g.withUnsafeMutableBufferPointer { model.backward(cache, upstream, into: $0.baseAddress!) }
    return (out, g, cache.packedCount)
}

/// The same options with `packWeights` set.
public func packing(_ options: ForwardOptions, _ pack: Bool) -> ForwardOptions {
    var o = options
    o.packWeights = pack
    return o
}
