import Foundation

/// Which decoder layers of a base model a depth-pruned student kept (`model.keep_layers`), saved
/// beside the student's adapter (or trained weights) so that whoever loads them prunes the base the
/// same way first. slm's own file; PEFT ignores it (its adapter alone fits the pruned model only).
/// ```
/// kept_layers.json
///   {"base_layers": 30, "kept_layers": [0, 1, 2, 4, …, 29]}
///   base_layers   the base model's decoder layer count
///   kept_layers   the base layer indices the student runs, in order (its layer i is base layer kept_layers[i])
/// ```
public struct KeptLayers: Codable, Equatable, Sendable {
    public static let file = "kept_layers.json"

    public var baseLayers: Int
    public var keptLayers: [Int]

    public init(baseLayers: Int, keptLayers: [Int]) {
        self.baseLayers = baseLayers
        self.keptLayers = keptLayers
    }

    enum CodingKeys: String, CodingKey {
        case baseLayers = "base_layers"
        case keptLayers = "kept_layers"
    }

    public func write(into folder: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        try AtomicFile.write(try encoder.encode(self), to: folder + "/" + Self.file)
    }

    /// The kept layers saved in `folder`, or nil when it has no kept_layers.json (an unpruned model's adapter).
    public static func read(folder: String) throws -> KeptLayers? {
        let path = folder + "/" + file
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        do {
            let data = try Data(contentsOf: URL(fileURLWithPath: path))
            guard data.count <= 1 << 20 else { throw FormatError(file: path, field: nil, "\(data.count) bytes; a layer list is far smaller") }
            return try JSONDecoder().decode(KeptLayers.self, from: data)
        } catch let error as DecodingError {
            throw FormatError(file: path, field: error.codingPathDescription, error.plainDescription)
        } catch let error as FormatError {
            throw error
        } catch {
            throw FormatError(file: path, field: nil, "cannot read: \(error.localizedDescription)")
        }
    }

    /// Checks that these layers can be taken from a base of `layers` decoder layers.
    func check(against layers: Int, file: String) throws {
        guard baseLayers == layers else {
            throw FormatError(file: file, field: "base_layers", "the student was pruned from a model of \(baseLayers) layers, this base has \(layers)")
        }
        guard !keptLayers.isEmpty, keptLayers.allSatisfy({ (0..<layers).contains($0) }) else {
            throw FormatError(file: file, field: "kept_layers", "expected 1…\(layers) layer indices in 0..<\(layers), got \(keptLayers)")
        }
    }
}

extension Transformer {
    /// The model an adapter (or trained-weights) folder was trained on: this one, or, when the folder
    /// has kept_layers.json (a depth-pruned student), this one with only those layers.
    public func keepingLayers(of folder: String) throws -> Transformer {
        guard let kept = try KeptLayers.read(folder: folder) else { return self }
        try kept.check(against: layers.count, file: folder + "/" + KeptLayers.file)
        return keepingLayers(kept.keptLayers)
    }
}
