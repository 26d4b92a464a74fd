import KBTensor

/// A parameter's place in the model's contiguous storage.
public struct ParamRef: Sendable, Equatable {
    public let offset: Int
    public let shape: [Int]
    public var count: Int { shape.reduce(1, *) }
}

/// All parameters of a model in one contiguous Float buffer, named by their checkpoint keys.
///
/// One block makes the optimizer a single flat pass and gradients a buffer of the same layout
/// (llm.c style). Parameters allocated one after another are adjacent, which lets the model fuse
/// Q, K and V into one GEMM.
public struct ParameterStore: Sendable {
    public private(set) var data: [Float] = []
    /// (checkpoint key, place) in allocation order.
    public private(set) var entries: [(name: String, ref: ParamRef)] = []
    private var byName: [String: Int] = [:]

    public init() {}

    /// Floats placed so far; the storage follows in one allocation (`materialize`).
    private var placed = 0

    /// Places a parameter after the previous ones; `materialize` then allocates them all, zero-filled.
    public mutating func allocate(_ name: String, _ shape: [Int]) -> ParamRef {
        precondition(byName[name] == nil, "parameter \(name) allocated twice")
        let r = ParamRef(offset: placed, shape: shape)
        placed += r.count
        byName[name] = entries.count
        entries.append((name, r))
        return r
    }

    /// Allocates the storage of every placed parameter at once (zero-filled), instead of growing it
    /// parameter by parameter, whose doublings peaked at about twice the model's size.
    public mutating func materialize() {
        if data.count < placed { data.append(contentsOf: repeatElement(0, count: placed - data.count)) }
        version &+= 1
    }

    /// Bumped by every change of the values (each mutating method below), so that derived copies
    /// (`BertModel.packForInference`) know when they are stale.
    public private(set) var version = 0

    public var count: Int { placed }
    public func ref(_ name: String) -> ParamRef? { byName[name].map { entries[$0].ref } }

    /// Copies of one parameter's values.
    public func values(_ r: ParamRef) -> [Float] { Array(data[r.offset..<(r.offset + r.count)]) }

    public mutating func set(_ r: ParamRef, _ v: [Float]) {
        precondition(v.count == r.count)
        data.replaceSubrange(r.offset..<(r.offset + r.count), with: v)
        version &+= 1
    }

    /// Replaces every value at once (same count), e.g. after an optimizer step.
    public mutating func replaceAll(_ v: [Float]) {
        precondition(v.count == data.count)
        data = v
        version &+= 1
    }

    /// Runs `body` on the storage in place (no copy).
    public mutating func withMutableStorage<R>(_ body: (inout [Float]) throws -> R) rethrows -> R {
        version &+= 1
        return try body(&data)
    }

    public func tensor(_ r: ParamRef) -> Tensor {
        // Shape and count agree by construction.
        (try? Tensor(shape: r.shape, data: values(r))) ?? Tensor(shape: r.shape)
    }
}
