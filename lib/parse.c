/* The .dy parser: character-level recursive descent (grammar in docs/ir.md).
 *
 * Every error reads `file:line:col: error: message` and stops the parse: the
 * parser longjmps back to dy_parse_graph, which frees what was built. All
 * allocations go to the graph's arena or to the value table freed there.
 *
 * This file: the value table, types, attributes, ops, the graph and the entry
 * points. The lexer is parse_lex.c, constant data parse_const.c, the state
 * they share parse_internal.h.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse_internal.h"

/* --- value table --- */

static uint64_t hash_name(const char *s) {
  uint64_t h = 1469598103934665603ull;
  for (; *s; s++)
    h = (h ^ (unsigned char)*s) * 1099511628211ull;
  return h;
}

static Entry *tab_find(Parser *p, const char *name) {
  size_t i = hash_name(name) & (p->tab_cap - 1);
  while (p->tab[i].name && strcmp(p->tab[i].name, name) != 0)
    i = (i + 1) & (p->tab_cap - 1);
  return &p->tab[i];
}

static void define(Parser *p, DyLoc loc, const char *name, DyValue *v) {
  if ((p->tab_count + 1) * 2 > p->tab_cap) {
    Entry *old = p->tab;
    size_t oldcap = p->tab_cap;
    p->tab_cap = oldcap ? oldcap * 2 : 64;
    p->tab = calloc(p->tab_cap, sizeof *p->tab);
    if (!p->tab) {
      p->tab = old;
      p->tab_cap = oldcap;
      dy_parse_fail_at(p, loc, "out of memory");
    }
    for (size_t i = 0; i < oldcap; i++)
      if (old[i].name)
        *tab_find(p, old[i].name) = old[i];
    free(old);
  }
  Entry *e = tab_find(p, name);
  if (e->name)
    dy_parse_fail_at(p, loc, "redefinition of value '%%%s'", name);
  e->name = name;
  e->value = v;
  p->tab_count++;
}

static DyValue *use(Parser *p) {
  dy_parse_skip_ws(p);
  DyLoc loc = here(p);
  const char *name = dy_parse_sigil_name(p, '%', "a value (%name)");
  Entry *e = p->tab_cap ? tab_find(p, name) : NULL;
  if (!e || !e->name)
    dy_parse_fail_at(p, loc, "use of undefined value '%%%s'", name);
  return e->value;
}

/* --- types --- */

static DyElemType parse_storage(Parser *p) {
  DyLoc loc = here(p);
  const char *w;
  size_t n = dy_parse_word(p, &w);
  DyElemType e;
  if (!n || !dy_elem_from_name(w, n, &e))
    dy_parse_fail_at(p, loc, "unknown element type '%.*s'", (int)n, w);
  return e;
}

/* Parses a quant parameter `scale[:zp]`. */
static void parse_param(Parser *p, double *scale, int64_t *zp) {
  *scale = dy_parse_float(p);
  *zp = 0;
  if (dy_parse_accept(p, ':'))
    *zp = dy_parse_int(p, "a zero point");
}

/* Parses `{...}` nested to depth rank - k, counting params per level. */
static void parse_param_nest(Parser *p, const int64_t *shape, int rank, int k,
                             double *scales, int64_t *zps, int64_t *count) {
  DyLoc loc = here(p);
  dy_parse_expect(p, '{', "opening the quantization parameters");
  int64_t n = 0;
  if (!dy_parse_accept(p, '}')) {
    do {
      if (n >= shape[k])
        dy_parse_fail_at(p, here(p),
                         "too many quantization parameters: expected %lld",
                         (long long)shape[k]);
      if (k + 1 < rank)
        parse_param_nest(p, shape, rank, k + 1, scales, zps, count);
      else {
        parse_param(p, &scales[*count], &zps[*count]);
        (*count)++;
      }
      n++;
    } while (dy_parse_accept(p, ','));
    dy_parse_expect(p, '}', "closing the quantization parameters");
  }
  if (n != shape[k])
    dy_parse_fail_at(p, loc, "expected %lld quantization parameters, got %lld",
                     (long long)shape[k], (long long)n);
}

