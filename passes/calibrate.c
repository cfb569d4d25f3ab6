/* calibrate: runs the float graph over calibration inputs and records a
 * range for every activation as `range = [lo, hi]`.
 *
 * Min-max and moving-average observers need one pass over the data; the
 * histogram observers (percentile, entropy, mse) take a second pass that
 * fills a histogram over the min-max range of each tensor. */
#include <dirent.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dyad/npy.h"
#include "dyad/pass.h"
#include "dyad/quant.h"
#include "dyad/shape.h"

void dy_calib_options_default(DyCalibOptions *o) {
  memset(o, 0, sizeof *o);
  o->observer = DY_OBS_MINMAX;
  o->percentile = 99.99;
  o->averaging = 0.01;
  o->bins = 2048;
  o->bits = 8;
}

static const char *const observer_names[] = {
    "minmax", "moving-average", "percentile", "entropy", "mse", NULL};

int dy_observer_from_name(const char *s, DyObserver *out) {
  for (int i = 0; i < 5; i++)
    if (strcmp(s, observer_names[i]) == 0) {
      *out = (DyObserver)i;
      return 1;
    }
  return 0;
}

const char *dy_observer_name(DyObserver o) { return observer_names[o]; }

/* --- data --- */

void dy_calib_data_free(DyCalibData *c) {
  for (int i = 0; i < c->nsamples * c->ninputs; i++)
    dy_tensor_free(&c->tensors[i]);
  free(c->tensors);
  memset(c, 0, sizeof *c);
}

/* Appends the samples of one .npy file (one sample, or a batch of them
 * along axis 0) for graph input `in`. */
