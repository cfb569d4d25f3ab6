/* The verifier: types, shapes, operand counts and attribute ranges of every
 * op, and the SSA order of the graph; graph, argument and result attributes.
 * Result type inference is infer.c, the integer forms and IR levels
 * verify_int.c. */
#include "dyad/ir.h"
#include "dyad/requant.h"
#include "dyad/shape.h"
#include "dyad/text.h"
#include "verify_internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Formats a type into buf as the printer writes it. */
static const char *type_str(const DyType *t, char *buf, size_t n) {
  FILE *f = fmemopen(buf, n, "w");
  if (!f)
    return "?";
  dy_print_type(f, t);
  fclose(f);
  buf[n - 1] = 0;
  return buf;
}

/* --- attribute schema --- */

/* Attributes each op accepts; anything else is reported (typos). */
static const char *const *known_attrs(DyOpKind k) {
  static const char *const none[] = {NULL};
  static const char *const conv[] = {"strides", "dilations", "pads",
                                     "groups",  "input_zp",  NULL};
  static const char *const matmul[] = {"input_zp", NULL};
  static const char *const clip[] = {"min", "max", NULL};
  static const char *const axis[] = {"axis", NULL};
  static const char *const softmax[] = {"axis", "shift", "output_zp", NULL};
  static const char *const maxpool[] = {"kernel",    "strides",   "pads",
                                        "dilations", "ceil_mode", NULL};
  static const char *const avgpool[] = {
      "kernel", "strides", "pads", "ceil_mode", "count_include_pad", NULL};
  static const char *const pad[] = {"pads", "mode", "value", NULL};
  static const char *const perm[] = {"perm", NULL};
  static const char *const bn[] = {"epsilon", NULL};
  static const char *const quant[] = {"rounding", NULL};
  static const char *const requant[] = {"multiplier", "shift",     "axis",
                                        "input_zp",   "output_zp", "rounding",
                                        "clamp",      "scale",     NULL};
  switch (k) {
  case DY_OP_CONV2D:
    return conv;
  case DY_OP_MATMUL:
    return matmul;
  case DY_OP_CLIP:
    return clip;
  case DY_OP_SOFTMAX:
    return softmax;
  case DY_OP_FLATTEN:
  case DY_OP_CONCAT:
    return axis;
  case DY_OP_MAXPOOL:
    return maxpool;
  case DY_OP_AVGPOOL:
    return avgpool;
  case DY_OP_PAD:
    return pad;
  case DY_OP_TRANSPOSE:
    return perm;
  case DY_OP_BATCHNORM:
    return bn;
  case DY_OP_QUANTIZE:
    return quant;
  case DY_OP_REQUANT:
    return requant;
  default:
    return none;
  }
}

/* --- per-op checks beyond shapes --- */

static int is_float_tensor(const DyType *t) {
  return t->elem == DY_F32 && !t->quant;
}

static int is_plain_int(const DyType *t) {
  return t->elem != DY_F32 && !t->quant;
}

