import ArgumentParser
import Foundation
import SLMTraining

/// The recipe at `path` with `overrides` applied; its problems go to standard error and the command exits 1.
func loadRecipe(_ path: String, overrides: [String]) throws -> Recipe {
    do {
        return try RecipeLoader.load(path: path, overrides: overrides)
    } catch let error as RecipeError {
        FileHandle.standardError.write(Data("\(error)\nfix the recipe (check it with `slm recipe check \(path)`)\n".utf8))
        throw ExitCode.failure
    }
}
