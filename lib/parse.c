/* The .dy parser: character-level recursive descent (grammar in docs/ir.md).
 *
 * Every error reads `file:line:col: error: message` and stops the parse: the
 * parser longjmps back to dy_parse_graph, which frees what was built. All
 * allocations go to the graph's arena or to the value table freed there.
 */
#include "dyad/text.h"

#include <errno.h>
#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DY_DEFAULT_MAX_CONST ((size_t)1 << 30)

typedef struct Entry {
  const char *name;
  DyValue *value;
} Entry;

typedef struct Parser {
  const char *file;
  const char *s; /* text, not necessarily NUL-terminated */
  size_t n, pos;
  int line, col;
  DyDiag *d;
  DyGraph *g;
  const DyParseOptions *opt;
  jmp_buf fail;
  Entry *tab; /* value table: open addressing, power-of-two capacity */
  size_t tab_cap, tab_count;
} Parser;

/* --- errors and positions --- */

static DyLoc here(const Parser *p) {
  DyLoc l = {p->file, p->line, p->col};
  return l;
}

static void fail_at(Parser *p, DyLoc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));
static void fail_at(Parser *p, DyLoc loc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  dy_vreport(p->d, DY_ERROR, loc, fmt, ap);
  va_end(ap);
  longjmp(p->fail, 1);
}

#define FAIL(p, ...) fail_at((p), here(p), __VA_ARGS__)

static int peek(const Parser *p) {
  return p->pos < p->n ? (unsigned char)p->s[p->pos] : -1;
}

static int peek_at(const Parser *p, size_t k) {
  return p->pos + k < p->n ? (unsigned char)p->s[p->pos + k] : -1;
}

static void advance(Parser *p) {
  if (p->pos >= p->n)
    return;
  if (p->s[p->pos] == '\n') {
    p->line++;
    p->col = 1;
  } else {
    p->col++;
  }
  p->pos++;
}

/* Skips whitespace and // comments. */
static void skip_ws(Parser *p) {
  for (;;) {
    int c = peek(p);
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      advance(p);
    } else if (c == '/' && peek_at(p, 1) == '/') {
      while (peek(p) != -1 && peek(p) != '\n')
        advance(p);
    } else {
      return;
    }
  }
}

