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
#include "dyad/requant.h"
#include "dyad/shape.h"
#include "dyad/target.h"

#define ALIGN 64

static int is_f32(const DyType *t) { return t->elem == DY_F32 && !t->quant; }
static int is_plain_int(const DyType *t) {
  return t->elem != DY_F32 && !t->quant;
}
static int is_stored_int(const DyType *t) { return t->elem != DY_F32; }

static int all_operands(const DyOp *op, int (*pred)(const DyType *)) {
  if (!pred(&op->results[0]->type))
    return 0;
  for (int i = 0; i < op->noperands; i++)
    if (!pred(&op->operands[i]->type))
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
    if (!is_f32(tx) || !ty->quant)
      break;
    if (!tx->quant && op->operands[0]->def == NULL &&
        dy_value_num_uses(g, op->operands[0]) == 1)
      return "entry.quantize";
    return "quantize";
  case DY_OP_DEQUANTIZE:
    if (op->noperands > 1) { /* run-time scale (and zero point) */
      if (is_plain_int(tx) && is_f32(ty))
        return "dequantize";
      break;
    }
    if (!tx->quant || !is_f32(ty))
      break;
    if (dy_value_is_output(g, op->results[0]) &&
        dy_value_num_uses(g, op->results[0]) == 1 && op->operands[0]->def &&
        op->operands[0]->def->kind != DY_OP_CONST)
      return "exit.dequantize";
    return "dequantize";
  case DY_OP_DYNAMIC_QUANTIZE:
    return "dynamic_quantize";
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
    return op->kind == DY_OP_TRANSPOSE ? "gather" : "copy";
  case DY_OP_BATCHNORM: /* one fold-batchnorm could not fold */
    if (all_operands(op, is_f32))
      return "generic.f32";
    break;
  default:
    break;
  }
none:
  snprintf(why, n,
           "no kernel for these operand and result types (fake-quantized "
           "real-domain ops are not compiled yet)");
  return NULL;
}

/* --- dot-product kernels (codegen/kernels/dot.c) --- */

static void ignore(void *ctx, DySeverity sev, DyLoc loc, const char *msg) {
  (void)ctx, (void)sev, (void)loc, (void)msg;
}

/* A sink for questions whose failure only means "no" (the op's real
 * problems are the verifier's and the kernels' to report). */
static void quiet_init(DyDiag *q) {
  dy_diag_init(q);
  q->fn = ignore;
}

/* What a dot kernel needs to know of a conv2d or matmul. */
typedef struct DotLayer {
  int64_t rows, K, OC; /* output pixels (or matrix rows), reduction, channels */
  const DyValue *w;
  int64_t zx;     /* the input zero point: padding and compensation */
  int x_unsigned; /* x is u8 */
  int wlo, whi;   /* range of w - zw */
  int w4;         /* 4-bit weights that fit 4 bits less their zero point:
                     stored two to a byte */
} DotLayer;

static int64_t weight(const DyOp *op, const DotLayer *l, int64_t oc,
                      int64_t k) {
  const DyValue *w = l->w;
  int64_t i = op->kind == DY_OP_CONV2D ? oc * l->K + k : k * l->OC + oc;
  const DyQuant *q = w->type.quant;
  int64_t zw = !q ? 0 : q->zero_points[q->nparams > 1 ? oc : 0];
  return dy_load_int(w->def->data->data, w->type.elem, i) - zw;
}

/* Whether op can run on a dot kernel: integer form into i32, u8 or i8
 * activations, constant weights of at most 8 bits and a constant bias, one
 * group (conv2d), one weight matrix (matmul). Fills l. */
