/* ONNX tensors at import: TensorProto decoding (raw, typed and external
 * data), the tensor byte budget, and host tensors read as numbers. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "import_internal.h"

size_t dy_onnx_dtype_size(int dtype) {
  switch (dtype) {
  case T_FLOAT:
  case T_INT32:
    return 4;
  case T_UINT8:
  case T_INT8:
  case T_BOOL:
    return 1;
  case T_INT16:
    return 2;
  case T_INT64:
  case T_DOUBLE:
    return 8;
  default:
    return 0;
  }
}

const char *dy_onnx_dtype_name(int dtype) {
  static const char *const names[] = {
      "undefined", "float",  "uint8",     "int8",       "uint16",  "int16",
      "int32",     "int64",  "string",    "bool",       "float16", "double",
      "uint32",    "uint64", "complex64", "complex128", "bfloat16"};
  return dtype >= 0 && dtype < 17 ? names[dtype] : "unknown";
}

/* --- tensors --- */

int64_t dy_onnx_numel(int rank, const int64_t *dims) {
  int64_t n = 1;
  for (int i = 0; i < rank; i++)
    n *= dims[i]; /* callers check each dim and the product first */
  return n;
}

/* Checks a shape and returns its element count, failing on negative dims,
 * rank over DY_MAX_RANK, or a count (of the non-zero dims) past 2^40. */
int64_t dy_onnx_check_shape(Imp *m, const char *what, size_t rank,
                            const int64_t *dims) {
  if (rank > DY_MAX_RANK)
    dy_onnx_unsupported(m, "%s has rank %zu; at most %d is supported", what,
                        rank, DY_MAX_RANK);
  /* the bound is on the product of the non-zero dims, so that no partial
   * product of the dims of an empty tensor (outer, inner) overflows */
  int64_t n = 1, nz = 1;
  for (size_t i = 0; i < rank; i++) {
    if (dims[i] < 0)
      dy_onnx_invalid(m, "%s has a negative dimension", what);
    if (dims[i] > ((int64_t)1 << 40) ||
        (dims[i] && nz > ((int64_t)1 << 40) / dims[i]))
      dy_onnx_invalid(m, "%s is too large", what);
    nz *= dims[i] ? dims[i] : 1;
    n *= dims[i];
  }
  return n;
}

void *dy_onnx_take_budget(Imp *m, size_t nbytes, const char *what) {
  if (nbytes > m->budget)
    dy_onnx_invalid(m, "%s: tensor data exceeds the limit of %zu bytes", what,
                    m->opt && m->opt->max_bytes ? m->opt->max_bytes
                                                : DY_ONNX_DEFAULT_MAX);
  m->budget -= nbytes;
  void *p = dy_arena_try_alloc(m->scratch, nbytes ? nbytes : 1);
  if (!p)
    dy_onnx_invalid(m, "%s: out of memory for %zu bytes", what, nbytes);
  return p;
}

static const char *ext_value(const Onnx__TensorProto *t, const char *key) {
  for (size_t i = 0; i < t->n_external_data; i++)
    if (t->external_data[i]->key && strcmp(t->external_data[i]->key, key) == 0)
      return t->external_data[i]->value;
  return NULL;
}

/* Reads the nbytes of external data of t, in memory taken only once the
 * file is known to hold them. */
static void *read_external(Imp *m, const Onnx__TensorProto *t, size_t nbytes,
                           const char *what) {
  const char *loc = ext_value(t, "location");
  const char *off = ext_value(t, "offset");
  const char *len = ext_value(t, "length");
  if (!loc || !loc[0])
    dy_onnx_invalid(m, "%s: external data has no location", what);
  if (loc[0] == '/' || strstr(loc, ".."))
    dy_onnx_invalid(m,
                    "%s: external data location '%s' must be a relative path "
                    "inside the model's directory",
                    what, loc);
  if (!m->base_dir)
    dy_onnx_unsupported(m, "%s: external data needs the model's directory",
                        what);
  char *end;
  unsigned long long o = off ? strtoull(off, &end, 10) : 0;
  if (off && (*end || off[0] == '-'))
    dy_onnx_invalid(m, "%s: bad external data offset '%s'", what, off);
  if (len) {
    unsigned long long l = strtoull(len, &end, 10);
    if (*end || l != nbytes)
      dy_onnx_invalid(
          m,
          "%s: external data length %s does not match the %zu bytes "
          "of the tensor",
          what, len, nbytes);
  }
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", m->base_dir, loc);
  FILE *f = fopen(path, "rb");
  if (!f)
    dy_onnx_invalid(m, "%s: cannot open external data '%s': %s", what, path,
                    strerror(errno));
  int ok = fseek(f, 0, SEEK_END) == 0;
  long size = ok ? ftell(f) : -1;
  ok = ok && size >= 0 && (unsigned long long)size >= o &&
       (unsigned long long)size - o >= nbytes;
  fclose(f);
  if (!ok)
    dy_onnx_invalid(m,
                    "%s: external data '%s' is shorter than offset %llu + %zu "
                    "bytes",
                    what, loc, o, nbytes);
  void *dst = dy_onnx_take_budget(m, nbytes, what);
  f = fopen(path, "rb");
  ok = f && fseek(f, (long)o, SEEK_SET) == 0 &&
       fread(dst, 1, nbytes, f) == nbytes;
  if (f)
    fclose(f);
  if (!ok)
    dy_onnx_invalid(m, "%s: cannot read external data '%s'", what, path);
  return dst;
}

