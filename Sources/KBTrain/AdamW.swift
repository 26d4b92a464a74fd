import CKBKernels
import Foundation
import KBBert
import KBTensor

/// AdamW with decoupled weight decay (PyTorch's `torch.optim.AdamW`), over one flat parameter
/// block: the whole update is a single pass.
///
/// For each parameter θ with gradient g at step t (1-based):
///   θ ← θ − lr·wd·θ            (only where `decayMask` is 1: not biases, not LayerNorm)
///   m ← β₁m + (1−β₁)g,  v ← β₂v + (1−β₂)g²
///   θ ← θ − lr · (m / (1−β₁ᵗ)) / (√(v / (1−β₂ᵗ)) + ε)
public struct AdamW: Sendable {
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var eps: Float = 1e-8
    public var weightDecay: Float = 0.01
    public private(set) var step = 0
    public var m: [Float]
    public var v: [Float]
    /// 1 where weight decay applies.
    public let decayMask: [UInt8]

    public init(count: Int, decayMask: [UInt8], weightDecay: Float = 0.01, beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8) {
        precondition(decayMask.count == count)
        m = [Float](repeating: 0, count: count)
        v = m
        self.decayMask = decayMask
        self.weightDecay = weightDecay
        self.beta1 = beta1; self.beta2 = beta2; self.eps = eps
    }

    /// AdamW over every parameter of `params`, with no decay on biases and LayerNorms.
    public init(parameters params: ParameterStore, weightDecay: Float = 0.01) {
        let entries = params.entries.map { (name: $0.name, offset: $0.ref.offset, count: $0.ref.count) }
        self.init(count: params.count, decayMask: AdamW.decayMask(entries: entries, total: params.count), weightDecay: weightDecay)
    }

    /// Decay mask for named parameters: no decay on biases and LayerNorm weights (HF's convention).
    public static func decayMask(entries: [(name: String, offset: Int, count: Int)], total: Int) -> [UInt8] {
        var mask = [UInt8](repeating: 0, count: total)
        for e in entries where !(e.name.hasSuffix(".bias") || e.name.contains("LayerNorm")) {
            for i in e.offset..<(e.offset + e.count) { mask[i] = 1 }
        }
        return mask
    }

    /// Restores the state of a checkpoint.
    public mutating func restore(step: Int, m: [Float], v: [Float]) {
        precondition(m.count == self.m.count && v.count == self.v.count)
        self.step = step; self.m = m; self.v = v
    }

    /// One update with learning rate `lr`.
    public mutating func update(params: inout [Float], grads: [Float], lr: Float) {
        step += 1
        let bc1 = 1 - powf(beta1, Float(step)), bc2 = 1 - powf(beta2, Float(step))
        let b1 = beta1, b2 = beta2, e = eps, wd = weightDecay, stepSize = lr / bc1, sqrtBc2 = bc2.squareRoot()
        let n = params.count
        params.withUnsafeMutableBufferPointer { p in
            m.withUnsafeMutableBufferPointer { mp in
                v.withUnsafeMutableBufferPointer { vp in
                    grads.withUnsafeBufferPointer { g in
                        decayMask.withUnsafeBufferPointer { dm in
                            let P = p.baseAddress!, M = mp.baseAddress!, V = vp.baseAddress!, Gr = g.baseAddress!, D = dm.baseAddress!
                            parallelChunks(n, minPerThread: 65536) { r in
                                let o = r.lowerBound
                                kb_adamw(P + o, Gr + o, M + o, V + o, D + o, r.count, lr, wd, b1, b2, e, stepSize, sqrtBc2)
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Linear warm-up from 0 to `peak` over `warmup` steps, then linear decay to 0 at `total`
/// (HF's `get_linear_schedule_with_warmup`; `step` is the number of updates already done).
public struct LinearSchedule: Sendable, Codable, Equatable {
    public var peak: Float, warmup: Int, total: Int
    public init(peak: Float, warmup: Int, total: Int) { self.peak = peak; self.warmup = warmup; self.total = total }
    public func lr(step: Int) -> Float {
        if step < warmup { return peak * Float(step) / Float(max(1, warmup)) }
        return peak * max(0, Float(total - step) / Float(max(1, total - warmup)))
    }
}

/// Global-norm clipping (PyTorch's `clip_grad_norm_`): scales g by max/(‖g‖+1e-6) when ‖g‖ > max.
/// Returns the norm before clipping.
@discardableResult
public func clipGradNorm(_ g: inout [Float], maxNorm: Float) -> Float {
    let s = g.withUnsafeBufferPointer { kb_sumsq($0.baseAddress!, $0.count) }
    let norm = Float(s.squareRoot())
    let coef = maxNorm / (norm + 1e-6)
    if coef < 1 { g.withUnsafeMutableBufferPointer { kb_scale($0.baseAddress!, coef, $0.count) } }
    return norm
}
