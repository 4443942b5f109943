import Foundation
import SLMTensor

/// Writes a file so that a reader, or a run killed midway, sees either the old file or the whole
/// new one: the bytes go to a temporary file beside it, which is flushed and then renamed over it.
/// The temporary name is `.NAME.PID.tmp` (PID: the writing process); one left by a process that no
/// longer runs (a killed export) is removed the next time NAME is written.
public enum AtomicFile {
    public static func write(_ data: Data, to path: String) throws {
        try write(to: path) { handle in try handle.write(contentsOf: data) }
    }

    /// Streams a file through `body`, which writes to the temporary file's handle; the file appears
    /// under `path` only once `body` has returned and the bytes are on disk. If `body` throws, the
    /// temporary file is removed and the error passed on.
    public static func write(to path: String, _ body: (FileHandle) throws -> Void) throws {
        removeStaleTemporaries(of: path)
        let temporary = temporaryPath(for: path)
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

    /// `.NAME.PID.tmp` beside `path`, for this process.
    public static func temporaryPath(for path: String) -> String {
        directory(of: path) + "/.\((path as NSString).lastPathComponent).\(getpid()).tmp"
    }

    /// Removes the `.NAME.PID.tmp` files (or folders) beside `path` whose PID is no process any more:
    /// what a killed write of `path` left. Those of running processes (another export of the same
    /// name right now) are kept; nothing else is touched.
    public static func removeStaleTemporaries(of path: String) {
        let folder = directory(of: path), prefix = ".\((path as NSString).lastPathComponent)."
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else { return }
        for name in names where name.hasPrefix(prefix) && name.hasSuffix(".tmp") {
            guard let pid = pid_t(name.dropFirst(prefix.count).dropLast(4)), pid > 0, pid != getpid() else { continue }
            if kill(pid, 0) != 0 && errno == ESRCH { try? FileManager.default.removeItem(atPath: folder + "/" + name) }
        }
    }

    private static func directory(of path: String) -> String {
        let directory = (path as NSString).deletingLastPathComponent
        return directory.isEmpty ? "." : directory
    }
}
