/* The reference interpreter: every op of docs/ir.md as plain loops; this
 * file dispatches one op and runs a whole graph.
 *
 * This is the oracle the rest of dyad is tested against, so it is written
 * for obviousness, not speed. Ops fall into four groups:
 *
 *  - numeric ops (conv2d, matmul, add, relu, softmax, pools, ...) run in
 *    one of two domains chosen from the element types:
 *      integer: the integer forms of docs/ir.md, in lib/interp/int.c on
 *               stored integers in checked int64 arithmetic (results that
 *               do not fit their type are errors: an integer graph whose
 *               values do not fit is a compiler bug the oracle must
 *               report);
 *      real:    f32 and quantized tensors, in lib/interp/real.c: operands
 *               loaded into double buffers (quantized ones dequantized
 *               first, (q - zp) * scale in f32), computed there, and a
 *               quantized result quantized from the f32 value (half to
 *               even): fake-quant semantics for a graph whose tensors carry
 *               quant types.
 *    Mixing the two domains in one op is an error.
 *  - data movement (identity, reshape, flatten, transpose, concat, pad,
 *    lib/interp/move.c) copies stored elements; when operand and result
 *    types differ the elements are converted through their real (or
 *    integer) values.
 *  - quantize, dequantize, requant and lookup: the exact arithmetic of
 *    docs/ir.md and ../shared/REQUANT.md on stored integers (lookup on the
 *    integer path, the others in lib/interp/quant.c with lib/requant.c).
 *  - const copies its data.
 *
 * Float results are computed in double and rounded once to f32, which is
 * f32 arithmetic exactly for single operations (add, mul, ...) and at least
 * as accurate for reductions. Every error is reported at the op's location
 * and nothing reads or writes out of bounds, whatever the graph says.
 *
 * The files depend one way: lib/interp/tensor.c (tensors, diagnostics,
 * shapes) below everything; the integer path (int.c) on it alone (and on
 * lib/shape.c); the real domain (quant.c, real.c, move.c) on it (and on
 * lib/requant.c); and this runner on both paths.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "int.h"
#include "real.h"

static int eval_const(const DyOp *op, DyTensor *out, DyDiag *d) {
  const DyType *ty = &op->results[0]->type;
  if (!op->data || (op->data->nbytes && !op->data->data))
    return dy_interp_fail(op, d, "constant without data");
  if (dy_tensor_alloc(&out[0], ty, d))
    return 1;
  if (op->data->nbytes != out[0].nbytes) {
    dy_tensor_free(&out[0]);
    return dy_interp_fail(op, d, "constant holds %zu bytes, its type needs %zu",
                          op->data->nbytes, out[0].nbytes);
  }
  if (out[0].nbytes)
    memcpy(out[0].data, op->data->data, out[0].nbytes);
  return 0;
}

static int same_dims(const DyType *a, const DyType *b) {
  if (a->rank != b->rank)
    return 0;
  for (int k = 0; k < a->rank; k++)
    if (a->dims[k] != b->dims[k])
      return 0;
  return 1;
}

/* The kernels index by the geometry of lib/shape.c; the declared result
 * must have the shape that geometry gives (the verifier's inference). */
static int check_result_shape(const DyOp *op, DyDiag *d) {
  DyType t;
  if (dy_op_infer_type(op, &t, d))
    return 1;
  return dy_interp_expect_dims(op, d, t.rank, t.dims);
}

/* Runs a numeric op: its integer form on the integer path, else the real
 * domain's kernel (lib/interp/real.c). */
static int eval_numeric(const DyOp *op, const DyTensor *operands, DyTensor *out,
                        DyDiag *d, Kernel kernel, int int_ok) {
  if (check_result_shape(op, d))
    return 1;
  /* the integer forms run on the integer path (lib/interp/int.c); a clip
   * on plain integers keeps the integers within its bounds */
  int64_t clo = INT64_MIN, chi = INT64_MAX;
  if (op->kind == DY_OP_CLIP) {
    double lo, hi;
    if (dy_attr_read_float(op, "min", -INFINITY, &lo, d) ||
        dy_attr_read_float(op, "max", INFINITY, &hi, d))
      return 1;
    if (isnan(lo))
      lo = -INFINITY; /* comparisons with NaN never clip */
    if (isnan(hi))
      hi = INFINITY;
    clo = lo <= -9.2e18 ? INT64_MIN : (int64_t)ceil(lo);
    chi = hi >= 9.2e18 ? INT64_MAX : (int64_t)floor(hi);
  }
  int ir = dy_interp_int_eval(op, operands, out, clo, chi, d);
  if (ir >= 0)
    return ir;
  return dy_interp_eval_real(op, operands, out, d, kernel, int_ok);
}

