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
    /// A tensor of the buffer's first shape-product floats (all of them, or a leading part).
    public func tensor(_ shape: [Int]) -> Tensor {
        let n = shape.reduce(1, *)
        precondition(n <= count, "tensor shape \(shape) exceeds the buffer's \(count) floats")
        return Tensor(copying: ptr, shape: shape)
    }
}

import Synchronization

/// A pool of scratch buffers, so that layers called every step do not map and fault in fresh
/// memory each time (large allocations are mmap'ed and zero-filled by the kernel).
public final class ScratchPool: Sendable {
    public static let shared = ScratchPool()
    private let free = Mutex<[FloatBuffer]>([])

    /// A buffer of at least `count` floats (contents undefined); give it back with `release`.
    public func take(_ count: Int) -> FloatBuffer {
        let found: FloatBuffer? = free.withLock { list in
            guard let i = list.indices.filter({ list[$0].count >= count }).min(by: { list[$0].count < list[$1].count }) else { return nil }
            return list.remove(at: i)
        }
        return found ?? FloatBuffer(count: count, zeroed: false)
    }

    public func release(_ b: FloatBuffer) {
        free.withLock { list in
            list.append(b)
            // Keep the pool bounded: drop the smallest buffers beyond 16.
            if list.count > 16 { list.sort { $0.count > $1.count }; list.removeLast(list.count - 16) }
        }
    }

    /// Runs `body` with scratch buffers of the given sizes.
    public func with<R>(_ counts: [Int], _ body: ([UnsafeMutablePointer<Float>]) throws -> R) rethrows -> R {
        let bufs = counts.map { take($0) }
        defer { bufs.forEach(release) }
        return try body(bufs.map(\.ptr))
    }
}
