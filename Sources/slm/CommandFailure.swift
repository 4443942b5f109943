import ArgumentParser
import Foundation

/// Writes `error: MESSAGE` to standard error and returns the exit code the command then throws:
/// `throw failure("…")`.
func failure(_ message: String) -> ExitCode {
    FileHandle.standardError.write(Data("error: \(message)\n".utf8))
    return ExitCode.failure
}