/* Describes the next token for "expected X, got Y" messages. */
static const char *next_desc(Parser *p, char *buf, size_t n) {
  int c = peek(p);
  if (c == -1)
    return "end of file";
  if (c < 32 || c > 126) {
    snprintf(buf, n, "byte 0x%02X", c);
    return buf;
  }
  size_t len = 0;
  while (p->pos + len < p->n && len < 16) {
    char ch = p->s[p->pos + len];
    if (ch == ' ' || ch == '\n' || ch == '\t' || ch == '\r')
      break;
    len++;
    if (!(ch == '_' || ch == '.' || (ch >= '0' && ch <= '9') ||
          (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z')))
      break;
  }
  snprintf(buf, n, "'%.*s'", (int)len, p->s + p->pos);
  return buf;
}

static void expect(Parser *p, char c, const char *what) {
  skip_ws(p);
  if (peek(p) != (unsigned char)c) {
    char buf[40];
    FAIL(p, "expected '%c'%s%s, got %s", c, what ? " " : "", what ? what : "",
         next_desc(p, buf, sizeof buf));
  }
  advance(p);
}

static int accept(Parser *p, char c) {
  skip_ws(p);
  if (peek(p) == (unsigned char)c) {
    advance(p);
    return 1;
  }
  return 0;
}

static int is_ident_char(int c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '$' || c == '-';
}

static int is_word_char(int c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '_' || c == '.';
}

/* Reads a bare word ([A-Za-z0-9_.]+); returns its length (0 if none). */
static size_t word(Parser *p, const char **start) {
  skip_ws(p);
  *start = p->s + p->pos;
  size_t len = 0;
  while (is_word_char(peek(p))) {
    advance(p);
    len++;
  }
  return len;
}

static int word_is(const char *w, size_t n, const char *kw) {
  return strlen(kw) == n && memcmp(w, kw, n) == 0;
}

static void expect_word(Parser *p, const char *kw) {
  skip_ws(p);
  DyLoc loc = here(p);
  const char *w;
  size_t n = word(p, &w);
  if (!word_is(w, n, kw)) {
    if (n)
      fail_at(p, loc, "expected '%s', got '%.*s'", kw, (int)n, w);
    char buf[40];
    fail_at(p, loc, "expected '%s', got %s", kw, next_desc(p, buf, sizeof buf));
  }
}

/* Reads `sigil ident` (sigil is % or @) into an arena string. */
static const char *sigil_name(Parser *p, char sigil, const char *what) {
  skip_ws(p);
  if (peek(p) != (unsigned char)sigil) {
    char buf[40];
    FAIL(p, "expected %s, got %s", what, next_desc(p, buf, sizeof buf));
  }
  advance(p);
  size_t start = p->pos;
  while (is_ident_char(peek(p)))
    advance(p);
  if (p->pos == start)
    FAIL(p, "expected a name after '%c'", sigil);
  return dy_arena_strndup(p->g->arena, p->s + start, p->pos - start);
}

/* --- numbers --- */

/* Copies a numeric token ([-+0-9.eE] or inf/nan) into buf; returns whether
 * it looks like a float (has '.', 'e' or is inf/nan). */
static int number_token(Parser *p, char *buf, size_t bufn, DyLoc *loc) {
  skip_ws(p);
  *loc = here(p);
  size_t len = 0;
  int is_float = 0;
  if (peek(p) == '-' || peek(p) == '+') {
    buf[len++] = (char)peek(p);
    advance(p);
  }
  if ((peek(p) == 'i' && peek_at(p, 1) == 'n' && peek_at(p, 2) == 'f') ||
      (peek(p) == 'n' && peek_at(p, 1) == 'a' && peek_at(p, 2) == 'n')) {
    for (int k = 0; k < 3; k++) {
      buf[len++] = (char)peek(p);
      advance(p);
    }
    if (is_word_char(peek(p)))
      fail_at(p, *loc, "malformed number");
    buf[len] = 0;
    return 1;
  }
  int digits = 0;
  for (;;) {
    int c = peek(p);
    if (c >= '0' && c <= '9') {
      digits++;
    } else if (c == '.' || c == 'e' || c == 'E') {
      is_float = 1;
    } else if ((c == '-' || c == '+') &&
               (buf[len - 1] == 'e' || buf[len - 1] == 'E')) {
    } else {
      break;
    }
    if (len + 1 >= bufn)
      fail_at(p, *loc, "number too long");
    buf[len++] = (char)c;
    advance(p);
  }
  buf[len] = 0;
  if (!digits) {
    char d[40];
    p->pos -= len; /* only for the message: show what follows */
    const char *what = next_desc(p, d, sizeof d);
    p->pos += len;
    fail_at(p, *loc, "expected a number, got %s", what);
  }
  if (is_word_char(peek(p)))
    fail_at(p, *loc, "malformed number");
  return is_float;
}

static double to_double(Parser *p, const char *buf, DyLoc loc) {
  char *end;
  errno = 0;
  double v = strtod(buf, &end);
  if (*end)
    fail_at(p, loc, "malformed number '%s'", buf);
  return v; /* overflow gives inf, underflow 0 or a denormal: as C reads */
}

static int64_t to_int(Parser *p, const char *buf, DyLoc loc) {
  char *end;
  errno = 0;
  long long v = strtoll(buf, &end, 10);
  if (*end)
    fail_at(p, loc, "malformed integer '%s'", buf);
  if (errno == ERANGE)
    fail_at(p, loc, "integer '%s' out of range", buf);
  return (int64_t)v;
}

static int64_t parse_int(Parser *p, const char *what) {
  char buf[64];
  DyLoc loc;
  if (number_token(p, buf, sizeof buf, &loc))
    fail_at(p, loc, "expected an integer for %s, got '%s'", what, buf);
  return to_int(p, buf, loc);
}

static double parse_float(Parser *p) {
  char buf[64];
  DyLoc loc;
  number_token(p, buf, sizeof buf, &loc);
  return to_double(p, buf, loc);
}

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
      fail_at(p, loc, "out of memory");
    }
    for (size_t i = 0; i < oldcap; i++)
      if (old[i].name)
        *tab_find(p, old[i].name) = old[i];
    free(old);
  }
  Entry *e = tab_find(p, name);
  if (e->name)
    fail_at(p, loc, "redefinition of value '%%%s'", name);
  e->name = name;
  e->value = v;
  p->tab_count++;
}

static DyValue *use(Parser *p) {
  skip_ws(p);
  DyLoc loc = here(p);
  const char *name = sigil_name(p, '%', "a value (%name)");
  Entry *e = p->tab_cap ? tab_find(p, name) : NULL;
  if (!e || !e->name)
    fail_at(p, loc, "use of undefined value '%%%s'", name);
  return e->value;
}

/* --- types --- */

static DyElemType parse_storage(Parser *p) {
  DyLoc loc = here(p);
  const char *w;
  size_t n = word(p, &w);
  DyElemType e;
  if (!n || !dy_elem_from_name(w, n, &e))
    fail_at(p, loc, "unknown element type '%.*s'", (int)n, w);
  return e;
}

