import SLMTensor
import SLMTestSupport
import XCTest

final class AttentionTests: XCTestCase {
    /// One attention problem: q [B, T, Hq, D], k and v [B, T, Hkv, D], a mask and dO.
    struct Case {
        var b, t, hq, hkv, d: Int
        var mask = AttentionMask()
        var name: String { "B=\(b) T=\(t) Hq=\(hq) Hkv=\(hkv) D=\(d) window=\(mask.slidingWindow.map(String.init) ?? "-") segments=\(mask.segments != nil)" }
        var scale: Float { 1 / Float(d).squareRoot() }

        func inputs(seed: UInt64) -> (q: Tensor, k: Tensor, v: Tensor, gradOut: Tensor) {
            (Tensor.uniform([b, t, hq, d], low: -2, high: 2, seed: seed, requiresGrad: true),
             Tensor.uniform([b, t, hkv, d], low: -2, high: 2, seed: seed + 1, requiresGrad: true),
             Tensor.uniform([b, t, hkv, d], seed: seed + 2, requiresGrad: true),
             Tensor.uniform([b, t, hq, d], seed: seed + 3))
        }
    }

    /// Packed samples: each batch row is cut into runs of the given lengths (repeated to fill T).
    static func segments(b: Int, t: Int, lengths: [Int]) -> [Int32] {
        var ids: [Int32] = []
        for _ in 0..<b {
            var id: Int32 = 0, filled = 0
            while filled < t {
                let n = min(lengths[Int(id) % lengths.count], t - filled)
                ids += repeatElement(id, count: n)
                filled += n
                id += 1
            }
        }
        return ids
    }

    static let cases: [Case] = [
        Case(b: 1, t: 1, hq: 1, hkv: 1, d: 8),
        Case(b: 2, t: 70, hq: 4, hkv: 2, d: 20),
        Case(b: 1, t: 64, hq: 2, hkv: 2, d: 16),
        Case(b: 1, t: 200, hq: 3, hkv: 1, d: 64),
        // T above the 256-key span: the top span, then an online-softmax span below it.
        Case(b: 1, t: 300, hq: 3, hkv: 1, d: 16),
        Case(b: 3, t: 130, hq: 2, hkv: 1, d: 16, mask: AttentionMask(slidingWindow: 37)),
        Case(b: 1, t: 150, hq: 2, hkv: 2, d: 8, mask: AttentionMask(slidingWindow: 1)),
        Case(b: 2, t: 100, hq: 6, hkv: 3, d: 12, mask: AttentionMask(segments: segments(b: 2, t: 100, lengths: [30, 5, 70, 1, 17]))),
        Case(b: 2, t: 140, hq: 2, hkv: 1, d: 24,
             mask: AttentionMask(slidingWindow: 50, segments: segments(b: 2, t: 140, lengths: [66, 3, 90]))),
        // Ids that repeat after other ids: a query still sees every earlier key with its id.
        Case(b: 1, t: 90, hq: 2, hkv: 1, d: 8, mask: AttentionMask(segments: (0..<90).map { Int32(($0 / 20) % 2) })),
    ]

    override func setUp() {
        savedThreads = Parallel.threads
        Parallel.setThreads(2)
    }

    override func tearDown() {
        Parallel.setThreads(savedThreads)
        SmallGemm.usesAVX512 = SmallGemm.isAvailable
    }

    private var savedThreads = 1

    // MARK: 1. fast kernel against the full-matrix Reference twin

    /// On `SmallGemm`'s AVX-512 kernel and, with it turned off, on OpenBLAS.
    func testForwardAndBackwardMatchReference() throws {
        for useAVX512 in SmallGemm.isAvailable ? [true, false] : [false] {
            SmallGemm.usesAVX512 = useAVX512
            try forwardAndBackwardMatchReference()
        }
    }

