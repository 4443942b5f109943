// HDF5 exposes its type ids and flags as C macros that expand to global
// variables after a call to H5open(); Swift cannot import such macros, so each
// one slm needs is wrapped in a static inline function here.
#include <hdf5.h>

static inline hid_t slm_H5T_NATIVE_FLOAT(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t slm_H5P_DEFAULT(void) { return H5P_DEFAULT; }
static inline hid_t slm_H5S_ALL(void) { return H5S_ALL; }
static inline unsigned slm_H5F_ACC_TRUNC(void) { return H5F_ACC_TRUNC; }
static inline unsigned slm_H5F_ACC_RDONLY(void) { return H5F_ACC_RDONLY; }
