extension FastMath {
    /// Vectorised natural log (Cephes logf: x = m · 2^e with m in [√½, √2), a degree-9
    /// polynomial in m − 1, e · ln 2 added in two parts). Within 2 ulp of `Foundation.log`
    /// for positive normal x (≥ 1.18e-38); callers keep x out of zero, denormals, Inf and NaN.
    @inline(__always)
    public static func log(_ x: Vector) -> Vector {
        let bits = unsafeBitCast(x, to: SIMD16<Int32>.self)
        var e = Vector((bits &>> 23) & 0xff) - 126
        var m = unsafeBitCast((bits & 0x007f_ffff) | 0x3f00_0000, to: Vector.self)  // in [0.5, 1)
        let low = m .< 0.707106781186547524
        e = e.replacing(with: e - 1, where: low)
        m = m.replacing(with: m + m, where: low) - 1
        let z = m * m
        var y = Vector(repeating: 7.0376836292e-2)
        y = y * m - 1.1514610310e-1
        y = y * m + 1.1676998740e-1
        y = y * m - 1.2420140846e-1
        y = y * m + 1.4249322787e-1
        y = y * m - 1.6668057665e-1
        y = y * m + 2.0000714765e-1
        y = y * m - 2.4999993993e-1
        y = y * m + 3.3333331174e-1
        y = y * m * z
        y += e * -2.12194440e-4
        y += z * -0.5
        return (m + y) + e * 0.693359375
    }
}
