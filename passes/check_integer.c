/* check-integer: fails unless the graph is integer-only between its entry
 * quantize and exit dequantize (dy_verify_integer_only, lib/verify_int.c); it
 * changes nothing. */
#include "dyad/pass.h"

static int run_pass(DyGraph *g, const DyPassContext *ctx) {
  return dy_verify_integer_only(g, ctx->diag) != 0;
}

const DyPassDef dy_pass_check_integer = {
    "fail unless the graph is integer-only between entry and exit", run_pass, 0,
    NULL, NULL};