/* Parses a quant parameter `scale[:zp]`. */
static void parse_param(Parser *p, double *scale, int64_t *zp) {
  *scale = parse_float(p);
  *zp = 0;
  if (accept(p, ':'))
    *zp = parse_int(p, "a zero point");
}

/* Parses `{...}` nested to depth rank - k, counting params per level. */
static void parse_param_nest(Parser *p, const int64_t *shape, int rank, int k,
                             double *scales, int64_t *zps, int64_t *count) {
  DyLoc loc = here(p);
  expect(p, '{', "opening the quantization parameters");
  int64_t n = 0;
  if (!accept(p, '}')) {
    do {
      if (n >= shape[k])
        fail_at(p, here(p), "too many quantization parameters: expected %lld",
                (long long)shape[k]);
      if (k + 1 < rank)
        parse_param_nest(p, shape, rank, k + 1, scales, zps, count);
      else {
        parse_param(p, &scales[*count], &zps[*count]);
        (*count)++;
      }
      n++;
    } while (accept(p, ','));
    expect(p, '}', "closing the quantization parameters");
  }
  if (n != shape[k])
    fail_at(p, loc, "expected %lld quantization parameters, got %lld",
            (long long)shape[k], (long long)n);
}

/* `!quant.uniform<storage[<lo:hi>]:f32[:axis | :{a:b,...}], params>`, for a
 * tensor whose rank and dims are already known. */
static const DyQuant *parse_quant(Parser *p, const DyType *t) {
  DyLoc loc = here(p);
  advance(p); /* '!' */
  const char *w;
  size_t n = word(p, &w);
  if (!word_is(w, n, "quant.uniform"))
    fail_at(p, loc, "unknown type '!%.*s': expected !quant.uniform", (int)n, w);
  DyQuant q;
  memset(&q, 0, sizeof q);
  expect(p, '<', "after !quant.uniform");
  skip_ws(p);
  loc = here(p);
  q.storage = parse_storage(p);
  if (q.storage == DY_F32)
    fail_at(p, loc, "quantized storage type must be an integer type");
  dy_elem_range(q.storage, &q.qmin, &q.qmax);
  if (accept(p, '<')) {
    DyLoc rl = here(p);
    int64_t lo = parse_int(p, "the storage minimum");
    expect(p, ':', "in the storage range");
    int64_t hi = parse_int(p, "the storage maximum");
    expect(p, '>', "closing the storage range");
    if (lo < q.qmin || hi > q.qmax || lo > hi)
      fail_at(p, rl, "storage range [%lld, %lld] does not fit %s",
              (long long)lo, (long long)hi, dy_elem_name(q.storage));
    q.qmin = lo;
    q.qmax = hi;
  }
  expect(p, ':', "before the expressed type");
  skip_ws(p);
  loc = here(p);
  n = word(p, &w);
  if (!word_is(w, n, "f32"))
    fail_at(p, loc, "expressed type must be f32, got '%.*s'", (int)n, w);
  int64_t shape[DY_MAX_RANK];
  int srank = 1;
  shape[0] = 1;
  q.kind = DY_QUANT_PER_TENSOR;
  if (accept(p, ':')) {
    skip_ws(p);
    loc = here(p);
    if (accept(p, '{')) {
      q.kind = DY_QUANT_BLOCKED;
      do {
        DyLoc al = here(p);
        int64_t axis = parse_int(p, "a blocked axis");
        expect(p, ':', "between axis and block size");
        int64_t bs = parse_int(p, "a block size");
        if (axis < 0 || axis >= t->rank)
          fail_at(p, al, "blocked axis %lld out of range for rank %d",
                  (long long)axis, t->rank);
        if (bs <= 0 || t->dims[axis] % bs != 0)
          fail_at(p, al, "block size %lld does not divide dimension %lld",
                  (long long)bs, (long long)t->dims[axis]);
        q.block[axis] = bs;
      } while (accept(p, ','));
      expect(p, '}', "closing the block sizes");
      dy_quant_block_shape(&q, t, shape);
      srank = t->rank;
    } else {
      int64_t axis = parse_int(p, "the quantized axis");
      if (axis < 0 || axis >= t->rank)
        fail_at(p, loc, "quantized axis %lld out of range for rank %d",
                (long long)axis, t->rank);
      q.kind = DY_QUANT_PER_AXIS;
      q.axis = (int)axis;
      shape[0] = t->dims[axis];
    }
  }
  expect(p, ',', "before the quantization parameters");
  int64_t total = 1;
  for (int i = 0; i < srank; i++)
    total *= shape[i]; /* bounded by the tensor's element count */
  if (total > ((int64_t)1 << 24))
    fail_at(p, loc, "too many quantization parameters (%lld)",
            (long long)total);
  double *scales = dy_arena_alloc(p->g->arena, (size_t)total * sizeof *scales);
  int64_t *zps = dy_arena_alloc(p->g->arena, (size_t)total * sizeof *zps);
  int64_t count = 0;
  skip_ws(p);
  if (q.kind == DY_QUANT_PER_TENSOR)
    parse_param(p, &scales[count++], &zps[0]);
  else
    parse_param_nest(p, shape, srank, 0, scales, zps, &count);
  DY_ASSERT(count == total);
  q.nparams = total;
  q.scales = scales;
  q.zero_points = zps;
  expect(p, '>', "closing !quant.uniform");
  return dy_quant_create(p->g, &q);
}

