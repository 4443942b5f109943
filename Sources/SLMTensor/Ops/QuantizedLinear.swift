extension Tensor {
    /// Rows of the weight dequantized at once: 256 × 576 floats is 576 KB, which stays in L2.
    static let quantizedTileRows = 256

    /// A linear layer over a frozen quantized weight: `self` [..., in] · `weight`[out, in]ᵀ.
    ///
    /// The weight is dequantized a tile of rows at a time into one scratch buffer and multiplied
    /// there, so a model's weights stay in their 4–8-bit blocks in memory. With at most
    /// `QuantizedGemv.maxTokens` tokens (decoding) and a Q4_0, Q4_1 or Q8_0 weight, each row's blocks
    /// are instead multiplied into x as they are unpacked (`QuantizedGemv`). The weight is frozen:
    /// backward gives the input's gradient only (dx = dy · W, tile by tile), which is what LoRA on
    /// a quantized base needs.
    public func linear(_ weight: QuantizedMatrix) throws -> Tensor {
        guard let inFeatures = shape.last, inFeatures == weight.cols else {
            throw TensorError(op: "linear", "input \(shape) does not fit quantized weight \(weight.shape) (\(weight.type))")
        }
        let tokens = count / max(inFeatures, 1), out = weight.rows
        let y = Tensor(uninitialized: Array(shape.dropLast()) + [out])
        let tileRows = Tensor.quantizedTileRows
        if tokens <= QuantizedGemv.maxTokens && QuantizedGemv.supports(weight.type) {
            Gemm.counting(flops: 2 * Double(tokens) * Double(out) * Double(inFeatures)) {
                QuantizedGemv.run(weight, x: data, tokens: tokens, y: y.data)
            }
        } else {
            let scratch = Tensor(uninitialized: [min(tileRows, out), inFeatures])
            for start in stride(from: 0, to: out, by: tileRows) {
                let rows = min(tileRows, out - start)
                weight.dequantize(rows: start..<(start + rows), into: scratch.data)
                Gemm.sgemm(
                    transA: false, transB: true, m: tokens, n: rows, k: inFeatures,
                    a: data, lda: inFeatures, b: scratch.data, ldb: inFeatures, c: y.data + start, ldc: out)
            }
        }
        return try Tensor.record("linear", y, inputs: [self]) { g in [try weight.inputGradient(g)] }
    }
}

extension QuantizedMatrix {
    /// Whether decoding multiplies a matrix of `type` straight from its blocks (`QuantizedGemv`)
    /// rather than through dequantized tiles.
    public static func decodesInPlace(_ type: GGMLType) -> Bool { QuantizedGemv.supports(type) }

    /// dx [..., in] = dy [..., out] · W, dequantizing W a tile of rows at a time.
    public func inputGradient(_ dy: Tensor) throws -> Tensor {
        guard dy.shape.last == rows else {
            throw TensorError(op: "linear", "gradient \(dy.shape) does not fit quantized weight \(shape) (\(type))")
        }
        let tokens = dy.count / max(rows, 1), tileRows = Tensor.quantizedTileRows
        let dx = Tensor(uninitialized: Array(dy.shape.dropLast()) + [cols])
        let tile = Tensor(uninitialized: [min(tileRows, rows), cols])
        for start in stride(from: 0, to: rows, by: tileRows) {
            let count = min(tileRows, rows - start)
            dequantize(rows: start..<(start + count), into: tile.data)
            Gemm.sgemm(
                transA: false, transB: false, m: tokens, n: cols, k: count,
                a: dy.data + start, lda: rows, b: tile.data, ldb: cols,
                beta: start == 0 ? 0 : 1, c: dx.data, ldc: cols)
        }
        return dx
    }
}

