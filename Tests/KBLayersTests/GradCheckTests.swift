import Foundation
import Testing
import KBTensor
@testable import KBLayers

// Finite-difference checks: the analytic backward (our Float code) against central differences of
// a Double reference forward, on tiny awkward shapes. Loss = Σ w ⊙ y with fixed random w, so ∂L/∂y = w.

struct RNG {
    var s: UInt64
    mutating func next() -> Double {
        s = s &* 6364136223846793005 &+ 1442695040888963407
        return Double(s >> 11) / Double(1 << 53) * 2 - 1
    }
    mutating func array(_ n: Int, _ scale: Double = 1) -> [Double] { (0..<n).map { _ in next() * scale } }
}

/// Central differences of `f` at `x`.
func numericGrad(_ x: [Double], eps: Double = 1e-6, _ f: ([Double]) -> Double) -> [Double] {
    var g = [Double](repeating: 0, count: x.count)
    var xp = x
    for i in x.indices {
        xp[i] = x[i] + eps; let a = f(xp)
        xp[i] = x[i] - eps; let b = f(xp)
        xp[i] = x[i]
        g[i] = (a - b) / (2 * eps)
    }
    return g
}

func expectClose(_ analytic: [Float], _ numeric: [Double], _ what: String, rtol: Double = 2e-3, sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(analytic.count == numeric.count, sourceLocation: sourceLocation)
    let scale = numeric.map { abs($0) }.max() ?? 0
    let worst = zip(analytic, numeric).map { abs(Double($0) - $1) }.max() ?? 0
    #expect(worst <= rtol * scale + 1e-5, "\(what): max |analytic − numeric| \(worst), scale \(scale)", sourceLocation: sourceLocation)
}

func dot(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }
func f32(_ a: [Double]) -> [Float] { a.map(Float.init) }

// Double reference forwards.
func refLinear(_ x: [Double], _ w: [Double], _ b: [Double], n: Int, inF: Int, outF: Int) -> [Double] {
    var y = [Double](repeating: 0, count: n * outF)
    for r in 0..<n { for o in 0..<outF {
        var s = b[o]; for i in 0..<inF { s += x[r * inF + i] * w[o * inF + i] }; y[r * outF + o] = s
    } }
    return y
}

func refLayerNorm(_ x: [Double], _ g: [Double], _ b: [Double], rows: Int, cols: Int, eps: Double) -> [Double] {
    var y = x
    for r in 0..<rows {
        let row = Array(x[(r * cols)..<((r + 1) * cols)])
        let mu = row.reduce(0, +) / Double(cols)
        let v = row.map { ($0 - mu) * ($0 - mu) }.reduce(0, +) / Double(cols)
        for c in 0..<cols { y[r * cols + c] = (row[c] - mu) / (v + eps).squareRoot() * g[c] + b[c] }
    }
    return y
}

func refSoftmaxRows(_ x: [Double], rows: Int, cols: Int) -> [Double] {
    var y = x
    for r in 0..<rows {
        let row = x[(r * cols)..<((r + 1) * cols)]
        let m = row.max()!
        let e = row.map { Foundation.exp($0 - m) }
        let s = e.reduce(0, +)
        for c in 0..<cols { y[r * cols + c] = e[c] / s }
    }
    return y
}

