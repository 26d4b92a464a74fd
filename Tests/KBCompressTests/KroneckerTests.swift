import Foundation
import Testing
@testable import KBLayers
import KBTensor
@testable import KBCompress

struct R {
    var s: UInt64
    mutating func next() -> Float {
        s = s &* 6364136223846793005 &+ 1442695040888963407
        return Float(Double(s >> 11) / Double(1 << 53) * 2 - 1)
    }
    mutating func array(_ n: Int) -> [Float] { (0..<n).map { _ in next() } }
}

func frob(_ a: [Float], _ b: [Float]) -> Double { zip(a, b).map { Double($0 - $1) * Double($0 - $1) }.reduce(0, +).squareRoot() }
func norm(_ a: [Float]) -> Double { a.map { Double($0) * Double($0) }.reduce(0, +).squareRoot() }

@Suite struct NearestKroneckerTests {
    @Test(arguments: [(KroneckerShape(m1: 3, n1: 2, m2: 4, n2: 5), 1), (KroneckerShape(m1: 6, n1: 4, m2: 2, n2: 3), 2),
                      (KroneckerShape(m1: 1, n1: 7, m2: 5, n2: 1), 1), (KroneckerShape(m1: 4, n1: 4, m2: 4, n2: 4), 3)])
    func exactRecovery(shape s: KroneckerShape, rank r: Int) throws {
        var rng = R(s: 1)
        let a = (0..<r).map { _ in rng.array(s.m1 * s.n1) }, b = (0..<r).map { _ in rng.array(s.m2 * s.n2) }
        let w = NearestKronecker.reconstruct(a, b, shape: s)
        let d = try NearestKronecker.decompose(w, shape: s, rank: r)
        let rec = NearestKronecker.reconstruct(d.a, d.b, shape: s)
        #expect(frob(rec, w) <= 1e-5 * norm(w), "relative error \(frob(rec, w) / norm(w))")
        #expect(d.residual <= 1e-5 * Float(norm(w)))
    }

    @Test(arguments: [1, 2, 5])
    func errorIsTheOptimum(rank r: Int) throws {
        let s = KroneckerShape(m1: 6, n1: 4, m2: 3, n2: 5)
        var rng = R(s: 2)
        let w = rng.array(s.rows * s.cols)
        let d = try NearestKronecker.decompose(w, shape: s, rank: r)
        let err = frob(NearestKronecker.reconstruct(d.a, d.b, shape: s), w)
        let tail = d.singularValues[r...].map { Double($0) * Double($0) }.reduce(0, +).squareRoot()
        #expect(abs(err - tail) <= 1e-4 * norm(w), "error \(err) vs sqrt(Σ_{i>r} σ_i²) \(tail)")
        // Any perturbation of the factors is worse.
        var a2 = d.a; a2[0][0] += 0.05
        #expect(frob(NearestKronecker.reconstruct(a2, d.b, shape: s), w) > err)
        // Singular values: the whole spectrum accounts for ‖W‖.
        let all = d.singularValues.map { Double($0) * Double($0) }.reduce(0, +).squareRoot()
        #expect(abs(all - norm(w)) < 1e-4 * norm(w))
    }

