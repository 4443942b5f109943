import Foundation
import SLMModel

/// A recipe's `distillation:` section put to work: its cache checked against the recipe, what it
/// lacks asked of the teacher (a local model, or an API that scores the samples or writes the
/// replies), and the training batches made from it.
public enum DistillationSetup {
    /// The attributes a cache for this recipe and student tokenizer must have (an API teacher's
    /// mode resolved: echo or generate).
    public static func expectedAttributes(_ d: Recipe.DistillationSection, studentTokenizer: BPETokenizer) -> TeacherCacheAttributes {
        let mode = d.teacher.api?.mode
        return TeacherCacheAttributes(
            teacher: d.teacher.api.map { APITeacher.identity($0, mode: mode ?? .echo) } ?? LocalTeacher.identity(d.teacher),
            tokenizer: studentTokenizer.fingerprint, k: d.k, temperature: d.teacherTemperature,
            source: d.teacher.api == nil ? "local" : mode == .generate ? TeacherCacheAttributes.teacherWritten : "api-echo")
    }

    /// `d` with an API teacher's `mode: auto` settled, said on `progress`: the mode of the cache
    /// when one exists for this teacher (a re-run continues it without asking the server), else echo
    /// when the server really scores the text it is sent, else generate.
    public static func resolveMode(
        _ d: Recipe.DistillationSection, studentTokenizer: BPETokenizer, progress: ProgressReporter
    ) throws -> Recipe.DistillationSection {
        guard var api = d.teacher.api, api.mode == .auto else { return d }
        var resolved = d
        if FileManager.default.fileExists(atPath: d.cache), let cache = try? TeacherCache(path: d.cache),
           cache.attributes.teacher.hasPrefix(APITeacher.identity(api, mode: .echo)), ["api-echo", TeacherCacheAttributes.teacherWritten].contains(cache.attributes.source)
        {
            api.mode = cache.attributes.source == "api-echo" ? .echo : .generate
            progress.message("teacher API mode auto: \(d.cache) holds \(api.mode == .echo ? "scored samples" : "teacher-written replies"), so mode \(api.mode.rawValue)")
        } else {
            let probe = try APITeacher.probeEcho(api, studentTokenizer: studentTokenizer) { line in progress.message(line) }
            api.mode = probe.echoes ? .echo : .generate
            progress.message(
                "teacher API mode auto: \(api.baseURL): \(probe.reason), so mode \(api.mode.rawValue)"
                    + (probe.echoes ? " (the dataset's own text is scored)" : " (the teacher writes each training sample's reply: sequence-level distillation)"))
        }
        resolved.teacher.api = api
        return resolved
    }

    /// The cache for a recipe's training data, after asking the teacher for what it lacks: the
    /// scores of the planned samples, or (API `mode: generate`) the replies to their prompts.
    /// `auto` is resolved first (`resolveMode`).
    public static func fillCache(
        _ d: Recipe.DistillationSection, data: TrainingRunSetup.PreparedData, studentTokenizer: BPETokenizer, progress: ProgressReporter,
        commitRows: Int = 8 * TeacherCacheFile.chunkRows
    ) throws -> TeacherCache {
        let d = try resolveMode(d, studentTokenizer: studentTokenizer, progress: progress)
        guard let api = d.teacher.api, api.mode == .generate else {
            return try fillCache(d, samples: data.plan.samples, studentTokenizer: studentTokenizer, progress: progress, commitRows: commitRows)
        }
        let prompts = try teacherPrompts(data)
        let expected = expectedAttributes(d, studentTokenizer: studentTokenizer)
        let cache = try checkedCache(d, expected: expected)
        let missing = Set(prompts.map { TeacherCacheFile.key(of: $0.studentPromptIDs) }).count { !(cache?.contains($0) ?? false) }
        if let cache {
            progress.message("teacher cache \(d.cache): \(cache.entries.count) teacher-written samples, \(cache.tokenCount) tokens; replies to \(prompts.count - missing) of the \(prompts.count) prompts there")
        }
        if missing > 0 {
            progress.message("asking the teacher \(expected.teacher) for \(missing) replies")
            let teacher = try APITeacher(api, mode: .generate, k: d.k, studentTokenizer: studentTokenizer) { line in progress.message(line) }
            let outcome = try TeacherCacheFiller.fillReplies(
                cache: d.cache, prompts: prompts, teacher: teacher, tokenizerFingerprint: expected.tokenizer, commitRows: commitRows,
                progress: fillProgress(progress))
            progress.message("teacher: wrote \(outcome.scored) replies (\(outcome.scoredTokens) tokens with their prompts); \(outcome.alreadyCached) were cached already")
            if let summary = teacher.summary { progress.message(summary) }
        }
        return try TeacherCache(path: d.cache)
    }

