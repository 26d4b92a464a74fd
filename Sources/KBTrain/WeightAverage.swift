import Foundation

/// An exponential moving average of the weights (Polyak averaging), the model that a run with
/// `FineTuneConfig.averageDecay` evaluates and keeps. After each optimizer update t (1-based,
/// counted from the average's start):
///
///   d_t = min(decay, (1 + t) / (10 + t)),   ā ← d_t · ā + (1 − d_t) · θ
///
/// The ramp (TensorFlow's `ExponentialMovingAverage` with `num_updates`) keeps the first
/// updates from being dominated by the starting weights: d_1 = 2/11, and d_t reaches 0.99 at
/// t = 881. The average starts from the weights it is given (`restart`), at the run's start and
/// where the objective changes (the two-phase switch).
public struct WeightAverage: Sendable {
    public let decay: Float
    /// Updates since the last restart.
    public private(set) var updates: Int
    public private(set) var values: [Float]

    public init(decay: Float, start: [Float], updates: Int = 0) {
        self.decay = decay; self.values = start; self.updates = updates
    }

    /// The decay of update t (1-based).
    public static func decay(_ decay: Float, update t: Int) -> Float {
        min(decay, Float(1 + t) / Float(10 + t))
    }

    public mutating func restart(from params: [Float]) {
        values = params; updates = 0
    }

    public mutating func update(_ params: [Float]) {
        precondition(params.count == values.count)
        updates += 1
        let d = WeightAverage.decay(decay, update: updates), e = 1 - d
        values.withUnsafeMutableBufferPointer { a in
            params.withUnsafeBufferPointer { p in
                for i in 0..<a.count { a[i] = d * a[i] + e * p[i] }
            }
        }
    }
}
