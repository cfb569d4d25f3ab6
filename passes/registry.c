/* The pass registry built from passes.def. */
#include <string.h>

#include "dyad/pass.h"

static const DyPassInfo passes[] = {
#define DY_PASS(NAME, FN, DESC) {NAME, FN, DESC},
#include "passes.def"
#undef DY_PASS
};

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