/* --- one op --- */

int dy_interp_eval_op(const DyOp *op, const DyTensor *operands, DyTensor *out,
                      DyDiag *d) {
  int mino, maxo, nres;
  dy_op_arity(op->kind, &mino, &maxo, &nres);
  for (int i = 0; i < op->nresults; i++)
    memset(&out[i], 0, sizeof out[i]);
  if (op->noperands < mino || (maxo >= 0 && op->noperands > maxo) ||
      op->nresults != nres)
    return dy_interp_fail(op, d, "wrong number of operands or results");
  /* the tensors must hold what the op's types say, so that the kernels may
   * index by the types alone */
  for (int i = 0; i < op->noperands; i++) {
    const DyType *t = &op->operands[i]->type;
    int overflow;
    size_t need = dy_type_nbytes(t, &overflow);
    if ((size_t)t->elem >= DY_ELEM_COUNT || t->rank < 0 ||
        t->rank > DY_MAX_RANK || overflow || operands[i].nbytes != need ||
        (need && !operands[i].data)) {
      char buf[256];
      return dy_interp_fail(op, d, "operand %d holds %zu bytes, not a %s", i,
                            operands[i].nbytes,
                            dy_interp_type_str(t, buf, sizeof buf));
    }
  }
  const DyType *ty = &op->results[0]->type;
  if ((size_t)ty->elem >= DY_ELEM_COUNT || ty->rank < 0 ||
      ty->rank > DY_MAX_RANK || dy_type_numel(ty) < 0)
    return dy_interp_fail(op, d, "invalid result type");

  switch (op->kind) {
  case DY_OP_CONST:
    return eval_const(op, out, d);
  case DY_OP_IDENTITY:
  case DY_OP_RESHAPE:
    return dy_interp_eval_move(op, operands, out, d, dy_move_identity);
  case DY_OP_FLATTEN:
    return dy_interp_eval_move(op, operands, out, d, dy_move_flatten);
  case DY_OP_TRANSPOSE:
    return dy_interp_eval_move(op, operands, out, d, dy_move_transpose);
  case DY_OP_CONCAT:
    return dy_interp_eval_move(op, operands, out, d, dy_move_concat);
  case DY_OP_PAD:
    return dy_interp_eval_move(op, operands, out, d, dy_move_pad);
  case DY_OP_CONV2D:
    return eval_numeric(op, operands, out, d, dy_kernel_conv2d, 1);
  case DY_OP_MATMUL:
    return eval_numeric(op, operands, out, d, dy_kernel_matmul, 1);
  case DY_OP_ADD:
  case DY_OP_MUL:
    return eval_numeric(op, operands, out, d, dy_kernel_binary, 1);
  case DY_OP_RELU:
  case DY_OP_CLIP:
    return eval_numeric(op, operands, out, d, dy_kernel_unary, 1);
  case DY_OP_HARDSWISH:
  case DY_OP_SIGMOID:
  case DY_OP_TANH:
    return eval_numeric(op, operands, out, d, dy_kernel_unary, 0);
  case DY_OP_SOFTMAX:
    return eval_numeric(op, operands, out, d, dy_kernel_softmax, 0);
  case DY_OP_MAXPOOL:
  case DY_OP_AVGPOOL:
    return eval_numeric(op, operands, out, d, dy_kernel_pool, 1);
  case DY_OP_GLOBAL_AVGPOOL:
    return eval_numeric(op, operands, out, d, dy_kernel_global_avgpool, 1);
  case DY_OP_BATCHNORM:
    return eval_numeric(op, operands, out, d, dy_kernel_batchnorm, 0);
  case DY_OP_QUANTIZE:
    return dy_interp_eval_quantize(op, operands, out, d);
  case DY_OP_DEQUANTIZE:
    return dy_interp_eval_dequantize(op, operands, out, d);
  case DY_OP_REQUANT:
    return dy_interp_eval_requant(op, operands, out, d);
  case DY_OP_LOOKUP: {
    int r = dy_interp_int_eval(op, operands, out, 0, 0, d);
    return r < 0 ? dy_interp_fail(op, d, "not an integer lookup") : r;
  }
  case DY_OP_DYNAMIC_QUANTIZE:
    return dy_interp_eval_dynamic_quantize(op, operands, out, d);
  case DY_OP_COUNT:
    break;
  }
  return dy_interp_fail(op, d, "unknown op");
}