    /// The row-weighted fit (embedding forms, m2 = 1): its weighted error is the optimum
    /// sqrt(Σ_{k≥r} σ_k²) of D·R(W), any perturbation is worse in that norm, it beats the plain
    /// fit there, uniform weights give the plain fit, and `residual` is the plain error.
    @Test(arguments: [(KroneckerShape(m1: 40, n1: 1, m2: 1, n2: 9), 3), (KroneckerShape(m1: 30, n1: 3, m2: 1, n2: 4), 2)])
    func rowWeightedFit(shape s: KroneckerShape, rank r: Int) throws {
        var rng = R(s: 5)
        let w = rng.array(s.rows * s.cols)
        // Skewed weights, as token frequencies are.
        let counts = (0..<s.rows).map { i in i % 7 == 0 ? 5000 : (i % 3 == 0 ? 40 : 0) }
        let d = NearestKronecker.frequencyWeights(counts: counts)
        let meanSquare = d.map { Double($0) * Double($0) }.reduce(0, +) / Double(d.count)
        #expect(abs(meanSquare - 1) < 1e-5)
        #expect(abs(Double(d[0] / d[1]) - (5001.0 / 1.0).squareRoot()) < 1e-2)
        func weightedError(_ rec: [Float]) -> Double {
            var e = 0.0
            for i in 0..<s.rows { for j in 0..<s.cols {
                let x = Double(w[i * s.cols + j] - rec[i * s.cols + j]) * Double(d[i]); e += x * x
            } }
            return e.squareRoot()
        }
        let fit = try NearestKronecker.decompose(w, shape: s, rank: r, rowWeights: d)
        let rec = NearestKronecker.reconstruct(fit.a, fit.b, shape: s)
        let optimum = fit.singularValues[r...].map { Double($0) * Double($0) }.reduce(0, +).squareRoot()
        #expect(abs(weightedError(rec) - optimum) <= 1e-4 * optimum, "weighted error \(weightedError(rec)) vs optimum \(optimum)")
        #expect(abs(Double(fit.residual) - frob(rec, w)) <= 1e-4 * frob(rec, w), "residual is the plain error")
        var a2 = fit.a; a2[0][0] += 0.05
        #expect(weightedError(NearestKronecker.reconstruct(a2, fit.b, shape: s)) > weightedError(rec))
        let plain = try NearestKronecker.decompose(w, shape: s, rank: r)
        let plainRec = NearestKronecker.reconstruct(plain.a, plain.b, shape: s)
        #expect(weightedError(rec) < 0.99 * weightedError(plainRec))
        #expect(frob(plainRec, w) < frob(rec, w), "the plain fit is the best in the plain norm")
        let uniform = try NearestKronecker.decompose(w, shape: s, rank: r, rowWeights: [Float](repeating: 3, count: s.rows))
        #expect(frob(NearestKronecker.reconstruct(uniform.a, uniform.b, shape: s), plainRec) <= 1e-5 * norm(w))
    }

    @Test func rowWeightsRejected() {
        let w = [Float](repeating: 1, count: 16)
        #expect(throws: CompressionError.plan("W: row weights need a B with one row (B is 2x2)")) {
            _ = try NearestKronecker.decompose(w, shape: KroneckerShape(m1: 2, n1: 2, m2: 2, n2: 2), rank: 1, rowWeights: [1, 1, 1, 1])
        }
        #expect(throws: CompressionError.plan("W: 3 row weights for 4 rows")) {
            _ = try NearestKronecker.decompose(w, shape: KroneckerShape(m1: 4, n1: 2, m2: 1, n2: 2), rank: 1, rowWeights: [1, 1, 1])
        }
        #expect(throws: CompressionError.plan("W: row weights must be positive and finite")) {
            _ = try NearestKronecker.decompose(w, shape: KroneckerShape(m1: 4, n1: 2, m2: 1, n2: 2), rank: 1, rowWeights: [1, 0, 1, 1])
        }
    }

    @Test func badPlans() {
        #expect(KroneckerShape(rows: 768, cols: 768, m1: 5, n1: 2) == nil)
        #expect(throws: CompressionError.rankTooHigh(matrix: "W", rank: 5, max: 4)) {
            _ = try NearestKronecker.decompose([Float](repeating: 1, count: 16), shape: KroneckerShape(m1: 2, n1: 2, m2: 2, n2: 2), rank: 5)
        }
    }

    /// Every compressible matrix of BERT-base (12 × (4 attention + 2 FFN) + embedding) at the kb8
    /// shapes decomposes, and the rank-1 factors reproduce their share of W. (The time is a
    /// benchmark, not a test: `kbert compress --config configs/bert-base-uncased.json --preset kb8`.)
    @Test func bertBaseShapesDecompose() throws {
        var rng = R(s: 3)
        let att = KroneckerShape(m1: 384, n1: 384, m2: 2, n2: 2)
        let ffn1 = KroneckerShape(m1: 8, n1: 2, m2: 384, n2: 384), ffn2 = KroneckerShape(m1: 2, n1: 8, m2: 384, n2: 384)
        let wAtt = rng.array(768 * 768), wF = rng.array(3072 * 768)
        for (w, s) in [(wAtt, att), (wF, ffn1), (wF, ffn2)] {
            let d = try NearestKronecker.decompose(w, shape: s, rank: 1)
            // Best rank-1 error: the residual equals ‖W‖² − σ₁² exactly.
            let total = norm(w), s1 = Double(d.singularValues[0])
            #expect(abs(Double(d.residual) - (total * total - s1 * s1).squareRoot()) < 1e-3 * total)
            #expect(d.a[0].count == s.m1 * s.n1 && d.b[0].count == s.m2 * s.n2)
        }
        let emb = rng.array(30522 * 768)
        let e = try NearestKronecker.decompose(emb, shape: KroneckerShape(m1: 30522, n1: 96, m2: 1, n2: 8), rank: 1)
        #expect(e.singularValues.count == 8)
    }
}

