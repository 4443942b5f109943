import CHDF5
import Foundation

/// The one owner of every HDF5 call in slm. libhdf5 as Debian packages it is built without its
/// thread-safety option, so two threads inside it at once corrupt its global state: every call
/// into HDF5 runs inside `HDF5Serial.run`, one at a time across the process.
public enum HDF5Serial {
    private static let lock = NSLock()
    nonisolated(unsafe) private static var silenced = false

    /// Runs `body` holding the process-wide HDF5 lock (not re-entrant: `body` must not call `run`).
    static func run<T>(_ body: () throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        if !silenced {
            slm_silence_hdf5_errors()
            silenced = true
        }
        return try body()
    }
}

/// An HDF5 call failed, or a file does not follow the layout slm expects.
public struct HDF5Error: Error, CustomStringConvertible, Equatable {
    public var path: String
    public var message: String
    public init(path: String, _ message: String) {
        self.path = path
        self.message = message
    }
    public var description: String { "\(path): \(message)" }
}

/// Thin helpers over the HDF5 C API for one open file; callers hold `HDF5Serial`. Every id they
/// return is closed by the caller (`defer { H5Dclose(id) }` and the like).
struct HDF5Calls {
    let path: String

    func check(_ status: herr_t, _ what: @autoclosure () -> String) throws {
        if status < 0 { throw HDF5Error(path: path, what()) }
    }

    func id(_ id: hid_t, _ what: @autoclosure () -> String) throws -> hid_t {
        if id < 0 { throw HDF5Error(path: path, what()) }
        return id
    }

    func exists(_ location: hid_t, _ name: String) -> Bool { H5Lexists(location, name, slm_H5P_DEFAULT()) > 0 }

    /// The current extent of a dataset, one entry per dimension.
    func dims(_ dataset: hid_t, name: String) throws -> [hsize_t] {
        let space = try id(H5Dget_space(dataset), "cannot read the shape of \(name)")
        defer { H5Sclose(space) }
        let rank = Int(H5Sget_simple_extent_ndims(space))
        guard rank >= 0 && rank <= 8 else { throw HDF5Error(path: path, "\(name) has an unreadable rank") }
        var dims = [hsize_t](repeating: 0, count: rank)
        _ = H5Sget_simple_extent_dims(space, &dims, nil)
        return dims
    }

    /// The chunk shape of a chunked dataset; nil for a contiguous or compact one.
    func chunkDims(_ dataset: hid_t, rank: Int) -> [hsize_t]? {
        let plist = H5Dget_create_plist(dataset)
        guard plist >= 0 else { return nil }
        defer { H5Pclose(plist) }
        var dims = [hsize_t](repeating: 0, count: rank)
        guard H5Pget_chunk(plist, Int32(rank), &dims) == Int32(rank) else { return nil }
        return dims
    }

    /// Creates an extendable dataset of `type` with shape [0, trailing...], chunked by
    /// [chunkRows, trailing...], compressed with shuffle + deflate when `compress`.
    func createExtendable(
        _ location: hid_t, _ name: String, type: hid_t, trailing: [hsize_t], chunkRows: hsize_t, compress: Bool
    ) throws -> hid_t {
        var current = [0] + trailing
        var maximum = [slm_H5S_UNLIMITED()] + trailing
        var chunk = [chunkRows] + trailing
        let space = try id(H5Screate_simple(Int32(current.count), &current, &maximum), "cannot make the dataspace of \(name)")
        defer { H5Sclose(space) }
        let plist = try id(H5Pcreate(slm_H5P_DATASET_CREATE()), "cannot make the properties of \(name)")
        defer { H5Pclose(plist) }
        try check(H5Pset_chunk(plist, Int32(chunk.count), &chunk), "cannot chunk \(name)")
        if compress {
            try check(H5Pset_shuffle(plist), "cannot add the shuffle filter to \(name)")
            try check(H5Pset_deflate(plist, 1), "cannot add deflate compression to \(name) (HDF5 built without zlib?)")
        }
        return try id(
            H5Dcreate2(location, name, type, space, slm_H5P_DEFAULT(), plist, slm_H5P_DEFAULT()), "cannot create dataset \(name)")
    }

