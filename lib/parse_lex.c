/* The .dy lexer: errors, whitespace and comments, punctuation, words, names,
 * numbers and strings, read straight from the text (no token stream). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse_internal.h"

/* --- errors --- */

/* Reports the error at loc through the sink, then longjmps to the setjmp of
 * dy_parse_graph, which frees what was built. */
void dy_parse_fail_at(Parser *p, DyLoc loc, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  dy_vreport(p->d, DY_ERROR, loc, fmt, ap);
  va_end(ap);
  longjmp(p->fail, 1);
}

/* --- whitespace, punctuation, words and names --- */

/* Skips whitespace and // comments. */
void dy_parse_skip_ws(Parser *p) {
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
const char *dy_parse_next_desc(Parser *p, char *buf, size_t n) {
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

void dy_parse_expect(Parser *p, char c, const char *what) {
  dy_parse_skip_ws(p);
  if (peek(p) != (unsigned char)c) {
    char buf[40];
    FAIL(p, "expected '%c'%s%s, got %s", c, what ? " " : "", what ? what : "",
         dy_parse_next_desc(p, buf, sizeof buf));
  }
  advance(p);
}

int dy_parse_accept(Parser *p, char c) {
  dy_parse_skip_ws(p);
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

/* Reads a bare word ([A-Za-z0-9_.]+); returns its length (0 if none). */
size_t dy_parse_word(Parser *p, const char **start) {
  dy_parse_skip_ws(p);
  *start = p->s + p->pos;
  size_t len = 0;
  while (is_word_char(peek(p))) {
    advance(p);
    len++;
  }
  return len;
}

void dy_parse_expect_word(Parser *p, const char *kw) {
  dy_parse_skip_ws(p);
  DyLoc loc = here(p);
  const char *w;
  size_t n = dy_parse_word(p, &w);
  if (!word_is(w, n, kw)) {
    if (n)
      dy_parse_fail_at(p, loc, "expected '%s', got '%.*s'", kw, (int)n, w);
    char buf[40];
    dy_parse_fail_at(p, loc, "expected '%s', got %s", kw,
                     dy_parse_next_desc(p, buf, sizeof buf));
  }
}

/* Reads `sigil ident` (sigil is % or @) into an arena string. */
const char *dy_parse_sigil_name(Parser *p, char sigil, const char *what) {
  dy_parse_skip_ws(p);
  if (peek(p) != (unsigned char)sigil) {
    char buf[40];
    FAIL(p, "expected %s, got %s", what,
         dy_parse_next_desc(p, buf, sizeof buf));
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
int dy_parse_number_token(Parser *p, char *buf, size_t bufn, DyLoc *loc) {
  dy_parse_skip_ws(p);
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
      dy_parse_fail_at(p, *loc, "malformed number");
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
      dy_parse_fail_at(p, *loc, "number too long");
    buf[len++] = (char)c;
    advance(p);
  }
  buf[len] = 0;
  if (!digits) {
    char d[40];
    p->pos -= len; /* only for the message: show what follows */
    const char *what = dy_parse_next_desc(p, d, sizeof d);
    p->pos += len;
    dy_parse_fail_at(p, *loc, "expected a number, got %s", what);
  }
  if (is_word_char(peek(p)))
    dy_parse_fail_at(p, *loc, "malformed number");
  return is_float;
}

double dy_parse_to_double(Parser *p, const char *buf, DyLoc loc) {
  char *end;
  errno = 0;
  double v = strtod(buf, &end);
  if (*end)
    dy_parse_fail_at(p, loc, "malformed number '%s'", buf);
  return v; /* overflow gives inf, underflow 0 or a denormal: as C reads */
}

int64_t dy_parse_to_int(Parser *p, const char *buf, DyLoc loc) {
  char *end;
  errno = 0;
  long long v = strtoll(buf, &end, 10);
  if (*end)
    dy_parse_fail_at(p, loc, "malformed integer '%s'", buf);
  if (errno == ERANGE)
    dy_parse_fail_at(p, loc, "integer '%s' out of range", buf);
  return (int64_t)v;
}

int64_t dy_parse_int(Parser *p, const char *what) {
  char buf[64];
  DyLoc loc;
  if (dy_parse_number_token(p, buf, sizeof buf, &loc))
    dy_parse_fail_at(p, loc, "expected an integer for %s, got '%s'", what, buf);
  return dy_parse_to_int(p, buf, loc);
}

double dy_parse_float(Parser *p) {
  char buf[64];
  DyLoc loc;
  dy_parse_number_token(p, buf, sizeof buf, &loc);
  return dy_parse_to_double(p, buf, loc);
}

/* --- strings --- */

/* Reads a string literal into the arena; escapes: \" \\ \n \t. */
const char *dy_parse_string(Parser *p) {
  dy_parse_skip_ws(p);
  DyLoc open = here(p);
  dy_parse_expect(p, '"', "opening a string");
  size_t max = 0; /* an upper bound of the decoded length */
  while (p->pos + max < p->n && p->s[p->pos + max] != '\n')
    max++;
  char *buf = dy_arena_alloc(p->g->arena, max + 1);
  size_t len = 0;
  for (;;) {
    int c = peek(p);
    if (c == -1 || c == '\n')
      dy_parse_fail_at(p, open, "unterminated string");
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
