import Foundation
import SLMModel
import SLMTensor
import SLMTestSupport
import XCTest

/// GGUF export against files gguf-py wrote (fixtures/make_hf_llama.py, fixtures/make_export.py) and
/// against PEFT's logits for base + adapter (fixtures/make_peft_adapter.py).
final class GGUFExportTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }

    private func temporaryFile(_ name: String) -> String {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("slm-export-\(UUID().uuidString)").path
        try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: folder) }
        return folder + "/" + name
    }

    /// A folder in the temporary directory holding `files` (name → source path).
    private func folder(_ files: [String: String]) throws -> String {
        let path = (temporaryFile("x") as NSString).deletingLastPathComponent + "/model"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        for (name, source) in files { try FileManager.default.copyItem(atPath: source, toPath: path + "/" + name) }
        return path
    }

    /// hf_llama3_f16 (Llama 3 rope scaling, tied, head_dim ≠ hidden / heads) with hf_llama's byte-level tokenizer.
    private func llama3Folder() throws -> String {
        try folder([
            "config.json": Fixture.path("hf_llama3_f16/config.json"), "model.safetensors": Fixture.path("hf_llama3_f16/model.safetensors"),
            "tokenizer.json": Fixture.path("hf_llama/tokenizer.json"),
        ])
    }

    private func values(_ file: GGUFFile, _ info: GGUFTensorInfo) -> [Float] {
        var out = [Float](repeating: 0, count: info.elementCount)
        out.withUnsafeMutableBufferPointer { Dequantize.run(info.type, file.bytes(of: info), count: info.elementCount, into: $0.baseAddress!) }
        return out
    }

    /// Metadata values compared by type and content (GGUFValue's description shortens arrays).
    private func same(_ a: GGUFValue, _ b: GGUFValue) -> Bool {
        if let x = a.array, let y = b.array { return x.count == y.count && zip(x, y).allSatisfy { same($0, $1) } }
        return "\(a)" == "\(b)" && String(describing: Mirror(reflecting: a).children.first?.label) == String(describing: Mirror(reflecting: b).children.first?.label)
    }

    /// gguf-py's F16 file (converter layout: Q/K interleaved, rope_freqs) read by slm and written again as
    /// F16: the same matrices byte for byte, the same metadata, 1-D tensors as F32 with the same values.
    func testF16FileWrittenByGGUFPyRoundTripsByteForByte() throws {
        let sourcePath = Fixture.path("hf_llama3_f16.gguf"), out = temporaryFile("roundtrip.gguf")
        let result = try MergeExport.gguf(try MergeExport.loadBase(sourcePath, adapter: nil), out: out, fileType: .f16, probe: nil)
        XCTAssertEqual(result.tensors.count, try GGUFFile(path: sourcePath).tensors.count)
        let source = try GGUFFile(path: sourcePath), written = try GGUFFile(path: out)
        XCTAssertEqual(written.tensors.map(\.name).sorted(), source.tensors.map(\.name).sorted())
        for info in source.tensors {
            let copy = try XCTUnwrap(written.tensor(named: info.name))
            XCTAssertEqual(copy.dims, info.dims, info.name)
            XCTAssertEqual(copy.offset % 32, 0, info.name)
            if info.dims.count == 2 {
                XCTAssertEqual(copy.type, .f16, info.name)
                XCTAssertTrue(written.bytes(of: copy).elementsEqual(source.bytes(of: info)), "\(info.name): bytes differ")
            } else {
                XCTAssertEqual(copy.type, .f32, info.name)
                XCTAssertEqual(values(written, copy), values(source, info), info.name)
            }
        }
        for (key, value) in source.metadata where key != "general.file_type" {
            let copy = try XCTUnwrap(written[key], "\(key) missing")
            XCTAssertTrue(same(copy, value), "\(key): \(copy) vs \(value)")
        }
        XCTAssertEqual(written["general.file_type"]?.integer, 1)
    }

    /// The same model from its Hugging Face folder: metadata built from config.json, Llama 3 rope
    /// scaling as rope_freqs, and the tensors gguf-py's converter-style file holds.
    func testHuggingFaceFolderGivesTheConvertersTensorsAndHyperParameters() throws {
        let reference = try GGUFFile(path: Fixture.path("hf_llama3_f16.gguf")), out = temporaryFile("folder.gguf")
        try MergeExport.gguf(try MergeExport.loadBase(try llama3Folder(), adapter: nil), out: out, fileType: .f32, probe: nil)
        let written = try GGUFFile(path: out)
        for info in reference.tensors {
            let copy = try XCTUnwrap(written.tensor(named: info.name), info.name)
            XCTAssertEqual(copy.type, .f32)
            let (a, b) = (values(written, copy), values(reference, info))
            let worst = zip(a, b).map { abs($0 - $1) / max(abs($1), 1e-6) }.max() ?? 0
            XCTAssertLessThanOrEqual(worst, info.name == "rope_freqs.weight" ? 1e-6 : 0, info.name)
        }
        for (key, value) in reference.metadata where key.hasPrefix("llama.") || key == "tokenizer.ggml.tokens" {
            let copy = try XCTUnwrap(written[key], "\(key) missing")
            XCTAssertTrue(same(copy, value) || (copy.double != nil && copy.double == value.double), "\(key): \(copy) vs \(value)")
        }
    }

    /// hf_llama + PEFT adapter exported at each type equals gguf-py's export of PEFT's merge_and_unload:
    /// metadata, names, types and shapes exactly; values within one quantization step (the merges round
    /// differently in the last bit, so a value on a rounding edge may land one step away).
    func testMergedExportMatchesGGUFPysExportOfPEFTsMerge() throws {
        for (name, fileType) in [("f32", GGUFFileType.f32), ("q8_0", .q8_0), ("q4_0", .q4_0), ("q5_1", .q5_1)] {
            let out = temporaryFile("\(name).gguf")
            try MergeExport.gguf(try MergeExport.loadBase(Fixture.path("hf_llama"), adapter: Fixture.path("peft_adapter")), out: out, fileType: fileType, probe: nil)
            let written = try GGUFFile(path: out), reference = try GGUFFile(path: Fixture.path("export_ref_\(name).gguf"))
            XCTAssertEqual(written.metadata.map(\.key).sorted(), reference.metadata.map(\.key).sorted(), name)
            for (key, value) in reference.metadata {
                guard let copy = written[key] else { continue }
                XCTAssertTrue(same(copy, value), "\(name) \(key): \(copy) vs \(value)")
            }
            XCTAssertEqual(written.tensors.map(\.name), reference.tensors.map(\.name), name)
            var identicalBlocks = 0, blocks = 0
            for info in reference.tensors {
                let copy = try XCTUnwrap(written.tensor(named: info.name))
                XCTAssertEqual(copy.type, info.type, "\(name) \(info.name)")
                XCTAssertEqual(copy.dims, info.dims, "\(name) \(info.name)")
                let (a, b) = (values(written, copy), values(reference, info))
                let scale = b.map(abs).max() ?? 0
                let step: Float = switch info.type {
                case .f32: 1e-5
                case .q8_0: scale / 127
                case .q4_0: scale / 8
                default: 2 * scale / 31
                }
                let worst = zip(a, b).map { abs($0 - $1) }.max() ?? 0
                XCTAssertLessThanOrEqual(worst, step * 1.01, "\(name) \(info.name)")
                let ours = Array(written.bytes(of: copy)), theirs = Array(reference.bytes(of: info))
                for start in stride(from: 0, to: theirs.count, by: info.type.blockBytes) {
                    blocks += 1
                    if ours[start..<(start + info.type.blockBytes)] == theirs[start..<(start + info.type.blockBytes)] { identicalBlocks += 1 }
                }
            }
            if name != "f32" { XCTAssertGreaterThan(Double(identicalBlocks) / Double(blocks), 0.95, "\(name): \(identicalBlocks) of \(blocks) blocks identical") }
        }
    }

    /// gguf-py's F32 file re-encoded by slm straight from the file (no adapter: no model is built)
    /// equals gguf-py's own Q8_0 / Q4_0 / Q5_1 files of the same weights byte for byte.
    func testReencodingAGGUFFileEqualsGGUFPysQuantization() throws {
        let base = try MergeExport.loadBase(Fixture.path("export_ref_f32.gguf"), adapter: nil)
        for (name, fileType) in [("q8_0", GGUFFileType.q8_0), ("q4_0", .q4_0), ("q5_1", .q5_1)] {
            let out = temporaryFile("\(name).gguf")
            let result = try MergeExport.gguf(base, out: out, fileType: fileType, probe: nil)
            let written = try GGUFFile(path: out), reference = try GGUFFile(path: Fixture.path("export_ref_\(name).gguf"))
            XCTAssertEqual(result.tensors.map(\.name), reference.tensors.map(\.name), name)
            for info in reference.tensors {
                let copy = try XCTUnwrap(written.tensor(named: info.name), "\(name) \(info.name)")
                XCTAssertEqual(copy.type, info.type, "\(name) \(info.name)")
                XCTAssertTrue(written.bytes(of: copy).elementsEqual(reference.bytes(of: info)), "\(name) \(info.name): bytes differ")
            }
            for (key, value) in reference.metadata {
                let copy = try XCTUnwrap(written[key], "\(name): \(key) missing")
                XCTAssertTrue(same(copy, value), "\(name) \(key): \(copy) vs \(value)")
            }
        }
        XCTAssertFalse(base.isModelLoaded, "re-encoding a GGUF file built the model")
    }

    /// A Q4_K_M re-encoding from the file and one from the loaded model are the same file.
    func testReencodingFromTheFileEqualsWritingTheLoadedModel() throws {
        let source = Fixture.path("hf_llama3_f16.gguf"), streamed = temporaryFile("streamed.gguf"), loaded = temporaryFile("loaded.gguf")
        try MergeExport.gguf(try MergeExport.loadBase(source, adapter: nil), out: streamed, fileType: .q4_k_m, probe: nil)
        let base = try MergeExport.loadBase(source, adapter: nil)
        _ = try base.model
        try MergeExport.gguf(base, out: loaded, fileType: .q4_k_m, probe: nil)
        let a = try GGUFFile(path: streamed), b = try GGUFFile(path: loaded)
        XCTAssertEqual(a.tensors.map(\.name).sorted(), b.tensors.map(\.name).sorted())
        for info in b.tensors {
            let copy = try XCTUnwrap(a.tensor(named: info.name))
            XCTAssertEqual(copy.type, info.type, info.name)
            XCTAssertTrue(a.bytes(of: copy).elementsEqual(b.bytes(of: info)), "\(info.name): bytes differ")
        }
    }

    /// The f32 export read back gives PEFT's logits for base + adapter, and the export's own check agrees.
    func testExportReadBackGivesPEFTsLogits() throws {
        struct Expected: Decodable { let ids: [Int32]; let logits: [[Float]] }
        let expected = try JSONDecoder().decode(Expected.self, from: Data(contentsOf: URL(fileURLWithPath: Fixture.path("peft_adapter_expected.json"))))
        for fileType in [GGUFFileType.f32, .f16] {
            let out = temporaryFile("merged.gguf")
            let base = try MergeExport.loadBase(Fixture.path("hf_llama"), adapter: Fixture.path("peft_adapter"))
            let result = try MergeExport.gguf(base, out: out, fileType: fileType, probe: "Hello, wörld! 123 ✓ The quick brown fox.")
            let comparison = try XCTUnwrap(result.comparison)
            XCTAssertTrue(comparison.sameGreedyOutput, "\(fileType): \(comparison.referenceGreedy) vs \(comparison.exportGreedy)")
            XCTAssertLessThan(comparison.maxAbsLogitDifference, fileType == .f32 ? 1e-4 : 2e-2, "\(fileType)")
            let model = try GGUFModelLoader.load(try GGUFFile(path: out))
            let logits = try model.promptLogits(expected.ids)
            let reference = try Tensor(expected.logits.flatMap { $0 }, shape: [expected.ids.count, expected.logits[0].count])
            assertClose(logits, reference, tolerance: fileType == .f32 ? 1e-4 : 2e-2, "\(fileType) export vs PEFT")
        }
    }

    /// llama.cpp's per-tensor choices on SmolLM2-135M's shapes (576-wide rows fall back from 256-blocks).
    func testPerTensorTypesFollowLlamaCppOnSmolLM2Shapes() {
        func type(_ f: GGUFFileType, _ name: String, _ shape: [Int], tied: Bool = true) -> GGMLType {
            f.tensorType(name: name, shape: shape, layers: 30, tiedOutput: tied)
        }
        XCTAssertEqual(type(.q4_1, "token_embd.weight", [49152, 576]), .q8_0)          // as the demo Q4_1 file
        XCTAssertEqual(type(.q4_0, "token_embd.weight", [49152, 512]), .q6_K)          // rows of 256-blocks: Q6_K
        XCTAssertEqual(type(.q4_0, "token_embd.weight", [49152, 512], tied: false), .q4_0)
        XCTAssertEqual(type(.q8_0, "output.weight", [49152, 512], tied: false), .q8_0)
        XCTAssertEqual(type(.q4_k_m, "blk.0.attn_v.weight", [192, 576]), .q8_0)        // Q6_K → Q8_0
        XCTAssertEqual(type(.q4_k_m, "blk.4.attn_v.weight", [192, 576]), .q5_0)        // Q4_K → Q5_0
        XCTAssertEqual(type(.q4_k_m, "blk.0.ffn_down.weight", [576, 1536]), .q6_K)
        XCTAssertEqual(type(.q4_k_m, "blk.4.ffn_down.weight", [576, 1536]), .q4_K)
        XCTAssertEqual(type(.q4_k_m, "blk.5.ffn_down.weight", [576, 1536]), .q6_K)     // (5 − 3) % 3 == 2
        XCTAssertEqual(type(.q4_k_m, "blk.27.ffn_down.weight", [576, 1536]), .q6_K)    // ≥ 7·30/8
        XCTAssertEqual(type(.q5_k_s, "blk.3.ffn_up.weight", [1536, 576]), .q5_1)       // Q5_K → Q5_1
        XCTAssertEqual(type(.q4_k_s, "blk.2.ffn_down.weight", [576, 1536]), .q5_K)
        XCTAssertEqual(type(.q4_k_m, "blk.3.attn_norm.weight", [576]), .f32)
        XCTAssertEqual(type(.f16, "blk.3.attn_q.weight", [576, 576]), .f16)
        XCTAssertEqual(GGUFFileType(name: "q4_k"), .q4_k_m)
    }

    /// The metadata slm builds from SmolLM2's Hugging Face files equals what llama.cpp's converter
    /// wrote into the demo GGUF (hyper-parameters, vocabulary, token types, merges, special ids, template).
    /// The tokenizer.json is SmolLM2's original (Tests/Fixtures/smollm2-tokenizer, with its Digits
    /// pre-tokenizer, which the converter names "smollm"); config and templates are those of the
    /// demo model's Hugging Face copy (Tests/Fixtures/smollm2-hf-config).
    func testSmolLM2FolderMetadataEqualsTheConvertersFile() throws {
        let gguf = try GGUFFile(path: try Fixture.demoModelPath())
        let hf = Fixture.path("smollm2-hf-config")
        let folder = try folder([
            "config.json": hf + "/config.json", "tokenizer_config.json": hf + "/tokenizer_config.json",
            "chat_template.jinja": hf + "/chat_template.jinja", "tokenizer.json": Fixture.path("smollm2-tokenizer/tokenizer.json"),
        ])
        let tokenizer = try BPETokenizer.load(tokenizerJSON: folder + "/tokenizer.json")
        let built = try GGUFLlamaMetadata.huggingFace(folder: folder, tokenizer: tokenizer).metadata
        let skipped: Set = ["general.name", "general.organization", "general.finetune", "general.basename", "general.size_label",
                            "general.license", "general.languages", "general.file_type", "general.quantization_version"]
        for (key, value) in gguf.metadata where !skipped.contains(key) {
            let ours = try XCTUnwrap(built.first { $0.key == key }?.value, "\(key) missing")
            XCTAssertTrue(same(ours, value), "\(key): \(ours) vs \(value)")
        }
    }

    /// An adapter for another model is refused naming the tensor; a failed write leaves no file behind.
    func testRefusesAMismatchedAdapterAndLeavesNoPartialFile() throws {
        XCTAssertThrowsError(try MergeExport.loadBase(try llama3Folder(), adapter: Fixture.path("peft_adapter"))) {
            XCTAssertTrue("\($0)".contains("base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight"), "\($0)")
        }
        let out = temporaryFile("partial.gguf")
        struct Killed: Error {}
        let tensors = (0..<3).map { n in
            GGUFWriter.TensorEntry(name: "t\(n)", shape: [32], type: .f32) { _ in if n == 2 { throw Killed() } }
        }
        XCTAssertThrowsError(try GGUFWriter.write(metadata: [], tensors: tensors, to: out))
        let folder = (out as NSString).deletingLastPathComponent
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: folder), [])
    }

    func testWriterRefusesArraysOfMixedTypes() {
        let out = temporaryFile("mixed.gguf")
        XCTAssertThrowsError(try GGUFWriter.write(metadata: [("test.mixed", .array([.uint8(1), .string("a")]))], tensors: [], to: out)) {
            XCTAssertTrue("\($0)".contains("test.mixed"), "\($0)")
        }
        XCTAssertFalse(FileManager.default.fileExists(atPath: out))
    }
}
