import CBLAS
import Foundation

/// The OpenBLAS settings slm wants, which OpenBLAS reads from the environment once, when
/// it is loaded, so they have to be in place before the process starts (see `slm`'s entry point).
///
/// - `OPENBLAS_CORETYPE`: Debian 12's OpenBLAS (0.3.21, DYNAMIC_ARCH) predates recent Xeons and
///   falls back to its SSE3 "Prescott" kernels on them, about 2.5× slower than its AVX-512 ones.
/// - `OPENBLAS_THREAD_TIMEOUT`: after each call OpenBLAS's idle threads spin, yielding, for
///   2^28 cycles by default; on a 2-core machine that steals a core from slm's own parallel
///   kernels between gemms. 2^4 makes them sleep at once.
///
/// A value the user has set is always kept.
public enum OpenBLASEnvironment {
    /// The kernel family OpenBLAS chose at load time, e.g. "SkylakeX" or "Prescott".
    public static var coreType: String { String(cString: openblas_get_corename()) }

    /// Variables to set (name → value) that the environment lacks.
    public static func missing(from environment: [String: String] = ProcessInfo.processInfo.environment) -> [String: String] {
        var wanted: [String: String] = [:]
        if environment["OPENBLAS_THREAD_TIMEOUT"] == nil { wanted["OPENBLAS_THREAD_TIMEOUT"] = "4" }
        if environment["OPENBLAS_CORETYPE"] == nil, let core = betterCoreType() { wanted["OPENBLAS_CORETYPE"] = core }
        return wanted
    }

    /// A faster kernel family than the one OpenBLAS detected, if this CPU supports one.
    static func betterCoreType() -> String? {
        guard ["Prescott", "Core2", "Penryn", "Dunnington", "Nehalem", "Sandybridge"].contains(coreType) else { return nil }
        let flags = cpuFlags()
        if flags.isSuperset(of: ["avx512f", "avx512bw", "avx512vl"]) { return "SkylakeX" }
        if flags.isSuperset(of: ["avx2", "fma"]) { return "Haswell" }
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
