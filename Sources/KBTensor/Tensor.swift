/// A dense, row-major Float32 tensor.
///
/// Shapes follow one legend across the project: B batch, T tokens, H hidden, NH heads,
/// HD head dim, I intermediate, V vocab, L layers.
public struct Tensor: Sendable, Equatable {
    /// Extent of each dimension, outermost first.
    public private(set) var shape: [Int]
    /// Row-major storage; `data.count == shape.reduce(1, *)`.
    public var data: [Float]

    /// A tensor filled with `value`.
    public init(shape: [Int], repeating value: Float = 0) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in \(shape)")
        self.shape = shape
        self.data = [Float](repeating: value, count: shape.reduce(1, *))
    }

    /// A tensor over existing storage. Throws when the element count does not match the shape.
    public init(shape: [Int], data: [Float]) throws(TensorError) {
        let n = shape.reduce(1, *)
        guard n == data.count, shape.allSatisfy({ $0 >= 0 }) else {
            throw .shapeMismatch(expected: shape, count: data.count)
        }
        self.shape = shape
        self.data = data
    }

    /// A tensor holding a copy of `count(shape)` floats at `p`.
    public init(copying p: UnsafePointer<Float>, shape: [Int]) {
        self.shape = shape
        self.data = Array(UnsafeBufferPointer(start: p, count: shape.reduce(1, *)))
    }

    /// Number of elements.
    @inlinable public var count: Int { data.count }
    /// Number of dimensions.
    @inlinable public var rank: Int { shape.count }

    /// The same storage seen under another shape with the same element count.
    public func reshaped(_ newShape: [Int]) throws(TensorError) -> Tensor {
        try Tensor(shape: newShape, data: data)
    }

    /// Element at a multi-index (slow; for tests and small tools).
    public subscript(_ index: Int...) -> Float {
        get { data[offset(index)] }
        set { data[offset(index)] = newValue }
    }

    private func offset(_ index: [Int]) -> Int {
        precondition(index.count == shape.count, "index rank \(index.count) != tensor rank \(shape.count)")
        var o = 0
        for (i, d) in zip(index, shape) {
            precondition(i >= 0 && i < d, "index \(index) out of range for shape \(shape)")
            o = o * d + i
        }
        return o
    }

    /// Largest absolute element-wise difference to `other` (shapes must match).
    public func maxAbsDiff(_ other: Tensor) -> Float {
        precondition(shape == other.shape, "shape \(shape) != \(other.shape)")
        var m: Float = 0
        for i in 0..<data.count {
            let d = abs(data[i] - other.data[i])
            if d.isNaN { return .nan }
            m = max(m, d)
        }
        return m
    }
}

/// Errors from tensor construction and kernels.
public enum TensorError: Error, Equatable, CustomStringConvertible {
    case shapeMismatch(expected: [Int], count: Int)
    case indexOutOfRange(index: Int, limit: Int)
    case lapack(routine: String, info: Int)

    public var description: String {
        switch self {
        case let .shapeMismatch(expected, count):
            return "shape \(expected) needs \(expected.reduce(1, *)) elements, got \(count)"
        case let .indexOutOfRange(index, limit):
            return "index \(index) out of range 0..<\(limit)"
        case let .lapack(routine, info):
            return "\(routine) failed with info=\(info)"
        }
    }
}