/* `!quant.uniform<storage[<lo:hi>]:f32[:axis | :{a:b,...}], params>`, for a
 * tensor whose rank and dims are already known. */
static const DyQuant *parse_quant(Parser *p, const DyType *t) {
  DyLoc loc = here(p);
  advance(p); /* '!' */
  const char *w;
  size_t n = dy_parse_word(p, &w);
  if (!word_is(w, n, "quant.uniform"))
    dy_parse_fail_at(p, loc, "unknown type '!%.*s': expected !quant.uniform",
                     (int)n, w);
  DyQuant q;
  memset(&q, 0, sizeof q);
  dy_parse_expect(p, '<', "after !quant.uniform");
  dy_parse_skip_ws(p);
  loc = here(p);
  q.storage = parse_storage(p);
  if (q.storage == DY_F32)
    dy_parse_fail_at(p, loc, "quantized storage type must be an integer type");
  dy_elem_range(q.storage, &q.qmin, &q.qmax);
  if (dy_parse_accept(p, '<')) {
    DyLoc rl = here(p);
    int64_t lo = dy_parse_int(p, "the storage minimum");
    dy_parse_expect(p, ':', "in the storage range");
    int64_t hi = dy_parse_int(p, "the storage maximum");
    dy_parse_expect(p, '>', "closing the storage range");
    if (lo < q.qmin || hi > q.qmax || lo > hi)
      dy_parse_fail_at(p, rl, "storage range [%lld, %lld] does not fit %s",
                       (long long)lo, (long long)hi, dy_elem_name(q.storage));
    q.qmin = lo;
    q.qmax = hi;
  }
  dy_parse_expect(p, ':', "before the expressed type");
  dy_parse_skip_ws(p);
  loc = here(p);
  n = dy_parse_word(p, &w);
  if (!word_is(w, n, "f32"))
    dy_parse_fail_at(p, loc, "expressed type must be f32, got '%.*s'", (int)n,
                     w);
  int64_t shape[DY_MAX_RANK];
  int srank = 1;
  shape[0] = 1;
  q.kind = DY_QUANT_PER_TENSOR;
  if (dy_parse_accept(p, ':')) {
    dy_parse_skip_ws(p);
    loc = here(p);
    if (dy_parse_accept(p, '{')) {
      q.kind = DY_QUANT_BLOCKED;
      do {
        DyLoc al = here(p);
        int64_t axis = dy_parse_int(p, "a blocked axis");
        dy_parse_expect(p, ':', "between axis and block size");
        int64_t bs = dy_parse_int(p, "a block size");
        if (axis < 0 || axis >= t->rank)
          dy_parse_fail_at(p, al, "blocked axis %lld out of range for rank %d",
                           (long long)axis, t->rank);
        if (bs <= 0 || t->dims[axis] % bs != 0)
          dy_parse_fail_at(p, al,
                           "block size %lld does not divide dimension %lld",
                           (long long)bs, (long long)t->dims[axis]);
        q.block[axis] = bs;
      } while (dy_parse_accept(p, ','));
      dy_parse_expect(p, '}', "closing the block sizes");
      dy_quant_block_shape(&q, t, shape);
      srank = t->rank;
    } else {
      int64_t axis = dy_parse_int(p, "the quantized axis");
      if (axis < 0 || axis >= t->rank)
        dy_parse_fail_at(p, loc, "quantized axis %lld out of range for rank %d",
                         (long long)axis, t->rank);
      q.kind = DY_QUANT_PER_AXIS;
      q.axis = (int)axis;
      shape[0] = t->dims[axis];
    }
  }
  dy_parse_expect(p, ',', "before the quantization parameters");
  int64_t total = 1;
  for (int i = 0; i < srank; i++)
    total *= shape[i]; /* bounded by the tensor's element count */
  if (total > ((int64_t)1 << 24))
    dy_parse_fail_at(p, loc, "too many quantization parameters (%lld)",
                     (long long)total);
  double *scales = dy_arena_alloc(p->g->arena, (size_t)total * sizeof *scales);
  int64_t *zps = dy_arena_alloc(p->g->arena, (size_t)total * sizeof *zps);
  int64_t count = 0;
  dy_parse_skip_ws(p);
  if (q.kind == DY_QUANT_PER_TENSOR)
    parse_param(p, &scales[count++], &zps[0]);
  else
    parse_param_nest(p, shape, srank, 0, scales, zps, &count);
  DY_ASSERT(count == total);
  q.nparams = total;
  q.scales = scales;
  q.zero_points = zps;
  dy_parse_expect(p, '>', "closing !quant.uniform");
  return dy_quant_create(p->g, &q);
}