static int dot_layer(const DyOp *op, DotLayer *l) {
  const DyType *tx = &op->operands[0]->type, *ty = &op->results[0]->type;
  const DyValue *w = op->operands[1];
  if ((op->kind != DY_OP_CONV2D && op->kind != DY_OP_MATMUL) ||
      ty->elem != DY_I32 || ty->quant ||
      (tx->elem != DY_I8 && tx->elem != DY_U8) || !w->def ||
      w->def->kind != DY_OP_CONST || !w->def->data)
    return 0;
  switch (w->type.elem) {
  case DY_I8:
  case DY_U8:
  case DY_I4:
  case DY_U4:
  case DY_I2:
  case DY_U2:
    break;
  default:
    return 0;
  }
  if (w->type.quant && w->type.quant->kind == DY_QUANT_BLOCKED)
    return 0;
  if (op->noperands == 3 &&
      (!op->operands[2]->def || op->operands[2]->def->kind != DY_OP_CONST ||
       op->operands[2]->type.elem != DY_I32))
    return 0;
  DyDiag quiet;
  quiet_init(&quiet);
  int ok = 1;
  if (op->kind == DY_OP_CONV2D) {
    DyConvGeom g;
    ok = !dy_conv_geom(op, &g, &quiet) && g.groups == 1;
    if (ok) {
      l->rows = g.N * g.OH * g.OW;
      l->K = g.KH * g.KW * g.C;
      l->OC = g.OC;
    }
  } else {
    DyMatmulGeom g;
    ok = !dy_matmul_geom(op, &g, &quiet) && !g.batched;
    if (ok) {
      l->rows = g.M;
      l->K = g.K;
      l->OC = g.N;
    }
  }
  dy_diag_fini(&quiet);
  if (!ok)
    return 0;
  l->w = w;
  const DyAttr *izp = dy_op_attr(op, "input_zp");
  l->zx = izp ? izp->i : tx->quant ? tx->quant->zero_points[0] : 0;
  l->x_unsigned = tx->elem == DY_U8;
  int64_t lo = 0, hi = 0;
  for (int64_t oc = 0; oc < l->OC; oc++)
    for (int64_t k = 0; k < l->K; k++) {
      int64_t v = weight(op, l, oc, k);
      lo = v < lo ? v : lo;
      hi = v > hi ? v : hi;
    }
  if (lo < -128 || hi > 127)
    return 0;
  l->wlo = (int)lo;
  l->whi = (int)hi;
  l->w4 =
      (w->type.elem == DY_I4 || w->type.elem == DY_U4) && lo >= -8 && hi <= 7;
  return 1;
}

/* The best dot kernel of t for the layer: the table's order is the
 * preference (dy_dot_kernels). */
static const DyDotKernel *choose_dot(const DyTarget *t, const DotLayer *l) {
  int n;
  const DyDotKernel *k = dy_dot_kernels(&n);
  for (int i = 0; i < n; i++) {
    if (k[i].arch != t->arch || (k[i].needs & ~t->feat) || l->wlo < k[i].wmin ||
        l->whi > k[i].wmax || l->rows < k[i].rows)
      continue;
    /* usdot is for u8 activations; s8 ones go to sdot when it exists */
    if (k[i].dot == DY_DOT_USDOT && !l->x_unsigned &&
        (t->feat & DY_FEAT_DOTPROD))
      continue;
    return &k[i];
  }
  return NULL;
}

static int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

/* The blob the kernel reads (codegen/kernels/dot.c): OCp compensated i32
 * biases, 64-byte padded, then the weights in NR x KR blocks. */