@Suite struct GradCheckTests {
    @Test(arguments: [(1, 1, 1), (7, 5, 3), (3, 37, 16)])
    func linear(shape: (Int, Int, Int)) {
        let (n, inF, outF) = shape
        var rng = RNG(s: 1)
        let x = rng.array(n * inF), w = rng.array(outF * inF), b = rng.array(outF), wy = rng.array(n * outF)
        var dx = [Float](repeating: 0, count: n * inF), dw = [Float](repeating: 0, count: outF * inF), db = [Float](repeating: 0, count: outF)
        Linear.backward(f32(x), dy: f32(wy), rows: n, inF: inF, outF: outF, weight: f32(w), dWeight: &dw, dBias: &db, dx: &dx)
        expectClose(dx, numericGrad(x) { dot(refLinear($0, w, b, n: n, inF: inF, outF: outF), wy) }, "dx")
        expectClose(dw, numericGrad(w) { dot(refLinear(x, $0, b, n: n, inF: inF, outF: outF), wy) }, "dW")
        expectClose(db, numericGrad(b) { dot(refLinear(x, w, $0, n: n, inF: inF, outF: outF), wy) }, "db")
        // Forward agrees too.
        var y = [Float](repeating: 0, count: n * outF)
        Linear.forward(f32(x), rows: n, inF: inF, outF: outF, weight: f32(w), bias: f32(b), out: &y)
        expectClose(y, refLinear(x, w, b, n: n, inF: inF, outF: outF), "forward", rtol: 1e-5)
    }

    @Test(arguments: [(1, 7), (5, 37), (3, 1)])
    func layerNorm(shape: (Int, Int)) {
        let (rows, cols) = shape
        var rng = RNG(s: 2)
        let x = rng.array(rows * cols, 2), g = rng.array(cols), b = rng.array(cols), wy = rng.array(rows * cols)
        let eps = 1e-5
        var out = [Float](repeating: 0, count: rows * cols), mean = [Float](repeating: 0, count: rows), rstd = mean
        Kernels.layerNorm(f32(x), out: &out, rows: rows, cols: cols, gamma: f32(g), beta: f32(b), eps: Float(eps), mean: &mean, rstd: &rstd)
        var dx = [Float](repeating: 0, count: rows * cols), dg = [Float](repeating: 0, count: cols), dbeta = dg
        LayerNorm.backward(f32(x), dy: f32(wy), rows: rows, cols: cols, gamma: f32(g), mean: mean, rstd: rstd, dx: &dx, dGamma: &dg, dBeta: &dbeta)
        if cols > 1 {
            expectClose(dx, numericGrad(x) { dot(refLayerNorm($0, g, b, rows: rows, cols: cols, eps: eps), wy) }, "dx")
        }
        expectClose(dg, numericGrad(g) { dot(refLayerNorm(x, $0, b, rows: rows, cols: cols, eps: eps), wy) }, "dgamma")
        expectClose(dbeta, numericGrad(b) { dot(refLayerNorm(x, g, $0, rows: rows, cols: cols, eps: eps), wy) }, "dbeta")
    }

    @Test func activations() {
        var rng = RNG(s: 3)
        let x = rng.array(37, 4), wy = rng.array(37)
        var dx = f32(wy)
        ActivationGrad.geluErf(f32(x), grad: &dx, count: 37)
        expectClose(dx, numericGrad(x) { dot($0.map { $0 * 0.5 * (1 + erf($0 / 2.0.squareRoot())) }, wy) }, "gelu")
        dx = f32(wy)
        ActivationGrad.geluTanh(f32(x), grad: &dx, count: 37)
        expectClose(dx, numericGrad(x) { dot($0.map { 0.5 * $0 * (1 + tanh((2 / Double.pi).squareRoot() * ($0 + 0.044715 * $0 * $0 * $0))) }, wy) }, "gelu_new")
        let y = f32(x.map { tanh($0) })
        dx = f32(wy)
        ActivationGrad.tanhFromOutput(y, grad: &dx, count: 37)
        expectClose(dx, numericGrad(x) { dot($0.map { tanh($0) }, wy) }, "tanh")
        let xr = x.map { abs($0) < 1e-3 ? 0.5 : $0 }  // keep away from the kink
        dx = f32(wy)
        ActivationGrad.relu(f32(xr), grad: &dx, count: 37)
        expectClose(dx, numericGrad(xr) { dot($0.map { max(0, $0) }, wy) }, "relu")
    }

