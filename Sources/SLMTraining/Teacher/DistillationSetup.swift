import Foundation
import SLMModel

/// A recipe's `distillation:` section put to work: its cache checked against the recipe, the
/// samples it lacks scored by the teacher (a local model or an API), the cache opened for training.
public enum DistillationSetup {
    /// The attributes a cache for this recipe and student tokenizer must have.
    public static func expectedAttributes(_ d: Recipe.DistillationSection, studentTokenizer: BPETokenizer) -> TeacherCacheAttributes {
        TeacherCacheAttributes(
            teacher: d.teacher.api.map(APITeacher.identity) ?? LocalTeacher.identity(d.teacher), tokenizer: studentTokenizer.fingerprint, k: d.k,
            temperature: d.teacherTemperature, source: d.teacher.api == nil ? "local" : "api-echo")
    }

    /// The cache at `d.cache`, after scoring the samples it lacks with the teacher (loaded
    /// only when some are missing), committing every `commitRows` rows or more. A cache made with
    /// other teacher settings is an error. `split` names the samples in messages ("training", "held-out").
    public static func fillCache(
        _ d: Recipe.DistillationSection, samples: [TokenizedSample], studentTokenizer: BPETokenizer, progress: ProgressReporter,
        commitRows: Int = 8 * TeacherCacheFile.chunkRows, split: String = "training"
    ) throws -> TeacherCache {
        let expected = expectedAttributes(d, studentTokenizer: studentTokenizer)
        var missing = samples.count
        if let busy = TeacherCacheLock.busyError(cachePath: d.cache) { throw busy }
        if FileManager.default.fileExists(atPath: d.cache) {
            let cache = try TeacherCache(path: d.cache)
            let mismatches = cache.attributes.mismatches(expected: expected)
            guard mismatches.isEmpty else {
                throw TrainingError(
                    "\(d.cache) does not match the recipe's distillation settings (use another cache path, or the settings it was made with):\n  "
                        + mismatches.joined(separator: "\n  "))
            }
            missing = samples.count { !cache.contains(TeacherCacheFile.key(of: $0.ids)) }
            progress.message("teacher cache \(d.cache): \(cache.entries.count) samples, \(cache.tokenCount) tokens; \(samples.count - missing) of the \(samples.count) \(split) samples covered")
        }
        if missing > 0 {
            progress.message("scoring \(missing) samples with the teacher \(expected.teacher)")
            let teacher = try makeTeacher(d, studentTokenizer: studentTokenizer, progress: progress)
            let outcome = try TeacherCacheFiller.fill(
                cache: d.cache, samples: samples, teacher: teacher, tokenizerFingerprint: expected.tokenizer, commitRows: commitRows
            ) { done, total, tokens, seconds in
                progress.count("teacher", done, of: total, String(format: "%d tokens, %.0f tokens/s", tokens, Double(tokens) / max(seconds, 1e-9)))
            }
            progress.message("teacher: scored \(outcome.scored) samples (\(outcome.scoredTokens) tokens); \(outcome.alreadyCached) were cached already")
            if let summary = teacher.summary { progress.message(summary) }
        }
        return try TeacherCache(path: d.cache)
    }

    /// The API teacher of `teacher.api`, or the local model, which must share the student's tokenizer.
    private static func makeTeacher(
        _ d: Recipe.DistillationSection, studentTokenizer: BPETokenizer, progress: ProgressReporter
    ) throws -> any TeacherSource {
        if let api = d.teacher.api {
            return try APITeacher(api, k: d.k, studentTokenizer: studentTokenizer) { line in progress.message(line) }
        }
        let teacher = try LocalTeacher(d.teacher, k: d.k, temperature: d.teacherTemperature)
        guard teacher.tokenizerFingerprint == studentTokenizer.fingerprint else {
            throw TrainingError(
                "the teacher \(d.teacher.model) has another tokenizer than the student (\(teacher.tokenizerFingerprint) vs \(studentTokenizer.fingerprint)): a local teacher must share the student's vocabulary")
        }
        return teacher
    }
}