    /// The cache at `d.cache`, after scoring the samples it lacks with the teacher (loaded
    /// only when some are missing), committing every `commitRows` rows or more. A cache made with
    /// other teacher settings is an error. For a local teacher or an API in mode echo; `split` names
    /// the samples in messages ("training", "held-out").
    public static func fillCache(
        _ d: Recipe.DistillationSection, samples: [TokenizedSample], studentTokenizer: BPETokenizer, progress: ProgressReporter,
        commitRows: Int = 8 * TeacherCacheFile.chunkRows, split: String = "training"
    ) throws -> TeacherCache {
        let d = try resolveMode(d, studentTokenizer: studentTokenizer, progress: progress)
        if d.teacher.api?.mode == .generate {
            throw TrainingError(
                "distillation.teacher.api.mode generate: the teacher writes replies to the training records, it does not score given text; "
                    + "scoring samples (slm teacher --split heldout, agreement with the teacher in reports) needs mode echo or a local teacher")
        }
        let expected = expectedAttributes(d, studentTokenizer: studentTokenizer)
        var missing = samples.count
        if let cache = try checkedCache(d, expected: expected) {
            missing = samples.count { !cache.contains(TeacherCacheFile.key(of: $0.ids)) }
            progress.message("teacher cache \(d.cache): \(cache.entries.count) samples, \(cache.tokenCount) tokens; \(samples.count - missing) of the \(samples.count) \(split) samples covered")
        }
        if missing > 0 {
            progress.message("scoring \(missing) samples with the teacher \(expected.teacher)")
            let teacher = try makeTeacher(d, studentTokenizer: studentTokenizer, progress: progress)
            let outcome = try TeacherCacheFiller.fill(
                cache: d.cache, samples: samples, teacher: teacher, tokenizerFingerprint: expected.tokenizer, commitRows: commitRows,
                progress: fillProgress(progress))
            progress.message("teacher: scored \(outcome.scored) samples (\(outcome.scoredTokens) tokens); \(outcome.alreadyCached) were cached already")
            if let summary = teacher.summary { progress.message(summary) }
        }
        return try TeacherCache(path: d.cache)
    }

    /// The progress line of a cache fill: done of total, tokens and tokens/s.
    static func fillProgress(_ progress: ProgressReporter) -> (Int, Int, Int, Double) -> Void {
        { done, total, tokens, seconds in
            progress.count("teacher", done, of: total, String(format: "%d tokens, %.0f tokens/s", tokens, Double(tokens) / max(seconds, 1e-9)))
        }
    }

    /// The training batches with the teacher's targets. A cache of scored samples covers the data's
    /// own plan; a cache of teacher-written replies makes the plan: each training record's prompt
    /// followed by the teacher's reply (cross-entropy on the reply: the teacher's text), with the
    /// teacher's top-k where its tokens mapped. The share of trained positions with a teacher
    /// distribution is said on `progress`.
    public static func batches(
        cache: TeacherCache, data: TrainingRunSetup.PreparedData, recipe: Recipe, progress: ProgressReporter
    ) throws -> DistillationBatches {
        let batches: DistillationBatches
        if cache.attributes.source == TeacherCacheAttributes.teacherWritten {
            batches = try teacherWrittenBatches(cache: cache, data: data, recipe: recipe, progress: progress)
        } else {
            batches = try DistillationBatches(plan: data.plan, cache: cache)
        }
        let c = batches.coverage
        progress.message(
            String(format: "distillation targets: %d of %d trained positions (%.1f%%) carry the teacher's top-%d; the rest are cross-entropy only", c.withTeacher, c.targets,
                   100 * Double(c.withTeacher) / Double(max(c.targets, 1)), batches.k))
        return batches
    }

