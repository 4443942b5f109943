import Foundation

/// A model repository on the Hugging Face Hub (or a server with its URL layout), at a revision:
/// ```
/// GET {endpoint}/api/models/{org}/{name}/revision/{revision}          {"sha": commit, ...}
/// GET {endpoint}/api/models/{org}/{name}/tree/{commit}?recursive=true  [{"type", "path", "size", "oid", "lfs"?}],
///                                                                      more pages named by a Link: <…>; rel="next" header
/// GET {endpoint}/{org}/{name}/resolve/{commit}/{path}                  the file (Range requests allowed; large
///                                                                      files redirect to a CDN)
/// ```
/// A revision (branch, tag, commit, or "refs/pr/1") is percent-encoded as one path segment.
public struct HubRepository: Sendable {
    public let endpoint: URL
    public let id: String
    public let revision: String

    /// `id` is "ORG/NAME"; each part letters, digits, '-', '_' and '.', not starting with '.'.
    public init(endpoint: URL, id: String, revision: String = "main") throws {
        let parts = id.split(separator: "/", omittingEmptySubsequences: false)
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-_."))
        guard parts.count == 2, parts.allSatisfy({
            !$0.isEmpty && $0.count <= 96 && !$0.hasPrefix(".") && $0.unicodeScalars.allSatisfy { allowed.contains($0) && $0.isASCII }
        }) else {
            throw HubError("\"\(id)\" is not a repository id: expected ORG/NAME, e.g. HuggingFaceTB/SmolLM2-135M-Instruct")
        }
        guard !revision.isEmpty, !revision.contains(".."), revision.unicodeScalars.allSatisfy({ $0.isASCII && $0.value > 32 }) else {
            throw HubError("\"\(revision)\" is not a revision (a branch, tag or commit)")
        }
        self.endpoint = endpoint
        self.id = id
        self.revision = revision
    }

    /// `HF_ENDPOINT` from the environment, else https://huggingface.co.
    public static func endpoint(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> URL {
        let text = environment["HF_ENDPOINT"] ?? "https://huggingface.co"
        guard let url = URL(string: text.hasSuffix("/") ? String(text.dropLast()) : text), let scheme = url.scheme,
              ["https", "http"].contains(scheme), url.host != nil
        else { throw HubError("HF_ENDPOINT=\(text) is not an http(s) URL") }
        return url
    }

    static func segment(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-_.~"))) ?? text
    }

    func url(_ path: String) -> URL { URL(string: endpoint.absoluteString + path)! }

    var revisionInfoURL: URL { url("/api/models/\(id)/revision/\(Self.segment(revision))") }

    func treeURL(commit: String) -> URL { url("/api/models/\(id)/tree/\(Self.segment(commit))?recursive=true") }

    /// The file's download URL; each path component percent-encoded.
    func fileURL(commit: String, path: String) -> URL {
        url("/\(id)/resolve/\(Self.segment(commit))/" + path.split(separator: "/").map { Self.segment(String($0)) }.joined(separator: "/"))
    }
}