/* Decodes a TensorProto into a host tensor. */
Host *dy_onnx_host_from_proto(Imp *m, const Onnx__TensorProto *t,
                              const char *what) {
  Host *h = dy_arena_alloc(m->scratch, sizeof *h);
  h->dtype = t->has_data_type ? t->data_type : 0;
  size_t esz = dy_onnx_dtype_size(h->dtype);
  if (!esz || h->dtype == T_BOOL || h->dtype == T_DOUBLE)
    dy_onnx_unsupported(m, "%s has data type %s", what,
                        dy_onnx_dtype_name(h->dtype));
  int64_t n = dy_onnx_check_shape(m, what, t->n_dims, t->dims);
  h->rank = (int)t->n_dims;
  for (int i = 0; i < h->rank; i++)
    h->dims[i] = t->dims[i];
  h->nbytes = (size_t)n * esz;
  if (t->has_data_location &&
      t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL) {
    h->data = read_external(m, t, h->nbytes, what);
    return h;
  }
  /* The data must be there before memory is taken for it: a small file
   * can claim a shape of gigabytes. */
  if (t->has_raw_data && t->raw_data.len != h->nbytes)
    dy_onnx_invalid(m, "%s: raw_data has %zu bytes, the shape needs %zu", what,
                    t->raw_data.len, h->nbytes);
  size_t have = t->has_raw_data       ? (size_t)n
                : h->dtype == T_FLOAT ? t->n_float_data
                : h->dtype == T_INT64 ? t->n_int64_data
                                      : t->n_int32_data;
  if (have != (size_t)n)
    dy_onnx_invalid(m, "%s holds %zu values, its shape needs %lld", what, have,
                    (long long)n);
  h->data = dy_onnx_take_budget(m, h->nbytes, what);
  if (t->has_raw_data) {
    if (h->nbytes)
      memcpy(h->data, t->raw_data.data, h->nbytes);
    return h;
  }
  switch (h->dtype) {
  case T_FLOAT:
    if (n)
      memcpy(h->data, t->float_data, h->nbytes);
    break;
  case T_INT64:
    if (n)
      memcpy(h->data, t->int64_data, h->nbytes);
    break;
  default: /* int8, uint8, int16, int32 are stored in int32_data */
    for (int64_t i = 0; i < n; i++) {
      int32_t v = t->int32_data[i];
      if (h->dtype == T_INT32)
        ((int32_t *)h->data)[i] = v;
      else if (h->dtype == T_INT16)
        ((int16_t *)h->data)[i] = (int16_t)v;
      else if (h->dtype == T_INT8)
        ((int8_t *)h->data)[i] = (int8_t)v;
      else
        ((uint8_t *)h->data)[i] = (uint8_t)v;
    }
    break;
  }
  return h;
}

int64_t dy_onnx_host_int(const Host *h, int64_t i) {
  switch (h->dtype) {
  case T_INT64:
    return ((const int64_t *)h->data)[i];
  case T_INT32:
    return ((const int32_t *)h->data)[i];
  case T_INT16:
    return ((const int16_t *)h->data)[i];
  case T_INT8:
    return ((const int8_t *)h->data)[i];
  case T_UINT8:
    return ((const uint8_t *)h->data)[i];
  default: { /* float where integers belong (malformed): saturate, NaN 0 */
    float f = ((const float *)h->data)[i];
    return f != f         ? 0
           : f >= 0x1p63f ? INT64_MAX
           : f < -0x1p63f ? INT64_MIN
                          : (int64_t)f;
  }
  }
}

double dy_onnx_host_f(const Host *h, int64_t i) {
  return h->dtype == T_FLOAT ? (double)((const float *)h->data)[i]
                             : (double)dy_onnx_host_int(h, i);
}

int64_t dy_onnx_host_numel(const Host *h) {
  return dy_onnx_numel(h->rank, h->dims);
}

Host *dy_onnx_new_host(Imp *m, int dtype, int rank, const int64_t *dims) {
  Host *h = dy_arena_alloc(m->scratch, sizeof *h);
  h->dtype = dtype;
  h->rank = rank;
  if (rank) /* dims may be NULL for a scalar */
    memcpy(h->dims, dims, (size_t)rank * sizeof *dims);
  int64_t n = dy_onnx_check_shape(m, "result", (size_t)rank, dims);
  h->nbytes = (size_t)n * dy_onnx_dtype_size(dtype);
  h->data = dy_onnx_take_budget(m, h->nbytes, "result");
  return h;
}
