/* IR core: element types, tensor types, the op table, names, graphs,
 * constant-data buffers, builders, uses and dead ops. Attribute lists are
 * in lib/attr.c; clone, equality and numbering in lib/graph_util.c. */
#include "dyad/ir.h"
#include "ir_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* --- element types --- */

static const struct {
  const char *name;
  size_t size;
  int64_t lo, hi;
} elem_info[DY_ELEM_COUNT] = {
    [DY_F32] = {"f32", 4, 0, 0},
    [DY_I32] = {"i32", 4, INT32_MIN, INT32_MAX},
    [DY_I16] = {"i16", 2, INT16_MIN, INT16_MAX},
    [DY_I8] = {"i8", 1, -128, 127},
    [DY_U8] = {"u8", 1, 0, 255},
    [DY_I4] = {"i4", 1, -8, 7},
    [DY_U4] = {"u4", 1, 0, 15},
    [DY_I2] = {"i2", 1, -2, 1},
    [DY_U2] = {"u2", 1, 0, 3},
    [DY_I1] = {"i1", 1, -1, 1},
    [DY_TERNARY] = {"ternary", 1, -1, 1},
};

const char *dy_elem_name(DyElemType t) {
  return (unsigned)t < DY_ELEM_COUNT ? elem_info[t].name : "?";
}

int dy_elem_from_name(const char *s, size_t n, DyElemType *out) {
  for (int i = 0; i < DY_ELEM_COUNT; i++)
    if (strlen(elem_info[i].name) == n &&
        memcmp(elem_info[i].name, s, n) == 0) {
      *out = (DyElemType)i;
      return 1;
    }
  return 0;
}

size_t dy_elem_size(DyElemType t) { return elem_info[t].size; }
int dy_elem_is_int(DyElemType t) { return t != DY_F32; }

int64_t dy_load_int(const void *data, DyElemType e, int64_t i) {
  const unsigned char *p = data;
  switch (e) {
  case DY_I32: {
    int32_t v;
    memcpy(&v, p + 4 * (size_t)i, 4);
    return v;
  }
  case DY_I16: {
    int16_t v;
    memcpy(&v, p + 2 * (size_t)i, 2);
    return v;
  }
  case DY_U8:
  case DY_U4:
  case DY_U2:
    return p[i];
  case DY_I8:
  case DY_I4:
  case DY_I2:
  case DY_I1:
  case DY_TERNARY: {
    int8_t v;
    memcpy(&v, p + i, 1);
    return v;
  }
  default:
    return 0;
  }
}

void dy_store_int(void *data, DyElemType e, int64_t i, int64_t v) {
  unsigned char *p = data;
  switch (e) {
  case DY_I32: {
    int32_t x = (int32_t)v;
    memcpy(p + 4 * (size_t)i, &x, 4);
    break;
  }
  case DY_I16: {
    int16_t x = (int16_t)v;
    memcpy(p + 2 * (size_t)i, &x, 2);
    break;
  }
  case DY_U8:
  case DY_U4:
  case DY_U2:
    p[i] = (unsigned char)v;
    break;
  default: {
    int8_t x = (int8_t)v;
    memcpy(p + i, &x, 1);
    break;
  }
  }
}

void dy_elem_range(DyElemType t, int64_t *lo, int64_t *hi) {
  *lo = elem_info[t].lo;
  *hi = elem_info[t].hi;
}

void dy_type_int_range(const DyType *t, int64_t *lo, int64_t *hi) {
  if (t->quant) {
    *lo = t->quant->qmin;
    *hi = t->quant->qmax;
  } else {
    dy_elem_range(t->elem, lo, hi);
  }
}

/* --- types --- */

int64_t dy_type_numel(const DyType *t) {
  int64_t n = 1;
  for (int i = 0; i < t->rank; i++) {
    if (t->dims[i] < 0)
      return -1;
    if (t->dims[i] != 0 && n > INT64_MAX / t->dims[i])
      return -1;
    n *= t->dims[i];
  }
  return n;
}

size_t dy_type_nbytes(const DyType *t, int *overflow) {
  int64_t n = dy_type_numel(t);
  size_t bytes;
  if (n < 0 || (uint64_t)n > SIZE_MAX ||
      dy_mul_overflow((size_t)n, dy_elem_size(t->elem), &bytes)) {
    *overflow = 1;
    return 0;
  }
  *overflow = 0;
  return bytes;
}

