import ArgumentParser
import Foundation
import SLMModel
import SLMTensor

/// `slm inspect`: what a model file holds.
struct Inspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a .gguf file's architecture, parameters, tensor types, tokenizer and chat template, or summarise a teacher cache (.h5).")

    @Argument(help: "A .gguf file, or a teacher cache (.h5).")
    var file: String

    @Option(help: "With a teacher cache: the recipe whose training samples it should cover.")
    var recipe: String?

    @Flag(help: "Also load the model and report the process's resident memory.")
    var load = false

    @Flag(help: "With --load: keep the layers' projections in their quantized blocks.")
    var keepQuantized = false

    func run() throws {
        if file.hasSuffix(".h5") || file.hasSuffix(".hdf5") { return try inspectTeacherCache(file, recipe: recipe) }
        let s = GGUFSummary(try GGUFFile(path: file))
        func mib(_ bytes: Int) -> String { String(format: "%.1f MiB", Double(bytes) / 1_048_576) }
        print("file:           \(s.path) (GGUF v\(s.version))")
        print("architecture:   \(s.architecture ?? "(none)")\(s.name.map { " — \($0)" } ?? "")")
        print("context length: \(s.contextLength.map(String.init) ?? "(not stated)")")
        print(String(format: "parameters:     %.1fM (%d)", Double(s.parameters) / 1e6, s.parameters))
        print("tensors:        \(s.types.reduce(0) { $0 + $1.tensors }), \(mib(s.tensorBytes))")
        for t in s.types {
            let bits = Double(t.bytes * 8) / Double(max(t.elements, 1))
            print(String(format: "  %-6@ %5d tensors %12d elements %11@  %5.2f bits/weight",
                         t.type.description, t.tensors, t.elements, mib(t.bytes), bits))
        }
        let specials = s.specialTokenIds.map { "\($0.name) \($0.id)" }.joined(separator: ", ")
        print("tokenizer:      \(s.tokenizerModel ?? "(none)"), \(s.vocabularySize.map { "\($0) tokens" } ?? "no vocabulary")\(specials.isEmpty ? "" : "; \(specials)")")
        print("chat template:  \(s.chatTemplateFirstLine.map { "yes: \($0.count > 100 ? String($0.prefix(100)) + "…" : $0)" } ?? "no")")
        if load {
            let model = try GGUFModelLoader.load(try GGUFFile(path: file), keepQuantized: keepQuantized)
            let resident = ResidentMemory.current().map(mib) ?? "unknown"
            print("loaded:         \(model.config.layers) layers, projections \(keepQuantized ? "kept quantized" : "dequantized to f32"); resident memory \(resident)")
        }
    }
}
