import Foundation
import SLMTraining

/// Writing and reading a teacher cache of top-k entries: `tokens` positions in samples of
/// `sampleTokens`, synthetic ids and sorted log-probabilities drawn from a fixed seed (the same
/// recipe as benchmarks/teacher-cache/h5py_cache.py, which times h5py on the same layout).
public enum TeacherCacheBenchmark {
    public struct Result: Sendable {
        public var tokens: Int
        public var k: Int
        public var fileBytes: Int
        public var writeSeconds: Double
        public var readSeconds: Double
    }

    public static func run(path: String, tokens: Int = 1_000_000, k: Int = 20, sampleTokens: Int = 500) throws -> Result {
        for file in [path, path + ".lock"] { try? FileManager.default.removeItem(atPath: file) }
        var state: UInt64 = 0x5eed
        func next() -> UInt64 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return state >> 33
        }
        let samples = (0..<tokens / sampleTokens).map { _ -> TeacherScores in
            let ids = (0..<sampleTokens).map { _ in Int32(next() % 49_152) }
            var top: [Int32] = [], logprobs: [Float] = []
            for _ in 0..<sampleTokens {
                var lp: Float = -Float(next() % 1000) / 1000
                for _ in 0..<k {
                    top.append(Int32(next() % 49_152))
                    logprobs.append(lp)
                    lp -= Float(next() % 1000) / 500
                }
            }
            return TeacherScores(tokenIDs: ids, k: k, topTokenIDs: top, topLogProbs: logprobs)
        }
        let attributes = TeacherCacheAttributes(teacher: "benchmark", tokenizer: "benchmark", k: k, temperature: 1, source: "benchmark")
        let writeSeconds = try seconds {
            let writer = try TeacherCacheWriter(path: path, attributes: attributes)
            for s in samples { try writer.append(s) }
            try writer.close()
        }
        var readTokens = 0
        let readSeconds = try seconds {
            let cache = try TeacherCache(path: path)
            let scores = try cache.scores(at: Array(cache.entries.indices))
            readTokens = scores.reduce(0) { $0 + $1.tokenIDs.count }
        }
        precondition(readTokens == samples.count * sampleTokens, "read back \(readTokens) tokens")
        let bytes = (try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        for file in [path, path + ".lock"] { try? FileManager.default.removeItem(atPath: file) }
        return Result(tokens: readTokens, k: k, fileBytes: bytes, writeSeconds: writeSeconds, readSeconds: readSeconds)
    }
}
