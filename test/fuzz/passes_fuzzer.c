/* libFuzzer target for the quantization passes.
 *
 * Every input is parsed as a .dy graph (external data is never read and
 * constants are capped at 1 MiB, as in parse_fuzzer.c). A graph that
 * verifies is cloned, and each clone goes through one pipeline:
 *
 *   (a) quantize (default options), then fold-scales (default options);
 *   (b) fold-scales directly (for graphs that already have QDQ);
 *   (c) canonicalize, then quantize with three option variants taken from
 *       the first bytes of the input and its size (weight bits 2..8,
 *       per-tensor / per-channel / per-group with group sizes 1..4, act bits
 *       8 / 16, act signed, symmetric, dynamic, integer-io, ...), then
 *       fold-scales (with a rounding mode from the same hash). An input
 *       whose first line is `// options: KEY=VALUE ...` (dyad-opt's
 *       quantize and fold-scales option names) uses those options for the
 *       first variant: reproducers name their options so.
 *
 * A pass may fail with an error, but must not crash, leak or hit undefined
 * behaviour (ASan, UBSan), and a pass that returns 0 must leave a graph that
 * verifies (0 errors), that reports no errors, and that survives
 * print -> parse unchanged; a pass that returns 1 must have reported an
 * error. Anything else prints the graph and the verifier's messages on
 * stderr and stops the fuzzer.
 *
 * A folded graph that is integer-only (dy_verify_integer_only) and whose
 * inputs are small (at most 4096 elements each) also runs in the
 * interpreter on zero-filled inputs and on inputs filled from the fuzz
 * bytes: the run may fail with an error, but must not crash.
 *
 * DYAD_PASSES_FUZZ_PIPELINES=c (or a, b, any of them) runs only those
 * pipelines. DYAD_PASSES_FUZZ_STRICT=1 also requires a pass that failed to
 * leave a graph that verifies, as include/dyad/pass.h promises (not part of
 * the default oracle). DYAD_PASSES_FUZZ_DIFF=N compares the folded graph
 * with the QDQ graph before it, to within N steps of the coarsest scale
 * (opt-in: integer rounding differs from fake-quant by design).
 *
 * Build with -DDYAD_FUZZ=ON and clang; see test/fuzz/run.sh.
 */
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dyad/interp.h"
#include "dyad/ir.h"
#include "dyad/pass.h"
#include "dyad/quant.h"
#include "dyad/text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Work-arounds for known bugs (see test/fuzz/passes-regressions/README.md),
 * so that fuzzing gets past them while they are open: 1 skips the input
 * or option that trips the bug, 0 (once it is fixed) lets the reproducer
 * in test/fuzz/passes-regressions/, a seed of every run, check the fix.
 * DYAD_PASSES_FUZZ_NO_WORKAROUNDS=1 in the environment turns them all off.
 * Both bugs below were fixed in 1ca7dae. */
/* quantize gives sigmoid / softmax / tanh a zero point outside an unsigned
 * narrow activation range (u8<1:255> with zero point -128). */
#define WORKAROUND_UNSIGNED_NARROW_FIXED 0
/* conv2d / matmul weights with no elements: fold-scales builds requants
 * with empty multiplier lists (zero output channels), quantize sizes its
 * parameter tables by the dimensions alone (huge allocations, int64
 * overflow of the block count), and the verifier overflows int64 on a
 * conv2d kernel of height or width 0 with a large dilation. Such graphs
 * are skipped, before they are verified. */
#define WORKAROUND_EMPTY_WEIGHTS 0

static int workarounds(void) {
  static int on = -1;
  if (on < 0)
    on = getenv("DYAD_PASSES_FUZZ_NO_WORKAROUNDS") == NULL;
  return on;
}

/* Whether g has a conv2d / matmul with weights of no elements. */
static int has_empty_weights(const DyGraph *g) {
  for (const DyOp *op = g->first; op; op = op->next)
    if ((op->kind == DY_OP_CONV2D || op->kind == DY_OP_MATMUL) &&
        op->noperands >= 2 && dy_type_numel(&op->operands[1]->type) == 0)
      return 1;
  return 0;
}