@Suite struct KroneckerLinearTests {
    static let shapes = [KroneckerShape(m1: 3, n1: 2, m2: 4, n2: 5), KroneckerShape(m1: 2, n1: 7, m2: 3, n2: 1),
                         KroneckerShape(m1: 5, n1: 3, m2: 2, n2: 4), KroneckerShape(m1: 1, n1: 6, m2: 7, n2: 2),
                         // m1·n1 > 64 and m2·n2 > 64: the paths that move axes and use BLAS for B.
                         KroneckerShape(m1: 9, n1: 8, m2: 2, n2: 3), KroneckerShape(m1: 9, n1: 8, m2: 3, n2: 2),
                         KroneckerShape(m1: 9, n1: 8, m2: 11, n2: 7),
                         // B one column: in `.aFirst` the column-B path (X·Aᵀ, then the outer product with b)
                         KroneckerShape(m1: 9, n1: 8, m2: 5, n2: 1),
                         // small A with rows past one 64-lane block of the ∂A reduction (kb_small_outer)
                         KroneckerShape(m1: 3, n1: 2, m2: 70, n2: 131),
                         // the rank-K SVD forms (pooler, embeddings): A a column, B a row
                         KroneckerShape(m1: 70, n1: 1, m2: 1, n2: 66)]

    @Test(arguments: shapes, [KroneckerLinear.Order.aFirst, .bFirst])
    func equalsDenseLayerForwardAndBackward(shape s: KroneckerShape, order: KroneckerLinear.Order) {
        var rng = R(s: 4)
        let r = 2, N = 7
        let a = rng.array(r * s.m1 * s.n1), b = rng.array(r * s.m2 * s.n2), bias = rng.array(s.rows)
        let x = rng.array(N * s.cols), dy = rng.array(N * s.rows)
        let ak = (0..<r).map { Array(a[($0 * s.m1 * s.n1)..<(($0 + 1) * s.m1 * s.n1)]) }
        let bk = (0..<r).map { Array(b[($0 * s.m2 * s.n2)..<(($0 + 1) * s.m2 * s.n2)]) }
        let w = NearestKronecker.reconstruct(ak, bk, shape: s)
        let layer = KroneckerLinear(shape: s, rank: r, order: order)
        var y = [Float](repeating: 0, count: N * s.rows), yd = y
        layer.forward(x, rows: N, a: a, b: b, bias: bias, out: &y)
        Linear.forward(x, rows: N, inF: s.cols, outF: s.rows, weight: w, bias: bias, out: &yd)
        #expect(frob(y, yd) < 1e-5 * norm(yd))
        // Into a column block of a wider matrix (Q | K | V): same values, other columns untouched.
        let ld = s.rows + 3
        var wide = [Float](repeating: -7, count: N * ld)
        wide.withUnsafeMutableBufferPointer { layer.forward(x, rows: N, a: a, b: b, bias: bias, out: $0.baseAddress! + 1, ldOut: ld) }
        for t in 0..<N {
            #expect(Array(wide[(t * ld + 1)..<(t * ld + 1 + s.rows)]) == Array(y[(t * s.rows)..<((t + 1) * s.rows)]))
            #expect(wide[t * ld] == -7 && wide[t * ld + s.rows + 1] == -7 && wide[t * ld + s.rows + 2] == -7)
        }
        // Backward against the dense layer: dX equal; dA_k = R(dW)·vec(B_k), dB_k = R(dW)ᵀ·vec(A_k).
        var dA = [Float](repeating: 0, count: a.count), dB = [Float](repeating: 0, count: b.count), dBias = [Float](repeating: 0, count: s.rows)
        var dx = [Float](repeating: 0, count: N * s.cols)
        layer.backward(x, dy: dy, rows: N, a: a, b: b, dA: &dA, dB: &dB, dBias: &dBias, dx: &dx)
        var dW = [Float](repeating: 0, count: s.rows * s.cols), dbd = [Float](repeating: 0, count: s.rows), dxd = dx
        Linear.backward(x, dy: dy, rows: N, inF: s.cols, outF: s.rows, weight: w, dWeight: &dW, dBias: &dbd, dx: &dxd)
        #expect(frob(dx, dxd) < 1e-5 * norm(dxd))
        #expect(frob(dBias, dbd) < 1e-6 * norm(dbd) + 1e-6)
        let rdw = dW.withUnsafeBufferPointer { NearestKronecker.rearrange($0.baseAddress!, s) }
        let p = s.m1 * s.n1, q = s.m2 * s.n2
        for k in 0..<r {
            let expA = (0..<p).map { i in (0..<q).map { j in rdw[i * q + j] * bk[k][j] }.reduce(0, +) }
            let expB = (0..<q).map { j in (0..<p).map { i in rdw[i * q + j] * ak[k][i] }.reduce(0, +) }
            #expect(frob(Array(dA[(k * p)..<((k + 1) * p)]), expA) < 1e-4 * (norm(expA) + 1e-3))
            #expect(frob(Array(dB[(k * q)..<((k + 1) * q)]), expB) < 1e-4 * (norm(expB) + 1e-3))
        }
    }