static int check_elem_types(const DyOp *op, DyDiag *d) {
  const DyType *r = &op->results[0]->type;
  const DyType *x = op->noperands ? &op->operands[0]->type : NULL;
  char b1[256];
  if ((op->kind == DY_OP_CONV2D || op->kind == DY_OP_MATMUL) &&
      r->elem != DY_F32)
    return dy_verify_integer_layer(op, d);
  if (op->kind == DY_OP_SOFTMAX && op->noperands == 2)
    return dy_verify_integer_softmax(op, d);
  if ((op->kind == DY_OP_CONV2D || op->kind == DY_OP_MATMUL) &&
      dy_op_attr(op, "input_zp"))
    return BAD("'input_zp' is for the integer form of '%s'",
               dy_op_name(op->kind));
  if ((op->kind == DY_OP_ADD || op->kind == DY_OP_MUL ||
       op->kind == DY_OP_AVGPOOL || op->kind == DY_OP_GLOBAL_AVGPOOL) &&
      is_plain_int(r)) {
    /* integer form: plain integers in and out, computed exactly */
    for (int i = 0; i < op->noperands; i++)
      if (!is_plain_int(&op->operands[i]->type))
        return BAD("integer '%s' operand %d must be a plain integer, got %s",
                   dy_op_name(op->kind), i,
                   type_str(&op->operands[i]->type, b1, sizeof b1));
    return 0;
  }
  if (op->kind == DY_OP_SOFTMAX &&
      (dy_op_attr(op, "shift") || dy_op_attr(op, "output_zp")))
    return BAD("'softmax' attributes 'shift' and 'output_zp' are for its "
               "integer form (with a table operand)");
  switch (op->kind) {
  case DY_OP_CONV2D:
  case DY_OP_MATMUL:
  case DY_OP_ADD:
  case DY_OP_MUL:
  case DY_OP_RELU:
  case DY_OP_CLIP:
  case DY_OP_HARDSWISH:
  case DY_OP_SIGMOID:
  case DY_OP_TANH:
  case DY_OP_SOFTMAX:
  case DY_OP_AVGPOOL:
  case DY_OP_GLOBAL_AVGPOOL:
  case DY_OP_BATCHNORM:
    for (int i = 0; i < op->noperands; i++)
      if (!is_float_tensor(&op->operands[i]->type))
        return BAD("'%s' operand %d must be f32, got %s", dy_op_name(op->kind),
                   i, type_str(&op->operands[i]->type, b1, sizeof b1));
    if (!is_float_tensor(r))
      return BAD("'%s' result must be f32", dy_op_name(op->kind));
    return 0;
  case DY_OP_IDENTITY:
  case DY_OP_MAXPOOL:
  case DY_OP_PAD:
  case DY_OP_RESHAPE:
  case DY_OP_FLATTEN:
  case DY_OP_TRANSPOSE:
  case DY_OP_CONCAT:
    if (r->elem != x->elem || !dy_quant_equal(r->quant, x->quant))
      return BAD("'%s' result element type must equal the operand's",
                 dy_op_name(op->kind));
    return 0;
  case DY_OP_QUANTIZE:
    if (!is_float_tensor(x))
      return BAD("'quantize' operand must be f32");
    if (!r->quant)
      return BAD("'quantize' result must have a quantized element type");
    return 0;
  case DY_OP_DEQUANTIZE:
    if (op->noperands > 1) {
      const DyType *sc = &op->operands[1]->type;
      if (x->quant || x->elem == DY_F32)
        return BAD("'dequantize' with run-time parameters takes a plain "
                   "integer operand");
      if (!is_float_tensor(sc) || sc->rank != 0)
        return BAD("'dequantize' scale must be tensor<f32>");
      if (op->noperands == 3 &&
          (op->operands[2]->type.elem != x->elem ||
           op->operands[2]->type.quant || op->operands[2]->type.rank != 0))
        return BAD("'dequantize' zero point must be a rank-0 tensor of the "
                   "operand's element type");
      if (!is_float_tensor(r))
        return BAD("'dequantize' result must be f32");
      return 0;
    }
    if (!x->quant)
      return BAD("'dequantize' operand must have a quantized element type");
    if (!is_float_tensor(r))
      return BAD("'dequantize' result must be f32");
    return 0;
  case DY_OP_REQUANT:
    if (x->elem == DY_F32 || r->elem == DY_F32)
      return BAD("'requant' takes and gives integer tensors");
    return 0;
  case DY_OP_DYNAMIC_QUANTIZE: {
    const DyType *sc = &op->results[1]->type, *zp = &op->results[2]->type;
    if (!is_float_tensor(x))
      return BAD("'dynamic_quantize' operand must be f32");
    if (r->elem != DY_U8 || r->quant)
      return BAD("'dynamic_quantize' result 0 must be plain u8");
    if (sc->elem != DY_F32 || sc->quant || sc->rank != 0 || zp->elem != DY_U8 ||
        zp->quant || zp->rank != 0)
      return BAD("'dynamic_quantize' results 1 and 2 must be tensor<f32> "
                 "and tensor<u8> (the scale and zero point)");
    return 0;
  }
  case DY_OP_LOOKUP: {
    const DyType *tab = &op->operands[1]->type;
    if (x->elem != DY_I8 && x->elem != DY_U8 && x->elem != DY_I16)
      return BAD("'lookup' index must be i8, u8 or i16");
    int64_t tlen = x->elem == DY_I16 ? 65536 : 256;
    if (tab->rank != 1 || tab->dims[0] != tlen)
      return BAD("'lookup' table must have shape [%lld]", (long long)tlen);
    if (r->elem != tab->elem)
      return BAD("'lookup' result element type must equal the table's");
    return 0;
  }
  case DY_OP_CONST:
  case DY_OP_COUNT:
    return 0;
  }
  return 0;
}

