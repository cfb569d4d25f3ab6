/* Geometry of the structured ops (include/dyad/shape.h): one home for
 * window lengths and the shapes of conv2d, pooling, matmul and
 * broadcasting. Messages are the verifier's: they name the op in quotes. */
#include "dyad/shape.h"

#include <stdio.h>
#include <string.h>

#define BAD(...) (dy_error(d, op->loc, __VA_ARGS__), 1)

void dy_format_dims(char *buf, size_t n, int rank, const int64_t *dims) {
  size_t k = (size_t)snprintf(buf, n, "[");
  for (int i = 0; i < rank && k < n; i++)
    k += (size_t)snprintf(buf + k, n - k, "%s%lld", i ? ", " : "",
                          (long long)dims[i]);
  if (k < n)
    snprintf(buf + k, n - k, "]");
}

int dy_axis_normalize(int64_t axis, int rank, int *out) {
  if (axis < -rank || axis >= rank)
    return 1;
  *out = (int)(axis < 0 ? axis + rank : axis);
  return 0;
}

DyWindowStatus dy_window_out(int64_t in, int64_t k, int64_t stride, int64_t dil,
                             int64_t pb, int64_t pe, int ceil_mode,
                             int64_t *out) {
  int64_t eff, front, padded, last;
  if (k < 1)
    return DY_WINDOW_EMPTY;
  /* eff = dil * (k - 1) + 1, the dilated window's extent */
  if (__builtin_mul_overflow(dil, k - 1, &eff) ||
      __builtin_add_overflow(eff, 1, &eff) ||
      __builtin_add_overflow(in, pb, &front) ||
      __builtin_add_overflow(front, pe, &padded))
    return DY_WINDOW_OVERFLOW;
  int64_t span = padded - eff;
  if (span < 0)
    return DY_WINDOW_EMPTY;
  int64_t o = span / stride + 1;
  if (ceil_mode && span % stride != 0)
    o++;
  /* ceil mode: the last window must start inside the input or its leading
   * pad (a start past INT64_MAX is past it too). Then every window starts
   * at (o - 1) * stride <= span or < front, and its indices stay below
   * padded: they fit. */
  if (ceil_mode &&
      (__builtin_mul_overflow(o - 1, stride, &last) || last >= front))
    o--;
  *out = o;
  return DY_WINDOW_OK;
}

int dy_conv_geom(const DyOp *op, DyConvGeom *g, DyDiag *d) {
  const DyType *x = &op->operands[0]->type, *w = &op->operands[1]->type;
  memset(g, 0, sizeof *g);
  if (x->rank != 4)
    return BAD("'conv2d' expects an NHWC input of rank 4, got rank %d",
               x->rank);
  if (w->rank != 4)
    return BAD("'conv2d' expects OHWI weights of rank 4, got rank %d", w->rank);
  static const int64_t ones[2] = {1, 1}, zeros[4] = {0, 0, 0, 0};
  if (dy_attr_read_ints(op, "strides", 2, ones, 1, g->strides, d) ||
      dy_attr_read_ints(op, "dilations", 2, ones, 1, g->dil, d) ||
      dy_attr_read_ints(op, "pads", 4, zeros, 0, g->pads, d) ||
      dy_attr_read_int(op, "groups", 1, 1, INT32_MAX, &g->groups, d))
    return 1;
  g->N = x->dims[0];
  g->H = x->dims[1];
  g->W = x->dims[2];
  g->C = x->dims[3];
  g->OC = w->dims[0];
  g->KH = w->dims[1];
  g->KW = w->dims[2];
  g->CG = w->dims[3];
  if (g->C % g->groups || g->OC % g->groups)
    return BAD("'conv2d' groups (%lld) must divide input channels (%lld) and "
               "output channels (%lld)",
               (long long)g->groups, (long long)g->C, (long long)g->OC);
  if (g->CG != g->C / g->groups)
    return BAD("'conv2d' weights have %lld input channels, expected %lld "
               "(input channels / groups)",
               (long long)g->CG, (long long)(g->C / g->groups));
  if (op->noperands == 3) {
    const DyType *b = &op->operands[2]->type;
    if (b->rank != 1 || b->dims[0] != g->OC)
      return BAD("'conv2d' bias must have shape [%lld]", (long long)g->OC);
  }
  int64_t *o[2] = {&g->OH, &g->OW};
  for (int i = 0; i < 2; i++) {
    if (w->dims[1 + i] < 1)
      return BAD("'conv2d' kernel has no %s", i ? "columns" : "rows");
    DyWindowStatus st =
        dy_window_out(x->dims[1 + i], w->dims[1 + i], g->strides[i], g->dil[i],
                      g->pads[i], g->pads[2 + i], 0, o[i]);
    if (st == DY_WINDOW_OVERFLOW)
      return BAD("'conv2d' dilated kernel or padding is too large");
    if (st == DY_WINDOW_EMPTY)
      return BAD("'conv2d' kernel extent is larger than the padded input");
  }
  return 0;
}

