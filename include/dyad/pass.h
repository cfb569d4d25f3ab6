/* Passes and their registry (passes/passes.def). */
#ifndef DYAD_PASS_H
#define DYAD_PASS_H

#include "dyad/ir.h"

/* A pass rewrites g in place; returns 0 on success, 1 after reporting an
 * error through d (the graph is then left verifiable but unspecified). */
typedef int (*DyPassFn)(DyGraph *g, DyDiag *d);

typedef struct DyPassInfo {
  const char *name; /* kebab-case, as on the command line */
  DyPassFn run;
  const char *description; /* one line for --help */
} DyPassInfo;

#define DY_PASS(NAME, FN, DESC) int FN(DyGraph *g, DyDiag *d);
#include "../../passes/passes.def"
#undef DY_PASS

const DyPassInfo *dy_pass_lookup(const char *name, size_t len);
/* The registered passes, in passes.def order; *n receives the count. */
const DyPassInfo *dy_pass_list(int *n);

#endif
