import Foundation
import SLMModel
import SLMTensor
import SLMTestSupport
import XCTest

/// The adapter alone in llama.cpp's LoRA GGUF format, and the ollama Modelfile beside GGUF exports.
final class LoRAAdapterGGUFTests: XCTestCase {
    override func setUp() { Parallel.setThreads(2) }


    private func floats(_ file: GGUFFile, _ name: String) throws -> Tensor {
        let info = try XCTUnwrap(file.tensor(named: name), name)
        let t = Tensor(uninitialized: info.shape)
        Dequantize.run(info.type, file.bytes(of: info), count: info.elementCount, into: t.data)
        return t
    }

    /// What llama.cpp computes from the two files, W + alpha / r · B·A in the file's (interleaved)
    /// layout, equals slm's merged export, which equals PEFT's merge (GGUFExportTests); the rsLoRA
    /// fixture adapter (r 4, alpha 8, scale 8 / √4) is stored with alpha' = 8·√4.
    func testBasePlusAdapterFileEqualsTheMergedExport() throws {
        let folder = temporaryPath("slm-lora-gguf", create: true)
        let base = try MergeExport.loadBase(Fixture.path("hf_llama"), adapter: Fixture.path("peft_adapter"))
        try LoRAAdapterGGUF.write(base.model, architecture: "llama", name: "fixture", to: folder + "/adapter.gguf")
        try MergeExport.gguf(base, out: folder + "/merged.gguf", fileType: .f32, probe: nil)
        try MergeExport.gguf(try MergeExport.loadBase(Fixture.path("hf_llama"), adapter: nil), out: folder + "/base.gguf", fileType: .f32, probe: nil)
        let adapter = try GGUFFile(path: folder + "/adapter.gguf"), merged = try GGUFFile(path: folder + "/merged.gguf"), plain = try GGUFFile(path: folder + "/base.gguf")
        XCTAssertEqual(adapter["general.type"]?.string, "adapter")
        XCTAssertEqual(adapter["adapter.type"]?.string, "lora")
        let alpha = try XCTUnwrap(adapter["adapter.lora.alpha"]?.double)
        XCTAssertEqual(alpha, 16, accuracy: 1e-6)
        XCTAssertEqual(adapter.tensors.count, 2 * 2 * 3)  // 2 layers × (q, v, down) × (a, b)
        for n in 0..<2 {
            for name in ["attn_q", "attn_v", "ffn_down"] {
                let w = "blk.\(n).\(name).weight"
                let a = try floats(adapter, w + ".lora_a"), b = try floats(adapter, w + ".lora_b")
                XCTAssertEqual(adapter.tensor(named: w + ".lora_a")?.dims, [a.shape[1], 4])
                let update = try GradMode.withoutGrad { try b.matmul(a).scaled(by: Float(alpha) / 4) }
                assertClose(try floats(plain, w) + update, try floats(merged, w), tolerance: 1e-5, w)
            }
        }
    }
}
