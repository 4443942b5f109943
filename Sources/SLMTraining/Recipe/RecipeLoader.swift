import Foundation
import Yams

/// Reads a recipe file (YAML, keys as in `docs/recipes.md`) into a validated `Recipe`, or throws one
/// `RecipeError` listing every problem found, each with its file, line and key.
///
/// Paths inside a recipe (`model.path`, `data.train`, `data.heldout`, `output.dir`) are kept as
/// written; relative ones are resolved against the current directory, not the recipe's folder, as
/// `slm train recipes/x.yaml` is run from the repository root.
public enum RecipeLoader {
    /// `overrides`: `key.path=value` strings (`slm … --set train.lr=1e-4`), applied before validation.
    public static func load(path: String, overrides: [String] = []) throws -> Recipe {
        func failure(_ message: String) -> RecipeError {
            RecipeError(problems: [RecipeProblem(file: path, line: nil, keyPath: "", message: message)])
        }
        guard FileManager.default.fileExists(atPath: path) else {
            throw failure("no such file (current directory: \(FileManager.default.currentDirectoryPath))")
        }
        let yaml: String
        do {
            yaml = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw failure("cannot read the recipe as UTF-8 text: \(error.localizedDescription)")
        }
        return try load(yaml: yaml, fileName: path, overrides: overrides)
    }

    /// `fileName` names the recipe in messages and gives the default `output.dir`, `runs/<name without extension>`.
    public static func load(yaml: String, fileName: String, overrides: [String] = []) throws -> Recipe {
        func failure(line: Int?, _ message: String) -> RecipeError {
            RecipeError(problems: [RecipeProblem(file: fileName, line: line, keyPath: "", message: message)])
        }
        let composed: Node?
        do {
            composed = try Yams.compose(yaml: yaml)
        } catch {
            throw failure(line: YAMLSyntax.line(of: error), YAMLSyntax.message(of: error))
        }
        guard var root = composed, !isNull(root) else {
            throw failure(line: nil, "the recipe is empty; it needs at least model.path and data.train (see docs/recipes.md)")
        }
        guard root.mapping != nil else {
            throw failure(line: root.mark?.line, "expected a mapping of sections (model, lora, data, train, output, eval), got \(describe(root))")
        }
        let log = ProblemLog(file: fileName)
        RecipeOverrides.apply(overrides, to: &root, log: log)
        let name = URL(fileURLWithPath: fileName).deletingPathExtension().lastPathComponent
        let recipe = RecipeReader.read(root, recipeName: name, log: log)
        guard log.problems.isEmpty else { throw RecipeError(problems: log.sorted) }
        return recipe
    }
}
