import Foundation
import SLMTensor

extension GGUFExport {
    /// Writes the tensors of the GGUF file `source` again in `fileType`, tensor by tensor from the
    /// mapped file, without building a model: what `llama-quantize` does. Names, order, rows and
    /// metadata stay as the source has them (Q/K rows are already in llama.cpp's order); each
    /// matrix gets `fileType.tensorType`, vectors stay Float32. A Float32 tensor is encoded from the
    /// mapping in place, any other type is decoded into one tensor-sized buffer first.
    @discardableResult
    public static func write(
        reencoding source: GGUFFile, fileType: GGUFFileType, to path: String, progress: (Int, Int) -> Void = { _, _ in }
    ) throws -> [TensorReport] {
        let config = try GGUFModelLoader.config(source)
        let entries = source.tensors.map { info in
            Entry(
                name: info.name, shape: info.shape,
                type: fileType.tensorType(name: info.name, shape: info.shape, layers: config.layers, tiedOutput: config.tieWordEmbeddings)
            ) { body in
                let bytes = source.bytes(of: info)
                if info.type == .f32 {
                    body(bytes.baseAddress!.assumingMemoryBound(to: Float.self))
                } else {
                    let decoded = Tensor(uninitialized: info.shape)
                    Dequantize.run(info.type, bytes, count: info.elementCount, into: decoded.data)
                    withExtendedLifetime(decoded) { body(decoded.data) }
                }
            }
        }
        return try write(entries, metadata: source.metadata, fileType: fileType, to: path, progress: progress)
    }
}
