import Foundation
import SLMTensor

/// Writes a file so that a reader, or a run killed midway, sees either the old file or the whole
/// new one: the bytes go to a temporary file beside it, which is flushed and then renamed over it.
public enum AtomicFile {
    public static func write(_ data: Data, to path: String) throws {
        try write(to: path) { handle in try handle.write(contentsOf: data) }
    }

    /// Streams a file through `body`, which writes to the temporary file's handle; the file appears
    /// under `path` only once `body` has returned and the bytes are on disk. If `body` throws, the
    /// temporary file is removed and the error passed on.
    public static func write(to path: String, _ body: (FileHandle) throws -> Void) throws {
        let directory = (path as NSString).deletingLastPathComponent
        let temporary = (directory.isEmpty ? "." : directory) + "/.\((path as NSString).lastPathComponent).\(getpid()).tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: nil),
              let handle = FileHandle(forWritingAtPath: temporary)
        else { throw FormatError(file: path, field: nil, "cannot create \(temporary): \(String(cString: strerror(errno)))") }
        do {
            try body(handle)
            try handle.synchronize()
            try handle.close()
        } catch {
            try? handle.close()
            try? FileManager.default.removeItem(atPath: temporary)
            if error is FormatError || error is TensorError { throw error }
            throw FormatError(file: path, field: nil, "cannot write: \(error.localizedDescription)")
        }
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(atPath: temporary)
            throw FormatError(file: path, field: nil, "cannot move the finished file into place: \(reason)")
        }
    }
}
