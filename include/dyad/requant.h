/* Integer requantization: y = v * M * 2^(shift - 31) rounded as TFLite,
 * gemmlowp or TOSA do (../shared/REQUANT.md). Shared by the interpreter and
 * (later) the passes and code generators. */
#ifndef DYAD_REQUANT_H
#define DYAD_REQUANT_H

#include <stdint.h>

#include "dyad/ir.h"

typedef enum DyRounding {
  DY_ROUND_TFLITE_DOUBLE, /* SRDHM then RoundingDivideByPOT (default) */
  DY_ROUND_TFLITE_SINGLE, /* (v*M + 2^(s-1)) >> s, s = 31 - shift */
  DY_ROUND_TOSA_SINGLE,   /* TOSA RESCALE, single_round */
  DY_ROUND_TOSA_DOUBLE    /* TOSA RESCALE, double_round */
} DyRounding;

/* y = v * M * 2^(shift - 31) rounded per mode, for an int32 v and (M,
 * shift) in the mode's domain: M in [0, 2^31) (tflite-double also takes
 * negative M), shift in [-31, 31] (tflite-double), [-31, 30]
 * (tflite-single), [-31, 29] (TOSA). In tflite-double, v * 2^max(shift, 0)
 * wraps modulo 2^32 as int32 arithmetic does. */
int64_t dy_requant_apply(DyRounding mode, int64_t v, int64_t M, int64_t shift);

/* The rounding mode's name in the IR and on the command line:
 * "tflite-double", "tflite-single", "tosa-single", "tosa-double". */
const char *dy_rounding_name(DyRounding r);
/* Returns 0 and sets *out, or 1 for an unknown name. */
int dy_rounding_from_name(const char *s, DyRounding *out);
/* Names of the integer modes, NULL-terminated, in enum order; the IR's
 * requant also takes "float" (dy_requant_get). */
extern const char *const dy_rounding_names[];
/* The shifts the mode takes: [-31, 31] (tflite-double), [-31, 30]
 * (tflite-single), [-31, 29] (TOSA: right shift 31 - shift in [2, 62]). */
void dy_rounding_shift_range(DyRounding r, int64_t *lo, int64_t *hi);

/* --- the requant op (lib/requant_params.c) --- */

/* TFLite's QuantizeMultiplier: real = M * 2^(shift - 31), M in [2^30,
 * 2^31) (or 0). Returns 1 when real cannot be represented (shift outside
 * [-31, 30]); 0 on success. */
int dy_quantize_multiplier(double real, int64_t *M, int64_t *shift);

/* A requant's parameters, decoded and checked in one place (docs/ir.md):
 *   y = clamp(round(((x - input_zp) * factor)) + output_zp, clamp),
 * factor = multiplier * 2^(shift - 31) rounded per `rounding`, or a real
 * scale under rounding "float". */
typedef struct DyRequantParams {
  int is_float;        /* rounding "float": real scales, not integer-only */
  DyRounding rounding; /* the integer mode (when !is_float) */
  int n;               /* 1, or one entry per channel of `axis` */
  int axis;            /* the normalized channel axis when n > 1, else -1 */
  const int64_t *multiplier;   /* n entries in [0, 2^31) (integer modes) */
  const int64_t *shift;        /* n entries in the mode's shift range */
  const double *scale;         /* n positive finite reals ("float") */
  int64_t input_zp, output_zp; /* each fits i32 */
  int64_t clamp[2];            /* the result's range by default */
} DyRequantParams;

/* Reads and checks op's attributes against its operand and result types.
 * Returns 0, or 1 after reporting the first problem at the op. The lists
 * point into the op's attributes. */
int dy_requant_get(const DyOp *op, DyRequantParams *p, DyDiag *d);
/* Writes p as op's attributes, leaving out those at their defaults
 * (rounding tflite-double, zero points 0, axis for one channel, a clamp to
 * the whole result range). */
void dy_requant_set(DyGraph *g, DyOp *op, const DyRequantParams *p);

#endif
