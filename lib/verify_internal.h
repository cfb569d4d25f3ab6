/* Shared between the files of the verifier (verify.c, verify_int.c,
 * infer.c): the error macro of the op checks, a quiet diagnostics sink, and
 * the checks of the integer forms. Not a public header. */
#ifndef DYAD_VERIFY_INTERNAL_H
#define DYAD_VERIFY_INTERNAL_H

#include "dyad/ir.h"

/* Reports a bad op or attribute at op->loc and returns 1 (op and d in
 * scope). */
#define BAD(...) (dy_error(d, op->loc, __VA_ARGS__), 1)

/* A sink callback that drops every message: a quiet DyDiag. */
static inline void silent(void *ctx, DySeverity sev, DyLoc loc,
                          const char *msg) {}

/* --- the integer forms (verify_int.c), checked by check_elem_types --- */

int dy_verify_integer_layer(const DyOp *op, DyDiag *d);
int dy_verify_integer_softmax(const DyOp *op, DyDiag *d);

#endif
