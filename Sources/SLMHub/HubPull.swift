import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Downloads a repository's model files into a folder, resumably:
/// ```
/// OUT/config.json, OUT/model.safetensors, …   files already checked against the Hub's checksums
/// OUT/.slm-pull/FILE.part                      a file still arriving (resumed with a Range request)
/// OUT/.slm-pull/commit                         the commit the pull is pinned to
/// ```
/// The revision is resolved to a commit first and every file is fetched at that commit, so a branch
/// moving during the pull cannot mix two versions. A file is renamed to its final name only after
/// its size and checksum (SHA-256 for LFS files, git's blob SHA-1 for the rest) match the listing;
/// a file already there with the right checksum is kept. A dropped connection is retried from where
/// it stopped, up to `attempts` times per file.
public struct HubPull {
    public struct Progress: Sendable {
        public var file: String
        public var fileIndex: Int
        public var files: Int
        public var bytesDone: Int
        public var bytesTotal: Int
    }

    public struct Result: Sendable {
        public var commit: String
        public var downloaded: [HubFile]
        public var alreadyThere: [HubFile]
        public var skipped: [String]
    }

    public let repository: HubRepository
    public let token: String?
    public var selection = HubFileSelection.modelFolder
    public var timeout: Double = 60
    public var attempts = 5

    public init(repository: HubRepository, token: String?) {
        self.repository = repository
        self.token = token
    }

    /// `HF_TOKEN` (or the older `HUGGING_FACE_HUB_TOKEN`) from the environment; nil when unset or empty.
    public static func token(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        [environment["HF_TOKEN"], environment["HUGGING_FACE_HUB_TOKEN"]].compactMap { $0 }.first { !$0.isEmpty }
    }

    public func run(into folder: String, progress: @escaping @Sendable (Progress) -> Void = { _ in }) throws -> Result {
        let http = HubHTTP(endpoint: repository.endpoint, token: token, timeout: timeout)
        defer { http.invalidate() }
        let commit = try resolveCommit(http)
        let (wanted, skipped) = try listFiles(http, commit: commit)
        guard !wanted.isEmpty else {
            throw HubError("\(repository.id)@\(repository.revision) has no files that \(selection.patterns.joined(separator: " ")) select (it has \(skipped.prefix(8).joined(separator: ", ")))")
        }
        let staging = folder + "/.slm-pull"
        try FileManager.default.createDirectory(atPath: staging, withIntermediateDirectories: true)
        try pin(commit, staging: staging)

        var result = Result(commit: commit, downloaded: [], alreadyThere: [], skipped: skipped)
        let total = wanted.reduce(0) { $0 + $1.contentSize }
        var done = 0
        for (index, file) in wanted.enumerated() {
            let target = folder + "/" + file.path
            if FileManager.default.fileExists(atPath: target), (try? FileManager.default.attributesOfItem(atPath: target)[.size] as? Int) == file.contentSize,
               try file.checksum.matches(file: target) {
                result.alreadyThere.append(file)
                done += file.contentSize
                continue
            }
            let base = done
            try fetch(file, commit: commit, http: http, staging: staging, target: target) { bytes in
                progress(Progress(file: file.path, fileIndex: index, files: wanted.count, bytesDone: base + bytes, bytesTotal: total))
            }
            done += file.contentSize
            result.downloaded.append(file)
        }
        try FileManager.default.removeItem(atPath: staging)
        return result
    }

    /// The commit the revision names now (`sha` of the revision endpoint).
    func resolveCommit(_ http: HubHTTP) throws -> String {
        struct RevisionInfo: Decodable { let sha: String }
        var reply: (body: Data, response: HTTPURLResponse)!
        try withRetries("\(repository.id)@\(repository.revision)") {
            reply = try http.get(repository.revisionInfoURL)
            try check(reply.response, reply.body, what: "\(repository.id) at revision \(repository.revision)")
        }
        let body = reply.body
        guard let info = try? JSONDecoder().decode(RevisionInfo.self, from: body),
              info.sha.count >= 7, info.sha.count <= 64, info.sha.allSatisfy(\.isHexDigit)
        else { throw HubError("\(repository.revisionInfoURL.absoluteString): no commit \"sha\" in the reply") }
        return info.sha.lowercased()
    }

    /// Every file of the tree at `commit` (all pages), split into the selected and the others.
    func listFiles(_ http: HubHTTP, commit: String) throws -> (wanted: [HubFile], skipped: [String]) {
        var entries: [HubFile] = []
        var next: URL? = repository.treeURL(commit: commit)
        var pages = 0
        while let url = next {
            pages += 1
            guard pages <= 1000 else { throw HubError("\(repository.id): the file listing goes on past 1000 pages") }
            var reply: (body: Data, response: HTTPURLResponse)!
            try withRetries("the file list of \(repository.id)") {
                reply = try http.get(url)
                try check(reply.response, reply.body, what: "the file list of \(repository.id)")
            }
            let (body, response) = reply!
            do { entries += try JSONDecoder().decode([HubFile].self, from: body) } catch {
                throw HubError("\(url.absoluteString): the file list is not the Hub's JSON (\(error))")
            }
            next = Self.nextPage(response.value(forHTTPHeaderField: "Link"), relativeTo: url)
        }
        var wanted: [HubFile] = [], skipped: [String] = []
        for entry in entries where entry.type == "file" {
            guard entry.isSafePath else { throw HubError("\(repository.id): the listing names an unsafe path \"\(entry.path)\"") }
            guard entry.size >= 0, entry.contentSize >= 0 else { throw HubError("\(repository.id): \(entry.path) has a negative size") }
            if selection.includes(entry.path) { wanted.append(entry) } else { skipped.append(entry.path) }
        }
        return (wanted.sorted { $0.contentSize < $1.contentSize }, skipped)
    }