static int add_file(const DyValue *in, const char *path, DyCalibData *c,
                    int *cap, DyDiag *d) {
  DyLoc loc = {path, 0, 0};
  DyNpy a;
  if (dy_npy_read(path, &a, d))
    return 1;
  const DyType *t = &in->type;
  int rc = 1;
  int64_t per = dy_type_numel(t), n = 0;
  if (a.dtype != DY_NPY_F32 && a.dtype != DY_NPY_F64) {
    dy_error(d, loc, "calibration data must be float32 or float64, not %s",
             dy_npy_dtype_name(a.dtype));
    goto done;
  }
  /* exactly the input's shape, or [N, rest] for an input [1, rest] */
  int same = a.rank == t->rank,
      batch = t->rank >= 1 && t->dims[0] == 1 && a.rank == t->rank;
  for (int i = 0; i < a.rank && i < t->rank; i++) {
    same &= a.dims[i] == t->dims[i];
    if (i > 0)
      batch &= a.dims[i] == t->dims[i];
  }
  if (same)
    n = 1;
  else if (batch)
    n = a.dims[0];
  else {
    char want[160], got[160];
    dy_format_dims(want, sizeof want, t->rank, t->dims);
    dy_format_dims(got, sizeof got, a.rank, a.dims);
    dy_error(d, loc,
             "calibration data for input '%s' %s has shape %s: it must have "
             "the input's shape, or add a batch along axis 0 when the "
             "input's first dimension is 1",
             in->name, want, got);
    goto done;
  }
  if (per < 0 || n > INT32_MAX - c->nsamples) {
    dy_error(d, loc, "too many calibration samples");
    goto done;
  }
  for (int64_t s = 0; s < n; s++) {
    if (c->nsamples == *cap) {
      int ncap = *cap ? 2 * *cap : 64;
      DyTensor *nt = realloc(c->tensors, (size_t)ncap * sizeof *nt);
      if (!nt) {
        dy_error(d, loc, "out of memory");
        goto done;
      }
      c->tensors = nt;
      *cap = ncap;
    }
    DyTensor *x = &c->tensors[c->nsamples];
    if (dy_tensor_alloc(x, t, d))
      goto done;
    c->nsamples++;
    float *dst = x->data;
    for (int64_t i = 0; i < per; i++) {
      int64_t k = s * per + i;
      dst[i] = a.dtype == DY_NPY_F32 ? ((const float *)a.data)[k]
                                     : (float)((const double *)a.data)[k];
    }
  }
  rc = 0;
done:
  dy_npy_free(&a);
  return rc;
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

int dy_calib_data_load(const DyGraph *g, const char *path, DyCalibData *out,
                       DyDiag *d) {
  memset(out, 0, sizeof *out);
  DyLoc loc = {path, 0, 0};
  if (g->ninputs != 1 || g->inputs[0]->type.elem != DY_F32 ||
      g->inputs[0]->type.quant) {
    if (g->ninputs != 1)
      dy_error(d, loc,
               "calibration needs a graph with exactly one f32 input (this "
               "one has %d)",
               g->ninputs);
    else
      dy_error(d, loc,
               "calibration needs a graph with exactly one f32 input (this "
               "one's is %s)",
               g->inputs[0]->type.quant
                   ? "quantized"
                   : dy_elem_name(g->inputs[0]->type.elem));
    return 1;
  }
  out->ninputs = 1;
  int cap = 0;
  struct stat st;
  if (stat(path, &st) != 0) {
    dy_error(d, loc,
             "cannot read calibration data: no such file or "
             "directory");
    return 1;
  }
  if (!S_ISDIR(st.st_mode)) {
    if (add_file(g->inputs[0], path, out, &cap, d)) {
      dy_calib_data_free(out);
      return 1;
    }
  } else {
    DIR *dir = opendir(path);
    if (!dir) {
      dy_error(d, loc, "cannot open the calibration directory");
      return 1;
    }
    char **names = NULL;
    size_t n = 0, ncap = 0;
    int rc = 0;
    for (struct dirent *e; (e = readdir(dir));) {
      size_t len = strlen(e->d_name);
      if (len < 5 || strcmp(e->d_name + len - 4, ".npy") != 0)
        continue;
      if (n == ncap) {
        ncap = ncap ? 2 * ncap : 64;
        char **nn = realloc(names, ncap * sizeof *nn);
        if (!nn) {
          rc = 1;
          break;
        }
        names = nn;
      }
      size_t plen = strlen(path) + len + 2;
      names[n] = malloc(plen);
      if (!names[n]) {
        rc = 1;
        break;
      }
      snprintf(names[n++], plen, "%s/%s", path, e->d_name);
    }
    closedir(dir);
    if (rc)
      dy_error(d, loc, "out of memory");
    if (n)
      qsort(names, n, sizeof *names, cmp_str);
    for (size_t i = 0; i < n && !rc; i++)
      rc = add_file(g->inputs[0], names[i], out, &cap, d);
    for (size_t i = 0; i < n; i++)
      free(names[i]);
    free(names);
    if (rc) {
      dy_calib_data_free(out);
      return 1;
    }
  }
  if (out->nsamples == 0) {
    dy_error(d, loc,
             "no calibration samples (an empty batch, or a directory "
             "without .npy files)");
    dy_calib_data_free(out);
    return 1;
  }
  return 0;
}

/* --- observation --- */

typedef struct Stat {
  const DyValue *v;
  double min, max;         /* over all samples */
  double ema_min, ema_max; /* moving average of per-sample ranges */
  int seen;
  double *hist; /* bins over [min, max] */
  double *absh; /* bins over [0, max |x|] (entropy) */
} Stat;

typedef struct Calib {
  const DyCalibOptions *o;
  Stat *stats;
  int n;
  int pass; /* 1: ranges, 2: histograms */
} Calib;

/* Stats are sorted by value address: a binary search per observed value. */
static int cmp_stat(const void *a, const void *b) {
  uintptr_t x = (uintptr_t)((const Stat *)a)->v,
            y = (uintptr_t)((const Stat *)b)->v;
  return x < y ? -1 : x > y;
}

static Stat *find_stat(Calib *c, const DyValue *v) {
  Stat key = {.v = v};
  return bsearch(&key, c->stats, (size_t)c->n, sizeof *c->stats, cmp_stat);
}

static int observe(void *user, const DyValue *v, const DyTensor *t) {
  Calib *c = user;
  Stat *s = find_stat(c, v);
  if (!s)
    return 0;
  const float *x = t->data;
  int64_t n = (int64_t)(t->nbytes / sizeof(float));
  if (c->pass == 1) {
    double lo = INFINITY, hi = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
      if (isnan(x[i]) || isinf(x[i]))
        continue;
      lo = x[i] < lo ? x[i] : lo;
      hi = x[i] > hi ? x[i] : hi;
    }
    if (lo > hi)
      return 0;
    if (!s->seen) {
      s->min = s->ema_min = lo;
      s->max = s->ema_max = hi;
    } else {
      s->min = lo < s->min ? lo : s->min;
      s->max = hi > s->max ? hi : s->max;
      s->ema_min += c->o->averaging * (lo - s->ema_min);
      s->ema_max += c->o->averaging * (hi - s->ema_max);
    }
    s->seen = 1;
    return 0;
  }
  int bins = c->o->bins;
  double w = (s->max - s->min) / bins;
  double amax = fmax(fabs(s->min), fabs(s->max));
  for (int64_t i = 0; i < n; i++) {
    if (isnan(x[i]) || isinf(x[i]))
      continue;
    int b = w > 0 ? (int)((x[i] - s->min) / w) : 0;
    b = b < 0 ? 0 : b >= bins ? bins - 1 : b;
    s->hist[b]++;
    int a = amax > 0 ? (int)(fabs(x[i]) / amax * bins) : 0;
    a = a < 0 ? 0 : a >= bins ? bins - 1 : a;
    s->absh[a]++;
  }
  return 0;
}

