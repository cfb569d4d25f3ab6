/* dyad quantize and dyad report: post-training quantization from the
 * command line, and the per-tensor error of each level. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dyad/fileio.h"
#include "dyad/load.h"
#include "dyad/npy.h"
#include "dyad/onnx.h"
#include "dyad/pass.h"
#include "dyad/quant.h"
#include "dyad/text.h"
#include "dyad_cmds.h"

static const DyLoc none = {NULL, 0, 0};

typedef enum Emit { EMIT_CALIBRATED, EMIT_QDQ, EMIT_INTEGER } Emit;

typedef struct QuantArgs {
  const char *model, *calib, *out, *data, *labels;
  DyCalibOptions calib_opts;
  DyQuantOptions quant_opts;
  DyFoldOptions fold_opts;
  DyOnnxOptions onnx_opts;
  Emit emit;
  int require_integer;
  int top;
} QuantArgs;

/* A scheme option (--key=value) of `dyad quantize` and `dyad report`: the
 * option tables of calibrate, quantize and fold-scales, each pass that
 * declares the key taking it; act-bits also sets the bits calibrate aims
 * for. Returns 0, or 1 with a message in err. */
static int set_scheme_option(QuantArgs *a, DyArena *arena, const char *key,
                             const char *val, char *err, size_t errn) {
  struct {
    const char *pass;
    void *opts;
  } targets[] = {{"calibrate", &a->calib_opts},
                 {"quantize", &a->quant_opts},
                 {"fold-scales", &a->fold_opts}};
  int known = 0;
  for (size_t i = 0;
       strcmp(key, "data") != 0 && i < sizeof targets / sizeof targets[0];
       i++) {
    const DyPassInfo *p =
        dy_pass_lookup(targets[i].pass, strlen(targets[i].pass));
    int rc = dy_pass_set_option(p, targets[i].opts, key, val, arena, err, errn);
    if (rc > 0)
      return 1;
    known |= rc == 0;
  }
  if (!known) {
    snprintf(err, errn, "unknown option '%s'", key);
    return 1;
  }
  if (strcmp(key, "act-bits") == 0)
    a->calib_opts.bits = a->quant_opts.acts.bits;
  return 0;
}

/* Parses the options shared by quantize and report. Returns 0, 1 on error,
 * 2 after --help. */
