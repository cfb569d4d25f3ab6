/* The interpreter's real domain: f32 and quantized tensors loaded into
 * double buffers (quantized ones dequantized first), the numeric kernels
 * (conv2d, matmul, add and mul, the elementwise ops, softmax, pools,
 * batchnorm) run there, and the result rounded once to f32 or quantized. */
#include <math.h>
#include <stdlib.h>

#include "real.h"

#define MAX_NUMERIC_OPERANDS 5 /* batchnorm's */

static int expect_rank(const DyOp *op, DyDiag *d, const char *what,
                       const DyType *t, int rank) {
  if (t->rank != rank)
    return dy_interp_fail(op, d, "%s must have rank %d, not %d", what, rank,
                          t->rank);
  return 0;
}

int dy_kernel_conv2d(const DyOp *op, double *const *in, double *out,
                     DyDiag *d) {
  DyConvGeom gm;
  if (dy_conv_geom(op, &gm, d))
    return 1;
  int64_t N = gm.N, H = gm.H, W = gm.W, C = gm.C, OC = gm.OC, KH = gm.KH,
          KW = gm.KW, CG = gm.CG, OH = gm.OH, OW = gm.OW, groups = gm.groups;
  const int64_t *strides = gm.strides, *dil = gm.dil, *pads = gm.pads;
  const DyType *tb = op->noperands > 2 ? &op->operands[2]->type : NULL;
  int64_t ocpg = OC / groups; /* output channels per group */
  const double *x = in[0], *w = in[1], *b = tb ? in[2] : NULL;
  for (int64_t n = 0; n < N; n++)
    for (int64_t oh = 0; oh < OH; oh++)
      for (int64_t ow = 0; ow < OW; ow++)
        for (int64_t oc = 0; oc < OC; oc++) {
          int64_t g = oc / ocpg;
          double acc = 0;
          for (int64_t kh = 0; kh < KH; kh++) {
            int64_t ih = oh * strides[0] - pads[0] + kh * dil[0];
            if (ih < 0 || ih >= H)
              continue;
            for (int64_t kw = 0; kw < KW; kw++) {
              int64_t iw = ow * strides[1] - pads[1] + kw * dil[1];
              if (iw < 0 || iw >= W)
                continue;
              for (int64_t ic = 0; ic < CG; ic++) {
                double xv = x[((n * H + ih) * W + iw) * C + g * CG + ic];
                double wv = w[((oc * KH + kh) * KW + kw) * CG + ic];
                acc += xv * wv;
              }
            }
          }
          if (b)
            acc += b[oc];
          out[((n * OH + oh) * OW + ow) * OC + oc] = acc;
        }
  return 0;
}

int dy_kernel_matmul(const DyOp *op, double *const *in, double *out,
                     DyDiag *d) {
  DyMatmulGeom gm;
  if (dy_matmul_geom(op, &gm, d))
    return 1;
  const DyType *tb = op->noperands > 2 ? &op->operands[2]->type : NULL;
  int64_t M = gm.M, K = gm.K, N = gm.N, rows = gm.rows;
  int batched = gm.batched;
  const double *x = in[0], *w = in[1], *b = tb ? in[2] : NULL;
  for (int64_t m = 0; m < M; m++) {
    const double *wm = batched ? w + (m / rows) * K * N : w;
    for (int64_t j = 0; j < N; j++) {
      double acc = 0;
      for (int64_t k = 0; k < K; k++)
        acc += x[m * K + k] * wm[k * N + j];
      if (b)
        acc += b[j];
      out[m * N + j] = acc;
    }
  }
  return 0;
}

/* add and mul with numpy broadcasting: shapes align at the last axis and
 * each pair of sizes is equal or contains a 1. */
int dy_kernel_binary(const DyOp *op, double *const *in, double *out,
                     DyDiag *d) {
  DyBcastGeom gm;
  if (dy_bcast_geom(op, &gm, d))
    return 1;
  int r = gm.rank;
  const int64_t *dy = gm.dy;
  int64_t n = dy_interp_dims_prod(dy, 0, r);
  for (int64_t i = 0; i < n; i++) {
    int64_t ia, ib;
    dy_bcast_index(&gm, i, &ia, &ib);
    double a = in[0][ia], b = in[1][ib];
    double v = op->kind == DY_OP_ADD ? a + b : a * b;
    out[i] = v;
  }
  return 0;
}

