/* ONNX importer: ModelProto (protobuf-c, generated from Debian's onnx.proto)
 * into the graph IR.
 *
 * Layout: ONNX is NCHW, the IR is NHWC. Every imported value keeps its ONNX
 * (logical) shape; rank-4 values made by conv, pooling and batchnorm are held
 * in NHWC (`nhwc` set) and turned back into NCHW by an explicit transpose only
 * where an op needs the logical order (reshape, flatten, matmul, ...).
 * Elementwise ops, softmax, concat and pad follow the layout of their input by
 * remapping axes; constants are permuted at import. Weights are transposed to
 * the IR's layouts (conv OIHW -> OHWI, Gemm B -> KxN) at import.
 *
 * Shape computations (Shape, Gather, Unsqueeze, Concat, Cast, arithmetic on
 * int64 constants, ...) are evaluated here, so their results reach the IR
 * only as the constants they are. Nothing is approximated: anything not
 * handled exactly is reported as unsupported with the node's name, op type
 * and index.
 */
#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dyad/onnx.h"
#include "dyad/shape.h"
#include "dyad/text.h"
#include "onnx.pb-c.h"

#define DY_ONNX_DEFAULT_MAX ((size_t)2 << 30)

enum {
  T_FLOAT = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT,
  T_UINT8 = ONNX__TENSOR_PROTO__DATA_TYPE__UINT8,
  T_INT8 = ONNX__TENSOR_PROTO__DATA_TYPE__INT8,
  T_INT16 = ONNX__TENSOR_PROTO__DATA_TYPE__INT16,
  T_INT32 = ONNX__TENSOR_PROTO__DATA_TYPE__INT32,
  T_INT64 = ONNX__TENSOR_PROTO__DATA_TYPE__INT64,
  T_BOOL = ONNX__TENSOR_PROTO__DATA_TYPE__BOOL,
  T_DOUBLE = ONNX__TENSOR_PROTO__DATA_TYPE__DOUBLE,
};

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

int dy_is_onnx_path(const char *path) {
  size_t n = strlen(path);
  return n >= 5 && strcmp(path + n - 5, ".onnx") == 0;
}

/* A tensor known at import time (initializer, Constant, folded). */
typedef struct Host {
  int dtype;
  int rank;
  int64_t dims[DY_MAX_RANK];
  void *data; /* importer arena */
  size_t nbytes;
} Host;

/* An ONNX value as imported. */
typedef struct Val {
  const char *name; /* ONNX name */
  int dtype;        /* ONNX element type */
  int rank;         /* logical (ONNX) shape */
  int64_t dims[DY_MAX_RANK];
  Host *k;      /* known value, or NULL */
  DyValue *v;   /* IR value (NULL until needed, for constants) */
  int nhwc;     /* v holds this rank-4 value in NHWC order */
  DyValue *alt; /* cached other layout of v */
  /* A graph input whose value was given at import (test data): nodes that
   * need a constant read it; any other use makes it a real graph input. */
  Host *given;
  int input_index; /* position among the ONNX graph inputs */
} Val;

typedef struct Imp {
  const char *file;
  const char *base_dir;
  DyDiag *d;
  DyGraph *g;
  DyArena *scratch;
  const DyOnnxOptions *opt;
  size_t budget; /* tensor bytes still allowed */
  jmp_buf fail;
  DyOnnxStatus status;
  int opset;
  /* the node being imported, for messages */
  const Onnx__NodeProto *node;
  size_t node_index;
  Val **tab; /* open addressing by name */
  size_t cap, count;
} Imp;

/* --- errors --- */

static void vfail(Imp *m, DyOnnxStatus st, const char *fmt, va_list ap)
    __attribute__((noreturn));
static void vfail(Imp *m, DyOnnxStatus st, const char *fmt, va_list ap) {
  char msg[1024];
  vsnprintf(msg, sizeof msg, fmt, ap);
  /* say that a limitation is one, unless the message already does */
  const char *pre = st == DY_ONNX_UNSUPPORTED && !strstr(msg, "supported")
                        ? "unsupported: "
                        : "";
  DyLoc loc = {m->file, 0, 0};
  if (m->node)
    dy_error(m->d, loc, "node '%s' (%s, #%zu): %s%s",
             m->node->name && m->node->name[0] ? m->node->name : "",
             m->node->op_type ? m->node->op_type : "?", m->node_index, pre,
             msg);
  else
    dy_error(m->d, loc, "%s%s", pre, msg);
  m->status = st;
  longjmp(m->fail, 1);
}

static void unsupported(Imp *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));
static void unsupported(Imp *m, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfail(m, DY_ONNX_UNSUPPORTED, fmt, ap);
}

static void invalid(Imp *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3), noreturn));
static void invalid(Imp *m, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfail(m, DY_ONNX_INVALID, fmt, ap);
}

/* --- value table --- */

