/// A problem with a data file, said so a user can fix it: the file, the line when one line is at
/// fault, what is wrong and what to do.
public struct DataError: Error, CustomStringConvertible, Equatable, Sendable {
    public let file: String
    /// 1-based; nil when the problem is the whole file's.
    public let line: Int?
    public let message: String

    public init(file: String, line: Int?, _ message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    public var description: String { "\(file)\(line.map { ":\($0)" } ?? ""): \(message)" }
}
