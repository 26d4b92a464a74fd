import CKBKernels
import Dispatch

@usableFromInline
struct UncheckedSendable<T>: @unchecked Sendable {
    @usableFromInline let value: T
    @usableFromInline init(_ value: T) { self.value = value }
}

/// True on a thread that is running a chunk of `parallelChunks` (work started there runs inline).
@inlinable
public var insideParallelChunk: Bool { kb_in_parallel() != 0 }

/// Threads for `count` items at `minPerThread` or more each; 1 inside a chunk.
@inlinable
func chunkThreads(_ count: Int, minPerThread: Int) -> Int {
    insideParallelChunk ? 1 : min(Threads.count, max(1, count / max(1, minPerThread)))
}

/// Splits `0..<count` into one block per thread, each a multiple of `multipleOf` long (the last
/// one shorter), and runs `body(start, length)` on the blocks concurrently (a GEMM's row or column
/// blocks, aligned to its micro-kernel).
@inlinable
public func parallelBlocks(_ count: Int, threads: Int, multipleOf align: Int, _ body: (Int, Int) -> Void) {
    let block = ((count + threads - 1) / threads + align - 1) / align * align
    parallelChunks((count + block - 1) / block, minPerThread: 1) { r in
        for t in r { body(t * block, min(block, count - t * block)) }
    }
}

/// Splits `0..<count` into at most `Threads.count` contiguous chunks and runs them concurrently.
/// Work below `minPerThread` items per thread runs inline, and so does a call made from inside
/// another chunk (the threads are already busy). Chunks must write disjoint memory.
@inlinable
public func parallelChunks(_ count: Int, minPerThread: Int = 4096, _ body: (Range<Int>) -> Void) {
    let threads = chunkThreads(count, minPerThread: minPerThread)
    if threads <= 1 { body(0..<count); return }
    let chunk = (count + threads - 1) / threads
    withoutActuallyEscaping(body) { escaping in
        let box = UncheckedSendable(escaping)
        DispatchQueue.concurrentPerform(iterations: threads) { t in
            let lo = t * chunk, hi = min(count, lo + chunk)
            kb_parallel_enter()
            if lo < hi { box.value(lo..<hi) }
            kb_parallel_exit()
        }
    }
}

/// A parallel sum over `0..<count` into `dst` (`dst += Σ`): each chunk (as in `parallelChunks`)
/// accumulates into a zeroed partial of `width` floats, and the partials are added to `dst` in
/// chunk order, so a given thread count always gives the same result. One chunk accumulates into
/// `dst` directly. `body(range, partial)` must add (not assign) into `partial`.
public func parallelSum(_ count: Int, minPerThread: Int = 4096, width: Int, into dst: UnsafeMutablePointer<Float>,
                        _ body: (Range<Int>, UnsafeMutablePointer<Float>) -> Void) {
    let threads = chunkThreads(count, minPerThread: minPerThread)
    if threads <= 1 { body(0..<count, dst); return }
    let chunk = (count + threads - 1) / threads
    let partials = UnsafeMutablePointer<Float>.allocate(capacity: threads * width)
    partials.initialize(repeating: 0, count: threads * width)
    defer { partials.deallocate() }
    parallelChunks(threads, minPerThread: 1) { ts in
        for t in ts {
            let lo = t * chunk, hi = min(count, lo + chunk)
            if lo < hi { body(lo..<hi, partials + t * width) }
        }
    }
    for t in 0..<threads { kb_add(dst, partials + t * width, width) }
}