static DyType parse_type(Parser *p) {
  skip_ws(p);
  DyLoc loc = here(p);
  expect_word(p, "tensor");
  expect(p, '<', "after 'tensor'");
  DyType t;
  memset(&t, 0, sizeof t);
  skip_ws(p);
  /* dims: digits followed by 'x' */
  while (peek(p) >= '0' && peek(p) <= '9') {
    size_t save = p->pos;
    int sl = p->line, sc = p->col;
    DyLoc dl = here(p);
    uint64_t v = 0;
    while (peek(p) >= '0' && peek(p) <= '9') {
      v = v * 10 + (uint64_t)(peek(p) - '0');
      if (v > ((uint64_t)1 << 40))
        fail_at(p, dl, "dimension too large");
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
      fail_at(p, dl, "rank exceeds the maximum of %d", DY_MAX_RANK);
    t.dims[t.rank++] = (int64_t)v;
  }
  if (peek(p) == '?')
    FAIL(p, "dynamic dimensions are not supported");
  if (dy_type_numel(&t) < 0 || dy_type_numel(&t) > ((int64_t)1 << 40))
    fail_at(p, loc, "tensor type has too many elements");
  if (peek(p) == '!') {
    t.quant = parse_quant(p, &t);
    t.elem = t.quant->storage;
  } else {
    t.elem = parse_storage(p);
  }
  expect(p, '>', "closing the tensor type");
  return t;
}

/* --- attributes --- */

/* Reads a string literal into the arena; escapes: \" \\ \n \t. */
static const char *parse_string(Parser *p) {
  skip_ws(p);
  DyLoc open = here(p);
  expect(p, '"', "opening a string");
  size_t max = 0; /* an upper bound of the decoded length */
  while (p->pos + max < p->n && p->s[p->pos + max] != '\n')
    max++;
  char *buf = dy_arena_alloc(p->g->arena, max + 1);
  size_t len = 0;
  for (;;) {
    int c = peek(p);
    if (c == -1 || c == '\n')
      fail_at(p, open, "unterminated string");
    advance(p);
    if (c == '"')
      break;
    if (c == '\\') {
      int e = peek(p);
      if (e == 'n')
        c = '\n';
      else if (e == 't')
        c = '\t';
      else if (e == '"' || e == '\\')
        c = e;
      else
        FAIL(p, "unknown escape in string");
      advance(p);
    }
    buf[len++] = (char)c;
  }
  buf[len] = 0;
  return buf;
}

static void parse_attr_value(Parser *p, DyAttr *a) {
  skip_ws(p);
  int c = peek(p);
  if (c == '"') {
    a->kind = DY_ATTR_STR;
    a->s = parse_string(p);
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
    skip_ws(p);
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
        skip_ws(p);
        int d0 = peek(p);
        if (!((d0 >= '0' && d0 <= '9') || d0 == '-' || d0 == '+' || d0 == 'i' ||
              d0 == 'n' || d0 == '.')) {
          char dbuf[40];
          FAIL(p, "expected a number in the list, got %s",
               next_desc(p, dbuf, sizeof dbuf));
        }
        if (number_token(p, buf, sizeof buf, &loc)) {
          fl[n] = to_double(p, buf, loc);
          any_float = 1;
        } else {
          ints[n] = to_int(p, buf, loc);
          fl[n] = (double)ints[n];
        }
        n++;
      } while (accept(p, ','));
    }
    expect(p, ']', "closing the list");
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
         next_desc(p, dbuf, sizeof dbuf));
  }
  if (number_token(p, buf, sizeof buf, &loc)) {
    a->kind = DY_ATTR_FLOAT;
    a->f = to_double(p, buf, loc);
  } else {
    a->kind = DY_ATTR_INT;
    a->i = to_int(p, buf, loc);
  }
}

