import Foundation
import XCTest

/// The `slm` executable built beside the test bundle, started as a child process.
final class SLMProcess {
    let process = Process()
    private let errorPipe: Pipe?
    private(set) var errorText = ""

    /// `input`: written to the process's standard input, which is then closed.
    init(_ arguments: [String], captureError: Bool, input: String? = nil) throws {
        let directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let executable = directory.appendingPathComponent("slm")
        guard FileManager.default.isExecutableFile(atPath: executable.path) else {
            throw XCTSkip("no slm executable beside \(CommandLine.arguments[0]); build the package first")
        }
        process.executableURL = executable
        process.arguments = arguments
        process.standardOutput = FileHandle.nullDevice
        errorPipe = captureError ? Pipe() : nil
        process.standardError = errorPipe ?? FileHandle.nullDevice
        let inputPipe = input.map { _ in Pipe() }
        if let inputPipe { process.standardInput = inputPipe }
        try process.run()
        if let input, let inputPipe {
            inputPipe.fileHandleForWriting.write(Data(input.utf8))
            try inputPipe.fileHandleForWriting.close()
        }
    }

    var isRunning: Bool { process.isRunning }
    var processIdentifier: Int32 { process.processIdentifier }
    var terminationReason: Process.TerminationReason { process.terminationReason }
    func waitUntilExit() { process.waitUntilExit() }

    /// Waits for the process and returns its exit status, keeping what it wrote to standard error.
    func waitForExit() -> Int32 {
        if let errorPipe { errorText = String(decoding: errorPipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self) }
        process.waitUntilExit()
        return process.terminationStatus
    }
}

func slm(_ arguments: [String], captureError: Bool = false, input: String? = nil) throws -> SLMProcess {
    try SLMProcess(arguments, captureError: captureError, input: input)
}