DyType dy_type_make(DyElemType e, int rank, const int64_t *dims) {
  DyType t;
  memset(&t, 0, sizeof t);
  t.elem = e;
  t.rank = rank;
  for (int i = 0; i < rank; i++)
    t.dims[i] = dims[i];
  return t;
}

int dy_shape_equal(const DyType *a, const DyType *b) {
  if (a->rank != b->rank)
    return 0;
  for (int i = 0; i < a->rank; i++)
    if (a->dims[i] != b->dims[i])
      return 0;
  return 1;
}

int dy_quant_equal(const DyQuant *a, const DyQuant *b) {
  if (a == b)
    return 1;
  if (!a || !b)
    return 0;
  if (a->kind != b->kind || a->storage != b->storage || a->qmin != b->qmin ||
      a->qmax != b->qmax || a->nparams != b->nparams)
    return 0;
  if (a->kind == DY_QUANT_PER_AXIS && a->axis != b->axis)
    return 0;
  if (a->kind == DY_QUANT_BLOCKED &&
      memcmp(a->block, b->block, sizeof a->block) != 0)
    return 0;
  for (int64_t i = 0; i < a->nparams; i++)
    if (memcmp(&a->scales[i], &b->scales[i], sizeof(double)) != 0 ||
        a->zero_points[i] != b->zero_points[i])
      return 0;
  return 1;
}

int dy_type_equal(const DyType *a, const DyType *b) {
  return a->elem == b->elem && dy_shape_equal(a, b) &&
         dy_quant_equal(a->quant, b->quant);
}

void dy_quant_block_shape(const DyQuant *q, const DyType *t, int64_t *out) {
  for (int i = 0; i < t->rank; i++)
    out[i] = q->block[i] > 0 ? t->dims[i] / q->block[i] : 1;
}

const DyQuant *dy_quant_create(DyGraph *g, const DyQuant *q) {
  DyQuant *c = dy_arena_alloc(g->arena, sizeof *c);
  *c = *q;
  c->scales =
      dy_arena_memdup(g->arena, q->scales, (size_t)q->nparams * sizeof(double));
  c->zero_points = dy_arena_memdup(g->arena, q->zero_points,
                                   (size_t)q->nparams * sizeof(int64_t));
  return c;
}

/* --- op table --- */

