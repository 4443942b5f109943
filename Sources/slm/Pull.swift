import ArgumentParser
import Foundation
import SLMHub
import SLMTraining

/// `slm pull`: a model folder from the Hugging Face Hub.
struct Pull: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Download a model folder (config, safetensors weights, tokenizer) from the Hugging Face Hub, resumably.",
        discussion: """
            Files are fetched at the commit the revision names when the pull starts, checked against the Hub's \
            SHA-256 (LFS) or git SHA-1, and only then put under their names; an interrupted pull resumes where \
            it stopped. HF_TOKEN (from the environment) is sent for private and gated repositories; HF_ENDPOINT \
            points at a mirror.
            """)

    @Argument(help: "The repository, ORG/NAME (e.g. HuggingFaceTB/SmolLM2-135M-Instruct).")
    var repository: String

    @Option(help: "A branch, tag or commit.")
    var revision = "main"

    @Option(help: "The folder to fill (default: models/ORG/NAME).")
    var out: String?

    @Option(name: .customLong("include"), help: "Take the files matching this shell pattern instead of the model-folder set (repeatable, e.g. --include '*Q4_K_M.gguf').")
    var patterns: [String] = []

    @Option(help: "Seconds to wait for the next bytes before retrying.")
    var timeout: Double = 60

    func run() throws {
        do {
            let repo = try HubRepository(endpoint: try HubRepository.endpoint(), id: repository, revision: revision)
            var pull = HubPull(repository: repo, token: HubPull.token())
            if !patterns.isEmpty { pull.selection = HubFileSelection(patterns: patterns) }
            pull.timeout = timeout
            let folder = out ?? "models/\(repository)"
            let reporter = ProgressReporter(logEvery: 1)
            let started = Date()
            let lastShown = LockedTime()
            let result = try pull.run(into: folder, progress: { p in
                guard lastShown.due(every: reporter.isTerminal ? 0.2 : 10) else { return }
                let seconds = Date().timeIntervalSince(started)
                let rate = Double(p.bytesDone) / max(seconds, 1e-3)
                let detail = String(format: "file %d/%d %@, %.1f MiB/s, ETA %.0f s", p.fileIndex + 1, p.files, p.file, rate / 1_048_576,
                                    rate > 0 ? Double(p.bytesTotal - p.bytesDone) / rate : 0)
                let (done, total) = (p.bytesDone >> 20, max(p.bytesTotal >> 20, 1))
                if reporter.isTerminal {
                    reporter.count("MiB", min(done, total - 1), of: total, detail)
                } else {
                    reporter.message("MiB: \(done)/\(total)  \(detail)")
                }
            })
            if reporter.isTerminal { reporter.message("") }
            let bytes = result.downloaded.reduce(0) { $0 + $1.contentSize }
            print("pulled \(repository)@\(revision) (commit \(result.commit)) into \(folder): \(result.downloaded.count) files downloaded "
                + String(format: "(%.1f MiB)", Double(bytes) / 1_048_576) + ", \(result.alreadyThere.count) already there and checked"
                + (result.skipped.isEmpty ? "" : "; left out: \(result.skipped.prefix(6).joined(separator: ", "))\(result.skipped.count > 6 ? ", …" : "") (--include to take them)"))
        } catch let error as HubError {
            throw failure(error.description)
        }
    }
}

/// When a progress line was last shown, shared with the download's callback thread.
private final class LockedTime: @unchecked Sendable {
    private let lock = NSLock()
    private var last = Date.distantPast

    func due(every seconds: Double) -> Bool {
        lock.withLock {
            guard Date().timeIntervalSince(last) >= seconds else { return false }
            last = Date()
            return true
        }
    }
}