/* Elementwise ops whose result has the operand's shape. */
int dy_kernel_unary(const DyOp *op, double *const *in, double *out, DyDiag *d) {
  const DyType *tx = &op->operands[0]->type;
  if (dy_interp_expect_dims(op, d, tx->rank, tx->dims))
    return 1;
  double lo = -INFINITY, hi = INFINITY;
  if (op->kind == DY_OP_CLIP &&
      (dy_attr_read_float(op, "min", -INFINITY, &lo, d) ||
       dy_attr_read_float(op, "max", INFINITY, &hi, d)))
    return 1;
  int64_t n = dy_interp_numel(tx);
  for (int64_t i = 0; i < n; i++) {
    double x = in[0][i], y;
    switch (op->kind) {
    case DY_OP_RELU:
      y = x < 0 ? 0 : x; /* NaN stays NaN */
      break;
    case DY_OP_CLIP:
      y = x < lo ? lo : x; /* min(max(x, lo), hi) */
      y = y > hi ? hi : y;
      break;
    case DY_OP_HARDSWISH: {
      double t = x + 3;
      t = t < 0 ? 0 : t;
      t = t > 6 ? 6 : t;
      y = x * t / 6;
      break;
    }
    case DY_OP_SIGMOID:
      y = 1 / (1 + exp(-x));
      break;
    case DY_OP_TANH:
      y = tanh(x);
      break;
    default:
      return dy_interp_fail(op, d, "not an elementwise op");
    }
    out[i] = y;
  }
  return 0;
}

int dy_kernel_softmax(const DyOp *op, double *const *in, double *out,
                      DyDiag *d) {
  const DyType *tx = &op->operands[0]->type;
  int64_t axis_attr;
  int axis;
  if (dy_attr_read_int(op, "axis", -1, INT64_MIN, INT64_MAX, &axis_attr, d))
    return 1;
  if (dy_axis_normalize(axis_attr, tx->rank, &axis))
    return dy_interp_fail(op, d, "axis %lld is out of range for rank %d",
                          (long long)axis_attr, tx->rank);
  if (dy_interp_expect_dims(op, d, tx->rank, tx->dims))
    return 1;
  int64_t outer = dy_interp_dims_prod(tx->dims, 0, axis), len = tx->dims[axis];
  int64_t inner = dy_interp_dims_prod(tx->dims, axis + 1, tx->rank);
  for (int64_t o = 0; o < outer; o++)
    for (int64_t i = 0; i < inner; i++) {
      const double *x = in[0] + o * len * inner + i;
      double *y = out + o * len * inner + i;
      double max = -INFINITY, sum = 0;
      for (int64_t j = 0; j < len; j++)
        if (x[j * inner] > max || isnan(x[j * inner]))
          max = x[j * inner];
      for (int64_t j = 0; j < len; j++)
        sum += exp(x[j * inner] - max);
      for (int64_t j = 0; j < len; j++)
        y[j * inner] = exp(x[j * inner] - max) / sum;
    }
  return 0;
}

/* maxpool: the largest input cell of each window; padding never wins, a NaN
 * does (as in PyTorch). avgpool: the window's sum over its input cells
 * divided by the number of those cells, or with count_include_pad by the
 * number of cells inside the explicitly padded input; cells beyond the pads
 * (reached under ceil_mode) are never counted. */
int dy_kernel_pool(const DyOp *op, double *const *in, double *out, DyDiag *d) {
  DyPoolGeom p;
  if (dy_pool_geom(op, &p, d))
    return 1;
  const double *x = in[0];
  for (int64_t n = 0; n < p.N; n++)
    for (int64_t oh = 0; oh < p.OH; oh++)
      for (int64_t ow = 0; ow < p.OW; ow++) {
        DyPoolWindow win;
        dy_pool_window(&p, oh, ow, &win);
        const DyWindowAxis wh = win.h, ww = win.w;
        int64_t cells = win.cells, padded = win.padded;
        for (int64_t c = 0; c < p.C; c++) {
          double max = -INFINITY, sum = 0;
          for (int64_t kh = wh.lo; kh < wh.hi; kh++)
            for (int64_t kw = ww.lo; kw < ww.hi; kw++) {
              double v = x[((n * p.H + wh.start + kh * p.dil[0]) * p.W +
                            ww.start + kw * p.dil[1]) *
                               p.C +
                           c];
              if (!isnan(max) && (v > max || isnan(v)))
                max = v;
              sum += v;
            }
          if (cells == 0)
            return dy_interp_fail(op, d,
                                  "the window at output (%lld, %lld) covers no "
                                  "input cell",
                                  (long long)oh, (long long)ow);
          double y;
          if (op->kind == DY_OP_MAXPOOL) {
            y = max;
          } else {
            int64_t div = p.count_include_pad ? padded : cells;
            y = sum / (double)div;
          }
          out[((n * p.OH + oh) * p.OW + ow) * p.C + c] = y;
        }
      }
  return 0;
}