int dy_pool_geom(const DyOp *op, DyPoolGeom *g, DyDiag *d) {
  const DyType *x = &op->operands[0]->type;
  const char *name = dy_op_name(op->kind);
  memset(g, 0, sizeof *g);
  if (x->rank != 4)
    return BAD("'%s' expects an NHWC input of rank 4, got rank %d", name,
               x->rank);
  static const int64_t ones[2] = {1, 1}, zeros[4] = {0, 0, 0, 0};
  if (dy_attr_read_ints(op, "kernel", 2, NULL, 1, g->kernel, d) ||
      dy_attr_read_ints(op, "strides", 2, ones, 1, g->strides, d) ||
      dy_attr_read_ints(op, "dilations", 2, ones, 1, g->dil, d) ||
      dy_attr_read_ints(op, "pads", 4, zeros, 0, g->pads, d) ||
      dy_attr_read_int(op, "ceil_mode", 0, 0, 1, &g->ceil_mode, d) ||
      dy_attr_read_int(op, "count_include_pad", 0, 0, 1, &g->count_include_pad,
                       d))
    return 1;
  g->N = x->dims[0];
  g->H = x->dims[1];
  g->W = x->dims[2];
  g->C = x->dims[3];
  int64_t *o[2] = {&g->OH, &g->OW};
  for (int i = 0; i < 2; i++) {
    DyWindowStatus st =
        dy_window_out(x->dims[1 + i], g->kernel[i], g->strides[i], g->dil[i],
                      g->pads[i], g->pads[2 + i], (int)g->ceil_mode, o[i]);
    if (st == DY_WINDOW_OVERFLOW)
      return BAD("'%s' window or padding is too large", name);
    if (st == DY_WINDOW_EMPTY)
      return BAD("'%s' window (%lld) is larger than the padded input (%lld)",
                 name, (long long)(g->dil[i] * (g->kernel[i] - 1) + 1),
                 (long long)(x->dims[1 + i] + g->pads[i] + g->pads[2 + i]));
  }
  return 0;
}

/* ceil(a / b) for b > 0, without overflow. */
static int64_t ceil_div(int64_t a, int64_t b) {
  return a > 0 ? (a - 1) / b + 1 : -(-a / b);
}

/* axis 0 is rows, 1 columns of g's window. */
static void window_axis(const DyPoolGeom *g, int axis, int64_t o,
                        DyWindowAxis *w) {
  int64_t in = axis ? g->W : g->H, k = g->kernel[axis], dil = g->dil[axis];
  int64_t pe = g->pads[2 + axis];
  w->start = o * g->strides[axis] - g->pads[axis];
  /* 0 <= start + j * dil < in, and start + j * dil < in + pe */
  int64_t lo = ceil_div(-w->start, dil), hi = ceil_div(in - w->start, dil);
  int64_t padded = ceil_div(in + pe - w->start, dil);
  w->lo = lo < 0 ? 0 : lo > k ? k : lo;
  w->hi = hi < w->lo ? w->lo : hi > k ? k : hi;
  w->padded = padded < 0 ? 0 : padded > k ? k : padded;
}