static int parse_args(const char *cmd, int argc, char **argv, QuantArgs *a,
                      DyArena *arena, DyDiag *d) {
  memset(a, 0, sizeof *a);
  dy_calib_options_default(&a->calib_opts);
  dy_quant_options_default(&a->quant_opts);
  dy_fold_options_default(&a->fold_opts);
  a->emit = EMIT_INTEGER;
  a->top = 20;
  for (int i = 0; i < argc; i++) {
    const char *s = argv[i];
    const char **slot = NULL;
    if (strcmp(s, "--help") == 0)
      return 2;
    if (strcmp(s, "--calib") == 0)
      slot = &a->calib;
    else if (strcmp(s, "-o") == 0)
      slot = &a->out;
    else if (strcmp(s, "--data") == 0)
      slot = &a->data;
    else if (strcmp(s, "--labels") == 0)
      slot = &a->labels;
    if (slot) {
      if (i + 1 >= argc) {
        dy_error(d, none, "option '%s' needs a value", s);
        return 1;
      }
      *slot = argv[++i];
      continue;
    }
    if (strcmp(s, "--layout=nhwc") == 0) {
      a->onnx_opts.nhwc_io = 1;
    } else if (strcmp(s, "--layout=nchw") == 0) {
      a->onnx_opts.nhwc_io = 0;
    } else if (strcmp(s, "--require-integer") == 0) {
      a->require_integer = 1;
    } else if (strncmp(s, "--emit=", 7) == 0) {
      const char *v = s + 7;
      if (strcmp(v, "calibrated") == 0)
        a->emit = EMIT_CALIBRATED;
      else if (strcmp(v, "qdq") == 0)
        a->emit = EMIT_QDQ;
      else if (strcmp(v, "integer") == 0)
        a->emit = EMIT_INTEGER;
      else {
        dy_error(d, none, "--emit takes calibrated, qdq or integer, got '%s'",
                 v);
        return 1;
      }
    } else if (strncmp(s, "--top=", 6) == 0) {
      char *end;
      long t = strtol(s + 6, &end, 10);
      if (*end || t < 1 || t > 100000) {
        dy_error(d, none, "--top takes a positive count, got '%s'", s + 6);
        return 1;
      }
      a->top = (int)t;
    } else if (strncmp(s, "--", 2) == 0 && strchr(s, '=')) {
      char key[64], err[256];
      const char *eq = strchr(s, '=');
      size_t n = (size_t)(eq - s - 2);
      if (n >= sizeof key) {
        dy_error(d, none, "unknown option '%s' for '%s'", s, cmd);
        return 1;
      }
      memcpy(key, s + 2, n);
      key[n] = 0;
      if (set_scheme_option(a, arena, key, eq + 1, err, sizeof err)) {
        dy_error(d, none, "%s: %s (see dyad --help)", cmd, err);
        return 1;
      }
    } else if (s[0] == '-' && s[1]) {
      dy_error(d, none, "unknown option '%s' for '%s' (see dyad --help)", s,
               cmd);
      return 1;
    } else if (!a->model) {
      a->model = s;
    } else {
      dy_error(d, none, "%s: more than one model given", cmd);
      return 1;
    }
  }
  if (!a->model) {
    dy_error(d, none, "%s: no model given (see dyad --help)", cmd);
    return 1;
  }
  a->calib_opts.progress = 1;
  return 0;
}

static void free_levels(DyGraph *g, DyGraph *q, DyGraph *i, char *text,
                        DyArena *arena) {
  if (g)
    dy_graph_destroy(g);
  if (q)
    dy_graph_destroy(q);
  if (i)
    dy_graph_destroy(i);
  free(text);
  dy_arena_destroy(arena);
}

static int has_qdq(const DyGraph *g) {
  for (const DyOp *op = g->first; op; op = op->next)
    if (op->kind == DY_OP_QUANTIZE)
      return 1;
  return 0;
}

/* The float graph: loaded, batchnorm folded, canonicalized. */
static DyGraph *load_float(QuantArgs *a, char **text, DyDiag *d) {
  DyGraph *g = dy_load_model(a->model, &a->onnx_opts, text, d);
  if (!g)
    return NULL;
  if (dy_canonicalize(g, d) || dy_fold_batchnorm(g, d) ||
      dy_canonicalize(g, d) || dy_graph_verify(g, d)) {
    dy_graph_destroy(g);
    return NULL;
  }
  return g;
}

/* float -> calibrated -> QDQ (*q) -> integer (*i), stopping at `emit`. */
static int quantize_levels(QuantArgs *a, DyGraph *g, DyGraph **q, DyGraph **i,
                           Emit emit, DyDiag *d) {
  *q = *i = NULL;
  int needs_calib = !a->quant_opts.dynamic && !has_qdq(g);
  if (needs_calib || a->calib) {
    if (!a->calib) {
      dy_error(d, none,
               "quantize: --calib DATA is needed (a .npy batch or "
               "a directory of .npy files), unless "
               "--activations=dynamic");
      return 1;
    }
    DyCalibData cd;
    if (dy_calib_data_load(g, a->calib, &cd, d))
      return 1;
    int rc = dy_calibrate(g, &cd, &a->calib_opts, d);
    dy_calib_data_free(&cd);
    if (rc)
      return 1;
  }
  if (emit == EMIT_CALIBRATED)
    return 0;
  *q = dy_graph_clone(g);
  if (dy_quantize(*q, &a->quant_opts, d) || dy_graph_verify(*q, d))
    return 1;
  if (emit == EMIT_QDQ)
    return 0;
  *i = dy_graph_clone(*q);
  if (dy_fold_scales(*i, &a->fold_opts, d) || dy_graph_verify(*i, d))
    return 1;
  return 0;
}

