import Foundation
import SLMModel

/// metrics.jsonl: one JSON object per line, each with a "type" ("train" or "eval") and the "step" it
/// belongs to. A resumed run first drops the records after its checkpoint, so no step is logged twice.
final class MetricsLog {
    let path: String
    private let handle: FileHandle

    init(path: String, keepingStepsThrough lastStep: Int?) throws {
        self.path = path
        let fileManager = FileManager.default
        if let lastStep, let text = try? String(contentsOfFile: path, encoding: .utf8) {
            let kept = text.split(separator: "\n").filter { line in
                guard let object = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                      let step = object["step"] as? Int
                else { return false }
                return step <= lastStep
            }
            try AtomicFile.write(Data(kept.map { $0 + "\n" }.joined().utf8), to: path)
        } else {
            guard fileManager.createFile(atPath: path, contents: nil) else {
                throw FormatError(file: path, field: nil, "cannot create the metrics file")
            }
        }
        guard let handle = FileHandle(forWritingAtPath: path) else { throw FormatError(file: path, field: nil, "cannot open for writing") }
        self.handle = handle
        try handle.seekToEnd()
    }

    deinit { try? handle.close() }

    func append(_ record: [String: Any]) throws {
        var line = try JSONSerialization.data(withJSONObject: record, options: [.sortedKeys])
        line.append(0x0A)
        try handle.write(contentsOf: line)
    }
}