/* The value below which `pct` percent of the histogram lies, interpolated
 * within its bin. */
static double hist_quantile(const Stat *s, int bins, double pct) {
  double total = 0;
  for (int i = 0; i < bins; i++)
    total += s->hist[i];
  double want = total * pct / 100, acc = 0, w = (s->max - s->min) / bins;
  for (int i = 0; i < bins; i++) {
    if (acc + s->hist[i] >= want && s->hist[i] > 0)
      return s->min + w * (i + (want - acc) / s->hist[i]);
    acc += s->hist[i];
  }
  return s->max;
}

/* Entropy calibration as NVIDIA's pytorch-quantization computes it
 * (_compute_amax_entropy, after TensorRT): on the histogram of |x| over
 * [0, amax], for every candidate i from 128 to bins, P is the first i bins
 * with the clipped tail added to the last, Q the first i bins merged into
 * L = 2^(bits-1) levels (2^bits for data never negative; bin k goes to
 * level floor(k L / i)) and spread back over each level's non-empty bins;
 * the threshold is the bin edge amax * i / bins of least KL(P || Q),
 * infinite where Q is 0 and P is not, the last of equal minima. The first
 * bin takes the second's count, so that a relu's spike of zeros does not
 * decide. */
static double entropy_threshold(const Stat *s, int bins, int bits) {
  double amax = fmax(fabs(s->min), fabs(s->max));
  int levels = 1 << (bits - (s->min >= 0 ? 0 : 1));
  int start = bins < 128 ? bins : 128;
  double *h = s->absh;
  if (bins > 1)
    h[0] = h[1];
  double best = INFINITY;
  int best_i = bins;
  double *q = malloc((size_t)bins * sizeof *q);
  double *mass = malloc((size_t)levels * sizeof *mass);
  int *nz = malloc((size_t)levels * sizeof *nz);
  if (!q || !mass || !nz) {
    free(q);
    free(mass);
    free(nz);
    return amax;
  }
  double tail = 0; /* mass of bins i.. */
  for (int k = start; k < bins; k++)
    tail += h[k];
  for (int i = start; i <= bins; i++) {
    if (i > start)
      tail -= h[i - 1];
    for (int j = 0; j < levels; j++) {
      mass[j] = 0;
      nz[j] = 0;
    }
    for (int k = 0; k < i; k++) {
      int j = (int)((int64_t)k * levels / i);
      if (h[k] != 0) {
        mass[j] += h[k];
        nz[j]++;
      }
    }
    double psum = 0, qsum = 0;
    for (int k = 0; k < i; k++) {
      int j = (int)((int64_t)k * levels / i);
      q[k] = h[k] != 0 ? mass[j] / nz[j] : 0;
      qsum += q[k];
      psum += h[k];
    }
    psum += tail;
    if (psum <= 0 || qsum <= 0)
      continue;
    double kl = 0;
    for (int k = 0; k < i; k++) {
      double p = (h[k] + (k == i - 1 ? tail : 0)) / psum;
      if (p <= 0)
        continue;
      if (q[k] <= 0) {
        kl = INFINITY;
        break;
      }
      kl += p * log(p / (q[k] / qsum));
    }
    if (kl <= best) { /* the last of equal minima */
      best = kl;
      best_i = i;
    }
  }
  free(q);
  free(mass);
  free(nz);
  return amax * best_i / bins;
}