/* The calibrated range of a value: `range = [lo, hi]`, finite, lo <= hi.
 * Allowed on every op and graph argument (the calibrate pass writes it). */
static int check_range_attr(const DyAttr *a, DyDiag *d, DyLoc at) {
  double lo = 0, hi = 0;
  int ok = (a->kind == DY_ATTR_FLOATS || a->kind == DY_ATTR_INTS) && a->n == 2;
  if (ok) {
    lo = a->kind == DY_ATTR_FLOATS ? a->floats[0] : (double)a->ints[0];
    hi = a->kind == DY_ATTR_FLOATS ? a->floats[1] : (double)a->ints[1];
    ok = isfinite(lo) && isfinite(hi) && lo <= hi;
  }
  if (!ok) {
    dy_error(d, a->loc.line ? a->loc : at,
             "'range' must be [lo, hi] with finite lo <= hi");
    return 1;
  }
  return 0;
}

static int check_attrs(const DyOp *op, DyDiag *d) {
  const char *const *known = known_attrs(op->kind);
  for (int i = 0; i < op->nattrs; i++) {
    int ok = 0;
    if (strcmp(op->attrs[i].name, "range") == 0) {
      if (check_range_attr(&op->attrs[i], d, op->loc))
        return 1;
      continue;
    }
    /* `impl`: the kernel lower-target chose (docs/codegen.md) */
    if (strcmp(op->attrs[i].name, "impl") == 0) {
      if (op->attrs[i].kind != DY_ATTR_STR) {
        dy_error(d, op->attrs[i].loc.line ? op->attrs[i].loc : op->loc,
                 "'impl' of '%s' must be a string", dy_op_name(op->kind));
        return 1;
      }
      continue;
    }
    /* a dot kernel's `packed` weights (a const's name) and `scratch`
     * ([offset, bytes] of the workspace) */
    if ((op->kind == DY_OP_CONV2D || op->kind == DY_OP_MATMUL) &&
        strcmp(op->attrs[i].name, "packed_bits") == 0) {
      const DyAttr *a = &op->attrs[i];
      if (a->kind != DY_ATTR_INT || (a->i != 4 && a->i != 8)) {
        dy_error(d, a->loc.line ? a->loc : op->loc,
                 "'packed_bits' of '%s' must be 4 or 8", dy_op_name(op->kind));
        return 1;
      }
      continue;
    }
    if ((op->kind == DY_OP_CONV2D || op->kind == DY_OP_MATMUL) &&
        (strcmp(op->attrs[i].name, "packed") == 0 ||
         strcmp(op->attrs[i].name, "scratch") == 0)) {
      const DyAttr *a = &op->attrs[i];
      int is_packed = a->name[0] == 'p';
      if (is_packed ? a->kind != DY_ATTR_STR
                    : a->kind != DY_ATTR_INTS || a->n != 2 || a->ints[0] < 0 ||
                          a->ints[1] < 0) {
        dy_error(d, a->loc.line ? a->loc : op->loc,
                 is_packed ? "'packed' of '%s' must be a string (a constant's "
                             "name)"
                           : "'scratch' of '%s' must be [offset, bytes], "
                             "both non-negative",
                 dy_op_name(op->kind));
        return 1;
      }
      continue;
    }
    for (int k = 0; known[k]; k++)
      ok |= strcmp(known[k], op->attrs[i].name) == 0;
    if (!ok) {
      dy_error(d, op->attrs[i].loc.line ? op->attrs[i].loc : op->loc,
               "unknown attribute '%s' for '%s'", op->attrs[i].name,
               dy_op_name(op->kind));
      return 1;
    }
  }
  double lo, hi;
  const char *str;
  static const char *const pad_modes[] = {"constant", "reflect", "edge", NULL};
  static const char *const qround[] = {"half_even", "half_away", NULL};
  switch (op->kind) {
  case DY_OP_CLIP:
    if (dy_attr_read_float(op, "min", -INFINITY, &lo, d) ||
        dy_attr_read_float(op, "max", INFINITY, &hi, d))
      return 1;
    if (lo > hi)
      return BAD("'clip' min (%g) is greater than max (%g)", lo, hi);
    return 0;
  case DY_OP_PAD:
    return dy_attr_read_enum(op, "mode", pad_modes, "constant", &str, d) ||
           dy_attr_read_float(op, "value", 0, &lo, d);
  case DY_OP_BATCHNORM:
    if (dy_attr_read_float(op, "epsilon", 1e-5, &lo, d))
      return 1;
    if (!(lo >= 0) || isinf(lo))
      return BAD("'batchnorm' epsilon must be finite and >= 0");
    return 0;
  case DY_OP_QUANTIZE:
    return dy_attr_read_enum(op, "rounding", qround, "half_even", &str, d);
  case DY_OP_REQUANT: {
    DyRequantParams rp;
    return dy_requant_get(op, &rp, d);
  }
  default:
    return 0;
  }
}