static DyType parse_type(Parser *p) {
  dy_parse_skip_ws(p);
  DyLoc loc = here(p);
  dy_parse_expect_word(p, "tensor");
  dy_parse_expect(p, '<', "after 'tensor'");
  DyType t;
  memset(&t, 0, sizeof t);
  dy_parse_skip_ws(p);
  /* dims: digits followed by 'x' */
  while (peek(p) >= '0' && peek(p) <= '9') {
    size_t save = p->pos;
    int sl = p->line, sc = p->col;
    DyLoc dl = here(p);
    uint64_t v = 0;
    while (peek(p) >= '0' && peek(p) <= '9') {
      v = v * 10 + (uint64_t)(peek(p) - '0');
      if (v > ((uint64_t)1 << 40))
        dy_parse_fail_at(p, dl, "dimension too large");
      advance(p);
    }
    if (peek(p) != 'x') {
      /* not a dim: a type name cannot start with a digit */
      p->pos = save;
      p->line = sl;
      p->col = sc;
      FAIL(p, "expected 'x' after a dimension");
    }
    advance(p);
    if (t.rank == DY_MAX_RANK)
      dy_parse_fail_at(p, dl, "rank exceeds the maximum of %d", DY_MAX_RANK);
    t.dims[t.rank++] = (int64_t)v;
  }
  if (peek(p) == '?')
    FAIL(p, "dynamic dimensions are not supported");
  if (dy_type_numel(&t) < 0 || dy_type_numel(&t) > ((int64_t)1 << 40))
    dy_parse_fail_at(p, loc, "tensor type has too many elements");
  if (peek(p) == '!') {
    t.quant = parse_quant(p, &t);
    t.elem = t.quant->storage;
  } else {
    t.elem = parse_storage(p);
  }
  dy_parse_expect(p, '>', "closing the tensor type");
  return t;
}

/* --- attributes --- */
static void parse_attr_value(Parser *p, DyAttr *a) {
  dy_parse_skip_ws(p);
  int c = peek(p);
  if (c == '"') {
    a->kind = DY_ATTR_STR;
    a->s = dy_parse_string(p);
    return;
  }
  if (c == '[') {
    /* Elements go to the arena, doubling: at most 2x waste, and nothing to
     * free when an error longjmps out. */
    advance(p);
    size_t cap = 8;
    int64_t *ints = dy_arena_alloc(p->g->arena, cap * sizeof *ints);
    double *fl = dy_arena_alloc(p->g->arena, cap * sizeof *fl);
    int n = 0, any_float = 0;
    dy_parse_skip_ws(p);
    if (peek(p) != ']') {
      do {
        char buf[64];
        DyLoc loc;
        if (n == 4096)
          FAIL(p, "attribute list too long");
        if ((size_t)n == cap) {
          int64_t *ni = dy_arena_alloc(p->g->arena, 2 * cap * sizeof *ni);
          double *nf = dy_arena_alloc(p->g->arena, 2 * cap * sizeof *nf);
          memcpy(ni, ints, cap * sizeof *ni);
          memcpy(nf, fl, cap * sizeof *nf);
          ints = ni;
          fl = nf;
          cap *= 2;
        }
        dy_parse_skip_ws(p);
        int d0 = peek(p);
        if (!((d0 >= '0' && d0 <= '9') || d0 == '-' || d0 == '+' || d0 == 'i' ||
              d0 == 'n' || d0 == '.')) {
          char dbuf[40];
          FAIL(p, "expected a number in the list, got %s",
               dy_parse_next_desc(p, dbuf, sizeof dbuf));
        }
        if (dy_parse_number_token(p, buf, sizeof buf, &loc)) {
          fl[n] = dy_parse_to_double(p, buf, loc);
          any_float = 1;
        } else {
          ints[n] = dy_parse_to_int(p, buf, loc);
          fl[n] = (double)ints[n];
        }
        n++;
      } while (dy_parse_accept(p, ','));
    }
    dy_parse_expect(p, ']', "closing the list");
    a->n = n;
    if (any_float) {
      a->kind = DY_ATTR_FLOATS;
      a->floats = fl;
    } else {
      a->kind = DY_ATTR_INTS;
      a->ints = ints;
    }
    return;
  }
  char buf[64];
  DyLoc loc;
  if (!((c >= '0' && c <= '9') || c == '-' || c == '+' || c == 'i' ||
        c == 'n' || c == '.')) {
    char dbuf[40];
    FAIL(p, "expected an attribute value, got %s",
         dy_parse_next_desc(p, dbuf, sizeof dbuf));
  }
  if (dy_parse_number_token(p, buf, sizeof buf, &loc)) {
    a->kind = DY_ATTR_FLOAT;
    a->f = dy_parse_to_double(p, buf, loc);
  } else {
    a->kind = DY_ATTR_INT;
    a->i = dy_parse_to_int(p, buf, loc);
  }
}

