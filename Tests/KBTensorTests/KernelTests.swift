import Foundation
import Testing
@testable import KBTensor

/// Deterministic pseudo-random floats (SplitMix64) so the tests need no global RNG.
struct TestRNG {
    var state: UInt64
    init(_ seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func uniform(_ lo: Float = -1, _ hi: Float = 1) -> Float {
        lo + (hi - lo) * Float(next() >> 40) / Float(1 << 24)
    }
    mutating func array(_ n: Int, _ lo: Float = -1, _ hi: Float = 1) -> [Float] { (0..<n).map { _ in uniform(lo, hi) } }
}

func maxDiff(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count)
    var m: Float = 0
    for i in a.indices { let d = abs(a[i] - b[i]); if d.isNaN { return .nan }; m = max(m, d) }
    return m
}

let awkward = [1, 7, 16, 17, 37, 64, 100]

@Suite struct KernelTests {
    @Test(arguments: [1, 2])
    func gemmMatchesNaive(threads: Int) {
        Threads.set(threads)
        var rng = TestRNG(1)
        for (m, n, k) in [(1, 1, 1), (7, 37, 16), (37, 7, 100), (64, 17, 7), (100, 64, 37)] {
            for ta in [false, true] {
                for tb in [false, true] {
                    let a = rng.array(m * k), b = rng.array(k * n)
                    var c = [Float](repeating: 0, count: m * n)
                    a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
                        sgemm(transA: ta, transB: tb, m: m, n: n, k: k, a: ap.baseAddress!, lda: ta ? m : k,
                              b: bp.baseAddress!, ldb: tb ? k : n, c: cp.baseAddress!, ldc: n)
                    } } }
                    let ref = NaiveKernels.gemm(transA: ta, transB: tb, m: m, n: n, k: k, a: a, b: b)
                    #expect(maxDiff(c, ref) < 1e-4, "gemm \(m)x\(n)x\(k) ta=\(ta) tb=\(tb)")
                }
            }
        }
    }

    /// The packed-weight GEMM (kb_gemm.c) against a naive product: partial row and column tiles,
    /// K over two blocks, row strides wider than the matrices (the columns past them untouched),
    /// and both thread splits (column panels below 512 rows, row blocks above).
    @Test(arguments: [1, 2])
    func packedGemmMatchesNaive(threads: Int) throws {
        Threads.set(threads)
        var rng = TestRNG(11)
        for (m, n, k) in [(1, 1, 1), (7, 47, 37), (8, 48, 16), (9, 49, 769), (130, 200, 769), (600, 100, 37), (17, 1, 300)] {
            let x = rng.array(m * (k + 3)), w = rng.array(n * (k + 5))
            let packed = w.withUnsafeBufferPointer { PackedWeight(weight: $0.baseAddress!, n: n, k: k, ld: k + 5) }
            guard PackedWeight.isSupported else { #expect(packed == nil); continue }
            let pk = try #require(packed)
            var out = [Float](repeating: 7, count: m * (n + 2))
            x.withUnsafeBufferPointer { xp in out.withUnsafeMutableBufferPointer { op in
                pk.multiply(xp.baseAddress!, rows: m, ldX: k + 3, out: op.baseAddress!, ldOut: n + 2)
            } }
            var worst: Float = 0
            for i in 0..<m {
                for j in 0..<n {
                    var ref: Double = 0
                    for t in 0..<k { ref += Double(x[i * (k + 3) + t]) * Double(w[j * (k + 5) + t]) }
                    worst = max(worst, abs(out[i * (n + 2) + j] - Float(ref)))
                }
                #expect(out[i * (n + 2) + n] == 7 && out[i * (n + 2) + n + 1] == 7, "wrote past the row at \(m)x\(n)x\(k)")
            }
            #expect(worst < 1e-4, "packed gemm \(m)x\(n)x\(k), \(threads) thread(s): max abs diff \(worst)")
        }
    }

    /// Parts of a packed product (`multiply(columns:depth:)`): output columns from a panel
    /// boundary (the others untouched), input features from any offset (across K blocks and
    /// inside one), overwriting and accumulating, against a naive product, at both thread splits.
    @Test(arguments: [1, 2])
    func packedGemmPartsMatchNaive(threads: Int) throws {
        Threads.set(threads)
        guard PackedWeight.isSupported else { return }
        var rng = TestRNG(12)
        let w = PackedWeight.panelWidth
        for (m, n, k) in [(5, 3 * w, 96), (70, 2 * w + 7, 1600), (600, 3 * w, 200)] {
            let x = rng.array(m * (k + 3)), wt = rng.array(n * k)
            let pk = try #require(wt.withUnsafeBufferPointer { PackedWeight(weight: $0.baseAddress!, n: n, k: k) })
            #expect(!pk.takesPart(columns: 1..<n) && !pk.takesPart(columns: 0..<(w + 1)) && pk.takesPart(columns: w..<n))
            for (cols, depth, acc) in [(w..<n, 0..<k, false), (0..<w, 5..<(k - 9), true), (w..<(2 * w), (k / 2)..<k, false),
                                      (0..<n, 0..<1, true)] {
                let start = rng.array(m * n)
                var out = start
                x.withUnsafeBufferPointer { xp in out.withUnsafeMutableBufferPointer { op in
                    pk.multiply(xp.baseAddress!, rows: m, ldX: k + 3, out: op.baseAddress!, accumulate: acc, columns: cols, depth: depth)
                } }
                var worst: Float = 0
                for i in 0..<m {
                    for j in 0..<n {
                        let o = out[i * n + j]
                        guard cols.contains(j) else { #expect(o == start[i * n + j], "column \(j) outside \(cols) written"); continue }
                        var ref: Double = acc ? Double(start[i * n + j]) : 0
                        for t in depth { ref += Double(x[i * (k + 3) + t]) * Double(wt[j * k + t]) }
                        worst = max(worst, abs(o - Float(ref)))
                    }
                }
                #expect(worst < 1e-4, "packed part \(m)x\(n)x\(k) columns \(cols) depth \(depth): max abs diff \(worst)")
            }
        }
    }

    /// Strassen packs (`PackedWeight(strassen: true)`) against a naive product: rows under 16 (the
    /// classical path from the same packs), an odd row count (the leftover row), a half-width that
    /// is not a multiple of the panel width, K halves over two blocks, both thread splits (rows of
    /// the halves, columns for short halves), the transposing init, `accumulate` onto values
    /// already there, and row strides wider than the matrices (the columns past them untouched).
    @Test(arguments: [1, 2])
    func strassenPackedGemmMatchesNaive(threads: Int) throws {
        Threads.set(threads)
        var rng = TestRNG(12)
        for (m, n, k, transposing, accumulate) in [(7, 96, 96, false, false), (16, 96, 96, false, true), (37, 98, 100, false, false),
                                                   (130, 194, 1538, false, true), (600, 192, 96, true, false), (200, 384, 96, false, false),
                                                   (61, 96, 200, true, true)] {
            // W [n, k] (row stride k + 5), given transposed as [k, n] (row stride n + 4) for the transposing init.
            let w = rng.array(n * (k + 5)), x = rng.array(m * (k + 3))
            var wt = [Float](repeating: 0, count: k * (n + 4))
            for j in 0..<n { for t in 0..<k { wt[t * (n + 4) + j] = w[j * (k + 5) + t] } }
            let packed = transposing
                ? wt.withUnsafeBufferPointer { PackedWeight(transposing: $0.baseAddress!, rows: k, cols: n, ld: n + 4, strassen: true) }
                : w.withUnsafeBufferPointer { PackedWeight(weight: $0.baseAddress!, n: n, k: k, ld: k + 5, strassen: true) }
            guard PackedWeight.isSupported else { #expect(packed == nil); continue }
            let pk = try #require(packed)
            #expect(pk.strassen, "\(n)x\(k) should take Strassen packs")
            let start = rng.array(m * (n + 2))
            var out = start
            x.withUnsafeBufferPointer { xp in out.withUnsafeMutableBufferPointer { op in
                pk.multiply(xp.baseAddress!, rows: m, ldX: k + 3, out: op.baseAddress!, ldOut: n + 2, accumulate: accumulate)
            } }
            var worst: Float = 0, largest: Double = 1
            for i in 0..<m {
                for j in 0..<n {
                    var ref: Double = accumulate ? Double(start[i * (n + 2) + j]) : 0
                    for t in 0..<k { ref += Double(x[i * (k + 3) + t]) * Double(w[j * (k + 5) + t]) }
                    worst = max(worst, abs(out[i * (n + 2) + j] - Float(ref)))
                    largest = max(largest, abs(ref))
                }
                #expect(out[i * (n + 2) + n] == start[i * (n + 2) + n] && out[i * (n + 2) + n + 1] == start[i * (n + 2) + n + 1],
                        "wrote past the row at \(m)x\(n)x\(k)")
            }
            // fp32 rounding relative to the largest value (a wrong sum or sign is off by O(1) of it).
            #expect(Double(worst) < 5e-6 * largest, "Strassen packed gemm \(m)x\(n)x\(k), \(threads) thread(s): max abs diff \(worst), largest \(largest)")
        }
        // Shapes that do not fit keep the classical packs.
        let w = rng.array(97 * 96)
        let odd = w.withUnsafeBufferPointer { PackedWeight(weight: $0.baseAddress!, n: 97, k: 96, strassen: true) }
        if let odd { #expect(!odd.strassen) }
    }

    @Test func batchedGemmMatchesLoop() {
        var rng = TestRNG(2)
        let batch = 3, m = 7, n = 5, k = 37
        let a = rng.array(batch * m * k), b = rng.array(batch * n * k)
        var c = [Float](repeating: 0, count: batch * m * n)
        a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { bp in c.withUnsafeMutableBufferPointer { cp in
            sgemmBatched(batch: batch, transA: false, transB: true, m: m, n: n, k: k,
                         a: ap.baseAddress!, lda: k, strideA: m * k, b: bp.baseAddress!, ldb: k, strideB: n * k,
                         c: cp.baseAddress!, ldc: n, strideC: m * n)
        } } }
        for i in 0..<batch {
            let ref = NaiveKernels.gemm(transA: false, transB: true, m: m, n: n, k: k,
                                        a: Array(a[i * m * k ..< (i + 1) * m * k]), b: Array(b[i * n * k ..< (i + 1) * n * k]))
            #expect(maxDiff(Array(c[i * m * n ..< (i + 1) * m * n]), ref) < 1e-4)
        }
    }

    @Test(arguments: awkward)
    func biasAndResidual(cols: Int) {
        var rng = TestRNG(3)
        let rows = 5
        let x = rng.array(rows * cols), bias = rng.array(cols), y = rng.array(rows * cols)
        var fast = x, ref = x
        fast.withUnsafeMutableBufferPointer { p in Kernels.addBias(p.baseAddress!, rows: rows, cols: cols, bias: bias) }
        NaiveKernels.addBias(&ref, rows: rows, cols: cols, bias: bias)
        #expect(maxDiff(fast, ref) == 0)
        fast.withUnsafeMutableBufferPointer { p in Kernels.add(p.baseAddress!, y, count: rows * cols) }
        NaiveKernels.add(&ref, y)
        #expect(maxDiff(fast, ref) == 0)
    }

    @Test(arguments: [1, 7, 37, 1000, 70_001])
    func activations(count: Int) {
        Threads.set(2)
        var rng = TestRNG(4)
        let x = rng.array(count, -12, 12)
        var f = x, r = x
        f.withUnsafeMutableBufferPointer { Kernels.gelu($0.baseAddress!, count: count) }
        NaiveKernels.gelu(&r)
        #expect(maxDiff(f, r) < 2e-6, "gelu")
        f = x; r = x
        f.withUnsafeMutableBufferPointer { Kernels.geluTanh($0.baseAddress!, count: count) }
        NaiveKernels.geluTanh(&r)
        #expect(maxDiff(f, r) < 2e-6, "gelu_new")
        f = x; r = x
        f.withUnsafeMutableBufferPointer { Kernels.tanh($0.baseAddress!, count: count) }
        NaiveKernels.tanh(&r)
        #expect(maxDiff(f, r) < 1e-6, "tanh")
        f = x; r = x
        f.withUnsafeMutableBufferPointer { Kernels.relu($0.baseAddress!, count: count) }
        NaiveKernels.relu(&r)
        #expect(maxDiff(f, r) == 0, "relu")
    }

    @Test func erfExpTanhAccuracy() {
        // Dense sweep against Double libm.
        var xs: [Float] = []
        var v: Float = -10
        while v <= 10 { xs.append(v); v += 0.001 }
        var e = xs, x = xs.map { $0 * 8.7 }, t = xs
        Kernels.erf(&e, count: e.count)
        Kernels.exp(&x, count: x.count)
        Kernels.tanh(&t, count: t.count)
        var worstErf = 0.0, worstExpRel = 0.0, worstTanh = 0.0
        for i in xs.indices {
            worstErf = max(worstErf, abs(Double(e[i]) - Foundation.erf(Double(xs[i]))))
            let ref = Foundation.exp(Double(xs[i] * 8.7))
            worstExpRel = max(worstExpRel, abs(Double(x[i]) - ref) / ref)
            worstTanh = max(worstTanh, abs(Double(t[i]) - Foundation.tanh(Double(xs[i]))))
        }
        #expect(worstErf < 4e-7, "erf worst abs error \(worstErf)")
        #expect(worstExpRel < 3e-7, "exp worst rel error \(worstExpRel)")
        #expect(worstTanh < 3e-7, "tanh worst abs error \(worstTanh)")
        var edge: [Float] = [88.3, -87.0, -100, -.infinity, 0]
        Kernels.exp(&edge, count: edge.count)
        #expect(edge[0].isFinite && edge[0] > 2e38)
        #expect(edge[1] > 0 && edge[2] == 0 && edge[3] == 0 && edge[4] == 1)
    }

    @Test(arguments: awkward)
    func softmaxWithMask(cols: Int) {
        // 6 rows (a partial group of the AVX-512 path's eight) and 21 (two full groups and a
        // tail; mask rows that straddle groups).
        for (rows, perMask) in [(6, 3), (21, 7)] { softmaxCase(cols: cols, rows: rows, perMask: perMask) }
        var nan = [Float](repeating: 1, count: cols)
        nan[cols / 2] = .nan
        Kernels.softmax(&nan, rows: 1, cols: cols)
        #expect(nan.allSatisfy { $0.isNaN }, "a NaN score is not hidden")
    }

    func softmaxCase(cols: Int, rows: Int, perMask: Int) {
        var rng = TestRNG(5)
        let x = rng.array(rows * cols, -30, 30)
        var mask = [Float](repeating: 0, count: (rows / perMask) * cols)
        for i in mask.indices where i % 3 == 2 && i % cols != 0 { mask[i] = -Float.greatestFiniteMagnitude }
        var f = x, r = x
        f.withUnsafeMutableBufferPointer { Kernels.softmax($0.baseAddress!, rows: rows, cols: cols, mask: mask, rowsPerMask: perMask) }
        NaiveKernels.softmax(&r, rows: rows, cols: cols, mask: mask, rowsPerMask: perMask)
        #expect(maxDiff(f, r) < 1e-6)
        var g = x, s = x
        g.withUnsafeMutableBufferPointer { Kernels.softmax($0.baseAddress!, rows: rows, cols: cols) }
        NaiveKernels.softmax(&s, rows: rows, cols: cols)
        #expect(maxDiff(g, s) < 1e-6)
    }

    @Test(arguments: awkward)
    func layerNorm(cols: Int) {
        var rng = TestRNG(6)
        let rows = 9
        let x = rng.array(rows * cols, -5, 7), g = rng.array(cols), b = rng.array(cols)
        var out = [Float](repeating: 0, count: rows * cols)
        var mean = [Float](repeating: 0, count: rows), rstd = mean
        out.withUnsafeMutableBufferPointer { o in
            Kernels.layerNorm(x, out: o.baseAddress!, rows: rows, cols: cols, gamma: g, beta: b, eps: 1e-12,
                              mean: &mean, rstd: &rstd)
        }
        let ref = NaiveKernels.layerNorm(x, rows: rows, cols: cols, gamma: g, beta: b, eps: 1e-12)
        #expect(maxDiff(out, ref) < 2e-5)
    }

    @Test func gatherRowsAndRejectsBadIds() throws {
        var rng = TestRNG(7)
        let vocab = 11, cols = 37
        let table = rng.array(vocab * cols)
        let ids: [Int32] = [0, 10, 3, 3, 7]
        var out = [Float](repeating: 0, count: ids.count * cols)
        try ids.withUnsafeBufferPointer { idp in
            try out.withUnsafeMutableBufferPointer { o in
                try Kernels.gather(table: table, vocab: vocab, cols: cols, ids: idp, out: o.baseAddress!)
            }
        }
        #expect(out == NaiveKernels.gather(table: table, cols: cols, ids: ids))
        let bad: [Int32] = [11]
        #expect(throws: TensorError.indexOutOfRange(index: 11, limit: 11)) {
            try bad.withUnsafeBufferPointer { idp in
                try out.withUnsafeMutableBufferPointer { o in
                    try Kernels.gather(table: table, vocab: vocab, cols: cols, ids: idp, out: o.baseAddress!)
                }
            }
        }
    }

    @Test func svdReconstructs() throws {
        var rng = TestRNG(8)
        let m = 7, n = 5
        let a = try Tensor(shape: [m, n], data: rng.array(m * n))
        let (u, s, vt) = try svd(a)
        var rec = [Float](repeating: 0, count: m * n)
        for i in 0..<m { for j in 0..<n { for r in 0..<s.count { rec[i * n + j] += u[i, r] * s[r] * vt[r, j] } } }
        #expect(maxDiff(rec, a.data) < 1e-5)
        #expect(zip(s, s.dropFirst()).allSatisfy { $0 >= $1 })
    }

    @Test func threadsOption() {
        Threads.set(1); #expect(Threads.count == 1)
        Threads.set(2); #expect(Threads.count == 2)
        Threads.set(0); #expect(Threads.count == 1)
    }
}