DyGraph *dyad_quantize_graph(DyGraph *g, const char *calib, int nopts,
                             char *const *opts, DyDiag *d) {
  QuantArgs a;
  memset(&a, 0, sizeof a);
  dy_calib_options_default(&a.calib_opts);
  dy_quant_options_default(&a.quant_opts);
  dy_fold_options_default(&a.fold_opts);
  a.calib = calib;
  a.calib_opts.progress = 1;
  DyArena *arena = dy_arena_create();
  DyGraph *q = NULL, *i = NULL;
  int bad = 0;
  for (int k = 0; k < nopts && !bad; k++) {
    const char *s = opts[k], *eq = strchr(s, '=');
    char key[64], err[256];
    size_t n = eq ? (size_t)(eq - s - 2) : 0;
    if (!eq || strncmp(s, "--", 2) != 0 || n >= sizeof key) {
      dy_error(d, none, "compile: unknown option '%s' (see dyad --help)", s);
      bad = 1;
      break;
    }
    memcpy(key, s + 2, n);
    key[n] = 0;
    if (set_scheme_option(&a, arena, key, eq + 1, err, sizeof err)) {
      dy_error(d, none, "compile: %s (see dyad --help)", err);
      bad = 1;
    }
  }
  if (!bad && quantize_levels(&a, g, &q, &i, EMIT_INTEGER, d))
    bad = 1;
  if (q)
    dy_graph_destroy(q);
  if (bad && i) {
    dy_graph_destroy(i);
    i = NULL;
  }
  dy_arena_destroy(arena);
  return i;
}

static int write_graph(const char *path, const DyGraph *g, DyDiag *d) {
  DyPrintOptions po;
  memset(&po, 0, sizeof po);
  po.hex_threshold = 64;
  size_t len;
  char *buf = dy_print_graph_to_string(g, &po, &len);
  int rc = !buf;
  if (rc)
    dy_error(d, none, "cannot print the graph");
  else
    rc = dy_write_file(path, buf, len, d);
  free(buf);
  return rc;
}

static void forward_as_note(void *ctx, DySeverity sev, DyLoc loc,
                            const char *msg) {
  (void)sev;
  dy_note(ctx, loc, "%s", msg);
}

static int cmd_quantize(int argc, char **argv, DyDiag *d) {
  QuantArgs a;
  DyArena *arena = dy_arena_create();
  int rc = parse_args("quantize", argc, argv, &a, arena, d);
  if (rc) {
    dy_arena_destroy(arena);
    return rc == 2 ? DYAD_CMD_HELP : 1;
  }
  if (!a.out) {
    dy_error(d, none, "quantize: no output file (-o OUT.dy)");
    dy_arena_destroy(arena);
    return 1;
  }
  char *text = NULL;
  DyGraph *g = load_float(&a, &text, d), *q = NULL, *i = NULL;
  rc = 1;
  if (g && !quantize_levels(&a, g, &q, &i, a.emit, d)) {
    const DyGraph *res = a.emit == EMIT_CALIBRATED ? g
                         : a.emit == EMIT_QDQ      ? q
                                                   : i;
    rc = 0;
    if (a.emit == EMIT_INTEGER && a.require_integer) {
      if (dy_verify_integer_only(i, d)) {
        DyLoc loc = {a.model, 0, 0};
        dy_error(d, loc, "the quantized graph is not integer-only");
        rc = 1;
      }
    } else if (a.emit == EMIT_INTEGER) {
      /* list what stays float as notes, not errors */
      DyDiag quiet;
      dy_diag_init(&quiet);
      quiet.fn = forward_as_note;
      quiet.ctx = d;
      int nfloat = dy_verify_integer_only(i, &quiet);
      dy_diag_fini(&quiet);
      if (nfloat)
        fprintf(stderr, "quantize: %d op(s) keep float (notes above)\n",
                nfloat);
    }
    if (!rc)
      rc = write_graph(a.out, res, d);
  }
  free_levels(g, q, i, text, arena);
  return rc;
}

