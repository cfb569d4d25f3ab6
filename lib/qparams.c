/* Quantization parameters from a scheme and a range: the storage range of
 * a scheme and TFLite's / ONNX's choice of scale and zero point. Shared by
 * quantize, the mixed-precision search and the importers. */
#include "dyad/quant.h"

#include <float.h>
#include <math.h>

DyElemType dy_scheme_range(const DyQuantScheme *s, int64_t *qmin,
                           int64_t *qmax) {
  if (s->is_signed) {
    *qmin = -((int64_t)1 << (s->bits - 1)) + (s->narrow ? 1 : 0);
    *qmax = ((int64_t)1 << (s->bits - 1)) - 1;
  } else {
    *qmin = s->narrow ? 1 : 0;
    *qmax = ((int64_t)1 << s->bits) - 1;
  }
  if (s->bits == 16)
    return DY_I16;
  if (s->bits == 4)
    return s->is_signed ? DY_I4 : DY_U4;
  if (s->bits == 2)
    return s->is_signed ? DY_I2 : DY_U2;
  return s->is_signed ? DY_I8 : DY_U8;
}

void dy_choose_qparams(const DyQuantScheme *s, double lo, double hi,
                       double *scale, int64_t *zp, int64_t *qmin,
                       int64_t *qmax) {
  dy_scheme_range(s, qmin, qmax);
  lo = fmin(lo, 0);
  hi = fmax(hi, 0);
  double sc;
  if (s->symmetric) {
    double amax = fmax(-lo, hi);
    sc = amax / ((double)(*qmax - *qmin) / 2);
    *zp = s->is_signed ? 0 : ((int64_t)1 << (s->bits - 1));
  } else {
    sc = (hi - lo) / (double)(*qmax - *qmin);
    *zp = 0;
  }
  if (!(sc > 0) || !isfinite(sc))
    sc = 1.0;
  sc = (double)(float)sc; /* scales are f32, as in ONNX and TFLite */
  if (!(sc > 0))
    sc = (double)FLT_MIN;
  if (!s->symmetric) {
    double z = (double)*qmin - nearbyint(lo / sc);
    *zp = z < (double)*qmin ? *qmin : z > (double)*qmax ? *qmax : (int64_t)z;
  }
  *scale = sc;
}
