import CBLAS
import Foundation

/// Picks OpenBLAS's compute kernels when its own CPU detection falls short.
///
/// Debian 12's OpenBLAS (0.3.21, built with DYNAMIC_ARCH) predates recent Xeons
/// and falls back to its SSE3 "Prescott" kernels on them, about 2.5× slower
/// than its AVX-512 kernels on the same machine. OpenBLAS reads the
/// `OPENBLAS_CORETYPE` environment variable once, when it is loaded, so the
/// choice has to be made before the process starts (see `slm`'s entry point).
public enum BLASCore {
    /// The kernel family OpenBLAS chose at load time, e.g. "SkylakeX" or "Prescott".
    public static var current: String { String(cString: openblas_get_corename()) }

    /// The core type to request through `OPENBLAS_CORETYPE`, or nil when OpenBLAS
    /// already uses vector kernels, or the user has set the variable.
    public static func recommendedOverride(environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        guard environment["OPENBLAS_CORETYPE"] == nil else { return nil }
        guard ["Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Sandybridge"].contains(current) else { return nil }
        let flags = cpuFlags()
        if flags.contains("avx512f") && flags.contains("avx512bw") && flags.contains("avx512vl") { return "SkylakeX" }
        if flags.contains("avx2") && flags.contains("fma") { return "Haswell" }
        return nil
    }

    /// The feature flags of the first CPU in /proc/cpuinfo (empty where there is none).
    static func cpuFlags() -> Set<Substring> {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }),
              let colon = line.firstIndex(of: ":")
        else { return [] }
        return Set(line[line.index(after: colon)...].split(separator: " "))
    }
}