    @Test(arguments: [(1, 1), (4, 7), (2, 37)])
    func softmax(shape: (Int, Int)) {
        let (rows, cols) = shape
        var rng = RNG(s: 4)
        let x = rng.array(rows * cols, 3), wy = rng.array(rows * cols)
        let p = f32(refSoftmaxRows(x, rows: rows, cols: cols))
        var dx = f32(wy)
        SoftmaxGrad.backward(p, grad: &dx, rows: rows, cols: cols)
        expectClose(dx, numericGrad(x) { dot(refSoftmaxRows($0, rows: rows, cols: cols), wy) }, "softmax")
    }

    /// Masked multi-head attention (Q·Kᵀ/√HD + mask, softmax, ·V, padded keys), all T = 5 queries (the default) or the first Q only (`queries`; Q = 1 is
    /// the [CLS]-only last layer): the forward against a Double reference, the backward against
    /// central differences (queries past Q get zero gradient).
    @Test(arguments: [5, 1, 2])
    func attention(Q: Int) {
        let B = 2, T = 5, H = 6, NH = 2, HD = 3
        var rng = RNG(s: 8)
        let qkv = rng.array(B * T * 3 * H), wy = rng.array(B * Q * H), ws = rng.array(B * NH * Q * T)
        var mask = [Float](repeating: 0, count: B * T)
        mask[1 * T + 4] = -Float.greatestFiniteMagnitude; mask[1 * T + 2] = -Float.greatestFiniteMagnitude
        func ref(_ q: [Double]) -> (ctx: [Double], scores: [Double]) {
            var ctx = [Double](repeating: 0, count: B * Q * H), scores = [Double](repeating: 0, count: B * NH * Q * T)
            for b in 0..<B { for h in 0..<NH {
                var s = [Double](repeating: 0, count: Q * T)
                for i in 0..<Q { for j in 0..<T {
                    var d = 0.0
                    for k in 0..<HD { d += q[(b * T + i) * 3 * H + h * HD + k] * q[(b * T + j) * 3 * H + H + h * HD + k] }
                    s[i * T + j] = d / Double(HD).squareRoot()
                    scores[((b * NH + h) * Q + i) * T + j] = s[i * T + j]
                    if mask[b * T + j] != 0 { s[i * T + j] = -1e300 }
                } }
                let p = refSoftmaxRows(s, rows: Q, cols: T)
                for i in 0..<Q { for k in 0..<HD {
                    var acc = 0.0
                    for j in 0..<T { acc += p[i * T + j] * q[(b * T + j) * 3 * H + 2 * H + h * HD + k] }
                    ctx[(b * Q + i) * H + h * HD + k] = acc
                } }
            } }
            return (ctx, scores)
        }
        var probs = [Float](repeating: 0, count: B * NH * Q * T), ctx = [Float](repeating: .nan, count: B * Q * H)
        var scores = [Float](repeating: .nan, count: B * NH * Q * T)
        let queries = Q == T ? nil : Q
        Attention.forward(qkv: f32(qkv), batch: B, seqLen: T, hidden: H, heads: NH, queries: queries, mask: mask, probs: &probs,
                          scores: &scores, ctx: &ctx)
        let r = ref(qkv)
        expectClose(ctx, r.ctx, "forward ctx", rtol: 1e-5)
        expectClose(scores, r.scores, "forward scores", rtol: 1e-5)
        var dqkv = [Float](repeating: .nan, count: B * T * 3 * H), scratch = probs
        Attention.backward(qkv: f32(qkv), probs: probs, probsUsed: probs, dropout: nil, batch: B, seqLen: T, hidden: H, heads: NH,
                           queries: queries, dCtx: f32(wy), dScores: f32(ws), scratch: &scratch, dQKV: &dqkv)
        expectClose(dqkv, numericGrad(qkv) { q in let o = ref(q); return dot(o.ctx, wy) + dot(o.scores, ws) }, "dqkv")
    }

