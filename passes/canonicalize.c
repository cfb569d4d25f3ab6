/* canonicalize: removes identity ops, folds ops whose operands are all
 * constants, and erases dead code.
 *
 * require: a verified graph. Keeps: every graph output's value and type.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "dyad/interp.h"
#include "dyad/pass.h"

/* Constants larger than this are not created by folding: the graph would
 * carry the expanded data instead of the small subgraph that makes it. */
#define FOLD_MAX_BYTES ((size_t)64 << 20)

/* Whether a constant holds `want` in every f32 element. */
static int const_all_equal(const DyValue *v, float want) {
  if (!dy_value_is_const(v) || v->type.elem != DY_F32 || v->type.quant)
    return 0;
  const float *p = v->def->data->data;
  size_t n = v->def->data->nbytes / sizeof(float);
  for (size_t i = 0; i < n; i++)
    if (p[i] != want || !signbit(p[i]) != !signbit(want))
      return 0;
  return 1;
}

/* If op computes its first operand unchanged, returns that operand. */
static DyValue *identity_source(const DyOp *op) {
  DyValue *x = op->noperands ? op->operands[0] : NULL;
  const DyType *r = &op->results[0]->type;
  if (!x || !dy_type_equal(&x->type, r))
    return NULL;
  switch (op->kind) {
  case DY_OP_IDENTITY:
  case DY_OP_RESHAPE:
  case DY_OP_FLATTEN:
    return x;
  case DY_OP_CONCAT:
    return op->noperands == 1 ? x : NULL;
  case DY_OP_TRANSPOSE: {
    int64_t perm[DY_MAX_RANK];
    int n = dy_op_ints(op, "perm", perm, DY_MAX_RANK, NULL, 0);
    for (int i = 0; i < n; i++)
      if (perm[i] != i)
        return NULL;
    return x;
  }
  case DY_OP_PAD: {
    int64_t pads[2 * DY_MAX_RANK];
    int n = dy_op_ints(op, "pads", pads, 2 * DY_MAX_RANK, NULL, 0);
    for (int i = 0; i < n; i++)
      if (pads[i] != 0)
        return NULL;
    return x;
  }
  case DY_OP_CLIP:
    return dy_op_float(op, "min", -INFINITY) == -INFINITY &&
                   dy_op_float(op, "max", INFINITY) == INFINITY
               ? x
               : NULL;
  case DY_OP_ADD:
    /* x + 0 where the zero does not broadcast x to a larger shape; -0.0 is
     * the exact identity of IEEE addition, +0.0 turns -0 into +0. */
    return const_all_equal(op->operands[1], -0.0f) ? x : NULL;
  case DY_OP_MUL:
    return const_all_equal(op->operands[1], 1.0f) ? x : NULL;
  default:
    return NULL;
  }
}

/* A transpose that keeps the order of the non-unit dimensions moves no
 * data: it becomes a reshape. transpose(transpose(x)) composes into one
 * transpose of x. Returns 1 if op changed. */
static int simplify_transpose(DyGraph *g, DyOp *op) {
  if (op->kind != DY_OP_TRANSPOSE)
    return 0;
  int64_t perm[DY_MAX_RANK];
  const DyType *x = &op->operands[0]->type;
  int n = dy_op_ints(op, "perm", perm, DY_MAX_RANK, NULL, 0);
  if (n != x->rank)
    return 0;
  DyOp *in = op->operands[0]->def;
  if (in && in->kind == DY_OP_TRANSPOSE) {
    int64_t inner[DY_MAX_RANK], comp[DY_MAX_RANK];
    if (dy_op_ints(in, "perm", inner, DY_MAX_RANK, NULL, 0) != n)
      return 0;
    for (int i = 0; i < n; i++)
      comp[i] = inner[perm[i]]; /* y[i] = t[perm[i]] = x[inner[perm[i]]] */
    op->operands[0] = in->operands[0];
    dy_op_set_ints(g, op, "perm", n, comp);
    return 1;
  }
  int64_t last = -1;
  for (int i = 0; i < n; i++) {
    if (x->dims[perm[i]] == 1)
      continue;
    if (perm[i] < last)
      return 0;
    last = perm[i];
  }
  op->kind = DY_OP_RESHAPE;
  dy_op_remove_attr(op, "perm");
  return 1;
}

