#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// One entry of a repository's file tree, as the Hub lists it:
/// `{"type": "file", "path": "config.json", "size": 861, "oid": "<git blob sha-1>"}`, and for files
/// kept in Git LFS also `"lfs": {"oid": "<sha-256 of the content>", "size": N, "pointerSize": 134}`.
public struct HubFile: Decodable, Sendable, Equatable {
    public struct LFS: Decodable, Sendable, Equatable {
        public let oid: String
        public let size: Int
    }

    public let type: String
    public let path: String
    public let size: Int
    public let oid: String
    public let lfs: LFS?

    /// The size the downloaded file must have (the LFS object's, not its pointer's).
    public var contentSize: Int { lfs?.size ?? size }

    /// How the content is checked: SHA-256 for LFS files, else git's blob SHA-1.
    public var checksum: Checksum { lfs.map { .sha256($0.oid.lowercased()) } ?? .gitBlobSHA1(oid.lowercased()) }

    public enum Checksum: Sendable, Equatable, CustomStringConvertible {
        case sha256(String)
        case gitBlobSHA1(String)

        public var description: String {
            switch self {
            case .sha256(let hex): "sha256 \(hex)"
            case .gitBlobSHA1(let hex): "git blob sha1 \(hex)"
            }
        }
    }

    /// A path that stays inside the destination folder: relative, no "." or ".." components, no
    /// backslashes or control characters.
    var isSafePath: Bool {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        return !path.isEmpty && !path.hasPrefix("/") && path.count <= 1024
            && parts.allSatisfy { !$0.isEmpty && $0 != "." && $0 != ".." }
            && !path.unicodeScalars.contains { $0.value < 32 || $0 == "\\" }
    }
}

/// Which files of a repository a pull takes.
public struct HubFileSelection: Sendable {
    /// What a model folder needs for slm and transformers: configs, safetensors weights and their
    /// index, tokenizer files, the chat template. PyTorch .bin, ONNX, TF and Flax copies are left.
    public static let modelFolder = HubFileSelection(patterns: [
        "*.json", "*.safetensors", "*.jinja", "tokenizer.model", "*.tiktoken", "*.txt", "README.md", "LICENSE*",
    ])

    /// Shell-style patterns (`*`, `?`, `[…]`), matched against the whole path.
    public let patterns: [String]

    public init(patterns: [String]) { self.patterns = patterns }

    public func includes(_ path: String) -> Bool {
        patterns.contains { fnmatch($0, path, 0) == 0 }
    }
}
