/* safetensors.h — read and write Hugging Face safetensors files.
 *
 * Layout: 8-byte little-endian header length N, N bytes of JSON header, then
 * the raw little-endian tensor data. The reader validates exactly as the
 * reference implementation does (header <= 100,000,000 bytes, tensor byte
 * ranges equal to shape x dtype size and tiling the data area with no gap or
 * overlap, optional "__metadata__" string map) and reports bad files as
 * STATUS_BAD_INPUT naming the file, tensor or key, the bad value and what was
 * expected. Limits beyond the reference: at most ST_MAX_DIMS dimensions, only
 * the dtypes below, and names without embedded NUL bytes. */
#ifndef RN_SAFETENSORS_H
#define RN_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

enum st_dtype {
    ST_F32,
    ST_F16,
    ST_BF16,
    ST_F64,
    ST_I64,
    ST_I32,
    ST_I16,
    ST_I8,
    ST_U8,
    ST_BOOL,
    ST_DTYPE_COUNT
};

/* "F32", "F16", ... as spelled in the header. */
const char *st_dtype_name(enum st_dtype dtype);
/* Bytes per element. */
size_t st_dtype_size(enum st_dtype dtype);
/* Parses a header dtype string; returns 0 and sets *out, or -1 if unknown. */
int st_dtype_from_name(const char *name, enum st_dtype *out);

#define ST_MAX_DIMS 8
/* The reference rejects headers larger than this many bytes. */
#define ST_MAX_HEADER 100000000ull

struct st_tensor {
    const char *name;
    enum st_dtype dtype;
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    int64_t numel;       /* product of shape (1 for a scalar, ndim == 0) */
    size_t nbytes;       /* numel * st_dtype_size(dtype) */
    const void *data;    /* points into the file buffer; may be unaligned:
                            read elements with memcpy, little-endian */
};

struct st_file; /* opaque */

/* Reads the whole file at path into memory and validates it. On success
 * *out owns everything (free with safetensors_free); tensors, names and
 * metadata stay valid until then. Returns STATUS_IO (cannot open/read),
 * STATUS_BAD_INPUT (malformed file) or STATUS_NOMEM; *out is NULL then. */
int safetensors_read(const char *path, struct st_file **out);
int safetensors_n_tensors(const struct st_file *f);
/* Tensor i (0 <= i < n_tensors), in file order (by data offset). */
const struct st_tensor *safetensors_tensor(const struct st_file *f, int i);
/* The tensor called name, or NULL if absent (binary search). */
const struct st_tensor *safetensors_find(const struct st_file *f, const char *name);
/* The "__metadata__" value for key, or NULL if absent. */
const char *safetensors_metadata(const struct st_file *f, const char *key);
int safetensors_n_metadata(const struct st_file *f);
/* Metadata entry i in header order; NULL key/value pointers if out of range. */
void safetensors_metadata_at(const struct st_file *f, int i, const char **key, const char **value);
const char *safetensors_path(const struct st_file *f);
/* NULL is a no-op. */
void safetensors_free(struct st_file *f);

/* Converts t (F32/F16/BF16/F64) into dst[t->numel]. Any other dtype:
 * STATUS_BAD_INPUT naming the file, the tensor and its dtype. */
int st_tensor_to_f32(const struct st_file *f, const struct st_tensor *t, float *dst);

/* Writer: collects tensors (their data is copied at add time) and metadata,
 * then st_writer_save writes PATH.tmp and renames it over PATH, so no
 * half-written file is ever left (the tmp is removed on failure). Tensors
 * are written in insertion order with contiguous offsets; the header is
 * padded with spaces so the data starts at a multiple of 8 bytes.
 * add/set return STATUS_BAD_INPUT for a duplicate or empty name, the
 * reserved name "__metadata__", ndim outside [0, ST_MAX_DIMS], a negative
 * dimension or a size overflow; STATUS_NOMEM on allocation failure. */
struct st_writer;
struct st_writer *st_writer_alloc(void); /* NULL on OOM */
int st_writer_add(struct st_writer *w, const char *name, enum st_dtype dtype, int ndim,
                  const int64_t *shape, const void *data);
/* Stores float data as dst (ST_F32, ST_F16 or ST_BF16; rounding to nearest
 * even); any other dst is STATUS_BAD_INPUT. */
int st_writer_add_f32_as(struct st_writer *w, const char *name, enum st_dtype dst, int ndim,
                         const int64_t *shape, const float *data);
/* Sets (or replaces) a metadata entry. */
int st_writer_set_metadata(struct st_writer *w, const char *key, const char *value);
/* Writes the file; STATUS_IO naming PATH on any write failure. The writer
 * keeps its contents and can be saved again. */
int st_writer_save(struct st_writer *w, const char *path);
void st_writer_free(struct st_writer *w); /* NULL is a no-op */

#endif
