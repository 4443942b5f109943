import Foundation
import SLMModel

/// What a recipe's export is verified on: its first held-out samples as training formats them
/// (chat template applied), up to `maxTokens` tokens in all.
public enum ExportProbe {
    /// nil when the recipe has no held-out data (the export then uses `ExportComparison.defaultProbe`).
    public static func heldoutIds(_ recipe: Recipe, maxTokens: Int = 256) throws -> [Int32]? {
        let records = try TrainingData.load(recipe.data, seed: recipe.train.seed)
        guard !records.heldout.isEmpty else { return nil }
        let path = recipe.model.path
        var isDirectory: ObjCBool = false
        let isFolder = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
        let tokenizer = isFolder
            ? try BPETokenizer.load(tokenizerFile: BPETokenizer.tokenizerFile(inFolder: path) ?? path + "/" + HuggingFaceModelLoader.tokenizerFile)
            : try BPETokenizer.load(gguf: GGUFFile(path: path))
        let formatter = SampleFormatter(tokenizer: tokenizer, template: try TrainingRunSetup.chatTemplate(recipe.model), lossOn: recipe.data.lossOn)
        var ids: [Int32] = []
        for record in records.heldout where ids.count < maxTokens { ids += try formatter.sample(record).ids }
        return Array(ids.prefix(maxTokens))
    }
}