    /// Finite differences (Double) on the loss Σ w ⊙ y, for A and x.
    /// (2×3 ⊗ 3×2 runs the small-A path; 9×8 ⊗ 2×3 the small-B path in `.bFirst`; 9×8 ⊗ 3×1 the
    /// column-B path in `.aFirst`.)
    @Test(arguments: [KroneckerShape(m1: 2, n1: 3, m2: 3, n2: 2), KroneckerShape(m1: 9, n1: 8, m2: 2, n2: 3),
                      KroneckerShape(m1: 9, n1: 8, m2: 3, n2: 1), KroneckerShape(m1: 7, n1: 1, m2: 1, n2: 6)])
    func finiteDifferences(shape s: KroneckerShape) {
        let r = 2, N = 3
        let p1 = s.m1 * s.n1, p2 = s.m2 * s.n2
        var rng = R(s: 5)
        let a = rng.array(r * p1), b = rng.array(r * p2), x = rng.array(N * s.cols), wy = rng.array(N * s.rows)
        func loss(_ a: [Double], _ b: [Double], _ x: [Double]) -> Double {
            var tot = 0.0
            for t in 0..<N { for k in 0..<r {
                for i1 in 0..<s.m1 { for i2 in 0..<s.m2 {
                    var acc = 0.0
                    for j1 in 0..<s.n1 { for j2 in 0..<s.n2 {
                        acc += a[k * p1 + i1 * s.n1 + j1] * b[k * p2 + i2 * s.n2 + j2] * x[t * s.cols + j1 * s.n2 + j2]
                    } }
                    tot += acc * Double(wy[t * s.rows + i1 * s.m2 + i2])
                } }
            } }
            return tot
        }
        let ad = a.map(Double.init), bd = b.map(Double.init), xd = x.map(Double.init)
        for order in [KroneckerLinear.Order.aFirst, .bFirst] {
            let layer = KroneckerLinear(shape: s, rank: r, order: order)
            var dA = [Float](repeating: 0, count: a.count), dB = dA, dx = [Float](repeating: 0, count: x.count)
            layer.backward(x, dy: wy, rows: N, a: a, b: b, dA: &dA, dB: &dB, dBias: nil, dx: &dx)
            let eps = 1e-6
            for i in a.indices {
                var p = ad; p[i] += eps; var m = ad; m[i] -= eps
                #expect(abs((loss(p, bd, xd) - loss(m, bd, xd)) / (2 * eps) - Double(dA[i])) < 1e-4)
            }
            for i in b.indices {
                var p = bd; p[i] += eps; var m = bd; m[i] -= eps
                #expect(abs((loss(ad, p, xd) - loss(ad, m, xd)) / (2 * eps) - Double(dB[i])) < 1e-4)
            }
            for i in x.indices {
                var p = xd; p[i] += eps; var m = xd; m[i] -= eps
                #expect(abs((loss(ad, bd, p) - loss(ad, bd, m)) / (2 * eps) - Double(dx[i])) < 1e-4)
            }
        }
    }

