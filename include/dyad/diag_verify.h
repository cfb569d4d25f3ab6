/* Expected diagnostics: `// expected-error {{...}}` comments in a source
 * checked against what was reported, as mlir-opt --verify-diagnostics. */
#ifndef DYAD_DIAG_VERIFY_H
#define DYAD_DIAG_VERIFY_H

#include <stddef.h>

#include "dyad/diag.h"

/* The expectations of one source (or one part of a split source) and the
 * diagnostics captured while it was processed.
 *
 * An expectation is a `//` comment of the form
 *   expected-<kind>[-re][ @<where>][:<col>] {{<text>}}
 * where <kind> is error, warning or note; <where> is +N or -N (lines below
 * or above the comment), above (the closest line above that holds no
 * expectation) or below (the closest such line below); without it, the
 * comment's own line. <text> must be a substring of the message; with -re,
 * the parts of <text> in double braces are POSIX extended regular
 * expressions and the rest is literal. :<col> (a dyad extension, as in
 * llvm-mc) also requires the column. Each expectation accounts for one
 * diagnostic: the same message twice on a line needs two expectations. */
typedef struct DyDiagVerifier DyDiagVerifier;

/* Creates a verifier for the source named `file` (the name diagnostics of
 * that source carry; copied). Returns NULL when out of memory. */
DyDiagVerifier *dy_diag_verifier_create(const char *file);
void dy_diag_verifier_destroy(DyDiagVerifier *v);

/* Adds the expectations written in text[0..len), whose first line is line
 * line_offset + 1 of the file. Malformed expectations are reported to d as
 * errors; returns their number (0 when all are well formed). */
int dy_diag_verifier_scan(DyDiagVerifier *v, const char *text, size_t len,
                          int line_offset, DyDiag *d);

/* A DyDiagFn (ctx is the verifier): records one diagnostic for the check
 * instead of printing it. */
void dy_diag_verifier_collect(void *ctx, DySeverity sev, DyLoc loc,
                              const char *msg);

/* Makes d's messages go to v (dy_diag_verifier_collect) until detached;
 * detach restores d's previous fn and ctx. */
void dy_diag_verifier_attach(DyDiagVerifier *v, DyDiag *d);
void dy_diag_verifier_detach(DyDiagVerifier *v, DyDiag *d);

/* Matches the captured diagnostics against the expectations (same file,
 * line, severity; the text a substring, or the pattern found; the column
 * when one is given) and reports to d, as errors, each captured diagnostic
 * that no expectation accounts for ("unexpected error: ...", at the
 * diagnostic) and each expectation left unmatched ("expected error "..."
 * was not produced", at the comment). Diagnostics without a line in the
 * verifier's file are always unexpected. Then forgets both lists, ready
 * for the next part of a split input. Returns the number of problems
 * reported, 0 when everything matched. */
int dy_diag_verifier_check(DyDiagVerifier *v, DyDiag *d);

#endif
