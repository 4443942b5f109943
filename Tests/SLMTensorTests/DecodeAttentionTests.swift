import SLMTensor
import SLMTestSupport
import XCTest

final class DecodeAttentionTests: XCTestCase {
    /// N new queries at positions start..<start+N against a cache of maxT rows.
    struct Case {
        var n, start, hq, hkv, d: Int
        var maxT: Int { start + n + 3 }
        var name: String { "N=\(n) start=\(start) Hq=\(hq) Hkv=\(hkv) D=\(d)" }
        var scale: Float { 1 / Float(d).squareRoot() }

        func inputs(seed: UInt64) -> (q: Tensor, keys: Tensor, values: Tensor) {
            (Tensor.uniform([n, hq, d], low: -2, high: 2, seed: seed),
             Tensor.uniform([maxT, hkv, d], low: -2, high: 2, seed: seed + 1),
             Tensor.uniform([maxT, hkv, d], seed: seed + 2))
        }
    }

    static let cases: [Case] = [
        Case(n: 1, start: 0, hq: 1, hkv: 1, d: 8),
        Case(n: 1, start: 300, hq: 9, hkv: 3, d: 64),      // a SmolLM2 decoding step, on both workers
        Case(n: 1, start: 12, hq: 4, hkv: 2, d: 20),       // D not a multiple of the SIMD width
        Case(n: 5, start: 37, hq: 6, hkv: 3, d: 16),       // short tiles, row by row
        Case(n: 70, start: 0, hq: 4, hkv: 2, d: 24),       // prefill: sgemm tiles, the last one short
        Case(n: 130, start: 50, hq: 3, hkv: 1, d: 64),     // prefill after a cached prefix
        Case(n: 9, start: 600, hq: 2, hkv: 2, d: 12),      // one sgemm tile of 9 rows
    ]

    override func setUp() {
        savedThreads = Parallel.threads
        Parallel.setThreads(2)
    }

    override func tearDown() { Parallel.setThreads(savedThreads) }

    private var savedThreads = 1

    func testMatchesReferenceTwin() throws {
        for (n, c) in Self.cases.enumerated() {
            let (q, keys, values) = c.inputs(seed: UInt64(10 * n))
            let fast = try Tensor.decodeAttention(q: q, keys: keys, values: values, start: c.start, scale: c.scale)
            let slow = try Reference.decodeAttention(q: q, keys: keys, values: values, start: c.start, scale: c.scale)
            assertClose(fast, slow, tolerance: 2e-5, c.name)
        }
    }

    /// With a sliding window, against the twin and against causalAttention's own window: row by row
    /// (decoding) and in sgemm tiles (prefill) whose rows start at different keys.
    func testSlidingWindowMatchesReferenceAndCausalAttention() throws {
        for (n, c) in [Case(n: 1, start: 40, hq: 4, hkv: 2, d: 16), Case(n: 5, start: 9, hq: 2, hkv: 1, d: 20), Case(n: 70, start: 0, hq: 4, hkv: 2, d: 24)].enumerated() {
            for window in [1, 7, 64] {
                let (q, keys, values) = c.inputs(seed: UInt64(100 + 10 * n))
                let fast = try Tensor.decodeAttention(q: q, keys: keys, values: values, start: c.start, scale: c.scale, slidingWindow: window)
                let slow = try Reference.decodeAttention(q: q, keys: keys, values: values, start: c.start, scale: c.scale, slidingWindow: window)
                assertClose(fast, slow, tolerance: 2e-5, "\(c.name) window \(window)")
                guard c.start == 0 else { continue }
                let k = try Tensor(Array(keys.scalars.prefix(c.n * c.hkv * c.d)), shape: [1, c.n, c.hkv, c.d])
                let v = try Tensor(Array(values.scalars.prefix(c.n * c.hkv * c.d)), shape: [1, c.n, c.hkv, c.d])
                let full = try Tensor.causalAttention(q: q.reshaped([1, c.n, c.hq, c.d]), k: k, v: v, scale: c.scale, mask: AttentionMask(slidingWindow: window))
                assertClose(try fast.reshaped(full.shape), full, tolerance: 2e-5, "\(c.name) window \(window) against causalAttention")
            }
        }
    }

    /// Prefill into an empty cache is plain causal attention.
    func testPrefillFromEmptyCacheEqualsCausalAttention() throws {
        let c = Case(n: 100, start: 0, hq: 6, hkv: 2, d: 32)
        let (q, keys, values) = c.inputs(seed: 5)
        let k = try Tensor(Array(keys.scalars.prefix(c.n * c.hkv * c.d)), shape: [1, c.n, c.hkv, c.d])
        let v = try Tensor(Array(values.scalars.prefix(c.n * c.hkv * c.d)), shape: [1, c.n, c.hkv, c.d])
        let full = try Tensor.causalAttention(q: q.reshaped([1, c.n, c.hq, c.d]), k: k, v: v, scale: c.scale)
        let cached = try Tensor.decodeAttention(q: q, keys: keys, values: values, start: 0, scale: c.scale)
        assertClose(try cached.reshaped(full.shape), full, tolerance: 2e-5, c.name)
    }

    /// Feeding one token at a time gives the rows of one many-token call.
    func testTokenByTokenEqualsOneCall() throws {
        let c = Case(n: 40, start: 7, hq: 4, hkv: 1, d: 16)
        let (q, keys, values) = c.inputs(seed: 9)
        let all = try Tensor.decodeAttention(q: q, keys: keys, values: values, start: c.start, scale: c.scale)
        let width = c.hq * c.d
        for i in 0..<c.n {
            let qi = try Tensor(Array(q.scalars[(i * width)..<((i + 1) * width)]), shape: [1, c.hq, c.d])
            let one = try Tensor.decodeAttention(q: qi, keys: keys, values: values, start: c.start + i, scale: c.scale)
            let row = try Tensor(Array(all.scalars[(i * width)..<((i + 1) * width)]), shape: [1, c.hq, c.d])
            assertClose(one, row, tolerance: 1e-5, "token \(i)")
        }
    }

    func testSameResultOnOneAndTwoThreads() throws {
        for c in Self.cases {
            let (q, keys, values) = c.inputs(seed: 3)
            Parallel.setThreads(1)
            let one = try Tensor.decodeAttention(q: q, keys: keys, values: values, start: c.start, scale: c.scale)
            Parallel.setThreads(2)
            let two = try Tensor.decodeAttention(q: q, keys: keys, values: values, start: c.start, scale: c.scale)
            XCTAssertEqual(one.scalars, two.scalars, c.name)
        }
    }

    func testErrorsNameTheProblem() {
        let q = Tensor.zeros([2, 4, 8]), cache = Tensor.zeros([10, 2, 8])
        XCTAssertThrowsError(try Tensor.decodeAttention(q: q, keys: cache, values: cache, start: 9, scale: 1)) { error in
            XCTAssertTrue("\(error)".contains("do not fit a cache of 10 rows"), "\(error)")
        }
        XCTAssertThrowsError(try Tensor.decodeAttention(q: Tensor.zeros([2, 3, 8]), keys: cache, values: cache, start: 0, scale: 1))
        let trained = Tensor.zeros([1, 4, 8], requiresGrad: true)
        XCTAssertThrowsError(try Tensor.decodeAttention(q: trained, keys: cache, values: cache, start: 0, scale: 1)) { error in
            XCTAssertTrue("\(error)".contains("no backward"), "\(error)")
        }
        XCTAssertNoThrow(try GradMode.withoutGrad { try Tensor.decodeAttention(q: trained, keys: cache, values: cache, start: 0, scale: 1) })
    }
}