/* --- a whole graph --- */

/* The run-time state of one SSA value. */
typedef struct Slot {
  const DyValue *value;
  DyTensor t;    /* data NULL until computed, or after its last use */
  int owned;     /* t.data is ours to free (graph inputs are borrowed) */
  int last_use;  /* index of the last op reading it; -1 when none */
  int is_output; /* a graph output: kept to the end */
} Slot;

/* Values to slots: open addressing on the value's address. */
typedef struct Run {
  Slot *slots;
  int nslots;
  int *table; /* slot index + 1; 0 = empty */
  size_t mask;
} Run;

static size_t hash_ptr(const void *p) {
  uint64_t h = (uint64_t)(uintptr_t)p;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  return (size_t)h;
}

static int run_find(const Run *r, const DyValue *v) {
  for (size_t i = hash_ptr(v) & r->mask;; i = (i + 1) & r->mask) {
    int s = r->table[i];
    if (s == 0)
      return -1;
    if (r->slots[s - 1].value == v)
      return s - 1;
  }
}

/* Adds a slot for v; returns its index, or -1 if v already has one. */
static int run_add(Run *r, const DyValue *v) {
  size_t i = hash_ptr(v) & r->mask;
  for (; r->table[i]; i = (i + 1) & r->mask)
    if (r->slots[r->table[i] - 1].value == v)
      return -1;
  Slot *s = &r->slots[r->nslots];
  memset(s, 0, sizeof *s);
  s->value = v;
  s->last_use = -1;
  r->table[i] = ++r->nslots;
  return r->nslots - 1;
}

static void run_free(Run *r) {
  for (int i = 0; i < r->nslots; i++)
    if (r->slots[i].owned)
      dy_tensor_free(&r->slots[i].t);
  free(r->slots);
  free(r->table);
}

/* Checks that an input tensor has the graph input's element type and
 * shape (its quantization parameters come from the graph). */
static int check_input(const DyGraph *g, int i, const DyTensor *x, DyDiag *d) {
  const DyType *want = &g->inputs[i]->type;
  int overflow;
  size_t need = dy_type_nbytes(want, &overflow);
  if (x->type.elem == want->elem && same_dims(&x->type, want) && !overflow &&
      x->nbytes == need && (need == 0 || x->data))
    return 0;
  char a[256], b[256];
  DyType got = x->type;
  got.quant = NULL;
  if ((size_t)got.elem >= DY_ELEM_COUNT || got.rank < 0 ||
      got.rank > DY_MAX_RANK)
    snprintf(b, sizeof b, "an invalid tensor");
  else
    dy_interp_type_str(&got, b, sizeof b);
  if (x->type.elem == want->elem && same_dims(&x->type, want))
    snprintf(b + strlen(b), sizeof b - strlen(b), " holding %zu bytes",
             x->nbytes);
  dy_error(d, g->loc, "input '%s': expected %s, got %s", g->inputs[i]->name,
           dy_interp_type_str(want, a, sizeof a), b);
  return 1;
}

int dy_interp_run(const DyGraph *g, const DyTensor *inputs, DyTensor *outputs,
                  DyDiag *d) {
  return dy_interp_run_observed(g, inputs, outputs, NULL, NULL, d);
}