/* Parses `{name = value, ...}` into op's attribute list, sorted by name as
 * dy_op_add_attr keeps it. The list doubles in the arena: adding one
 * attribute at a time with dy_op_add_attr copies the whole list each time,
 * memory quadratic in the number of attributes. */
static void parse_attrs(Parser *p, DyOp *op) {
  if (!accept(p, '{'))
    return;
  if (accept(p, '}'))
    return;
  DyAttr *attrs = NULL;
  int n = 0, cap = 0;
  do {
    skip_ws(p);
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
           next_desc(p, buf, sizeof buf));
    }
    a.name = dy_arena_strndup(p->g->arena, p->s + start, p->pos - start);
    int lo = 0, hi = n; /* insertion point: first name above a.name */
    while (lo < hi) {
      int mid = lo + (hi - lo) / 2, c = strcmp(attrs[mid].name, a.name);
      if (c == 0)
        fail_at(p, a.loc, "duplicate attribute '%s'", a.name);
      if (c < 0)
        lo = mid + 1;
      else
        hi = mid;
    }
    expect(p, '=', "after the attribute name");
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
  } while (accept(p, ','));
  expect(p, '}', "closing the attributes");
  op->attrs = attrs;
  op->nattrs = n;
}

/* --- constants --- */

/* Stores v (already range-checked) as element i of storage of type e. */
static void store_elem(void *data, DyElemType e, size_t i, double f,
                       int64_t v) {
  switch (e) {
  case DY_F32:
    ((float *)data)[i] = (float)f;
    break;
  case DY_I32:
    ((int32_t *)data)[i] = (int32_t)v;
    break;
  case DY_I16:
    ((int16_t *)data)[i] = (int16_t)v;
    break;
  case DY_U8:
  case DY_U4:
  case DY_U2:
    ((uint8_t *)data)[i] = (uint8_t)v;
    break;
  default:
    ((int8_t *)data)[i] = (int8_t)v;
    break;
  }
}

static void check_int_elem(Parser *p, DyLoc loc, DyElemType e, int64_t v) {
  int64_t lo, hi;
  dy_elem_range(e, &lo, &hi);
  if (v < lo || v > hi)
    fail_at(p, loc, "value %lld out of range for %s", (long long)v,
            dy_elem_name(e));
  if (e == DY_I1 && v == 0)
    fail_at(p, loc, "value 0 is not valid for i1 (binary values are -1 and 1)");
}

/* Parses one scalar of a dense literal and stores it at index i. */
static void dense_scalar(Parser *p, void *data, DyElemType e, size_t i) {
  char buf[64];
  DyLoc loc;
  skip_ws(p);
  int c = peek(p);
  if (!((c >= '0' && c <= '9') || c == '-' || c == '+' || c == 'i' ||
        c == 'n' || c == '.')) {
    char dbuf[40];
    FAIL(p, "expected a number, got %s", next_desc(p, dbuf, sizeof dbuf));
  }
  int is_float = number_token(p, buf, sizeof buf, &loc);
  if (e == DY_F32) {
    store_elem(data, e, i, to_double(p, buf, loc), 0);
    return;
  }
  if (is_float)
    fail_at(p, loc, "expected an integer element for %s, got '%s'",
            dy_elem_name(e), buf);
  int64_t v = to_int(p, buf, loc);
  check_int_elem(p, loc, e, v);
  store_elem(data, e, i, 0, v);
}

/* Parses `[...]` nested as dims[k..rank), filling data from *idx. */
static void dense_nest(Parser *p, const DyType *t, int k, void *data,
                       size_t *idx) {
  DyLoc loc = here(p);
  expect(p, '[', "opening a list of elements");
  int64_t n = 0;
  skip_ws(p);
  if (peek(p) != ']') {
    do {
      if (n >= t->dims[k])
        FAIL(p, "too many elements: dimension %d has size %lld", k,
             (long long)t->dims[k]);
      if (k + 1 < t->rank)
        dense_nest(p, t, k + 1, data, idx);
      else
        dense_scalar(p, data, t->elem, (*idx)++);
      n++;
    } while (accept(p, ','));
  }
  expect(p, ']', "closing a list of elements");
  if (n != t->dims[k])
    fail_at(p, loc, "expected %lld elements in dimension %d, got %lld",
            (long long)t->dims[k], k, (long long)n);
}