static uint64_t hash_name(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

static Val **slot(Imp *m, const char *name) {
  size_t i = hash_name(name) & (m->cap - 1);
  while (m->tab[i] && strcmp(m->tab[i]->name, name) != 0)
    i = (i + 1) & (m->cap - 1);
  return &m->tab[i];
}

static Val *lookup(Imp *m, const char *name) {
  if (!m->cap || !name)
    return NULL;
  return *slot(m, name);
}

static Val *new_val(Imp *m, const char *name) {
  if ((m->count + 1) * 2 > m->cap) {
    size_t oldcap = m->cap;
    Val **old = m->tab;
    m->cap = oldcap ? oldcap * 2 : 256;
    m->tab = dy_arena_alloc(m->scratch, m->cap * sizeof *m->tab);
    for (size_t i = 0; i < oldcap; i++)
      if (old[i])
        *slot(m, old[i]->name) = old[i];
  }
  Val **s = slot(m, name);
  if (*s)
    invalid(m, "value '%s' is defined twice", name);
  Val *v = dy_arena_alloc(m->scratch, sizeof *v);
  v->name = dy_arena_strdup(m->scratch, name);
  *s = v;
  m->count++;
  return v;
}

/* --- tensors --- */

static int64_t numel_of(int rank, const int64_t *dims) {
  int64_t n = 1;
  for (int i = 0; i < rank; i++)
    n *= dims[i]; /* callers check each dim and the product first */
  return n;
}

/* Checks a shape and returns its element count, failing on negative dims,
 * rank over DY_MAX_RANK, or a count (of the non-zero dims) past 2^40. */
static int64_t check_shape(Imp *m, const char *what, size_t rank,
                           const int64_t *dims) {
  if (rank > DY_MAX_RANK)
    unsupported(m, "%s has rank %zu; at most %d is supported", what, rank,
                DY_MAX_RANK);
  /* the bound is on the product of the non-zero dims, so that no partial
   * product of the dims of an empty tensor (outer, inner) overflows */
  int64_t n = 1, nz = 1;
  for (size_t i = 0; i < rank; i++) {
    if (dims[i] < 0)
      invalid(m, "%s has a negative dimension", what);
    if (dims[i] > ((int64_t)1 << 40) ||
        (dims[i] && nz > ((int64_t)1 << 40) / dims[i]))
      invalid(m, "%s is too large", what);
    nz *= dims[i] ? dims[i] : 1;
    n *= dims[i];
  }
  return n;
}

static void *take_budget(Imp *m, size_t nbytes, const char *what) {
  if (nbytes > m->budget)
    invalid(m, "%s: tensor data exceeds the limit of %zu bytes", what,
            m->opt && m->opt->max_bytes ? m->opt->max_bytes
                                        : DY_ONNX_DEFAULT_MAX);
  m->budget -= nbytes;
  void *p = dy_arena_try_alloc(m->scratch, nbytes ? nbytes : 1);
  if (!p)
    invalid(m, "%s: out of memory for %zu bytes", what, nbytes);
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
    invalid(m, "%s: external data has no location", what);
  if (loc[0] == '/' || strstr(loc, ".."))
    invalid(m,
            "%s: external data location '%s' must be a relative path "
            "inside the model's directory",
            what, loc);
  if (!m->base_dir)
    unsupported(m, "%s: external data needs the model's directory", what);
  char *end;
  unsigned long long o = off ? strtoull(off, &end, 10) : 0;
  if (off && (*end || off[0] == '-'))
    invalid(m, "%s: bad external data offset '%s'", what, off);
  if (len) {
    unsigned long long l = strtoull(len, &end, 10);
    if (*end || l != nbytes)
      invalid(m,
              "%s: external data length %s does not match the %zu bytes "
              "of the tensor",
              what, len, nbytes);
  }
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", m->base_dir, loc);
  FILE *f = fopen(path, "rb");
  if (!f)
    invalid(m, "%s: cannot open external data '%s': %s", what, path,
            strerror(errno));
  int ok = fseek(f, 0, SEEK_END) == 0;
  long size = ok ? ftell(f) : -1;
  ok = ok && size >= 0 && (unsigned long long)size >= o &&
       (unsigned long long)size - o >= nbytes;
  fclose(f);
  if (!ok)
    invalid(m,
            "%s: external data '%s' is shorter than offset %llu + %zu "
            "bytes",
            what, loc, o, nbytes);
  void *dst = take_budget(m, nbytes, what);
  f = fopen(path, "rb");
  ok = f && fseek(f, (long)o, SEEK_SET) == 0 &&
       fread(dst, 1, nbytes, f) == nbytes;
  if (f)
    fclose(f);
  if (!ok)
    invalid(m, "%s: cannot read external data '%s'", what, path);
  return dst;
}

/* Decodes a TensorProto into a host tensor. */
static Host *host_from_proto(Imp *m, const Onnx__TensorProto *t,
                             const char *what) {
  Host *h = dy_arena_alloc(m->scratch, sizeof *h);
  h->dtype = t->has_data_type ? t->data_type : 0;
  size_t esz = dy_onnx_dtype_size(h->dtype);
  if (!esz || h->dtype == T_BOOL || h->dtype == T_DOUBLE)
    unsupported(m, "%s has data type %s", what, dy_onnx_dtype_name(h->dtype));
  int64_t n = check_shape(m, what, t->n_dims, t->dims);
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
    invalid(m, "%s: raw_data has %zu bytes, the shape needs %zu", what,
            t->raw_data.len, h->nbytes);
  size_t have = t->has_raw_data       ? (size_t)n
                : h->dtype == T_FLOAT ? t->n_float_data
                : h->dtype == T_INT64 ? t->n_int64_data
                                      : t->n_int32_data;
  if (have != (size_t)n)
    invalid(m, "%s holds %zu values, its shape needs %lld", what, have,
            (long long)n);
  h->data = take_budget(m, h->nbytes, what);
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

static int64_t host_int(const Host *h, int64_t i) {
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

static double host_f(const Host *h, int64_t i) {
  return h->dtype == T_FLOAT ? (double)((const float *)h->data)[i]
                             : (double)host_int(h, i);
}

static int64_t host_numel(const Host *h) { return numel_of(h->rank, h->dims); }

/* --- IR types and values --- */

static int elem_of(Imp *m, int dtype, DyElemType *e) {
  switch (dtype) {
  case T_FLOAT:
    *e = DY_F32;
    return 1;
  case T_UINT8:
    *e = DY_U8;
    return 1;
  case T_INT8:
    *e = DY_I8;
    return 1;
  case T_INT16:
    *e = DY_I16;
    return 1;
  case T_INT32:
    *e = DY_I32;
    return 1;
  default:
    return 0;
  }
}

/* IR-safe name for an ONNX name: [A-Za-z0-9_.$-], others become '_'. */
static const char *ir_name(Imp *m, const char *name) {
  size_t n = strlen(name);
  if (n == 0)
    return "v";
  char *s = dy_arena_alloc(m->scratch, n + 1);
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
             (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '$' ||
             c == '-';
    s[i] = ok ? c : '_';
  }
  return s;
}

static DyType ir_type(Imp *m, const Val *x, int nhwc) {
  DyElemType e;
  if (!elem_of(m, x->dtype, &e))
    unsupported(m, "value '%s' has data type %s", x->name,
                dy_onnx_dtype_name(x->dtype));
  DyType t = dy_type_make(e, x->rank, x->dims);
  if (nhwc) {
    t.dims[1] = x->dims[2];
    t.dims[2] = x->dims[3];
    t.dims[3] = x->dims[1];
  }
  return t;
}

/* Permutes the data of a rank-4 host tensor from NCHW to NHWC (moves axis
 * 1 last: also conv weights OIHW -> OHWI). */
static void *nchw_to_nhwc(Imp *m, const Host *h) {
  size_t esz = dy_onnx_dtype_size(h->dtype);
  char *out = take_budget(m, h->nbytes, "layout copy");
  if (!h->nbytes)
    return out; /* empty: do not loop over the other dims */
  int64_t N = h->dims[0], C = h->dims[1], H = h->dims[2], W = h->dims[3];
  for (int64_t n = 0; n < N; n++)
    for (int64_t c = 0; c < C; c++)
      for (int64_t y = 0; y < H; y++)
        for (int64_t x = 0; x < W; x++)
          memcpy(out + (size_t)(((n * H + y) * W + x) * C + c) * esz,
                 (const char *)h->data +
                     (size_t)(((n * C + c) * H + y) * W + x) * esz,
                 esz);
  return out;
}

static DyValue *transpose(Imp *m, DyValue *x, const int64_t *perm,
                          const char *name) {
  DyType t = x->type; /* the result keeps x's quant type, as the IR wants */
  for (int i = 0; i < t.rank; i++)
    t.dims[i] = x->type.dims[perm[i]];
  if (t.quant && t.quant->kind == DY_QUANT_PER_AXIS &&
      perm[t.quant->axis] != t.quant->axis)
    unsupported(m,
                "transposing '%s' would move the axis of its per-axis "
                "quantization parameters",
                name);
  DyValue *y = dy_build_op(m->g, NULL, DY_OP_TRANSPOSE, 1, &x, t, name);
  dy_op_set_ints(m->g, y->def, "perm", t.rank, perm);
  return y;
}

/* Makes a pending graph input (one with a given value) a real input. */
static void make_input(Imp *m, Val *x) {
  int lay = m->opt && m->opt->nhwc_io && x->rank == 4;
  x->v = dy_graph_add_input(m->g, ir_name(m, x->name), ir_type(m, x, lay));
  x->v->index = x->input_index; /* sorted into ONNX order at the end */
  x->nhwc = lay;
}

/* The IR value of x in its logical (ONNX) layout. */
static DyValue *logical(Imp *m, Val *x) {
  if (!x->v && !x->k && x->given)
    make_input(m, x);
  if (!x->v) {
    DyType t = ir_type(m, x, 0);
    x->v = dy_build_const(m->g, NULL, ir_name(m, x->name), t, x->k->data,
                          DY_FORM_HEX);
    x->nhwc = 0;
  }
  if (!x->nhwc)
    return x->v;
  if (!x->alt) {
    static const int64_t to_nchw[4] = {0, 3, 1, 2};
    x->alt = transpose(m, x->v, to_nchw, ir_name(m, x->name));
  }
  return x->alt;
}

/* The IR value of a rank-4 x in NHWC. */
static DyValue *nhwc(Imp *m, Val *x) {
  if (x->rank != 4)
    unsupported(m, "value '%s' must have rank 4, got %d", x->name, x->rank);
  if (!x->v && !x->k && x->given)
    make_input(m, x);
  if (x->v && x->nhwc)
    return x->v;
  if (!x->v && x->k) {
    DyType t = ir_type(m, x, 1);
    x->v = dy_build_const(m->g, NULL, ir_name(m, x->name), t,
                          nchw_to_nhwc(m, x->k), DY_FORM_HEX);
    x->nhwc = 1;
    return x->v;
  }
  if (!x->alt) {
    static const int64_t to_nhwc[4] = {0, 2, 3, 1};
    x->alt = transpose(m, x->v, to_nhwc, ir_name(m, x->name));
  }
  return x->alt;
}

/* --- node access --- */

static int nin(const Onnx__NodeProto *n) {
  /* trailing empty names are absent optional inputs */
  int k = (int)n->n_input;
  while (k > 0 && (!n->input[k - 1] || !n->input[k - 1][0]))
    k--;
  return k;
}

static Val *in(Imp *m, int i) {
  const Onnx__NodeProto *n = m->node;
  if (i >= (int)n->n_input || !n->input[i] || !n->input[i][0])
    return NULL;
  Val *v = lookup(m, n->input[i]);
  if (!v)
    invalid(m,
            "input '%s' is not defined before this node (graphs must be "
            "acyclic and topologically sorted)",
            n->input[i]);
  return v;
}

static Val *req(Imp *m, int i) {
  Val *v = in(m, i);
  if (!v)
    invalid(m, "missing required input %d", i);
  return v;
}

static Val *out_val(Imp *m, int i) {
  const Onnx__NodeProto *n = m->node;
  if (i >= (int)n->n_output || !n->output[i] || !n->output[i][0])
    invalid(m, "missing output %d", i);
  return new_val(m, n->output[i]);
}

/* Defines output i as the IR value v (logical shape given by ref). */
static Val *def(Imp *m, int i, DyValue *v, int is_nhwc, int dtype, int rank,
                const int64_t *dims) {
  Val *o = out_val(m, i);
  o->v = v;
  o->nhwc = is_nhwc;
  o->dtype = dtype;
  o->rank = rank;
  if (rank) /* dims may be NULL for a scalar */
    memcpy(o->dims, dims, (size_t)rank * sizeof *dims);
  return o;
}

static Val *def_host(Imp *m, int i, Host *h) {
  Val *o = out_val(m, i);
  o->k = h;
  o->dtype = h->dtype;
  o->rank = h->rank;
  memcpy(o->dims, h->dims, (size_t)h->rank * sizeof *h->dims);
  return o;
}

static const Onnx__AttributeProto *attr(Imp *m, const char *name) {
  for (size_t i = 0; i < m->node->n_attribute; i++)
    if (m->node->attribute[i]->name &&
        strcmp(m->node->attribute[i]->name, name) == 0)
      return m->node->attribute[i];
  return NULL;
}

/* Fails unless every attribute of the node is in `known` (NULL-ended). */
static void check_attrs(Imp *m, const char *const *known) {
  for (size_t i = 0; i < m->node->n_attribute; i++) {
    const char *a =
        m->node->attribute[i]->name ? m->node->attribute[i]->name : "";
    int ok = 0;
    for (int k = 0; known[k]; k++)
      ok |= strcmp(a, known[k]) == 0;
    if (!ok)
      unsupported(m, "unsupported attribute '%s'", a);
  }
}

static int64_t attr_i(Imp *m, const char *name, int64_t dflt) {
  const Onnx__AttributeProto *a = attr(m, name);
  if (!a)
    return dflt;
  if (a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT)
    invalid(m, "attribute '%s' must be an integer", name);
  return a->i;
}

static float attr_f(Imp *m, const char *name, float dflt) {
  const Onnx__AttributeProto *a = attr(m, name);
  if (!a)
    return dflt;
  if (a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT)
    invalid(m, "attribute '%s' must be a float", name);
  return a->f;
}

/* Copies an ints attribute; returns its length or -1 when absent. */
static int attr_ints(Imp *m, const char *name, int64_t *out, int max) {
  const Onnx__AttributeProto *a = attr(m, name);
  if (!a)
    return -1;
  if (a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS)
    invalid(m, "attribute '%s' must be a list of integers", name);
  if (a->n_ints > (size_t)max)
    invalid(m, "attribute '%s' has %zu values, at most %d expected", name,
            a->n_ints, max);
  if (a->n_ints) /* ints is NULL when empty */
    memcpy(out, a->ints, a->n_ints * sizeof *out);
  return (int)a->n_ints;
}

/* Copies a string attribute into buf; returns 0 when absent. */
static int attr_s(Imp *m, const char *name, char *buf, size_t n) {
  const Onnx__AttributeProto *a = attr(m, name);
  if (!a)
    return 0;
  if (a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING)
    invalid(m, "attribute '%s' must be a string", name);
  size_t len = a->s.len < n - 1 ? a->s.len : n - 1;
  if (len) /* s.data is NULL when the string is absent */
    memcpy(buf, a->s.data, len);
  buf[len] = 0;
  return 1;
}

/* A constant input as host data, or fail. */
static Host *const_in(Imp *m, int i, const char *what) {
  Val *v = req(m, i);
  if (!v->k && v->given)
    return v->given;
  if (!v->k)
    unsupported(m, "%s (input %d, '%s') must be a constant", what, i, v->name);
  return v->k;
}

static int norm_axis(Imp *m, int64_t axis, int rank) {
  if (axis < -rank || axis >= rank)
    invalid(m, "axis %lld out of range for rank %d", (long long)axis, rank);
  return (int)(axis < 0 ? axis + rank : axis);
}

static const int nchw_to_nhwc_axis[4] = {0, 3, 1, 2};

static DyValue *op1(Imp *m, DyOpKind k, DyValue *x, DyType t) {
  const char *name = ir_name(m, m->node->output[0]);
  return dy_build_op(m->g, NULL, k, 1, &x, t, name);
}

static Host *new_host(Imp *m, int dtype, int rank, const int64_t *dims) {
  Host *h = dy_arena_alloc(m->scratch, sizeof *h);
  h->dtype = dtype;
  h->rank = rank;
  if (rank) /* dims may be NULL for a scalar */
    memcpy(h->dims, dims, (size_t)rank * sizeof *dims);
  int64_t n = check_shape(m, "result", (size_t)rank, dims);
  h->nbytes = (size_t)n * dy_onnx_dtype_size(dtype);
  h->data = take_budget(m, h->nbytes, "result");
  return h;
}

static DyValue *f32_const(Imp *m, const char *base, int rank,
                          const int64_t *dims, const float *data) {
  DyType t = dy_type_make(DY_F32, rank, dims);
  return dy_build_const(m->g, NULL, base, t, data, DY_FORM_DENSE);
}

/* --- op handlers --- */

static void imp_identity(Imp *m) {
  static const char *const ok[] = {"seed", "ratio", NULL}; /* Dropout */
  check_attrs(m, ok);
  Val *x = req(m, 0);
  if (strcmp(m->node->op_type, "Dropout") == 0) {
    if (nin(m->node) > 2) {
      Host *t = const_in(m, 2, "training_mode");
      if (host_numel(t) != 1 || host_int(t, 0) != 0)
        unsupported(m, "training_mode must be false");
    }
    if (m->node->n_output > 1 && m->node->output[1][0])
      unsupported(m, "the mask output is not supported");
  }
  if (!x->v && !x->k && x->given)
    make_input(m, x); /* the copy must not make a second input */
  Val *o = out_val(m, 0);
  Val keep = *o;
  *o = *x;
  o->name = keep.name;
}

static void imp_constant(Imp *m) {
  const Onnx__NodeProto *n = m->node;
  if (n->n_attribute != 1)
    unsupported(m, "Constant needs exactly one attribute");
  const Onnx__AttributeProto *a = n->attribute[0];
  const char *an = a->name ? a->name : "";
  Host *h;
  if (strcmp(an, "value") == 0 && a->t) {
    h = host_from_proto(m, a->t, "Constant value");
  } else if (strcmp(an, "value_float") == 0) {
    h = new_host(m, T_FLOAT, 0, NULL);
    *(float *)h->data = a->f;
  } else if (strcmp(an, "value_int") == 0) {
    h = new_host(m, T_INT64, 0, NULL);
    *(int64_t *)h->data = a->i;
  } else if (strcmp(an, "value_floats") == 0 || strcmp(an, "value_ints") == 0) {
    int isf = an[6] == 'f';
    int64_t cnt = isf ? (int64_t)a->n_floats : (int64_t)a->n_ints;
    h = new_host(m, isf ? T_FLOAT : T_INT64, 1, &cnt);
    if (cnt)
      memcpy(h->data, isf ? (void *)a->floats : (void *)a->ints, h->nbytes);
  } else {
    unsupported(m, "unsupported attribute '%s'", an);
  }
  def_host(m, 0, h);
}

/* Output size of a convolution along one axis (floor mode); fails when the
 * kernel is empty or larger than the padded input, or the sizes overflow.
 * Strides and dilations are >= 1, pads >= 0. */
/* Output length of a window axis (lib/shape.c), or the node's error. */
static int64_t conv_out(Imp *m, int64_t in, int64_t k, int64_t s, int64_t dl,
                        int64_t pb, int64_t pe) {
  int64_t out = 0;
  if (k < 1)
    invalid(m, "the kernel has an empty dimension");
  switch (dy_window_out(in, k, s, dl, pb, pe, 0, &out)) {
  case DY_WINDOW_OVERFLOW:
    invalid(m, "the dilated kernel or the padding is too large");
    break;
  case DY_WINDOW_EMPTY:
    invalid(m, "the kernel is larger than the padded input");
    break;
  case DY_WINDOW_OK:
    break;
  }
  return out;
}

/* Pads for a window op from pads / auto_pad: out[0..4) = top, left, bottom,
 * right. */
static void window_pads(Imp *m, const Val *x, const int64_t *k,
                        const int64_t *s, const int64_t *dl, int64_t *out) {
  char ap[32] = "NOTSET";
  attr_s(m, "auto_pad", ap, sizeof ap);
  int64_t p[4] = {0, 0, 0, 0};
  int np = attr_ints(m, "pads", p, 4);
  if (np >= 0 && np != 4)
    invalid(m, "pads must have 4 values for a 2-D window, got %d", np);
  if (strcmp(ap, "NOTSET") == 0) {
  } else if (strcmp(ap, "VALID") == 0) {
    memset(p, 0, sizeof p);
  } else if (strcmp(ap, "SAME_UPPER") == 0 || strcmp(ap, "SAME_LOWER") == 0) {
    for (int i = 0; i < 2; i++) {
      int64_t in_ = x->dims[2 + i];
      int64_t outsz = in_ / s[i] + (in_ % s[i] != 0), kd, total;
      if (__builtin_mul_overflow(k[i] - 1, dl[i], &kd) ||
          __builtin_add_overflow((outsz - 1) * s[i] + 1 - in_, kd, &total))
        invalid(m, "the dilated window is too large");
      if (total < 0)
        total = 0;
      int64_t small = total / 2, big = total - small;
      p[i] = ap[5] == 'U' ? small : big;
      p[2 + i] = ap[5] == 'U' ? big : small;
    }
  } else {
    unsupported(m, "auto_pad '%s'", ap);
  }
  for (int i = 0; i < 4; i++)
    if (p[i] < 0)
      unsupported(m, "negative pads");
  memcpy(out, p, sizeof p);
}

static void ints2(Imp *m, const char *name, int64_t *out, int64_t dflt) {
  out[0] = out[1] = dflt;
  int n = attr_ints(m, name, out, 2);
  if (n >= 0 && n != 2)
    unsupported(m, "'%s' must have 2 values (2-D only), got %d", name, n);
  for (int i = 0; i < 2; i++) /* strides, dilations: divisors below */
    if (out[i] < 1)
      invalid(m, "'%s' must be positive, got %lld", name, (long long)out[i]);
}

/* Fails unless weights w (OIHW), group g and bias b (may be NULL) fit x. */
static void check_conv_shapes(Imp *m, const Val *x, const Val *w, int64_t g,
                              const Val *b) {
  int64_t c = x->dims[1];
  if (g < 1 || g > c || c % g || c / g != w->dims[1] || w->dims[0] % g)
    invalid(m,
            "weights of shape [%lld, %lld, %lld, %lld] and group %lld do not "
            "fit an input of %lld channels",
            (long long)w->dims[0], (long long)w->dims[1], (long long)w->dims[2],
            (long long)w->dims[3], (long long)g, (long long)c);
  if (b && (b->rank != 1 || b->dims[0] != w->dims[0]))
    invalid(m, "the bias must be a vector of %lld values",
            (long long)w->dims[0]);
}

/* Sets a conv2d's strides, dilations, pads and groups, leaving out the
 * defaults (1, 1, 0, 1) so the text stays short. */
static void set_window_attrs(Imp *m, DyOp *op, const int64_t *s,
                             const int64_t *dl, const int64_t *p, int64_t g) {
  if (s[0] != 1 || s[1] != 1)
    dy_op_set_ints(m->g, op, "strides", 2, s);
  if (dl[0] != 1 || dl[1] != 1)
    dy_op_set_ints(m->g, op, "dilations", 2, dl);
  if (p[0] || p[1] || p[2] || p[3])
    dy_op_set_ints(m->g, op, "pads", 4, p);
  if (g != 1)
    dy_op_set_int(m->g, op, "groups", g);
}

static void imp_conv(Imp *m) {
  static const char *const ok[] = {
      "auto_pad", "dilations", "group", "kernel_shape",
      "pads",     "strides",   NULL};
  check_attrs(m, ok);
  Val *x = req(m, 0), *w = req(m, 1), *b = in(m, 2);
  if (x->rank != 4 || w->rank != 4)
    unsupported(m, "only 2-D convolution (rank-4 input and weights)");
  if (x->dtype != T_FLOAT || w->dtype != T_FLOAT)
    unsupported(m, "Conv on %s data", dy_onnx_dtype_name(x->dtype));
  int64_t s[2], dl[2], p[4];
  ints2(m, "strides", s, 1);
  ints2(m, "dilations", dl, 1);
  int64_t g = attr_i(m, "group", 1);
  check_conv_shapes(m, x, w, g, b);
  if (b && b->dtype != T_FLOAT)
    unsupported(m, "Conv with a bias of %s data", dy_onnx_dtype_name(b->dtype));
  int64_t k[2] = {w->dims[2], w->dims[3]};
  int64_t ks[2];
  if (attr_ints(m, "kernel_shape", ks, 2) == 2 &&
      (ks[0] != k[0] || ks[1] != k[1]))
    invalid(m, "kernel_shape does not match the weights");
  window_pads(m, x, k, s, dl, p);
  /* weights OIHW -> OHWI */
  DyValue *ops[3] = {nhwc(m, x), NULL, NULL};
  if (w->k) {
    int64_t wd[4] = {w->dims[0], w->dims[2], w->dims[3], w->dims[1]};
    void *wt = nchw_to_nhwc(m, w->k); /* OIHW -> OHWI */
    DyType wtype = dy_type_make(DY_F32, 4, wd);
    ops[1] =
        dy_build_const(m->g, NULL, ir_name(m, w->name), wtype, wt, DY_FORM_HEX);
  } else {
    static const int64_t to_ohwi[4] = {0, 2, 3, 1};
    ops[1] = transpose(m, logical(m, w), to_ohwi, ir_name(m, w->name));
  }
  if (b)
    ops[2] = logical(m, b);
  int64_t od[4] = {x->dims[0], w->dims[0], 0, 0};
  for (int i = 0; i < 2; i++)
    od[2 + i] = conv_out(m, x->dims[2 + i], k[i], s[i], dl[i], p[i], p[2 + i]);
  Val tmp = {.dtype = T_FLOAT, .rank = 4};
  memcpy(tmp.dims, od, sizeof od);
  DyValue *y = dy_build_op(m->g, NULL, DY_OP_CONV2D, b ? 3 : 2, ops,
                           ir_type(m, &tmp, 1), ir_name(m, m->node->output[0]));
  set_window_attrs(m, y->def, s, dl, p, g);
  def(m, 0, y, 1, T_FLOAT, 4, od);
}

static void imp_pool(Imp *m) {
  int is_max = strcmp(m->node->op_type, "MaxPool") == 0;
  static const char *const okmax[] = {"auto_pad",      "ceil_mode", "dilations",
                                      "kernel_shape",  "pads",      "strides",
                                      "storage_order", NULL};
  static const char *const okavg[] = {
      "auto_pad", "ceil_mode", "count_include_pad", "kernel_shape", "pads",
      "strides",  NULL};
  check_attrs(m, is_max ? okmax : okavg);
  Val *x = req(m, 0);
  if (x->rank != 4 || x->dtype != T_FLOAT)
    unsupported(m, "only 2-D pooling of float data");
  if (m->node->n_output > 1 && m->node->output[1][0])
    unsupported(m, "the Indices output is not supported");
  if (attr_i(m, "storage_order", 0) != 0)
    unsupported(m, "storage_order 1");
  int64_t k[2], s[2], dl[2], p[4];
  if (attr_ints(m, "kernel_shape", k, 2) != 2)
    unsupported(m, "kernel_shape must have 2 values (2-D only)");
  if (k[0] < 1 || k[1] < 1)
    invalid(m, "kernel_shape must be positive");
  ints2(m, "strides", s, 1);
  ints2(m, "dilations", dl, 1);
  window_pads(m, x, k, s, dl, p);
  int64_t ceil_mode = attr_i(m, "ceil_mode", 0);
  int64_t cip = attr_i(m, "count_include_pad", 0);
  DyValue *xv = nhwc(m, x);
  /* the output shape comes from the IR's own inference */
  DyValue *y = op1(m, is_max ? DY_OP_MAXPOOL : DY_OP_AVGPOOL, xv, xv->type);
  dy_op_set_ints(m->g, y->def, "kernel", 2, k);
  if (s[0] != 1 || s[1] != 1)
    dy_op_set_ints(m->g, y->def, "strides", 2, s);
  if (p[0] || p[1] || p[2] || p[3])
    dy_op_set_ints(m->g, y->def, "pads", 4, p);
  if (dl[0] != 1 || dl[1] != 1)
    dy_op_set_ints(m->g, y->def, "dilations", 2, dl);
  if (ceil_mode)
    dy_op_set_int(m->g, y->def, "ceil_mode", 1);
  if (cip)
    dy_op_set_int(m->g, y->def, "count_include_pad", 1);
  DyType t;
  if (dy_op_infer_type(y->def, &t, m->d))
    invalid(m, "invalid pooling parameters");
  y->type = t;
  int64_t od[4] = {t.dims[0], t.dims[3], t.dims[1], t.dims[2]};
  def(m, 0, y, 1, T_FLOAT, 4, od);
}

static void imp_global_avgpool(Imp *m) {
  static const char *const ok[] = {NULL};
  check_attrs(m, ok);
  Val *x = req(m, 0);
  if (x->rank != 4 || x->dtype != T_FLOAT)
    unsupported(m, "only rank-4 float input");
  DyValue *xv = nhwc(m, x);
  DyType t = xv->type;
  t.dims[1] = t.dims[2] = 1;
  DyValue *y = op1(m, DY_OP_GLOBAL_AVGPOOL, xv, t);
  int64_t od[4] = {x->dims[0], x->dims[1], 1, 1};
  def(m, 0, y, 1, T_FLOAT, 4, od);
}

/* Unary elementwise: keeps the input's layout. */
static void imp_unary(Imp *m) {
  const char *op = m->node->op_type;
  static const char *const none[] = {NULL};
  static const char *const clip_attrs[] = {"min", "max", NULL};
  static const char *const hs_attrs[] = {"alpha", "beta", NULL};
  Val *x = req(m, 0);
  if (x->dtype != T_FLOAT)
    unsupported(m, "%s on %s data", op, dy_onnx_dtype_name(x->dtype));
  DyValue *xv = x->v && x->nhwc ? x->v : logical(m, x);
  int lay = x->v == xv && x->nhwc;
  DyValue *y;
  if (strcmp(op, "Relu") == 0) {
    check_attrs(m, none);
    y = op1(m, DY_OP_RELU, xv, xv->type);
  } else if (strcmp(op, "Sigmoid") == 0) {
    check_attrs(m, none);
    y = op1(m, DY_OP_SIGMOID, xv, xv->type);
  } else if (strcmp(op, "Tanh") == 0) {
    check_attrs(m, none);
    y = op1(m, DY_OP_TANH, xv, xv->type);
  } else if (strcmp(op, "HardSwish") == 0) {
    check_attrs(m, none);
    y = op1(m, DY_OP_HARDSWISH, xv, xv->type);
  } else if (strcmp(op, "Clip") == 0) {
    check_attrs(m, clip_attrs);
    double lo = -INFINITY, hi = INFINITY;
    if (m->opset < 11) {
      lo = attr_f(m, "min", -INFINITY);
      hi = attr_f(m, "max", INFINITY);
    } else {
      if (in(m, 1)) {
        Host *h = const_in(m, 1, "min");
        if (host_numel(h) != 1)
          invalid(m, "min must be a scalar");
        lo = host_f(h, 0);
      }
      if (in(m, 2)) {
        Host *h = const_in(m, 2, "max");
        if (host_numel(h) != 1)
          invalid(m, "max must be a scalar");
        hi = host_f(h, 0);
      }
    }
    if (isnan(lo) || isnan(hi))
      unsupported(m, "a NaN min or max");
    if (lo > hi)
      unsupported(m, "min greater than max");
    y = op1(m, DY_OP_CLIP, xv, xv->type);
    if (lo != -INFINITY)
      dy_op_set_float(m->g, y->def, "min", lo);
    if (hi != INFINITY)
      dy_op_set_float(m->g, y->def, "max", hi);
  } else { /* HardSigmoid: clip(alpha * x + beta, 0, 1) */
    check_attrs(m, hs_attrs);
    float alpha = attr_f(m, "alpha", 0.2f), beta = attr_f(m, "beta", 0.5f);
    const char *base = ir_name(m, m->node->output[0]);
    DyValue *a = f32_const(m, "alpha", 0, NULL, &alpha);
    DyValue *b = f32_const(m, "beta", 0, NULL, &beta);
    DyValue *ops[2] = {xv, a};
    DyValue *t1 = dy_build_op(m->g, NULL, DY_OP_MUL, 2, ops, xv->type, base);
    ops[0] = t1;
    ops[1] = b;
    DyValue *t2 = dy_build_op(m->g, NULL, DY_OP_ADD, 2, ops, xv->type, base);
    y = dy_build_op(m->g, NULL, DY_OP_CLIP, 1, &t2, xv->type, base);
    dy_op_set_float(m->g, y->def, "min", 0.0);
    dy_op_set_float(m->g, y->def, "max", 1.0);
  }
  def(m, 0, y, lay, x->dtype, x->rank, x->dims);
}

/* Broadcast shape of two logical shapes. */
static int bcast(Imp *m, const Val *a, const Val *b, int64_t *out) {
  int r = a->rank > b->rank ? a->rank : b->rank;
  for (int i = 0; i < r; i++) {
    int ia = i - (r - a->rank), ib = i - (r - b->rank);
    int64_t da = ia >= 0 ? a->dims[ia] : 1, db = ib >= 0 ? b->dims[ib] : 1;
    if (da != db && da != 1 && db != 1)
      invalid(m, "shapes of '%s' and '%s' cannot be broadcast", a->name,
              b->name);
    out[i] = da == 1 ? db : da;
  }
  return r;
}

/* An operand of a binary op in NHWC, when the other operand is rank-4
 * NHWC: lower-rank operands are first viewed as rank 4 (leading 1s). */
static DyValue *nhwc_operand(Imp *m, Val *b) {
  if (b->rank == 4)
    return nhwc(m, b);
  Val v4 = *b;
  v4.rank = 4;
  for (int i = 0; i < 4; i++)
    v4.dims[i] = i < 4 - b->rank ? 1 : b->dims[i - (4 - b->rank)];
  if (b->k) {
    Host h4 = *b->k;
    h4.rank = 4;
    memcpy(h4.dims, v4.dims, sizeof v4.dims);
    DyType t = ir_type(m, &v4, 1);
    return dy_build_const(m->g, NULL, ir_name(m, b->name), t,
                          nchw_to_nhwc(m, &h4), DY_FORM_HEX);
  }
  DyValue *r =
      dy_build_op(m->g, NULL, DY_OP_RESHAPE, 1, (DyValue *[]){logical(m, b)},
                  ir_type(m, &v4, 0), ir_name(m, b->name));
  static const int64_t to_nhwc[4] = {0, 2, 3, 1};
  return transpose(m, r, to_nhwc, ir_name(m, b->name));
}

/* Add, Mul, and Sub with a constant second operand (x - c = x + (-c),
 * exact in IEEE arithmetic). */
static void imp_binary(Imp *m) {
  static const char *const none[] = {NULL};
  check_attrs(m, none);
  Val *a = req(m, 0), *b = req(m, 1);
  const char *op = m->node->op_type;
  if (a->dtype != T_FLOAT || b->dtype != T_FLOAT)
    unsupported(m, "%s on %s data", op, dy_onnx_dtype_name(a->dtype));
  if (strcmp(op, "Sub") == 0) {
    if (!b->k)
      unsupported(m, "Sub with a non-constant second operand");
    Host *neg = new_host(m, T_FLOAT, b->k->rank, b->k->dims);
    for (int64_t i = 0; i < host_numel(b->k); i++)
      ((float *)neg->data)[i] = -((const float *)b->k->data)[i];
    Val *nb = dy_arena_alloc(m->scratch, sizeof *nb);
    *nb = *b;
    nb->k = neg;
    nb->v = nb->alt = NULL;
    b = nb;
  }
  int64_t od[DY_MAX_RANK];
  int r = bcast(m, a, b, od);
  int lay = (a->v && a->nhwc) || (b->v && b->nhwc);
  lay = lay && r == 4;
  DyValue *ops[2];
  if (lay) {
    ops[0] = nhwc_operand(m, a);
    ops[1] = nhwc_operand(m, b);
  } else {
    ops[0] = logical(m, a);
    ops[1] = logical(m, b);
  }
  Val tmp = {.dtype = T_FLOAT, .rank = r};
  memcpy(tmp.dims, od, sizeof od);
  DyValue *y =
      dy_build_op(m->g, NULL, strcmp(op, "Mul") == 0 ? DY_OP_MUL : DY_OP_ADD, 2,
                  ops, ir_type(m, &tmp, lay), ir_name(m, m->node->output[0]));
  def(m, 0, y, lay, T_FLOAT, r, od);
}

static void imp_softmax(Imp *m) {
  static const char *const ok[] = {"axis", NULL};
  check_attrs(m, ok);
  Val *x = req(m, 0);
  if (x->dtype != T_FLOAT)
    unsupported(m, "Softmax on %s data", dy_onnx_dtype_name(x->dtype));
  int axis = norm_axis(m, attr_i(m, "axis", m->opset < 13 ? 1 : -1), x->rank);
  if (m->opset < 13 && axis != x->rank - 1) {
    /* Before opset 13 the input is coerced to 2-D at axis: softmax over
     * the flattened trailing dims, done as reshape, softmax, reshape. */
    int64_t d2[2] = {1, 1};
    for (int i = 0; i < x->rank; i++)
      d2[i < axis ? 0 : 1] *= x->dims[i];
    DyValue *xv = logical(m, x);
    const char *base = ir_name(m, m->node->output[0]);
    DyType t2 = dy_type_make(DY_F32, 2, d2);
    DyValue *r = dy_build_op(m->g, NULL, DY_OP_RESHAPE, 1, &xv, t2, base);
    DyValue *s = dy_build_op(m->g, NULL, DY_OP_SOFTMAX, 1, &r, t2, base);
    DyValue *y = dy_build_op(m->g, NULL, DY_OP_RESHAPE, 1, &s, xv->type, base);
    def(m, 0, y, 0, T_FLOAT, x->rank, x->dims);
    return;
  }
  int lay = x->v && x->nhwc;
  DyValue *xv = lay ? x->v : logical(m, x);
  DyValue *y = op1(m, DY_OP_SOFTMAX, xv, xv->type);
  dy_op_set_int(m->g, y->def, "axis", lay ? nchw_to_nhwc_axis[axis] : axis);
  def(m, 0, y, lay, T_FLOAT, x->rank, x->dims);
}

static void imp_batchnorm(Imp *m) {
  static const char *const ok[] = {"epsilon", "momentum", "spatial",
                                   "training_mode", NULL};
  check_attrs(m, ok);
  if (attr_i(m, "training_mode", 0) != 0)
    unsupported(m, "training_mode 1");
  if (attr_i(m, "spatial", 1) != 1)
    unsupported(m, "spatial 0");
  for (size_t i = 1; i < m->node->n_output; i++)
    if (m->node->output[i][0])
      unsupported(m, "training outputs (running mean and variance)");
  Val *x = req(m, 0);
  if (x->dtype != T_FLOAT || x->rank < 2)
    unsupported(m, "BatchNormalization of rank-%d %s data", x->rank,
                dy_onnx_dtype_name(x->dtype));
  DyValue *ops[5];
  int lay = x->rank == 4;
  if (x->rank != 4 && x->rank != 2)
    unsupported(m, "BatchNormalization of rank %d (2 or 4 supported)", x->rank);
  ops[0] = lay ? nhwc(m, x) : logical(m, x);
  for (int i = 1; i < 5; i++) {
    Val *p = req(m, i);
    if (p->rank != 1 || p->dims[0] != x->dims[1] || p->dtype != T_FLOAT)
      invalid(m, "parameter %d must be a float vector of %lld channels", i,
              (long long)x->dims[1]);
    ops[i] = logical(m, p);
  }
  DyValue *y = dy_build_op(m->g, NULL, DY_OP_BATCHNORM, 5, ops, ops[0]->type,
                           ir_name(m, m->node->output[0]));
  float eps = attr_f(m, "epsilon", 1e-5f);
  if (!(eps >= 0) || isinf(eps))
    invalid(m, "epsilon must be finite and >= 0");
  dy_op_set_float(m->g, y->def, "epsilon", eps);
  def(m, 0, y, lay, T_FLOAT, x->rank, x->dims);
}

static void imp_gemm(Imp *m) {
  static const char *const ok[] = {"alpha", "beta", "transA", "transB", NULL};
  check_attrs(m, ok);
  Val *a = req(m, 0), *b = req(m, 1), *c = in(m, 2);
  float alpha = attr_f(m, "alpha", 1.0f), beta = attr_f(m, "beta", 1.0f);
  int ta = (int)attr_i(m, "transA", 0), tb = (int)attr_i(m, "transB", 0);
  if (a->rank != 2 || b->rank != 2 || a->dtype != T_FLOAT ||
      b->dtype != T_FLOAT)
    unsupported(m, "Gemm of non-2-D or non-float operands");
  int64_t M = ta ? a->dims[1] : a->dims[0], K = ta ? a->dims[0] : a->dims[1];
  int64_t KB = tb ? b->dims[1] : b->dims[0], N = tb ? b->dims[0] : b->dims[1];
  if (K != KB)
    invalid(m, "inner dimensions differ (%lld and %lld)", (long long)K,
            (long long)KB);
  const char *base = ir_name(m, m->node->output[0]);
  DyValue *av = logical(m, a);
  if (ta) {
    static const int64_t swap[2] = {1, 0};
    av = transpose(m, av, swap, base);
  }
  /* B as KxN, times alpha (exact only when alpha is 1: otherwise scaling the
   * weights rounds differently from scaling the product, so use a mul). */
  int64_t kn[2] = {K, N};
  DyValue *bv;
  if (b->k && !b->v) {
    float *w = take_budget(m, (size_t)(K * N) * 4, "B");
    const float *src = b->k->data;
    for (int64_t i = 0; N && i < K; i++)
      for (int64_t j = 0; j < N; j++)
        w[i * N + j] = tb ? src[j * K + i] : src[i * N + j];
    bv = dy_build_const(m->g, NULL, ir_name(m, b->name),
                        dy_type_make(DY_F32, 2, kn), w, DY_FORM_HEX);
  } else {
    static const int64_t swap[2] = {1, 0};
    bv = logical(m, b); /* e.g. weights from a DequantizeLinear */
    if (tb)
      bv = transpose(m, bv, swap, ir_name(m, b->name));
  }
  DyValue *ops[3] = {av, bv, NULL};
  int64_t mn[2] = {M, N};
  DyType t = dy_type_make(DY_F32, 2, mn);
  int nops = 2;
  if (c && alpha == 1.0f && beta == 1.0f && c->dtype == T_FLOAT &&
      c->rank == 1 && c->dims[0] == N) {
    ops[2] = logical(m, c);
    nops = 3;
  } else if (c && alpha == 1.0f && beta == 1.0f && c->k && !c->v &&
             c->dtype == T_FLOAT && c->rank == 2 && c->dims[0] == 1 &&
             c->dims[1] == N) {
    ops[2] = f32_const(m, ir_name(m, c->name), 1, &N, c->k->data);
    nops = 3;
  }
  DyValue *y = dy_build_op(m->g, NULL, DY_OP_MATMUL, nops, ops, t, base);
  if (alpha != 1.0f) {
    DyValue *mo[2] = {y, f32_const(m, "alpha", 0, NULL, &alpha)};
    y = dy_build_op(m->g, NULL, DY_OP_MUL, 2, mo, t, base);
  }
  if (c && nops == 2) {
    if (c->dtype != T_FLOAT)
      unsupported(m, "C of %s data", dy_onnx_dtype_name(c->dtype));
    Val mv = {.name = "y", .dtype = T_FLOAT, .rank = 2, .dims = {M, N}};
    int64_t od[DY_MAX_RANK];
    if (bcast(m, &mv, c, od) != 2 || od[0] != M || od[1] != N)
      invalid(m, "C does not broadcast to %lldx%lld", (long long)M,
              (long long)N);
    DyValue *cv = logical(m, c);
    if (beta != 1.0f) {
      DyValue *bo[2] = {cv, f32_const(m, "beta", 0, NULL, &beta)};
      cv = dy_build_op(m->g, NULL, DY_OP_MUL, 2, bo, cv->type, base);
    }
    DyValue *ao[2] = {y, cv};
    y = dy_build_op(m->g, NULL, DY_OP_ADD, 2, ao, t, base);
  }
  def(m, 0, y, 0, T_FLOAT, 2, mn);
}

static void imp_matmul(Imp *m) {
  static const char *const none[] = {NULL};
  check_attrs(m, none);
  Val *a = req(m, 0), *b = req(m, 1);
  if (a->dtype != T_FLOAT || b->dtype != T_FLOAT)
    unsupported(m, "MatMul of %s data", dy_onnx_dtype_name(a->dtype));
  int br = b->rank;
  if (br < 2 || a->rank < 1 || (br > 2 && br != a->rank))
    unsupported(m,
                "MatMul of ranks %d and %d (B must be 2-D, or batched "
                "with A's rank)",
                a->rank, br);
  for (int i = 0; br > 2 && i < br - 2; i++)
    if (a->dims[i] != b->dims[i])
      unsupported(m, "MatMul with broadcast batch dimensions");
  if (a->dims[a->rank - 1] != b->dims[br - 2])
    invalid(m, "inner dimensions differ");
  DyValue *ops[2] = {logical(m, a), logical(m, b)};
  int64_t od[DY_MAX_RANK];
  memcpy(od, a->dims, sizeof od);
  od[a->rank - 1] = b->dims[br - 1];
  DyType t = dy_type_make(DY_F32, a->rank, od);
  DyValue *y = dy_build_op(m->g, NULL, DY_OP_MATMUL, 2, ops, t,
                           ir_name(m, m->node->output[0]));
  def(m, 0, y, 0, T_FLOAT, a->rank, od);
}

/* Reshape to a logical shape (element order unchanged). */
static void reshape_to(Imp *m, Val *x, int rank, const int64_t *dims) {
  int64_t n = check_shape(m, "target shape", (size_t)rank, dims);
  if (n != numel_of(x->rank, x->dims))
    invalid(m, "cannot reshape %lld elements into %lld",
            (long long)numel_of(x->rank, x->dims), (long long)n);
  if (x->k && !x->v) { /* a constant stays a known constant */
    Host *h = dy_arena_alloc(m->scratch, sizeof *h);
    *h = *x->k;
    h->rank = rank;
    memcpy(h->dims, dims, (size_t)rank * sizeof *dims);
    def_host(m, 0, h);
    return;
  }
  DyValue *xv = logical(m, x);
  Val tmp = {.dtype = x->dtype, .rank = rank};
  memcpy(tmp.dims, dims, (size_t)rank * sizeof *dims);
  DyType t = ir_type(m, &tmp, 0);
  t.quant = xv->type.quant; /* a layout op keeps its operand's quant type */
  if (t.quant && t.quant->kind != DY_QUANT_PER_TENSOR)
    unsupported(m,
                "reshaping '%s', which has per-axis quantization "
                "parameters",
                x->name);
  DyValue *y = op1(m, DY_OP_RESHAPE, xv, t);
  def(m, 0, y, 0, x->dtype, rank, dims);
}

static void imp_reshape(Imp *m) {
  static const char *const ok[] = {"allowzero", "shape", NULL};
  check_attrs(m, ok);
  Val *x = req(m, 0);
  int64_t shape[DY_MAX_RANK];
  int rank;
  if (m->opset < 5) {
    rank = attr_ints(m, "shape", shape, DY_MAX_RANK);
    if (rank < 0)
      invalid(m, "missing attribute 'shape'");
  } else {
    Host *h = const_in(m, 1, "shape");
    if (h->rank != 1 || h->dims[0] > DY_MAX_RANK)
      unsupported(m, "shape must be a vector of at most %d values",
                  DY_MAX_RANK);
    rank = (int)h->dims[0];
    for (int i = 0; i < rank; i++)
      shape[i] = host_int(h, i);
  }
  int allowzero = (int)attr_i(m, "allowzero", 0);
  int infer = -1;
  int64_t known = 1;
  for (int i = 0; i < rank; i++) {
    if (shape[i] == 0 && !allowzero) {
      if (i >= x->rank)
        invalid(m, "shape copies dimension %d of a rank-%d input", i, x->rank);
      shape[i] = x->dims[i];
    }
    if (shape[i] == -1) {
      if (infer >= 0)
        invalid(m, "more than one -1 in the shape");
      infer = i;
    } else if (shape[i] < 0) {
      invalid(m, "negative dimension in the shape");
    } else {
      if (__builtin_mul_overflow(known, shape[i] ? shape[i] : 1, &known))
        invalid(m, "target shape is too large");
    }
  }
  if (infer >= 0) {
    int64_t n = numel_of(x->rank, x->dims);
    if (known == 0 || n % known)
      invalid(m, "cannot infer the -1 dimension");
    shape[infer] = n / known;
  }
  reshape_to(m, x, rank, shape);
}

static void imp_flatten(Imp *m) {
  static const char *const ok[] = {"axis", NULL};
  check_attrs(m, ok);
  Val *x = req(m, 0);
  int64_t axis = attr_i(m, "axis", 1);
  if (axis < -x->rank || axis > x->rank)
    invalid(m, "axis %lld out of range", (long long)axis);
  if (axis < 0)
    axis += x->rank;
  int64_t d[2] = {1, 1};
  for (int i = 0; i < x->rank; i++)
    d[i < axis ? 0 : 1] *= x->dims[i];
  reshape_to(m, x, 2, d);
}

static void imp_squeeze(Imp *m) {
  int un = strcmp(m->node->op_type, "Unsqueeze") == 0;
  static const char *const ok[] = {"axes", NULL};
  check_attrs(m, ok);
  Val *x = req(m, 0);
  int64_t axes[DY_MAX_RANK];
  int na;
  if (m->opset < 13) {
    na = attr_ints(m, "axes", axes, DY_MAX_RANK);
  } else if (in(m, 1)) {
    Host *h = const_in(m, 1, "axes");
    if (host_numel(h) > DY_MAX_RANK)
      invalid(m, "too many axes");
    na = (int)host_numel(h);
    for (int i = 0; i < na; i++)
      axes[i] = host_int(h, i);
  } else {
    na = -1;
  }
  int64_t d[DY_MAX_RANK];
  int r = 0;
  if (un) {
    if (na < 0)
      invalid(m, "missing axes");
    int rank = x->rank + na;
    if (rank > DY_MAX_RANK)
      unsupported(m, "result rank %d", rank);
    int mark[DY_MAX_RANK] = {0};
    for (int i = 0; i < na; i++) {
      int a = norm_axis(m, axes[i], rank);
      if (mark[a])
        invalid(m, "repeated axis");
      mark[a] = 1;
    }
    int k = 0;
    for (int i = 0; i < rank; i++)
      d[r++] = mark[i] ? 1 : x->dims[k++];
  } else {
    int mark[DY_MAX_RANK] = {0};
    for (int i = 0; i < na; i++) {
      int a = norm_axis(m, axes[i], x->rank);
      if (x->dims[a] != 1)
        invalid(m, "cannot squeeze axis %d of size %lld", a,
                (long long)x->dims[a]);
      mark[a] = 1;
    }
    for (int i = 0; i < x->rank; i++)
      if (!(na < 0 ? x->dims[i] == 1 : mark[i]))
        d[r++] = x->dims[i];
  }
  reshape_to(m, x, r, d);
}

static void imp_transpose(Imp *m) {
  static const char *const ok[] = {"perm", NULL};
  check_attrs(m, ok);
  Val *x = req(m, 0);
  int64_t perm[DY_MAX_RANK];
  int n = attr_ints(m, "perm", perm, DY_MAX_RANK);
  if (n < 0) {
    n = x->rank;
    for (int i = 0; i < n; i++)
      perm[i] = n - 1 - i;
  }
  if (n != x->rank)
    invalid(m, "perm has %d values for rank %d", n, x->rank);
  int seen[DY_MAX_RANK] = {0};
  int64_t od[DY_MAX_RANK];
  for (int i = 0; i < n; i++) {
    if (perm[i] < 0 || perm[i] >= n || seen[perm[i]]++)
      invalid(m, "perm is not a permutation");
    od[i] = x->dims[perm[i]];
  }
  DyValue *y =
      transpose(m, logical(m, x), perm, ir_name(m, m->node->output[0]));
  def(m, 0, y, 0, x->dtype, n, od);
}

static void imp_concat(Imp *m) {
  static const char *const ok[] = {"axis", NULL};
  check_attrs(m, ok);
  int n = nin(m->node);
  if (n < 1)
    invalid(m, "no inputs");
  Val *x0 = req(m, 0);
  if (m->opset < 4 && !attr(m, "axis"))
    unsupported(m, "Concat without axis before opset 4");
  int axis = norm_axis(m, attr_i(m, "axis", 0), x0->rank);
  int all_known = 1, all_nhwc = x0->rank == 4;
  int64_t od[DY_MAX_RANK];
  memcpy(od, x0->dims, sizeof od);
  od[axis] = 0;
  for (int i = 0; i < n; i++) {
    Val *x = req(m, i);
    if (x->rank != x0->rank || x->dtype != x0->dtype)
      invalid(m, "inputs differ in rank or type");
    for (int k = 0; k < x->rank; k++)
      if (k != axis && x->dims[k] != x0->dims[k])
        invalid(m, "inputs differ in dimension %d", k);
    od[axis] += x->dims[axis];
    all_known &= x->k != NULL && x->v == NULL;
    all_nhwc &= (x->v && x->nhwc) || x->k;
  }
  if (all_known) { /* shape arithmetic: evaluate here */
    Host *h = new_host(m, x0->dtype, x0->rank, od);
    size_t esz = dy_onnx_dtype_size(x0->dtype);
    int64_t outer = 1, inner = 1;
    for (int k = 0; k < axis; k++)
      outer *= od[k];
    for (int k = axis + 1; k < x0->rank; k++)
      inner *= od[k];
    char *dst = h->data;
    for (int64_t o = 0; h->nbytes && o < outer; o++)
      for (int i = 0; i < n; i++) {
        Val *x = req(m, i);
        size_t chunk = (size_t)(x->dims[axis] * inner) * esz;
        memcpy(dst, (const char *)x->k->data + (size_t)o * chunk, chunk);
        dst += chunk;
      }
    def_host(m, 0, h);
    return;
  }
  DyValue **ops = dy_arena_alloc(m->scratch, (size_t)n * sizeof *ops);
  for (int i = 0; i < n; i++)
    ops[i] = all_nhwc ? nhwc(m, req(m, i)) : logical(m, req(m, i));
  Val tmp = {.dtype = x0->dtype, .rank = x0->rank};
  memcpy(tmp.dims, od, sizeof od);
  DyType t = ir_type(m, &tmp, all_nhwc);
  int ir_axis = all_nhwc ? nchw_to_nhwc_axis[axis] : axis;
  t.quant = ops[0]->type.quant; /* a layout op keeps its operands' quant */
  for (int i = 1; i < n; i++)
    if (!dy_quant_equal(ops[i]->type.quant, t.quant))
      unsupported(m, "inputs with different quantization parameters");
  if (t.quant && t.quant->kind == DY_QUANT_PER_AXIS && t.quant->axis == ir_axis)
    unsupported(m, "concatenation along the axis of per-axis quantization "
                   "parameters");
  DyValue *y = dy_build_op(m->g, NULL, DY_OP_CONCAT, n, ops, t,
                           ir_name(m, m->node->output[0]));
  dy_op_set_int(m->g, y->def, "axis", ir_axis);
  def(m, 0, y, all_nhwc, x0->dtype, x0->rank, od);
}

static void imp_pad(Imp *m) {
  static const char *const ok[] = {"mode", "pads", "value", NULL};
  check_attrs(m, ok);
  Val *x = req(m, 0);
  char mode[32] = "constant";
  attr_s(m, "mode", mode, sizeof mode);
  if (strcmp(mode, "constant") && strcmp(mode, "reflect") &&
      strcmp(mode, "edge"))
    unsupported(m, "mode '%s'", mode);
  int64_t p[2 * DY_MAX_RANK];
  double value = 0;
  int np;
  if (m->opset < 11) {
    np = attr_ints(m, "pads", p, 2 * DY_MAX_RANK);
    value = attr_f(m, "value", 0.0f);
  } else {
    Host *h = const_in(m, 1, "pads");
    if (host_numel(h) > 2 * DY_MAX_RANK)
      invalid(m, "too many pads");
    np = (int)host_numel(h);
    for (int i = 0; i < np; i++)
      p[i] = host_int(h, i);
    if (in(m, 2)) {
      Host *v = const_in(m, 2, "constant_value");
      if (host_numel(v) != 1)
        invalid(m, "constant_value must be a scalar");
      value = host_f(v, 0);
    }
    if (in(m, 3))
      unsupported(m, "the axes input");
  }
  if (np != 2 * x->rank)
    invalid(m, "pads has %d values for rank %d", np, x->rank);
  for (int i = 0; i < np; i++)
    if (p[i] < 0)
      unsupported(m, "negative pads (cropping)");
  int lay = x->v && x->nhwc;
  DyValue *xv = lay ? x->v : logical(m, x);
  int64_t ip[2 * DY_MAX_RANK], od[DY_MAX_RANK];
  DyType t = xv->type;
  for (int i = 0; i < x->rank; i++) {
    int j = lay ? nchw_to_nhwc_axis[i] : i;
    ip[j] = p[i];
    ip[x->rank + j] = p[x->rank + i];
    if (__builtin_add_overflow(x->dims[i], p[i], &od[i]) ||
        __builtin_add_overflow(od[i], p[x->rank + i], &od[i]))
      invalid(m, "pads are too large");
    t.dims[j] = od[i];
  }
  const DyQuant *q = t.quant;
  if (q && q->kind == DY_QUANT_PER_AXIS &&
      (ip[q->axis] || ip[x->rank + q->axis]))
    unsupported(m, "padding along the axis of per-axis quantization "
                   "parameters");
  DyValue *y = op1(m, DY_OP_PAD, xv, t);
  dy_op_set_ints(m->g, y->def, "pads", 2 * x->rank, ip);
  if (strcmp(mode, "constant"))
    dy_op_set_str(m->g, y->def, "mode", mode);
  if (isnan(value)) /* the .dy text keeps a NaN's sign, not its payload */
    value = copysign(NAN, value);
  if (value != 0)
    dy_op_set_float(m->g, y->def, "value", value);
  def(m, 0, y, lay, x->dtype, x->rank, od);
}

/* --- shape computations, evaluated at import --- */

static void imp_shape(Imp *m) {
  static const char *const ok[] = {"start", "end", NULL};
  check_attrs(m, ok);
  Val *x = req(m, 0);
  int64_t start = attr_i(m, "start", 0), end = attr_i(m, "end", x->rank);
  if (start < 0)
    start += x->rank;
  if (end < 0)
    end += x->rank;
  start = start < 0 ? 0 : start > x->rank ? x->rank : start;
  end = end < start ? start : end > x->rank ? x->rank : end;
  int64_t n = end - start;
  Host *h = new_host(m, T_INT64, 1, &n);
  for (int64_t i = 0; i < n; i++)
    ((int64_t *)h->data)[i] = x->dims[start + i];
  def_host(m, 0, h);
}

static void imp_gather(Imp *m) {
  static const char *const ok[] = {"axis", NULL};
  check_attrs(m, ok);
  Val *x = req(m, 0);
  Host *idx = const_in(m, 1, "indices");
  if (!x->k)
    unsupported(m, "Gather of a non-constant tensor");
  int axis = norm_axis(m, attr_i(m, "axis", 0), x->rank);
  int64_t od[DY_MAX_RANK];
  int r = 0;
  if (x->rank - 1 + idx->rank > DY_MAX_RANK) /* before filling od */
    unsupported(m, "result rank %d", x->rank - 1 + idx->rank);
  for (int i = 0; i < axis; i++)
    od[r++] = x->dims[i];
  for (int i = 0; i < idx->rank; i++)
    od[r++] = idx->dims[i];
  for (int i = axis + 1; i < x->rank; i++)
    od[r++] = x->dims[i];
  Host *h = new_host(m, x->dtype, r, od);
  size_t esz = dy_onnx_dtype_size(x->dtype);
  int64_t outer = 1, inner = 1, ni = host_numel(idx);
  for (int i = 0; i < axis; i++)
    outer *= x->dims[i];
  for (int i = axis + 1; i < x->rank; i++)
    inner *= x->dims[i];
  for (int64_t j = 0; j < ni; j++) {
    int64_t k = host_int(idx, j);
    if (k < -x->dims[axis] || k >= x->dims[axis])
      invalid(m, "index %lld out of range", (long long)k);
  }
  char *dst = h->data;
  for (int64_t o = 0; h->nbytes && o < outer; o++)
    for (int64_t j = 0; j < ni; j++) {
      int64_t k = host_int(idx, j);
      if (k < 0)
        k += x->dims[axis];
      memcpy(dst,
             (const char *)x->k->data +
                 (size_t)((o * x->dims[axis] + k) * inner) * esz,
             (size_t)inner * esz);
      dst += (size_t)inner * esz;
    }
  def_host(m, 0, h);
}

static void imp_cast(Imp *m) {
  static const char *const ok[] = {"to", "saturate", NULL};
  check_attrs(m, ok);
  Val *x = req(m, 0);
  int to = (int)attr_i(m, "to", 0);
  if (!x->k) {
    if (to == x->dtype) { /* a no-op cast */
      if (!x->v && x->given)
        make_input(m, x);
      Val *o = out_val(m, 0);
      Val keep = *o;
      *o = *x;
      o->name = keep.name;
      return;
    }
    unsupported(m, "Cast of a non-constant tensor to %s",
                dy_onnx_dtype_name(to));
  }
  if (to != T_INT64 && to != T_FLOAT && to != T_INT32 && to != T_INT16 &&
      to != T_INT8 && to != T_UINT8)
    unsupported(m, "Cast to %s", dy_onnx_dtype_name(to));
  if (x->dtype == T_FLOAT && to != T_FLOAT)
    unsupported(m, "Cast of float to %s", dy_onnx_dtype_name(to));
  Host *h = new_host(m, to, x->rank, x->dims);
  for (int64_t i = 0; i < host_numel(x->k); i++) {
    int64_t v = to == T_FLOAT ? 0 : host_int(x->k, i);
    switch (to) { /* integer casts wrap, as C and numpy do */
    case T_FLOAT:
      ((float *)h->data)[i] = (float)host_f(x->k, i);
      break;
    case T_INT64:
      ((int64_t *)h->data)[i] = v;
      break;
    case T_INT32:
      ((int32_t *)h->data)[i] = (int32_t)(uint32_t)v;
      break;
    case T_INT16:
      ((int16_t *)h->data)[i] = (int16_t)(uint16_t)v;
      break;
    case T_INT8:
      ((int8_t *)h->data)[i] = (int8_t)(uint8_t)v;
      break;
    default:
      ((uint8_t *)h->data)[i] = (uint8_t)v;
      break;
    }
  }
  def_host(m, 0, h);
}

static void imp_constant_of_shape(Imp *m) {
  static const char *const ok[] = {"value", NULL};
  check_attrs(m, ok);
  Host *shape = const_in(m, 0, "shape");
  if (shape->rank != 1 || shape->dims[0] > DY_MAX_RANK)
    unsupported(m, "shape must be a vector of at most %d values", DY_MAX_RANK);
  int64_t dims[DY_MAX_RANK];
  for (int i = 0; i < (int)shape->dims[0]; i++)
    dims[i] = host_int(shape, i);
  const Onnx__AttributeProto *a = attr(m, "value");
  Host *v = NULL;
  if (a) {
    if (!a->t)
      invalid(m, "attribute 'value' must be a tensor");
    v = host_from_proto(m, a->t, "value");
    if (host_numel(v) != 1)
      invalid(m, "'value' must hold one element");
  }
  Host *h = new_host(m, v ? v->dtype : T_FLOAT, (int)shape->dims[0], dims);
  size_t esz = dy_onnx_dtype_size(h->dtype);
  for (size_t off = 0; off < h->nbytes; off += esz)
    if (v)
      memcpy((char *)h->data + off, v->data, esz);
    else
      memset((char *)h->data + off, 0, esz);
  def_host(m, 0, h);
}

/* Elementwise arithmetic on two constants (numpy broadcasting). */
static int fold_arith(Imp *m) {
  const char *op = m->node->op_type;
  int kind = strcmp(op, "Add") == 0   ? 0
             : strcmp(op, "Sub") == 0 ? 1
             : strcmp(op, "Mul") == 0 ? 2
             : strcmp(op, "Div") == 0 ? 3
                                      : -1;
  if (kind < 0 || nin(m->node) != 2)
    return 0;
  Val *a = req(m, 0), *b = req(m, 1);
  if (!a->k || !b->k || a->v || b->v || a->dtype != b->dtype ||
      (a->dtype != T_INT64 && a->dtype != T_FLOAT && a->dtype != T_INT32))
    return 0;
  int64_t od[DY_MAX_RANK];
  int r = bcast(m, a, b, od);
  Host *h = new_host(m, a->dtype, r, od);
  int64_t n = numel_of(r, od);
  for (int64_t i = 0; i < n; i++) {
    int64_t ia = 0, ib = 0, sa = 1, sb = 1, rem = i;
    for (int d = r - 1; d >= 0; d--) {
      int64_t c = rem % od[d];
      rem /= od[d];
      int da = d - (r - a->rank), db = d - (r - b->rank);
      if (da >= 0) {
        ia += (a->dims[da] == 1 ? 0 : c) * sa;
        sa *= a->dims[da];
      }
      if (db >= 0) {
        ib += (b->dims[db] == 1 ? 0 : c) * sb;
        sb *= b->dims[db];
      }
    }
    if (a->dtype == T_FLOAT) {
      float x = ((const float *)a->k->data)[ia],
            y = ((const float *)b->k->data)[ib];
      ((float *)h->data)[i] = kind == 0   ? x + y
                              : kind == 1 ? x - y
                              : kind == 2 ? x * y
                                          : x / y;
    } else {
      int64_t x = host_int(a->k, ia), y = host_int(b->k, ib), v;
      if (kind == 3 && y == 0)
        invalid(m, "integer division by zero");
      if (kind == 0   ? __builtin_add_overflow(x, y, &v)
          : kind == 1 ? __builtin_sub_overflow(x, y, &v)
          : kind == 2 ? __builtin_mul_overflow(x, y, &v)
                      : (x == INT64_MIN && y == -1))
        invalid(m, "integer overflow in shape arithmetic");
      if (kind == 3) /* numpy floor division, as ONNX's reference */
        v = x / y - ((x % y != 0) && ((x < 0) != (y < 0)));
      if (a->dtype == T_INT64)
        ((int64_t *)h->data)[i] = v;
      else
        ((int32_t *)h->data)[i] = (int32_t)v;
    }
  }
  def_host(m, 0, h);
  return 1;
}

/* --- quantization --- */

/* Builds a quant type for x from scale and zero-point constants. */
static const DyQuant *quant_of(Imp *m, const Val *x, int is_nhwc, Host *scale,
                               Host *zp, int64_t axis, DyElemType storage) {
  DyQuant q;
  memset(&q, 0, sizeof q);
  q.storage = storage;
  dy_elem_range(storage, &q.qmin, &q.qmax);
  int64_t n = host_numel(scale);
  if (zp && host_numel(zp) != n)
    invalid(m, "scale and zero point differ in size");
  if (scale->dtype != T_FLOAT)
    unsupported(m, "scale of type %s", dy_onnx_dtype_name(scale->dtype));
  if (scale->rank == 0 || (scale->rank == 1 && n == 1 && x->rank == 0)) {
    q.kind = DY_QUANT_PER_TENSOR;
  } else if (scale->rank == 1) {
    int a = norm_axis(m, axis, x->rank);
    if (n != x->dims[a])
      invalid(m, "%lld scales for %lld channels on axis %d", (long long)n,
              (long long)x->dims[a], a);
    q.kind = DY_QUANT_PER_AXIS;
    q.axis = is_nhwc ? nchw_to_nhwc_axis[a] : a;
  } else {
    unsupported(m, "blocked quantization parameters");
  }
  if (n == 1 && scale->rank == 1)
    q.kind = DY_QUANT_PER_TENSOR;
  double *s = dy_arena_alloc(m->g->arena, (size_t)n * sizeof *s);
  int64_t *z = dy_arena_alloc(m->g->arena, (size_t)n * sizeof *z);
  for (int64_t i = 0; i < n; i++) {
    s[i] = host_f(scale, i);
    z[i] = zp ? host_int(zp, i) : 0;
    if (!(s[i] > 0) || isinf(s[i]))
      unsupported(m, "scale %g (must be positive and finite)", s[i]);
    if (z[i] < q.qmin || z[i] > q.qmax)
      invalid(m, "zero point %lld out of range", (long long)z[i]);
  }
  q.nparams = n;
  q.scales = s;
  q.zero_points = z;
  return dy_quant_create(m->g, &q);
}

static DyElemType storage_of(Imp *m, const Host *zp) {
  if (!zp)
    return DY_U8; /* ONNX's default */
  if (zp->dtype == T_UINT8)
    return DY_U8;
  if (zp->dtype == T_INT8)
    return DY_I8;
  unsupported(m, "zero point of type %s", dy_onnx_dtype_name(zp->dtype));
}

static void imp_quantize(Imp *m) {
  static const char *const ok[] = {"axis", "saturate", NULL};
  check_attrs(m, ok);
  Val *x = req(m, 0);
  Host *scale = const_in(m, 1, "y_scale");
  Host *zp = in(m, 2) ? const_in(m, 2, "y_zero_point") : NULL;
  if (x->dtype != T_FLOAT)
    unsupported(m, "QuantizeLinear of %s data", dy_onnx_dtype_name(x->dtype));
  int lay = x->v && x->nhwc;
  DyValue *xv = lay ? x->v : logical(m, x);
  DyType t = xv->type;
  t.elem = storage_of(m, zp);
  t.quant = quant_of(m, x, lay, scale, zp, attr_i(m, "axis", 1), t.elem);
  DyValue *y = op1(m, DY_OP_QUANTIZE, xv, t);
  def(m, 0, y, lay, zp ? zp->dtype : T_UINT8, x->rank, x->dims);
}

static void imp_dequantize(Imp *m) {
  static const char *const ok[] = {"axis", NULL};
  check_attrs(m, ok);
  Val *x = req(m, 0);
  Host *scale = const_in(m, 1, "x_scale");
  Host *zp = in(m, 2) ? const_in(m, 2, "x_zero_point") : NULL;
  if (x->dtype != T_UINT8 && x->dtype != T_INT8 && x->dtype != T_INT32)
    unsupported(m, "DequantizeLinear of %s data", dy_onnx_dtype_name(x->dtype));
  if (zp && zp->dtype != x->dtype)
    invalid(m, "zero point type differs from the input's");
  DyElemType st = DY_I8;
  elem_of(m, x->dtype, &st);
  int lay = x->v && x->nhwc;
  const DyQuant *q = quant_of(m, x, lay, scale, zp, attr_i(m, "axis", 1), st);
  DyValue *xv;
  if (!x->v && x->k) {
    /* a quantized constant (weights): its type carries the parameters */
    DyType t = ir_type(m, x, 0);
    t.quant = q;
    xv = dy_build_const(m->g, NULL, ir_name(m, x->name), t, x->k->data,
                        DY_FORM_HEX);
  } else {
    xv = lay ? x->v : logical(m, x);
    if (!xv->type.quant) {
      if (xv->def)
        unsupported(m, "DequantizeLinear of a value that is not quantized");
      xv->type.quant = q; /* a graph input: it takes these parameters */
    } else if (!dy_quant_equal(xv->type.quant, q)) {
      unsupported(m,
                  "DequantizeLinear parameters differ from those of "
                  "the QuantizeLinear that made '%s'",
                  x->name);
    }
  }
  DyType t = xv->type;
  t.elem = DY_F32;
  t.quant = NULL;
  DyValue *y = op1(m, DY_OP_DEQUANTIZE, xv, t);
  def(m, 0, y, lay, T_FLOAT, x->rank, x->dims);
}

/* --- integer and QLinear ops --- */

/* Quantization parameters from optional scale and zero point hosts: scale
 * NULL means 1 (a zero point alone, as in MatMulInteger); a vector applies
 * along `axis` of the IR value (in its IR layout). */
static const DyQuant *zq(Imp *m, Host *scale, Host *zp, DyElemType storage,
                         int axis, int64_t channels, const char *what) {
  int64_t ns = scale ? host_numel(scale) : 1, nz = zp ? host_numel(zp) : 1;
  int64_t n = ns > nz ? ns : nz;
  if ((ns != 1 && ns != n) || (nz != 1 && nz != n) || (n != 1 && n != channels))
    unsupported(m, "%s: %lld quantization parameters for %lld channels", what,
                (long long)n, (long long)channels);
  if (scale && scale->dtype != T_FLOAT)
    invalid(m, "%s: scale must be float", what);
  DyQuant q;
  memset(&q, 0, sizeof q);
  q.kind = n == 1 ? DY_QUANT_PER_TENSOR : DY_QUANT_PER_AXIS;
  q.axis = axis;
  q.storage = storage;
  dy_elem_range(storage, &q.qmin, &q.qmax);
  double *sv = dy_arena_alloc(m->g->arena, (size_t)n * sizeof *sv);
  int64_t *zv = dy_arena_alloc(m->g->arena, (size_t)n * sizeof *zv);
  for (int64_t i = 0; i < n; i++) {
    sv[i] = scale ? host_f(scale, ns == 1 ? 0 : i) : 1.0;
    zv[i] = zp ? host_int(zp, nz == 1 ? 0 : i) : 0;
    if (!(sv[i] > 0) || isinf(sv[i]))
      unsupported(m, "%s: scale %g (must be positive and finite)", what, sv[i]);
    if (zv[i] < q.qmin || zv[i] > q.qmax)
      invalid(m, "%s: zero point %lld out of range", what, (long long)zv[i]);
  }
  q.nparams = n;
  q.scales = sv;
  q.zero_points = zv;
  return dy_quant_create(m->g, &q);
}

/* Gives an IR value the quant type q: a graph input (possibly behind the
 * layout transpose) takes it; a value that already has it is kept. */
static DyValue *with_quant(Imp *m, DyValue *v, const DyQuant *q,
                           const char *what) {
  if (v->type.quant && dy_quant_equal(v->type.quant, q))
    return v;
  int trivial = q->kind == DY_QUANT_PER_TENSOR && q->zero_points[0] == 0 &&
                q->scales[0] == 1.0;
  if (!v->type.quant && trivial)
    return v; /* plain integers: zero point 0 */
  if (v->type.quant)
    unsupported(m,
                "%s: quantization parameters differ from those of the "
                "QuantizeLinear that made '%s'",
                what, v->name);
  DyValue *in = v;
  if (v->def && v->def->kind == DY_OP_TRANSPOSE && !v->def->operands[0]->def)
    in = v->def->operands[0];
  if (in->def)
    unsupported(m, "%s: '%s' has no zero point known at compile time", what,
                v->name);
  if (q->kind == DY_QUANT_PER_AXIS)
    unsupported(m, "%s: per-axis parameters on an input", what);
  in->type.quant = q;
  v->type.quant = q;
  return v;
}

static DyElemType int_elem(Imp *m, const Val *x, const char *what) {
  if (x->dtype == T_UINT8)
    return DY_U8;
  if (x->dtype == T_INT8)
    return DY_I8;
  unsupported(m, "%s of type %s", what, dy_onnx_dtype_name(x->dtype));
}

static Host *opt_const(Imp *m, int i, const char *what) {
  return in(m, i) ? const_in(m, i, what) : NULL;
}

/* The weights of an integer conv as an OHWI IR value with quant q (built
 * along axis 0 of OIHW = axis 0 of OHWI). */
static DyValue *int_conv_weights(Imp *m, Val *w, Host *scale, Host *zp,
                                 DyElemType st) {
  const DyQuant *q = zq(m, scale, zp, st, 0, w->dims[0], "weights");
  Host *wk = w->v ? NULL : w->k ? w->k : w->given;
  if (!wk)
    unsupported(m, "integer convolution with non-constant weights");
  int64_t wd[4] = {w->dims[0], w->dims[2], w->dims[3], w->dims[1]};
  DyType t = dy_type_make(st, 4, wd);
  t.quant = q;
  return dy_build_const(m->g, NULL, ir_name(m, w->name), t,
                        nchw_to_nhwc(m, wk) /* OIHW -> OHWI */, DY_FORM_HEX);
}

/* Builds an integer conv2d from the node's Conv attributes; x already in
 * NHWC with its quant type, weights OHWI. Returns the i32 accumulator. */
static DyValue *int_conv(Imp *m, Val *x, Val *w, DyValue *xv, DyValue *wv,
                         DyValue *bias, int64_t *od, const char *name) {
  static const char *const ok[] = {
      "auto_pad", "dilations", "group", "kernel_shape",
      "pads",     "strides",   NULL};
  check_attrs(m, ok);
  if (x->rank != 4 || w->rank != 4)
    unsupported(m, "only 2-D convolution");
  int64_t s[2], dl[2], p[4], k[2] = {w->dims[2], w->dims[3]};
  ints2(m, "strides", s, 1);
  ints2(m, "dilations", dl, 1);
  window_pads(m, x, k, s, dl, p);
  int64_t g = attr_i(m, "group", 1);
  check_conv_shapes(m, x, w, g, NULL);
  if (bias && (bias->type.rank != 1 || bias->type.dims[0] != w->dims[0]))
    invalid(m, "the bias must be a vector of %lld values",
            (long long)w->dims[0]);
  od[0] = x->dims[0];
  od[1] = w->dims[0];
  for (int i = 0; i < 2; i++)
    od[2 + i] = conv_out(m, x->dims[2 + i], k[i], s[i], dl[i], p[i], p[2 + i]);
  int64_t nd[4] = {od[0], od[2], od[3], od[1]};
  DyValue *ops[3] = {xv, wv, bias};
  DyValue *y = dy_build_op(m->g, NULL, DY_OP_CONV2D, bias ? 3 : 2, ops,
                           dy_type_make(DY_I32, 4, nd), name);
  set_window_attrs(m, y->def, s, dl, p, g);
  return y;
}

/* The IR value of x with quant parameters (scale may be NULL: 1). */
static DyValue *quant_input(Imp *m, Val *x, Host *scale, Host *zp, int lay,
                            const char *what) {
  DyElemType st = int_elem(m, x, what);
  const DyQuant *q = zq(m, scale, zp, st, 0, 1, what);
  if (x->k && !x->v) {
    DyType t = ir_type(m, x, lay);
    t.quant = q;
    return dy_build_const(m->g, NULL, ir_name(m, x->name), t,
                          lay ? nchw_to_nhwc(m, x->k) : x->k->data,
                          DY_FORM_HEX);
  }
  return with_quant(m, lay ? nhwc(m, x) : logical(m, x), q, what);
}

/* requant with rounding "float": y = round(acc * scale_c) + zp, the scale
 * f32(f32(sx * sw_c) / sy) as ONNX's reference computes it. */
static DyValue *float_requant(Imp *m, DyValue *acc, Host *sx, Host *sw,
                              Host *sy, Host *zy, int axis, DyType yt) {
  int64_t nw = host_numel(sw);
  if (host_numel(sx) != 1 || host_numel(sy) != 1 || (zy && host_numel(zy) != 1))
    unsupported(m, "per-axis input or output quantization parameters");
  double *sc = dy_arena_alloc(m->scratch, (size_t)nw * sizeof *sc);
  for (int64_t c = 0; c < nw; c++) {
    float a = (float)host_f(sx, 0) * (float)host_f(sw, c);
    sc[c] = (double)(a / (float)host_f(sy, 0));
    if (!(sc[c] > 0) || isinf(sc[c]))
      unsupported(m,
                  "the requantization scale %g (x_scale * w_scale / "
                  "y_scale in float) is zero or infinite",
                  sc[c]);
  }
  DyValue *y = op1(m, DY_OP_REQUANT, acc, yt);
  dy_op_set_str(m->g, y->def, "rounding", "float");
  dy_op_set_floats(m->g, y->def, "scale", (int)nw, sc);
  if (nw > 1)
    dy_op_set_int(m->g, y->def, "axis", axis);
  int64_t z = zy ? host_int(zy, 0) : 0;
  if (z)
    dy_op_set_int(m->g, y->def, "output_zp", z);
  return y;
}

static void imp_qlinear_conv(Imp *m) {
  Val *x = req(m, 0), *w = req(m, 3), *b = in(m, 8);
  Host *sx = const_in(m, 1, "x_scale"), *zx = const_in(m, 2, "x_zero_point");
  Host *sw = const_in(m, 4, "w_scale"), *zw = const_in(m, 5, "w_zero_point");
  Host *sy = const_in(m, 6, "y_scale"), *zy = const_in(m, 7, "y_zero_point");
  DyValue *xv = quant_input(m, x, sx, zx, 1, "x");
  DyValue *wv = int_conv_weights(m, w, sw, zw, int_elem(m, w, "w"));
  DyValue *bv = NULL;
  if (b) {
    if (b->dtype != T_INT32)
      invalid(m, "bias must be int32");
    bv = logical(m, b);
  }
  int64_t od[4];
  DyValue *acc =
      int_conv(m, x, w, xv, wv, bv, od, ir_name(m, m->node->output[0]));
  DyElemType st = int_elem(m, (Val[]){{.dtype = zy->dtype}}, "y_zero_point");
  DyType yt = acc->type;
  yt.elem = st;
  yt.quant = zq(m, sy, zy, st, 0, 1, "y");
  DyValue *y = float_requant(m, acc, sx, sw, sy, zy, 3, yt);
  def(m, 0, y, 1, zy->dtype, 4, od);
}

static void imp_conv_integer(Imp *m) {
  Val *x = req(m, 0), *w = req(m, 1);
  Host *zx = opt_const(m, 2, "x_zero_point"),
       *zw = opt_const(m, 3, "w_zero_point");
  DyValue *xv = quant_input(m, x, NULL, zx, 1, "x");
  DyValue *wv = int_conv_weights(m, w, NULL, zw, int_elem(m, w, "w"));
  int64_t od[4];
  DyValue *y =
      int_conv(m, x, w, xv, wv, NULL, od, ir_name(m, m->node->output[0]));
  def(m, 0, y, 1, T_INT32, 4, od);
}

/* Integer matmul of a [..., M, K] by b [K, N]; returns the i32 result. */
static DyValue *int_matmul(Imp *m, Val *a, Val *b, Host *sa, Host *za, Host *sb,
                           Host *zb, int64_t *od) {
  static const char *const none[] = {NULL};
  check_attrs(m, none);
  int br = b->rank;
  if (br < 2 || a->rank < 1 || (br > 2 && br != a->rank) ||
      a->dims[a->rank - 1] != b->dims[br - 2])
    unsupported(m, "integer MatMul needs [..., K] x [K, N] or a batched "
                   "product of equal ranks");
  for (int i = 0; br > 2 && i < br - 2; i++)
    if (a->dims[i] != b->dims[i])
      unsupported(m, "MatMul with broadcast batch dimensions");
  DyValue *av = quant_input(m, a, sa, za, 0, "a");
  DyElemType st = int_elem(m, b, "b");
  const DyQuant *qb = zq(m, sb, zb, st, br - 1, b->dims[br - 1], "b");
  DyValue *bv;
  if (b->k && !b->v) {
    DyType t = ir_type(m, b, 0);
    t.quant = qb;
    bv = dy_build_const(m->g, NULL, ir_name(m, b->name), t, b->k->data,
                        DY_FORM_HEX);
  } else {
    bv = with_quant(m, logical(m, b), qb, "b");
  }
  memcpy(od, a->dims, (size_t)a->rank * sizeof *od);
  od[a->rank - 1] = b->dims[br - 1];
  DyValue *ops[2] = {av, bv};
  return dy_build_op(m->g, NULL, DY_OP_MATMUL, 2, ops,
                     dy_type_make(DY_I32, a->rank, od),
                     ir_name(m, m->node->output[0]));
}

static void imp_matmul_integer(Imp *m) {
  int64_t od[DY_MAX_RANK];
  Val *a = req(m, 0);
  DyValue *y =
      int_matmul(m, a, req(m, 1), NULL, opt_const(m, 2, "a_zero_point"), NULL,
                 opt_const(m, 3, "b_zero_point"), od);
  def(m, 0, y, 0, T_INT32, a->rank, od);
}

static void imp_qlinear_matmul(Imp *m) {
  int64_t od[DY_MAX_RANK];
  Val *a = req(m, 0);
  Host *sa = const_in(m, 1, "a_scale"), *za = const_in(m, 2, "a_zero_point");
  Host *sb = const_in(m, 4, "b_scale"), *zb = const_in(m, 5, "b_zero_point");
  Host *sy = const_in(m, 6, "y_scale"), *zy = const_in(m, 7, "y_zero_point");
  DyValue *acc = int_matmul(m, a, req(m, 3), sa, za, sb, zb, od);
  DyElemType st = int_elem(m, (Val[]){{.dtype = zy->dtype}}, "y_zero_point");
  DyType yt = acc->type;
  yt.elem = st;
  yt.quant = zq(m, sy, zy, st, 0, 1, "y");
  DyValue *y = float_requant(m, acc, sa, sb, sy, zy, a->rank - 1, yt);
  def(m, 0, y, 0, zy->dtype, a->rank, od);
}

static void imp_dynamic_quantize(Imp *m) {
  static const char *const none[] = {NULL};
  check_attrs(m, none);
  Val *x = req(m, 0);
  if (x->dtype != T_FLOAT)
    unsupported(m, "DynamicQuantizeLinear of %s data",
                dy_onnx_dtype_name(x->dtype));
  int lay = x->v && x->nhwc;
  DyValue *xv = lay ? x->v : logical(m, x);
  DyType types[3] = {xv->type, dy_type_make(DY_F32, 0, NULL),
                     dy_type_make(DY_U8, 0, NULL)};
  types[0].elem = DY_U8;
  const char *names[3];
  for (int i = 0; i < 3; i++) {
    if (i >= (int)m->node->n_output || !m->node->output[i][0])
      unsupported(m, "all three outputs must be named");
    names[i] = ir_name(m, m->node->output[i]);
  }
  DyOp *op =
      dy_op_create(m->g, DY_OP_DYNAMIC_QUANTIZE, 1, &xv, 3, types, names);
  dy_graph_insert(m->g, op, NULL);
  def(m, 0, op->results[0], lay, T_UINT8, x->rank, x->dims);
  def(m, 1, op->results[1], 0, T_FLOAT, 0, NULL);
  def(m, 2, op->results[2], 0, T_UINT8, 0, NULL);
}

/* --- dispatch --- */

typedef struct Handler {
  const char *op;
  void (*fn)(Imp *);
} Handler;

static const Handler handlers[] = {
    {"Identity", imp_identity},
    {"Dropout", imp_identity},
    {"Constant", imp_constant},
    {"Conv", imp_conv},
    {"MaxPool", imp_pool},
    {"AveragePool", imp_pool},
    {"GlobalAveragePool", imp_global_avgpool},
    {"Relu", imp_unary},
    {"Sigmoid", imp_unary},
    {"Tanh", imp_unary},
    {"HardSwish", imp_unary},
    {"HardSigmoid", imp_unary},
    {"Clip", imp_unary},
    {"Add", imp_binary},
    {"Sub", imp_binary},
    {"Mul", imp_binary},
    {"Softmax", imp_softmax},
    {"BatchNormalization", imp_batchnorm},
    {"Gemm", imp_gemm},
    {"MatMul", imp_matmul},
    {"Reshape", imp_reshape},
    {"Flatten", imp_flatten},
    {"Squeeze", imp_squeeze},
    {"Unsqueeze", imp_squeeze},
    {"Transpose", imp_transpose},
    {"Concat", imp_concat},
    {"Pad", imp_pad},
    {"Shape", imp_shape},
    {"Gather", imp_gather},
    {"Cast", imp_cast},
    {"ConstantOfShape", imp_constant_of_shape},
    {"QuantizeLinear", imp_quantize},
    {"DequantizeLinear", imp_dequantize},
    {"QLinearConv", imp_qlinear_conv},
    {"QLinearMatMul", imp_qlinear_matmul},
    {"ConvInteger", imp_conv_integer},
    {"MatMulInteger", imp_matmul_integer},
    {"DynamicQuantizeLinear", imp_dynamic_quantize},
};

/* Keeps the first message reported to a DyDiag (ctx: char[512]). */
static void keep_first(void *ctx, DySeverity sev, DyLoc loc, const char *msg) {
  char *buf = ctx;
  if (!buf[0])
    snprintf(buf, 512, "%s", msg);
}

/* Infers the type of every op built after `last` (NULL: all) as the
 * verifier will, so that a node whose shapes or attributes do not fit
 * (channels, groups, windows, ...) fails as that node's error rather than
 * as a graph that does not verify. Results are held to check_shape's limits
 * (within those of the .dy text; numel_of and the loops rely on them). */
static void check_new_ops(Imp *m, DyOp *last) {
  DyOp *first = last ? last->next : m->g->first;
  for (DyOp *op = first; op; op = op->next)
    for (int r = 0; r < op->nresults; r++)
      check_shape(m, "the result", (size_t)op->results[r]->type.rank,
                  op->results[r]->type.dims);
  char msg[512] = "";
  DyDiag d;
  dy_diag_init(&d);
  d.fn = keep_first;
  d.ctx = msg;
  int bad = 0;
  for (DyOp *op = first; op && !bad; op = op->next) {
    DyType t;
    bad = dy_op_infer_type(op, &t, &d);
  }
  dy_diag_fini(&d);
  if (bad)
    invalid(m, "%s", msg);
}

static void import_node(Imp *m) {
  const Onnx__NodeProto *n = m->node;
  if (!n->op_type)
    invalid(m, "node without an op type");
  if (n->domain && n->domain[0] && strcmp(n->domain, "ai.onnx") != 0)
    unsupported(m, "operator domain '%s'", n->domain);
  if (fold_arith(m))
    return;
  DyOp *last = m->g->last;
  for (size_t i = 0; i < sizeof handlers / sizeof handlers[0]; i++)
    if (strcmp(handlers[i].op, n->op_type) == 0) {
      if (!n->n_output || !n->output[0][0]) /* IR names derive from it */
        invalid(m, "missing output 0");
      handlers[i].fn(m);
      check_new_ops(m, last);
      return;
    }
  unsupported(m, "unsupported operator");
}

/* Renames v, an op result that is not yet a graph output, to `want` (the
 * sanitized name of an ONNX graph output). The value that holds `want` (the
 * NHWC result whose NCHW copy v is, say) takes v's name in exchange; a
 * graph input or an earlier output keeps it, and so does v its own. */
static void take_name(Imp *m, DyValue *v, const char *want) {
  DyGraph *g = m->g;
  if (!v->def || dy_value_is_output(g, v) || strcmp(v->name, want) == 0)
    return;
  for (int i = 0; i < g->ninputs; i++)
    if (strcmp(g->inputs[i]->name, want) == 0)
      return;
  DyValue *holder = NULL;
  for (DyOp *op = g->first; op && !holder; op = op->next)
    for (int r = 0; r < op->nresults; r++)
      if (strcmp(op->results[r]->name, want) == 0)
        holder = op->results[r];
  if (holder && dy_value_is_output(g, holder))
    return;
  if (holder) { /* swap: both names stay claimed */
    holder->name = v->name;
    v->name = dy_arena_strdup(g->arena, want);
    return;
  }
  dy_graph_release_name(g, v->name);
  v->name = dy_graph_unique_name(g, want);
}

static void import_graph(Imp *m, const Onnx__ModelProto *model) {
  for (size_t i = 0; i < model->n_opset_import; i++) {
    const Onnx__OperatorSetIdProto *o = model->opset_import[i];
    if (!o->domain || !o->domain[0] || strcmp(o->domain, "ai.onnx") == 0)
      m->opset = (int)o->version;
  }
  if (!m->opset)
    unsupported(m, "the model imports no ai.onnx operator set (only %s)",
                model->n_opset_import && model->opset_import[0]->domain
                    ? model->opset_import[0]->domain
                    : "none");
  /* Opsets 7 to 21 are the target; older models import too where the
   * attribute checks prove the semantics equal (the attributes that older
   * versions had, such as `broadcast` or `consumed_inputs`, are rejected). */
  if (m->opset < 1 || m->opset > 21)
    unsupported(m, "opset %d (1 to 21 are supported)", m->opset);
  const Onnx__GraphProto *gp = model->graph;
  if (!gp)
    invalid(m, "the model has no graph");
  m->g->name = dy_arena_strdup(
      m->g->arena, ir_name(m, gp->name && gp->name[0] ? gp->name : "main"));
  for (size_t i = 0; i < gp->n_initializer; i++) {
    const Onnx__TensorProto *t = gp->initializer[i];
    char what[300];
    snprintf(what, sizeof what, "initializer '%.200s'", t->name ? t->name : "");
    Host *h = host_from_proto(m, t, what);
    Val *v = new_val(m, t->name ? t->name : "");
    v->k = h;
    v->dtype = h->dtype;
    v->rank = h->rank;
    memcpy(v->dims, h->dims, sizeof h->dims);
  }
  for (size_t i = 0; i < gp->n_input; i++) {
    const Onnx__ValueInfoProto *vi = gp->input[i];
    const char *name = vi->name ? vi->name : "";
    if (lookup(m, name))
      continue; /* an initializer listed as input (older exporters) */
    const Onnx__TensorProto *ci = NULL;
    (void)ci;
    const DyOnnxTensor *given = NULL;
    for (int k = 0; m->opt && k < m->opt->nconst_inputs; k++)
      if (strcmp(m->opt->const_inputs[k].name, name) == 0)
        given = &m->opt->const_inputs[k];
    Val *v = new_val(m, name);
    v->input_index = (int)i;
    if (given) {
      Host *h = dy_arena_alloc(m->scratch, sizeof *h);
      h->dtype = given->dtype;
      h->rank = given->rank;
      memcpy(h->dims, given->dims, sizeof h->dims);
      h->data = dy_arena_memdup(m->scratch, given->data, given->nbytes);
      h->nbytes = given->nbytes;
      v->dtype = h->dtype;
      v->rank = h->rank;
      memcpy(v->dims, h->dims, sizeof h->dims);
      /* int64 values (shapes) are constants; others stay inputs unless a
       * node needs them constant */
      if (h->dtype == T_INT64)
        v->k = h;
      else
        v->given = h;
      continue;
    }
    if (!vi->type ||
        vi->type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE ||
        !vi->type->tensor_type)
      unsupported(m, "graph input '%s' is not a tensor", name);
    const Onnx__TypeProto__Tensor *tt = vi->type->tensor_type;
    v->dtype = tt->has_elem_type ? tt->elem_type : 0;
    DyElemType elem;
    if (!elem_of(m, v->dtype, &elem))
      unsupported(m, "graph input '%s' has data type %s", name,
                  dy_onnx_dtype_name(v->dtype));
    if (!tt->shape)
      unsupported(m, "graph input '%s' has no shape", name);
    int64_t dims[DY_MAX_RANK];
    if (tt->shape->n_dim > DY_MAX_RANK)
      unsupported(m, "graph input '%s' has rank %zu", name, tt->shape->n_dim);
    for (size_t k = 0; k < tt->shape->n_dim; k++) {
      const Onnx__TensorShapeProto__Dimension *dm = tt->shape->dim[k];
      if (dm->value_case !=
          ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE)
        unsupported(m,
                    "graph input '%s' has a symbolic dimension '%s' "
                    "(dyad needs static shapes)",
                    name,
                    dm->value_case ==
                            ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM
                        ? dm->dim_param
                        : "?");
      dims[k] = dm->dim_value;
    }
    char what[300];
    snprintf(what, sizeof what, "graph input '%.200s'", name);
    check_shape(m, what, tt->shape->n_dim, dims);
    v->rank = (int)tt->shape->n_dim;
    memcpy(v->dims, dims, sizeof dims);
    int lay = m->opt && m->opt->nhwc_io && v->rank == 4;
    v->v = dy_graph_add_input(m->g, ir_name(m, name), ir_type(m, v, lay));
    v->v->index = (int)i;
    v->nhwc = lay;
  }
  for (size_t i = 0; i < gp->n_node; i++) {
    m->node = gp->node[i];
    m->node_index = i;
    import_node(m);
  }
  m->node = NULL;
  /* inputs made on first use: back into the model's order */
  for (int i = 1; i < m->g->ninputs; i++)
    for (int k = i;
         k > 0 && m->g->inputs[k - 1]->index > m->g->inputs[k]->index; k--) {
      DyValue *t = m->g->inputs[k];
      m->g->inputs[k] = m->g->inputs[k - 1];
      m->g->inputs[k - 1] = t;
    }
  for (int i = 0; i < m->g->ninputs; i++)
    m->g->inputs[i]->index = i;
  if (gp->n_output == 0)
    invalid(m, "the graph has no outputs");
  DyValue **outs = dy_arena_alloc(m->scratch, gp->n_output * sizeof *outs);
  for (size_t i = 0; i < gp->n_output; i++) {
    const char *name = gp->output[i]->name ? gp->output[i]->name : "";
    Val *v = lookup(m, name);
    if (!v)
      invalid(m, "graph output '%s' is not computed by any node", name);
    int lay = m->opt && m->opt->nhwc_io && v->rank == 4;
    DyValue *iv = lay ? nhwc(m, v) : logical(m, v);
    const char *want = ir_name(m, name);
    take_name(m, iv, want);
    if (strcmp(iv->name, want) != 0 || !iv->def ||
        dy_value_is_output(m->g, iv)) {
      /* outputs are named after the ONNX outputs: add an identity when the
       * value has another name (a transposed copy, an input, a constant) */
      DyValue *idv =
          dy_build_op(m->g, NULL, DY_OP_IDENTITY, 1, &iv, iv->type, want);
      iv = idv;
    }
    outs[i] = iv;
    dy_graph_set_outputs(m->g, (int)i + 1, outs);
  }
}

DyGraph *dy_onnx_import_buffer(const char *name, const void *buf, size_t len,
                               const char *base_dir, const DyOnnxOptions *opt,
                               DyOnnxStatus *status, DyDiag *d) {
  Imp m;
  memset(&m, 0, sizeof m);
  m.file = name;
  m.base_dir = base_dir;
  m.d = d;
  m.opt = opt;
  m.budget = opt && opt->max_bytes ? opt->max_bytes : DY_ONNX_DEFAULT_MAX;
  Onnx__ModelProto *model =
      onnx__model_proto__unpack(NULL, len, (const uint8_t *)buf);
  if (!model) {
    DyLoc loc = {name, 0, 0};
    dy_error(d, loc,
             "not a valid ONNX model (the protobuf does not parse: "
             "truncated or corrupt)");
    if (status)
      *status = DY_ONNX_INVALID;
    return NULL;
  }
  m.scratch = dy_arena_create();
  m.g = dy_graph_create("main");
  if (setjmp(m.fail)) {
    onnx__model_proto__free_unpacked(model, NULL);
    dy_arena_destroy(m.scratch);
    dy_graph_destroy(m.g);
    if (status)
      *status = m.status;
    return NULL;
  }
  import_graph(&m, model);
  onnx__model_proto__free_unpacked(model, NULL);
  dy_arena_destroy(m.scratch);
  if (dy_graph_verify(m.g, d)) {
    DyLoc loc = {name, 0, 0};
    dy_error(d, loc, "internal error: the imported graph does not verify");
    dy_graph_destroy(m.g);
    if (status)
      *status = DY_ONNX_INVALID;
    return NULL;
  }
  if (status)
    *status = DY_ONNX_OK;
  return m.g;
}

DyGraph *dy_onnx_import(const char *path, const DyOnnxOptions *opt,
                        DyOnnxStatus *status, DyDiag *d) {
  size_t len;
  char *buf = dy_read_file(path, &len, d);
  if (!buf) {
    if (status)
      *status = DY_ONNX_INVALID;
    return NULL;
  }
  char dir[4096];
  const char *slash = strrchr(path, '/');
  if (slash)
    snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
  else
    snprintf(dir, sizeof dir, ".");
  DyGraph *g = dy_onnx_import_buffer(path, buf, len, dir, opt, status, d);
  free(buf);
  return g;
}

/* --- TensorProto files (ONNX test data) --- */

int dy_onnx_read_tensor(const char *path, DyOnnxTensor *out, DyDiag *d) {
  memset(out, 0, sizeof *out);
  size_t len;
  char *buf = dy_read_file(path, &len, d);
  if (!buf)
    return 1;
  DyLoc loc = {path, 0, 0};
  Onnx__TensorProto *t =
      onnx__tensor_proto__unpack(NULL, len, (const uint8_t *)buf);
  free(buf);
  if (!t) {
    dy_error(d, loc, "not a valid TensorProto");
    return 1;
  }
  Imp m;
  memset(&m, 0, sizeof m);
  m.file = path;
  m.d = d;
  m.budget = DY_ONNX_DEFAULT_MAX;
  m.scratch = dy_arena_create();
  int rc = 0;
  if (setjmp(m.fail)) {
    rc = 1;
  } else {
    Host *h = host_from_proto(&m, t, "tensor");
    out->data = malloc(h->nbytes ? h->nbytes : 1);
    if (!out->data) {
      dy_error(d, loc, "out of memory");
      rc = 1;
    } else {
      memcpy(out->data, h->data, h->nbytes);
      out->nbytes = h->nbytes;
      out->dtype = h->dtype;
      out->rank = h->rank;
      memcpy(out->dims, h->dims, sizeof h->dims);
      out->name = strdup(t->name ? t->name : "");
    }
  }
  dy_arena_destroy(m.scratch);
  onnx__tensor_proto__free_unpacked(t, NULL);
  return rc;
}

void dy_onnx_tensor_free(DyOnnxTensor *t) {
  free(t->data);
  free(t->name);
  memset(t, 0, sizeof *t);
}
