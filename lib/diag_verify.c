/* Expected diagnostics: scans `// expected-error {{...}}` comments, captures
 * reported diagnostics, and matches the two (dyad-opt --verify-diagnostics).
 */
#include "dyad/diag_verify.h"

#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One expectation read from a comment. */
typedef struct Expect {
  DySeverity sev;
  DyLoc at;    /* the comment's `expected-` word, for reports */
  int line;    /* line the diagnostic must be on */
  int col;     /* column it must be at; 0: any */
  char *text;  /* as written between the outer double braces */
  regex_t *re; /* compiled pattern of an -re expectation, else NULL */
  int matched; /* a diagnostic was accounted for by this one */
} Expect;

/* One diagnostic captured from a sink. */
typedef struct Captured {
  DySeverity sev;
  char *file; /* owned copy; NULL when the diagnostic had none */
  int line, col;
  char *msg; /* owned copy */
} Captured;

struct DyDiagVerifier {
  char *file; /* the source's name in diagnostics */
  Expect *exp;
  int nexp, capexp;
  Captured *got;
  int ngot, capgot;
  DyDiagFn saved_fn; /* the sink's own callback while attached */
  void *saved_ctx;
  int lost; /* diagnostics not recorded for want of memory */
};

static char *dup_str(const char *s, size_t n) {
  char *r = malloc(n + 1);
  if (r) {
    memcpy(r, s, n);
    r[n] = 0;
  }
  return r;
}

DyDiagVerifier *dy_diag_verifier_create(const char *file) {
  DyDiagVerifier *v = calloc(1, sizeof *v);
  if (!v)
    return NULL;
  v->file = dup_str(file, strlen(file));
  if (!v->file) {
    free(v);
    return NULL;
  }
  return v;
}

/* Forgets the expectations and the captured diagnostics. */
static void clear(DyDiagVerifier *v) {
  for (int i = 0; i < v->nexp; i++) {
    free(v->exp[i].text);
    if (v->exp[i].re) {
      regfree(v->exp[i].re);
      free(v->exp[i].re);
    }
  }
  for (int i = 0; i < v->ngot; i++) {
    free(v->got[i].file);
    free(v->got[i].msg);
  }
  v->nexp = v->ngot = v->lost = 0;
}

void dy_diag_verifier_destroy(DyDiagVerifier *v) {
  if (!v)
    return;
  clear(v);
  free(v->exp);
  free(v->got);
  free(v->file);
  free(v);
}

static const char *sev_name(DySeverity s) {
  return s == DY_WARNING ? "warning" : s == DY_NOTE ? "note" : "error";
}

/* --- scanning --- */

/* Appends c to buf[*n..cap), escaped for an extended regex when `quote`.
 * Returns 0, or 1 when buf is full. */
static int put_re(char *buf, size_t cap, size_t *n, char c, int quote) {
  if (*n + 3 > cap)
    return 1;
  if (quote && strchr(".[]{}()\\*+?|^$", c))
    buf[(*n)++] = '\\';
  buf[(*n)++] = c;
  buf[*n] = 0;
  return 0;
}

/* Compiles the text of an -re expectation: the parts in double braces are
 * regular expressions, the rest literal. Returns NULL and sets *why (a
 * static or buffer message) on a bad pattern. */
static regex_t *compile_re(const char *text, char *why, size_t whyn) {
  size_t len = strlen(text), cap = 2 * len + 3 * len / 2 + 8, n = 0;
  char *pat = malloc(cap);
  if (!pat) {
    snprintf(why, whyn, "out of memory");
    return NULL;
  }
  pat[0] = 0;
  for (size_t i = 0; i < len;) {
    if (text[i] == '{' && text[i + 1] == '{') {
      const char *e = strstr(text + i + 2, "}}");
      if (!e) {
        snprintf(why, whyn, "a regular expression lacks its closing braces");
        free(pat);
        return NULL;
      }
      put_re(pat, cap, &n, '(', 0);
      for (const char *p = text + i + 2; p < e; p++)
        put_re(pat, cap, &n, *p, 0);
      put_re(pat, cap, &n, ')', 0);
      i = (size_t)(e + 2 - text);
    } else {
      put_re(pat, cap, &n, text[i++], 1);
    }
  }
  regex_t *re = malloc(sizeof *re);
  int rc = re ? regcomp(re, pat, REG_EXTENDED | REG_NOSUB) : REG_ESPACE;
  free(pat);
  if (rc) {
    char msg[128];
    if (re)
      regerror(rc, re, msg, sizeof msg);
    else
      snprintf(msg, sizeof msg, "out of memory");
    snprintf(why, whyn, "invalid regular expression: %s", msg);
    free(re);
    return NULL;
  }
  return re;
}