    @Test func embeddingScatterAdd() {
        let ids: [Int32] = [3, 0, 3, 2]
        var rng = RNG(s: 6)
        let dy = rng.array(4 * 5)
        var dt = [Float](repeating: 0, count: 4 * 5)
        ids.withUnsafeBufferPointer { EmbeddingGrad.scatterAdd(ids: $0, dy: f32(dy), cols: 5, dTable: &dt) }
        let table = rng.array(4 * 5)
        expectClose(dt, numericGrad(table) { t in dot(ids.flatMap { Array(t[Int($0) * 5 ..< Int($0) * 5 + 5]) }, dy) }, "table")
    }

    /// `KroneckerEmbedding` (rows Σ_k A_k[id] ⊗ B_k): forward against a Double reference, dA and dB
    /// against central differences, for the paper's form (A V × d/n, B 1 × n) and the rank-K SVD
    /// form (A V × 1, B 1 × d), one and several terms, with a repeated id.
    @Test(arguments: [(7, 2, 3, 1), (7, 2, 3, 2), (5, 1, 6, 3), (6, 1, 4, 1)])
    func kroneckerEmbedding(vocab: Int, w: Int, n: Int, rank: Int) {
        let e = KroneckerEmbedding(spec: KroneckerSpec(shape: KroneckerShape(m1: vocab, n1: w, m2: 1, n2: n), rank: rank))
        let d = w * n
        let ids: [Int32] = [3, 0, 3, Int32(vocab - 1)]
        var rng = RNG(s: UInt64(11 + rank * 7 + w))
        let a = rng.array(rank * vocab * w), b = rng.array(rank * n), wy = rng.array(ids.count * d)
        func ref(_ a: [Double], _ b: [Double]) -> [Double] {
            ids.flatMap { id in (0..<d).map { j in (0..<rank).reduce(0.0) { s, k in s + a[(k * vocab + Int(id)) * w + j / n] * b[k * n + j % n] } } }
        }
        var out = [Float](repeating: .nan, count: ids.count * d)
        let fa = f32(a), fb = f32(b)
        ids.withUnsafeBufferPointer { e.forward(ids: $0, a: fa, b: fb, out: &out) }
        expectClose(out, ref(a, b), "forward", rtol: 1e-5)
        var dA = [Float](repeating: 0, count: a.count), dB = [Float](repeating: 0, count: b.count)
        ids.withUnsafeBufferPointer { e.backward(ids: $0, dy: f32(wy), a: fa, b: fb, dA: &dA, dB: &dB) }
        expectClose(dA, numericGrad(a) { dot(ref($0, b), wy) }, "dA")
        expectClose(dB, numericGrad(b) { dot(ref(a, $0), wy) }, "dB")
    }

