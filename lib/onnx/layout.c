/* ONNX values as IR values: element types, names, and the NCHW/NHWC layout.
 *
 * ONNX is NCHW, the IR is NHWC. Every imported value keeps its ONNX
 * (logical) shape; rank-4 values made by conv, pooling and batchnorm are held
 * in NHWC (`nhwc` set) and turned back into NCHW by an explicit transpose only
 * where an op needs the logical order (reshape, flatten, matmul, ...).
 * Elementwise ops, softmax, concat and pad follow the layout of their input by
 * remapping axes; constants are permuted at import. Weights are transposed to
 * the IR's layouts (conv OIHW -> OHWI, Gemm B -> KxN) at import.
 */
#include <string.h>

#include "import_internal.h"

int dy_onnx_elem_of(Imp *m, int dtype, DyElemType *e) {
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
const char *dy_onnx_ir_name(Imp *m, const char *name) {
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

DyType dy_onnx_ir_type(Imp *m, const Val *x, int nhwc) {
  DyElemType e;
  if (!dy_onnx_elem_of(m, x->dtype, &e))
    dy_onnx_unsupported(m, "value '%s' has data type %s", x->name,
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
void *dy_onnx_nchw_to_nhwc(Imp *m, const Host *h) {
  size_t esz = dy_onnx_dtype_size(h->dtype);
  char *out = dy_onnx_take_budget(m, h->nbytes, "layout copy");
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

DyValue *dy_onnx_transpose(Imp *m, DyValue *x, const int64_t *perm,
                           const char *name) {
  DyType t = x->type; /* the result keeps x's quant type, as the IR wants */
  for (int i = 0; i < t.rank; i++)
    t.dims[i] = x->type.dims[perm[i]];
  if (t.quant && t.quant->kind == DY_QUANT_PER_AXIS &&
      perm[t.quant->axis] != t.quant->axis)
    dy_onnx_unsupported(m,
                        "transposing '%s' would move the axis of its per-axis "
                        "quantization parameters",
                        name);
  DyValue *y = dy_build_op(m->g, NULL, DY_OP_TRANSPOSE, 1, &x, t, name);
  dy_op_set_ints(m->g, y->def, "perm", t.rank, perm);
  return y;
}

/* Makes a pending graph input (one with a given value) a real input. */
void dy_onnx_make_input(Imp *m, Val *x) {
  int lay = m->opt && m->opt->nhwc_io && x->rank == 4;
  x->v = dy_graph_add_input(m->g, dy_onnx_ir_name(m, x->name),
                            dy_onnx_ir_type(m, x, lay));
  x->v->index = x->input_index; /* sorted into ONNX order at the end */
  x->nhwc = lay;
}

/* The IR value of x in its logical (ONNX) layout. */
DyValue *dy_onnx_logical(Imp *m, Val *x) {
  if (!x->v && !x->k && x->given)
    dy_onnx_make_input(m, x);
  if (!x->v) {
    DyType t = dy_onnx_ir_type(m, x, 0);
    x->v = dy_build_const(m->g, NULL, dy_onnx_ir_name(m, x->name), t,
                          x->k->data, DY_FORM_HEX);
    x->nhwc = 0;
  }
  if (!x->nhwc)
    return x->v;
  if (!x->alt) {
    static const int64_t to_nchw[4] = {0, 3, 1, 2};
    x->alt = dy_onnx_transpose(m, x->v, to_nchw, dy_onnx_ir_name(m, x->name));
  }
  return x->alt;
}

/* The IR value of a rank-4 x in NHWC. */
DyValue *dy_onnx_nhwc(Imp *m, Val *x) {
  if (x->rank != 4)
    dy_onnx_unsupported(m, "value '%s' must have rank 4, got %d", x->name,
                        x->rank);
  if (!x->v && !x->k && x->given)
    dy_onnx_make_input(m, x);
  if (x->v && x->nhwc)
    return x->v;
  if (!x->v && x->k) {
    DyType t = dy_onnx_ir_type(m, x, 1);
    x->v = dy_build_const(m->g, NULL, dy_onnx_ir_name(m, x->name), t,
                          dy_onnx_nchw_to_nhwc(m, x->k), DY_FORM_HEX);
    x->nhwc = 1;
    return x->v;
  }
  if (!x->alt) {
    static const int64_t to_nhwc[4] = {0, 2, 3, 1};
    x->alt = dy_onnx_transpose(m, x->v, to_nhwc, dy_onnx_ir_name(m, x->name));
  }
  return x->alt;
}

const int dy_onnx_nchw_to_nhwc_axis[4] = {0, 3, 1, 2};

DyValue *dy_onnx_op1(Imp *m, DyOpKind k, DyValue *x, DyType t) {
  const char *name = dy_onnx_ir_name(m, m->node->output[0]);
  return dy_build_op(m->g, NULL, k, 1, &x, t, name);
}

DyValue *dy_onnx_f32_const(Imp *m, const char *base, int rank,
                           const int64_t *dims, const float *data) {
  DyType t = dy_type_make(DY_F32, rank, dims);
  return dy_build_const(m->g, NULL, base, t, data, DY_FORM_DENSE);
}