    private static func teacherWrittenBatches(
        cache: TeacherCache, data: TrainingRunSetup.PreparedData, recipe: Recipe, progress: ProgressReporter
    ) throws -> DistillationBatches {
        let prompts = try teacherPrompts(data)
        var indices: [Int] = []
        for (n, prompt) in prompts.enumerated() {
            guard let i = cache.entryIndex(of: TeacherCacheFile.key(of: prompt.studentPromptIDs)) else {
                throw TrainingError("\(cache.path) lacks the teacher's reply to training record \(n + 1): run slm teacher on this recipe first")
            }
            indices.append(i)
        }
        let sequence = recipe.data.sequenceLength
        var truncated = 0, tooLong = 0
        var written: [TeacherScores] = []
        for (n, scores) in try cache.scores(at: indices).enumerated() {
            guard Array(scores.keyTokens) == prompts[n].studentPromptIDs, scores.promptLength > 0 else {
                throw TrainingError("\(cache.path): the cached prompt of training record \(n + 1) differs from the record's (a key collision or a damaged file)")
            }
            guard scores.tokenIDs.count > sequence else {
                written.append(scores)
                continue
            }
            switch recipe.data.truncation {
            case .drop:
                tooLong += 1
                continue
            case .right: written.append(scores.truncated(to: sequence, fromEnd: false))
            case .left: written.append(scores.truncated(to: sequence, fromEnd: true))
            }
            truncated += 1
        }
        // Learned: the teacher's reply (every token after the prompt); the prompt is context.
        let samples = written.map { s in TokenizedSample(ids: s.tokenIDs, lossMask: s.tokenIDs.indices.map { $0 >= max(s.promptLength, 1) }) }
        let plan = try BatchPlan(samples: samples, recipe: recipe)
        var byKey: [UInt64: TeacherScores] = [:]
        for s in written { byKey[TeacherCacheFile.key(of: s.tokenIDs)] = s }
        let teacher = plan.samples.map { byKey[TeacherCacheFile.key(of: $0.ids)]! }
        let s = plan.statistics
        progress.message(
            "train on the teacher's replies: \(s.samples) samples in \(plan.batchesPerEpoch) batches per epoch; \(s.realTokensPerEpoch) tokens, \(s.targetTokensPerEpoch) of them the teacher's"
                + (truncated > 0 ? "; \(truncated) truncated to \(sequence) tokens" : "") + (tooLong > 0 ? "; \(tooLong) longer than \(sequence) tokens left out" : "")
                + (s.droppedWithoutTarget > 0 ? "; \(s.droppedWithoutTarget) empty replies left out" : ""))
        return try DistillationBatches(plan: plan, teacher: teacher, k: cache.attributes.k, source: cache.path)
    }

    /// The teacher's prompt of each training record.
    private static func teacherPrompts(_ data: TrainingRunSetup.PreparedData) throws -> [TeacherPrompt] {
        do {
            return try data.records.train.map(data.formatter.teacherPrompt)
        } catch let error as TeacherPromptError {
            throw TrainingError("distillation.teacher.api.mode generate: \(error)")
        }
    }

    /// The cache at `d.cache` when it exists, checked against `expected`; nil when there is none.
    private static func checkedCache(_ d: Recipe.DistillationSection, expected: TeacherCacheAttributes) throws -> TeacherCache? {
        if let busy = TeacherCacheLock.busyError(cachePath: d.cache) { throw busy }
        guard FileManager.default.fileExists(atPath: d.cache) else { return nil }
        let cache = try TeacherCache(path: d.cache)
        let mismatches = cache.attributes.mismatches(expected: expected)
        guard mismatches.isEmpty else {
            throw TrainingError(
                "\(d.cache) does not match the recipe's distillation settings (use another cache path, or the settings it was made with):\n  "
                    + mismatches.joined(separator: "\n  "))
        }
        return cache
    }

    /// The API teacher of `teacher.api` (mode echo), or the local model, which must share the student's tokenizer.
    private static func makeTeacher(
        _ d: Recipe.DistillationSection, studentTokenizer: BPETokenizer, progress: ProgressReporter
    ) throws -> any TeacherSource {
        if let api = d.teacher.api {
            return try APITeacher(api, mode: .echo, k: d.k, studentTokenizer: studentTokenizer) { line in progress.message(line) }
        }
        let teacher = try LocalTeacher(d.teacher, k: d.k, temperature: d.teacherTemperature)
        guard teacher.tokenizerFingerprint == studentTokenizer.fingerprint else {
            throw TrainingError(
                "the teacher \(d.teacher.model) has another tokenizer than the student (\(teacher.tokenizerFingerprint) vs \(studentTokenizer.fingerprint)): a local teacher must share the student's vocabulary")
        }
        return teacher
    }
}
