/// Factor shapes of W (m × n) ≈ Σ_k A_k ⊗ B_k with A_k (m1 × n1), B_k (m2 × n2).
public struct KroneckerShape: Sendable, Equatable, Codable, Hashable {
    public var m1: Int, n1: Int, m2: Int, n2: Int
    public init(m1: Int, n1: Int, m2: Int, n2: Int) { self.m1 = m1; self.n1 = n1; self.m2 = m2; self.n2 = n2 }

    /// The shape for a matrix `rows × cols` with A of shape `m1 × n1` (B's shape follows), or nil
    /// when A's shape does not divide the matrix.
    public init?(rows: Int, cols: Int, m1: Int, n1: Int) {
        guard m1 > 0, n1 > 0, rows % m1 == 0, cols % n1 == 0 else { return nil }
        self.init(m1: m1, n1: n1, m2: rows / m1, n2: cols / n1)
    }

    public var rows: Int { m1 * m2 }
    public var cols: Int { n1 * n2 }
    public var maxRank: Int { min(m1 * n1, m2 * n2) }
    /// The highest matrix rank Σ_{k<r} A_k ⊗ B_k can have: rank(A ⊗ B) = rank(A)·rank(B), capped
    /// by the matrix's own sides. A B with one column (n2 = 1) repeats A's rows m2 times, scaled:
    /// rank ≤ m1, however many parameters A has.
    public func rankBound(terms r: Int) -> Int { min(r * min(m1, n1) * min(m2, n2), min(rows, cols)) }
    /// Stored floats for rank r (bias excluded).
    public func parameters(rank r: Int) -> Int { r * (m1 * n1 + m2 * n2) }
}