/* Where an expectation applies. */
typedef enum Where { AT_SAME, AT_REL, AT_ABOVE, AT_BELOW } Where;

/* Reads the expectation that may start at p (just past `expected-`) in the
 * line [p, end). Returns 0 when this is prose, not an expectation; 1 when
 * it is one (well formed or not: a malformed one has been reported and
 * *e->text stays NULL). */
static int read_expect(const char *p, const char *end, DyLoc at, Expect *e,
                       Where *where, int *rel, DyDiag *d) {
  static const char *const kinds[] = {"error", "warning", "note"};
  int k = 0;
  while (k < 3 && !((size_t)(end - p) >= strlen(kinds[k]) &&
                    strncmp(p, kinds[k], strlen(kinds[k])) == 0))
    k++;
  if (k == 3)
    return 0;
  p += strlen(kinds[k]);
  int is_re = 0;
  if (end - p >= 3 && strncmp(p, "-re", 3) == 0) {
    is_re = 1;
    p += 3;
  }
  if (p < end && (*p == '-' || *p == '_' || (*p >= 'a' && *p <= 'z') ||
                  (*p >= '0' && *p <= '9')))
    return 0; /* a longer word: expected-errors */
  const char *q = p;
  while (q < end && (*q == ' ' || *q == '\t'))
    q++;
  if (q == end ||
      !(*q == '@' || (*q == ':' && q + 1 < end && q[1] >= '0' && q[1] <= '9') ||
        (*q == '{' && q + 1 < end && q[1] == '{')))
    return 0; /* prose: `expected-error: ...` or `expected-error is ...` */
  memset(e, 0, sizeof *e);
  e->sev = (DySeverity)k;
  e->at = at;
  *where = AT_SAME;
  *rel = 0;
  if (*q == '@') {
    q++;
    if (q < end && (*q == '+' || *q == '-') && q + 1 < end && q[1] >= '0' &&
        q[1] <= '9') {
      int sign = *q == '-' ? -1 : 1, n = 0;
      for (q++; q < end && *q >= '0' && *q <= '9'; q++)
        n = n < 100000000 ? n * 10 + (*q - '0') : n;
      *where = AT_REL;
      *rel = sign * n;
    } else if (end - q >= 5 && strncmp(q, "above", 5) == 0) {
      *where = AT_ABOVE;
      q += 5;
    } else if (end - q >= 5 && strncmp(q, "below", 5) == 0) {
      *where = AT_BELOW;
      q += 5;
    } else {
      const char *w = q;
      while (w < end && *w != ' ' && *w != '\t' && *w != ':' && *w != '{')
        w++;
      dy_error(d, at,
               "malformed expectation: unknown location '@%.*s' (use @+N, "
               "@-N, @above or @below)",
               (int)(w - q), q);
      return 1;
    }
  }
  if (q < end && *q == ':') {
    q++;
    if (!(q < end && *q >= '1' && *q <= '9')) {
      dy_error(d, at,
               "malformed expectation: expected a column number "
               "after ':'");
      return 1;
    }
    for (; q < end && *q >= '0' && *q <= '9'; q++)
      e->col = e->col < 100000000 ? e->col * 10 + (*q - '0') : e->col;
  }
  while (q < end && (*q == ' ' || *q == '\t'))
    q++;
  if (!(end - q >= 2 && q[0] == '{' && q[1] == '{')) {
    dy_error(d, at,
             "malformed expectation: expected the message in double braces");
    return 1;
  }
  q += 2;
  const char *t = end;
  while (t > q && (t[-1] == ' ' || t[-1] == '\t' || t[-1] == '\r'))
    t--;
  if (!(t - q >= 2 && t[-1] == '}' && t[-2] == '}')) {
    dy_error(d, at,
             "malformed expectation: the message must end the line, closed "
             "by double braces");
    return 1;
  }
  e->text = dup_str(q, (size_t)(t - 2 - q));
  if (!e->text) {
    dy_error(d, at, "out of memory reading an expectation");
    return 1;
  }
  if (is_re) {
    char why[200];
    e->re = compile_re(e->text, why, sizeof why);
    if (!e->re) {
      dy_error(d, at, "malformed expectation: %s", why);
      free(e->text);
      e->text = NULL;
      return 1;
    }
  }
  return 1;
}

