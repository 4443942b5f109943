import Foundation

/// Writes a file so that a reader, or a run killed midway, sees either the old file or the whole
/// new one: the bytes go to a temporary file beside it, which is flushed and then renamed over it.
public enum AtomicFile {
    public static func write(_ data: Data, to path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        let temporary = (directory.isEmpty ? "." : directory) + "/.\((path as NSString).lastPathComponent).\(getpid()).tmp"
        guard FileManager.default.createFile(atPath: temporary, contents: nil),
              let handle = FileHandle(forWritingAtPath: temporary)
        else { throw FormatError(file: path, field: nil, "cannot create \(temporary): \(String(cString: strerror(errno)))") }
        do {
            try handle.write(contentsOf: data)
            try handle.synchronize()
            try handle.close()
        } catch {
            try? FileManager.default.removeItem(atPath: temporary)
            throw FormatError(file: path, field: nil, "cannot write: \(error.localizedDescription)")
        }
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? FileManager.default.removeItem(atPath: temporary)
            throw FormatError(file: path, field: nil, "cannot move the finished file into place: \(reason)")
        }
    }
}