static const struct {
  const char *name;
  int min_operands, max_operands, nresults;
  unsigned traits;
} op_info[DY_OP_COUNT] = {
#define DY_OP(E, N, MINO, MAXO, NR, TRAITS)                                    \
  [DY_OP_##E] = {N, MINO, MAXO, NR, TRAITS},
#include "dyad/ops.def"
#undef DY_OP
};

const char *dy_op_name(DyOpKind k) {
  return (unsigned)k < DY_OP_COUNT ? op_info[k].name : "?";
}

int dy_op_from_name(const char *s, size_t n, DyOpKind *out) {
  for (int i = 0; i < DY_OP_COUNT; i++)
    if (strlen(op_info[i].name) == n && memcmp(op_info[i].name, s, n) == 0) {
      *out = (DyOpKind)i;
      return 1;
    }
  return 0;
}

void dy_op_arity(DyOpKind k, int *min_operands, int *max_operands,
                 int *nresults) {
  *min_operands = op_info[k].min_operands;
  *max_operands = op_info[k].max_operands;
  *nresults = op_info[k].nresults;
}

int dy_op_has_traits(DyOpKind k, unsigned traits) {
  return (unsigned)k < DY_OP_COUNT && (op_info[k].traits & traits) == traits;
}

int dy_value_is_const(const DyValue *v) {
  return v && v->def && v->def->kind == DY_OP_CONST;
}

/* --- name set: open addressing over arena-owned strings --- */

struct DyNameSet {
  size_t cap, count;
  const char **slots;
};

static uint64_t hash_str(const char *s) {
  uint64_t h = 1469598103934665603ull; /* FNV-1a */
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

/* Marks a deleted slot: probing continues past it. */
static const char name_tombstone[] = "";

static const char **name_slot(DyNameSet *ns, const char *name) {
  size_t i = hash_str(name) & (ns->cap - 1);
  size_t tomb = SIZE_MAX;
  for (;;) {
    const char *s = ns->slots[i];
    if (!s)
      return tomb != SIZE_MAX ? &ns->slots[tomb] : &ns->slots[i];
    if (s == name_tombstone) {
      if (tomb == SIZE_MAX)
        tomb = i;
    } else if (strcmp(s, name) == 0) {
      return &ns->slots[i];
    }
    i = (i + 1) & (ns->cap - 1);
  }
}

static void names_grow(DyNameSet *ns) {
  size_t oldcap = ns->cap;
  const char **old = ns->slots;
  ns->cap = oldcap ? oldcap * 2 : 64;
  ns->slots = calloc(ns->cap, sizeof *ns->slots);
  if (!ns->slots)
    dy_assert_fail("out of memory", __FILE__, __LINE__);
  ns->count = 0;
  for (size_t i = 0; i < oldcap; i++)
    if (old[i] && old[i] != name_tombstone) {
      *name_slot(ns, old[i]) = old[i];
      ns->count++;
    }
  free(old);
}

static int names_contains(DyNameSet *ns, const char *name) {
  if (!ns->cap)
    return 0;
  const char **s = name_slot(ns, name);
  return *s && *s != name_tombstone;
}

int dy_graph_claim_name(DyGraph *g, const char *name) {
  DyNameSet *ns = g->names;
  if (names_contains(ns, name))
    return 0;
  if ((ns->count + 1) * 2 > ns->cap)
    names_grow(ns);
  const char **s = name_slot(ns, name);
  *s = dy_arena_strdup(g->arena, name);
  ns->count++;
  return 1;
}

void dy_graph_release_name(DyGraph *g, const char *name) {
  DyNameSet *ns = g->names;
  if (!names_contains(ns, name))
    return;
  *name_slot(ns, name) = name_tombstone;
}

const char *dy_graph_unique_name(DyGraph *g, const char *base) {
  if (!base || !base[0])
    base = "v";
  if (dy_graph_claim_name(g, base))
    return dy_arena_strdup(g->arena, base);
  size_t n = strlen(base) + 24;
  char *buf = dy_arena_alloc(g->arena, n);
  for (unsigned long i = 1;; i++) {
    snprintf(buf, n, "%s_%lu", base, i);
    if (dy_graph_claim_name(g, buf))
      return buf;
  }
}

/* --- graphs --- */

DyGraph *dy_graph_create(const char *name) {
  DyArena *a = dy_arena_create();
  DyGraph *g = dy_arena_alloc(a, sizeof *g);
  g->arena = a;
  g->name = dy_arena_strdup(a, name ? name : "main");
  g->names = dy_arena_alloc(a, sizeof *g->names);
  return g;
}

/* A reference-counted buffer of constant data, shared by the graphs that
 * hold it (a graph and its clones). The count is atomic so that graphs
 * sharing data may be destroyed on different threads. */
struct DyBlob {
  size_t refs;
  size_t size;
  _Alignas(16) unsigned char data[];
};

static void blob_release(DyBlob *b) {
  if (__atomic_sub_fetch(&b->refs, 1, __ATOMIC_ACQ_REL) == 0)
    free(b);
}

/* Records that g holds a reference to b (already counted). */
static int graph_keep_blob(DyGraph *g, DyBlob *b) {
  if (g->nblobs == g->blobs_cap) {
    size_t cap = g->blobs_cap ? 2 * g->blobs_cap : 16;
    DyBlob **nb = realloc(g->blobs, cap * sizeof *nb);
    if (!nb)
      return 1;
    g->blobs = nb;
    g->blobs_cap = cap;
  }
  g->blobs[g->nblobs++] = b;
  return 0;
}

int dy_const_data_alloc(DyGraph *g, DyConstData *cd, size_t n) {
  if (n > SIZE_MAX - sizeof(DyBlob))
    return 1;
  /* at least 16 bytes: room for one element of any type even when the
   * tensor is empty (a splat's parser writes its value once) */
  DyBlob *b = calloc(1, sizeof(DyBlob) + (n < 16 ? 16 : n));
  if (!b)
    return 1;
  b->refs = 1;
  b->size = n;
  if (graph_keep_blob(g, b)) {
    free(b);
    return 1;
  }
  cd->blob = b;
  cd->data = b->data;
  return 0;
}

int dy_graph_share_blob(DyGraph *g, DyBlob *b) {
  __atomic_add_fetch(&b->refs, 1, __ATOMIC_RELAXED);
  if (graph_keep_blob(g, b)) {
    blob_release(b);
    return 1;
  }
  return 0;
}

void dy_graph_destroy(DyGraph *g) {
  if (!g)
    return;
  for (size_t i = 0; i < g->nblobs; i++)
    blob_release(g->blobs[i]);
  free(g->blobs);
  free(g->names->slots);
  dy_arena_destroy(g->arena);
}

static DyValue *new_value(DyGraph *g, const char *name, DyType type) {
  DyValue *v = dy_arena_alloc(g->arena, sizeof *v);
  v->name = dy_graph_unique_name(g, name);
  v->type = type;
  return v;
}

DyValue *dy_graph_add_input(DyGraph *g, const char *name, DyType type) {
  DyValue *v = new_value(g, name, type);
  v->index = g->ninputs;
  /* The array doubles (a copy per input would take memory quadratic in the
   * number of inputs): its capacity is ninputs rounded up to a power of
   * two, so it grows when ninputs is 0 or a power of two. Only this
   * function sets g->inputs. */
  if ((g->ninputs & (g->ninputs - 1)) == 0) {
    size_t cap = g->ninputs ? 2 * (size_t)g->ninputs : 1;
    DyValue **ins = dy_arena_alloc(g->arena, cap * sizeof *ins);
    if (g->ninputs)
      memcpy(ins, g->inputs, (size_t)g->ninputs * sizeof *ins);
    g->inputs = ins;
  }
  g->inputs[g->ninputs++] = v;
  return v;
}

void dy_graph_set_outputs(DyGraph *g, int n, DyValue *const *values) {
  g->outputs = dy_arena_memdup(g->arena, values, (size_t)n * sizeof *values);
  g->noutputs = n;
}

DyOp *dy_op_create(DyGraph *g, DyOpKind kind, int noperands,
                   DyValue *const *operands, int nresults,
                   const DyType *result_types,
                   const char *const *result_names) {
  DyOp *op = dy_arena_alloc(g->arena, sizeof *op);
  op->kind = kind;
  op->noperands = noperands;
  op->operands =
      dy_arena_memdup(g->arena, operands, (size_t)noperands * sizeof *operands);
  op->nresults = nresults;
  op->results =
      dy_arena_alloc(g->arena, (size_t)nresults * sizeof *op->results);
  for (int i = 0; i < nresults; i++) {
    DyValue *v =
        new_value(g, result_names ? result_names[i] : NULL, result_types[i]);
    v->def = op;
    v->index = i;
    op->results[i] = v;
  }
  return op;
}

void dy_graph_insert(DyGraph *g, DyOp *op, DyOp *before) {
  if (!before) {
    op->prev = g->last;
    op->next = NULL;
    if (g->last)
      g->last->next = op;
    else
      g->first = op;
    g->last = op;
  } else {
    op->next = before;
    op->prev = before->prev;
    if (before->prev)
      before->prev->next = op;
    else
      g->first = op;
    before->prev = op;
  }
  g->nops++;
}

void dy_graph_erase(DyGraph *g, DyOp *op) {
  if (op->prev)
    op->prev->next = op->next;
  else
    g->first = op->next;
  if (op->next)
    op->next->prev = op->prev;
  else
    g->last = op->prev;
  op->prev = op->next = NULL;
  g->nops--;
  for (int i = 0; i < op->nresults; i++)
    dy_graph_release_name(g, op->results[i]->name);
}

/* --- builders --- */

DyValue *dy_build_const(DyGraph *g, DyOp *before, const char *name, DyType type,
                        const void *data, DyDataForm form) {
  DyOp *op = dy_op_create(g, DY_OP_CONST, 0, NULL, 1, &type, &name);
  int ovf;
  size_t n = dy_type_nbytes(&type, &ovf);
  DY_ASSERT(!ovf);
  op->data = dy_arena_alloc(g->arena, sizeof *op->data);
  op->data->form = form == DY_FORM_EXTERNAL ? DY_FORM_DENSE : form;
  op->data->nbytes = n;
  if (dy_const_data_alloc(g, op->data, n))
    dy_assert_fail("out of memory for constant data", __FILE__, __LINE__);
  if (n)
    memcpy(op->data->data, data, n);
  dy_graph_insert(g, op, before);
  return op->results[0];
}

DyValue *dy_build_op(DyGraph *g, DyOp *before, DyOpKind kind, int noperands,
                     DyValue *const *operands, DyType result_type,
                     const char *name) {
  DyOp *op = dy_op_create(g, kind, noperands, operands, 1, &result_type, &name);
  dy_graph_insert(g, op, before);
  return op->results[0];
}

/* --- uses --- */

int dy_value_num_uses(const DyGraph *g, const DyValue *v) {
  int n = 0;
  for (const DyOp *op = g->first; op; op = op->next)
    for (int i = 0; i < op->noperands; i++)
      n += op->operands[i] == v;
  for (int i = 0; i < g->noutputs; i++)
    n += g->outputs[i] == v;
  return n;
}

int dy_value_is_output(const DyGraph *g, const DyValue *v) {
  for (int i = 0; i < g->noutputs; i++)
    if (g->outputs[i] == v)
      return 1;
  return 0;
}

DyOp *dy_value_sole_user(const DyGraph *g, const DyValue *v) {
  DyOp *user = NULL;
  for (DyOp *op = g->first; op; op = op->next)
    for (int i = 0; i < op->noperands; i++)
      if (op->operands[i] == v) {
        if (user)
          return NULL;
        user = op;
      }
  return user;
}

void dy_value_replace_all_uses(DyGraph *g, DyValue *from, DyValue *to) {
  for (DyOp *op = g->first; op; op = op->next)
    for (int i = 0; i < op->noperands; i++)
      if (op->operands[i] == from)
        op->operands[i] = to;
  for (int i = 0; i < g->noutputs; i++)
    if (g->outputs[i] == from)
      g->outputs[i] = to;
}

/* --- pointer sets --- */

void dy_ptrset_init(DyPtrSet *s) {
  s->cap = 64;
  s->count = 0;
  s->slots = calloc(s->cap, sizeof *s->slots);
  DY_ASSERT(s->slots);
}

void dy_ptrset_fini(DyPtrSet *s) {
  free(s->slots);
  s->slots = NULL;
}

static size_t ptr_hash(const void *p) {
  uint64_t x = (uint64_t)(uintptr_t)p;
  x ^= x >> 17;
  x *= 0x9E3779B97F4A7C15ull;
  return (size_t)(x ^ (x >> 29));
}

static const void **ptr_slot(const DyPtrSet *s, const void *p) {
  size_t i = ptr_hash(p) & (s->cap - 1);
  while (s->slots[i] && s->slots[i] != p)
    i = (i + 1) & (s->cap - 1);
  return &s->slots[i];
}

void dy_ptrset_add(DyPtrSet *s, const void *p) {
  if ((s->count + 1) * 2 > s->cap) {
    DyPtrSet n = {calloc(s->cap * 2, sizeof *s->slots), s->cap * 2, 0};
    DY_ASSERT(n.slots);
    for (size_t i = 0; i < s->cap; i++)
      if (s->slots[i]) {
        *ptr_slot(&n, s->slots[i]) = s->slots[i];
        n.count++;
      }
    free(s->slots);
    *s = n;
  }
  const void **slot = ptr_slot(s, p);
  if (!*slot) {
    *slot = p;
    s->count++;
  }
}

int dy_ptrset_has(const DyPtrSet *s, const void *p) {
  return *ptr_slot(s, p) != NULL;
}

int dy_graph_remove_dead_ops(DyGraph *g) {
  /* Walk backwards: an op is live if a result is a graph output or an
   * operand of a live op seen later. */
  DyPtrSet live;
  dy_ptrset_init(&live);
  for (int i = 0; i < g->noutputs; i++)
    dy_ptrset_add(&live, g->outputs[i]);
  int erased = 0;
  for (DyOp *op = g->last, *prev; op; op = prev) {
    prev = op->prev;
    int used = 0;
    for (int i = 0; i < op->nresults; i++)
      used |= dy_ptrset_has(&live, op->results[i]);
    if (!used) {
      dy_graph_erase(g, op);
      erased++;
      continue;
    }
    for (int i = 0; i < op->noperands; i++)
      dy_ptrset_add(&live, op->operands[i]);
  }
  dy_ptrset_fini(&live);
  return erased;
}