/* Parses `{name = value, ...}` into op's attribute list, sorted by name as
 * dy_op_add_attr keeps it. The list doubles in the arena: adding one
 * attribute at a time with dy_op_add_attr copies the whole list each time,
 * memory quadratic in the number of attributes. */
static void parse_attrs(Parser *p, DyOp *op) {
  if (!dy_parse_accept(p, '{'))
    return;
  if (dy_parse_accept(p, '}'))
    return;
  DyAttr *attrs = NULL;
  int n = 0, cap = 0;
  do {
    dy_parse_skip_ws(p);
    if (n == 256)
      FAIL(p, "too many attributes");
    DyAttr a;
    memset(&a, 0, sizeof a);
    a.loc = here(p);
    size_t start = p->pos;
    while (is_word_char(peek(p)))
      advance(p);
    if (p->pos == start) {
      char buf[40];
      FAIL(p, "expected an attribute name, got %s",
           dy_parse_next_desc(p, buf, sizeof buf));
    }
    a.name = dy_arena_strndup(p->g->arena, p->s + start, p->pos - start);
    int lo = 0, hi = n; /* insertion point: first name above a.name */
    while (lo < hi) {
      int mid = lo + (hi - lo) / 2, c = strcmp(attrs[mid].name, a.name);
      if (c == 0)
        dy_parse_fail_at(p, a.loc, "duplicate attribute '%s'", a.name);
      if (c < 0)
        lo = mid + 1;
      else
        hi = mid;
    }
    dy_parse_expect(p, '=', "after the attribute name");
    parse_attr_value(p, &a);
    if (n == cap) {
      cap = cap ? 2 * cap : 8;
      DyAttr *na = dy_arena_alloc(p->g->arena, (size_t)cap * sizeof *na);
      if (n)
        memcpy(na, attrs, (size_t)n * sizeof *na);
      attrs = na;
    }
    memmove(&attrs[lo + 1], &attrs[lo], (size_t)(n - lo) * sizeof *attrs);
    attrs[lo] = a;
    n++;
  } while (dy_parse_accept(p, ','));
  dy_parse_expect(p, '}', "closing the attributes");
  op->attrs = attrs;
  op->nattrs = n;
}
/* --- ops and graphs --- */