    @Test func dropoutIsItsOwnBackward() {
        var g = SystemRandomNumberGenerator()
        let d = Dropout(p: 0.25)
        let m = d.mask(count: 1000, using: &g)
        let kept = m.filter { $0 == 1 }.count
        #expect(kept > 650 && kept < 850)
        var x = [Float](repeating: 1, count: 1000)
        d.apply(&x, mask: m, count: 1000)
        for i in 0..<1000 { #expect(x[i] == (m[i] == 1 ? 1 / 0.75 : 0)) }
    }

    /// The vectorized SplitMix64 mask (C) equals the generic draw-by-draw mask entry for entry,
    /// and leaves the generator where the generic one does (counts not a multiple of four too).
    @Test func splitMixMaskEqualsGenericMask() {
        /// SplitMix64 behind the generic `RandomNumberGenerator` path.
        struct Generic: RandomNumberGenerator { var inner: SplitMix64; mutating func next() -> UInt64 { inner.next() } }
        for p in [Float(0.1), 0.25, 0.5] {
            let d = Dropout(p: p)
            for count in [0, 1, 3, 4, 5, 13, 1000, 4099] {
                var fast = SplitMix64(seed: 42), slow = Generic(inner: SplitMix64(seed: 42))
                let a = d.mask(count: count, using: &fast), b = d.mask(count: count, using: &slow)
                #expect(a == b, "p \(p), count \(count)")
                #expect(fast == slow.inner, "generator state after \(count) entries")
                if count == 4099 { #expect(abs(Double(a.filter { $0 == 0 }.count) / 4099 - Double(p)) < 0.03) }
            }
        }
    }

    @Test func losses() {
        var rng = RNG(s: 7)
        let z = rng.array(3 * 4, 2), t = rng.array(3 * 4, 2)
        let labels = [1, 3, 0]
        func ce(_ z: [Double]) -> Double {
            var s = 0.0
            for b in 0..<3 {
                let row = Array(z[(b * 4)..<(b * 4 + 4)]); let m = row.max()!
                s += -(row[labels[b]] - m - Foundation.log(row.map { Foundation.exp($0 - m) }.reduce(0, +)))
            }
            return s / 3
        }
        let (l1, g1) = Loss.crossEntropy(logits: f32(z), labels: labels, classes: 4)
        #expect(abs(Double(l1) - ce(z)) < 1e-5)
        expectClose(g1, numericGrad(z, ce), "cross-entropy")
        let (l2, g2) = Loss.mse(f32(z), f32(t))
        let mse: ([Double]) -> Double = { p in zip(p, t).map { ($0 - $1) * ($0 - $1) }.reduce(0, +) / 12 }
        #expect(abs(Double(l2) - mse(z)) < 1e-5)
        expectClose(g2, numericGrad(z, mse), "mse")
        let T = 2.0
        func soft(_ s: [Double]) -> Double {
            var tot = 0.0
            for b in 0..<3 {
                let sr = s[(b * 4)..<(b * 4 + 4)].map { $0 / T }, tr = t[(b * 4)..<(b * 4 + 4)].map { $0 / T }
                let ms = sr.max()!, mt = tr.max()!
                let zs = sr.map { Foundation.exp($0 - ms) }.reduce(0, +), zt = tr.map { Foundation.exp($0 - mt) }.reduce(0, +)
                for c in 0..<4 { tot -= Foundation.exp(tr[c] - mt) / zt * (sr[c] - ms - Foundation.log(zs)) }
            }
            return tot / 3
        }
        let (l3, g3) = Loss.softCrossEntropy(student: f32(z), teacher: f32(t), classes: 4, temperature: Float(T))
        #expect(abs(Double(l3) - soft(z)) < 1e-5)
        expectClose(g3, numericGrad(z, soft), "soft cross-entropy")
        // Span cross-entropy: B 2, T 5, the second sequence padded after 3 tokens.
        let q = rng.array(2 * 5 * 2, 2), qmask: [Int32] = [1, 1, 1, 1, 1, 1, 1, 1, 0, 0]
        let starts = [3, 1], ends = [4, 2]
        func span(_ z: [Double]) -> Double {
            var tot = 0.0
            for b in 0..<2 {
                for (k, y) in [starts[b], ends[b]].enumerated() {
                    let real = (0..<5).filter { qmask[b * 5 + $0] != 0 }.map { z[(b * 5 + $0) * 2 + k] }
                    let m = real.max()!
                    tot += -(z[(b * 5 + y) * 2 + k] - m - Foundation.log(real.map { Foundation.exp($0 - m) }.reduce(0, +))) / 2
                }
            }
            return tot / 2
        }
        let (l4, g4) = Loss.spanCrossEntropy(logits: f32(q), mask: qmask, starts: starts, ends: ends)
        #expect(abs(Double(l4) - span(q)) < 1e-5)
        expectClose(g4, numericGrad(q, span), "span cross-entropy")
        #expect(g4[16...].allSatisfy { $0 == 0 })   // padded positions take no gradient
    }
}