    /// Writes rows [start, start + rows) of a dataset with shape [n, trailing...] from `bytes`
    /// (already in `memoryType`), growing the dataset to `newRows` first.
    func writeRows(
        _ dataset: hid_t, name: String, memoryType: hid_t, start: hsize_t, rows: hsize_t, newRows: hsize_t,
        trailing: [hsize_t], bytes: UnsafeRawPointer?
    ) throws {
        var newDims = [newRows] + trailing
        try check(H5Dset_extent(dataset, &newDims), "cannot extend \(name) to \(newRows) rows (is it chunked with an unlimited first dimension?)")
        guard rows > 0 else { return }
        try withRows(dataset, name: name, start: start, rows: rows, trailing: trailing) { memorySpace, fileSpace in
            try check(H5Dwrite(dataset, memoryType, memorySpace, fileSpace, slm_H5P_DEFAULT(), bytes), "cannot write \(rows) rows of \(name)")
        }
    }

    /// Reads rows [start, start + rows) of a dataset with shape [n, trailing...] into `bytes`,
    /// converted to `memoryType`.
    func readRows(
        _ dataset: hid_t, name: String, memoryType: hid_t, start: hsize_t, rows: hsize_t, trailing: [hsize_t],
        into bytes: UnsafeMutableRawPointer?
    ) throws {
        guard rows > 0 else { return }
        try withRows(dataset, name: name, start: start, rows: rows, trailing: trailing) { memorySpace, fileSpace in
            try check(H5Dread(dataset, memoryType, memorySpace, fileSpace, slm_H5P_DEFAULT(), bytes), "cannot read \(rows) rows of \(name)")
        }
    }

    /// Calls `body` with a memory space for rows [start, start + rows) and the dataset's file space
    /// with those rows selected.
    private func withRows(
        _ dataset: hid_t, name: String, start: hsize_t, rows: hsize_t, trailing: [hsize_t], _ body: (hid_t, hid_t) throws -> Void
    ) throws {
        let fileSpace = try id(H5Dget_space(dataset), "cannot read the shape of \(name)")
        defer { H5Sclose(fileSpace) }
        var offset = [start] + trailing.map { _ in 0 }
        var count = [rows] + trailing
        try check(H5Sselect_hyperslab(fileSpace, H5S_SELECT_SET, &offset, nil, &count, nil), "cannot select rows of \(name)")
        let memorySpace = try id(H5Screate_simple(Int32(count.count), &count, nil), "cannot make a memory space for \(name)")
        defer { H5Sclose(memorySpace) }
        try body(memorySpace, fileSpace)
    }

    // MARK: attributes

    func writeAttribute(_ location: hid_t, _ name: String, string value: String) throws {
        let type = try id(H5Tcopy(slm_H5T_C_S1()), "cannot make a string type")
        defer { H5Tclose(type) }
        try check(H5Tset_size(type, slm_H5T_VARIABLE()), "cannot make a string type")
        try check(H5Tset_cset(type, H5T_CSET_UTF8), "cannot make a string type")
        let space = try id(H5Screate(H5S_SCALAR), "cannot make a scalar space")
        defer { H5Sclose(space) }
        if H5Aexists(location, name) > 0 { H5Adelete(location, name) }
        let attribute = try id(H5Acreate2(location, name, type, space, slm_H5P_DEFAULT(), slm_H5P_DEFAULT()), "cannot create attribute \(name)")
        defer { H5Aclose(attribute) }
        try value.withCString { cString in
            var pointer: UnsafePointer<CChar>? = cString
            try check(H5Awrite(attribute, type, &pointer), "cannot write attribute \(name)")
        }
    }

    func writeAttribute(_ location: hid_t, _ name: String, int64 value: Int64) throws {
        try writeScalar(location, name, fileType: slm_H5T_STD_I64LE(), memoryType: slm_H5T_NATIVE_INT64(), value)
    }

