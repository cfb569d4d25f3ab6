/* The pass registry built from passes.def. */
#include <string.h>

#include "dyad/pass.h"

static const DyPassInfo passes[] = {
#define DY_PASS(NAME, FN, DESC) {NAME, FN, NULL, DESC},
#define DY_PASS_OPTS(NAME, FN, DESC) {NAME, NULL, FN, DESC},
#include "passes.def"
#undef DY_PASS
#undef DY_PASS_OPTS
};

int dy_pass_run(const DyPassInfo *p, DyGraph *g, const char *opts, DyDiag *d) {
  if (p->run_opts)
    return p->run_opts(g, opts, d);
  if (opts && *opts) {
    dy_error(d, g->loc, "pass '%s' takes no options", p->name);
    return 1;
  }
  return p->run(g, d);
}

const DyPassInfo *dy_pass_lookup(const char *name, size_t len) {
  for (size_t i = 0; i < sizeof passes / sizeof passes[0]; i++)
    if (strlen(passes[i].name) == len && memcmp(passes[i].name, name, len) == 0)
      return &passes[i];
  return NULL;
}

const DyPassInfo *dy_pass_list(int *n) {
  *n = (int)(sizeof passes / sizeof passes[0]);
  return passes;
}