/* --- report --- */

typedef struct Track {
  const char *qname, *fname; /* quantize result in Q (and I), its operand */
  double *fbuf, *qbuf;
  int64_t n;
  double sig_f, err_fq, sig_q, err_iq;
  int have_f, have_q, have_i;
} Track;

typedef struct Report {
  Track *t;
  int n;
  int level; /* 0 float, 1 fake-quant, 2 integer */
} Report;

/* Real values of a tensor: f32 as is, per-tensor quantized dequantized;
 * returns 0 for anything else. */
static int real_values(const DyTensor *t, double *out, int64_t n) {
  const DyQuant *q = t->type.quant;
  if (t->type.elem == DY_F32) {
    for (int64_t i = 0; i < n; i++)
      out[i] = ((const float *)t->data)[i];
    return 1;
  }
  if (!q || q->kind != DY_QUANT_PER_TENSOR)
    return 0;
  for (int64_t i = 0; i < n; i++) {
    int64_t v = dy_load_int(t->data, t->type.elem, i);
    out[i] = (double)(v - q->zero_points[0]) * q->scales[0];
  }
  return 1;
}

static int report_observe(void *user, const DyValue *v, const DyTensor *t) {
  Report *r = user;
  int64_t n = dy_type_numel(&t->type);
  for (int k = 0; k < r->n; k++) {
    Track *tr = &r->t[k];
    const char *want = r->level == 0 ? tr->fname : tr->qname;
    if (strcmp(v->name, want) != 0)
      continue;
    if (!tr->fbuf) {
      tr->n = n;
      tr->fbuf = calloc((size_t)(n ? n : 1), sizeof(double));
      tr->qbuf = calloc((size_t)(n ? n : 1), sizeof(double));
      if (!tr->fbuf || !tr->qbuf)
        return 1;
    }
    if (n != tr->n)
      continue;
    if (r->level == 0) {
      tr->have_f = real_values(t, tr->fbuf, n);
    } else if (r->level == 1) {
      tr->have_q = real_values(t, tr->qbuf, n);
      if (tr->have_q && tr->have_f)
        for (int64_t i = 0; i < n; i++) {
          double e = tr->qbuf[i] - tr->fbuf[i];
          tr->sig_f += tr->fbuf[i] * tr->fbuf[i];
          tr->err_fq += e * e;
        }
    } else {
      double *tmp = malloc((size_t)(n ? n : 1) * sizeof *tmp);
      if (!tmp)
        return 1;
      if (real_values(t, tmp, n) && tr->have_q) {
        tr->have_i = 1;
        for (int64_t i = 0; i < n; i++) {
          double e = tmp[i] - tr->qbuf[i];
          tr->sig_q += tr->qbuf[i] * tr->qbuf[i];
          tr->err_iq += e * e;
        }
      }
      free(tmp);
    }
  }
  return 0;
}

static double sqnr(double sig, double err) {
  if (err == 0)
    return INFINITY;
  if (sig == 0)
    return -INFINITY;
  return 10 * log10(sig / err);
}

static int cmp_track(const void *a, const void *b) {
  const Track *x = a, *y = b;
  double sx = sqnr(x->sig_f, x->err_fq), sy = sqnr(y->sig_f, y->err_fq);
  if (!x->have_f != !y->have_f)
    return x->have_f ? -1 : 1;
  return sx < sy ? -1 : sx > sy ? 1 : strcmp(x->qname, y->qname);
}

/* Index of the largest element of a graph output (for top-1). */
static int64_t argmax(const DyTensor *t) {
  int64_t n = dy_type_numel(&t->type), best = 0;
  double *v = malloc((size_t)(n ? n : 1) * sizeof *v);
  if (!v || !real_values(t, v, n)) {
    free(v);
    return -1;
  }
  for (int64_t i = 1; i < n; i++)
    if (v[i] > v[best])
      best = i;
  free(v);
  return best;
}

