import ArgumentParser
import Foundation
import SLMTraining

/// `slm inspect cache.h5 [--recipe R]`: what a teacher cache holds, and how much of a recipe's data it covers.
func inspectTeacherCache(_ path: String, recipe recipePath: String?) throws {
    let cache: TeacherCache
    do {
        cache = try TeacherCache(path: path)
    } catch let error as HDF5Error {
        throw failure("\(error)")
    }
    let a = cache.attributes
    let bytes = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? nil
    print("file:         \(path) (teacher cache v\(cache.version)\(bytes.map { String(format: ", %.1f MiB", Double($0) / 1_048_576) } ?? ""))")
    print("samples:      \(cache.entries.count)")
    print("tokens:       \(cache.tokenCount)\(bytes.map { cache.tokenCount > 0 ? String(format: " (%.1f bytes/token on disk)", Double($0) / Double(cache.tokenCount)) : "" } ?? "")")
    print("k:            \(a.k), log-probs as float\(cache.logprobBytes * 8), teacher temperature \(a.temperature)")
    print("teacher:      \(a.teacher) (source \(a.source))")
    print("tokenizer:    \(a.tokenizer)")
    print("created:      \(a.created)")
    guard let recipePath else {
        print("coverage:     pass --recipe FILE to see how much of a recipe's training data this cache covers")
        return
    }
    let recipe = try loadRecipe(recipePath, overrides: [])
    let student = try TrainingRunSetup.loadModel(recipe.model, log: { _ in })
    let data = try TrainingRunSetup.prepareData(recipe, tokenizer: student.tokenizer, template: student.template, log: { _ in })
    // A cache of teacher-written replies is keyed by each record's prompt; the others by the sample.
    let samples = a.source == TeacherCacheAttributes.teacherWritten
        ? try data.records.train.map { try data.formatter.teacherPrompt($0).studentPromptIDs }
        : data.plan.samples.map(\.ids)
    let covered = samples.filter { cache.contains(TeacherCacheFile.key(of: $0)) }
    let tokens = samples.reduce(0) { $0 + $1.count }, coveredTokens = covered.reduce(0) { $0 + $1.count }
    print(String(
        format: "coverage:     %d of %d training samples of %@ (%.1f%%), %d of %d tokens", covered.count, samples.count, recipePath,
        100 * Double(covered.count) / Double(max(samples.count, 1)), coveredTokens, tokens))
    if student.tokenizer.fingerprint != a.tokenizer {
        print("warning:      the recipe's tokenizer (\(student.tokenizer.fingerprint)) is not the cache's")
    }
}
