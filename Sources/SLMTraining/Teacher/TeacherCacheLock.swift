import Foundation

/// The one-writer rule of a teacher cache: an exclusive, non-blocking `flock` on `<cache>.lock`,
/// held while the writer is open and released by the kernel when the process ends, even on
/// SIGKILL. The file holds the writer's process id, for the message a second writer gets.
final class TeacherCacheLock {
    let path: String
    private let descriptor: Int32

    init(cachePath: String) throws {
        path = cachePath + ".lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw HDF5Error(path: path, "cannot create the lock file: \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let holder = Self.pid(in: fd)
            close(fd)
            throw Self.busy(cachePath, holder: holder)
        }
        descriptor = fd
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pwrite(fd, pid, pid.count, 0)
    }

    /// The error of a cache some other process is writing, if one is: checked without taking the lock
    /// for more than an instant.
    static func busyError(cachePath: String) -> HDF5Error? {
        let fd = open(cachePath + ".lock", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        guard flock(fd, LOCK_SH | LOCK_NB) != 0 else {
            flock(fd, LOCK_UN)
            return nil
        }
        return busy(cachePath, holder: pid(in: fd))
    }

    private static func busy(_ cachePath: String, holder: String) -> HDF5Error {
        HDF5Error(
            path: cachePath,
            "another process (pid \(holder)) is writing this teacher cache; wait for it to finish, or stop it, then run again (lock: \(cachePath).lock)")
    }

    private static func pid(in fd: Int32) -> String {
        var bytes = [UInt8](repeating: 0, count: 32)
        let n = pread(fd, &bytes, 32, 0)
        return n > 0 ? String(decoding: bytes.prefix(n), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : "?"
    }

    deinit {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