/* reshape(reshape(x)) and flatten feeding reshape: the inner op is
 * skipped, since only the element order (unchanged) and the final shape
 * matter. Returns 1 if the operand was rewired. */
static int skip_inner_reshape(DyOp *op) {
  if (op->kind != DY_OP_RESHAPE && op->kind != DY_OP_FLATTEN)
    return 0;
  DyValue *x = op->operands[0];
  if (!x->def ||
      (x->def->kind != DY_OP_RESHAPE && x->def->kind != DY_OP_FLATTEN))
    return 0;
  if (op->kind == DY_OP_FLATTEN)
    return 0; /* flatten's shape depends on its input's shape */
  op->operands[0] = x->def->operands[0];
  return 1;
}

/* Replaces op (a single-result op with constant operands) by a constant
 * holding its value. Returns 1 on success, 0 if not folded. */
static int fold_op(DyGraph *g, DyOp *op, DyDiag *d) {
  /* dequantize of a constant stays: it is how QDQ graphs hold quantized
   * weights, which fold-scales needs to see */
  if (op->kind == DY_OP_CONST || op->nresults != 1 ||
      op->kind == DY_OP_DEQUANTIZE)
    return 0;
  DyTensor in[64];
  if (op->noperands > 64)
    return 0;
  for (int i = 0; i < op->noperands; i++) {
    const DyValue *v = op->operands[i];
    if (!dy_value_is_const(v))
      return 0;
    in[i].type = v->type;
    in[i].data = v->def->data->data;
    in[i].nbytes = v->def->data->nbytes;
  }
  int ovf;
  size_t bytes = dy_type_nbytes(&op->results[0]->type, &ovf);
  if (ovf || bytes > FOLD_MAX_BYTES)
    return 0;
  DyTensor out;
  memset(&out, 0, sizeof out);
  if (dy_interp_eval_op(op, in, &out, d))
    return -1;
  DyValue *old = op->results[0];
  dy_graph_release_name(g, old->name);
  DyValue *c =
      dy_build_const(g, op, old->name, old->type, out.data, DY_FORM_DENSE);
  c->def->loc = op->loc;
  dy_tensor_free(&out);
  dy_value_replace_all_uses(g, old, c);
  /* The name now belongs to the constant: unlink op without releasing it. */
  old->name = "";
  dy_graph_erase(g, op);
  return 1;
}

int dy_canonicalize(DyGraph *g, DyDiag *d) {
  int changed = 1;
  while (changed) {
    changed = 0;
    for (DyOp *op = g->first, *next; op; op = next) {
      next = op->next;
      DyValue *src = identity_source(op);
      if (src && dy_value_is_output(g, op->results[0])) {
        /* Graph outputs keep their names (dyad run names files after
         * them): the source takes the name over when it is an op result
         * that is not itself an output; otherwise the op stays. */
        if (!src->def || dy_value_is_output(g, src))
          src = NULL;
        else {
          const char *name = op->results[0]->name;
          dy_graph_release_name(g, src->name);
          src->name = name;
          op->results[0]->name = "";
        }
      }
      if (src) {
        dy_value_replace_all_uses(g, op->results[0], src);
        changed = 1;
        continue; /* op is now dead */
      }
      if (skip_inner_reshape(op) || simplify_transpose(g, op))
        changed = 1;
      int f = fold_op(g, op, d);
      if (f < 0)
        return 1;
      changed |= f;
    }
    if (dy_graph_remove_dead_ops(g))
      changed = 1;
  }
  return 0;
}

static int run_pass(DyGraph *g, const DyPassContext *ctx) {
  return dy_canonicalize(g, ctx->diag);
}

const DyPassDef dy_pass_canonicalize = {
    "remove dead code and identity ops, fold constant subgraphs", run_pass, 0,
    NULL, NULL};
