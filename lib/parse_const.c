/* Constant data of the .dy parser: dense literals (nested lists or a splat),
 * hex blobs, external data files, and the range checks of the stored
 * elements. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "parse_internal.h"

#define DY_DEFAULT_MAX_CONST ((size_t)1 << 30)

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
    dy_parse_fail_at(p, loc, "value %lld out of range for %s", (long long)v,
                     dy_elem_name(e));
  if (e == DY_I1 && v == 0)
    dy_parse_fail_at(
        p, loc, "value 0 is not valid for i1 (binary values are -1 and 1)");
}

/* Parses one scalar of a dense literal and stores it at index i. */
static void dense_scalar(Parser *p, void *data, DyElemType e, size_t i) {
  char buf[64];
  DyLoc loc;
  dy_parse_skip_ws(p);
  int c = peek(p);
  if (!((c >= '0' && c <= '9') || c == '-' || c == '+' || c == 'i' ||
        c == 'n' || c == '.')) {
    char dbuf[40];
    FAIL(p, "expected a number, got %s",
         dy_parse_next_desc(p, dbuf, sizeof dbuf));
  }
  int is_float = dy_parse_number_token(p, buf, sizeof buf, &loc);
  if (e == DY_F32) {
    store_elem(data, e, i, dy_parse_to_double(p, buf, loc), 0);
    return;
  }
  if (is_float)
    dy_parse_fail_at(p, loc, "expected an integer element for %s, got '%s'",
                     dy_elem_name(e), buf);
  int64_t v = dy_parse_to_int(p, buf, loc);
  check_int_elem(p, loc, e, v);
  store_elem(data, e, i, 0, v);
}

/* Parses `[...]` nested as dims[k..rank), filling data from *idx. */
static void dense_nest(Parser *p, const DyType *t, int k, void *data,
                       size_t *idx) {
  DyLoc loc = here(p);
  dy_parse_expect(p, '[', "opening a list of elements");
  int64_t n = 0;
  dy_parse_skip_ws(p);
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
    } while (dy_parse_accept(p, ','));
  }
  dy_parse_expect(p, ']', "closing a list of elements");
  if (n != t->dims[k])
    dy_parse_fail_at(p, loc, "expected %lld elements in dimension %d, got %lld",
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
      dy_parse_fail_at(p, loc, "element %zu has value %lld, not valid for %s",
                       i, (long long)v, dy_elem_name(t->elem));
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
void dy_parse_skip_angle(Parser *p) {
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
void dy_parse_const_data(Parser *p, DyOp *op, const DyType *t) {
  dy_parse_skip_ws(p);
  DyLoc loc = here(p);
  const char *w;
  size_t wn = dy_parse_word(p, &w);
  int ovf;
  size_t nbytes = dy_type_nbytes(t, &ovf);
  size_t limit = p->opt && p->opt->max_const_bytes ? p->opt->max_const_bytes
                                                   : DY_DEFAULT_MAX_CONST;
  if (ovf || nbytes > limit)
    dy_parse_fail_at(p, loc,
                     "constant of type with %lld elements exceeds the limit of "
                     "%zu bytes",
                     (long long)dy_type_numel(t), limit);
  size_t numel = (size_t)dy_type_numel(t);
  DyConstData *cd = dy_arena_alloc(p->g->arena, sizeof *cd);
  cd->nbytes = nbytes;
  if (dy_const_data_alloc(p->g, cd, nbytes))
    dy_parse_fail_at(p, loc, "out of memory for a constant of %zu bytes",
                     nbytes);
  op->data = cd;
  if (word_is(w, wn, "external")) {
    cd->form = DY_FORM_EXTERNAL;
    dy_parse_expect(p, '<', "after 'external'");
    dy_parse_skip_ws(p);
    cd->path = dy_parse_string(p);
    dy_parse_expect(p, ',', "after the external file name");
    DyLoc ol = here(p);
    int64_t off = dy_parse_int(p, "the external offset");
    if (off < 0)
      dy_parse_fail_at(p, ol, "negative external offset");
    cd->offset = (uint64_t)off;
    dy_parse_expect(p, '>', "closing external<...>");
    if (!(p->opt && p->opt->no_external)) {
      char buf[4608];
      const char *err = read_external(p->g->base_dir, cd->path, cd->offset,
                                      cd->data, nbytes, buf, sizeof buf);
      if (err)
        dy_parse_fail_at(p, loc, "%s", err);
      check_storage(p, loc, t, cd->data, numel);
    }
    return;
  }
  if (!word_is(w, wn, "dense"))
    dy_parse_fail_at(p, loc,
                     "expected 'dense' or 'external' constant data, got '%.*s'",
                     (int)wn, w);
  dy_parse_expect(p, '<', "after 'dense'");
  dy_parse_skip_ws(p);
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
        dy_parse_fail_at(
            p, vl, "hex data is longer than the %zu bytes of the type", nbytes);
      ((uint8_t *)cd->data)[i++] = (uint8_t)(hi * 16 + lo);
      advance(p);
      advance(p);
    }
    advance(p);
    if (i != nbytes)
      dy_parse_fail_at(p, vl, "hex data has %zu bytes, the type needs %zu", i,
                       nbytes);
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
  dy_parse_expect(p, '>', "closing dense<...>");
}