static void quiet(void *ctx, DySeverity sev, DyLoc loc, const char *msg) {}

static void diag_quiet(DyDiag *d) {
  dy_diag_init(d);
  d->fn = quiet;
}

/* The input, shown when an invariant breaks. */
static const uint8_t *cur_data;
static size_t cur_size;
static char cur_opts[1024]; /* the options of pipeline (c), or "" */

/* Shows what broke, the input and the graph (with the verifier's messages
 * on stderr), then stops. */
static void broken(const char *stage, const char *what, const DyGraph *g)
    __attribute__((noreturn));
static void broken(const char *stage, const char *what, const DyGraph *g) {
  fprintf(stderr, "passes_fuzzer: %s: %s\n--- input ---\n%.*s\n", stage, what,
          (int)cur_size, (const char *)cur_data);
  if (cur_opts[0])
    fprintf(stderr,
            "--- options (as the first line of a reproducer) ---\n"
            "// options:%s%s\n",
            cur_opts[0] == ' ' ? "" : " ", cur_opts);
  if (g) {
    fprintf(stderr, "--- graph ---\n");
    dy_print_graph(stderr, g, NULL);
    fprintf(stderr, "--- verifier ---\n");
    DyDiag d;
    dy_diag_init(&d); /* prints to stderr */
    dy_graph_verify(g, &d);
    dy_diag_fini(&d);
  }
  abort();
}

/* Prints g; NULL on a print error. Out of memory is not a finding. */
static char *print_to_buffer(const DyGraph *g, size_t *len) {
  return dy_print_graph_to_string(g, NULL, len);
}

/* After a pass returned rc with d having seen `errors_before` errors: a
 * failure must have been reported, a success must leave a graph that
 * verifies and prints to text that parses back to the same graph. Returns
 * whether the pass succeeded. */
static int check_pass(const char *stage, int rc, const DyDiag *d,
                      int errors_before, const DyGraph *g) {
  static int strict = -1;
  if (strict < 0)
    strict = getenv("DYAD_PASSES_FUZZ_STRICT") != NULL;
  if (rc) {
    if (d->nerrors == errors_before)
      broken(stage, "the pass failed without reporting an error", g);
    if (strict) {
      DyDiag v;
      diag_quiet(&v);
      int nerr = dy_graph_verify(g, &v);
      dy_diag_fini(&v);
      if (nerr)
        broken(stage, "the pass failed and left a graph that does not verify",
               g);
    }
    return 0;
  }
  if (d->nerrors != errors_before)
    broken(stage, "the pass reported an error but returned 0", g);
  DyDiag v;
  diag_quiet(&v);
  int nerr = dy_graph_verify(g, &v);
  dy_diag_fini(&v);
  if (nerr)
    broken(stage, "the pass returned 0 and left a graph that does not verify",
           g);

  size_t len;
  char *printed = print_to_buffer(g, &len);
  if (!printed)
    broken(stage, "the graph does not print", g);
  DyParseOptions opt;
  memset(&opt, 0, sizeof opt);
  opt.no_external = 1;
  DyDiag pd;
  diag_quiet(&pd);
  DyGraph *h = dy_parse_graph("printed.dy", printed, len, &opt, &pd);
  if (!h) {
    fprintf(stderr, "--- printed ---\n%s", printed);
    broken(stage, "the printed graph does not parse", g);
  }
  if (!dy_graph_equal(g, h)) {
    fprintf(stderr, "--- printed ---\n%s", printed);
    broken(stage, "print -> parse gives a different graph", g);
  }
  dy_graph_destroy(h);
  dy_diag_fini(&pd);
  free(printed);
  return 1;
}

/* --- running the folded graph --- */

