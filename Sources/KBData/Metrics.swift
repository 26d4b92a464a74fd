import Foundation

/// GLUE metrics, as scikit-learn / scipy define them.
public enum Metrics {
    public static func accuracy(_ pred: [Int], _ gold: [Int]) -> Double {
        guard !gold.isEmpty else { return 0 }
        return Double(zip(pred, gold).filter { $0 == $1 }.count) / Double(gold.count)
    }

    /// Binary F1 with class 1 positive (sklearn `f1_score`; 0 when there are no true positives).
    public static func f1(_ pred: [Int], _ gold: [Int]) -> Double {
        var tp = 0.0, fp = 0.0, fn = 0.0
        for (p, g) in zip(pred, gold) {
            if p == 1 && g == 1 { tp += 1 } else if p == 1 { fp += 1 } else if g == 1 { fn += 1 }
        }
        return tp == 0 ? 0 : 2 * tp / (2 * tp + fp + fn)
    }

    /// Matthews correlation (sklearn `matthews_corrcoef`; 0 when undefined), binary or multiclass.
    public static func matthews(_ pred: [Int], _ gold: [Int]) -> Double {
        let k = max((pred.max() ?? 0), (gold.max() ?? 0)) + 1
        var c = [[Double]](repeating: [Double](repeating: 0, count: k), count: k)
        for (p, g) in zip(pred, gold) { c[g][p] += 1 }
        let t = (0..<k).map { i in c[i].reduce(0, +) }           // true counts per class
        let p = (0..<k).map { j in (0..<k).map { c[$0][j] }.reduce(0, +) }  // predicted counts
        let s = Double(gold.count)
        let correct = (0..<k).map { c[$0][$0] }.reduce(0, +)
        let cov = correct * s - zip(t, p).map { $0 * $1 }.reduce(0, +)
        let denom = ((s * s - p.map { $0 * $0 }.reduce(0, +)) * (s * s - t.map { $0 * $0 }.reduce(0, +))).squareRoot()
        return denom == 0 ? 0 : cov / denom
    }

    public static func pearson(_ x: [Double], _ y: [Double]) -> Double {
        let n = Double(x.count)
        guard n > 1 else { return 0 }
        let mx = x.reduce(0, +) / n, my = y.reduce(0, +) / n
        var sxy = 0.0, sxx = 0.0, syy = 0.0
        for (a, b) in zip(x, y) { sxy += (a - mx) * (b - my); sxx += (a - mx) * (a - mx); syy += (b - my) * (b - my) }
        return sxx == 0 || syy == 0 ? 0 : sxy / (sxx * syy).squareRoot()
    }

    /// Spearman: Pearson of ranks, ties given their average rank (scipy `spearmanr`).
    public static func spearman(_ x: [Double], _ y: [Double]) -> Double { pearson(ranks(x), ranks(y)) }

    static func ranks(_ v: [Double]) -> [Double] {
        let order = v.indices.sorted { v[$0] < v[$1] }
        var r = [Double](repeating: 0, count: v.count)
        var i = 0
        while i < order.count {
            var j = i
            while j + 1 < order.count && v[order[j + 1]] == v[order[i]] { j += 1 }
            let avg = Double(i + j) / 2 + 1
            for k in i...j { r[order[k]] = avg }
            i = j + 1
        }
        return r
    }

    /// The task's metrics by name, main metric first (values in [0, 1] or [−1, 1], not percent).
    public static func evaluate(task: GlueTask, predictions: [Int], scores: [Float], examples: [Example]) -> [(String, Double)] {
        if task.isRegression {
            let gold = examples.map { Double($0.score ?? 0) }, pred = scores.map(Double.init)
            return [("spearman", spearman(pred, gold)), ("pearson", pearson(pred, gold))]
        }
        let gold = examples.map { $0.label ?? -1 }
        switch task {
        case .cola: return [("mcc", matthews(predictions, gold)), ("accuracy", accuracy(predictions, gold))]
        case .mrpc, .qqp: return [("f1", f1(predictions, gold)), ("accuracy", accuracy(predictions, gold))]
        default: return [("accuracy", accuracy(predictions, gold))]
        }
    }
}