    /// Many tokens on the per-token paths: several token blocks (some split over threads), equal to
    /// the dense layer, and the epilogue sees disjoint ranges that cover every row once.
    @Test(arguments: [KroneckerShape(m1: 2, n1: 3, m2: 700, n2: 300), KroneckerShape(m1: 300, n1: 700, m2: 3, n2: 2),
                      KroneckerShape(m1: 300, n1: 700, m2: 8, n2: 1)])
    func tokenBlocksCoverEveryRow(shape s: KroneckerShape) {
        var rng = R(s: 9)
        let r = 2, N = 301
        let a = rng.array(r * s.m1 * s.n1), b = rng.array(r * s.m2 * s.n2), bias = rng.array(s.rows)
        let x = rng.array(N * s.cols)
        let ak = (0..<r).map { Array(a[($0 * s.m1 * s.n1)..<(($0 + 1) * s.m1 * s.n1)]) }
        let bk = (0..<r).map { Array(b[($0 * s.m2 * s.n2)..<(($0 + 1) * s.m2 * s.n2)]) }
        let w = NearestKronecker.reconstruct(ak, bk, shape: s)
        let layer = KroneckerLinear(shape: s, rank: r, order: s.n2 == 1 ? .aFirst : .bFirst)
        #expect(layer.tokenBlock(N) < N / 2)
        #expect(layer.usesSmallA || layer.usesSmallB || layer.usesColumnB)
        var y = [Float](repeating: 0, count: N * s.rows), yd = y
        let seen = UnsafeMutableBufferPointer<Int32>.allocate(capacity: N)
        seen.initialize(repeating: 0)
        defer { seen.deallocate() }
        layer.forward(x, rows: N, a: a, b: b, bias: bias, out: &y) { rows in for t in rows { seen[t] += 1 } }
        Linear.forward(x, rows: N, inF: s.cols, outF: s.rows, weight: w, bias: bias, out: &yd)
        #expect(frob(y, yd) < 1e-5 * norm(yd))
        #expect(seen.allSatisfy { $0 == 1 })
    }

    @Test func cheaperOrderIsChosen() {
        let kb8att = KroneckerShape(m1: 384, n1: 384, m2: 2, n2: 2)
        let l = KroneckerLinear(shape: kb8att, rank: 1)
        #expect(l.flops(tokens: 1) == min(KroneckerLinear.flops(kb8att, .aFirst), KroneckerLinear.flops(kb8att, .bFirst)))
    }

    /// Q, K and V through one transposition (`forwardShared`) equal three `forward` calls, into
    /// column blocks of one wide matrix, for 2×2 B's (the only ones it takes); enough tokens for
    /// several blocks.
    @Test(arguments: [KroneckerShape(m1: 9, n1: 8, m2: 2, n2: 2), KroneckerShape(m1: 12, n1: 10, m2: 2, n2: 2)])
    func sharedInputEqualsSeparateLayers(shape s: KroneckerShape) {
        var rng = R(s: 8)
        let N = 700, L = 3, ld = L * s.rows + 1
        let layer = KroneckerLinear(shape: s, rank: 1, order: .bFirst)
        #expect(layer.sharesInput)
        #expect(!KroneckerLinear(shape: KroneckerShape(m1: 9, n1: 8, m2: 2, n2: 5), rank: 1, order: .bFirst).sharesInput)
        let x = rng.array(N * s.cols)
        let a = (0..<L).map { _ in rng.array(s.m1 * s.n1) }, b = (0..<L).map { _ in rng.array(s.m2 * s.n2) }
        let bias = (0..<L).map { _ in rng.array(s.rows) }
        var ref = [Float](repeating: -7, count: N * ld), got = ref
        ref.withUnsafeMutableBufferPointer { out in
            for k in 0..<L { layer.forward(x, rows: N, a: a[k], b: b[k], bias: bias[k], out: out.baseAddress! + k * s.rows, ldOut: ld) }
        }
        got.withUnsafeMutableBufferPointer { out in
            a[0].withUnsafeBufferPointer { a0 in a[1].withUnsafeBufferPointer { a1 in a[2].withUnsafeBufferPointer { a2 in
            b[0].withUnsafeBufferPointer { b0 in b[1].withUnsafeBufferPointer { b1 in b[2].withUnsafeBufferPointer { b2 in
            bias[0].withUnsafeBufferPointer { c0 in bias[1].withUnsafeBufferPointer { c1 in bias[2].withUnsafeBufferPointer { c2 in
                let A = [a0, a1, a2], B = [b0, b1, b2], C = [c0, c1, c2]
                let terms = (0..<L).map { k in
                    KroneckerLinear.SharedTerm(a: A[k].baseAddress!, b: B[k].baseAddress!, bias: C[k].baseAddress!,
                                               out: out.baseAddress! + k * s.rows, ldOut: ld)
                }
                layer.forwardShared(x, rows: N, layers: terms)
            } } } } } } } } }
        }
        #expect(frob(got, ref) < 1e-5 * norm(ref))
        #expect((0..<N).allSatisfy { got[$0 * ld + L * s.rows] == -7 }, "the column past the three blocks is untouched")
    }
}