static int check_type(const DyType *t, DyDiag *d, DyLoc loc, const char *what) {
  if (t->rank < 0 || t->rank > DY_MAX_RANK) {
    dy_error(d, loc, "%s has rank %d, the maximum is %d", what, t->rank,
             DY_MAX_RANK);
    return 1;
  }
  for (int i = 0; i < t->rank; i++)
    if (t->dims[i] < 0) {
      dy_error(d, loc, "%s has a negative dimension", what);
      return 1;
    }
  if (dy_type_numel(t) < 0) {
    dy_error(d, loc, "%s has too many elements", what);
    return 1;
  }
  const DyQuant *q = t->quant;
  if (!q)
    return 0;
  if (q->storage != t->elem || q->storage == DY_F32) {
    dy_error(d, loc,
             "%s: quantized storage type must be its integer element "
             "type",
             what);
    return 1;
  }
  int64_t expect = 1;
  if (q->kind == DY_QUANT_PER_AXIS) {
    if (q->axis < 0 || q->axis >= t->rank) {
      dy_error(d, loc, "%s: quantized axis %d out of range", what, q->axis);
      return 1;
    }
    expect = t->dims[q->axis];
  } else if (q->kind == DY_QUANT_BLOCKED) {
    int64_t shape[DY_MAX_RANK];
    for (int i = 0; i < t->rank; i++)
      if (q->block[i] < 0 || (q->block[i] && t->dims[i] % q->block[i])) {
        dy_error(d, loc, "%s: block size %lld does not divide dimension %d",
                 what, (long long)q->block[i], i);
        return 1;
      }
    dy_quant_block_shape(q, t, shape);
    for (int i = 0; i < t->rank; i++)
      expect *= shape[i];
  }
  if (q->nparams != expect) {
    dy_error(d, loc, "%s has %lld quantization parameters, expected %lld", what,
             (long long)q->nparams, (long long)expect);
    return 1;
  }
  int64_t lo, hi;
  dy_elem_range(q->storage, &lo, &hi);
  for (int64_t i = 0; i < q->nparams; i++) {
    if (!(q->scales[i] > 0) || isinf(q->scales[i])) {
      dy_error(d, loc, "%s: scale %g must be positive and finite", what,
               q->scales[i]);
      return 1;
    }
    if (q->zero_points[i] < lo || q->zero_points[i] > hi) {
      dy_error(d, loc, "%s: zero point %lld out of range for %s", what,
               (long long)q->zero_points[i], dy_elem_name(q->storage));
      return 1;
    }
  }
  return 0;
}