/* Appends e to v. Returns 0, or 1 when out of memory. */
static int add_expect(DyDiagVerifier *v, const Expect *e) {
  if (v->nexp == v->capexp) {
    int cap = v->capexp ? 2 * v->capexp : 16;
    Expect *n = realloc(v->exp, (size_t)cap * sizeof *n);
    if (!n)
      return 1;
    v->exp = n;
    v->capexp = cap;
  }
  v->exp[v->nexp++] = *e;
  return 0;
}

static void drop_expect(Expect *e) {
  free(e->text);
  if (e->re) {
    regfree(e->re);
    free(e->re);
  }
}

int dy_diag_verifier_scan(DyDiagVerifier *v, const char *text, size_t len,
                          int line_offset, DyDiag *d) {
  /* The last line is the one the end of the text is on: a diagnostic at
   * the end of the file after a final newline is on the line after it. */
  int first = line_offset + 1, last = first;
  for (size_t i = 0; i < len; i++)
    if (text[i] == '\n')
      last++;
  int bad = 0, line = first, above = 0;
  int *below = NULL, nbelow = 0; /* indices in v->exp waiting for a line */
  for (size_t ls = 0; ls < len; line++) {
    size_t le = ls;
    while (le < len && text[le] != '\n')
      le++;
    const char *s = text + ls, *end = text + le;
    const char *c = NULL;
    for (const char *p = s; p + 1 < end; p++)
      if (p[0] == '/' && p[1] == '/') {
        c = p + 2;
        break;
      }
    int found = 0;
    while (c && !found) {
      const char *x = NULL;
      for (const char *p = c; p + 9 <= end; p++)
        if (strncmp(p, "expected-", 9) == 0) {
          x = p;
          break;
        }
      if (!x)
        break;
      DyLoc at = {v->file, line, (int)(x - s) + 1};
      Expect e;
      Where where;
      int rel;
      found = read_expect(x + 9, end, at, &e, &where, &rel, d);
      c = x + 9;
      if (!found)
        continue;
      if (!e.text) {
        bad++;
        continue;
      }
      e.line = line;
      const char *err = NULL;
      if (where == AT_REL) {
        e.line = line + rel;
        if (e.line < first || e.line > last)
          err = "out of range";
      } else if (where == AT_ABOVE) {
        e.line = above;
        if (!above)
          err = "@above with no line above it";
      }
      if (err && where == AT_REL) {
        dy_error(d, at,
                 "malformed expectation: @%+d refers to line %d, outside "
                 "the input (lines %d to %d)",
                 rel, e.line, first, last);
      } else if (err) {
        dy_error(d, at, "malformed expectation: %s", err);
      }
      if (err || add_expect(v, &e)) {
        if (!err)
          dy_error(d, at, "out of memory reading an expectation");
        drop_expect(&e);
        bad++;
        continue;
      }
      if (where == AT_BELOW) {
        int *nb = realloc(below, (size_t)(nbelow + 1) * sizeof *nb);
        if (!nb) {
          dy_error(d, at, "out of memory reading an expectation");
          bad++;
          continue;
        }
        below = nb;
        below[nbelow++] = v->nexp - 1;
      }
    }
    if (!found) {
      for (int i = 0; i < nbelow; i++)
        v->exp[below[i]].line = line;
      nbelow = 0;
      above = line;
    }
    ls = le + 1;
  }
  /* Dangling @below: report and forget, last first so indices hold. */
  for (int i = nbelow - 1; i >= 0; i--) {
    Expect *e = &v->exp[below[i]];
    dy_error(d, e->at, "malformed expectation: @below with no line below it");
    drop_expect(e);
    memmove(e, e + 1, (size_t)(v->nexp - below[i] - 1) * sizeof *e);
    v->nexp--;
    bad++;
  }
  free(below);
  return bad;
}

