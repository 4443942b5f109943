import Foundation

/// The lines of a file, read in 1 MiB chunks so memory stays bounded by `maxLineBytes` however
/// large the file is. A line ends at "\n" (a "\r" before it is dropped); a line longer than
/// `maxLineBytes` comes back as `.tooLong` and its bytes are never all held.
struct LineReader {
    enum Line {
        case bytes([UInt8])
        case tooLong
    }

    private static let chunkBytes = 1 << 20
    private let path: String
    private let handle: FileHandle
    private let maxLineBytes: Int
    private var buffer: [UInt8] = []
    /// Where the current line starts in `buffer`, and how far it has been searched for "\n".
    private var start = 0, searched = 0
    /// The current line is too long: its bytes are dropped as they arrive.
    private var tooLong = false
    private var atEnd = false
    /// The number of the line `next()` returned last (1-based).
    private(set) var lineNumber = 0

    init(path: String, maxLineBytes: Int) throws(DataError) {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw DataError(file: path, line: nil, "cannot open the file") }
        self.path = path
        self.handle = handle
        self.maxLineBytes = maxLineBytes
    }

    mutating func next() throws(DataError) -> Line? {
        while true {
            if let newline = buffer[searched...].firstIndex(of: 0x0A) {
                let line = finishLine(end: newline)
                start = newline + 1
                searched = start
                return line
            }
            if buffer.count - start > maxLineBytes { tooLong = true }
            if tooLong { start = buffer.count }
            buffer.removeSubrange(..<start)
            start = 0
            searched = buffer.count
            if atEnd {
                guard tooLong || !buffer.isEmpty else { return nil }
                let line = finishLine(end: buffer.count)
                buffer = []
                searched = 0
                return line
            }
            let chunk: Data?
            do { chunk = try handle.read(upToCount: Self.chunkBytes) } catch {
                throw DataError(file: path, line: nil, "cannot read the file after line \(lineNumber): \(error.localizedDescription)")
            }
            if let chunk, !chunk.isEmpty { buffer.append(contentsOf: chunk) } else { atEnd = true }
        }
    }

    private mutating func finishLine(end: Int) -> Line {
        lineNumber += 1
        defer { tooLong = false }
        if tooLong || end - start > maxLineBytes { return .tooLong }
        let trimmed = end > start && buffer[end - 1] == 0x0D ? end - 1 : end
        return .bytes(Array(buffer[start..<trimmed]))
    }
}
