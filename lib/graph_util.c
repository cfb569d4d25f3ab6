/* Whole-graph utilities: numbering and last uses (for liveness), clone
 * (sharing constant data) and structural equality. */
#include "dyad/ir.h"
#include "ir_internal.h"

#include <stdlib.h>
#include <string.h>

/* --- numbering --- */

int dy_graph_number(DyGraph *g) {
  int nv = 0, no = 0;
  for (int i = 0; i < g->ninputs; i++)
    g->inputs[i]->id = nv++;
  for (DyOp *op = g->first; op; op = op->next) {
    op->id = no++;
    for (int i = 0; i < op->nresults; i++)
      op->results[i]->id = nv++;
  }
  return nv;
}

void dy_graph_last_uses(const DyGraph *g, int *last_use) {
  int nv = g->ninputs;
  for (const DyOp *op = g->first; op; op = op->next)
    nv += op->nresults;
  for (int i = 0; i < nv; i++)
    last_use[i] = -1;
  for (const DyOp *op = g->first; op; op = op->next)
    for (int i = 0; i < op->noperands; i++)
      last_use[op->operands[i]->id] = op->id;
  for (int i = 0; i < g->noutputs; i++)
    last_use[g->outputs[i]->id] = g->nops;
}

/* --- clone and equality --- */

/* Maps old values to new ones by a linear search over a parallel array;
 * graphs are small enough that clone stays cheap. */
typedef struct ValueMap {
  const DyValue **from;
  DyValue **to;
  size_t n, cap;
} ValueMap;

static void vmap_put(ValueMap *m, const DyValue *a, DyValue *b) {
  if (m->n == m->cap) {
    m->cap = m->cap ? m->cap * 2 : 64;
    m->from = realloc(m->from, m->cap * sizeof *m->from);
    m->to = realloc(m->to, m->cap * sizeof *m->to);
    DY_ASSERT(m->from && m->to);
  }
  m->from[m->n] = a;
  m->to[m->n++] = b;
}

static DyValue *vmap_get(const ValueMap *m, const DyValue *a) {
  for (size_t i = m->n; i-- > 0;)
    if (m->from[i] == a)
      return m->to[i];
  return NULL;
}

static DyType clone_type(DyGraph *g, DyType t) {
  if (t.quant)
    t.quant = dy_quant_create(g, t.quant);
  return t;
}

DyGraph *dy_graph_clone(const DyGraph *src) {
  DyGraph *g = dy_graph_create(src->name);
  ValueMap m = {0};
  g->loc = src->loc;
  if (src->base_dir)
    g->base_dir = dy_arena_strdup(g->arena, src->base_dir);
  for (int i = 0; i < src->nattrs; i++)
    dy_graph_add_attr(g, &src->attrs[i]);
  for (int i = 0; i < src->ninputs; i++) {
    DyValue *in = dy_graph_add_input(g, src->inputs[i]->name,
                                     clone_type(g, src->inputs[i]->type));
    for (int k = 0; k < src->inputs[i]->nattrs; k++)
      dy_value_add_attr(g, in, &src->inputs[i]->attrs[k]);
    vmap_put(&m, src->inputs[i], in);
  }
  for (const DyOp *op = src->first; op; op = op->next) {
    DyValue **ops = dy_arena_alloc(
        g->arena, (size_t)(op->noperands ? op->noperands : 1) * sizeof *ops);
    for (int i = 0; i < op->noperands; i++)
      ops[i] = vmap_get(&m, op->operands[i]);
    DyType *types =
        dy_arena_alloc(g->arena, (size_t)op->nresults * sizeof *types);
    const char **names =
        dy_arena_alloc(g->arena, (size_t)op->nresults * sizeof *names);
    for (int i = 0; i < op->nresults; i++) {
      types[i] = clone_type(g, op->results[i]->type);
      names[i] = op->results[i]->name;
    }
    DyOp *c = dy_op_create(g, op->kind, op->noperands, ops, op->nresults, types,
                           names);
    c->loc = op->loc;
    for (int i = 0; i < op->nattrs; i++)
      dy_op_add_attr(g, c, &op->attrs[i]);
    for (int i = 0; i < op->nresults; i++)
      for (int k = 0; k < op->results[i]->nattrs; k++)
        dy_value_add_attr(g, c->results[i], &op->results[i]->attrs[k]);
    if (op->data) {
      c->data = dy_arena_alloc(g->arena, sizeof *c->data);
      *c->data = *op->data;
      /* constant data is immutable: the clone shares it (or, out of
       * memory for the reference, copies it into its arena) */
      DyBlob *b = op->data->blob;
      if (b && dy_graph_share_blob(g, b))
        b = NULL;
      c->data->blob = b;
      if (!b)
        c->data->data =
            dy_arena_memdup(g->arena, op->data->data, op->data->nbytes);
      if (op->data->path)
        c->data->path = dy_arena_strdup(g->arena, op->data->path);
    }
    dy_graph_insert(g, c, NULL);
    for (int i = 0; i < op->nresults; i++)
      vmap_put(&m, op->results[i], c->results[i]);
  }
  DyValue **outs = dy_arena_alloc(
      g->arena, (size_t)(src->noutputs ? src->noutputs : 1) * sizeof *outs);
  for (int i = 0; i < src->noutputs; i++)
    outs[i] = vmap_get(&m, src->outputs[i]);
  dy_graph_set_outputs(g, src->noutputs, outs);
  free(m.from);
  free(m.to);
  return g;
}

