/* Integer requantization: y = v * M * 2^(shift - 31) rounded as TFLite,
 * gemmlowp or TOSA do (../shared/REQUANT.md). Shared by the interpreter and
 * (later) the passes and code generators. */
#ifndef DYAD_REQUANT_H
#define DYAD_REQUANT_H

#include <stdint.h>

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

#endif
