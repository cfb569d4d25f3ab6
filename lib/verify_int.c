/* The integer IR: the checks of the ops' integer forms (conv2d, matmul,
 * softmax), the integer-only check of a graph, and a graph's IR level and its
 * names. */
#include <stdint.h>
#include <string.h>

#include "dyad/ir.h"
#include "dyad/text.h"
#include "verify_internal.h"

/* --- the integer forms of ops --- */

/* Integer conv2d / matmul: integer x and w (quantized or plain), an i32
 * bias, a plain i32 result holding sum((x - zx) * (w - zw)) + bias. The zero
 * point of x is per tensor; that of w per tensor or per output channel
 * (conv2d OHWI axis 0, matmul w's last axis). */
int dy_verify_integer_layer(const DyOp *op, DyDiag *d) {
  const char *name = dy_op_name(op->kind);
  const DyType *r = &op->results[0]->type;
  const DyType *x = &op->operands[0]->type, *w = &op->operands[1]->type;
  if (r->elem != DY_I32 || r->quant)
    return BAD("integer '%s' must give a plain i32 accumulator", name);
  if (x->elem == DY_F32 || w->elem == DY_F32 || x->elem == DY_I32 ||
      w->elem == DY_I32)
    return BAD("integer '%s' takes integer operands of at most 16 bits", name);
  if (x->quant && x->quant->kind != DY_QUANT_PER_TENSOR)
    return BAD("integer '%s' needs a per-tensor zero point on its input", name);
  int oc_axis = op->kind == DY_OP_CONV2D ? 0 : w->rank - 1;
  if (w->quant && w->quant->kind != DY_QUANT_PER_TENSOR &&
      !(w->quant->kind == DY_QUANT_PER_AXIS && w->quant->axis == oc_axis))
    return BAD("integer '%s' weights may be quantized per tensor or per "
               "output channel (axis %d)",
               name, oc_axis);
  if (op->noperands == 3 &&
      (op->operands[2]->type.elem != DY_I32 || op->operands[2]->type.quant))
    return BAD("integer '%s' bias must be plain i32", name);
  static const int64_t zeros[4] = {0, 0, 0, 0};
  int64_t zp, pads[4];
  if (dy_attr_read_int(op, "input_zp", 0, INT32_MIN, INT32_MAX, &zp, d))
    return 1;
  if (op->kind == DY_OP_CONV2D && dy_op_attr(op, "input_zp")) {
    if (dy_attr_read_ints(op, "pads", 4, zeros, 0, pads, d))
      return 1;
    if (pads[0] || pads[1] || pads[2] || pads[3])
      return BAD("integer 'conv2d' with 'input_zp' must not pad: padding "
                 "would stand for x's zero point, pad explicitly");
  }
  return 0;
}

/* Integer softmax: x integer (at most 16 bits), an i32 table with an entry
 * for every difference max - x, an integer result. */
int dy_verify_integer_softmax(const DyOp *op, DyDiag *d) {
  const DyType *x = &op->operands[0]->type, *t = &op->operands[1]->type;
  const DyType *r = &op->results[0]->type;
  int64_t lo, hi, v;
  if (x->elem == DY_F32 || x->elem == DY_I32 || r->elem == DY_F32 ||
      r->elem == DY_I32)
    return BAD("integer 'softmax' takes and gives integers of at most 16 "
               "bits");
  dy_elem_range(x->elem, &lo, &hi);
  if (t->elem != DY_I32 || t->quant || t->rank != 1 ||
      t->dims[0] != hi - lo + 1)
    return BAD("integer 'softmax' table must be tensor<%lldxi32>",
               (long long)(hi - lo + 1));
  if (dy_attr_read_int(op, "shift", 0, 0, 30, &v, d) ||
      dy_attr_read_int(op, "output_zp", 0, INT32_MIN, INT32_MAX, &v, d))
    return 1;
  return 0;
}

/* --- the integer level --- */

