/* Attributes: the sorted attribute lists of ops, values and graphs (set,
 * replace, remove, plain reads with a default), and the checked reads:
 * the one place that turns an op's attribute into a value of the
 * expected kind and range, or a diagnostic. The verifier, the geometry
 * of lib/shape.c and the interpreter all read through here, so a message
 * reads the same wherever the problem is found. */
#include "dyad/ir.h"

#include <math.h>
#include <string.h>

/* --- attribute lists --- */

const DyAttr *dy_op_attr(const DyOp *op, const char *name) {
  for (int i = 0; i < op->nattrs; i++)
    if (strcmp(op->attrs[i].name, name) == 0)
      return &op->attrs[i];
  return NULL;
}

void dy_op_remove_attr(DyOp *op, const char *name) {
  for (int i = 0; i < op->nattrs; i++)
    if (strcmp(op->attrs[i].name, name) == 0) {
      memmove(&op->attrs[i], &op->attrs[i + 1],
              (size_t)(op->nattrs - i - 1) * sizeof *op->attrs);
      op->nattrs--;
      return;
    }
}

/* Adds (or replaces) a copy of a in the sorted list *list of *n. */
static void attr_list_add(DyGraph *g, DyAttr **list, int *n, const DyAttr *a) {
  DyAttr c = *a;
  c.name = dy_arena_strdup(g->arena, a->name);
  if (a->s)
    c.s = dy_arena_strdup(g->arena, a->s);
  if (a->kind == DY_ATTR_INTS)
    c.ints = dy_arena_memdup(g->arena, a->ints, (size_t)a->n * sizeof(int64_t));
  if (a->kind == DY_ATTR_FLOATS)
    c.floats =
        dy_arena_memdup(g->arena, a->floats, (size_t)a->n * sizeof(double));
  for (int i = 0; i < *n; i++)
    if (strcmp((*list)[i].name, c.name) == 0) {
      (*list)[i] = c;
      return;
    }
  DyAttr *attrs = dy_arena_alloc(g->arena, (size_t)(*n + 1) * sizeof *attrs);
  int j = 0;
  for (int i = 0; i < *n; i++) {
    if (j == i && strcmp((*list)[i].name, c.name) > 0)
      attrs[j++] = c;
    attrs[j++] = (*list)[i];
  }
  if (j == *n)
    attrs[j] = c;
  *list = attrs;
  (*n)++;
}

void dy_op_add_attr(DyGraph *g, DyOp *op, const DyAttr *a) {
  attr_list_add(g, &op->attrs, &op->nattrs, a);
}

void dy_value_add_attr(DyGraph *g, DyValue *v, const DyAttr *a) {
  attr_list_add(g, &v->attrs, &v->nattrs, a);
}

void dy_graph_add_attr(DyGraph *g, const DyAttr *a) {
  attr_list_add(g, &g->attrs, &g->nattrs, a);
}

void dy_graph_set_str(DyGraph *g, const char *name, const char *v) {
  DyAttr a = {0};
  a.name = name;
  a.kind = DY_ATTR_STR;
  a.s = v;
  dy_graph_add_attr(g, &a);
}

void dy_graph_set_int(DyGraph *g, const char *name, int64_t v) {
  DyAttr a = {0};
  a.name = name;
  a.kind = DY_ATTR_INT;
  a.i = v;
  dy_graph_add_attr(g, &a);
}

const DyAttr *dy_graph_attr(const DyGraph *g, const char *name) {
  for (int i = 0; i < g->nattrs; i++)
    if (strcmp(g->attrs[i].name, name) == 0)
      return &g->attrs[i];
  return NULL;
}

const DyAttr *dy_value_attr(const DyValue *v, const char *name) {
  for (int i = 0; i < v->nattrs; i++)
    if (strcmp(v->attrs[i].name, name) == 0)
      return &v->attrs[i];
  return NULL;
}

void dy_op_set_int(DyGraph *g, DyOp *op, const char *name, int64_t v) {
  DyAttr a = {.name = name, .kind = DY_ATTR_INT, .i = v};
  dy_op_add_attr(g, op, &a);
}

void dy_op_set_float(DyGraph *g, DyOp *op, const char *name, double v) {
  DyAttr a = {.name = name, .kind = DY_ATTR_FLOAT, .f = v};
  dy_op_add_attr(g, op, &a);
}

void dy_op_set_str(DyGraph *g, DyOp *op, const char *name, const char *v) {
  DyAttr a = {.name = name, .kind = DY_ATTR_STR, .s = v};
  dy_op_add_attr(g, op, &a);
}

void dy_op_set_ints(DyGraph *g, DyOp *op, const char *name, int n,
                    const int64_t *v) {
  DyAttr a = {.name = name, .kind = DY_ATTR_INTS, .n = n, .ints = v};
  dy_op_add_attr(g, op, &a);
}

void dy_op_set_floats(DyGraph *g, DyOp *op, const char *name, int n,
                      const double *v) {
  DyAttr a = {.name = name, .kind = DY_ATTR_FLOATS, .n = n, .floats = v};
  dy_op_add_attr(g, op, &a);
}

int64_t dy_op_int(const DyOp *op, const char *name, int64_t dflt) {
  const DyAttr *a = dy_op_attr(op, name);
  return a && a->kind == DY_ATTR_INT ? a->i : dflt;
}

double dy_op_float(const DyOp *op, const char *name, double dflt) {
  const DyAttr *a = dy_op_attr(op, name);
  if (!a)
    return dflt;
  if (a->kind == DY_ATTR_FLOAT)
    return a->f;
  if (a->kind == DY_ATTR_INT)
    return (double)a->i;
  return dflt;
}

const char *dy_op_str(const DyOp *op, const char *name, const char *dflt) {
  const DyAttr *a = dy_op_attr(op, name);
  return a && a->kind == DY_ATTR_STR ? a->s : dflt;
}

int dy_op_ints(const DyOp *op, const char *name, int64_t *out, int max,
               const int64_t *dflt, int ndflt) {
  const DyAttr *a = dy_op_attr(op, name);
  const int64_t *src = dflt;
  int n = ndflt;
  if (a && a->kind == DY_ATTR_INTS) {
    src = a->ints;
    n = a->n;
  }
  for (int i = 0; i < n && i < max; i++)
    out[i] = src[i];
  return n;
}

/* --- checked reads --- */

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
