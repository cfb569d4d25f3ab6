/* Passes: one signature for every pass, option tables the passes own, the
 * IR levels a pass accepts, and the registry (passes/passes.def). */
#ifndef DYAD_PASS_H
#define DYAD_PASS_H

#include <stddef.h>
#include <stdio.h>

#include "dyad/ir.h"

/* A target description (triple, CPU, features, cost table). The backend
 * defines it; passes that do not lower for a target never look at it, and
 * until then every pass is given NULL. */
typedef struct DyTarget DyTarget;

/* --- options --- */

typedef enum DyOptKind {
  DY_OPT_INT,   /* an integer in [lo, hi] (or one of `choices`) */
  DY_OPT_FLOAT, /* a double in lo..hi, each end open or closed */
  DY_OPT_BOOL,  /* 0 or 1 (true, false), stored as int */
  DY_OPT_ENUM,  /* one of `choices`, stored as its index (an int or enum) */
  DY_OPT_STR,   /* a non-empty string, copied into the arena */
  DY_OPT_LIST   /* a ':'-separated list, a NULL-terminated array */
} DyOptKind;

/* One option of a pass: `name=value` in dyad-opt's `pass{...}`, and
 * `--name=value` in the dyad driver. The value is stored at `offset` in the
 * pass's option struct (`size` bytes: int or int64_t for DY_OPT_INT). */
typedef struct DyPassOption {
  const char *name; /* kebab-case */
  DyOptKind kind;
  size_t offset, size;
  double lo, hi;              /* DY_OPT_INT, DY_OPT_FLOAT bounds */
  int lo_open;                /* DY_OPT_FLOAT: lo itself is excluded */
  int hi_open;                /* DY_OPT_FLOAT: hi itself is excluded */
  const char *const *choices; /* DY_OPT_ENUM names; DY_OPT_INT: the only
                                 values allowed, as text (NULL: any) */
  const char *must;           /* the accepted values in words, for messages:
                                 "2 to 8", "in (50, 100]" */
  const char *help;           /* one line for --help */
  /* Sets the value itself instead of the generic code (NULL: generic);
   * returns 0, or 1 with a message in err. */
  int (*set)(void *opts, const char *value, DyArena *arena, char *err,
             size_t errn);
} DyPassOption;

/* The offset and size of a field, for DyPassOption. */
#define DY_OPT_FIELD(T, F) offsetof(T, F), sizeof(((T *)0)->F)

/* --- passes --- */

/* What a pass is given besides the graph. */
typedef struct DyPassContext {
  void *opts;             /* the pass's option struct, set from its table */
  const DyTarget *target; /* NULL until the backend exists */
  DyArena *scratch;       /* freed when the pass returns */
  DyDiag *diag;           /* every message goes here */
} DyPassContext;

/* A pass rewrites g in place; returns 0 on success, 1 after reporting an
 * error through ctx->diag (the graph is then left verifiable but
 * unspecified). */
typedef int (*DyPassFn)(DyGraph *g, const DyPassContext *ctx);

/* What a pass file defines: `const DyPassDef dy_pass_NAME = {...}`. */
typedef struct DyPassDef {
  const char *summary; /* one line for --help */
  DyPassFn run;
  size_t opts_size;              /* sizeof its option struct (0: none) */
  void (*opts_init)(void *opts); /* sets the defaults */
  const DyPassOption *options;   /* its table (NULL-named entry ends it) */
} DyPassDef;

/* A registered pass: passes.def gives its name and the levels it accepts
 * and aims at. */
typedef struct DyPassInfo {
  const char *name; /* kebab-case, as on the command line */
  const DyPassDef *def;
  unsigned accepts;   /* DY_LEVEL_* flags of the graphs it runs on */
  DyIRLevel produces; /* the level it leads to when it succeeds fully
                         (0: the level is unchanged) */
} DyPassInfo;

const DyPassInfo *dy_pass_lookup(const char *name, size_t len);
/* The registered passes, in passes.def order; *n receives the count. */
const DyPassInfo *dy_pass_list(int *n);

/* Allocates p's option struct in `arena` with its defaults. Returns NULL
 * for a pass without options. */
void *dy_pass_opts_create(const DyPassInfo *p, DyArena *arena);
/* Sets one option by name. Returns 0, 1 with a message in err ("name must
 * be ..."), or -1 when p has no option of that name. */
int dy_pass_set_option(const DyPassInfo *p, void *opts, const char *key,
                       const char *value, DyArena *arena, char *err,
                       size_t errn);
/* A ':'-separated list (empty items dropped) as a NULL-terminated array
 * in the arena: the value of a DY_OPT_LIST option. */
const char *const *dy_pass_parse_list(DyArena *arena, const char *value);
/* Parses `key=value key=value` (the text between the braces of
 * `name{...}`) into opts; reports "name: message" at loc. */
int dy_pass_parse_options(const DyPassInfo *p, void *opts, const char *text,
                          DyArena *arena, DyLoc loc, DyDiag *d);

/* Runs p on g with options given as text (NULL: the defaults), after
 * checking that g's level is one p accepts. */
int dy_pass_run(const DyPassInfo *p, DyGraph *g, const char *opts_text,
                const DyTarget *target, DyDiag *d);
/* The same with an option struct already filled (dy_pass_opts_create). */
int dy_pass_run_with(const DyPassInfo *p, DyGraph *g, void *opts,
                     const DyTarget *target, DyDiag *d);
/* Runs the named pass (which must exist) with its defaults. */
int dy_pass_run_named(const char *name, DyGraph *g, DyDiag *d);

/* Entry points of the passes without options, for callers that run them
 * directly (the passes with options have theirs in quant.h). */
int dy_canonicalize(DyGraph *g, DyDiag *d);
int dy_fold_batchnorm(DyGraph *g, DyDiag *d);

/* Writes p's options, one a line: "  name=VALUES  help (default D)", with
 * `prefix` before each name ("--" for the driver), leaving out the option
 * named `except` (NULL: none). */
void dy_pass_print_options(FILE *out, const DyPassInfo *p, const char *prefix,
                           const char *except);

#endif