static int cmd_report(int argc, char **argv, DyDiag *d) {
  QuantArgs a;
  DyArena *arena = dy_arena_create();
  int rc = parse_args("report", argc, argv, &a, arena, d);
  if (rc) {
    dy_arena_destroy(arena);
    return rc == 2 ? DYAD_CMD_HELP : 1;
  }
  char *text = NULL;
  DyGraph *g = NULL, *q = NULL, *i = NULL;
  DyCalibData data = {0};
  DyNpy labels;
  memset(&labels, 0, sizeof labels);
  Report r = {0};
  rc = 1;
  if (!a.data) {
    dy_error(d, none,
             "report: --data FILE.npy is needed (the samples to "
             "measure on)");
    goto done;
  }
  if (a.quant_opts.integer_io) {
    dy_error(d, none,
             "report: --integer-io=1 is not supported (the levels "
             "must take the same f32 inputs)");
    goto done;
  }
  g = load_float(&a, &text, d);
  if (!g || quantize_levels(&a, g, &q, &i, EMIT_INTEGER, d))
    goto done;
  if (dy_calib_data_load(g, a.data, &data, d))
    goto done;
  if (a.labels) {
    if (dy_npy_read(a.labels, &labels, d))
      goto done;
    if (labels.dtype != DY_NPY_I64 || labels.rank != 1 ||
        labels.dims[0] != data.nsamples) {
      DyLoc loc = {a.labels, 0, 0};
      dy_error(d, loc, "labels must be int64 of shape [%d]", data.nsamples);
      goto done;
    }
  }
  for (const DyOp *op = q->first; op; op = op->next)
    if (op->kind == DY_OP_QUANTIZE)
      r.n++;
  r.t = calloc((size_t)(r.n ? r.n : 1), sizeof *r.t);
  if (!r.t) {
    dy_error(d, none, "out of memory");
    goto done;
  }
  r.n = 0;
  for (const DyOp *op = q->first; op; op = op->next)
    if (op->kind == DY_OP_QUANTIZE) {
      r.t[r.n].qname = op->results[0]->name;
      r.t[r.n++].fname = op->operands[0]->name;
    }
  /* a graph output keeps its name through quantize: the quantize before
   * the exit dequantize reads a renamed float value, which is the float
   * graph's output of the same index */
  for (int k = 0; k < q->noutputs && k < g->noutputs; k++) {
    const DyOp *dq = q->outputs[k]->def;
    if (!dq || dq->kind != DY_OP_DEQUANTIZE || !dq->operands[0]->def ||
        dq->operands[0]->def->kind != DY_OP_QUANTIZE)
      continue;
    for (int t = 0; t < r.n; t++)
      if (strcmp(r.t[t].qname, dq->operands[0]->name) == 0)
        r.t[t].fname = g->outputs[k]->name;
  }
  const DyGraph *levels[3] = {g, q, i};
  int64_t correct[3] = {0, 0, 0}, agree_fq = 0, agree_iq = 0;
  int tty = isatty(2);
  for (int s = 0; s < data.nsamples; s++) {
    int64_t top[3];
    for (int l = 0; l < 3; l++) {
      const DyGraph *lg = levels[l];
      DyTensor *outs = calloc((size_t)lg->noutputs, sizeof *outs);
      if (!outs) {
        dy_error(d, none, "out of memory");
        goto done;
      }
      r.level = l;
      if (dy_interp_run_observed(lg, &data.tensors[s], outs, report_observe, &r,
                                 d)) {
        dy_note(d, none, "while running sample %d at level %d", s, l);
        free(outs);
        goto done;
      }
      top[l] = argmax(&outs[0]);
      for (int k = 0; k < lg->noutputs; k++)
        dy_tensor_free(&outs[k]);
      free(outs);
    }
    if (labels.data)
      for (int l = 0; l < 3; l++)
        correct[l] += top[l] == ((const int64_t *)labels.data)[s];
    agree_fq += top[0] == top[1];
    agree_iq += top[1] == top[2];
    if (tty && ((s + 1) % 16 == 0 || s + 1 == data.nsamples))
      fprintf(stderr, "\rreport: sample %d/%d", s + 1, data.nsamples);
  }
  if (tty)
    fputc('\n', stderr);
  qsort(r.t, (size_t)r.n, sizeof *r.t, cmp_track);
  printf("%d samples; per-tensor SQNR in dB, worst first "
         "(inf: identical)\n",
         data.nsamples);
  printf("%-40s %22s %22s\n", "tensor", "fake-quant vs float",
         "integer vs fake-quant");
  for (int k = 0; k < r.n && k < a.top; k++) {
    Track *t = &r.t[k];
    char b1[32] = "-", b2[32] = "-";
    if (t->have_f)
      snprintf(b1, sizeof b1, "%.2f", sqnr(t->sig_f, t->err_fq));
    if (t->have_i)
      snprintf(b2, sizeof b2, "%.2f", sqnr(t->sig_q, t->err_iq));
    printf("%-40s %22s %22s\n", t->qname, b1, b2);
  }
  printf("top-1 agreement: fake-quant with float %lld/%d, integer with "
         "fake-quant %lld/%d\n",
         (long long)agree_fq, data.nsamples, (long long)agree_iq,
         data.nsamples);
  if (labels.data)
    printf("top-1 accuracy: float %.4f, fake-quant %.4f, integer %.4f\n",
           (double)correct[0] / data.nsamples,
           (double)correct[1] / data.nsamples,
           (double)correct[2] / data.nsamples);
  rc = 0;
done:
  for (int k = 0; k < r.n; k++) {
    free(r.t[k].fbuf);
    free(r.t[k].qbuf);
  }
  free(r.t);
  dy_npy_free(&labels);
  dy_calib_data_free(&data);
  free_levels(g, q, i, text, arena);
  return rc;
}

