/* The pass registry built from passes.def, and what every pass shares:
 * option tables parsed and printed, the level check, the run with its
 * scratch arena. */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dyad/pass.h"

#define DY_PASS(NAME, DEF, ACCEPTS, PRODUCES) extern const DyPassDef DEF;
#include "passes.def"
#undef DY_PASS

static const DyPassInfo passes[] = {
#define DY_PASS(NAME, DEF, ACCEPTS, PRODUCES) {NAME, &DEF, ACCEPTS, PRODUCES},
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

/* --- options --- */

static int parse_int(const char *v, int64_t *out) {
  char *end;
  errno = 0;
  long long x = strtoll(v, &end, 10);
  if (errno || end == v || *end)
    return 0;
  *out = x;
  return 1;
}

static int parse_double(const char *v, double *out) {
  char *end;
  errno = 0;
  double x = strtod(v, &end);
  if (errno || end == v || *end || isnan(x))
    return 0;
  *out = x;
  return 1;
}

const char *const *dy_pass_parse_list(DyArena *a, const char *v) {
  int n = 1;
  for (const char *p = v; *p; p++)
    n += *p == ':';
  const char **list = dy_arena_alloc(a, (size_t)(n + 1) * sizeof *list);
  int k = 0;
  for (const char *p = v;;) {
    const char *e = strchr(p, ':');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    if (len)
      list[k++] = dy_arena_strndup(a, p, len);
    if (!e)
      break;
    p = e + 1;
  }
  list[k] = NULL;
  return list;
}

static const DyPassOption *find_option(const DyPassInfo *p, const char *key) {
  for (const DyPassOption *o = p->def->options; o && o->name; o++)
    if (strcmp(o->name, key) == 0)
      return o;
  return NULL;
}

static void store_int(void *field, size_t size, int64_t v) {
  if (size == sizeof(int)) {
    int x = (int)v;
    memcpy(field, &x, sizeof x);
  } else {
    DY_ASSERT(size == sizeof(int64_t));
    memcpy(field, &v, sizeof v);
  }
}

static int64_t load_int(const void *field, size_t size) {
  if (size == sizeof(int)) {
    int x;
    memcpy(&x, field, sizeof x);
    return x;
  }
  int64_t v;
  memcpy(&v, field, sizeof v);
  return v;
}

void *dy_pass_opts_create(const DyPassInfo *p, DyArena *arena) {
  if (!p->def->opts_size)
    return NULL;
  void *opts = dy_arena_alloc(arena, p->def->opts_size);
  if (p->def->opts_init)
    p->def->opts_init(opts);
  return opts;
}

int dy_pass_set_option(const DyPassInfo *p, void *opts, const char *key,
                       const char *v, DyArena *arena, char *err, size_t errn) {
  const DyPassOption *o = find_option(p, key);
  if (!o)
    return -1;
  if (o->set)
    return o->set(opts, v, arena, err, errn);
  char *field = (char *)opts + o->offset;
  int64_t i;
  double x;
  switch (o->kind) {
  case DY_OPT_INT: {
    int ok = parse_int(v, &i) && i >= o->lo && i <= o->hi;
    if (ok && o->choices) {
      ok = 0;
      for (int k = 0; o->choices[k]; k++)
        ok |= strcmp(o->choices[k], v) == 0;
    }
    if (!ok) {
      snprintf(err, errn, "%s must be %s, got '%s'", key, o->must, v);
      return 1;
    }
    store_int(field, o->size, i);
    return 0;
  }
  case DY_OPT_FLOAT:
    if (!parse_double(v, &x) || (o->lo_open ? !(x > o->lo) : !(x >= o->lo)) ||
        (o->hi_open ? !(x < o->hi) : !(x <= o->hi))) {
      snprintf(err, errn, "%s must be %s, got '%s'", key, o->must, v);
      return 1;
    }
    memcpy(field, &x, sizeof x);
    return 0;
  case DY_OPT_BOOL:
    if (strcmp(v, "1") == 0 || strcmp(v, "true") == 0)
      i = 1;
    else if (strcmp(v, "0") == 0 || strcmp(v, "false") == 0)
      i = 0;
    else {
      snprintf(err, errn, "%s takes 0 or 1, got '%s'", key, v);
      return 1;
    }
    store_int(field, sizeof(int), i);
    return 0;
  case DY_OPT_ENUM:
    for (int k = 0; o->choices[k]; k++)
      if (strcmp(o->choices[k], v) == 0) {
        store_int(field, sizeof(int), k);
        return 0;
      }
    snprintf(err, errn, "%s must be %s, got '%s'", key, o->must, v);
    return 1;
  case DY_OPT_STR: {
    if (!*v) {
      snprintf(err, errn, "%s= needs %s", key, o->must);
      return 1;
    }
    const char *s = dy_arena_strdup(arena, v);
    memcpy(field, &s, sizeof s);
    return 0;
  }
  case DY_OPT_LIST: {
    const char *const *list = dy_pass_parse_list(arena, v);
    memcpy(field, &list, sizeof list);
    return 0;
  }
  }
  return -1;
}

int dy_pass_parse_options(const DyPassInfo *p, void *opts, const char *text,
                          DyArena *arena, DyLoc loc, DyDiag *d) {
  const char *s = text ? text : "";
  while (*s) {
    while (*s == ' ')
      s++;
    if (!*s)
      break;
    const char *e = s;
    while (*e && *e != ' ')
      e++;
    char tok[1024], err[256];
    size_t n = (size_t)(e - s);
    if (n >= sizeof tok) {
      dy_error(d, loc, "%s: option too long", p->name);
      return 1;
    }
    memcpy(tok, s, n);
    tok[n] = 0;
    char *eq = strchr(tok, '=');
    if (!p->def->options) {
      dy_error(d, loc, "pass '%s' takes no options", p->name);
      return 1;
    }
    if (!eq) {
      dy_error(d, loc, "%s: option '%s' needs a value (key=value)", p->name,
               tok);
      return 1;
    }
    *eq = 0;
    int rc = dy_pass_set_option(p, opts, tok, eq + 1, arena, err, sizeof err);
    if (rc < 0)
      dy_error(d, loc, "%s: unknown option '%s'", p->name, tok);
    else if (rc)
      dy_error(d, loc, "%s: %s", p->name, err);
    if (rc)
      return 1;
    s = e;
  }
  return 0;
}

/* --- running --- */

static int check_level(const DyPassInfo *p, const DyGraph *g, DyDiag *d) {
  if (p->accepts == DY_LEVEL_ANY)
    return 0;
  DyIRLevel l = dy_graph_level(g);
  if (p->accepts & l)
    return 0;
  char want[64] = "";
  for (unsigned f = 1; f <= DY_LEVEL_KERNEL; f <<= 1)
    if (p->accepts & f) {
      if (want[0])
        strncat(want, " or ", sizeof want - strlen(want) - 1);
      strncat(want, dy_level_name((DyIRLevel)f),
              sizeof want - strlen(want) - 1);
    }
  dy_error(d, g->loc, "pass '%s' runs on %s graphs, not on this %s graph",
           p->name, want, dy_level_name(l));
  return 1;
}

int dy_pass_run_with(const DyPassInfo *p, DyGraph *g, void *opts,
                     const DyTarget *target, DyDiag *d) {
  if (check_level(p, g, d))
    return 1;
  DyPassContext ctx = {opts, target, dy_arena_create(), d};
  int rc = p->def->run(g, &ctx);
  if (rc == 0)
    dy_graph_refresh_level(g);
  dy_arena_destroy(ctx.scratch);
  return rc;
}

int dy_pass_run(const DyPassInfo *p, DyGraph *g, const char *opts_text,
                const DyTarget *target, DyDiag *d) {
  DyArena *arena = dy_arena_create();
  void *opts = dy_pass_opts_create(p, arena);
  int rc = 1;
  if (opts_text && *opts_text && !p->def->options)
    dy_error(d, g->loc, "pass '%s' takes no options", p->name);
  else if (!dy_pass_parse_options(p, opts, opts_text, arena, g->loc, d))
    rc = dy_pass_run_with(p, g, opts, target, d);
  dy_arena_destroy(arena);
  return rc;
}

int dy_pass_run_named(const char *name, DyGraph *g, DyDiag *d) {
  const DyPassInfo *p = dy_pass_lookup(name, strlen(name));
  DY_ASSERT(p);
  return dy_pass_run(p, g, NULL, NULL, d);
}

void dy_pass_print_options(FILE *out, const DyPassInfo *p, const char *prefix,
                           const char *except) {
  DyArena *arena = dy_arena_create();
  const char *dflt = dy_pass_opts_create(p, arena);
  for (const DyPassOption *o = p->def->options; o && o->name; o++) {
    if (except && strcmp(o->name, except) == 0)
      continue;
    char values[128];
    if (o->kind == DY_OPT_ENUM) {
      values[0] = 0;
      for (int k = 0; o->choices[k]; k++) {
        if (k)
          strncat(values, "|", sizeof values - strlen(values) - 1);
        strncat(values, o->choices[k], sizeof values - strlen(values) - 1);
      }
    } else {
      snprintf(values, sizeof values, "%s",
               o->kind == DY_OPT_BOOL    ? "0|1"
               : o->kind == DY_OPT_INT   ? "N"
               : o->kind == DY_OPT_FLOAT ? "X"
               : o->kind == DY_OPT_LIST  ? "A:B:..."
                                         : "S");
    }
    char def[64] = "";
    if (!o->set && dflt) {
      const char *field = dflt + o->offset;
      if (o->kind == DY_OPT_INT || o->kind == DY_OPT_BOOL)
        snprintf(def, sizeof def, " (default %lld)",
                 (long long)load_int(field, o->kind == DY_OPT_BOOL ? sizeof(int)
                                                                   : o->size));
      else if (o->kind == DY_OPT_FLOAT) {
        double x;
        memcpy(&x, field, sizeof x);
        snprintf(def, sizeof def, " (default %g)", x);
      } else if (o->kind == DY_OPT_ENUM)
        snprintf(def, sizeof def, " (default %s)",
                 o->choices[load_int(field, sizeof(int))]);
    }
    char head[192];
    snprintf(head, sizeof head, "%s%s=%s", prefix, o->name, values);
    if (strlen(head) > 34)
      fprintf(out, "      %s\n      %-34s %s%s\n", head, "", o->help, def);
    else
      fprintf(out, "      %-34s %s%s\n", head, o->help, def);
  }
  dy_arena_destroy(arena);
}