int dy_verify_integer_only(const DyGraph *g, DyDiag *d) {
  int bad = 0;
  for (const DyOp *op = g->first; op; op = op->next) {
    if (op->kind == DY_OP_QUANTIZE) {
      if (op->operands[0]->def) {
        dy_error(d, op->loc,
                 "'quantize' of '%%%s' inside the graph: a float value "
                 "enters the integer path",
                 op->operands[0]->name);
        bad++;
      }
      continue;
    }
    if (op->kind == DY_OP_DEQUANTIZE) {
      for (const DyOp *u = g->first; u; u = u->next)
        for (int i = 0; i < u->noperands; i++)
          if (u->operands[i] == op->results[0]) {
            dy_error(d, u->loc,
                     "'%s' reads the dequantized '%%%s': float inside the "
                     "integer path",
                     dy_op_name(u->kind), op->results[0]->name);
            bad++;
          }
      continue;
    }
    if (op->kind == DY_OP_DYNAMIC_QUANTIZE ||
        (op->kind == DY_OP_REQUANT &&
         strcmp(dy_op_str(op, "rounding", ""), "float") == 0)) {
      dy_error(d, op->loc, "'%s' computes in float", dy_op_name(op->kind));
      bad++;
      continue;
    }
    int f32 = 0;
    for (int i = 0; i < op->noperands; i++)
      f32 |= op->operands[i]->type.elem == DY_F32;
    for (int i = 0; i < op->nresults; i++)
      f32 |= op->results[i]->type.elem == DY_F32;
    if (f32 && op->kind != DY_OP_CONST) {
      dy_error(d, op->loc, "'%s' computes in float", dy_op_name(op->kind));
      bad++;
    }
  }
  for (int i = 0; i < g->ninputs; i++)
    if (g->inputs[i]->type.elem == DY_F32) {
      for (const DyOp *u = g->first; u; u = u->next)
        for (int k = 0; k < u->noperands; k++)
          if (u->operands[k] == g->inputs[i] && u->kind != DY_OP_QUANTIZE) {
            dy_error(d, u->loc, "'%s' reads the float input '%%%s'",
                     dy_op_name(u->kind), g->inputs[i]->name);
            bad++;
          }
    }
  return bad;
}

/* --- levels --- */

DyIRLevel dy_graph_level(const DyGraph *g) {
  /* a graph lowered for a target (lower-target declares it) */
  const DyAttr *lv = dy_graph_attr(g, "level");
  if (lv && lv->kind == DY_ATTR_STR && strcmp(lv->s, "kernel") == 0)
    return DY_LEVEL_KERNEL;
  int quantized = 0;
  for (const DyOp *op = g->first; op && !quantized; op = op->next) {
    switch (op->kind) {
    case DY_OP_QUANTIZE:
    case DY_OP_DEQUANTIZE:
    case DY_OP_REQUANT:
    case DY_OP_LOOKUP:
    case DY_OP_DYNAMIC_QUANTIZE:
      quantized = 1;
      break;
    default:
      for (int i = 0; i < op->nresults; i++)
        quantized |= op->results[i]->type.quant != NULL ||
                     op->results[i]->type.elem != DY_F32;
    }
  }
  for (int i = 0; i < g->ninputs; i++)
    quantized |= g->inputs[i]->type.elem != DY_F32;
  if (!quantized)
    return DY_LEVEL_FLOAT;
  DyDiag quiet;
  dy_diag_init(&quiet);
  quiet.fn = silent;
  int bad = dy_verify_integer_only(g, &quiet);
  dy_diag_fini(&quiet);
  return bad ? DY_LEVEL_QDQ : DY_LEVEL_INTEGER;
}

const char *dy_level_name(DyIRLevel l) {
  switch (l) {
  case DY_LEVEL_FLOAT:
    return "float";
  case DY_LEVEL_QDQ:
    return "qdq";
  case DY_LEVEL_INTEGER:
    return "integer";
  case DY_LEVEL_KERNEL:
    return "kernel";
  }
  return "?";
}

void dy_graph_refresh_level(DyGraph *g) {
  const DyAttr *a = dy_graph_attr(g, "level");
  if (a && !(a->kind == DY_ATTR_STR && strcmp(a->s, "kernel") == 0))
    dy_graph_set_str(g, "level", dy_level_name(dy_graph_level(g)));
}

DyIRLevel dy_level_from_name(const char *s) {
  for (unsigned f = DY_LEVEL_FLOAT; f <= DY_LEVEL_KERNEL; f <<= 1)
    if (strcmp(s, dy_level_name((DyIRLevel)f)) == 0)
      return (DyIRLevel)f;
  return (DyIRLevel)0;
}