/* --- capturing --- */

void dy_diag_verifier_collect(void *ctx, DySeverity sev, DyLoc loc,
                              const char *msg) {
  DyDiagVerifier *v = ctx;
  if (v->ngot == v->capgot) {
    int cap = v->capgot ? 2 * v->capgot : 16;
    Captured *n = realloc(v->got, (size_t)cap * sizeof *n);
    if (!n) {
      v->lost++;
      return;
    }
    v->got = n;
    v->capgot = cap;
  }
  Captured c;
  c.sev = sev;
  c.line = loc.line;
  c.col = loc.col;
  c.file = loc.file ? dup_str(loc.file, strlen(loc.file)) : NULL;
  c.msg = dup_str(msg, strlen(msg));
  if (!c.msg || (loc.file && !c.file)) {
    free(c.file);
    free(c.msg);
    v->lost++;
    return;
  }
  v->got[v->ngot++] = c;
}

void dy_diag_verifier_attach(DyDiagVerifier *v, DyDiag *d) {
  v->saved_fn = d->fn;
  v->saved_ctx = d->ctx;
  d->fn = dy_diag_verifier_collect;
  d->ctx = v;
}

void dy_diag_verifier_detach(DyDiagVerifier *v, DyDiag *d) {
  d->fn = v->saved_fn;
  d->ctx = v->saved_ctx;
}

/* --- matching --- */

static int text_matches(const Expect *e, const char *msg) {
  if (e->re)
    return regexec(e->re, msg, 0, NULL, 0) == 0;
  return strstr(msg, e->text) != NULL;
}

int dy_diag_verifier_check(DyDiagVerifier *v, DyDiag *d) {
  int problems = 0;
  for (int i = 0; i < v->ngot; i++) {
    const Captured *g = &v->got[i];
    DyLoc loc = {g->file, g->line, g->col};
    int ours = g->file && g->line > 0 && strcmp(g->file, v->file) == 0;
    Expect *hit = NULL, *other_sev = NULL, *other_col = NULL;
    for (int j = 0; ours && j < v->nexp && !hit; j++) {
      Expect *e = &v->exp[j];
      if (e->matched || e->line != g->line || !text_matches(e, g->msg))
        continue;
      if (e->sev != g->sev)
        other_sev = other_sev ? other_sev : e;
      else if (e->col && e->col != g->col)
        other_col = other_col ? other_col : e;
      else
        hit = e;
    }
    if (hit) {
      hit->matched = 1;
      continue;
    }
    problems++;
    if (other_col)
      dy_error(d, loc, "%s at column %d, expected at column %d: %s",
               sev_name(g->sev), g->col, other_col->col, g->msg);
    else if (other_sev)
      dy_error(d, loc, "'%s' diagnostic emitted when expecting a '%s': %s",
               sev_name(g->sev), sev_name(other_sev->sev), g->msg);
    else
      dy_error(d, loc, "unexpected %s: %s", sev_name(g->sev), g->msg);
  }
  for (int j = 0; j < v->nexp; j++) {
    const Expect *e = &v->exp[j];
    if (e->matched)
      continue;
    problems++;
    dy_error(d, e->at, "expected %s \"%s\" was not produced", sev_name(e->sev),
             e->text);
  }
  if (v->lost) {
    DyLoc loc = {v->file, 0, 0};
    dy_error(d, loc, "%d diagnostics were lost for want of memory", v->lost);
    problems++;
  }
  clear(v);
  return problems;
}
