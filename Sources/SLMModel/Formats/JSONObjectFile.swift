import Foundation

/// A JSON file whose top level is an object (tokenizer.json, tekken.json, model.safetensors.index.json,
/// tokenizer_config.json), read for `JSONSerialization`-style access; errors name the file.
enum JSONObjectFile {
    static func read(_ path: String) throws -> [String: Any] {
        let data: Data
        do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
            throw FormatError(file: path, field: nil, "cannot read: \(error.localizedDescription)")
        }
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            throw FormatError(file: path, field: nil, "is not a JSON object")
        }
        return object
    }

    /// `read(path)`, or nil when there is no such file.
    static func readIfPresent(_ path: String) throws -> [String: Any]? {
        FileManager.default.fileExists(atPath: path) ? try read(path) : nil
    }
}
