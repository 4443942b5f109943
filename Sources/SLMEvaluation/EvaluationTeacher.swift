import Foundation
import SLMModel
import SLMTraining

/// The teacher cache of `slm eval --teacher-cache` (docs/teacher-cache.md): its entries for
/// the samples the evaluator scores, found by their token ids. The held-out samples get there
/// with `slm teacher RECIPE --split heldout`, or at the end of `slm train`.
public struct EvaluationTeacher: Sendable {
    public let cache: TeacherCache

    /// Opens the cache; a file that is not one is an error for the whole report.
    public init(path: String) throws {
        do {
            cache = try TeacherCache(path: path)
        } catch {
            throw EvaluationError("--teacher-cache \(error)")
        }
        guard cache.attributes.source != TeacherCacheAttributes.teacherWritten else {
            throw EvaluationError(
                "--teacher-cache \(path) holds the teacher's own replies (source \(TeacherCacheAttributes.teacherWritten)), not its scores of the held-out text: "
                    + "agreement needs a cache of scored text (a local teacher, or an API teacher in mode echo, with slm teacher RECIPE --split heldout)")
        }
    }

    /// The cache's ids are those of one tokenizer: a model with another cannot be compared.
    public func check(_ tokenizer: BPETokenizer) throws {
        let fingerprint = tokenizer.fingerprint
        guard fingerprint == cache.attributes.tokenizer else {
            throw EvaluationError(
                "the teacher cache \(cache.path) holds token ids of another tokenizer (\(cache.attributes.tokenizer)) than this model's (\(fingerprint)): no agreement with the teacher for this column")
        }
    }

    /// Each sample's teacher scores, nil where the cache has none (or, after a key collision,
    /// an entry for other tokens).
    public func lookup(_ samples: [TokenizedSample]) throws -> [TeacherScores?] {
        var found: [(sample: Int, entry: Int)] = []
        for (n, sample) in samples.enumerated() {
            if let entry = cache.entryIndex(of: TeacherCacheFile.key(of: sample.ids)) { found.append((n, entry)) }
        }
        let scores: [TeacherScores]
        do {
            scores = try cache.scores(at: found.map(\.entry))
        } catch {
            throw EvaluationError("--teacher-cache \(error)")
        }
        var result = [TeacherScores?](repeating: nil, count: samples.count)
        for (slot, scores) in zip(found, scores) where scores.tokenIDs == samples[slot.sample].ids { result[slot.sample] = scores }
        return result
    }

    /// The teacher column: the cache's own figures on the held-out references (`samples`, from
    /// the records `owners` names, `teachers` their entries), for `records` records. Row t of an
    /// entry predicts token t + 1: its top-1 says whether the teacher gets the token right; the
    /// token's log-probability is known only when it is among the k ids.
    public func column(
        name: String, samples: [TokenizedSample], owners: [Int], teachers: [TeacherScores?], records: Int, bootstrap: Bootstrap
    ) throws -> ModelColumn {
        var column = ModelColumn(name: name, path: cache.path, adapter: nil)
        column.files = [.init(path: cache.path, sha256: try SHA256.hex(file: cache.path))]
        var perRecord = [CacheCounts](repeating: CacheCounts(), count: records)
        var missing = Set<Int>()
        for (n, sample) in samples.enumerated() {
            guard let teacher = teachers[n] else {
                missing.insert(owners[n])
                continue
            }
            perRecord[owners[n]].add(Self.counts(sample, teacher))
        }
        let total = perRecord.reduce(CacheCounts()) { $0.adding($1) }
        let accuracyInterval = bootstrap.interval(count: records) { indices in
            let picked = indices.reduce(CacheCounts()) { $0.adding(perRecord[$1]) }
            return Double(picked.correct) / Double(picked.targets)
        }
        let lossInterval = bootstrap.interval(count: records) { indices in
            let picked = indices.reduce(CacheCounts()) { $0.adding(perRecord[$1]) }
            return -picked.logProbability / Double(picked.covered)
        }
        let loss = -total.logProbability / Double(total.covered)
        column.teacherCache = .init(
            cache: cache.path, teacher: cache.attributes.teacher, k: cache.attributes.k, temperature: cache.attributes.temperature,
            samples: records, samplesFound: records - missing.count, targetTokens: total.targets,
            tokenAccuracy: Double(total.correct) / Double(total.targets), tokenAccuracyInterval: accuracyInterval,
            coveredTokens: total.covered, coverage: Double(total.covered) / Double(total.targets),
            loss: loss, lossInterval: lossInterval, perplexity: exp(loss))
        if total.targets == 0 { column.error = "the teacher cache \(cache.path) has none of the held-out samples: fill it with slm teacher RECIPE --split heldout" }
        return column
    }

    /// A record's figures from the cache alone.
    struct CacheCounts {
        var targets = 0, correct = 0, covered = 0
        var logProbability = 0.0

        mutating func add(_ other: CacheCounts) { self = adding(other) }

        func adding(_ other: CacheCounts) -> CacheCounts {
            CacheCounts(
                targets: targets + other.targets, correct: correct + other.correct, covered: covered + other.covered,
                logProbability: logProbability + other.logProbability)
        }
    }

    static func counts(_ sample: TokenizedSample, _ teacher: TeacherScores) -> CacheCounts {
        var counts = CacheCounts()
        let k = teacher.k
        guard sample.ids.count >= 2, teacher.topTokenIDs.count == sample.ids.count * k, teacher.topLogProbs.count == teacher.topTokenIDs.count else { return counts }
        for t in 0..<(sample.ids.count - 1) where sample.lossMask[t + 1] {
            let slots = t * k..<(t + 1) * k
            guard let top = teacher.topTokenIDs[slots].first(where: { $0 >= 0 }) else { continue }
            let label = sample.ids[t + 1]
            counts.targets += 1
            if top == label { counts.correct += 1 }
            if let slot = slots.first(where: { teacher.topTokenIDs[$0] == label }) {
                counts.covered += 1
                counts.logProbability += Double(teacher.topLogProbs[slot])
            }
        }
        return counts
    }
}