/* The range [a*min, a*max], a in (0, 1], of least expected squared error
 * for a 2^bits-level uniform quantizer: clipping error for the mass
 * outside, step^2/12 for the mass inside. */
static void mse_range(const Stat *s, int bins, int bits, double *lo,
                      double *hi) {
  double w = (s->max - s->min) / bins, levels = ldexp(1, bits) - 1;
  double best = INFINITY;
  *lo = s->min;
  *hi = s->max;
  for (int k = 100; k >= 1; k--) {
    double a = k / 100.0;
    double l = fmin(0, s->min) * a, h = fmax(0, s->max) * a;
    double step = (h - l) / levels, err = 0;
    for (int i = 0; i < bins; i++) {
      if (s->hist[i] == 0)
        continue;
      double c = s->min + w * (i + 0.5);
      double e = c < l   ? (l - c) * (l - c)
                 : c > h ? (c - h) * (c - h)
                         : step * step / 12;
      err += s->hist[i] * e;
    }
    if (err < best) {
      best = err;
      *lo = s->min < 0 ? l : s->min;
      *hi = s->max > 0 ? h : s->max;
    }
  }
}

static void set_range(DyGraph *g, DyValue *v, double lo, double hi) {
  double r[2] = {lo, hi};
  DyAttr a = {.name = "range", .kind = DY_ATTR_FLOATS, .n = 2, .floats = r};
  if (v->def)
    dy_op_add_attr(g, v->def, &a);
  else
    dy_value_add_attr(g, v, &a);
}

static int run_all(const DyGraph *g, const DyCalibData *data, Calib *c,
                   DyDiag *d) {
  int total = data->nsamples;
  int tty = c->o->progress && isatty(2);
  DyTensor *outs =
      calloc((size_t)(g->noutputs ? g->noutputs : 1), sizeof *outs);
  if (!outs) {
    dy_error(d, g->loc, "out of memory");
    return 1;
  }
  int rc = 0;
  for (int s = 0; s < total && !rc; s++) {
    rc = dy_interp_run_observed(g, &data->tensors[s * data->ninputs], outs,
                                observe, c, d);
    if (rc) {
      dy_note(d, g->loc, "while running calibration sample %d", s);
      break;
    }
    for (int i = 0; i < g->noutputs; i++)
      dy_tensor_free(&outs[i]);
    if (tty && (s + 1 == total || (s + 1) % 16 == 0))
      fprintf(stderr, "\rcalibrate: pass %d, sample %d/%d", c->pass, s + 1,
              total);
  }
  if (tty)
    fputc('\n', stderr);
  free(outs);
  return rc;
}