void dy_pool_window(const DyPoolGeom *g, int64_t oh, int64_t ow,
                    DyPoolWindow *out) {
  window_axis(g, 0, oh, &out->h);
  window_axis(g, 1, ow, &out->w);
  out->cells = (out->h.hi - out->h.lo) * (out->w.hi - out->w.lo);
  out->padded = out->h.padded * out->w.padded;
}

int dy_matmul_geom(const DyOp *op, DyMatmulGeom *g, DyDiag *d) {
  const DyType *x = &op->operands[0]->type, *w = &op->operands[1]->type;
  memset(g, 0, sizeof *g);
  /* w is KxN, shared by every row of x, or batched [..., K, N] with one
   * KxN matrix per leading index of x */
  if (x->rank < 1 || w->rank < 2 || (w->rank > 2 && w->rank != x->rank))
    return BAD("'matmul' expects w of rank 2, or of x's rank for a batched "
               "product; got ranks %d and %d",
               x->rank, w->rank);
  g->batched = w->rank > 2;
  for (int i = 0; g->batched && i < w->rank - 2; i++)
    if (w->dims[i] != x->dims[i])
      return BAD("'matmul' batch dimension %d differs: %lld and %lld", i,
                 (long long)x->dims[i], (long long)w->dims[i]);
  g->K = w->dims[w->rank - 2];
  g->N = w->dims[w->rank - 1];
  if (x->dims[x->rank - 1] != g->K)
    return BAD("'matmul' reduction sizes differ: x has %lld, w has %lld",
               (long long)x->dims[x->rank - 1], (long long)g->K);
  if (op->noperands == 3) {
    const DyType *b = &op->operands[2]->type;
    if (b->rank != 1 || b->dims[0] != g->N)
      return BAD("'matmul' bias must have shape [%lld]", (long long)g->N);
  }
  /* the product of x's leading dimensions fits: x's element count does */
  g->M = 1;
  for (int i = 0; i < x->rank - 1; i++)
    g->M *= x->dims[i];
  g->rows = g->batched ? x->dims[x->rank - 2] : g->M;
  return 0;
}

int dy_bcast_geom(const DyOp *op, DyBcastGeom *g, DyDiag *d) {
  const DyType *a = &op->operands[0]->type, *b = &op->operands[1]->type;
  int r = a->rank > b->rank ? a->rank : b->rank;
  memset(g, 0, sizeof *g);
  g->rank = r;
  for (int i = 0; i < r; i++) {
    int ia = i - (r - a->rank), ib = i - (r - b->rank);
    g->da[i] = ia >= 0 ? a->dims[ia] : 1;
    g->db[i] = ib >= 0 ? b->dims[ib] : 1;
    if (g->da[i] != g->db[i] && g->da[i] != 1 && g->db[i] != 1)
      return BAD("'%s' operand shapes cannot be broadcast: dimension %d is "
                 "%lld and %lld",
                 dy_op_name(op->kind), i, (long long)g->da[i],
                 (long long)g->db[i]);
    g->dy[i] = g->da[i] == 1 ? g->db[i] : g->da[i];
  }
  return 0;
}

void dy_bcast_index(const DyBcastGeom *g, int64_t i, int64_t *ia, int64_t *ib) {
  int64_t c[DY_MAX_RANK];
  for (int k = g->rank - 1; k >= 0; k--) {
    c[k] = g->dy[k] ? i % g->dy[k] : 0;
    i = g->dy[k] ? i / g->dy[k] : 0;
  }
  *ia = 0;
  *ib = 0;
  for (int k = 0; k < g->rank; k++) {
    *ia = *ia * g->da[k] + (g->da[k] == 1 ? 0 : c[k]);
    *ib = *ib * g->db[k] + (g->db[k] == 1 ? 0 : c[k]);
  }
}
