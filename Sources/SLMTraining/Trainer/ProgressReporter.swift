import Foundation

/// Progress of a run for people: on a terminal one line rewritten in place (kept every `logEvery`
/// steps), otherwise a plain line every `logEvery` steps. Everything goes to standard error.
public struct ProgressReporter: Sendable {
    public let isTerminal: Bool
    public let logEvery: Int

    public init(logEvery: Int, isTerminal: Bool = isatty(STDERR_FILENO) == 1) {
        self.logEvery = logEvery
        self.isTerminal = isTerminal
    }

    /// `kl`: when distilling, KL(teacher‖student) over the teacher's top-k, shown after the loss.
    public func step(_ step: Int, of total: Int, loss: Double, kl: Double? = nil, lr: Float, tokensPerSecond: Double, secondsLeft: Double) {
        let kept = step % logEvery == 0 || step == total
        guard isTerminal || kept else { return }
        let line = String(
            format: "step %d/%d  loss %.4f%@  lr %.2e  %.0f tok/s  ETA %@", step, total, loss, kl.map { String(format: "  KL %.4f", $0) } ?? "",
            lr, tokensPerSecond, Self.duration(secondsLeft))
        if isTerminal {
            write("\r\u{1B}[K" + line + (kept ? "\n" : ""))
        } else {
            write(line + "\n")
        }
    }

    /// Held-out generation under way, counted as `count` does.
    public func evaluation(generated done: Int, of total: Int) {
        count("evaluating held-out", done, of: total, "generated")
    }

    /// Work counted in items (`teacher: 120/800  …`): on a terminal a line rewritten in place;
    /// otherwise a line at each tenth and at the end.
    public func count(_ what: String, _ done: Int, of total: Int, _ detail: String) {
        let line = "\(what): \(done)/\(total)  \(detail)"
        if isTerminal {
            write("\r\u{1B}[K" + line + (done == total ? "\n" : ""))
        } else if done == total || done * 10 / total != (done - 1) * 10 / total {
            write(line + "\n")
        }
    }

    public func message(_ text: String) {
        write((isTerminal ? "\r\u{1B}[K" : "") + text + "\n")
    }

    private func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }

    static func duration(_ seconds: Double) -> String {
        guard seconds.isFinite else { return "?" }
        let s = Int(seconds.rounded())
        return s >= 3600 ? String(format: "%dh%02dm", s / 3600, s % 3600 / 60) : String(format: "%dm%02ds", s / 60, s % 60)
    }
}