static int hexval(int c) {
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

/* Range-checks every element of integer storage (hex and external data). */
static void check_storage(Parser *p, DyLoc loc, const DyType *t,
                          const void *data, size_t numel) {
  if (t->elem == DY_F32 || t->elem == DY_I32 || t->elem == DY_I16 ||
      t->elem == DY_I8 || t->elem == DY_U8)
    return; /* every bit pattern is valid */
  for (size_t i = 0; i < numel; i++) {
    int64_t v = (t->elem == DY_U4 || t->elem == DY_U2)
                    ? ((const uint8_t *)data)[i]
                    : ((const int8_t *)data)[i];
    int64_t lo, hi;
    dy_elem_range(t->elem, &lo, &hi);
    if (v < lo || v > hi || (t->elem == DY_I1 && v == 0))
      fail_at(p, loc, "element %zu has value %lld, not valid for %s", i,
              (long long)v, dy_elem_name(t->elem));
  }
}

/* Opens base_dir/path and reads nbytes at offset into data. Returns an error
 * message (static or in buf) or NULL. */
static const char *read_external(const char *base, const char *path,
                                 uint64_t offset, void *data, size_t nbytes,
                                 char *buf, size_t bufn) {
  char full[4096];
  if (path[0] == '/' || !base || !base[0])
    snprintf(full, sizeof full, "%s", path);
  else
    snprintf(full, sizeof full, "%s/%s", base, path);
  FILE *f = fopen(full, "rb");
  if (!f) {
    snprintf(buf, bufn, "cannot open external data '%s': %s", full,
             strerror(errno));
    return buf;
  }
  const char *err = NULL;
  if (fseek(f, 0, SEEK_END) != 0) {
    err = "cannot seek in external data";
  } else {
    long size = ftell(f);
    if (size < 0 || (uint64_t)size < offset ||
        (uint64_t)size - offset < nbytes) {
      snprintf(buf, bufn,
               "external data '%s' has %ld bytes; %zu needed at offset %llu",
               path, size, nbytes, (unsigned long long)offset);
      err = buf;
    } else if (fseek(f, (long)offset, SEEK_SET) != 0 ||
               fread(data, 1, nbytes, f) != nbytes) {
      snprintf(buf, bufn, "cannot read external data '%s'", path);
      err = buf;
    }
  }
  fclose(f);
  return err;
}

/* Skips a dense<...> or external<...> body syntactically (strings and
 * brackets), leaving the position after the closing '>'. */
static void skip_angle(Parser *p) {
  int depth = 0;
  for (;;) {
    int c = peek(p);
    if (c == -1)
      FAIL(p, "unterminated constant: expected '>'");
    if (c == '"') {
      advance(p);
      while (peek(p) != '"') {
        if (peek(p) == '\\')
          advance(p); /* an escaped quote does not end the string */
        if (peek(p) == -1 || peek(p) == '\n')
          FAIL(p, "unterminated string");
        advance(p);
      }
    } else if (c == '<') {
      depth++;
    } else if (c == '>') {
      if (--depth == 0) {
        advance(p);
        return;
      }
    }
    advance(p);
  }
}

/* Decodes the constant's data now that its type is known. The position is at
 * `dense` / `external`. */
static void parse_const_data(Parser *p, DyOp *op, const DyType *t) {
  skip_ws(p);
  DyLoc loc = here(p);
  const char *w;
  size_t wn = word(p, &w);
  int ovf;
  size_t nbytes = dy_type_nbytes(t, &ovf);
  size_t limit = p->opt && p->opt->max_const_bytes ? p->opt->max_const_bytes
                                                   : DY_DEFAULT_MAX_CONST;
  if (ovf || nbytes > limit)
    fail_at(p, loc,
            "constant of type with %lld elements exceeds the limit of "
            "%zu bytes",
            (long long)dy_type_numel(t), limit);
  size_t numel = (size_t)dy_type_numel(t);
  DyConstData *cd = dy_arena_alloc(p->g->arena, sizeof *cd);
  cd->nbytes = nbytes;
  if (dy_const_data_alloc(p->g, cd, nbytes))
    fail_at(p, loc, "out of memory for a constant of %zu bytes", nbytes);
  op->data = cd;
  if (word_is(w, wn, "external")) {
    cd->form = DY_FORM_EXTERNAL;
    expect(p, '<', "after 'external'");
    skip_ws(p);
    cd->path = parse_string(p);
    expect(p, ',', "after the external file name");
    DyLoc ol = here(p);
    int64_t off = parse_int(p, "the external offset");
    if (off < 0)
      fail_at(p, ol, "negative external offset");
    cd->offset = (uint64_t)off;
    expect(p, '>', "closing external<...>");
    if (!(p->opt && p->opt->no_external)) {
      char buf[4608];
      const char *err = read_external(p->g->base_dir, cd->path, cd->offset,
                                      cd->data, nbytes, buf, sizeof buf);
      if (err)
        fail_at(p, loc, "%s", err);
      check_storage(p, loc, t, cd->data, numel);
    }
    return;
  }
  if (!word_is(w, wn, "dense"))
    fail_at(p, loc, "expected 'dense' or 'external' constant data, got '%.*s'",
            (int)wn, w);
  expect(p, '<', "after 'dense'");
  skip_ws(p);
  DyLoc vl = here(p);
  if (peek(p) == '"') {
    cd->form = DY_FORM_HEX;
    advance(p);
    if (peek(p) != '0' || peek_at(p, 1) != 'x')
      FAIL(p, "hex data must start with 0x");
    advance(p);
    advance(p);
    size_t i = 0;
    for (;;) {
      int c = peek(p);
      if (c == '"')
        break;
      int hi = hexval(c), lo = hexval(peek_at(p, 1));
      if (hi < 0 || lo < 0)
        FAIL(p, "invalid hex digit in constant data");
      if (i >= nbytes)
        fail_at(p, vl, "hex data is longer than the %zu bytes of the type",
                nbytes);
      ((uint8_t *)cd->data)[i++] = (uint8_t)(hi * 16 + lo);
      advance(p);
      advance(p);
    }
    advance(p);
    if (i != nbytes)
      fail_at(p, vl, "hex data has %zu bytes, the type needs %zu", i, nbytes);
    check_storage(p, vl, t, cd->data, numel);
  } else {
    cd->form = DY_FORM_DENSE;
    if (peek(p) == '[') {
      size_t idx = 0;
      if (t->rank == 0)
        FAIL(p, "a rank-0 constant takes a single value, not a list");
      dense_nest(p, t, 0, cd->data, &idx);
    } else {
      dense_scalar(p, cd->data, t->elem, 0); /* splat */
      size_t esz = dy_elem_size(t->elem);
      for (size_t i = 1; i < numel; i++)
        memcpy((char *)cd->data + i * esz, cd->data, esz);
    }
  }
  expect(p, '>', "closing dense<...>");
}

/* --- ops and graphs --- */

static void parse_op(Parser *p) {
  DyGraph *g = p->g;
  DyLoc loc = here(p);
  const char *names[16];
  DyLoc name_locs[16];
  int nres = 0;
  do {
    skip_ws(p);
    if (nres == 16)
      FAIL(p, "too many results");
    name_locs[nres] = here(p);
    names[nres++] = sigil_name(p, '%', "a result name (%name) or 'return'");
  } while (accept(p, ','));
  expect(p, '=', "after the result names");
  skip_ws(p);
  DyLoc oploc = here(p);
  const char *w;
  size_t wn = word(p, &w);
  DyOpKind kind;
  if (!wn) {
    char buf[40];
    fail_at(p, oploc, "expected an op name, got %s",
            next_desc(p, buf, sizeof buf));
  }
  if (!dy_op_from_name(w, wn, &kind))
    fail_at(p, oploc, "unknown op '%.*s'", (int)wn, w);
  int mino, maxo, nr;
  dy_op_arity(kind, &mino, &maxo, &nr);
  if (nres != nr)
    fail_at(p, loc, "'%s' has %d result%s, %d named", dy_op_name(kind), nr,
            nr == 1 ? "" : "s", nres);
  DyValue *operands[256];
  int nops = 0;
  size_t data_pos = 0;
  int data_line = 0, data_col = 0;
  if (kind == DY_OP_CONST) {
    skip_ws(p);
    data_pos = p->pos;
    data_line = p->line;
    data_col = p->col;
    DyLoc dl = here(p);
    const char *dw;
    size_t dn = word(p, &dw);
    if (!word_is(dw, dn, "dense") && !word_is(dw, dn, "external"))
      fail_at(p, dl, "expected 'dense' or 'external' constant data, got '%.*s'",
              (int)dn, dw);
    skip_ws(p);
    if (peek(p) != '<')
      expect(p, '<', "after the constant kind");
    skip_angle(p);
  } else {
    skip_ws(p);
    if (peek(p) == '%') {
      do {
        if (nops == 256)
          FAIL(p, "too many operands");
        operands[nops++] = use(p);
      } while (accept(p, ','));
    }
  }
  DyOp tmp;
  memset(&tmp, 0, sizeof tmp);
  parse_attrs(p, &tmp);
  expect(p, ':', "before the result type");
  DyType types[16];
  DyOp rattrs[16]; /* each result's attributes, after its type */
  memset(rattrs, 0, sizeof rattrs);
  for (int i = 0; i < nres; i++) {
    if (i)
      expect(p, ',', "between result types");
    types[i] = parse_type(p);
    skip_ws(p);
    if (peek(p) == '{')
      parse_attrs(p, &rattrs[i]);
  }
  for (int i = 0; i < nres; i++) {
    Entry *e = p->tab_cap ? tab_find(p, names[i]) : NULL;
    int twice = 0;
    for (int k = 0; k < i; k++)
      twice |= strcmp(names[k], names[i]) == 0;
    if ((e && e->name) || twice)
      fail_at(p, name_locs[i], "redefinition of value '%%%s'", names[i]);
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
    parse_const_data(p, op, &types[0]);
    p->pos = end;
    p->line = el;
    p->col = ec;
  }
  dy_graph_insert(g, op, NULL);
  for (int i = 0; i < nres; i++)
    define(p, name_locs[i], op->results[i]->name, op->results[i]);
}

static void parse_graph(Parser *p) {
  skip_ws(p);
  DyLoc gloc = here(p);
  expect_word(p, "graph");
  skip_ws(p);
  const char *name = sigil_name(p, '@', "a graph name (@name)");
  p->g->name = name;
  p->g->loc = gloc;
  expect(p, '(', "opening the argument list");
  if (!accept(p, ')')) {
    do {
      skip_ws(p);
      DyLoc al = here(p);
      const char *an = sigil_name(p, '%', "an argument (%name)");
      expect(p, ':', "after the argument name");
      DyType t = parse_type(p);
      DyValue *v = dy_graph_add_input(p->g, an, t);
      define(p, al, an, v);
      skip_ws(p);
      if (peek(p) == '{') { /* argument attributes, e.g. {range = [0, 1]} */
        DyOp tmp;
        memset(&tmp, 0, sizeof tmp);
        parse_attrs(p, &tmp);
        v->attrs = tmp.attrs;
        v->nattrs = tmp.nattrs;
      }
    } while (accept(p, ','));
    expect(p, ')', "closing the argument list");
  }
  skip_ws(p);
  if (peek(p) != '-' || peek_at(p, 1) != '>') {
    char buf[40];
    FAIL(p, "expected '->' after the arguments, got %s",
         next_desc(p, buf, sizeof buf));
  }
  advance(p);
  advance(p);
  DyType rtypes[64];
  int nrt = 0;
  if (accept(p, '(')) {
    do {
      if (nrt == 64)
        FAIL(p, "too many results");
      rtypes[nrt++] = parse_type(p);
    } while (accept(p, ','));
    expect(p, ')', "closing the result types");
  } else {
    rtypes[nrt++] = parse_type(p);
  }
  skip_ws(p);
  if (is_word_char(peek(p))) { /* graph attributes: attributes {level = ...} */
    expect_word(p, "attributes");
    skip_ws(p);
    if (peek(p) != '{')
      expect(p, '{', "after 'attributes'");
    DyOp tmp;
    memset(&tmp, 0, sizeof tmp);
    parse_attrs(p, &tmp);
    p->g->attrs = tmp.attrs;
    p->g->nattrs = tmp.nattrs;
  }
  expect(p, '{', "opening the graph body");
  for (;;) {
    skip_ws(p);
    if (peek(p) == -1)
      FAIL(p, "expected 'return' before the end of file");
    if (peek(p) != '%') {
      DyLoc rl = here(p);
      const char *w;
      size_t wn = word(p, &w);
      if (!word_is(w, wn, "return")) {
        if (wn)
          fail_at(p, rl,
                  "expected a result name (%%name) or 'return', got "
                  "'%.*s'",
                  (int)wn, w);
        char buf[40];
        fail_at(p, rl, "expected a result name (%%name) or 'return', got %s",
                next_desc(p, buf, sizeof buf));
      }
      DyValue *outs[64];
      DyLoc olocs[64];
      int no = 0;
      do {
        skip_ws(p);
        if (no == 64)
          FAIL(p, "too many results");
        olocs[no] = here(p);
        outs[no++] = use(p);
      } while (accept(p, ','));
      if (no != nrt)
        fail_at(p, rl, "return has %d value%s, the graph declares %d", no,
                no == 1 ? "" : "s", nrt);
      for (int i = 0; i < no; i++)
        if (!dy_type_equal(&outs[i]->type, &rtypes[i]))
          fail_at(p, olocs[i],
                  "returned value '%%%s' does not have the declared result "
                  "type",
                  outs[i]->name);
      dy_graph_set_outputs(p->g, no, outs);
      break;
    }
    parse_op(p);
  }
  expect(p, '}', "closing the graph body");
  skip_ws(p);
  if (peek(p) != -1) {
    char buf[40];
    FAIL(p, "expected end of file after the graph, got %s",
         next_desc(p, buf, sizeof buf));
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
