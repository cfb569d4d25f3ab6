/* Options of the quantization passes, shared by dyad-opt's pass options
 * (`quantize{weight-bits=4 granularity=per-group}`) and `dyad quantize`
 * (--weight-bits=4 --granularity=per-group), and the pass entry points. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dyad/pass.h"
#include "dyad/quant.h"

static int parse_long(const char *v, long lo, long hi, long *out) {
  char *end;
  errno = 0;
  long x = strtol(v, &end, 10);
  if (errno || end == v || *end || x < lo || x > hi)
    return 0;
  *out = x;
  return 1;
}

static int parse_double(const char *v, double *out) {
  char *end;
  errno = 0;
  double x = strtod(v, &end);
  if (errno || end == v || *end)
    return 0;
  *out = x;
  return 1;
}

static int parse_bool(const char *v, int *out) {
  if (strcmp(v, "1") == 0 || strcmp(v, "true") == 0) {
    *out = 1;
    return 1;
  }
  if (strcmp(v, "0") == 0 || strcmp(v, "false") == 0) {
    *out = 0;
    return 1;
  }
  return 0;
}

/* A ':'-separated list into a NULL-terminated array in g's arena. */
static const char *const *parse_list(DyArena *a, const char *v) {
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

int dy_quant_set_option(DyArena *arena, const char *key, const char *val,
                        DyCalibOptions *c, DyQuantOptions *q, DyFoldOptions *f,
                        char *err, size_t errn) {
  long l;
  double x;
  int b;
#define BAD(...) (snprintf(err, errn, __VA_ARGS__), 0)
  if (c && strcmp(key, "observer") == 0) {
    if (!dy_observer_from_name(val, &c->observer))
      return BAD("unknown observer '%s' (minmax, moving-average, percentile, "
                 "entropy, mse)",
                 val);
  } else if (c && strcmp(key, "percentile") == 0) {
    if (!parse_double(val, &x) || !(x > 50 && x <= 100))
      return BAD("percentile must be in (50, 100], got '%s'", val);
    c->percentile = x;
  } else if (c && strcmp(key, "averaging") == 0) {
    if (!parse_double(val, &x) || !(x > 0 && x <= 1))
      return BAD("averaging must be in (0, 1], got '%s'", val);
    c->averaging = x;
  } else if (c && !q && strcmp(key, "bits") == 0) {
    if (!parse_long(val, 2, 16, &l))
      return BAD("bits must be 2 to 16, got '%s'", val);
    c->bits = (int)l;
  } else if (c && strcmp(key, "bins") == 0) {
    if (!parse_long(val, 16, 1 << 20, &l))
      return BAD("bins must be in [16, 2^20], got '%s'", val);
    c->bins = (int)l;
  } else if (q && strcmp(key, "weight-bits") == 0) {
    if (!parse_long(val, 2, 8, &l))
      return BAD("weight-bits must be 2 to 8, got '%s'", val);
    q->weights.bits = (int)l;
  } else if (q && strcmp(key, "act-bits") == 0) {
    if (!parse_long(val, 8, 16, &l) || (l != 8 && l != 16))
      return BAD("act-bits must be 8 or 16, got '%s'", val);
    q->acts.bits = (int)l;
    if (c)
      c->bits = (int)l;
  } else if (q && (strcmp(key, "weight-signed") == 0 ||
                   strcmp(key, "act-signed") == 0 ||
                   strcmp(key, "weight-symmetric") == 0 ||
                   strcmp(key, "act-symmetric") == 0 ||
                   strcmp(key, "weight-narrow") == 0 ||
                   strcmp(key, "act-narrow") == 0 ||
                   strcmp(key, "integer-io") == 0)) {
    if (!parse_bool(val, &b))
      return BAD("%s takes 0 or 1, got '%s'", key, val);
    DyQuantScheme *s = key[0] == 'w' ? &q->weights : &q->acts;
    if (strstr(key, "signed"))
      s->is_signed = b;
    else if (strstr(key, "symmetric"))
      s->symmetric = b;
    else if (strstr(key, "narrow"))
      s->narrow = b;
    else
      q->integer_io = b;
  } else if (q && strcmp(key, "granularity") == 0) {
    if (strcmp(val, "per-tensor") == 0)
      q->granularity = DY_GRAN_PER_TENSOR;
    else if (strcmp(val, "per-channel") == 0)
      q->granularity = DY_GRAN_PER_CHANNEL;
    else if (strcmp(val, "per-group") == 0)
      q->granularity = DY_GRAN_PER_GROUP;
    else
      return BAD("granularity must be per-tensor, per-channel or per-group, "
                 "got '%s'",
                 val);
  } else if (q && strcmp(key, "group-size") == 0) {
    if (!parse_long(val, 1, 1 << 20, &l))
      return BAD("group-size must be a positive integer, got '%s'", val);
    q->group_size = (int)l;
  } else if (q && strcmp(key, "weight-rounding") == 0) {
    if (strcmp(val, "half-even") == 0)
      q->rounding = DY_WROUND_HALF_EVEN;
    else if (strcmp(val, "half-away") == 0)
      q->rounding = DY_WROUND_HALF_AWAY;
    else if (strcmp(val, "stochastic") == 0)
      q->rounding = DY_WROUND_STOCHASTIC;
    else
      return BAD("weight-rounding must be half-even, half-away or "
                 "stochastic, got '%s'",
                 val);
  } else if (q && strcmp(key, "seed") == 0) {
    if (!parse_long(val, 0, 0x7fffffffL, &l))
      return BAD("seed must be a non-negative integer, got '%s'", val);
    q->seed = (uint64_t)l;
  } else if (q && strcmp(key, "activations") == 0) {
    if (strcmp(val, "static") == 0)
      q->dynamic = 0;
    else if (strcmp(val, "dynamic") == 0)
      q->dynamic = 1;
    else
      return BAD("activations must be static or dynamic, got '%s'", val);
  } else if (q && strcmp(key, "skip") == 0) {
    q->skip_names = parse_list(arena, val);
  } else if (q && strcmp(key, "skip-ops") == 0) {
    q->skip_ops = parse_list(arena, val);
    for (int i = 0; q->skip_ops[i]; i++) {
      DyOpKind k;
      if (!dy_op_from_name(q->skip_ops[i], strlen(q->skip_ops[i]), &k))
        return BAD("skip-ops: unknown op '%s'", q->skip_ops[i]);
    }
  } else if (f && strcmp(key, "rounding") == 0) {
    f->float_requant = 0;
    if (strcmp(val, "float") == 0)
      f->float_requant = 1;
    else if (dy_rounding_from_name(val, &f->rounding))
      return BAD("rounding must be tflite-double, tflite-single, "
                 "tosa-single, tosa-double or float, got '%s'",
                 val);
  } else {
    return BAD("unknown option '%s'", key);
  }
#undef BAD
  return 1;
}

/* Splits "k=v k2=v2" and applies each option. */
static int apply_options(DyGraph *g, const char *opts, const char *pass,
                         DyCalibOptions *c, DyQuantOptions *q, DyFoldOptions *f,
                         const char **data, DyDiag *d) {
  const char *p = opts ? opts : "";
  while (*p) {
    while (*p == ' ')
      p++;
    if (!*p)
      break;
    const char *e = p;
    while (*e && *e != ' ')
      e++;
    char tok[1024];
    size_t n = (size_t)(e - p);
    if (n >= sizeof tok) {
      dy_error(d, g->loc, "%s: option too long", pass);
      return 1;
    }
    memcpy(tok, p, n);
    tok[n] = 0;
    char *eq = strchr(tok, '=');
    if (!eq) {
      dy_error(d, g->loc, "%s: option '%s' needs a value (key=value)", pass,
               tok);
      return 1;
    }
    *eq = 0;
    char err[256];
    if (data && strcmp(tok, "data") == 0) {
      if (!eq[1]) {
        dy_error(d, g->loc, "%s: data= needs a path", pass);
        return 1;
      }
      *data = dy_arena_strdup(g->arena, eq + 1);
    } else if (!dy_quant_set_option(g->arena, tok, eq + 1, c, q, f, err,
                                    sizeof err)) {
      dy_error(d, g->loc, "%s: %s", pass, err);
      return 1;
    }
    p = e;
  }
  return 0;
}

int dy_pass_calibrate_opts(DyGraph *g, const char *opts, DyDiag *d) {
  DyCalibOptions c;
  dy_calib_options_default(&c);
  const char *data = NULL;
  if (apply_options(g, opts, "calibrate", &c, NULL, NULL, &data, d))
    return 1;
  if (!data) {
    dy_error(d, g->loc,
             "calibrate: needs data=PATH (a .npy file or a "
             "directory of them)");
    return 1;
  }
  DyCalibData cd;
  if (dy_calib_data_load(g, data, &cd, d))
    return 1;
  int rc = dy_calibrate(g, &cd, &c, d);
  dy_calib_data_free(&cd);
  return rc;
}

int dy_pass_quantize_opts(DyGraph *g, const char *opts, DyDiag *d) {
  DyQuantOptions q;
  dy_quant_options_default(&q);
  if (apply_options(g, opts, "quantize", NULL, &q, NULL, NULL, d))
    return 1;
  return dy_quantize(g, &q, d);
}

int dy_pass_fold_scales_opts(DyGraph *g, const char *opts, DyDiag *d) {
  DyFoldOptions f;
  dy_fold_options_default(&f);
  if (apply_options(g, opts, "fold-scales", NULL, NULL, &f, NULL, d))
    return 1;
  return dy_fold_scales(g, &f, d);
}

int dy_pass_check_integer(DyGraph *g, DyDiag *d) {
  return dy_verify_integer_only(g, d) != 0;
}