    /// The `rel="next"` URL of a Link header.
    static func nextPage(_ link: String?, relativeTo base: URL) -> URL? {
        guard let link else { return nil }
        for part in link.split(separator: ",") where part.contains("rel=\"next\"") {
            guard let open = part.firstIndex(of: "<"), let close = part.firstIndex(of: ">"), open < close else { continue }
            return URL(string: String(part[part.index(after: open)..<close]), relativeTo: base)?.absoluteURL
        }
        return nil
    }

    /// Records the commit in the staging folder; a staging folder pinned to another commit (the
    /// revision moved since an interrupted pull) has its partial files dropped.
    func pin(_ commit: String, staging: String) throws {
        let path = staging + "/commit"
        if let earlier = try? String(contentsOfFile: path, encoding: .utf8), earlier != commit {
            for name in try FileManager.default.contentsOfDirectory(atPath: staging) { try FileManager.default.removeItem(atPath: staging + "/" + name) }
        }
        try Data(commit.utf8).write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    func fetch(_ file: HubFile, commit: String, http: HubHTTP, staging: String, target: String, progress: @escaping @Sendable (Int) -> Void) throws {
        let part = staging + "/" + file.path.replacingOccurrences(of: "/", with: "%2F") + ".part"
        func size() -> Int { (try? FileManager.default.attributesOfItem(atPath: part)[.size] as? Int) ?? 0 }
        try withRetries(file.path) {
            if size() > file.contentSize { try FileManager.default.removeItem(atPath: part) }
            if size() < file.contentSize {
                let (body, response) = try http.download(repository.fileURL(commit: commit, path: file.path), into: part, offset: size(), received: progress)
                try check(response, body, what: file.path)
            }
            guard size() == file.contentSize else {
                throw HubError("\(file.path): \(size()) bytes arrived, the listing says \(file.contentSize)", retryable: true)
            }
        }
        guard try file.checksum.matches(file: part) else {
            try FileManager.default.removeItem(atPath: part)
            throw HubError("\(file.path): the downloaded bytes do not match the Hub's \(file.checksum); the partial file was removed, run slm pull again")
        }
        try FileManager.default.createDirectory(atPath: (target as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        guard rename(part, target) == 0 else { throw HubError("\(target): cannot move the finished download into place (errno \(errno))") }
    }

    /// Runs `body` until it succeeds, retrying dropped connections, timeouts and retryable replies
    /// with exponential backoff (0.5 s, 1 s, 2 s, … at most 8 s), `attempts` times in all.
    func withRetries(_ what: String, _ body: () throws -> Void) throws {
        var lastError: (any Error)?
        for attempt in 0..<attempts {
            if attempt > 0 { Thread.sleep(forTimeInterval: min(0.25 * Double(1 << min(attempt, 6)), 8)) }
            do {
                return try body()
            } catch let error as HubError where !error.retryable {
                throw error
            } catch {
                lastError = error
            }
        }
        throw HubError("\(what): gave up after \(attempts) attempts (\(lastError.map { "\($0)" } ?? "no data")); run slm pull again to resume")
    }

    /// Turns an error status into a message that says what to do.
    func check(_ response: HTTPURLResponse, _ body: Data, what: String) throws {
        let status = response.statusCode
        guard !(200...299).contains(status) else { return }
        let code = response.value(forHTTPHeaderField: "X-Error-Code")
        let message = response.value(forHTTPHeaderField: "X-Error-Message")
            ?? String(decoding: body.prefix(300), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        let hint: String
        switch (status, code) {
        case (401, _), (403, _):
            hint = token == nil
                ? "the repository is private or gated: set HF_TOKEN to a token that may read it (and accept its licence on the Hub)"
                : "the token in HF_TOKEN may not read it (for a gated model, accept its licence on the Hub first)"
        case (404, "RevisionNotFound"): hint = "no revision \"\(repository.revision)\" (check --revision)"
        case (404, _): hint = "no such repository or file (check the id and --revision)"
        case (429, _): hint = "rate limited; try again later"
        default: hint = status >= 500 ? "the server failed; try again later" : "unexpected reply"
        }
        throw HubError("\(what): HTTP \(status) — \(hint)\(message.isEmpty ? "" : " (\(message))")", retryable: status == 429 || status >= 500)
    }
}
