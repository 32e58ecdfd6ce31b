/* npy.h — NumPy .npy files: the tensors the command line reads and writes
 * (inputs, logits, npy datasets). See SPEC.md section 5.
 *
 * Readers accept format versions 1.0, 2.0 and 3.0, C order only, with a
 * little-endian (or byte-order-free, '|') dtype. The header must be a Python
 * dict literal with exactly the keys 'descr', 'fortran_order' and 'shape';
 * the data must be exactly product(shape) * itemsize bytes, nothing after.
 * Writers produce version 1.0 headers padded so that the data starts at a
 * multiple of 64 bytes, byte for byte what numpy.save writes. */
#ifndef RN_NPY_H
#define RN_NPY_H

#include <stdint.h>

#define NPY_MAX_DIMS 8

/* Reads a floating-point array. Accepted dtypes: '<f4', '<f8', '<f2'; f8
 * and f2 are converted to float (f8 values beyond float's range become inf).
 * On success *data is a malloc'd [product(shape)] buffer owned by the caller
 * (non-NULL even for zero elements), *ndim is 0..NPY_MAX_DIMS and shape[0..ndim)
 * holds the dimensions. On failure *data is NULL and the returns are
 * STATUS_IO (cannot open or read), STATUS_BAD_INPUT (malformed, unsupported
 * dtype, size mismatch; the message names the path) or STATUS_NOMEM. */
int npy_read_f32(const char *path, float **data, int *ndim, int64_t shape[NPY_MAX_DIMS]);

/* Reads an integer array into int64. Accepted dtypes: '<i8', '<i4', '<i2',
 * '|i1', '|u1', '<u2', '<u4', '<u8' (a '<u8' value above INT64_MAX is
 * STATUS_BAD_INPUT). Ownership and statuses as npy_read_f32. */
int npy_read_i64(const char *path, int64_t **data, int *ndim, int64_t shape[NPY_MAX_DIMS]);

/* Writes data [product(shape)] as '<f4' with ndim 0..NPY_MAX_DIMS and
 * non-negative dimensions (else STATUS_BAD_INPUT). The file appears
 * atomically: it is written to PATH.tmp and renamed; on any failure the
 * temporary file is removed and STATUS_IO returned. */
int npy_write_f32(const char *path, const float *data, int ndim, const int64_t *shape);

/* As npy_write_f32, writing '<i8'. */
int npy_write_i64(const char *path, const int64_t *data, int ndim, const int64_t *shape);

#endif