static DyValue *pack(DyGraph *g, DyOp *op, const DotLayer *l,
                     const DyDotKernel *k) {
  int64_t OCp = round_up(l->OC, k->nr), Kp = round_up(l->K, k->kr);
  int64_t bb = round_up(OCp * 4, 64), size = bb + OCp * Kp;
  unsigned char *blob = calloc((size_t)size, 1);
  if (!blob)
    return NULL;
  int64_t ox = dy_dot_offset(k, l->x_unsigned);
  const DyValue *b = op->noperands == 3 ? op->operands[2] : NULL;
  for (int64_t oc = 0; oc < l->OC; oc++) {
    uint32_t colsum = 0;
    for (int64_t kk = 0; kk < l->K; kk++) {
      int64_t v = weight(op, l, oc, kk);
      colsum += (uint32_t)v;
      int64_t nb = oc / k->nr, j = oc % k->nr, gi = kk / k->kr, r = kk % k->kr;
      blob[bb + ((nb * (Kp / k->kr) + gi) * k->nr + j) * k->kr + r] =
          (unsigned char)(int8_t)v;
    }
    uint32_t bias =
        b ? (uint32_t)dy_load_int(b->def->data->data, DY_I32, oc) : 0;
    bias -= (uint32_t)(l->zx + ox) * colsum;
    for (int i = 0; i < 4; i++) /* little-endian, as every target */
      blob[oc * 4 + i] = (unsigned char)(bias >> (8 * i));
  }
  if (l->w4) { /* two to a byte, low nibble first (Kp is even) */
    for (int64_t i = 0; i < OCp * Kp / 2; i++)
      blob[bb + i] = (unsigned char)((blob[bb + 2 * i] & 15) |
                                     (blob[bb + 2 * i + 1] << 4));
    size = bb + OCp * Kp / 2;
  }
  char base[200];
  snprintf(base, sizeof base, "%s_%s", l->w->name, k->symbol + 8);
  DyType t = {0};
  t.elem = DY_I8;
  t.rank = 1;
  t.dims[0] = size;
  DyValue *v = dy_build_const(g, op, base, t, blob, DY_FORM_HEX);
  free(blob);
  return v;
}

/* Bytes of work space the kernel needs beside its result: accumulators and
 * gathered rows (codegen/kernels/dot.c). */
static int64_t dot_scratch(const DotLayer *l, const DyDotKernel *k) {
  int64_t OCp = round_up(l->OC, k->nr), Kp = round_up(l->K, k->kr);
  int64_t n = k->rows * (OCp * 4 + Kp * (k->wide ? 2 : 1));
  return l->w4 ? round_up(n, 64) + OCp * Kp : n; /* widened 4-bit weights */
}

/* A requant of the i32 result that the dot kernel computes as its
 * epilogue: the result's only reader, on its last axis or per tensor. */
