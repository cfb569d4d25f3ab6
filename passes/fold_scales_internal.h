/* Shared between the files of the fold-scales pass: its state, the
 * builders of requants (passes/fold_scales.c) and the matchers of QDQ
 * operands that the driver and the op forms (passes/fold_scales_forms.c)
 * both use. Not a public header. */
#ifndef DYAD_FOLD_SCALES_INTERNAL_H
#define DYAD_FOLD_SCALES_INTERNAL_H

#include <stdint.h>
#include <stdio.h>

#include "dyad/quant.h"

/* Scales as the interpreter's dequantize uses them: rounded to f32 (as
 * ONNX and TFLite store them); multipliers are computed from these. */
#define F32(s) ((double)(float)(s))

typedef struct Fold {
  DyGraph *g;
  const DyFoldOptions *o;
  DyDiag *d;
  int failed;
  int noted; /* the current island's reason was already reported */
} Fold;

/* --- small builders (fold_scales.c) --- */

/* t with element type e and no quantization. */
static inline DyType plain(const DyType *t, DyElemType e) {
  DyType r = *t;
  r.elem = e;
  r.quant = NULL;
  return r;
}

/* requant x -> type `to`, one real multiplier per channel of `axis` (n of
 * them), with zero points and an optional clamp (lo > hi: none), built
 * before `before`. A factor the requant cannot hold is reported as an
 * error and sets f->failed. */
DyValue *dy_fold_build_requant(Fold *f, DyOp *before, DyValue *x,
                               const DyType *to, int n, const double *real,
                               int axis, int64_t izp, int64_t ozp, int64_t lo,
                               int64_t hi, const char *name, DyLoc loc);

/* (x - izp) * 2^k exactly, as i32 (a requant), built before `before`. */
DyValue *dy_fold_build_shift(Fold *f, DyOp *before, DyValue *x, int64_t izp,
                             int k, const char *name, DyLoc loc);

/* base followed by suffix, in buf of n bytes: a name for a new value. */
static inline char *vname(char *buf, size_t n, const char *base,
                          const char *suffix) {
  snprintf(buf, n, "%s%s", base, suffix);
  return buf;
}

/* --- matching --- */

static inline int is_per_tensor(const DyQuant *q) {
  return q && q->kind == DY_QUANT_PER_TENSOR && q->nparams == 1;
}

/* The quantized value a float operand is the dequantization of, or NULL. */
static inline DyValue *dq_of(const DyValue *v) {
  if (v->def && v->def->kind == DY_OP_DEQUANTIZE && v->def->noperands == 1 &&
      v->def->operands[0]->type.quant)
    return v->def->operands[0];
  return NULL;
}

/* A quantized activation operand: dequantize of a per-tensor value. */
static inline DyValue *act_of(const DyValue *v) {
  DyValue *q = dq_of(v);
  return q && is_per_tensor(q->type.quant) ? q : NULL;
}

/* Stored element idx of a quantized constant. */
static inline int64_t load_weight(const DyValue *w, int64_t idx) {
  return dy_load_int(w->def->data->data, w->type.elem, idx);
}

/* --- the op forms (fold_scales_forms.c) --- */

/* The integer form of an island: qop quantizes the result of `core`, or
 * of the relu / clip `act` fused after it (NULL: none). Builds the integer
 * ops before qop and returns the value that replaces qop's result, or
 * NULL when the island does not match: then f->noted says a note already
 * gave the reason, and f->failed that an error was reported. */
DyValue *dy_fold_island(Fold *f, DyOp *core, const DyOp *act, DyOp *qop);

#endif