/* The scheme options, read from the option tables of the passes they
 * configure. */
void dyad_usage_scheme(FILE *out) {
  static const char *const passes[] = {"calibrate", "quantize", "fold-scales"};
  for (size_t i = 0; i < sizeof passes / sizeof passes[0]; i++) {
    const DyPassInfo *p = dy_pass_lookup(passes[i], strlen(passes[i]));
    fprintf(out, "      %s options:\n", passes[i]);
    dy_pass_print_options(out, p, "--", "data"); /* --calib */
  }
}

static void usage_quantize(FILE *out) {
  fputs(
      "  quantize MODEL --calib DATA [scheme options] -o OUT.dy\n"
      "      post-training quantization: folds batchnorm, calibrates on DATA\n"
      "      (a .npy batch along axis 0, or a directory of .npy files),\n"
      "      quantizes and folds every scale into integer requants\n"
      "      --emit=calibrated|qdq|integer   the level written (integer)\n"
      "      --require-integer  fail unless the result is integer-only\n"
      "      scheme options, the options of the passes it runs (--act-bits\n"
      "      also sets calibrate's bits):\n",
      out);
  dyad_usage_scheme(out);
}

static void usage_report(FILE *out) {
  fputs("  report MODEL --calib DATA --data FILE.npy [--labels FILE.npy]\n"
        "         [scheme options] [--top=N]\n"
        "      quantizes as 'quantize' does, runs float, fake-quant (QDQ) and\n"
        "      integer levels over FILE.npy and prints per-tensor SQNR (worst\n"
        "      first), top-1 agreement and, with labels, top-1 accuracy\n",
        out);
}

const DyadCommand dyad_cmd_quantize = {"quantize", cmd_quantize,
                                       usage_quantize};
const DyadCommand dyad_cmd_report = {"report", cmd_report, usage_report};
