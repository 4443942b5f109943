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
            var bytes = [UInt8](repeating: 0, count: 32)
            let n = pread(fd, &bytes, 32, 0)
            close(fd)
            let holder = n > 0 ? String(decoding: bytes.prefix(n), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines) : "?"
            throw HDF5Error(
                path: cachePath,
                "another process (pid \(holder)) is writing this teacher cache; wait for it to finish, or stop it, then run again (lock: \(path))")
        }
        descriptor = fd
        let pid = Array("\(getpid())\n".utf8)
        _ = ftruncate(fd, 0)
        _ = pwrite(fd, pid, pid.count, 0)
    }

    deinit {
        flock(descriptor, LOCK_UN)
        close(descriptor)
    }
}
