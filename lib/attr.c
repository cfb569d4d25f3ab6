/* Checked attribute reads: the one place that turns an op's attribute into
 * a value of the expected kind and range, or a diagnostic. The verifier,
 * the geometry of lib/shape.c and the interpreter all read through here,
 * so a message reads the same wherever the problem is found. */
#include "dyad/ir.h"

#include <math.h>
#include <string.h>

#define BAD(...) (dy_error(d, op->loc, __VA_ARGS__), 1)

int dy_attr_read_int(const DyOp *op, const char *name, int64_t dflt, int64_t lo,
                     int64_t hi, int64_t *out, DyDiag *d) {
  const DyAttr *a = dy_op_attr(op, name);
  *out = dflt;
  if (!a)
    return 0;
  if (a->kind != DY_ATTR_INT)
    return BAD("'%s' attribute '%s' must be an integer", dy_op_name(op->kind),
               name);
  if (a->i < lo || a->i > hi)
    return BAD("'%s' attribute '%s' must be in [%lld, %lld], got %lld",
               dy_op_name(op->kind), name, (long long)lo, (long long)hi,
               (long long)a->i);
  *out = a->i;
  return 0;
}

int dy_attr_read_ints(const DyOp *op, const char *name, int n,
                      const int64_t *dflt, int64_t lo, int64_t *out,
                      DyDiag *d) {
  const DyAttr *a = dy_op_attr(op, name);
  if (!a) {
    if (!dflt)
      return BAD("'%s' requires the attribute '%s'", dy_op_name(op->kind),
                 name);
    memcpy(out, dflt, (size_t)n * sizeof *out);
    return 0;
  }
  if (a->kind != DY_ATTR_INTS)
    return BAD("'%s' attribute '%s' must be a list of integers",
               dy_op_name(op->kind), name);
  if (a->n != n)
    return BAD("'%s' attribute '%s' must have %d values, got %d",
               dy_op_name(op->kind), name, n, a->n);
  for (int i = 0; i < n; i++) {
    if (a->ints[i] < lo)
      return BAD("'%s' attribute '%s' must be >= %lld, got %lld",
                 dy_op_name(op->kind), name, (long long)lo,
                 (long long)a->ints[i]);
    out[i] = a->ints[i];
  }
  return 0;
}

int dy_attr_read_float(const DyOp *op, const char *name, double dflt,
                       double *out, DyDiag *d) {
  const DyAttr *a = dy_op_attr(op, name);
  *out = dflt;
  if (!a)
    return 0;
  if (a->kind == DY_ATTR_INT)
    *out = (double)a->i;
  else if (a->kind == DY_ATTR_FLOAT)
    *out = a->f;
  else
    return BAD("'%s' attribute '%s' must be a number", dy_op_name(op->kind),
               name);
  if (isnan(*out))
    return BAD("'%s' attribute '%s' must not be nan", dy_op_name(op->kind),
               name);
  return 0;
}

int dy_attr_read_enum(const DyOp *op, const char *name,
                      const char *const *allowed, const char *dflt,
                      const char **out, DyDiag *d) {
  const DyAttr *a = dy_op_attr(op, name);
  *out = dflt;
  if (!a)
    return 0;
  if (a->kind != DY_ATTR_STR)
    return BAD("'%s' attribute '%s' must be a string", dy_op_name(op->kind),
               name);
  for (int i = 0; allowed[i]; i++)
    if (strcmp(a->s, allowed[i]) == 0) {
      *out = allowed[i];
      return 0;
    }
  char list[256] = "";
  for (int i = 0; allowed[i]; i++) {
    strncat(list, i ? ", " : "", sizeof list - strlen(list) - 1);
    strncat(list, allowed[i], sizeof list - strlen(list) - 1);
  }
  return BAD("'%s' attribute '%s' must be one of %s, got \"%s\"",
             dy_op_name(op->kind), name, list, a->s);
}
