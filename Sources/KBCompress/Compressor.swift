import Foundation
import KBBert
import KBLayers
import KBTensor

/// One factored matrix of a student.
public struct LayerReport: Sendable {
    public var name: String
    public var spec: KroneckerSpec
    public var denseParameters: Int
    /// ‖W − Σ A_k ⊗ B_k‖_F / ‖W‖_F against the teacher.
    public var relativeError: Double
}

/// Builds students from teachers by the nearest Kronecker product.
public enum Compressor {
    /// A student of `teacher` with the matrices of `specs` factored (nearest Kronecker product,
    /// optimal in Frobenius norm); every other parameter is copied. `rowWeights` names matrices
    /// fitted by a row-weighted nearest Kronecker product instead (see `NearestKronecker.decompose`;
    /// e.g. the word embedding weighted by token frequency).
    public static func compress(_ teacher: BertModel, specs: [String: KroneckerSpec],
                                rowWeights: [String: [Float]] = [:]) throws(CompressionError) -> (student: BertModel, report: [LayerReport]) {
        for name in rowWeights.keys where specs[name] == nil {
            throw .plan("row weights given for '\(name)', which the plan does not factor")
        }
        guard teacher.kronecker.isEmpty else { throw .plan("the model is already compressed; compress the dense teacher") }
        var cfg = teacher.config
        cfg.kronecker = specs
        var student = BertModel(config: cfg, pooler: teacher.pooler != nil, head: teacher.head, kronecker: specs)
        for (name, ref) in student.params.entries {
            if let tref = teacher.params.ref(name), tref.shape == ref.shape {
                student.params.set(ref, teacher.params.values(tref))
            }
        }
        var report: [LayerReport] = []
        for name in specs.keys.sorted(by: modelOrder) {
            let spec = specs[name]!
            guard let wref = teacher.params.ref(name + ".weight") else { throw .plan("teacher has no matrix '\(name).weight'") }
            let w = teacher.params.values(wref)
            let d = try fit(w, name: name, spec: spec, rowWeights: rowWeights[name], into: &student)
            let norm = w.map { Double($0) * Double($0) }.reduce(0, +).squareRoot()
            report.append(LayerReport(name: name, spec: spec, denseParameters: w.count,
                                      relativeError: norm > 0 ? Double(d.residual) / norm : 0))
        }
        return (student, report)
    }

    /// Copies into `student` every parameter of `teacher` whose name starts with one of
    /// `prefixes`. A matrix the student holds as Kronecker factors and the teacher densely (e.g. a
    /// pooler factored by `CompressionPlan.poolerRank`, filled from a fine-tuned dense teacher) is
    /// fitted by the nearest Kronecker product of the student's spec; matching factors are copied.
    public static func transfer(from teacher: BertModel, to student: inout BertModel, prefixes: [String]) throws(CompressionError) {
        var fitted: Set<String> = []
        for (name, ref) in student.params.entries where prefixes.contains(where: { name.hasPrefix($0) }) {
            if let r = teacher.params.ref(name), r.count == ref.count {
                student.params.set(ref, teacher.params.values(r))
                continue
            }
            let base = name.hasSuffix(".kron_a") || name.hasSuffix(".kron_b") ? String(name.dropLast(7)) : nil
            guard let base, let spec = student.kronecker[base], let wref = teacher.params.ref(base + ".weight"),
                  wref.count == spec.shape.rows * spec.shape.cols else {
                throw .plan("\(name): missing or of another size in the teacher")
            }
            guard !fitted.contains(base) else { continue }
            _ = try fit(teacher.params.values(wref), name: base, spec: spec, rowWeights: nil, into: &student)
            fitted.insert(base)
        }
    }

    /// Sets `student`'s factors of matrix `name` to the nearest Kronecker product of `w`.
    static func fit(_ w: [Float], name: String, spec: KroneckerSpec, rowWeights: [Float]?,
                    into student: inout BertModel) throws(CompressionError) -> NearestKronecker.Result {
        let d = try NearestKronecker.decompose(w, shape: spec.shape, rank: spec.rank, name: name, rowWeights: rowWeights)
        guard let aref = student.params.ref(name + ".kron_a"), let bref = student.params.ref(name + ".kron_b") else {
            throw .plan("student has no factors for '\(name)'")
        }
        student.params.set(aref, d.a.flatMap { $0 })
        student.params.set(bref, d.b.flatMap { $0 })
        return d
    }

    /// ‖W − Σ A⊗B‖ / ‖W‖ for every factored matrix of `student` against `teacher`, computed from
    /// the factors without forming A ⊗ B: ‖W‖² − 2⟨R(W), Σ a_k b_kᵀ⟩ + ‖Σ a_k b_kᵀ‖².
    public static func relativeErrors(student: BertModel, teacher: BertModel) throws(CompressionError) -> [(String, Double)] {
        var out: [(String, Double)] = []
        for name in student.kronecker.keys.sorted(by: modelOrder) {
            let spec = student.kronecker[name]!
            guard let wref = teacher.params.ref(name + ".weight"), wref.count == spec.shape.rows * spec.shape.cols,
                  let aref = student.params.ref(name + ".kron_a"), let bref = student.params.ref(name + ".kron_b") else {
                throw .plan("teacher and student do not match at '\(name)'")
            }
            let w = teacher.params.values(wref), a = student.params.values(aref), b = student.params.values(bref)
            let rw = w.withUnsafeBufferPointer { NearestKronecker.rearrange($0.baseAddress!, spec.shape) }
            let err = NearestKronecker.residual(rearranged: rw, p: spec.shape.m1 * spec.shape.n1, q: spec.shape.m2 * spec.shape.n2,
                                                a: a, b: b, rank: spec.rank)
            let ww = w.reduce(0.0) { $0 + Double($1) * Double($1) }
            out.append((name, ww > 0 ? err / ww.squareRoot() : 0))
        }
        return out
    }

    /// Orders "encoder.layer.10.x" after "encoder.layer.9.x".
    static func modelOrder(_ a: String, _ b: String) -> Bool {
        a.compare(b, options: .numeric) == .orderedAscending
    }
}

extension BertModel {
    /// Forward FLOPs of the encoder's linear layers for one sequence (paper convention), with
    /// factored matrices counted at their contraction cost.
    public func encoderLinearFLOPs(seqLen T: Int = 128) -> Double {
        encoderLinears.reduce(0) { acc, e in
            if let k = e.ref.kron { return acc + k.layer.flops(tokens: T) }
            return acc + 2 * Double(T) * Double(e.ref.inFeatures) * Double(e.ref.outFeatures)
        }
    }

    /// Parameters of the same config without any factoring (for compression factors).
    public var denseParameterCount: Int {
        parameterCount + kronecker.values.reduce(0) { $0 + $1.shape.rows * $1.shape.cols - $1.parameters }
    }
}