static void parse_op(Parser *p) {
  DyGraph *g = p->g;
  DyLoc loc = here(p);
  const char *names[16];
  DyLoc name_locs[16];
  int nres = 0;
  do {
    dy_parse_skip_ws(p);
    if (nres == 16)
      FAIL(p, "too many results");
    name_locs[nres] = here(p);
    names[nres++] =
        dy_parse_sigil_name(p, '%', "a result name (%name) or 'return'");
  } while (dy_parse_accept(p, ','));
  dy_parse_expect(p, '=', "after the result names");
  dy_parse_skip_ws(p);
  DyLoc oploc = here(p);
  const char *w;
  size_t wn = dy_parse_word(p, &w);
  DyOpKind kind;
  if (!wn) {
    char buf[40];
    dy_parse_fail_at(p, oploc, "expected an op name, got %s",
                     dy_parse_next_desc(p, buf, sizeof buf));
  }
  if (!dy_op_from_name(w, wn, &kind))
    dy_parse_fail_at(p, oploc, "unknown op '%.*s'", (int)wn, w);
  int mino, maxo, nr;
  dy_op_arity(kind, &mino, &maxo, &nr);
  if (nres != nr)
    dy_parse_fail_at(p, loc, "'%s' has %d result%s, %d named", dy_op_name(kind),
                     nr, nr == 1 ? "" : "s", nres);
  DyValue *operands[256];
  int nops = 0;
  size_t data_pos = 0;
  int data_line = 0, data_col = 0;
  if (kind == DY_OP_CONST) {
    dy_parse_skip_ws(p);
    data_pos = p->pos;
    data_line = p->line;
    data_col = p->col;
    DyLoc dl = here(p);
    const char *dw;
    size_t dn = dy_parse_word(p, &dw);
    if (!word_is(dw, dn, "dense") && !word_is(dw, dn, "external"))
      dy_parse_fail_at(
          p, dl, "expected 'dense' or 'external' constant data, got '%.*s'",
          (int)dn, dw);
    dy_parse_skip_ws(p);
    if (peek(p) != '<')
      dy_parse_expect(p, '<', "after the constant kind");
    dy_parse_skip_angle(p);
  } else {
    dy_parse_skip_ws(p);
    if (peek(p) == '%') {
      do {
        if (nops == 256)
          FAIL(p, "too many operands");
        operands[nops++] = use(p);
      } while (dy_parse_accept(p, ','));
    }
  }
  DyOp tmp;
  memset(&tmp, 0, sizeof tmp);
  parse_attrs(p, &tmp);
  dy_parse_expect(p, ':', "before the result type");
  DyType types[16];
  DyOp rattrs[16]; /* each result's attributes, after its type */
  memset(rattrs, 0, sizeof rattrs);
  for (int i = 0; i < nres; i++) {
    if (i)
      dy_parse_expect(p, ',', "between result types");
    types[i] = parse_type(p);
    dy_parse_skip_ws(p);
    if (peek(p) == '{')
      parse_attrs(p, &rattrs[i]);
  }
  for (int i = 0; i < nres; i++) {
    Entry *e = p->tab_cap ? tab_find(p, names[i]) : NULL;
    int twice = 0;
    for (int k = 0; k < i; k++)
      twice |= strcmp(names[k], names[i]) == 0;
    if ((e && e->name) || twice)
      dy_parse_fail_at(p, name_locs[i], "redefinition of value '%%%s'",
                       names[i]);
  }
  DyOp *op = dy_op_create(g, kind, nops, operands, nres, types, names);
  op->loc = oploc;
  op->attrs = tmp.attrs;
  op->nattrs = tmp.nattrs;
  for (int i = 0; i < nres; i++) {
    op->results[i]->attrs = rattrs[i].attrs;
    op->results[i]->nattrs = rattrs[i].nattrs;
  }
  if (kind == DY_OP_CONST) {
    size_t end = p->pos;
    int el = p->line, ec = p->col;
    p->pos = data_pos;
    p->line = data_line;
    p->col = data_col;
    dy_parse_const_data(p, op, &types[0]);
    p->pos = end;
    p->line = el;
    p->col = ec;
  }
  dy_graph_insert(g, op, NULL);
  for (int i = 0; i < nres; i++)
    define(p, name_locs[i], op->results[i]->name, op->results[i]);
}

/* An array of n elements of size `size` in the graph's arena, grown to
 * twice *cap (or *cap when old is NULL); a graph may have any number of
 * results. */
