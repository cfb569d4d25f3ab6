/* lower-target: a graph to the kernel level for the context's target
 * (docs/codegen.md).
 *
 *  - each op gets `impl`, the kernel codegen/ emits for it on this target,
 *    or an error naming the op and the target when none exists;
 *  - the model's boundary is marked: an entry `quantize` (of a graph input
 *    read by nothing else) becomes "entry.quantize" and an exit
 *    `dequantize` (giving a graph output) "exit.dequantize": the generated
 *    NAME_run takes and gives the stored integers between them, and
 *    NAME_run_f32 runs those two ops around it;
 *  - memory is planned statically: every computed value gets `offset`, its
 *    place in one workspace, 64-byte aligned, reused once the value is
 *    dead (first fit over lifetimes from dy_graph_last_uses); the graph
 *    gets `workspace`, the size, and `target`, `cpu`, `features`, `level`.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dyad/pass.h"
#include "dyad/target.h"

#define ALIGN 64

static int is_f32(const DyType *t) { return t->elem == DY_F32 && !t->quant; }
static int is_plain_int(const DyType *t) {
  return t->elem != DY_F32 && !t->quant;
}
static int is_stored_int(const DyType *t) { return t->elem != DY_F32; }

/* per tensor or per axis (not blocked) */
static int simple_quant(const DyType *t) {
  return t->quant && t->quant->kind != DY_QUANT_BLOCKED;
}

static int nuses(const DyGraph *g, const DyValue *v) {
  int n = 0;
  for (const DyOp *op = g->first; op; op = op->next)
    for (int i = 0; i < op->noperands; i++)
      n += op->operands[i] == v;
  return n;
}

static int is_output(const DyGraph *g, const DyValue *v) {
  for (int i = 0; i < g->noutputs; i++)
    if (g->outputs[i] == v)
      return 1;
  return 0;
}

static int all_operands(const DyOp *op, int (*pred)(const DyType *)) {
  if (!pred(&op->results[0]->type))
    return 0;
  for (int i = 0; i < op->noperands; i++)
    if (!pred(&op->operands[i]->type))
      return 0;
  return 1;
}

/* Whether pad's fill element is one stored value for every channel: the
 * edge and reflect modes copy, a constant 0 is each channel's zero point. */
static int uniform_fill(const DyOp *op, const DyQuant *q) {
  const DyAttr *mode = dy_op_attr(op, "mode");
  if (mode && mode->kind == DY_ATTR_STR && strcmp(mode->s, "constant") != 0)
    return 1;
  const DyAttr *v = dy_op_attr(op, "value");
  if (v && !(v->kind == DY_ATTR_INT ? v->i == 0 : v->f == 0))
    return 0;
  for (int64_t i = 1; i < q->nparams; i++)
    if (q->zero_points[i] != q->zero_points[0])
      return 0;
  return 1;
}

/* The kernel for op, or NULL with the reason in why. */
static const char *choose(const DyGraph *g, const DyOp *op, const DyTarget *t,
                          char *why, size_t n) {
  const DyType *ty = &op->results[0]->type;
  const DyType *tx = op->noperands ? &op->operands[0]->type : NULL;
  (void)t;
  switch (op->kind) {
  case DY_OP_CONST:
    return "const";
  case DY_OP_QUANTIZE:
    if (!is_f32(tx) || !simple_quant(ty))
      break;
    if (!tx->quant && op->operands[0]->def == NULL &&
        nuses(g, op->operands[0]) == 1 && !is_output(g, op->operands[0]))
      return "entry.quantize";
    return "quantize";
  case DY_OP_DEQUANTIZE:
    if (op->noperands != 1 || !simple_quant(tx) || !is_f32(ty))
      break;
    if (is_output(g, op->results[0]) && nuses(g, op->results[0]) == 0 &&
        op->operands[0]->def && op->operands[0]->def->kind != DY_OP_CONST)
      return "exit.dequantize";
    return "dequantize";
  case DY_OP_REQUANT:
    return "requant";
  case DY_OP_LOOKUP:
    return "lookup";
  case DY_OP_CONV2D:
  case DY_OP_MATMUL:
    if (is_plain_int(ty)) {
      for (int i = 0; i < op->noperands; i++)
        if (!is_stored_int(&op->operands[i]->type))
          goto none;
      if (op->noperands == 3 && op->operands[2]->type.elem != DY_I32)
        break;
      return "generic.int";
    }
    if (all_operands(op, is_f32))
      return "generic.f32";
    break;
  case DY_OP_ADD:
  case DY_OP_MUL:
  case DY_OP_RELU:
  case DY_OP_CLIP:
  case DY_OP_AVGPOOL:
  case DY_OP_GLOBAL_AVGPOOL:
    if (all_operands(op, is_plain_int))
      return "generic.int";
    if (all_operands(op, is_f32))
      return "generic.f32";
    break;
  case DY_OP_MAXPOOL:
    if (is_stored_int(ty) && ty->elem == tx->elem &&
        dy_quant_equal(ty->quant, tx->quant))
      return "generic.int";
    if (all_operands(op, is_f32))
      return "generic.f32";
    break;
  case DY_OP_SOFTMAX:
    if (op->noperands == 2)
      return "generic.int";
    if (all_operands(op, is_f32))
      return "generic.f32";
    break;
  case DY_OP_HARDSWISH:
  case DY_OP_SIGMOID:
  case DY_OP_TANH:
    if (all_operands(op, is_f32))
      return "generic.f32";
    break;
  case DY_OP_IDENTITY:
  case DY_OP_RESHAPE:
  case DY_OP_FLATTEN:
  case DY_OP_TRANSPOSE:
  case DY_OP_CONCAT:
  case DY_OP_PAD:
    /* the verifier gives every operand the result's type: a copy */
    if (op->kind == DY_OP_PAD && ty->quant && ty->quant->nparams > 1 &&
        !uniform_fill(op, ty->quant)) {
      snprintf(why, n,
               "a constant pad of a tensor with several quantization "
               "parameters fills each channel differently (no kernel yet)");
      return NULL;
    }
    return op->kind == DY_OP_TRANSPOSE ? "gather" : "copy";
  case DY_OP_BATCHNORM:
    snprintf(why, n, "batchnorm has no kernel: run fold-batchnorm first");
    return NULL;
  default:
    break;
  }
none:
  snprintf(why, n,
           "no kernel for these operand and result types (fake-quantized "
           "real-domain ops, blocked quantization and run-time dequantize "
           "are not compiled yet)");
  return NULL;
}