static int attr_equal(const DyAttr *a, const DyAttr *b) {
  if (strcmp(a->name, b->name) != 0 || a->kind != b->kind)
    return 0;
  switch (a->kind) {
  case DY_ATTR_INT:
    return a->i == b->i;
  case DY_ATTR_FLOAT:
    return memcmp(&a->f, &b->f, sizeof a->f) == 0;
  case DY_ATTR_STR:
    return strcmp(a->s, b->s) == 0;
  case DY_ATTR_INTS:
    return a->n == b->n &&
           (a->n == 0 || memcmp(a->ints, b->ints, (size_t)a->n * 8) == 0);
  case DY_ATTR_FLOATS:
    return a->n == b->n &&
           (a->n == 0 || memcmp(a->floats, b->floats, (size_t)a->n * 8) == 0);
  }
  return 0;
}

static int attrs_equal(int na, const DyAttr *a, int nb, const DyAttr *b) {
  if (na != nb)
    return 0;
  for (int i = 0; i < na; i++)
    if (!attr_equal(&a[i], &b[i]))
      return 0;
  return 1;
}

static int value_equal(const DyValue *a, const DyValue *b) {
  return strcmp(a->name, b->name) == 0 && dy_type_equal(&a->type, &b->type) &&
         attrs_equal(a->nattrs, a->attrs, b->nattrs, b->attrs);
}

int dy_graph_equal(const DyGraph *a, const DyGraph *b) {
  if (strcmp(a->name, b->name) != 0 || a->ninputs != b->ninputs ||
      a->noutputs != b->noutputs || a->nops != b->nops ||
      !attrs_equal(a->nattrs, a->attrs, b->nattrs, b->attrs))
    return 0;
  for (int i = 0; i < a->ninputs; i++) {
    if (!value_equal(a->inputs[i], b->inputs[i]) ||
        a->inputs[i]->nattrs != b->inputs[i]->nattrs)
      return 0;
    for (int k = 0; k < a->inputs[i]->nattrs; k++)
      if (!attr_equal(&a->inputs[i]->attrs[k], &b->inputs[i]->attrs[k]))
        return 0;
  }
  for (int i = 0; i < a->noutputs; i++)
    if (strcmp(a->outputs[i]->name, b->outputs[i]->name) != 0)
      return 0;
  const DyOp *x = a->first, *y = b->first;
  for (; x && y; x = x->next, y = y->next) {
    if (x->kind != y->kind || x->noperands != y->noperands ||
        x->nresults != y->nresults || x->nattrs != y->nattrs)
      return 0;
    for (int i = 0; i < x->noperands; i++)
      if (strcmp(x->operands[i]->name, y->operands[i]->name) != 0)
        return 0;
    for (int i = 0; i < x->nresults; i++)
      if (!value_equal(x->results[i], y->results[i]))
        return 0;
    for (int i = 0; i < x->nattrs; i++)
      if (!attr_equal(&x->attrs[i], &y->attrs[i]))
        return 0;
    if (!x->data != !y->data)
      return 0;
    if (x->data && (x->data->nbytes != y->data->nbytes ||
                    memcmp(x->data->data, y->data->data, x->data->nbytes)))
      return 0;
  }
  return !x && !y;
}
