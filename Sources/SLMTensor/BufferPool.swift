import Foundation
import Synchronization

/// Recycles 64-byte-aligned Float buffers by exact element count.
///
/// A training step allocates the same shapes every step, so after the first
/// step every buffer comes from the pool and the hot loop never calls malloc
/// for tensor data. `misses` counts fresh allocations, which tests use to show
/// the steady state allocates nothing.
public final class BufferPool: Sendable {
    public static let shared = BufferPool(maxPooledBytes: 8 << 30)

    private struct State {
        var free: [Int: [UInt]] = [:]  // element count → addresses of idle buffers
        var pooledBytes = 0
        var misses = 0
    }

    private let state = Mutex(State())
    private let maxPooledBytes: Int
    static let alignment = 64

    public init(maxPooledBytes: Int) {
        self.maxPooledBytes = maxPooledBytes
    }

    /// Fresh allocations made so far (buffers not served from the pool).
    public var misses: Int { state.withLock { $0.misses } }

    func acquire(count: Int) -> UnsafeMutablePointer<Float> {
        let reused: UInt? = state.withLock { s in
            guard var list = s.free[count], let p = list.popLast() else {
                s.misses += 1
                return nil
            }
            s.free[count] = list
            s.pooledBytes -= Self.bytes(count)
            return p
        }
        let raw = reused.flatMap { UnsafeMutableRawPointer(bitPattern: $0) } ?? UnsafeMutableRawPointer.allocate(byteCount: Self.bytes(count), alignment: Self.alignment)
        return raw.bindMemory(to: Float.self, capacity: max(count, 1))
    }

    func release(_ pointer: UnsafeMutablePointer<Float>, count: Int) {
        let address = UInt(bitPattern: pointer)
        let kept = state.withLock { s -> Bool in
            guard s.pooledBytes + Self.bytes(count) <= maxPooledBytes else { return false }
            s.free[count, default: []].append(address)
            s.pooledBytes += Self.bytes(count)
            return true
        }
        if !kept { UnsafeMutableRawPointer(pointer).deallocate() }
    }

    /// Returns every pooled buffer to the system.
    public func drain() {
        let all = state.withLock { s -> [UInt] in
            let all = s.free.values.flatMap { $0 }
            s.free = [:]
            s.pooledBytes = 0
            return all
        }
        all.forEach { UnsafeMutableRawPointer(bitPattern: $0)?.deallocate() }
    }

    private static func bytes(_ count: Int) -> Int { max(count, 1) * MemoryLayout<Float>.stride }
}

/// Owns one pooled buffer; gives it back to the pool when the last tensor using it goes away.
public final class TensorStorage {
    public let pointer: UnsafeMutablePointer<Float>
    public let count: Int

    init(count: Int) {
        self.count = count
        self.pointer = BufferPool.shared.acquire(count: count)
    }

    deinit { BufferPool.shared.release(pointer, count: count) }
}
