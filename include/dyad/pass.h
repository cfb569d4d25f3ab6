/* Passes and their registry (passes/passes.def). */
#ifndef DYAD_PASS_H
#define DYAD_PASS_H

#include "dyad/ir.h"

/* A pass rewrites g in place; returns 0 on success, 1 after reporting an
 * error through d (the graph is then left verifiable but unspecified). */
typedef int (*DyPassFn)(DyGraph *g, DyDiag *d);
/* A pass with options: `opts` is the text of `name{...}`, or NULL. */
typedef int (*DyPassOptsFn)(DyGraph *g, const char *opts, DyDiag *d);

typedef struct DyPassInfo {
  const char *name; /* kebab-case, as on the command line */
  DyPassFn run;     /* NULL for a pass with options */
  DyPassOptsFn run_opts;
  const char *description; /* one line for --help */
} DyPassInfo;

#define DY_PASS(NAME, FN, DESC) int FN(DyGraph *g, DyDiag *d);
#define DY_PASS_OPTS(NAME, FN, DESC)                                           \
  int FN(DyGraph *g, const char *opts, DyDiag *d);
#include "../../passes/passes.def"
#undef DY_PASS
#undef DY_PASS_OPTS

/* Runs a pass with optional options text (NULL: none). A pass without
 * options given some is an error. */
int dy_pass_run(const DyPassInfo *p, DyGraph *g, const char *opts, DyDiag *d);

/* Sets one quantization option by its command-line name (see
 * docs/quantization.md); any of c, q, f may be NULL. Returns 1, or 0 with
 * a message in err. Lists are allocated in `arena`. */
struct DyCalibOptions;
struct DyQuantOptions;
struct DyFoldOptions;
int dy_quant_set_option(DyArena *arena, const char *key, const char *val,
                        struct DyCalibOptions *c, struct DyQuantOptions *q,
                        struct DyFoldOptions *f, char *err, size_t errn);

const DyPassInfo *dy_pass_lookup(const char *name, size_t len);
/* The registered passes, in passes.def order; *n receives the count. */
const DyPassInfo *dy_pass_list(int *n);

#endif
