import CBLAS
import CHDF5
import SLMModel
import SLMTensor

/// `slm --version`: slm's own version and the native libraries it was linked with.
enum VersionInfo {
    static let slm = SLMVersion.current

    static var text: String {
        var major: UInt32 = 0, minor: UInt32 = 0, release: UInt32 = 0
        H5get_libversion(&major, &minor, &release)
        let blas = String(cString: openblas_get_config())
        return "slm \(slm) (OpenBLAS: \(blas), kernels \(OpenBLASEnvironment.coreType); HDF5 \(major).\(minor).\(release))"
    }
}
