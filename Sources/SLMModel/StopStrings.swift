/// Finds stop strings in streamed text: text is released as soon as it cannot be the start of
/// a stop string, and the first stop string found ends the stream (it and what follows are dropped).
public struct StopStringMatcher {
    public let stopStrings: [[Unicode.Scalar]]
    private var held: [Unicode.Scalar] = []
    public private(set) var stopped = false

    public init(_ stopStrings: [String]) {
        self.stopStrings = stopStrings.filter { !$0.isEmpty }.map { Array($0.unicodeScalars) }
    }

    /// The text that can be shown after `text` arrives. Once a stop string has appeared, this
    /// is the text before it, `stopped` turns true and later calls return "".
    public mutating func append(_ text: String) -> String {
        guard !stopped else { return "" }
        held += text.unicodeScalars
        if stopStrings.isEmpty { return release(held.count) }
        // The earliest stop string wins.
        var first: Int?
        for stop in stopStrings where stop.count <= held.count {
            for start in 0...(held.count - stop.count) where start < (first ?? .max) {
                if held[start..<(start + stop.count)].elementsEqual(stop) {
                    first = start
                    break
                }
            }
        }
        if let first {
            stopped = true
            let text = release(first)
            held = []
            return text
        }
        // Keep the longest tail that is a proper prefix of some stop string.
        var keep = 0
        for stop in stopStrings {
            for n in stride(from: min(stop.count - 1, held.count), to: keep, by: -1)
            where held[(held.count - n)...].elementsEqual(stop[..<n]) {
                keep = n
                break
            }
        }
        return release(held.count - keep)
    }

    /// Whatever is still held back (a partial stop string that never completed).
    public mutating func finish() -> String {
        guard !stopped else { return "" }
        return release(held.count)
    }

    private mutating func release(_ n: Int) -> String {
        var out = String.UnicodeScalarView()
        out.append(contentsOf: held[..<n])
        held.removeFirst(n)
        return String(out)
    }
}