static int verify_op(const DyOp *op, DyDiag *d) {
  int mino, maxo, nr;
  dy_op_arity(op->kind, &mino, &maxo, &nr);
  const char *name = dy_op_name(op->kind);
  if (op->nresults != nr)
    return BAD("'%s' must have %d result%s, got %d", name, nr,
               nr == 1 ? "" : "s", op->nresults);
  if (op->noperands < mino || (maxo >= 0 && op->noperands > maxo)) {
    if (maxo < 0)
      return BAD("'%s' takes at least %d operand%s, got %d", name, mino,
                 mino == 1 ? "" : "s", op->noperands);
    if (mino == maxo)
      return BAD("'%s' takes %d operand%s, got %d", name, mino,
                 mino == 1 ? "" : "s", op->noperands);
    return BAD("'%s' takes %d to %d operands, got %d", name, mino, maxo,
               op->noperands);
  }
  for (int i = 0; i < op->nresults; i++)
    if (check_type(&op->results[i]->type, d, op->loc, "result type"))
      return 1;
  if (op->kind == DY_OP_CONST) {
    int ovf;
    size_t n = dy_type_nbytes(&op->results[0]->type, &ovf);
    if (!op->data || ovf || op->data->nbytes != n)
      return BAD("'const' data does not match its type");
    if (op->nattrs) {
      dy_error(d, op->attrs[0].loc.line ? op->attrs[0].loc : op->loc,
               "unknown attribute '%s' for 'const'", op->attrs[0].name);
      return 1;
    }
    return 0;
  }
  if (check_attrs(op, d) || check_elem_types(op, d))
    return 1;
  DyType t;
  if (dy_op_infer_type(op, &t, d))
    return 1;
  const DyType *r = &op->results[0]->type;
  if (op->kind == DY_OP_RESHAPE &&
      dy_type_numel(r) != dy_type_numel(&op->operands[0]->type))
    return BAD("'reshape' changes the number of elements from %lld to %lld",
               (long long)dy_type_numel(&op->operands[0]->type),
               (long long)dy_type_numel(r));
  if (!dy_shape_equal(&t, r)) {
    char b1[256], b2[256];
    return BAD("'%s' result type %s does not match the inferred %s", name,
               type_str(r, b1, sizeof b1), type_str(&t, b2, sizeof b2));
  }
  return 0;
}

static DyLoc attr_loc(const DyAttr *a, DyLoc dflt) {
  return a->loc.line ? a->loc : dflt;
}

/* A result's attributes: `offset`, its byte offset in the workspace (a
 * memory plan's), is the only one so far. */
static void check_result_attrs(const DyOp *op, const DyValue *v, DyDiag *d) {
  for (int k = 0; k < v->nattrs; k++) {
    const DyAttr *a = &v->attrs[k];
    if (strcmp(a->name, "offset") != 0)
      dy_error(d, attr_loc(a, op->loc), "unknown attribute '%s' for '%%%s'",
               a->name, v->name);
    else if (a->kind != DY_ATTR_INT || a->i < 0)
      dy_error(d, attr_loc(a, op->loc),
               "'offset' of '%%%s' must be a non-negative integer", v->name);
  }
}

/* The graph's attributes: `level` (its IR level, which its contents must
 * be at), `target` (a target name), `workspace` (bytes). The level check
 * runs only on an otherwise valid graph. */
