import Crypto
import Foundation
import Hummingbird
import LoopbackServer
import Synchronization

/// A server on 127.0.0.1 in the Hugging Face Hub's URL layout, for `slm pull`'s tests: one
/// repository at one commit, its tree listed over two pages, small files served directly and LFS
/// files redirected to a "CDN" path on another host name (localhost), with faults to order.
final class HubServer: Sendable {
    struct File: Sendable {
        let path: String
        let content: Data
        let lfs: Bool
    }

    enum Fault: Sendable {
        /// The first download of the file stops after this many bytes (the connection drops).
        case dropAfter(Int)
        /// Range headers are ignored: the whole file again, with 200.
        case ignoresRange
        /// Bytes other than the listed ones, of the same size.
        case corrupt
        /// 503 for the first request of the file.
        case unavailableOnce
    }

    let repo: String
    let commit: String
    let files: [File]
    let faults: [String: Fault]
    /// When set, requests without "Bearer TOKEN" get 401.
    let token: String?
    /// Every request: path, its Range header, and whether it carried an Authorization header.
    let log = Mutex<[(path: String, range: String?, authorized: Bool)]>([])
    private let downloads = Mutex<[String: Int]>([:])

    init(repo: String, files: [File], faults: [String: Fault] = [:], token: String? = nil) {
        self.repo = repo
        self.files = files
        self.faults = faults
        self.token = token
        commit = Insecure.SHA1.hash(data: Data(files.map(\.path).joined().utf8)).map { String(format: "%02x", $0) }.joined()
    }

    /// Serves until the returned task is cancelled; returns the port.
    func start() async throws -> (port: Int, task: Task<Void, any Error>) {
        let router = Router()
        router.get("/api/models/\(repo)/revision/:revision") { request, context in try self.revision(request, context) }
        router.get("/api/models/\(repo)/tree/:revision") { request, _ in try self.tree(request) }
        router.get("/\(repo)/resolve/:revision/**") { request, context in try self.file(request, context, cdn: false) }
        router.get("/cdn/**") { request, context in try self.file(request, context, cdn: true) }
        return try await serveOnLoopback(router, label: "hub")
    }

    private func record(_ request: Request) -> Response? {
        let authorization = request.headers[.authorization]
        log.withLock { $0.append((request.uri.path, request.headers[.range], authorization != nil)) }
        if let token, authorization != "Bearer \(token)", !request.uri.path.hasPrefix("/cdn/") {
            var headers = HTTPFields()
            headers[HTTPFields.Element.Name("X-Error-Code")!] = "GatedRepo"
            return Response(status: .unauthorized, headers: headers, body: .init(byteBuffer: ByteBuffer(string: "Access to model \(repo) is restricted.")))
        }
        return nil
    }

    private func json(_ object: Any, headers: HTTPFields = [:]) throws -> Response {
        Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: try JSONSerialization.data(withJSONObject: object))))
    }

    private func revision(_ request: Request, _ context: BasicRequestContext) throws -> Response {
        if let refused = record(request) { return refused }
        guard ["main", commit].contains(context.parameters.get("revision") ?? "") else {
            var headers = HTTPFields()
            headers[HTTPFields.Element.Name("X-Error-Code")!] = "RevisionNotFound"
            return Response(status: .notFound, headers: headers)
        }
        return try json(["id": repo, "sha": commit, "siblings": files.map { ["rfilename": $0.path] }])
    }

    private func tree(_ request: Request) throws -> Response {
        if let refused = record(request) { return refused }
        let entries: [[String: Any]] = files.map { file in
            var entry: [String: Any] = ["type": "file", "path": file.path, "size": file.lfs ? 134 : file.content.count,
                                        "oid": Self.gitBlobSHA1(file.lfs ? Data("pointer \(file.path)".utf8) : file.content)]
            if file.lfs { entry["lfs"] = ["oid": SHA256.hash(data: file.content).map { String(format: "%02x", $0) }.joined(), "size": file.content.count, "pointerSize": 134] }
            return entry
        } + [["type": "directory", "path": "sub", "oid": "0", "size": 0]]
        // Two pages: the first names the second in a Link header, as the Hub paginates.
        let half = entries.count / 2
        if request.uri.queryParameters.get("cursor") == nil {
            var headers = HTTPFields()
            headers[HTTPFields.Element.Name("Link")!] = "<\(request.uri.path)?recursive=true&cursor=2>; rel=\"next\""
            return try json(Array(entries[..<half]), headers: headers)
        }
        return try json(Array(entries[half...]))
    }

    private func file(_ request: Request, _ context: BasicRequestContext, cdn: Bool) throws -> Response {
        if let refused = record(request) { return refused }
        let path = cdn ? String(request.uri.path.dropFirst("/cdn/".count)) : String(request.uri.path.split(separator: "/").dropFirst(4).joined(separator: "/"))
        guard let file = files.first(where: { $0.path == path.removingPercentEncoding }) else { return Response(status: .notFound) }
        if file.lfs && !cdn {
            // The Hub redirects LFS content to its CDN, a different host: the token must not follow.
            var headers = HTTPFields()
            headers[.location] = "http://localhost:\(request.head.authority?.split(separator: ":").last ?? "0")/cdn/\(file.path)"
            return Response(status: .found, headers: headers)
        }
        let attempt = downloads.withLock { counts -> Int in
            counts[file.path, default: 0] += 1
            return counts[file.path]!
        }
        var content = file.content
        switch faults[file.path] {
        case .corrupt?: content = Data(content.map { $0 ^ 0x5A })
        case .unavailableOnce? where attempt == 1: return Response(status: .serviceUnavailable)
        case .dropAfter(let n)? where attempt == 1:
            struct Dropped: Error {}
            let head = ByteBuffer(bytes: content.prefix(n))
            return Response(status: .ok, body: ResponseBody(contentLength: content.count) { writer in
                try await writer.write(head)
                throw Dropped()
            })
        default: break
        }
        if let range = request.headers[.range], faults[file.path].map({ if case .ignoresRange = $0 { false } else { true } }) ?? true,
           range.hasPrefix("bytes="), let start = Int(range.dropFirst(6).prefix { $0 != "-" }), start < content.count {
            var headers = HTTPFields()
            headers[.contentRange] = "bytes \(start)-\(content.count - 1)/\(content.count)"
            return Response(status: .partialContent, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: content[start...])))
        }
        return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(bytes: content)))
    }

    static func gitBlobSHA1(_ content: Data) -> String {
        Insecure.SHA1.hash(data: Data("blob \(content.count)\0".utf8) + content).map { String(format: "%02x", $0) }.joined()
    }
}
