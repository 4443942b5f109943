import Foundation

/// The process's resident set size, from /proc/self/status and getrusage (Linux).
public enum ResidentMemory {
    /// Bytes resident now (VmRSS), or nil where the kernel does not say.
    public static func current() -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kib = Int(line.split(separator: " ").dropFirst().first ?? "")
        else { return nil }
        return kib * 1024
    }

    /// The most bytes ever resident in this process (getrusage's ru_maxrss, which Linux gives in KiB),
    /// as Python's `resource.getrusage(RUSAGE_SELF).ru_maxrss` reports it.
    public static func peak() -> Int {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return usage.ru_maxrss * 1024
    }
}