/* Work bound for the interpreter, so that slow but correct graphs do not
 * count as timeouts: every value at most 2^16 elements, conv2d / matmul at
 * most 2^24 multiply-adds. */
static int small_enough(const DyGraph *g) {
  for (int i = 0; i < g->ninputs; i++) {
    int64_t n = dy_type_numel(&g->inputs[i]->type);
    if (n < 0 || n > 4096)
      return 0;
  }
  for (const DyOp *op = g->first; op; op = op->next)
    for (int r = 0; r < op->nresults; r++) {
      int64_t n = dy_type_numel(&op->results[r]->type);
      if (n < 0 || n > ((int64_t)1 << 16))
        return 0;
      if ((op->kind == DY_OP_CONV2D || op->kind == DY_OP_MATMUL) &&
          op->noperands >= 2) {
        int64_t w = dy_type_numel(&op->operands[1]->type);
        if (w < 0 || (w && n > ((int64_t)1 << 24) / w))
          return 0;
      }
    }
  return 1;
}

static uint64_t splitmix(uint64_t z) {
  z += 0x9E3779B97F4A7C15ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* Fills input `which` from the fuzz bytes: mode 0 zeros; mode 1 values
 * drawn from a hash of the input (f32 in [-4, 4) in steps of 1/32, so both
 * signs occur even for text inputs, and i32 within 16 bits); mode 2 the
 * raw bytes of the input (f32 may then be NaN or inf). Integer inputs get
 * values within their storage range. */
static void fill(DyTensor *t, int which, int mode, const uint8_t *data,
                 size_t size) {
  int64_t n = dy_type_numel(&t->type);
  if (mode == 0 || size == 0)
    return; /* dy_tensor_alloc zeroes */
  uint64_t seed = 1469598103934665603ull;
  for (size_t i = 0; i < size; i++)
    seed = (seed ^ data[i]) * 1099511628211ull;
  seed ^= (uint64_t)which << 56;
  size_t k = 0;
  const DyQuant *q = t->type.quant;
  int64_t lo, hi;
  if (q) {
    lo = q->qmin;
    hi = q->qmax;
  } else {
    dy_elem_range(t->type.elem, &lo, &hi);
  }
  if (mode == 1 && lo < -32768 && hi > 32767) { /* small: i32 in 16 bits */
    lo = -32768;
    hi = 32767;
  }
  for (int64_t i = 0; i < n; i++) {
    uint32_t u;
    if (mode == 1) {
      u = (uint32_t)splitmix(seed + (uint64_t)i);
    } else {
      uint8_t b[4];
      for (int j = 0; j < 4; j++)
        b[j] = data[k++ % size];
      memcpy(&u, b, 4);
    }
    if (t->type.elem == DY_F32) {
      float v;
      if (mode == 1)
        v = (float)(int8_t)(u & 0xff) / 32.0f;
      else
        memcpy(&v, &u, 4);
      ((float *)t->data)[i] = v;
      continue;
    }
    int64_t span = hi - lo + 1;
    int64_t v = lo + (int64_t)(u % (uint64_t)span);
    if (t->type.elem == DY_I1)
      v = (u & 1) ? 1 : -1;
    switch (dy_elem_size(t->type.elem)) {
    case 1:
      ((int8_t *)t->data)[i] = (int8_t)v;
      break;
    case 2:
      ((int16_t *)t->data)[i] = (int16_t)v;
      break;
    default:
      ((int32_t *)t->data)[i] = (int32_t)v;
      break;
    }
  }
}

/* Runs g on inputs filled per `mode`; on success out[0..noutputs) holds
 * the results (the caller frees them) and 1 is returned. */
static int run_once(const DyGraph *g, int mode, const uint8_t *data,
                    size_t size, DyTensor *out) {
  DyTensor in[16];
  memset(in, 0, sizeof in);
  DyDiag d;
  diag_quiet(&d);
  int ok = 1;
  for (int i = 0; i < g->ninputs && ok; i++) {
    if (dy_tensor_alloc(&in[i], &g->inputs[i]->type, &d))
      ok = 0;
    else
      fill(&in[i], i, mode, data, size);
  }
  ok = ok && dy_interp_run(g, in, out, &d) == 0;
  for (int i = 0; i < g->ninputs; i++)
    dy_tensor_free(&in[i]);
  dy_diag_fini(&d);
  return ok;
}

static int runnable(const DyGraph *g) {
  return small_enough(g) && g->ninputs <= 16 && g->noutputs <= 16;
}

static int integer_only(const DyGraph *g) {
  DyDiag d;
  diag_quiet(&d);
  int ok = dy_verify_integer_only(g, &d) == 0;
  dy_diag_fini(&d);
  return ok;
}

/* Runs an integer-only folded graph on zeros, small values and raw bits
 * from the fuzz bytes: it may fail, but must not crash. */
static void run_graph(const DyGraph *g, const uint8_t *data, size_t size) {
  if (!integer_only(g) || !runnable(g))
    return;
  for (int mode = 0; mode < 3; mode++) {
    DyTensor out[16];
    memset(out, 0, sizeof out);
    if (run_once(g, mode, data, size, out))
      for (int i = 0; i < g->noutputs; i++)
        dy_tensor_free(&out[i]);
  }
}

/* --- opt-in: the folded graph against the QDQ graph --- */

/* Element i of t as a real: f32 as is, quantized types dequantized, plain
 * integers as they are. */
static double real_at(const DyTensor *t, int64_t i) {
  double v;
  switch (t->type.elem) {
  case DY_F32:
    return ((const float *)t->data)[i];
  case DY_I32:
    v = ((const int32_t *)t->data)[i];
    break;
  case DY_I16:
    v = ((const int16_t *)t->data)[i];
    break;
  case DY_U8:
  case DY_U4:
  case DY_U2:
    v = ((const uint8_t *)t->data)[i];
    break;
  default:
    v = ((const int8_t *)t->data)[i];
    break;
  }
  const DyQuant *q = t->type.quant;
  if (q && q->kind == DY_QUANT_PER_TENSOR)
    v = (v - (double)q->zero_points[0]) * (double)(float)q->scales[0];
  return v;
}

/* The largest allowed difference of an output's elements: `lsb` steps of
 * the coarsest per-tensor scale in the QDQ graph (a rounding step of an
 * intermediate value shows in the output in its units; 1 for a plain
 * integer output), and at least lsb / 256 of the output's largest
 * magnitude `amax` and lsb / 10^4. */
static double tolerance(const DyGraph *g, int o, double lsb, double amax) {
  double s =
      g->outputs[o]->type.elem != DY_F32 && !g->outputs[o]->type.quant ? 1 : 0;
  for (const DyOp *op = g->first; op; op = op->next)
    for (int r = 0; r < op->nresults; r++) {
      const DyQuant *q = op->results[r]->type.quant;
      if (q && q->kind == DY_QUANT_PER_TENSOR && q->scales[0] > s)
        s = q->scales[0];
    }
  double t = lsb * s, m = lsb / 256 * amax;
  t = t > m ? t : m;
  return t > lsb * 1e-4 ? t : lsb * 1e-4; /* f32 rounding near 0 */
}

/* With DYAD_PASSES_FUZZ_DIFF=N set, the folded graph must give what the
 * QDQ graph gives to within N steps of the coarsest scale, on zero and
 * small inputs, when both run. Integer arithmetic rounds differently from
 * the fake-quant graph, so differences of a step or two per layer are
 * expected: this is a tool for looking, not part of the default oracle. */
static double diff_lsb(void) {
  static double lsb = -1;
  if (lsb < 0) {
    const char *e = getenv("DYAD_PASSES_FUZZ_DIFF");
    lsb = e ? atof(e) : 0;
  }
  return lsb;
}

static void compare_runs(const char *stage, const DyGraph *qdq,
                         const DyGraph *folded, const uint8_t *data,
                         size_t size) {
  double lsb = diff_lsb();
  if (!runnable(qdq) || !runnable(folded) || qdq->noutputs != folded->noutputs)
    return;
  for (int mode = 0; mode < 2; mode++) {
    DyTensor a[16], b[16];
    memset(a, 0, sizeof a);
    memset(b, 0, sizeof b);
    int oka = run_once(qdq, mode, data, size, a);
    int okb = oka && run_once(folded, mode, data, size, b);
    for (int o = 0; okb && o < qdq->noutputs; o++) {
      int64_t n = dy_type_numel(&a[o].type);
      if (n != dy_type_numel(&b[o].type))
        continue;
      double amax = 0;
      for (int64_t i = 0; i < n; i++) {
        double x = fabs(real_at(&a[o], i));
        if (isfinite(x) && x > amax)
          amax = x;
      }
      double tol = tolerance(qdq, o, lsb, amax);
      for (int64_t i = 0; i < n; i++) {
        double x = real_at(&a[o], i), y = real_at(&b[o], i);
        if (!isfinite(x) || !isfinite(y))
          continue;
        if (fabs(x - y) > tol) {
          fprintf(stderr,
                  "output %d element %lld: %.9g before fold-scales, %.9g "
                  "after (inputs: %s)\n--- QDQ graph ---\n",
                  o, (long long)i, x, y, mode ? "small values" : "zeros");
          dy_print_graph(stderr, qdq, NULL);
          broken(stage, "the folded graph computes something else", folded);
        }
      }
    }
    for (int o = 0; o < qdq->noutputs; o++) {
      if (oka)
        dy_tensor_free(&a[o]);
      if (okb)
        dy_tensor_free(&b[o]);
    }
  }
}

/* --- option variants --- */

/* Takes one of n choices from the key. */
static unsigned take(uint64_t *key, unsigned n) {
  unsigned v = (unsigned)(*key % n);
  *key /= n;
  return v;
}

/* The options of variant k of the input, as dyad-opt's quantize and
 * fold-scales options ("weight-bits=4 ... rounding=tosa-single"), chosen
 * by a hash of the first 8 bytes of the input, its size and k. */
static void variant_text(const uint8_t *data, size_t size, int k, char *out,
                         size_t n) {
  static const char *const gran[] = {"per-tensor", "per-channel", "per-group"};
  static const char *const wround[] = {"half-even", "half-away", "stochastic"};
  static const char *const fround[] = {"tflite-double", "tflite-single",
                                       "tosa-single",   "tosa-double",
                                       "float",         "tflite-double"};
  static const char *const skip[] = {
      " skip-ops=softmax", " skip-ops=add:concat", "", "", "", "", "", ""};
  uint64_t h = 0;
  for (size_t i = 0; i < 8 && i < size; i++)
    h = h << 8 | data[i];
  uint64_t key = splitmix(h ^ splitmix((uint64_t)k) ^ ((uint64_t)size << 40));
  int wbits = 2 + (int)take(&key, 7);
  int wsigned = take(&key, 4) != 0;
  int wsym = (int)take(&key, 2);
  int wnarrow = (int)take(&key, 2);
  const char *g = gran[take(&key, 3)];
  int gs = 1 + (int)take(&key, 4);
  const char *wr = wround[take(&key, 3)];
  unsigned seed = take(&key, 4);
  int abits = take(&key, 3) ? 8 : 16;
  int asigned = abits == 16 ? take(&key, 16) != 0 : (int)take(&key, 2);
  int asym = (int)take(&key, 2);
  int anarrow = take(&key, 4) == 0;
  int dynamic = take(&key, 5) == 0;
  int iio = take(&key, 3) == 0;
  const char *sk = skip[take(&key, 8)];
  const char *fr = fround[take(&key, 6)];
  snprintf(out, n,
           "weight-bits=%d weight-signed=%d weight-symmetric=%d "
           "weight-narrow=%d granularity=%s group-size=%d "
           "weight-rounding=%s seed=%u act-bits=%d act-signed=%d "
           "act-symmetric=%d act-narrow=%d activations=%s integer-io=%d%s "
           "rounding=%s",
           wbits, wsigned, wsym, wnarrow, g, gs, wr, seed, abits, asigned, asym,
           anarrow, dynamic ? "dynamic" : "static", iio, sk, fr);
}

/* Applies the options text (space-separated key=value, dyad-opt's names)
 * over the defaults; options that do not apply are ignored. */
static void apply_text(const char *text, DyArena *arena, DyQuantOptions *q,
                       DyFoldOptions *f) {
  dy_quant_options_default(q);
  dy_fold_options_default(f);
  char buf[1024];
  snprintf(buf, sizeof buf, "%s", text);
  for (char *tok = strtok(buf, " \t\r"); tok; tok = strtok(NULL, " \t\r")) {
    char *eq = strchr(tok, '=');
    if (!eq)
      continue;
    *eq = 0;
    char err[256];
    const DyPassInfo *qp = dy_pass_lookup("quantize", 8),
                     *fp = dy_pass_lookup("fold-scales", 11);
    if (dy_pass_set_option(qp, q, tok, eq + 1, arena, err, sizeof err) < 0)
      dy_pass_set_option(fp, f, tok, eq + 1, arena, err, sizeof err);
  }
  if (WORKAROUND_UNSIGNED_NARROW_FIXED && workarounds() && !q->acts.is_signed)
    q->acts.narrow = 0;
}

/* The applied options as text, in the form apply_text reads. */
static void describe(const DyQuantOptions *q, const DyFoldOptions *f, char *out,
                     size_t n) {
  static const char *const gran[] = {"per-tensor", "per-channel", "per-group"};
  static const char *const wround[] = {"half-even", "half-away", "stochastic"};
  static const char *const fround[] = {"tflite-double", "tflite-single",
                                       "tosa-single", "tosa-double"};
  char skip[256] = "";
  size_t len = 0;
  for (int i = 0; q->skip_ops && q->skip_ops[i]; i++) {
    int m = snprintf(skip + len, sizeof skip - len, "%s%s",
                     i ? ":" : " skip-ops=", q->skip_ops[i]);
    if (m < 0 || (size_t)m >= sizeof skip - len)
      break;
    len += (size_t)m;
  }
  snprintf(out, n,
           "weight-bits=%d weight-signed=%d weight-symmetric=%d "
           "weight-narrow=%d granularity=%s group-size=%d "
           "weight-rounding=%s seed=%llu act-bits=%d act-signed=%d "
           "act-symmetric=%d act-narrow=%d activations=%s integer-io=%d%s "
           "rounding=%s",
           q->weights.bits, q->weights.is_signed, q->weights.symmetric,
           q->weights.narrow, gran[q->granularity], q->group_size,
           wround[q->rounding], (unsigned long long)q->seed, q->acts.bits,
           q->acts.is_signed, q->acts.symmetric, q->acts.narrow,
           q->dynamic ? "dynamic" : "static", q->integer_io, skip,
           f->float_requant ? "float" : fround[f->rounding]);
}

/* The options of an input whose first line is "// options: KEY=VALUE ...",
 * copied into out; 0 when there is no such line. Reproducers use it. */
static int options_line(const uint8_t *data, size_t size, char *out, size_t n) {
  static const char tag[] = "// options:";
  size_t t = sizeof tag - 1;
  if (size < t || memcmp(data, tag, t) != 0)
    return 0;
  size_t e = t;
  while (e < size && data[e] != '\n' && data[e] != 0)
    e++;
  size_t len = e - t < n - 1 ? e - t : n - 1;
  memcpy(out, data + t, len);
  out[len] = 0;
  return 1;
}

/* --- the pipelines --- */

/* Whether pipeline `c` ('a', 'b' or 'c') runs: all of them, unless the
 * environment variable DYAD_PASSES_FUZZ_PIPELINES names some (for looking
 * at one pipeline of a reproducer). */
static int pipeline_on(char c) {
  static const char *only;
  static int init;
  if (!init) {
    only = getenv("DYAD_PASSES_FUZZ_PIPELINES");
    init = 1;
  }
  return !only || strchr(only, c) != NULL;
}

/* fold-scales on g, then a run when it is integer-only. */
static void fold_and_run(const char *stage, DyGraph *g, const DyFoldOptions *f,
                         DyDiag *d, const uint8_t *data, size_t size) {
  DyGraph *qdq = diff_lsb() > 0 ? dy_graph_clone(g) : NULL;
  int e = d->nerrors;
  int rc = dy_fold_scales(g, f, d);
  if (check_pass(stage, rc, d, e, g)) {
    run_graph(g, data, size);
    if (qdq)
      compare_runs(stage, qdq, g, data, size);
  }
  if (qdq)
    dy_graph_destroy(qdq);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  DyParseOptions opt;
  memset(&opt, 0, sizeof opt);
  opt.max_const_bytes = (size_t)1 << 20;
  opt.no_external = 1;

  cur_data = data;
  cur_size = size;
  cur_opts[0] = 0;
  DyDiag d;
  diag_quiet(&d);
  DyGraph *g = dy_parse_graph("fuzz.dy", (const char *)data, size, &opt, &d);
  char text[1024];
  int given = options_line(data, size, text, sizeof text);
  /* (the work-around comes first: the verifier itself trips on a conv2d
   * with an empty kernel) */
  if (!g ||
      (WORKAROUND_EMPTY_WEIGHTS && workarounds() && has_empty_weights(g)) ||
      dy_graph_verify(g, &d) != 0) {
    if (g)
      dy_graph_destroy(g);
    dy_diag_fini(&d);
    return 0;
  }

  DyQuantOptions q;
  DyFoldOptions f;
  int e, rc;

  /* (a) quantize with the default options, then fold-scales */
  if (pipeline_on('a')) {
    DyGraph *c = dy_graph_clone(g);
    dy_quant_options_default(&q);
    dy_fold_options_default(&f);
    e = d.nerrors;
    rc = dy_quantize(c, &q, &d);
    if (check_pass("(a) quantize", rc, &d, e, c))
      fold_and_run("(a) fold-scales", c, &f, &d, data, size);
    dy_graph_destroy(c);
  }

  /* (b) fold-scales on the input */
  if (pipeline_on('b')) {
    DyGraph *c = dy_graph_clone(g);
    dy_fold_options_default(&f);
    fold_and_run("(b) fold-scales", c, &f, &d, data, size);
    dy_graph_destroy(c);
  }

  /* (c) canonicalize, then quantize with option variants, then fold */
  if (pipeline_on('c')) {
    DyGraph *canon = dy_graph_clone(g);
    e = d.nerrors;
    rc = dy_canonicalize(canon, &d);
    int ok = check_pass("(c) canonicalize", rc, &d, e, canon);
    DyArena *arena = dy_arena_create();
    for (int k = 0; k < 3 && ok; k++) {
      if (k > 0 || !given)
        variant_text(data, size, k, text, sizeof text);
      apply_text(text, arena, &q, &f);
      describe(&q, &f, cur_opts, sizeof cur_opts);
      DyGraph *c = dy_graph_clone(canon);
      int e2 = d.nerrors;
      int rc2 = dy_quantize(c, &q, &d);
      if (check_pass("(c) quantize", rc2, &d, e2, c))
        fold_and_run("(c) fold-scales", c, &f, &d, data, size);
      dy_graph_destroy(c);
      cur_opts[0] = 0;
    }
    dy_arena_destroy(arena);
    dy_graph_destroy(canon);
  }

  dy_graph_destroy(g);
  dy_diag_fini(&d);
  return 0;
}
