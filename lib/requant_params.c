/* The requant op's attributes and the rounding modes' names: decoded,
 * checked and written in one place (include/dyad/requant.h), for the
 * verifier, the interpreter, the passes and the backend. (lib/requant.c
 * keeps the arithmetic, free of real-number types.) */
#include "dyad/requant.h"
#include "dyad/shape.h"

#include <math.h>
#include <string.h>

#define BAD(...) (dy_error(d, op->loc, __VA_ARGS__), 1)

const char *const dy_rounding_names[] = {"tflite-double", "tflite-single",
                                         "tosa-single", "tosa-double", 0};

const char *dy_rounding_name(DyRounding r) {
  return (unsigned)r <= DY_ROUND_TOSA_DOUBLE ? dy_rounding_names[r] : "?";
}

int dy_rounding_from_name(const char *s, DyRounding *out) {
  for (int i = 0; dy_rounding_names[i]; i++) {
    if (strcmp(s, dy_rounding_names[i]) == 0) {
      *out = (DyRounding)i;
      return 0;
    }
  }
  return 1;
}

/* TFLite's QuantizeMultiplier: frexp gives real = q * 2^e, q in [0.5, 1);
 * M = round(q * 2^31) half away from zero, and a q that rounds up to 2^31
 * becomes 2^30 with e + 1. Example: real = 0.75 = 0.75 * 2^0 gives
 * M = 1610612736 (0.75 * 2^31), shift 0: 0.75 = M * 2^(0 - 31). */
int dy_quantize_multiplier(double real, int64_t *M, int64_t *shift) {
  *M = 0;
  *shift = 0;
  if (real == 0)
    return 0;
  if (!(real > 0) || isinf(real))
    return 1;
  int e;
  double q = frexp(real, &e);
  int64_t m = (int64_t)round(q * 2147483648.0); /* half away from zero */
  if (m == ((int64_t)1 << 31)) {
    m /= 2;
    e++;
  }
  if (e < -31)
    return 0; /* rounds to zero, as TFLite */
  if (e > 30)
    return 1;
  *M = m;
  *shift = e;
  return 0;
}