    private func forwardAndBackwardMatchReference() throws {
        for (n, c) in Self.cases.enumerated() {
            let (q, k, v, gradOut) = c.inputs(seed: UInt64(100 * n))
            let out = try Tensor.causalAttention(q: q, k: k, v: v, scale: c.scale, mask: c.mask)
            let expected = try Reference.causalAttention(q: q, k: k, v: v, scale: c.scale, mask: c.mask)
            assertClose(out, expected, tolerance: 2e-6, "out \(c.name)")
            try out.backward(seed: gradOut)
            let grads = try Reference.causalAttentionBackward(q: q, k: k, v: v, gradOut: gradOut, scale: c.scale, mask: c.mask)
            assertClose(try XCTUnwrap(q.grad), grads.dq, tolerance: 1e-5, "dq \(c.name)")
            assertClose(try XCTUnwrap(k.grad), grads.dk, tolerance: 1e-5, "dk \(c.name)")
            assertClose(try XCTUnwrap(v.grad), grads.dv, tolerance: 1e-5, "dv \(c.name)")
        }
    }

    func testSingleThreadMatchesReference() throws {
        Parallel.setThreads(1)
        let c = Self.cases[7]
        let (q, k, v, gradOut) = c.inputs(seed: 5)
        let out = try Tensor.causalAttention(q: q, k: k, v: v, scale: c.scale, mask: c.mask)
        assertClose(out, try Reference.causalAttention(q: q, k: k, v: v, scale: c.scale, mask: c.mask), tolerance: 2e-6, "out")
        try out.backward(seed: gradOut)
        let grads = try Reference.causalAttentionBackward(q: q, k: k, v: v, gradOut: gradOut, scale: c.scale, mask: c.mask)
        assertClose(try XCTUnwrap(q.grad), grads.dq, tolerance: 1e-5, "dq")
        assertClose(try XCTUnwrap(k.grad), grads.dk, tolerance: 1e-5, "dk")
        assertClose(try XCTUnwrap(v.grad), grads.dv, tolerance: 1e-5, "dv")
    }

    /// Only the inputs that require a gradient get one, and those are unchanged by the others' absence.
    func testGradientOnlyWhereRequired() throws {
        let c = Self.cases[1]
        let (q, k, v, gradOut) = c.inputs(seed: 9)
        q.requiresGrad = false
        k.requiresGrad = false
        let out = try Tensor.causalAttention(q: q, k: k, v: v, scale: c.scale)
        try out.backward(seed: gradOut)
        XCTAssertNil(q.grad)
        XCTAssertNil(k.grad)
        let grads = try Reference.causalAttentionBackward(q: q, k: k, v: v, gradOut: gradOut, scale: c.scale)
        assertClose(try XCTUnwrap(v.grad), grads.dv, tolerance: 1e-5, "dv")
    }

    // MARK: 2. PyTorch fixture (fixtures/make_attention.py)

    func testMatchesPyTorch() throws {
        let fixture = try Fixture("attention.json")
        for name in ["gqa_window_segments", "causal"] {
            let q = try fixture.tensor("\(name).q", requiresGrad: true)
            let k = try fixture.tensor("\(name).k", requiresGrad: true)
            let v = try fixture.tensor("\(name).v", requiresGrad: true)
            let window = Int(try fixture.values("\(name).window")[0])
            let segments = try fixture.values("\(name).segments").map { Int32($0) }
            let mask = AttentionMask(slidingWindow: window > 0 ? window : nil, segments: segments.isEmpty ? nil : segments)
            let scale = Float(try fixture.values("\(name).scale")[0])
            let out = try Tensor.causalAttention(q: q, k: k, v: v, scale: scale, mask: mask)
            assertClose(out, try fixture.tensor("\(name).out"), tolerance: 1e-5, "\(name) out")
            try out.backward(seed: try fixture.tensor("\(name).dout"))
            assertClose(try XCTUnwrap(q.grad), try fixture.tensor("\(name).dq"), tolerance: 1e-5, "\(name) dq")
            assertClose(try XCTUnwrap(k.grad), try fixture.tensor("\(name).dk"), tolerance: 1e-5, "\(name) dk")
            assertClose(try XCTUnwrap(v.grad), try fixture.tensor("\(name).dv"), tolerance: 1e-5, "\(name) dv")
        }
    }

    // MARK: 3. finite differences