@Suite struct FusedKernelTests {
    @Test(arguments: [1, 7, 37, 384])
    func biasGeluEqualsTwoSteps(cols: Int) {
        var rng = TestRNG(11)
        let rows = 5
        let x = rng.array(rows * cols, -6, 6), b = rng.array(cols)
        var fused = x, ref = x
        Kernels.biasGelu(&fused, rows: rows, cols: cols, bias: b)
        NaiveKernels.addBias(&ref, rows: rows, cols: cols, bias: b)
        NaiveKernels.gelu(&ref)
        #expect(maxDiff(fused, ref) < 2e-6)
    }

    @Test(arguments: [1, 7, 37, 384])
    func biasResidualLayerNormEqualsSteps(cols: Int) {
        var rng = TestRNG(12)
        let rows = 6
        let x = rng.array(rows * cols, -3, 3), b = rng.array(cols), res = rng.array(rows * cols), g = rng.array(cols), be = rng.array(cols)
        var sum = x
        var out = [Float](repeating: 0, count: rows * cols)
        Kernels.biasResidualLayerNorm(&sum, bias: b, residual: res, out: &out, rows: rows, cols: cols, gamma: g, beta: be, eps: 1e-12)
        var ref = x
        NaiveKernels.addBias(&ref, rows: rows, cols: cols, bias: b)
        NaiveKernels.add(&ref, res)
        #expect(maxDiff(sum, ref) < 1e-6)
        #expect(maxDiff(out, NaiveKernels.layerNorm(ref, rows: rows, cols: cols, gamma: g, beta: be, eps: 1e-12)) < 2e-5)
    }
}

@Suite struct ParallelSumTests {
    /// Column sums of a 1000 × 5 matrix, split over threads: the same as a serial sum in double
    /// (to float rounding), added onto what `dst` held.
    @Test func parallelSumAddsEveryRowOnce() {
        Threads.set(2)
        var rng = TestRNG(9)
        let rows = 1000, w = 5
        let x = rng.array(rows * w, -1, 1)
        var dst: [Float] = [1, 2, 3, 4, 5]
        x.withUnsafeBufferPointer { xp in
            dst.withUnsafeMutableBufferPointer { dp in
                parallelSum(rows, minPerThread: 10, width: w, into: dp.baseAddress!) { r, part in
                    for i in r { for c in 0..<w { part[c] += xp[i * w + c] } }
                }
            }
        }
        for c in 0..<w {
            var ref = Double(c + 1)
            for i in 0..<rows { ref += Double(x[i * w + c]) }
            #expect(abs(Double(dst[c]) - ref) < 1e-3, "column \(c): \(dst[c]) vs \(ref)")
        }
    }
}