int dy_requant_get(const DyOp *op, DyRequantParams *p, DyDiag *d) {
  static const char *const modes[] = {"tflite-double", "tflite-single",
                                      "tosa-single",   "tosa-double",
                                      "float",         NULL};
  const DyType *x = &op->operands[0]->type, *r = &op->results[0]->type;
  const char *mode;
  memset(p, 0, sizeof *p);
  p->axis = -1;
  if (dy_attr_read_enum(op, "rounding", modes, "tflite-double", &mode, d) ||
      dy_attr_read_int(op, "input_zp", 0, INT32_MIN, INT32_MAX, &p->input_zp,
                       d) ||
      dy_attr_read_int(op, "output_zp", 0, INT32_MIN, INT32_MAX, &p->output_zp,
                       d))
    return 1;
  const DyAttr *m = dy_op_attr(op, "multiplier"), *s = dy_op_attr(op, "shift"),
               *sc = dy_op_attr(op, "scale");
  p->is_float = strcmp(mode, "float") == 0;
  if (p->is_float) {
    /* a real scale: for ONNX's QLinear ops and for comparison */
    if (!sc || sc->kind != DY_ATTR_FLOATS || sc->n < 1)
      return BAD("'requant' rounding \"float\" requires a 'scale' list");
    if (m || s)
      return BAD("'requant' rounding \"float\" takes 'scale', not "
                 "'multiplier' and 'shift'");
    for (int i = 0; i < sc->n; i++)
      if (!(sc->floats[i] > 0) || isinf(sc->floats[i]))
        return BAD("'requant' scale %g must be positive and finite",
                   sc->floats[i]);
    p->n = sc->n;
    p->scale = sc->floats;
  } else {
    if (dy_rounding_from_name(mode, &p->rounding))
      DY_ASSERT(0); /* the enum read above allows only known names */
    if (!m || !s)
      return BAD("'requant' requires the attributes 'multiplier' and 'shift'");
    if (sc)
      return BAD("'requant' attribute 'scale' needs rounding \"float\"");
    if (m->kind != DY_ATTR_INTS || s->kind != DY_ATTR_INTS || m->n != s->n ||
        m->n < 1)
      return BAD("'requant' multiplier and shift must be integer lists of "
                 "the same length");
    int64_t smin, smax;
    dy_rounding_shift_range(p->rounding, &smin, &smax);
    for (int i = 0; i < m->n; i++) {
      /* one rule for every mode: a non-negative multiplier (a negative
       * factor is never a rescale; TFLite's own QuantizeMultiplier gives
       * M >= 0) */
      if (m->ints[i] < 0 || m->ints[i] > INT32_MAX)
        return BAD("'requant' multiplier %lld out of range [0, 2^31)",
                   (long long)m->ints[i]);
      if (s->ints[i] < smin || s->ints[i] > smax)
        return BAD("'requant' shift %lld out of range [%lld, %lld] for "
                   "rounding \"%s\"",
                   (long long)s->ints[i], (long long)smin, (long long)smax,
                   mode);
    }
    p->n = m->n;
    p->multiplier = m->ints;
    p->shift = s->ints;
  }
  if (p->n > 1) {
    int64_t v;
    if (dy_attr_read_int(op, "axis", -1, INT32_MIN, INT32_MAX, &v, d))
      return 1;
    if (dy_axis_normalize(v, x->rank, &p->axis))
      return BAD("'requant' axis %lld out of range for rank %d", (long long)v,
                 x->rank);
    if (x->dims[p->axis] != p->n)
      return BAD("'requant' has %d multipliers for %lld channels on axis %d",
                 p->n, (long long)x->dims[p->axis], p->axis);
  }
  int64_t rlo, rhi;
  dy_type_int_range(r, &rlo, &rhi);
  p->clamp[0] = rlo;
  p->clamp[1] = rhi;
  const DyAttr *c = dy_op_attr(op, "clamp");
  if (c) {
    if (c->kind != DY_ATTR_INTS || c->n != 2 || c->ints[0] > c->ints[1] ||
        c->ints[0] < rlo || c->ints[1] > rhi)
      return BAD("'requant' clamp must be [lo, hi] within [%lld, %lld]",
                 (long long)rlo, (long long)rhi);
    p->clamp[0] = c->ints[0];
    p->clamp[1] = c->ints[1];
  }
  return 0;
}

void dy_requant_set(DyGraph *g, DyOp *op, const DyRequantParams *p) {
  static const char *const known[] = {"multiplier", "shift", "scale",
                                      "rounding",   "axis",  "input_zp",
                                      "output_zp",  "clamp", NULL};
  for (int i = 0; known[i]; i++)
    dy_op_remove_attr(op, known[i]);
  if (p->is_float) {
    dy_op_set_floats(g, op, "scale", p->n, p->scale);
    dy_op_set_str(g, op, "rounding", "float");
  } else {
    dy_op_set_ints(g, op, "multiplier", p->n, p->multiplier);
    dy_op_set_ints(g, op, "shift", p->n, p->shift);
    if (p->rounding != DY_ROUND_TFLITE_DOUBLE)
      dy_op_set_str(g, op, "rounding", dy_rounding_name(p->rounding));
  }
  if (p->n > 1)
    dy_op_set_int(g, op, "axis", p->axis);
  if (p->input_zp)
    dy_op_set_int(g, op, "input_zp", p->input_zp);
  if (p->output_zp)
    dy_op_set_int(g, op, "output_zp", p->output_zp);
  int64_t lo, hi;
  dy_type_int_range(&op->results[0]->type, &lo, &hi);
  if (p->clamp[0] != lo || p->clamp[1] != hi)
    dy_op_set_ints(g, op, "clamp", 2, p->clamp);
}