/* --- memory plan --- */

typedef struct Block {
  int64_t off, size, end_t; /* live until op end_t (inclusive) */
} Block;

static int64_t align_up(int64_t v) { return (v + ALIGN - 1) / ALIGN * ALIGN; }

/* First fit: the lowest aligned offset where size bytes overlap no live
 * block. */
static int64_t place(const Block *live, int nlive, int64_t size) {
  int64_t off = 0;
  for (;;) {
    int moved = 0;
    for (int i = 0; i < nlive; i++)
      if (off < live[i].off + live[i].size && live[i].off < off + size) {
        off = align_up(live[i].off + live[i].size);
        moved = 1;
      }
    if (!moved)
      return off;
  }
}

static void set_offset(DyGraph *g, DyValue *v, int64_t off) {
  DyAttr a = {0};
  a.name = "offset";
  a.kind = DY_ATTR_INT;
  a.i = off;
  dy_value_add_attr(g, v, &a);
}

static int run_pass(DyGraph *g, const DyPassContext *ctx) {
  const DyTarget *t = ctx->target;
  DyDiag *d = ctx->diag;
  if (!t) {
    dy_error(d, g->loc, "lower-target needs a target (--target, --mcpu)");
    return 1;
  }
  char tname[160];
  snprintf(tname, sizeof tname, "%s (cpu %s)", t->triple, t->cpu);
  int bad = 0;
  for (DyOp *op = g->first; op; op = op->next) {
    char why[200] = "";
    const char *impl = choose(g, op, t, why, sizeof why);
    if (!impl) {
      dy_error(d, op->loc, "'%s' %%%s cannot be compiled for %s: %s",
               dy_op_name(op->kind), op->results[0]->name, tname, why);
      bad = 1;
      continue;
    }
    if (op->kind != DY_OP_CONST)
      dy_op_set_str(g, op, "impl", impl);
  }
  if (bad)
    return 1;
  int nvalues = dy_graph_number(g);
  int *last = malloc((size_t)(nvalues ? nvalues : 1) * sizeof *last);
  Block *live = malloc((size_t)(nvalues ? nvalues : 1) * sizeof *live);
  if (!last || !live) {
    free(last);
    free(live);
    dy_error(d, g->loc, "out of memory");
    return 1;
  }
  dy_graph_last_uses(g, last);
  /* values read by the exit dequantizes are the run's outputs: live to the
   * end; entry values are written before the first op */
  for (DyOp *op = g->first; op; op = op->next) {
    const DyAttr *a = dy_op_attr(op, "impl");
    if (a && strcmp(a->s, "exit.dequantize") == 0)
      last[op->operands[0]->id] = g->nops;
  }
  int nlive = 0;
  int64_t total = 0;
  /* entry values first (defined before op 0), then results in order */
  for (int pass = 0; pass < 2; pass++)
    for (DyOp *op = g->first; op; op = op->next) {
      const DyAttr *a = dy_op_attr(op, "impl");
      int entry = a && strcmp(a->s, "entry.quantize") == 0;
      if (op->kind == DY_OP_CONST || entry != (pass == 0))
        continue;
      if (a && strcmp(a->s, "exit.dequantize") == 0)
        continue; /* written to the caller's buffer by NAME_run_f32 */
      /* drop blocks dead before this op */
      int now = pass == 0 ? -1 : op->id;
      int k = 0;
      for (int i = 0; i < nlive; i++)
        if (live[i].end_t >= now)
          live[k++] = live[i];
      nlive = k;
      for (int r = 0; r < op->nresults; r++) {
        DyValue *v = op->results[r];
        int overflow;
        int64_t size = align_up((int64_t)dy_type_nbytes(&v->type, &overflow));
        if (size == 0)
          size = ALIGN;
        int64_t off = place(live, nlive, size);
        int end = last[v->id] < 0 ? op->id : last[v->id];
        if (is_output(g, v))
          end = g->nops;
        live[nlive++] = (Block){off, size, end};
        set_offset(g, v, off);
        if (off + size > total)
          total = off + size;
      }
    }
  free(last);
  free(live);
  dy_graph_set_str(g, "level", "kernel");
  dy_graph_set_str(g, "target", t->triple);
  dy_graph_set_str(g, "cpu", t->cpu);
  dy_graph_set_str(g, "features", t->features);
  dy_graph_set_int(g, "workspace", total);
  return 0;
}

const DyPassDef dy_pass_lower_target = {
    "choose each op's kernel for the target and plan the workspace", run_pass,
    0, NULL, NULL};
