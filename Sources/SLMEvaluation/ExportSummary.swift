import Foundation

/// What quantizing cost a GGUF export, for its column in a report: size, bits per weight, and how
/// far its tensors are from the Float32 ones. Read from the NAME.report.json that `slm merge` writes
/// beside NAME.gguf (layout in Sources/SLMModel/Export/ExportReport.swift); its `tensors` are
/// ```
/// [{"name": "blk.0.attn_q.weight", "type": "Q5_0", "shape": [576, 576], "bytes": 228096, "relative_rms_error": 0.044}, …]
/// ```
/// The reference column (the unquantized merged model) has one too: all tensors F32, error 0.
public struct ExportSummary: Codable, Sendable {
    /// The `--quant` name (q8_0, q4_k_m, …, f32).
    public var quant: String
    /// The whole file (metadata included); nil for a reference that was not written.
    public var fileBytes: Int?
    /// The tensors' stored bytes and their number of values.
    public var tensorBytes: Int
    public var parameters: Int
    /// tensorBytes · 8 / parameters.
    public var bitsPerWeight: Double
    /// Mean over the tensors not stored as F32 of ‖stored − f32‖ / ‖f32‖ (0 when all are F32).
    public var meanRelativeRMSError: Double
    /// The tensors with the largest error, worst first (at most `worstCount`).
    public var worstTensors: [TensorError]
    /// The column the perplexity change is measured against (the unquantized model), when known.
    public var reference: String?

    public static let worstCount = 3

    public struct TensorError: Codable, Sendable {
        public var name: String
        public var type: String
        public var relativeRmsError: Double
    }

    /// One tensor as NAME.report.json lists it.
    public struct Tensor: Codable, Sendable {
        public var name: String
        public var type: String
        public var shape: [Int]
        public var bytes: Int
        public var relativeRmsError: Double

        public init(name: String, type: String, shape: [Int], bytes: Int, relativeRmsError: Double) {
            self.name = name
            self.type = type
            self.shape = shape
            self.bytes = bytes
            self.relativeRmsError = relativeRmsError
        }
    }

    public init(quant: String, fileBytes: Int?, tensors: [Tensor], reference: String? = nil) {
        self.quant = quant
        self.fileBytes = fileBytes
        tensorBytes = tensors.reduce(0) { $0 + $1.bytes }
        parameters = tensors.reduce(0) { $0 + $1.shape.reduce(1, *) }
        bitsPerWeight = parameters > 0 ? Double(tensorBytes) * 8 / Double(parameters) : 0
        let quantized = tensors.filter { $0.type != "F32" }
        meanRelativeRMSError = quantized.isEmpty ? 0 : quantized.reduce(0) { $0 + $1.relativeRmsError } / Double(quantized.count)
        worstTensors = quantized.sorted { $0.relativeRmsError > $1.relativeRmsError }.prefix(Self.worstCount)
            .map { TensorError(name: $0.name, type: $0.type, relativeRmsError: $0.relativeRmsError) }
        self.reference = reference
    }

    /// The same tensors, all stored as F32 (error 0): the unquantized model an export was made from.
    public func unquantized(quant: String = "f32") -> ExportSummary {
        ExportSummary(quant: quant, fileBytes: nil, tensors: [Tensor(name: "all", type: "F32", shape: [parameters], bytes: 4 * parameters, relativeRmsError: 0)])
    }

    /// NAME.report.json's path for the GGUF file at `ggufPath`.
    public static func reportPath(gguf ggufPath: String) -> String { (ggufPath as NSString).deletingPathExtension + ".report.json" }

    /// The summary of the GGUF export at `ggufPath` from the report beside it; nil when there is none
    /// (a GGUF file that `slm merge` did not write).
    public static func read(gguf ggufPath: String) throws -> ExportSummary? {
        guard ggufPath.hasSuffix(".gguf") else { return nil }
        let path = reportPath(gguf: ggufPath)
        guard let data = FileManager.default.contents(atPath: path) else { return nil }
        struct File: Decodable {
            var quant: String
            var bytes: Int
            var tensors: [Tensor]
        }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        do {
            let file = try decoder.decode(File.self, from: data)
            for tensor in file.tensors {
                let count = tensor.shape.reduce((1, false)) { acc, dim in
                    let (product, overflow) = acc.0.multipliedReportingOverflow(by: dim)
                    return (product, acc.1 || overflow || dim < 0)
                }
                guard tensor.bytes >= 0, !count.1, count.0 <= 1 << 40 else {
                    throw EvaluationError("\(path): tensor \(tensor.name): shape \(tensor.shape) or bytes \(tensor.bytes) out of range")
                }
            }
            return ExportSummary(quant: file.quant, fileBytes: file.bytes, tensors: file.tensors)
        } catch let error as DecodingError {
            throw EvaluationError("\(path): not an export report (expected quant, bytes and tensors with name, type, shape, bytes, relative_rms_error): \(error)")
        }
    }
}

extension EvaluationReport {
    /// Marks every column that carries an export summary (other than `reference`) as quantized from
    /// the column `reference`, so the report shows their perplexity change from it. With
    /// `describeReference`, the reference column gets the Float32 summary of the same tensors
    /// (it is the unquantized merged model).
    public mutating func compareExports(with reference: String, describeReference: Bool) {
        for n in models.indices where models[n].name != reference && models[n].export != nil {
            models[n].export!.reference = reference
        }
        if describeReference, let first = models.lazy.compactMap(\.export).first, let r = models.firstIndex(where: { $0.name == reference }) {
            models[r].export = first.unquantized()
        }
    }
}