static DyOp *fusable_requant(const DyGraph *g, const DyOp *op) {
  const DyValue *v = op->results[0];
  DyOp *u = dy_value_sole_user(g, v);
  if (!u || u->kind != DY_OP_REQUANT || dy_value_is_output(g, v))
    return NULL;
  DyDiag quiet;
  quiet_init(&quiet);
  DyRequantParams rp;
  int ok = !dy_requant_get(u, &rp, &quiet) &&
           (rp.n == 1 || rp.axis == v->type.rank - 1);
  dy_diag_fini(&quiet);
  return ok ? u : NULL;
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

/* The operand op may overwrite with its result, or -1. The kernel must
 * read element i before it writes element i and nothing after (requant and
 * the portable elementwise kernels); the operand must be of the result's
 * shape, stored in the workspace (not a caller's input), read by nothing
 * after op, and have elements at least as wide as the result's. */
static int in_place_operand(const DyGraph *g, const DyOp *op, const int *last) {
  const DyAttr *a = dy_op_attr(op, "impl");
  if (!a || op->nresults != 1)
    return -1;
  int elementwise =
      strcmp(a->s, "requant") == 0 ||
      ((op->kind == DY_OP_ADD || op->kind == DY_OP_MUL ||
        op->kind == DY_OP_RELU || op->kind == DY_OP_CLIP ||
        op->kind == DY_OP_SIGMOID || op->kind == DY_OP_TANH ||
        op->kind == DY_OP_HARDSWISH) &&
       (strcmp(a->s, "generic.int") == 0 || strcmp(a->s, "generic.f32") == 0));
  if (!elementwise)
    return -1;
  const DyType *ty = &op->results[0]->type;
  for (int k = 0; k < op->noperands; k++) {
    const DyValue *v = op->operands[k];
    const DyType *tv = &v->type;
    const DyAttr *ea = v->def ? dy_op_attr(v->def, "impl") : NULL;
    if (!v->def || v->def->kind == DY_OP_CONST || !dy_value_attr(v, "offset") ||
        (ea && strcmp(ea->s, "entry.quantize") == 0) || last[v->id] != op->id ||
        dy_value_is_output(g, v) || tv->rank != ty->rank ||
        memcmp(tv->dims, ty->dims, sizeof tv->dims[0] * (size_t)ty->rank) ||
        dy_elem_size(tv->elem) < dy_elem_size(ty->elem))
      continue;
    return k;
  }
  return -1;
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
    DotLayer l;
    const DyDotKernel *k = NULL;
    if (strcmp(impl, "generic.int") == 0 && dot_layer(op, &l))
      k = choose_dot(t, &l);
    if (k) {
      DyValue *pv = pack(g, op, &l, k);
      if (!pv) {
        dy_error(d, op->loc, "out of memory");
        return 1;
      }
      impl = k->impl;
      dy_op_set_str(g, op, "packed", pv->name);
      if (l.w4)
        dy_op_set_int(g, op, "packed_bits", 4);
    }
    if (op->kind != DY_OP_CONST)
      dy_op_set_str(g, op, "impl", impl);
  }
  if (bad)
    return 1;
  /* a dot kernel applies the requant of its result as it stores */
  for (DyOp *op = g->first; op; op = op->next) {
    const DyAttr *a = dy_op_attr(op, "impl");
    DyOp *rq = a && dy_dot_kernel(a->s) ? fusable_requant(g, op) : NULL;
    if (rq)
      dy_op_set_str(g, rq, "impl", "fused");
  }
  int nvalues = dy_graph_number(g);
  int *last = malloc((size_t)(nvalues ? nvalues : 1) * sizeof *last);
  /* a block per value and per kernel scratch */
  Block *live = malloc((size_t)(nvalues + g->nops + 1) * sizeof *live);
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
    /* a fused requant runs its producer: the producer's operands live
     * until it */
    if (a && strcmp(a->s, "fused") == 0) {
      const DyOp *p = op->operands[0]->def;
      for (int i = 0; i < p->noperands; i++)
        if (last[p->operands[i]->id] < op->id)
          last[p->operands[i]->id] = op->id;
    }
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
      /* a dot kernel's result feeding a fused requant is never stored;
       * the kernel's scratch lives while it runs: at the requant when
       * fused, else at the op */
      const DyAttr *ru = NULL;
      DyOp *user = dy_value_sole_user(g, op->results[0]);
      if (user)
        ru = dy_op_attr(user, "impl");
      const DyDotKernel *kern = a ? dy_dot_kernel(a->s) : NULL;
      if (kern && ru && strcmp(ru->s, "fused") == 0)
        continue;
      DyOp *dotop = kern                              ? op
                    : a && strcmp(a->s, "fused") == 0 ? op->operands[0]->def
                                                      : NULL;
      if (dotop) {
        DotLayer l;
        const DyDotKernel *dk = dy_dot_kernel(dy_op_attr(dotop, "impl")->s);
        if (!dot_layer(dotop, &l)) {
          dy_error(d, dotop->loc, "internal error: lost the dot layer");
          free(last);
          free(live);
          return 1;
        }
        int64_t size = align_up(dot_scratch(&l, dk));
        int64_t off = place(live, nlive, size);
        live[nlive++] = (Block){off, size, op->id};
        int64_t sc[2] = {off, size};
        dy_op_set_ints(g, dotop, "scratch", 2, sc);
        if (off + size > total)
          total = off + size;
      }
      int inplace = pass == 1 ? in_place_operand(g, op, last) : -1;
      for (int r = 0; r < op->nresults; r++) {
        DyValue *v = op->results[r];
        int overflow;
        int64_t size = align_up((int64_t)dy_type_nbytes(&v->type, &overflow));
        if (size == 0)
          size = ALIGN;
        int end = last[v->id] < 0 ? op->id : last[v->id];
        if (dy_value_is_output(g, v))
          end = g->nops;
        if (inplace >= 0) { /* the operand's block, now the result's */
          int64_t off = dy_value_attr(op->operands[inplace], "offset")->i;
          for (int i = 0; i < nlive; i++)
            if (live[i].off == off)
              live[i].end_t = end;
          set_offset(g, v, off);
          continue;
        }
        int64_t off = place(live, nlive, size);
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
