/// Vectorized transcendental functions used by the kernels.
///
/// `vexp` is Cephes' `expf` (range reduction by ln 2, degree-6 polynomial; ~1 ulp on [-87, 88]).
/// `verf` is Abramowitz & Stegun 7.1.26 refined to float accuracy for small |x| by a Taylor/
/// series branch: max absolute error below 4e-7 (A&S bound 1.5e-7 plus float rounding; checked
/// against Double `erf` in the tests).
public typealias V16 = SIMD16<Float>

@inlinable @inline(__always)
public func vexp(_ x0: V16) -> V16 {
    let x = x0.clamped(lowerBound: V16(repeating: -87.33654), upperBound: V16(repeating: 88.72283))
    var n = (x * 1.44269504088896341).rounded(.toNearestOrEven)
    var r = x - n * 0.693359375
    r = r + n * 2.12194440e-4
    let r2 = r * r
    var p = V16(repeating: 1.9875691500e-4)
    p = p * r + 1.3981999507e-3
    p = p * r + 8.3334519073e-3
    p = p * r + 4.1665795894e-2
    p = p * r + 1.6666665459e-1
    p = p * r + 5.0000001201e-1
    p = p * r2 + r + 1
    // Scale by 2^n, split in two steps so that n = 128 (x near 88.7) does not overflow the exponent.
    n = n.clamped(lowerBound: V16(repeating: -126), upperBound: V16(repeating: 128))
    let half = (n * 0.5).rounded(.down)
    let rest = n - half
    let s1 = unsafeBitCast((SIMD16<Int32>(half) &+ 127) &<< 23, to: V16.self)
    let s2 = unsafeBitCast((SIMD16<Int32>(rest) &+ 127) &<< 23, to: V16.self)
    let out = p * s1 * s2
    // exp(-inf) and very negative inputs underflow to exactly 0 as in libm.
    return out.replacing(with: 0, where: x0 .< -87.33654)
}

@inlinable @inline(__always)
public func verf(_ x: V16) -> V16 {
    let a = x.replacing(with: -x, where: x .< 0)
    let s = x * x
    // |x| < 0.5: odd Taylor series, coefficients 2/sqrt(pi) * (-1)^k / (k! (2k+1)); error < 1e-9.
    var q = V16(repeating: 0.00012055332981789664)
    q = q * s - 0.00085483270234508528
    q = q * s + 0.0052239776254421878
    q = q * s - 0.026866170645131252
    q = q * s + 0.11283791670955126
    q = q * s - 0.37612638903183754
    q = q * s + 1.1283791670955126
    let small = x * q
    // |x| >= 0.5: Abramowitz & Stegun 7.1.26 (absolute error <= 1.5e-7).
    let t = 1 / (1 + 0.3275911 * a)
    var p = V16(repeating: 1.061405429)
    p = p * t - 1.453152027
    p = p * t + 1.421413741
    p = p * t - 0.284496736
    p = p * t + 0.254829592
    p = p * t
    let big = 1 - p * vexp(-s)
    let signed = big.replacing(with: -big, where: x .< 0)
    return signed.replacing(with: small, where: a .< 0.5)
}
