import Foundation

/// Writes a folder so that a run killed midway leaves nothing under its name: the files go into
/// `.NAME.PID.tmp` beside it (see `AtomicFile`; a stale one of a dead process is removed first),
/// which is renamed to NAME once all are written. A folder already at NAME is replaced only when it
/// holds nothing but files this kind of folder is made of (an earlier export: `replaceable`), so a
/// mistyped path never deletes anything else.
public enum AtomicFolder {
    /// Calls `body` with the temporary folder to fill, then moves it to `path`.
    public static func write(to path: String, replaceable: Set<String>, _ body: (String) throws -> Void) throws {
        let fileManager = FileManager.default
        var isDirectory: ObjCBool = false
        let exists = fileManager.fileExists(atPath: path, isDirectory: &isDirectory)
        if exists {
            guard isDirectory.boolValue else { throw FormatError(file: path, field: nil, "exists and is not a folder; remove it or choose another --out") }
            let foreign = try fileManager.contentsOfDirectory(atPath: path).filter { !replaceable.contains($0) }.sorted()
            guard foreign.isEmpty else {
                throw FormatError(file: path, field: nil, "exists and holds \(foreign.prefix(3).joined(separator: ", ")), which an export does not write; remove it or choose another --out")
            }
        }
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty { try fileManager.createDirectory(atPath: parent, withIntermediateDirectories: true) }
        AtomicFile.removeStaleTemporaries(of: path)
        let temporary = AtomicFile.temporaryPath(for: path)
        try? fileManager.removeItem(atPath: temporary)
        try fileManager.createDirectory(atPath: temporary, withIntermediateDirectories: false)
        do {
            try body(temporary)
        } catch {
            try? fileManager.removeItem(atPath: temporary)
            throw error
        }
        if exists { try fileManager.removeItem(atPath: path) }
        guard rename(temporary, path) == 0 else {
            let reason = String(cString: strerror(errno))
            try? fileManager.removeItem(atPath: temporary)
            throw FormatError(file: path, field: nil, "cannot move the finished folder into place: \(reason)")
        }
    }
}
