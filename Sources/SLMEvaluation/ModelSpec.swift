import Foundation
import SLMModel
import SLMTraining

/// One model column of a report, as the command line names it:
/// ```
/// [NAME=]MODEL[+ADAPTER]
///   MODEL    a .gguf file or a Hugging Face folder (config.json, safetensors, tokenizer.json)
///   ADAPTER  a LoRA adapter folder in PEFT's layout (adapter_config.json, adapter_model.safetensors)
///   NAME     the column's label; default: the adapter's run folder name, else the model file's name
/// RUN        a run folder of `slm train` (recipe.yaml, adapter/): its recipe's model + its adapter
/// ```
/// e.g. `base=models/smollm2/SmolLM2-135M-Instruct.Q4_1.gguf`, `tuned=models/smollm2/…gguf+runs/quickstart/adapter`.
/// A path that exists as written is taken whole, so a file name with `+` or `=` still works.
public struct ModelSpec: Sendable, Equatable {
    public var name: String
    public var path: String
    public var adapter: String?

    public init(name: String, path: String, adapter: String?) {
        self.name = name
        self.path = path
        self.adapter = adapter
    }

    public static func parse(_ text: String) throws -> ModelSpec {
        var name: String?
        var rest = text
        let fileManager = FileManager.default
        if !fileManager.fileExists(atPath: rest), let equals = rest.firstIndex(of: "="), !rest[..<equals].contains("/") {
            name = String(rest[..<equals])
            rest = String(rest[rest.index(after: equals)...])
        }
        guard !rest.isEmpty, name?.isEmpty != true else {
            throw EvaluationError("model \"\(text)\": expected [NAME=]MODEL[+ADAPTER], e.g. tuned=model.gguf+runs/x/adapter")
        }
        if !fileManager.fileExists(atPath: rest), let plus = rest.lastIndex(of: "+") {
            let model = String(rest[..<plus]), adapter = String(rest[rest.index(after: plus)...])
            return ModelSpec(name: name ?? defaultName(model: model, adapter: adapter), path: model, adapter: adapter)
        }
        if let run = runFolderModel(rest) {
            return ModelSpec(name: name ?? run.name, path: run.path, adapter: run.adapter)
        }
        return ModelSpec(name: name ?? defaultName(model: rest, adapter: nil), path: rest, adapter: nil)
    }

    /// A run folder of `slm train` names its base model in recipe.yaml and holds the adapter.
    private static func runFolderModel(_ path: String) -> ModelSpec? {
        let run = RunFolder(path)
        let adapter = run.result(lora: true)
        guard FileManager.default.fileExists(atPath: adapter + "/" + PEFTAdapter.configFile),
              let recipe = try? RecipeLoader.load(path: run.recipe)
        else { return nil }
        return ModelSpec(name: lastComponent(path), path: recipe.model.path, adapter: adapter)
    }

    private static func defaultName(model: String, adapter: String?) -> String {
        guard let adapter else { return lastComponent(model) }
        let folder = lastComponent(adapter)
        // runs/quickstart/adapter reads better as "quickstart" than as "adapter".
        if folder == "adapter", case let parent = URL(fileURLWithPath: adapter).deletingLastPathComponent().lastPathComponent, !parent.isEmpty {
            return parent
        }
        return folder
    }

    private static func lastComponent(_ path: String) -> String { URL(fileURLWithPath: path).lastPathComponent }

    /// The run folder the adapter was trained in (it holds metrics.jsonl), if any.
    public var runFolder: RunFolder? {
        guard let adapter else { return nil }
        let run = RunFolder(URL(fileURLWithPath: adapter).deletingLastPathComponent().path)
        return FileManager.default.fileExists(atPath: run.metrics) ? run : nil
    }

    /// SHA-256 of every file the column is made from, by path: the .gguf file, or a folder's
    /// config/tokenizer JSON and safetensors, and the adapter's files.
    public func fileHashes() throws -> [String: String] {
        var hashes: [String: String] = [:]
        for folderOrFile in [path] + (adapter.map { [$0] } ?? []) {
            for file in try Self.modelFiles(folderOrFile) { hashes[file] = try SHA256.hex(file: file) }
        }
        return hashes
    }

    private static func modelFiles(_ path: String) throws -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw EvaluationError("\(path): does not exist")
        }
        guard isDirectory.boolValue else { return [path] }
        return try FileManager.default.contentsOfDirectory(atPath: path)
            .filter { $0.hasSuffix(".json") || $0.hasSuffix(".safetensors") }
            .sorted()
            .map { path + "/" + $0 }
    }
}

/// A model column loaded: the transformer (with the adapter attached), its tokenizer and chat template.
public struct LoadedModel {
    public let spec: ModelSpec
    public let model: Transformer
    public let tokenizer: BPETokenizer
    public let template: ChatTemplate?

    /// `keepQuantized`: a GGUF file's projections stay in their quantized blocks, as llama.cpp runs them.
    public static func load(_ spec: ModelSpec, chatTemplate: Recipe.ChatTemplateChoice, keepQuantized: Bool) throws -> LoadedModel {
        var isDirectory: ObjCBool = false
        let isFile = FileManager.default.fileExists(atPath: spec.path, isDirectory: &isDirectory) && !isDirectory.boolValue
        var (model, loadedTokenizer) = try ModelLoader.load(path: spec.path, keepQuantized: keepQuantized && isFile)
        guard let tokenizer = loadedTokenizer else {
            throw EvaluationError("\(spec.path) carries no tokenizer: put tokenizer.json in the model folder, or use a GGUF file with tokenizer metadata")
        }
        if let adapter = spec.adapter {
            model = try model.keepingLayers(of: adapter)  // a depth-pruned student's adapter fits its kept layers only
            try PEFTAdapter.load(adapter, into: model)
        }
        var section = Recipe.ModelSection(path: spec.path)
        section.chatTemplate = chatTemplate
        return LoadedModel(spec: spec, model: model, tokenizer: tokenizer, template: try TrainingRunSetup.chatTemplate(section))
    }
}
