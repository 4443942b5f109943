// HDF5 exposes its type ids and flags as C macros that expand to global
// variables after a call to H5open(); Swift cannot import such macros, so each
// one slm needs is wrapped in a static inline function here.
#include <hdf5.h>

static inline hid_t slm_H5T_NATIVE_FLOAT(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t slm_H5T_NATIVE_INT32(void) { return H5T_NATIVE_INT32; }
static inline hid_t slm_H5T_NATIVE_INT64(void) { return H5T_NATIVE_INT64; }
static inline hid_t slm_H5T_NATIVE_UINT64(void) { return H5T_NATIVE_UINT64; }
static inline hid_t slm_H5T_NATIVE_DOUBLE(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t slm_H5T_STD_I32LE(void) { return H5T_STD_I32LE; }
static inline hid_t slm_H5T_STD_I64LE(void) { return H5T_STD_I64LE; }
static inline hid_t slm_H5T_STD_U64LE(void) { return H5T_STD_U64LE; }
static inline hid_t slm_H5T_IEEE_F32LE(void) { return H5T_IEEE_F32LE; }
static inline hid_t slm_H5T_IEEE_F64LE(void) { return H5T_IEEE_F64LE; }
static inline hid_t slm_H5T_C_S1(void) { return H5T_C_S1; }
static inline size_t slm_H5T_VARIABLE(void) { return H5T_VARIABLE; }
static inline hid_t slm_H5P_DEFAULT(void) { return H5P_DEFAULT; }
static inline hid_t slm_H5P_FILE_CREATE(void) { return H5P_FILE_CREATE; }
static inline hid_t slm_H5P_FILE_ACCESS(void) { return H5P_FILE_ACCESS; }
static inline hid_t slm_H5P_DATASET_CREATE(void) { return H5P_DATASET_CREATE; }
static inline hid_t slm_H5S_ALL(void) { return H5S_ALL; }
static inline hsize_t slm_H5S_UNLIMITED(void) { return H5S_UNLIMITED; }
static inline unsigned slm_H5F_ACC_TRUNC(void) { return H5F_ACC_TRUNC; }
static inline unsigned slm_H5F_ACC_EXCL(void) { return H5F_ACC_EXCL; }
static inline unsigned slm_H5F_ACC_RDONLY(void) { return H5F_ACC_RDONLY; }
static inline unsigned slm_H5F_ACC_RDWR(void) { return H5F_ACC_RDWR; }

/// IEEE half precision, little-endian, laid out as numpy's float16 (what h5py writes):
/// 1 sign bit at 15, 5 exponent bits at 10 with bias 15, 10 mantissa bits at 0.
static inline hid_t slm_create_float16_type(void) {
    hid_t t = H5Tcopy(H5T_IEEE_F32LE);
    if (t < 0) return t;
    if (H5Tset_fields(t, 15, 10, 5, 0, 10) < 0 || H5Tset_precision(t, 16) < 0 || H5Tset_size(t, 2) < 0
        || H5Tset_ebias(t, 15) < 0) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

/// Stops HDF5 from printing its error stack to stderr; slm reports errors itself.
static inline void slm_silence_hdf5_errors(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

/// Metadata stays in memory until an explicit flush (no evictions, no resizing of the cache),
/// so the file on disk changes its metadata only at H5Fflush: an appender killed between two
/// flushes leaves the file as the last flush wrote it.
static inline herr_t slm_keep_metadata_until_flush(hid_t fapl) {
    H5AC_cache_config_t config;
    config.version = H5AC__CURR_CACHE_CONFIG_VERSION;
    if (H5Pget_mdc_config(fapl, &config) < 0) return -1;
    config.evictions_enabled = 0;
    config.incr_mode = H5C_incr__off;
    config.flash_incr_mode = H5C_flash_incr__off;
    config.decr_mode = H5C_decr__off;
    config.set_initial_size = 1;
    config.initial_size = 16 * 1024 * 1024;
    if (config.max_size < config.initial_size) config.max_size = config.initial_size;
    return H5Pset_mdc_config(fapl, &config);
}
