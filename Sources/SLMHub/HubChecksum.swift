import Crypto
import Foundation

extension HubFile.Checksum {
    /// Whether the file at `path` has this checksum (read 4 MiB at a time).
    func matches(file path: String) throws -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw HubError("\(path): cannot be read to check it") }
        defer { try? handle.close() }
        switch self {
        case .sha256(let expected):
            var hash = SHA256()
            try Self.feed(handle) { hash.update(data: $0) }
            return Self.hex(hash.finalize()) == expected
        case .gitBlobSHA1(let expected):
            // git hashes "blob <size>\0" followed by the content.
            var hash = Insecure.SHA1()
            let size = try handle.seekToEnd()
            try handle.seek(toOffset: 0)
            hash.update(data: Data("blob \(size)\0".utf8))
            try Self.feed(handle) { hash.update(data: $0) }
            return Self.hex(hash.finalize()) == expected
        }
    }

    private static func feed(_ handle: FileHandle, _ consume: (Data) -> Void) throws {
        while let chunk = try handle.read(upToCount: 4 << 20), !chunk.isEmpty { consume(chunk) }
    }

    private static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        digest.map { String(format: "%02x", $0) }.joined()
    }
}
