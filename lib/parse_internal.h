/* Shared between the files of the .dy parser (parse.c, parse_lex.c,
 * parse_const.c): the parser's state, its cursor over the text, the tokens
 * and the constant data. Not a public header.
 *
 * Every function taking a Parser may fail: it reports through
 * dy_parse_fail_at, which longjmps to dy_parse_graph's setjmp (parse.c)
 * and never returns. */
#ifndef DYAD_PARSE_INTERNAL_H
#define DYAD_PARSE_INTERNAL_H

#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "dyad/text.h"

/* A slot of the value table: a name and the value it stands for. */
typedef struct Entry {
  const char *name;
  DyValue *value;
} Entry;

/* The state of one dy_parse_graph call. */
typedef struct Parser {
  const char *file;
  const char *s; /* text, not necessarily NUL-terminated */
  size_t n, pos;
  int line, col;
  DyDiag *d;
  DyGraph *g;
  const DyParseOptions *opt;
  jmp_buf fail; /* dy_parse_graph's setjmp: every error longjmps here */
  Entry *tab;   /* value table: open addressing, power-of-two capacity */
  size_t tab_cap, tab_count;
} Parser;

/* --- the cursor: positions and characters (inline: the lexer's loops) --- */

/* The current position, for messages. */
static inline DyLoc here(const Parser *p) {
  DyLoc l = {p->file, p->line, p->col};
  return l;
}

/* The next byte, or -1 at the end of the text. */
static inline int peek(const Parser *p) {
  return p->pos < p->n ? (unsigned char)p->s[p->pos] : -1;
}

/* The byte k past the next one, or -1 past the end. */
static inline int peek_at(const Parser *p, size_t k) {
  return p->pos + k < p->n ? (unsigned char)p->s[p->pos + k] : -1;
}

/* Moves past one byte, counting lines and columns. */
static inline void advance(Parser *p) {
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

/* Whether c may appear in a bare word: [A-Za-z0-9_.]. */
static inline int is_word_char(int c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '_' || c == '.';
}

/* Whether the word w of n bytes is kw. */
static inline int word_is(const char *w, size_t n, const char *kw) {
  return strlen(kw) == n && memcmp(w, kw, n) == 0;
}

/* --- errors and tokens (parse_lex.c) --- */

/* Reports `loc: error: ...` and longjmps to dy_parse_graph. */
void dy_parse_fail_at(Parser *p, DyLoc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));

#define FAIL(p, ...) dy_parse_fail_at((p), here(p), __VA_ARGS__)

/* Skips whitespace and // comments. */
void dy_parse_skip_ws(Parser *p);
/* Describes the next token for "expected X, got Y" messages. */
const char *dy_parse_next_desc(Parser *p, char *buf, size_t n);
/* Fails unless the next token is the character c (what says where). */
void dy_parse_expect(Parser *p, char c, const char *what);
/* Consumes the character c if it comes next; returns whether it did. */
int dy_parse_accept(Parser *p, char c);
/* Reads a bare word ([A-Za-z0-9_.]+); returns its length (0 if none). */
size_t dy_parse_word(Parser *p, const char **start);
/* Fails unless the next word is kw. */
void dy_parse_expect_word(Parser *p, const char *kw);
/* Reads `sigil ident` (sigil is % or @) into an arena string. */
const char *dy_parse_sigil_name(Parser *p, char sigil, const char *what);
/* Copies a numeric token into buf; returns whether it looks like a float. */
int dy_parse_number_token(Parser *p, char *buf, size_t bufn, DyLoc *loc);
/* A number token (from dy_parse_number_token) as a double or an integer. */
double dy_parse_to_double(Parser *p, const char *buf, DyLoc loc);
int64_t dy_parse_to_int(Parser *p, const char *buf, DyLoc loc);
/* Reads an integer (what names it in the message) or a float. */
int64_t dy_parse_int(Parser *p, const char *what);
double dy_parse_float(Parser *p);
/* Reads a string literal into the arena. */
const char *dy_parse_string(Parser *p);

/* --- constant data (parse_const.c) --- */

/* Skips a dense<...> or external<...> body without decoding it. */
void dy_parse_skip_angle(Parser *p);
/* Decodes a constant's data into op once its type t is known. */
void dy_parse_const_data(Parser *p, DyOp *op, const DyType *t);

#endif