    func writeAttribute(_ location: hid_t, _ name: String, double value: Double) throws {
        try writeScalar(location, name, fileType: slm_H5T_IEEE_F64LE(), memoryType: slm_H5T_NATIVE_DOUBLE(), value)
    }

    private func writeScalar<T: BitwiseCopyable>(_ location: hid_t, _ name: String, fileType: hid_t, memoryType: hid_t, _ value: T) throws {
        let space = try id(H5Screate(H5S_SCALAR), "cannot make a scalar space")
        defer { H5Sclose(space) }
        if H5Aexists(location, name) > 0 { H5Adelete(location, name) }
        let attribute = try id(H5Acreate2(location, name, fileType, space, slm_H5P_DEFAULT(), slm_H5P_DEFAULT()), "cannot create attribute \(name)")
        defer { H5Aclose(attribute) }
        var v = value
        try check(H5Awrite(attribute, memoryType, &v), "cannot write attribute \(name)")
    }

    /// A string attribute, variable-length (as h5py writes `str`) or fixed-length (numpy bytes).
    func readStringAttribute(_ location: hid_t, _ name: String) throws -> String {
        guard H5Aexists(location, name) > 0 else { throw HDF5Error(path: path, "attribute \(name) is missing") }
        let attribute = try id(H5Aopen(location, name, slm_H5P_DEFAULT()), "cannot open attribute \(name)")
        defer { H5Aclose(attribute) }
        let type = try id(H5Aget_type(attribute), "cannot read the type of attribute \(name)")
        defer { H5Tclose(type) }
        guard H5Tget_class(type) == H5T_STRING else { throw HDF5Error(path: path, "attribute \(name) should be a string") }
        let space = try id(H5Aget_space(attribute), "cannot read the shape of attribute \(name)")
        defer { H5Sclose(space) }
        guard H5Sget_simple_extent_npoints(space) == 1 else { throw HDF5Error(path: path, "attribute \(name) should hold one string") }
        if H5Tis_variable_str(type) > 0 {
            let memoryType = try id(H5Tcopy(slm_H5T_C_S1()), "cannot make a string type")
            defer { H5Tclose(memoryType) }
            _ = H5Tset_size(memoryType, slm_H5T_VARIABLE())
            _ = H5Tset_cset(memoryType, H5Tget_cset(type))
            var pointer: UnsafeMutablePointer<CChar>? = nil
            try check(H5Aread(attribute, memoryType, &pointer), "cannot read attribute \(name)")
            guard let pointer else { return "" }
            defer { H5free_memory(pointer) }
            return String(cString: pointer)
        }
        let size = H5Tget_size(type)
        guard size > 0 && size < 1 << 20 else { throw HDF5Error(path: path, "attribute \(name) has an implausible size \(size)") }
        var bytes = [UInt8](repeating: 0, count: size + 1)
        try check(H5Aread(attribute, type, &bytes), "cannot read attribute \(name)")
        return String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self)
    }

    func readNumberAttribute(_ location: hid_t, _ name: String) throws -> Double {
        guard H5Aexists(location, name) > 0 else { throw HDF5Error(path: path, "attribute \(name) is missing") }
        let attribute = try id(H5Aopen(location, name, slm_H5P_DEFAULT()), "cannot open attribute \(name)")
        defer { H5Aclose(attribute) }
        let type = try id(H5Aget_type(attribute), "cannot read the type of attribute \(name)")
        defer { H5Tclose(type) }
        let typeClass = H5Tget_class(type)
        guard typeClass == H5T_INTEGER || typeClass == H5T_FLOAT else { throw HDF5Error(path: path, "attribute \(name) should be a number") }
        let space = try id(H5Aget_space(attribute), "cannot read the shape of attribute \(name)")
        defer { H5Sclose(space) }
        guard H5Sget_simple_extent_npoints(space) == 1 else { throw HDF5Error(path: path, "attribute \(name) should hold one number") }
        var value = 0.0
        try check(H5Aread(attribute, slm_H5T_NATIVE_DOUBLE(), &value), "cannot read attribute \(name) as a number")
        return value
    }
}
