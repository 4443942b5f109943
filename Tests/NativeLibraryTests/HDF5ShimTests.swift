import CHDF5
import Foundation
import XCTest

/// The HDF5 shim: its wrapped macros give working type ids and flags.
final class HDF5ShimTests: XCTestCase {
    func testWriteAndReadBackAFloatDataset() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("slm-shim-\(getpid()).h5").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        let values: [Float] = [1.5, -2, 3.25, 0, 7, 8]

        let file = H5Fcreate(path, slm_H5F_ACC_TRUNC(), slm_H5P_DEFAULT(), slm_H5P_DEFAULT())
        XCTAssertGreaterThanOrEqual(file, 0)
        var dims: [hsize_t] = [2, 3]
        let space = H5Screate_simple(2, &dims, nil)
        let dataset = H5Dcreate2(file, "logprobs", slm_H5T_NATIVE_FLOAT(), space, slm_H5P_DEFAULT(), slm_H5P_DEFAULT(), slm_H5P_DEFAULT())
        XCTAssertGreaterThanOrEqual(dataset, 0)
        XCTAssertGreaterThanOrEqual(values.withUnsafeBytes {
            H5Dwrite(dataset, slm_H5T_NATIVE_FLOAT(), slm_H5S_ALL(), slm_H5S_ALL(), slm_H5P_DEFAULT(), $0.baseAddress)
        }, 0)
        H5Dclose(dataset)
        H5Sclose(space)
        H5Fclose(file)

        let reopened = H5Fopen(path, slm_H5F_ACC_RDONLY(), slm_H5P_DEFAULT())
        let readSet = H5Dopen2(reopened, "logprobs", slm_H5P_DEFAULT())
        var back = [Float](repeating: 0, count: 6)
        XCTAssertGreaterThanOrEqual(back.withUnsafeMutableBytes {
            H5Dread(readSet, slm_H5T_NATIVE_FLOAT(), slm_H5S_ALL(), slm_H5S_ALL(), slm_H5P_DEFAULT(), $0.baseAddress)
        }, 0)
        H5Dclose(readSet)
        H5Fclose(reopened)
        XCTAssertEqual(back, values)
    }
}
