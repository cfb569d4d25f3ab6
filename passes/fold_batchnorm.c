/* fold-batchnorm: folds y = (x - mean) / sqrt(var + eps) * scale + bias into
 * the conv2d or matmul that produces x.
 *
 * require: a verified graph. With a = scale / sqrt(var + eps), per output
 * channel c:  w'[c] = w[c] * a[c],  b'[c] = (b[c] - mean[c]) * a[c] + bias[c]
 * (b = 0 when the layer has no bias). Computed in double, stored as f32.
 * Applies when the layer's result feeds only the batchnorm and the weights,
 * layer bias and batchnorm parameters are all constants.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "dyad/pass.h"

static const float *const_f32(const DyValue *v) {
  if (!v->def || v->def->kind != DY_OP_CONST || v->type.elem != DY_F32 ||
      v->type.quant)
    return NULL;
  return v->def->data->data;
}

/* Folds batchnorm bn into layer; returns 1 if done, 0 if not applicable. */
static int fold(DyGraph *g, DyOp *bn) {
  DyValue *x = bn->operands[0];
  DyOp *layer = x->def;
  if (!layer || (layer->kind != DY_OP_CONV2D && layer->kind != DY_OP_MATMUL) ||
      dy_value_num_uses(g, x) != 1 || dy_value_is_output(g, x))
    return 0;
  const float *w = const_f32(layer->operands[1]);
  const float *b = layer->noperands == 3 ? const_f32(layer->operands[2]) : NULL;
  const float *p[4];
  for (int i = 0; i < 4; i++)
    if (!(p[i] = const_f32(bn->operands[1 + i])))
      return 0;
  if (!w || (layer->noperands == 3 && !b))
    return 0;
  const DyType *wt = &layer->operands[1]->type;
  int64_t nc = x->type.dims[x->type.rank - 1]; /* output channels */
  int64_t numel = dy_type_numel(wt);
  /* conv2d weights are OHWI: channel is the outermost index; matmul
   * weights are KxN: channel is the innermost. */
  int64_t inner = layer->kind == DY_OP_CONV2D ? numel / nc : 1;
  double eps = dy_op_float(bn, "epsilon", 1e-5);
  double *a = malloc((size_t)nc * sizeof *a);
  float *nw = malloc((size_t)numel * sizeof *nw);
  float *nb = malloc((size_t)nc * sizeof *nb);
  DY_ASSERT(a && nw && nb);
  for (int64_t c = 0; c < nc; c++) {
    a[c] = (double)p[0][c] / sqrt((double)p[3][c] + eps);
    double bias = b ? (double)b[c] : 0.0;
    nb[c] = (float)((bias - (double)p[2][c]) * a[c] + (double)p[1][c]);
  }
  for (int64_t i = 0; i < numel; i++) {
    int64_t c = layer->kind == DY_OP_CONV2D ? i / inner : i % nc;
    nw[i] = (float)((double)w[i] * a[c]);
  }
  /* New constants are written like the weights they replace. */
  DyDataForm form = layer->operands[1]->def->data->form;
  if (form == DY_FORM_EXTERNAL)
    form = DY_FORM_HEX;
  DyValue *wv =
      dy_build_const(g, layer, layer->operands[1]->name, *wt, nw, form);
  DyType bt = dy_type_make(DY_F32, 1, &nc);
  const char *bname =
      layer->noperands == 3 ? layer->operands[2]->name : bn->operands[2]->name;
  DyValue *bv = dy_build_const(g, layer, bname, bt, nb, form);
  wv->def->loc = bv->def->loc = bn->loc;
  DyValue *old[6] = {layer->operands[1], b ? layer->operands[2] : NULL,
                     bn->operands[1],    bn->operands[2],
                     bn->operands[3],    bn->operands[4]};
  DyValue *ops[3] = {layer->operands[0], wv, bv};
  layer->operands = dy_arena_memdup(g->arena, ops, sizeof ops);
  layer->noperands = 3;
  /* The layer's result takes over the batchnorm's name and uses. */
  DyValue *y = bn->results[0];
  dy_value_replace_all_uses(g, y, x);
  dy_graph_erase(g, bn);
  dy_graph_release_name(g, x->name);
  x->name = dy_graph_unique_name(g, y->name);
  /* Erase the constants that only this layer and batchnorm used; the new
   * ones take their names back when they are free. */
  const char *wname = old[0]->name;
  for (int i = 0; i < 6; i++)
    if (old[i] && dy_value_num_uses(g, old[i]) == 0) {
      int dup = 0;
      for (int k = 0; k < i; k++)
        dup |= old[k] == old[i];
      if (!dup)
        dy_graph_erase(g, old[i]->def);
    }
  dy_graph_release_name(g, wv->name);
  wv->name = dy_graph_unique_name(g, wname);
  dy_graph_release_name(g, bv->name);
  bv->name = dy_graph_unique_name(g, bname);
  free(a);
  free(nw);
  free(nb);
  return 1;
}

int dy_fold_batchnorm(DyGraph *g, DyDiag *d) {
  for (DyOp *op = g->first, *next; op; op = next) {
    next = op->next;
    if (op->kind == DY_OP_BATCHNORM)
      fold(g, op);
  }
  return 0;
}

static int run_pass(DyGraph *g, const DyPassContext *ctx) {
  return dy_fold_batchnorm(g, ctx->diag);
}

const DyPassDef dy_pass_fold_batchnorm = {
    "fold batchnorm into the preceding conv2d or matmul", run_pass, 0, NULL,
    NULL};