int dy_calibrate(DyGraph *g, const DyCalibData *data, const DyCalibOptions *o,
                 DyDiag *d) {
  if (data->ninputs != g->ninputs) {
    dy_error(d, g->loc, "calibration data has %d inputs, the graph %d",
             data->ninputs, g->ninputs);
    return 1;
  }
  if (o->bins < 16 || o->bins > (1 << 20) || o->bits < 2 || o->bits > 16 ||
      !(o->percentile > 50 && o->percentile <= 100) ||
      !(o->averaging > 0 && o->averaging <= 1)) {
    dy_error(d, g->loc,
             "calibration options out of range (bins 16..2^20, "
             "bits 2..16, percentile (50, 100], averaging (0, 1])");
    return 1;
  }
  Calib c = {o, NULL, 0, 1};
  int cap = g->ninputs + g->nops;
  c.stats = calloc((size_t)(cap ? cap : 1), sizeof *c.stats);
  if (!c.stats) {
    dy_error(d, g->loc, "out of memory");
    return 1;
  }
  for (int i = 0; i < g->ninputs; i++)
    if (g->inputs[i]->type.elem == DY_F32 && !g->inputs[i]->type.quant)
      c.stats[c.n++].v = g->inputs[i];
  /* activations only: values that depend on a graph input (a transpose of
   * dequantized weights in an ONNX QDQ export is not one) */
  DyPtrSet live;
  dy_ptrset_init(&live);
  for (int i = 0; i < g->ninputs; i++)
    dy_ptrset_add(&live, g->inputs[i]);
  for (DyOp *op = g->first; op; op = op->next) {
    int dep = 0;
    for (int i = 0; i < op->noperands; i++)
      dep |= dy_ptrset_has(&live, op->operands[i]);
    if (!dep)
      continue;
    for (int i = 0; i < op->nresults; i++)
      dy_ptrset_add(&live, op->results[i]);
    if (op->nresults == 1 && op->results[0]->type.elem == DY_F32 &&
        !op->results[0]->type.quant)
      c.stats[c.n++].v = op->results[0];
  }
  dy_ptrset_fini(&live);
  qsort(c.stats, (size_t)c.n, sizeof *c.stats, cmp_stat);
  int rc = run_all(g, data, &c, d);
  int hist = o->observer == DY_OBS_PERCENTILE ||
             o->observer == DY_OBS_ENTROPY || o->observer == DY_OBS_MSE;
  if (!rc && hist) {
    for (int i = 0; i < c.n && !rc; i++) {
      c.stats[i].hist = calloc((size_t)o->bins, sizeof(double));
      c.stats[i].absh = calloc((size_t)o->bins, sizeof(double));
      if (!c.stats[i].hist || !c.stats[i].absh) {
        dy_error(d, g->loc, "out of memory");
        rc = 1;
      }
    }
    c.pass = 2;
    if (!rc)
      rc = run_all(g, data, &c, d);
  }
  for (int i = 0; i < c.n && !rc; i++) {
    Stat *s = &c.stats[i];
    double lo = s->min, hi = s->max;
    if (!s->seen) {
      lo = hi = 0; /* only NaN / inf seen */
    } else if (o->observer == DY_OBS_MOVING_AVERAGE) {
      lo = s->ema_min;
      hi = s->ema_max;
    } else if (o->observer == DY_OBS_PERCENTILE) {
      if (s->min < 0)
        lo = hist_quantile(s, o->bins, 100 - o->percentile);
      hi = hist_quantile(s, o->bins, o->percentile);
      if (s->max <= 0)
        hi = s->max;
    } else if (o->observer == DY_OBS_ENTROPY) {
      double t = entropy_threshold(s, o->bins, o->bits);
      lo = fmax(s->min, -t);
      hi = fmin(s->max, t);
    } else if (o->observer == DY_OBS_MSE) {
      mse_range(s, o->bins, o->bits, &lo, &hi);
    }
    set_range(g, (DyValue *)s->v, lo, hi);
  }
  for (int i = 0; i < c.n; i++) {
    free(c.stats[i].hist);
    free(c.stats[i].absh);
  }
  free(c.stats);
  return rc;
}

/* --- the pass --- */

static int run_pass(DyGraph *g, const DyPassContext *ctx) {
  const DyCalibOptions *o = ctx->opts;
  if (!o->data) {
    dy_error(ctx->diag, g->loc,
             "calibrate: needs data=PATH (a .npy file or a "
             "directory of them)");
    return 1;
  }
  DyCalibData cd;
  if (dy_calib_data_load(g, o->data, &cd, ctx->diag))
    return 1;
  int rc = dy_calibrate(g, &cd, o, ctx->diag);
  dy_calib_data_free(&cd);
  return rc;
}

static void init_opts(void *o) { dy_calib_options_default(o); }

#define F(field) DY_OPT_FIELD(DyCalibOptions, field)
static const DyPassOption options[] = {
    {"data", DY_OPT_STR, F(data), .must = "a path",
     .help = "calibration inputs: a .npy batch or a directory of .npy files"},
    {"observer", DY_OPT_ENUM, F(observer), .choices = observer_names,
     .must = "minmax, moving-average, percentile, entropy or mse",
     .help = "how a range is chosen from the values seen"},
    {"percentile", DY_OPT_FLOAT, F(percentile), 50, 100, 1, 0,
     .must = "in (50, 100]", .help = "percentile observer: the tail kept"},
    {"averaging", DY_OPT_FLOAT, F(averaging), 0, 1, 1, 0, .must = "in (0, 1]",
     .help = "moving-average constant"},
    {"bins", DY_OPT_INT, F(bins), 16, 1 << 20, .must = "in [16, 2^20]",
     .help = "histogram bins (percentile, entropy, mse)"},
    {"bits", DY_OPT_INT, F(bits), 2, 16, .must = "2 to 16",
     .help = "the activation bits entropy and mse aim for"},
    {0}};
#undef F

const DyPassDef dy_pass_calibrate = {
    "record activation ranges: {data=PATH observer=minmax|...}", run_pass,
    sizeof(DyCalibOptions), init_opts, options};