    /// Float32 forward, central differences with ε = 1e-2: |analytic − numeric| ≤ 2e-3 + 1e-2·|numeric|.
    func testGradientCheck() throws {
        let tiny = [
            Case(b: 2, t: 5, hq: 2, hkv: 2, d: 3),
            Case(b: 1, t: 7, hq: 4, hkv: 2, d: 3, mask: AttentionMask(slidingWindow: 3, segments: [0, 0, 0, 0, 1, 1, 1])),
        ]
        for c in tiny {
            let (q, k, v, _) = c.inputs(seed: 42)
            let worst = try GradientCheck.check([q, k, v], epsilon: 1e-2, absolute: 2e-3, relative: 1e-2) { x in
                try Tensor.causalAttention(q: x[0], k: x[1], v: x[2], scale: 0.7, mask: c.mask)
            }
            XCTAssertLessThan(worst, 2e-3, c.name)
        }
    }

    // MARK: 4. bad input

    func testBadInputNamesOpAndShapes() throws {
        func expectError(_ q: [Int], _ k: [Int], _ v: [Int], mask: AttentionMask = .init(), mentioning: String, line: UInt = #line) {
            XCTAssertThrowsError(
                try Tensor.causalAttention(q: Tensor.zeros(q), k: Tensor.zeros(k), v: Tensor.zeros(v), scale: 1, mask: mask), line: line
            ) { error in
                guard let e = error as? TensorError else { return XCTFail("not a TensorError: \(error)", line: line) }
                XCTAssertEqual(e.op, "causalAttention", line: line)
                XCTAssertTrue(e.message.contains("\(q)"), "message lacks q shape: \(e)", line: line)
                XCTAssertTrue(e.message.contains(mentioning), "message lacks '\(mentioning)': \(e)", line: line)
            }
        }
        expectError([2, 8, 4, 16], [2, 8, 2, 16], [2, 8, 2, 8], mentioning: "k and v")
        expectError([2, 8, 4, 16], [2, 9, 2, 16], [2, 9, 2, 16], mentioning: "disagree")
        expectError([2, 8, 4, 16], [2, 8, 2, 8], [2, 8, 2, 8], mentioning: "disagree")
        expectError([8, 4, 16], [8, 2, 16], [8, 2, 16], mentioning: "[B, T, Hq, D]")
        expectError([2, 8, 4, 16], [2, 8, 3, 16], [2, 8, 3, 16], mentioning: "not a multiple")
        expectError([2, 0, 4, 16], [2, 0, 2, 16], [2, 0, 2, 16], mentioning: "non-zero")
        expectError([2, 8, 4, 0], [2, 8, 2, 0], [2, 8, 2, 0], mentioning: "non-zero")
        expectError([2, 8, 4, 16], [2, 8, 2, 16], [2, 8, 2, 16], mask: AttentionMask(segments: [0, 0, 0]), mentioning: "segments has 3")
        expectError([2, 8, 4, 16], [2, 8, 2, 16], [2, 8, 2, 16], mask: AttentionMask(slidingWindow: 0), mentioning: "window")
    }

    // MARK: 5. determinism

    func testTwoThreadsAreBitwiseReproducible() throws {
        for c in [Case(b: 1, t: 300, hq: 3, hkv: 1, d: 32), Case(b: 2, t: 130, hq: 4, hkv: 2, d: 64, mask: AttentionMask(slidingWindow: 50, segments: Self.segments(b: 2, t: 130, lengths: [66, 3, 90])))] {
            var runs: [[[Float]]] = []
            for _ in 0..<2 {
                let (q, k, v, gradOut) = c.inputs(seed: 77)
                let out = try Tensor.causalAttention(q: q, k: k, v: v, scale: c.scale, mask: c.mask)
                try out.backward(seed: gradOut)
                runs.append([out.scalars, try XCTUnwrap(q.grad).scalars, try XCTUnwrap(k.grad).scalars, try XCTUnwrap(v.grad).scalars])
            }
            for (a, b) in zip(runs[0], runs[1]) {
                XCTAssertTrue(a.map(\.bitPattern) == b.map(\.bitPattern), c.name)
            }
        }
    }
}
