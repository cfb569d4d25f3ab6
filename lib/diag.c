/* Diagnostics: formatting of `file:line:col: error: msg` with a caret. */
#include "dyad/diag.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void dy_diag_init(DyDiag *d) {
  memset(d, 0, sizeof *d);
  d->prog = "dyad";
}

void dy_diag_fini(DyDiag *d) {
  DyDiagSource *s = d->sources;
  while (s) {
    DyDiagSource *n = s->next;
    free(s);
    s = n;
  }
  d->sources = NULL;
}

void dy_diag_add_source(DyDiag *d, const char *file, const char *text,
                        size_t len) {
  DyDiagSource *s = calloc(1, sizeof *s);
  if (!s)
    return; /* only the caret display is lost */
  s->file = file;
  s->text = text;
  s->len = len;
  s->next = d->sources;
  d->sources = s;
}

static const char *sev_name(DySeverity s) {
  switch (s) {
  case DY_ERROR:
    return "error";
  case DY_WARNING:
    return "warning";
  case DY_NOTE:
    return "note";
  }
  return "error";
}

/* Prints the source line of loc and a caret under its column, if the text
 * of loc.file was registered. Tabs are kept so the caret lines up. */
static void print_caret(const DyDiag *d, DyLoc loc) {
  if (!loc.file || loc.line <= 0)
    return;
  const DyDiagSource *s = d->sources;
  while (s && !(s->file == loc.file || strcmp(s->file, loc.file) == 0))
    s = s->next;
  if (!s)
    return;
  const char *p = s->text, *end = s->text + s->len;
  for (int line = 1; line < loc.line && p < end; p++)
    if (*p == '\n')
      line++;
  const char *eol = p;
  while (eol < end && *eol != '\n')
    eol++;
  fprintf(stderr, "%.*s\n", (int)(eol - p), p);
  for (int i = 1; i < loc.col && p + i - 1 < eol; i++)
    fputc(p[i - 1] == '\t' ? '\t' : ' ', stderr);
  fputs("^\n", stderr);
}

void dy_vreport(DyDiag *d, DySeverity sev, DyLoc loc, const char *fmt,
                va_list ap) {
  char msg[2048];
  vsnprintf(msg, sizeof msg, fmt, ap);
  if (sev == DY_ERROR)
    d->nerrors++;
  else if (sev == DY_WARNING)
    d->nwarnings++;
  if (d->fn) {
    d->fn(d->ctx, sev, loc, msg);
    return;
  }
  if (loc.file && loc.line > 0)
    fprintf(stderr, "%s:%d:%d: %s: %s\n", loc.file, loc.line, loc.col,
            sev_name(sev), msg);
  else if (loc.file)
    fprintf(stderr, "%s: %s: %s\n", loc.file, sev_name(sev), msg);
  else
    fprintf(stderr, "%s: %s: %s\n", d->prog ? d->prog : "dyad", sev_name(sev),
            msg);
  print_caret(d, loc);
}

#define DY_REPORT_FN(NAME, SEV)                                                \
  void NAME(DyDiag *d, DyLoc loc, const char *fmt, ...) {                      \
    va_list ap;                                                                \
    va_start(ap, fmt);                                                         \
    dy_vreport(d, SEV, loc, fmt, ap);                                          \
    va_end(ap);                                                                \
  }
DY_REPORT_FN(dy_error, DY_ERROR)
DY_REPORT_FN(dy_warning, DY_WARNING)
DY_REPORT_FN(dy_note, DY_NOTE)

void dy_assert_fail(const char *cond, const char *file, int line) {
  fprintf(stderr, "%s:%d: internal error: assertion '%s' failed\n", file, line,
          cond);
  abort();
}