int dy_interp_run_observed(const DyGraph *g, const DyTensor *inputs,
                           DyTensor *outputs, DyObserveFn observe, void *user,
                           DyDiag *d) {
  for (int i = 0; i < g->noutputs; i++)
    memset(&outputs[i], 0, sizeof outputs[i]);
  int bad = 0;
  for (int i = 0; i < g->ninputs; i++)
    bad |= check_input(g, i, &inputs[i], d);
  if (bad)
    return 1;

  /* number the values: graph inputs, then op results in order */
  int64_t nvalues = g->ninputs, nops = 0;
  int maxopnds = 1, maxres = 1;
  for (const DyOp *op = g->first; op; op = op->next) {
    nvalues += op->nresults;
    nops++;
    maxopnds = op->noperands > maxopnds ? op->noperands : maxopnds;
    maxres = op->nresults > maxres ? op->nresults : maxres;
  }
  if (nvalues > INT32_MAX / 4 || nops > INT32_MAX) {
    dy_error(d, g->loc, "graph too large to interpret");
    return 1;
  }
  Run r = {0};
  size_t cap = 16;
  while (cap < 2 * (size_t)nvalues)
    cap *= 2;
  r.slots = malloc((size_t)(nvalues ? nvalues : 1) * sizeof *r.slots);
  r.table = calloc(cap, sizeof *r.table);
  r.mask = cap - 1;
  DyTensor *opnds = malloc((size_t)maxopnds * sizeof *opnds);
  DyTensor *res = malloc((size_t)maxres * sizeof *res);
  int rc = 1, nout_done = 0;
  if (!r.slots || !r.table || !opnds || !res) {
    dy_error(d, g->loc, "out of memory");
    goto done;
  }

  for (int i = 0; i < g->ninputs; i++) {
    int s = run_add(&r, g->inputs[i]);
    if (s < 0) {
      dy_error(d, g->loc, "input '%s' is listed twice", g->inputs[i]->name);
      goto done;
    }
    r.slots[s].t = inputs[i];
    r.slots[s].t.type = g->inputs[i]->type;
    if (observe && observe(user, g->inputs[i], &r.slots[s].t))
      goto done;
  }
  int k = 0;
  for (const DyOp *op = g->first; op; op = op->next, k++) {
    for (int j = 0; j < op->noperands; j++) {
      int s = run_find(&r, op->operands[j]);
      if (s < 0) {
        dy_error(d, op->loc, "%s: operand '%s' is used before its definition",
                 dy_op_name(op->kind), op->operands[j]->name);
        goto done;
      }
      r.slots[s].last_use = k;
    }
    for (int j = 0; j < op->nresults; j++)
      if (run_add(&r, op->results[j]) < 0) {
        dy_error(d, op->loc, "%s: value '%s' is defined twice",
                 dy_op_name(op->kind), op->results[j]->name);
        goto done;
      }
  }
  for (int i = 0; i < g->noutputs; i++) {
    int s = run_find(&r, g->outputs[i]);
    if (s < 0) {
      dy_error(d, g->loc, "output '%s' is not defined", g->outputs[i]->name);
      goto done;
    }
    r.slots[s].is_output = 1;
  }

  k = 0;
  for (const DyOp *op = g->first; op; op = op->next, k++) {
    for (int j = 0; j < op->noperands; j++)
      opnds[j] = r.slots[run_find(&r, op->operands[j])].t;
    if (dy_interp_eval_op(op, opnds, res, d))
      goto done;
    for (int j = 0; j < op->nresults; j++) {
      Slot *s = &r.slots[run_find(&r, op->results[j])];
      s->t = res[j];
      s->owned = 1;
      if (observe && observe(user, op->results[j], &s->t)) {
        for (int m = j + 1; m < op->nresults; m++)
          dy_tensor_free(&res[m]);
        goto done;
      }
      if (s->last_use < 0 && !s->is_output) {
        dy_tensor_free(&s->t);
        s->owned = 0;
      }
    }
    /* free what no later op reads */
    for (int j = 0; j < op->noperands; j++) {
      Slot *s = &r.slots[run_find(&r, op->operands[j])];
      if (s->last_use == k && s->owned && !s->is_output) {
        dy_tensor_free(&s->t);
        s->owned = 0;
      }
    }
  }

  /* hand the outputs over; a value returned twice, or a graph input
   * returned as is, is copied */
  for (; nout_done < g->noutputs; nout_done++) {
    Slot *s = &r.slots[run_find(&r, g->outputs[nout_done])];
    DyTensor *o = &outputs[nout_done];
    if (s->owned) {
      *o = s->t; /* moved: s->t.data stays readable for a second copy */
      s->owned = 0;
    } else {
      if (dy_tensor_alloc(o, &s->value->type, d))
        goto done;
      if (o->nbytes)
        memcpy(o->data, s->t.data, o->nbytes);
    }
    o->type = s->value->type;
  }
  rc = 0;
done:
  if (rc)
    for (int i = 0; i < nout_done; i++)
      dy_tensor_free(&outputs[i]);
  run_free(&r);
  free(opnds);
  free(res);
  return rc;
}
