/// A fixed-size, manually managed Float buffer (freed on deinit), for activations and caches
/// that pointer-level kernels read and write without copy-on-write checks.
public final class FloatBuffer: @unchecked Sendable {
    public let ptr: UnsafeMutablePointer<Float>
    public let count: Int

    public init(count: Int, zeroed: Bool = true) {
        self.count = count
        ptr = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
        if zeroed { ptr.initialize(repeating: 0, count: count) }
    }

    public convenience init(_ values: [Float]) {
        self.init(count: values.count, zeroed: false)
        values.withUnsafeBufferPointer { ptr.update(from: $0.baseAddress!, count: values.count) }
    }

    deinit { ptr.deallocate() }

    public func zero() { ptr.update(repeating: 0, count: count) }
    public var array: [Float] { Array(UnsafeBufferPointer(start: ptr, count: count)) }
    public func tensor(_ shape: [Int]) -> Tensor { (try? Tensor(shape: shape, data: array)) ?? Tensor(shape: shape) }
}
