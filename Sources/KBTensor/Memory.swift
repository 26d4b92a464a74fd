import CKBKernels

/// Process-wide allocator policy for the tensor workloads.
public enum Memory {
    /// Keeps freed memory in the heap for the next step instead of returning it to the kernel.
    /// Every training step allocates and frees the same large activation buffers; with glibc's
    /// defaults each of them (above its mmap threshold) is mmapped, page-faulted in and unmapped
    /// again, which took ~11% of a one-thread MiniLM training step in page faults and page
    /// clearing (perf) and ~10% of its time (`kbert bench --mode train`). The same buffers are
    /// reused, so peak memory stays the same.
    public static func keepFreedPages() { kb_keep_freed_pages() }
}
