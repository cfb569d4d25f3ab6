/* Diagnostics: every error in the library goes through a DyDiag sink. */
#ifndef DYAD_DIAG_H
#define DYAD_DIAG_H

#include <stdarg.h>
#include <stddef.h>

/* A position in a source file; line and col start at 1, 0 means unknown. */
typedef struct DyLoc {
  const char *file; /* NULL when the object was not parsed from a file */
  int line;
  int col;
} DyLoc;

typedef enum DySeverity { DY_ERROR, DY_WARNING, DY_NOTE } DySeverity;

typedef struct DyDiag DyDiag;

/* Receives one finished message (no trailing newline). */
typedef void (*DyDiagFn)(void *ctx, DySeverity sev, DyLoc loc, const char *msg);

/* Source text registered with the sink, so that messages can show the line
 * and a caret under the column. */
typedef struct DyDiagSource {
  const char *file;
  const char *text;
  size_t len;
  struct DyDiagSource *next;
} DyDiagSource;

struct DyDiag {
  DyDiagFn fn; /* NULL: print to stderr */
  void *ctx;   /* passed to fn */
  int nerrors; /* errors reported so far */
  int nwarnings;
  DyDiagSource *sources; /* owned; freed by dy_diag_fini */
  const char *prog;      /* prefix of messages without a file: "dyad" */
};

/* Initializes a sink that prints to stderr. */
void dy_diag_init(DyDiag *d);
void dy_diag_fini(DyDiag *d);

/* Registers a copy-free view of a file's text; the text must outlive d. */
void dy_diag_add_source(DyDiag *d, const char *file, const char *text,
                        size_t len);

void dy_error(DyDiag *d, DyLoc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void dy_warning(DyDiag *d, DyLoc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void dy_note(DyDiag *d, DyLoc loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void dy_vreport(DyDiag *d, DySeverity sev, DyLoc loc, const char *fmt,
                va_list ap);

/* Internal consistency check: a failure is a bug in dyad, never a user
 * error, and stops the process naming file and line. */
#define DY_ASSERT(cond)                                                        \
  ((cond) ? (void)0 : dy_assert_fail(#cond, __FILE__, __LINE__))
void dy_assert_fail(const char *cond, const char *file, int line)
    __attribute__((noreturn));

#endif