static void *grow(Parser *p, void *old, int n, int *cap, size_t size) {
  int ncap = old ? *cap * 2 : *cap;
  void *more =
      ncap > 0 ? dy_arena_try_alloc(p->g->arena, (size_t)ncap * size) : NULL;
  if (!more)
    FAIL(p, "out of memory for the graph's results");
  if (old)
    memcpy(more, old, (size_t)n * size);
  *cap = ncap;
  return more;
}

static void parse_graph(Parser *p) {
  dy_parse_skip_ws(p);
  DyLoc gloc = here(p);
  dy_parse_expect_word(p, "graph");
  dy_parse_skip_ws(p);
  const char *name = dy_parse_sigil_name(p, '@', "a graph name (@name)");
  p->g->name = name;
  p->g->loc = gloc;
  dy_parse_expect(p, '(', "opening the argument list");
  if (!dy_parse_accept(p, ')')) {
    do {
      dy_parse_skip_ws(p);
      DyLoc al = here(p);
      const char *an = dy_parse_sigil_name(p, '%', "an argument (%name)");
      dy_parse_expect(p, ':', "after the argument name");
      DyType t = parse_type(p);
      DyValue *v = dy_graph_add_input(p->g, an, t);
      define(p, al, an, v);
      dy_parse_skip_ws(p);
      if (peek(p) == '{') { /* argument attributes, e.g. {range = [0, 1]} */
        DyOp tmp;
        memset(&tmp, 0, sizeof tmp);
        parse_attrs(p, &tmp);
        v->attrs = tmp.attrs;
        v->nattrs = tmp.nattrs;
      }
    } while (dy_parse_accept(p, ','));
    dy_parse_expect(p, ')', "closing the argument list");
  }
  dy_parse_skip_ws(p);
  if (peek(p) != '-' || peek_at(p, 1) != '>') {
    char buf[40];
    FAIL(p, "expected '->' after the arguments, got %s",
         dy_parse_next_desc(p, buf, sizeof buf));
  }
  advance(p);
  advance(p);
  /* result types in the arena, doubling: a graph has any number of
   * outputs */
  int cap = 16, nrt = 0;
  DyType *rtypes = grow(p, NULL, 0, &cap, sizeof *rtypes);
  if (dy_parse_accept(p, '(')) {
    do {
      if (nrt == cap)
        rtypes = grow(p, rtypes, nrt, &cap, sizeof *rtypes);
      rtypes[nrt++] = parse_type(p);
    } while (dy_parse_accept(p, ','));
    dy_parse_expect(p, ')', "closing the result types");
  } else {
    rtypes[nrt++] = parse_type(p);
  }
  dy_parse_skip_ws(p);
  if (is_word_char(peek(p))) { /* graph attributes: attributes {level = ...} */
    dy_parse_expect_word(p, "attributes");
    dy_parse_skip_ws(p);
    if (peek(p) != '{')
      dy_parse_expect(p, '{', "after 'attributes'");
    DyOp tmp;
    memset(&tmp, 0, sizeof tmp);
    parse_attrs(p, &tmp);
    p->g->attrs = tmp.attrs;
    p->g->nattrs = tmp.nattrs;
  }
  dy_parse_expect(p, '{', "opening the graph body");
  for (;;) {
    dy_parse_skip_ws(p);
    if (peek(p) == -1)
      FAIL(p, "expected 'return' before the end of file");
    if (peek(p) != '%') {
      DyLoc rl = here(p);
      const char *w;
      size_t wn = dy_parse_word(p, &w);
      if (!word_is(w, wn, "return")) {
        if (wn)
          dy_parse_fail_at(p, rl,
                           "expected a result name (%%name) or 'return', got "
                           "'%.*s'",
                           (int)wn, w);
        char buf[40];
        dy_parse_fail_at(p, rl,
                         "expected a result name (%%name) or 'return', got %s",
                         dy_parse_next_desc(p, buf, sizeof buf));
      }
      int ocap = 16, lcap = 16, no = 0;
      DyValue **outs = grow(p, NULL, 0, &ocap, sizeof *outs);
      DyLoc *olocs = grow(p, NULL, 0, &lcap, sizeof *olocs);
      do {
        dy_parse_skip_ws(p);
        if (no == ocap) {
          outs = grow(p, outs, no, &ocap, sizeof *outs);
          olocs = grow(p, olocs, no, &lcap, sizeof *olocs);
        }
        olocs[no] = here(p);
        outs[no++] = use(p);
      } while (dy_parse_accept(p, ','));
      if (no != nrt)
        dy_parse_fail_at(p, rl, "return has %d value%s, the graph declares %d",
                         no, no == 1 ? "" : "s", nrt);
      for (int i = 0; i < no; i++)
        if (!dy_type_equal(&outs[i]->type, &rtypes[i]))
          dy_parse_fail_at(
              p, olocs[i],
              "returned value '%%%s' does not have the declared result "
              "type",
              outs[i]->name);
      dy_graph_set_outputs(p->g, no, outs);
      break;
    }
    parse_op(p);
  }
  dy_parse_expect(p, '}', "closing the graph body");
  dy_parse_skip_ws(p);
  if (peek(p) != -1) {
    char buf[40];
    FAIL(p, "expected end of file after the graph, got %s",
         dy_parse_next_desc(p, buf, sizeof buf));
  }
}

