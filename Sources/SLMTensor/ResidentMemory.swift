import Foundation

/// The process's resident set size, from /proc/self/status (Linux).
public enum ResidentMemory {
    /// Bytes resident now (VmRSS), or nil where the kernel does not say.
    public static func current() -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kib = Int(line.split(separator: " ").dropFirst().first ?? "")
        else { return nil }
        return kib * 1024
    }
}