int dy_kernel_global_avgpool(const DyOp *op, double *const *in, double *out,
                             DyDiag *d) {
  const DyType *tx = &op->operands[0]->type;
  if (expect_rank(op, d, "input", tx, 4))
    return 1;
  int64_t N = tx->dims[0], H = tx->dims[1], W = tx->dims[2], C = tx->dims[3];
  int64_t ydims[4] = {N, 1, 1, C};
  if (dy_interp_expect_dims(op, d, 4, ydims))
    return 1;
  if (H * W == 0)
    return dy_interp_fail(op, d, "mean over an empty input");
  for (int64_t n = 0; n < N; n++)
    for (int64_t c = 0; c < C; c++) {
      double sum = 0;
      for (int64_t h = 0; h < H; h++)
        for (int64_t w = 0; w < W; w++)
          sum += in[0][((n * H + h) * W + w) * C + c];
      out[n * C + c] = sum / (double)(H * W);
    }
  return 0;
}

int dy_kernel_batchnorm(const DyOp *op, double *const *in, double *out,
                        DyDiag *d) {
  const DyType *tx = &op->operands[0]->type;
  if (tx->rank < 1)
    return dy_interp_fail(op, d, "input must have rank 1 or more");
  int64_t C = tx->dims[tx->rank - 1];
  static const char *const names[] = {"", "scale", "bias", "mean", "var"};
  for (int i = 1; i < 5; i++) {
    const DyType *t = &op->operands[i]->type;
    if (t->rank != 1 || t->dims[0] != C)
      return dy_interp_fail(op, d, "%s must have shape [%lld]", names[i],
                            (long long)C);
  }
  double eps;
  if (dy_attr_read_float(op, "epsilon", 1e-5, &eps, d) ||
      dy_interp_expect_dims(op, d, tx->rank, tx->dims))
    return 1;
  int64_t n = dy_interp_numel(tx);
  for (int64_t i = 0; i < n; i++) {
    int64_t c = i % C;
    out[i] = (in[0][i] - in[3][c]) / sqrt(in[4][c] + eps) * in[1][c] + in[2][c];
  }
  return 0;
}

/* Runs a numeric kernel: checks the domain, loads the operands as doubles,
 * runs it and stores the result. */
int dy_interp_eval_real(const DyOp *op, const DyTensor *operands, DyTensor *out,
                        DyDiag *d, Kernel kernel, int int_ok) {
  const DyType *ty = &op->results[0]->type;
  /* not an integer form: the real domain, with no integer operand */
  if (!dy_interp_is_real(ty) && !int_ok)
    return dy_interp_fail(op, d, "integer element type %s is not supported",
                          dy_elem_name(ty->elem));
  for (int i = 0; i < op->noperands; i++)
    if (dy_interp_is_real(&op->operands[i]->type) != dy_interp_is_real(ty))
      return dy_interp_fail(
          op, d, "mixed integer and real element types (%s, %s)",
          dy_elem_name(op->operands[i]->type.elem), dy_elem_name(ty->elem));
  if (!dy_interp_is_real(ty))
    return dy_interp_fail(op, d,
                          "integer element types do not form an integer %s",
                          dy_op_name(op->kind));
  double *bufs[MAX_NUMERIC_OPERANDS] = {0};
  double *y = NULL;
  int rc = 1;
  if (op->noperands > MAX_NUMERIC_OPERANDS) {
    dy_interp_fail(op, d, "too many operands");
    goto done;
  }
  for (int i = 0; i < op->noperands; i++) {
    const DyType *t = &op->operands[i]->type;
    QMap m;
    if (dy_interp_qmap_init(&m, t, op, d))
      goto done;
    int64_t n = dy_interp_numel(t);
    bufs[i] = malloc((size_t)(n ? n : 1) * sizeof(double));
    if (!bufs[i]) {
      dy_interp_fail(op, d, "out of memory");
      goto done;
    }
    for (int64_t j = 0; j < n; j++)
      bufs[i][j] = dy_interp_load_value(t, &m, operands[i].data, j);
  }
  int64_t ny = dy_interp_numel(ty);
  y = calloc((size_t)(ny ? ny : 1), sizeof(double));
  if (!y) {
    dy_interp_fail(op, d, "out of memory");
    goto done;
  }
  if (kernel(op, bufs, y, d))
    goto done;
  QMap my;
  if (dy_interp_qmap_init(&my, ty, op, d) || dy_tensor_alloc(&out[0], ty, d))
    goto done;
  for (int64_t j = 0; j < ny; j++)
    if (dy_interp_store_value(op, d, ty, &my, out[0].data, j, y[j])) {
      dy_tensor_free(&out[0]);
      goto done;
    }
  rc = 0;
done:
  for (int i = 0; i < MAX_NUMERIC_OPERANDS; i++)
    free(bufs[i]);
  free(y);
  return rc;
}