/* Registers the text with the sink for carets, unless a caller already did
 * (--split-input-file registers the whole file once). Kept out of
 * dy_parse_graph so that no local lives across its setjmp. */
static void register_source(DyDiag *d, const char *file, const char *text,
                            size_t len) {
  for (const DyDiagSource *src = d->sources; src; src = src->next)
    if (strcmp(src->file, file) == 0)
      return;
  dy_diag_add_source(d, file, text, len);
}

DyGraph *dy_parse_graph(const char *file, const char *text, size_t len,
                        const DyParseOptions *opt, DyDiag *d) {
  Parser p;
  memset(&p, 0, sizeof p);
  p.file = file ? file : "<input>";
  p.s = text;
  p.n = len;
  p.line = 1;
  p.col = 1;
  p.d = d;
  p.opt = opt;
  register_source(d, p.file, text, len);
  if (opt)
    p.line += opt->line_offset;
  p.g = dy_graph_create("main");
  /* base directory for external data */
  const char *slash = strrchr(p.file, '/');
  p.g->base_dir =
      slash ? dy_arena_strndup(p.g->arena, p.file, (size_t)(slash - p.file))
            : ".";
  if (setjmp(p.fail)) {
    free(p.tab);
    dy_graph_destroy(p.g);
    return NULL;
  }
  parse_graph(&p);
  free(p.tab);
  return p.g;
}

char *dy_read_file(const char *path, size_t *len, DyDiag *d) {
  DyLoc loc = {path, 0, 0};
  FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
  if (!f) {
    dy_error(d, loc, "cannot open: %s", strerror(errno));
    return NULL;
  }
  size_t cap = 1 << 16, n = 0;
  char *buf = malloc(cap);
  while (buf) {
    n += fread(buf + n, 1, cap - n - 1, f);
    if (n < cap - 1)
      break;
    cap *= 2;
    char *nb = realloc(buf, cap);
    if (!nb)
      free(buf);
    buf = nb;
  }
  int err = ferror(f);
  if (f != stdin)
    fclose(f);
  if (!buf) {
    dy_error(d, loc, "out of memory reading the file");
    return NULL;
  }
  if (err) {
    free(buf);
    dy_error(d, loc, "read error");
    return NULL;
  }
  buf[n] = 0;
  *len = n;
  return buf;
}

DyGraph *dy_load_graph(const char *path, const DyParseOptions *opt, char **text,
                       DyDiag *d) {
  size_t len;
  *text = dy_read_file(path, &len, d);
  if (!*text)
    return NULL;
  DyGraph *g = dy_parse_graph(strcmp(path, "-") == 0 ? "<stdin>" : path, *text,
                              len, opt, d);
  if (g && dy_graph_verify(g, d)) {
    dy_graph_destroy(g);
    return NULL;
  }
  return g;
}