static void check_graph_attrs(const DyGraph *g, DyDiag *d) {
  for (int k = 0; k < g->nattrs; k++) {
    const DyAttr *a = &g->attrs[k];
    DyLoc loc = attr_loc(a, g->loc);
    if (strcmp(a->name, "level") == 0) {
      DyIRLevel want =
          a->kind == DY_ATTR_STR ? dy_level_from_name(a->s) : (DyIRLevel)0;
      if (!want) {
        dy_error(d, loc,
                 "graph 'level' must be \"float\", \"qdq\", \"integer\" or "
                 "\"kernel\"");
        continue;
      }
      DyIRLevel have = dy_graph_level(g);
      if (want == DY_LEVEL_FLOAT && have != DY_LEVEL_FLOAT)
        dy_error(d, loc,
                 "graph declares level \"float\" but holds quantized or "
                 "integer values");
      else if (want == DY_LEVEL_KERNEL) {
        if (!dy_graph_attr(g, "target") || !dy_graph_attr(g, "workspace"))
          dy_error(d, loc,
                   "graph declares level \"kernel\" without a 'target' and "
                   "a 'workspace'");
      } else if (want == DY_LEVEL_INTEGER && have != DY_LEVEL_INTEGER) {
        dy_error(d, loc,
                 "graph declares level \"%s\" but is not integer-only:", a->s);
        dy_verify_integer_only(g, d);
      }
    } else if (strcmp(a->name, "target") == 0 || strcmp(a->name, "cpu") == 0 ||
               strcmp(a->name, "features") == 0) {
      if (a->kind != DY_ATTR_STR)
        dy_error(d, loc, "graph '%s' must be a string", a->name);
    } else if (strcmp(a->name, "workspace") == 0) {
      if (a->kind != DY_ATTR_INT || a->i < 0)
        dy_error(d, loc, "graph 'workspace' must be a non-negative integer");
    } else {
      dy_error(d, loc, "unknown graph attribute '%s'", a->name);
    }
  }
}

int dy_graph_verify(const DyGraph *g, DyDiag *d) {
  int before = d->nerrors;
  DyPtrSet defined;
  dy_ptrset_init(&defined);
  for (int i = 0; i < g->ninputs; i++) {
    const DyValue *in = g->inputs[i];
    check_type(&in->type, d, g->loc, "graph input type");
    for (int k = 0; k < in->nattrs; k++) {
      const DyAttr *a = &in->attrs[k];
      if (strcmp(a->name, "range") != 0)
        dy_error(d, a->loc.line ? a->loc : g->loc,
                 "unknown attribute '%s' for graph argument '%%%s'", a->name,
                 in->name);
      else
        check_range_attr(a, d, g->loc);
    }
    dy_ptrset_add(&defined, in);
  }
  for (const DyOp *op = g->first; op; op = op->next) {
    int bad = 0;
    for (int i = 0; i < op->noperands; i++)
      if (!dy_ptrset_has(&defined, op->operands[i])) {
        dy_error(d, op->loc,
                 "operand '%%%s' of '%s' is used before it is "
                 "defined",
                 op->operands[i]->name, dy_op_name(op->kind));
        bad = 1;
      }
    if (!bad)
      verify_op(op, d);
    for (int i = 0; i < op->nresults; i++) {
      check_result_attrs(op, op->results[i], d);
      dy_ptrset_add(&defined, op->results[i]);
    }
  }
  if (g->noutputs < 1)
    dy_error(d, g->loc, "graph '@%s' has no outputs", g->name);
  for (int i = 0; i < g->noutputs; i++)
    if (!dy_ptrset_has(&defined, g->outputs[i]))
      dy_error(d, g->loc, "graph output '%%%s' is not defined",
               g->outputs[i]->name);
  dy_ptrset_fini(&defined);
  if (d->nerrors == before)
    check_graph_attrs(g, d);
  return d->nerrors - before;
}
