/* The ONNX node being imported: the value table, its inputs and outputs,
 * and its attributes, each read checked. */
#include <string.h>

#include "import_internal.h"

/* --- value table --- */

static uint64_t hash_name(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

static Val **slot(Imp *m, const char *name) {
  size_t i = hash_name(name) & (m->cap - 1);
  while (m->tab[i] && strcmp(m->tab[i]->name, name) != 0)
    i = (i + 1) & (m->cap - 1);
  return &m->tab[i];
}

Val *dy_onnx_lookup(Imp *m, const char *name) {
  if (!m->cap || !name)
    return NULL;
  return *slot(m, name);
}

Val *dy_onnx_new_val(Imp *m, const char *name) {
  if ((m->count + 1) * 2 > m->cap) {
    size_t oldcap = m->cap;
    Val **old = m->tab;
    m->cap = oldcap ? oldcap * 2 : 256;
    m->tab = dy_arena_alloc(m->scratch, m->cap * sizeof *m->tab);
    for (size_t i = 0; i < oldcap; i++)
      if (old[i])
        *slot(m, old[i]->name) = old[i];
  }
  Val **s = slot(m, name);
  if (*s)
    dy_onnx_invalid(m, "value '%s' is defined twice", name);
  Val *v = dy_arena_alloc(m->scratch, sizeof *v);
  v->name = dy_arena_strdup(m->scratch, name);
  *s = v;
  m->count++;
  return v;
}

/* --- node access --- */

int dy_onnx_nin(const Onnx__NodeProto *n) {
  /* trailing empty names are absent optional inputs */
  int k = (int)n->n_input;
  while (k > 0 && (!n->input[k - 1] || !n->input[k - 1][0]))
    k--;
  return k;
}

Val *dy_onnx_in(Imp *m, int i) {
  const Onnx__NodeProto *n = m->node;
  if (i >= (int)n->n_input || !n->input[i] || !n->input[i][0])
    return NULL;
  Val *v = dy_onnx_lookup(m, n->input[i]);
  if (!v)
    dy_onnx_invalid(
        m,
        "input '%s' is not defined before this node (graphs must be "
        "acyclic and topologically sorted)",
        n->input[i]);
  return v;
}

Val *dy_onnx_req(Imp *m, int i) {
  Val *v = dy_onnx_in(m, i);
  if (!v)
    dy_onnx_invalid(m, "missing required input %d", i);
  return v;
}

Val *dy_onnx_out_val(Imp *m, int i) {
  const Onnx__NodeProto *n = m->node;
  if (i >= (int)n->n_output || !n->output[i] || !n->output[i][0])
    dy_onnx_invalid(m, "missing output %d", i);
  return dy_onnx_new_val(m, n->output[i]);
}

/* Defines output i as the IR value v (logical shape given by ref). */
Val *dy_onnx_def(Imp *m, int i, DyValue *v, int is_nhwc, int dtype, int rank,
                 const int64_t *dims) {
  Val *o = dy_onnx_out_val(m, i);
  o->v = v;
  o->nhwc = is_nhwc;
  o->dtype = dtype;
  o->rank = rank;
  if (rank) /* dims may be NULL for a scalar */
    memcpy(o->dims, dims, (size_t)rank * sizeof *dims);
  return o;
}

Val *dy_onnx_def_host(Imp *m, int i, Host *h) {
  Val *o = dy_onnx_out_val(m, i);
  o->k = h;
  o->dtype = h->dtype;
  o->rank = h->rank;
  memcpy(o->dims, h->dims, (size_t)h->rank * sizeof *h->dims);
  return o;
}

const Onnx__AttributeProto *dy_onnx_attr(Imp *m, const char *name) {
  for (size_t i = 0; i < m->node->n_attribute; i++)
    if (m->node->attribute[i]->name &&
        strcmp(m->node->attribute[i]->name, name) == 0)
      return m->node->attribute[i];
  return NULL;
}

/* Fails unless every attribute of the node is in `known` (NULL-ended). */
void dy_onnx_check_attrs(Imp *m, const char *const *known) {
  for (size_t i = 0; i < m->node->n_attribute; i++) {
    const char *a =
        m->node->attribute[i]->name ? m->node->attribute[i]->name : "";
    int ok = 0;
    for (int k = 0; known[k]; k++)
      ok |= strcmp(a, known[k]) == 0;
    if (!ok)
      dy_onnx_unsupported(m, "unsupported attribute '%s'", a);
  }
}

int64_t dy_onnx_attr_i(Imp *m, const char *name, int64_t dflt) {
  const Onnx__AttributeProto *a = dy_onnx_attr(m, name);
  if (!a)
    return dflt;
  if (a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT)
    dy_onnx_invalid(m, "attribute '%s' must be an integer", name);
  return a->i;
}

float dy_onnx_attr_f(Imp *m, const char *name, float dflt) {
  const Onnx__AttributeProto *a = dy_onnx_attr(m, name);
  if (!a)
    return dflt;
  if (a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT)
    dy_onnx_invalid(m, "attribute '%s' must be a float", name);
  return a->f;
}

/* Copies an ints attribute; returns its length or -1 when absent. */
int dy_onnx_attr_ints(Imp *m, const char *name, int64_t *out, int max) {
  const Onnx__AttributeProto *a = dy_onnx_attr(m, name);
  if (!a)
    return -1;
  if (a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS)
    dy_onnx_invalid(m, "attribute '%s' must be a list of integers", name);
  if (a->n_ints > (size_t)max)
    dy_onnx_invalid(m, "attribute '%s' has %zu values, at most %d expected",
                    name, a->n_ints, max);
  if (a->n_ints) /* ints is NULL when empty */
    memcpy(out, a->ints, a->n_ints * sizeof *out);
  return (int)a->n_ints;
}

/* Copies a string attribute into buf; returns 0 when absent. */
int dy_onnx_attr_s(Imp *m, const char *name, char *buf, size_t n) {
  const Onnx__AttributeProto *a = dy_onnx_attr(m, name);
  if (!a)
    return 0;
  if (a->type != ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING)
    dy_onnx_invalid(m, "attribute '%s' must be a string", name);
  size_t len = a->s.len < n - 1 ? a->s.len : n - 1;
  if (len) /* s.data is NULL when the string is absent */
    memcpy(buf, a->s.data, len);
  buf[len] = 0;
  return 1;
}

/* A constant input as host data, or fail. */
Host *dy_onnx_const_in(Imp *m, int i, const char *what) {
  Val *v = dy_onnx_req(m, i);
  if (!v->k && v->given)
    return v->given;
  if (!v->k)
    dy_onnx_unsupported(m, "%s (input %d, '%s') must be a constant", what, i,
                        v->name);
  return v->k;
}

int dy_onnx_norm_axis(Imp *m, int64_t axis, int rank) {
  if (axis < -rank || axis >= rank)
    dy_onnx_invalid(m, "axis %lld out of range for rank %d", (long long)axis,
                    rank);
  return (int)(axis < 0 ? axis + rank : axis);
}
