/* dyad-onnx-conformance: runs ONNX's backend tests (model.onnx plus
 * test_data_set_N/{input,output}_K.pb) through the importer and the
 * reference interpreter and counts passed / failed / unsupported.
 *
 * Floats are compared as ONNX's own runner does (numpy assert_allclose with
 * rtol 1e-3, atol 1e-7), integers exactly. int64 inputs (shape operands) are
 * given to the importer as constants, since dyad compiles static shapes.
 *
 * With --fold-scales[=MODE] each imported graph also goes through
 * fold-scales (float requants become dyadic ones, rounded per MODE) and is
 * verified again before it runs. A dyadic multiplier rounds exact and near
 * ties differently from ONNX's float reference, so in this mode integer
 * outputs may differ by 1; the tool counts the elements that are exact and
 * those off by 1, and says whether the folded graph is integer-only.
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dyad/interp.h"
#include "dyad/onnx.h"
#include "dyad/quant.h"

#define MAX_IO 32

#define MAX_ONLY 16

typedef struct Options {
  int verbose;                /* print every test's outcome */
  const char *xfail;          /* file listing expected failures (suite/test) */
  const char *only[MAX_ONLY]; /* run only tests whose name contains one */
  int nonly;
  const char *require;     /* file listing tests (suite/test) that must pass */
  int fold;                /* --fold-scales: run the folded graph */
  DyFoldOptions fold_opts; /* its requant rounding */
} Options;

/* What --fold-scales found for one test (all its data sets) or a summary. */
typedef struct FoldStats {
  long long exact, off1, off_more; /* integer output elements */
  int float_ops;           /* dy_verify_integer_only on the folded graph (most
                              over the data sets) */
  char float_msg[256];     /* its first complaints */
  int tests, integer_only; /* summaries: tests counted, integer-only ones */
} FoldStats;

typedef struct Counts {
  int passed, failed, unsupported, xfailed, xpassed;
} Counts;

/* Collects the first error message of a run, quietly. */
typedef struct Quiet {
  char msg[512];
  int n;
} Quiet;

static void quiet_fn(void *ctx, DySeverity sev, DyLoc loc, const char *msg) {
  Quiet *q = ctx;
  if (sev == DY_ERROR && q->n++ == 0)
    snprintf(q->msg, sizeof q->msg, "%s", msg);
}

/* Collects the complaints of dy_verify_integer_only, joined by "; ". */
static void collect_fn(void *ctx, DySeverity sev, DyLoc loc, const char *msg) {
  FoldStats *s = ctx;
  size_t len = strlen(s->float_msg);
  (void)loc;
  if (sev != DY_ERROR || len + 4 >= sizeof s->float_msg)
    return;
  snprintf(s->float_msg + len, sizeof s->float_msg - len, "%s%s",
           len ? "; " : "", msg);
}

static int cmp_str(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names in dir that start with prefix (all when prefix is ""). */
static int list_dir(const char *dir, const char *prefix, char ***out) {
  DIR *d = opendir(dir);
  *out = NULL;
  if (!d)
    return 0;
  int n = 0, cap = 0;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.' || strncmp(e->d_name, prefix, strlen(prefix)))
      continue;
    if (n == cap) {
      cap = cap ? 2 * cap : 64;
      *out = realloc(*out, (size_t)cap * sizeof **out);
    }
    (*out)[n++] = strdup(e->d_name);
  }
  closedir(d);
  if (n)
    qsort(*out, (size_t)n, sizeof **out, cmp_str);
  return n;
}

static void free_list(char **l, int n) {
  for (int i = 0; i < n; i++)
    free(l[i]);
  free(l);
}

static int elem_of_dtype(int dtype, DyElemType *e) {
  switch (dtype) {
  case 1:
    *e = DY_F32;
    return 1;
  case 2:
    *e = DY_U8;
    return 1;
  case 3:
    *e = DY_I8;
    return 1;
  case 5:
    *e = DY_I16;
    return 1;
  case 6:
    *e = DY_I32;
    return 1;
  default:
    return 0;
  }
}

/* Element i of integer data of type e (one of elem_of_dtype's). */
static int64_t int_at(const void *data, DyElemType e, int64_t i) {
  switch (e) {
  case DY_U8:
    return ((const uint8_t *)data)[i];
  case DY_I8:
    return ((const int8_t *)data)[i];
  case DY_I16:
    return ((const int16_t *)data)[i];
  default:
    return ((const int32_t *)data)[i];
  }
}

/* Compares an interpreter output with the expected tensor; on a mismatch
 * writes a reason into why. With fs (--fold-scales), integer elements may
 * be off by 1: every element is counted in fs, and only a larger
 * difference fails. */
static int compare(const DyTensor *got, const DyOnnxTensor *want, char *why,
                   size_t n, FoldStats *fs) {
  DyElemType e;
  if (!elem_of_dtype(want->dtype, &e) || e != got->type.elem) {
    snprintf(why, n, "output type %s, expected %s",
             dy_elem_name(got->type.elem), dy_onnx_dtype_name(want->dtype));
    return 1;
  }
  int64_t numel = 1;
  for (int i = 0; i < want->rank; i++)
    numel *= want->dims[i];
  int same = got->type.rank == want->rank;
  for (int i = 0; same && i < want->rank; i++)
    same = got->type.dims[i] == want->dims[i];
  if (!same || got->nbytes != want->nbytes) {
    snprintf(why, n, "output shape differs");
    return 1;
  }
  if (e != DY_F32 && fs) {
    int bad = 0;
    for (int64_t i = 0; i < numel; i++) {
      int64_t x = int_at(got->data, e, i), y = int_at(want->data, e, i);
      int64_t diff = x > y ? x - y : y - x;
      if (diff == 0) {
        fs->exact++;
      } else if (diff == 1) {
        fs->off1++;
      } else {
        fs->off_more++;
        if (!bad++)
          snprintf(why, n, "element %lld: got %lld, expected %lld",
                   (long long)i, (long long)x, (long long)y);
      }
    }
    return bad != 0;
  }
  if (e != DY_F32) {
    if (memcmp(got->data, want->data, got->nbytes)) {
      snprintf(why, n, "integer output differs");
      return 1;
    }
    return 0;
  }
  const float *a = got->data, *b = want->data;
  for (int64_t i = 0; i < numel; i++) {
    double x = a[i], y = b[i];
    if (isnan(x) && isnan(y))
      continue;
    if (x == y)
      continue; /* equal infinities */
    if (!(fabs(x - y) <= 1e-7 + 1e-3 * fabs(y))) {
      snprintf(why, n, "element %lld: got %.9g, expected %.9g", (long long)i, x,
               y);
      return 1;
    }
  }
  return 0;
}

typedef enum Outcome { PASS, FAIL, UNSUPPORTED } Outcome;

/* Runs one data set of one test; fs (NULL unless --fold-scales) gathers
 * what folding did. */
static Outcome run_set(const char *model, const char *setdir, char *why,
                       size_t whyn, const Options *o, FoldStats *fs) {
  char **files;
  int nf = list_dir(setdir, "", &files);
  DyOnnxTensor ins[MAX_IO], outs[MAX_IO];
  int nin = 0, nout = 0;
  Outcome rc = PASS;
  Quiet q = {{0}, 0};
  DyDiag d;
  dy_diag_init(&d);
  d.fn = quiet_fn;
  d.ctx = &q;
  memset(ins, 0, sizeof ins);
  memset(outs, 0, sizeof outs);
  for (int i = 0; i < nf; i++) {
    char path[8800];
    snprintf(path, sizeof path, "%s/%s", setdir, files[i]);
    int is_in = strncmp(files[i], "input_", 6) == 0;
    int is_out = strncmp(files[i], "output_", 7) == 0;
    if (!is_in && !is_out)
      continue;
    /* input_10.pb sorts before input_2.pb: place by number */
    int idx = atoi(files[i] + (is_in ? 6 : 7));
    if (idx < 0 || idx >= MAX_IO) {
      snprintf(why, whyn, "too many inputs or outputs");
      rc = UNSUPPORTED;
      goto done;
    }
    DyOnnxTensor *t = is_in ? &ins[idx] : &outs[idx];
    if (dy_onnx_read_tensor(path, t, &d)) {
      /* dyad reads the element types it handles; sequences, optionals,
       * double, bool, string, ... data makes the test unsupported */
      snprintf(why, whyn, "test data %s: %s", files[i], q.msg);
      rc = UNSUPPORTED;
      goto done;
    }
    if (is_in && idx + 1 > nin)
      nin = idx + 1;
    if (is_out && idx + 1 > nout)
      nout = idx + 1;
  }
  /* Every input's value is offered to the importer: int64 ones (shapes)
   * become constants, and so do others that a node needs at compile time
   * (quantization parameters, clip bounds); the rest stay graph inputs. */
  DyOnnxOptions opt;
  memset(&opt, 0, sizeof opt);
  opt.const_inputs = ins;
  opt.nconst_inputs = nin;
  DyOnnxStatus st;
  DyGraph *g = dy_onnx_import(model, &opt, &st, &d);
  if (!g) {
    snprintf(why, whyn, "%s", q.msg);
    rc = st == DY_ONNX_UNSUPPORTED ? UNSUPPORTED : FAIL;
    goto done;
  }
  if (o->fold) {
    /* the importer has verified g; fold, verify again, check integer-only */
    q.n = 0;
    q.msg[0] = 0;
    if (dy_fold_scales(g, &o->fold_opts, &d)) {
      snprintf(why, whyn, "fold-scales: %s", q.msg);
      rc = FAIL;
    } else if (dy_graph_verify(g, &d)) {
      snprintf(why, whyn, "verify after fold-scales: %s", q.msg);
      rc = FAIL;
    } else {
      FoldStats one;
      memset(&one, 0, sizeof one);
      DyDiag vd;
      dy_diag_init(&vd);
      vd.fn = collect_fn;
      vd.ctx = &one;
      one.float_ops = dy_verify_integer_only(g, &vd);
      dy_diag_fini(&vd);
      if (one.float_ops > fs->float_ops) {
        fs->float_ops = one.float_ops;
        memcpy(fs->float_msg, one.float_msg, sizeof fs->float_msg);
      }
    }
  }
  DyTensor tin[MAX_IO], tout[MAX_IO];
  memset(tin, 0, sizeof tin);
  memset(tout, 0, sizeof tout);
  /* graph inputs (those not made constants) by name */
  for (int k = 0; k < g->ninputs && rc == PASS; k++) {
    int found = -1, ovf;
    for (int i = 0; i < nin; i++)
      if (ins[i].name && strcmp(ins[i].name, g->inputs[k]->name) == 0)
        found = i;
    if (found < 0 && k < nin && (!ins[k].name || !ins[k].name[0]))
      found = k; /* unnamed test data: by position */
    if (found < 0) {
      snprintf(why, whyn, "no test data for graph input '%s'",
               g->inputs[k]->name);
      rc = FAIL;
      break;
    }
    DyElemType e;
    tin[k].type = g->inputs[k]->type;
    tin[k].data = ins[found].data;
    tin[k].nbytes = ins[found].nbytes;
    if (!elem_of_dtype(ins[found].dtype, &e) || e != tin[k].type.elem ||
        ins[found].nbytes != dy_type_nbytes(&tin[k].type, &ovf)) {
      snprintf(why, whyn, "test data for '%s' does not match the graph input",
               g->inputs[k]->name);
      rc = FAIL;
    }
  }
  if (rc == PASS && g->noutputs != nout) {
    snprintf(why, whyn, "graph has %d outputs, test data %d", g->noutputs,
             nout);
    rc = FAIL;
  }
  q.n = 0;
  if (rc == PASS && dy_interp_run(g, tin, tout, &d)) {
    snprintf(why, whyn, "run: %s", q.msg);
    rc = FAIL;
  }
  for (int i = 0; rc == PASS && i < nout; i++)
    if (compare(&tout[i], &outs[i], why, whyn, fs))
      rc = FAIL;
  for (int i = 0; i < g->noutputs && i < MAX_IO; i++)
    dy_tensor_free(&tout[i]);
  dy_graph_destroy(g);
done:
  for (int i = 0; i < MAX_IO; i++) {
    dy_onnx_tensor_free(&ins[i]);
    dy_onnx_tensor_free(&outs[i]);
  }
  free_list(files, nf);
  dy_diag_fini(&d);
  return rc;
}

static Outcome run_test(const char *dir, char *why, size_t whyn,
                        const Options *o, FoldStats *fs) {
  char model[4200];
  snprintf(model, sizeof model, "%s/model.onnx", dir);
  char **sets;
  int ns = list_dir(dir, "test_data_set_", &sets);
  Outcome rc = ns ? PASS : FAIL;
  if (!ns)
    snprintf(why, whyn, "no test_data_set_*");
  for (int i = 0; i < ns && rc == PASS; i++) {
    char setdir[4400];
    snprintf(setdir, sizeof setdir, "%s/%s", dir, sets[i]);
    rc = run_set(model, setdir, why, whyn, o, fs);
  }
  free_list(sets, ns);
  return rc;
}

/* Whether "suite/test" is listed in the expected-failure file. */
static int is_xfail(char **xf, int nx, const char *suite, const char *test) {
  char key[1024];
  snprintf(key, sizeof key, "%s/%s", suite, test);
  for (int i = 0; i < nx; i++)
    if (strcmp(xf[i], key) == 0)
      return 1;
  return 0;
}

static int read_lines(const char *path, char ***out) {
  FILE *f = fopen(path, "r");
  *out = NULL;
  if (!f)
    return -1;
  char line[1024];
  int n = 0, cap = 0;
  while (fgets(line, sizeof line, f)) {
    line[strcspn(line, "\r\n#")] = 0;
    size_t len = strlen(line);
    while (len && line[len - 1] == ' ')
      line[--len] = 0;
    if (!len)
      continue;
    if (n == cap) {
      cap = cap ? 2 * cap : 64;
      *out = realloc(*out, (size_t)cap * sizeof **out);
    }
    (*out)[n++] = strdup(line);
  }
  fclose(f);
  return n;
}

int main(int argc, char **argv) {
  Options o;
  memset(&o, 0, sizeof o);
  dy_fold_options_default(&o.fold_opts);
  const char *suites[16];
  int nsuites = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0) {
      printf(
          "usage: dyad-onnx-conformance [-v] [--xfail FILE] [--require FILE]\n"
          "           [--only S]... [--fold-scales[=MODE]] SUITE_DIR...\n"
          "Runs every ONNX backend test under each SUITE_DIR (e.g.\n"
          "/usr/share/libonnx-testdata/data/node) with the importer and\n"
          "the reference interpreter. Exits 1 on a failure not listed in\n"
          "the --xfail file, on a listed test that now passes, or when a\n"
          "test listed in the --require file does not pass.\n"
          "  --only S         run only tests whose name contains S (may be\n"
          "                   repeated: a test matching any of them runs)\n"
          "  --fold-scales[=MODE]  run each graph after fold-scales, with\n"
          "                   dyadic requants rounded per MODE: tflite-double\n"
          "                   (default), tflite-single, tosa-single or\n"
          "                   tosa-double; integer outputs may then be off\n"
          "                   by 1 (counted, and shown with the summary)\n");
      return 0;
    } else if (strcmp(argv[i], "-v") == 0) {
      o.verbose = 1;
    } else if (strcmp(argv[i], "--xfail") == 0 && i + 1 < argc) {
      o.xfail = argv[++i];
    } else if (strcmp(argv[i], "--require") == 0 && i + 1 < argc) {
      o.require = argv[++i];
    } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
      if (o.nonly == MAX_ONLY) {
        fprintf(stderr, "dyad-onnx-conformance: error: more than %d --only\n",
                MAX_ONLY);
        return 1;
      }
      o.only[o.nonly++] = argv[++i];
    } else if (strcmp(argv[i], "--fold-scales") == 0 ||
               strncmp(argv[i], "--fold-scales=", 14) == 0) {
      const char *mode = argv[i][13] == '=' ? argv[i] + 14 : "tflite-double";
      if (dy_rounding_from_name(mode, &o.fold_opts.rounding)) {
        fprintf(stderr,
                "dyad-onnx-conformance: error: --fold-scales: unknown "
                "rounding '%s' (tflite-double, tflite-single, tosa-single "
                "or tosa-double)\n",
                mode);
        return 1;
      }
      o.fold = 1;
    } else if (argv[i][0] == '-') {
      fprintf(stderr, "dyad-onnx-conformance: error: unknown option '%s'\n",
              argv[i]);
      return 1;
    } else if (nsuites < 16) {
      suites[nsuites++] = argv[i];
    }
  }
  if (!nsuites) {
    fprintf(stderr, "dyad-onnx-conformance: error: no suite directory\n");
    return 1;
  }
  char **xf = NULL;
  int nx = 0;
  if (o.xfail && (nx = read_lines(o.xfail, &xf)) < 0) {
    fprintf(stderr, "dyad-onnx-conformance: error: cannot read '%s'\n",
            o.xfail);
    return 1;
  }
  char **rq = NULL;
  int nrq = 0;
  if (o.require && (nrq = read_lines(o.require, &rq)) < 0) {
    fprintf(stderr, "dyad-onnx-conformance: error: cannot read '%s'\n",
            o.require);
    free_list(xf, nx);
    return 1;
  }
  char *passed_ok = calloc((size_t)nrq + 1, 1);
  Counts total = {0, 0, 0, 0, 0};
  FoldStats ftotal;
  memset(&ftotal, 0, sizeof ftotal);
  int bad = 0;
  for (int s = 0; s < nsuites; s++) {
    char **tests;
    int nt = list_dir(suites[s], "", &tests);
    if (!nt) {
      fprintf(stderr, "dyad-onnx-conformance: error: no tests in '%s'\n",
              suites[s]);
      bad = 1;
    }
    const char *sname = strrchr(suites[s], '/');
    sname = sname && sname[1] ? sname + 1 : suites[s];
    Counts c = {0, 0, 0, 0, 0};
    FoldStats fsuite;
    memset(&fsuite, 0, sizeof fsuite);
    for (int t = 0; t < nt; t++) {
      int match = !o.nonly;
      for (int k = 0; k < o.nonly && !match; k++)
        match = strstr(tests[t], o.only[k]) != NULL;
      if (!match)
        continue;
      char dir[4096], why[600] = "";
      snprintf(dir, sizeof dir, "%s/%s", suites[s], tests[t]);
      struct stat st;
      if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        continue;
      FoldStats fs;
      memset(&fs, 0, sizeof fs);
      Outcome r = run_test(dir, why, sizeof why, &o, o.fold ? &fs : NULL);
      int xfail = is_xfail(xf, nx, sname, tests[t]);
      const char *tag;
      if (r == PASS && xfail) {
        c.xpassed++;
        tag = "XPASS";
        bad = 1;
      } else if (r == PASS) {
        c.passed++;
        tag = "PASS";
      } else if (r == UNSUPPORTED) {
        c.unsupported++;
        tag = "UNSUPPORTED";
      } else if (xfail) {
        c.xfailed++;
        tag = "XFAIL";
      } else {
        c.failed++;
        tag = "FAIL";
        bad = 1;
      }
      for (int k = 0; r == PASS && k < nrq; k++) {
        char key[1024];
        snprintf(key, sizeof key, "%s/%s", sname, tests[t]);
        if (strcmp(rq[k], key) == 0)
          passed_ok[k] = 1;
      }
      char folded[512] = "";
      if (o.fold && r != UNSUPPORTED) {
        char more[64] = "", io[300];
        if (fs.off_more)
          snprintf(more, sizeof more, ", %lld off by more", fs.off_more);
        if (fs.float_ops)
          snprintf(io, sizeof io, "not integer-only (%d: %s)", fs.float_ops,
                   fs.float_msg);
        else
          snprintf(io, sizeof io, "integer-only");
        snprintf(folded, sizeof folded,
                 "%sfolded: %lld elements exact, %lld off by 1%s; %s",
                 why[0] ? "; " : ": ", fs.exact, fs.off1, more, io);
        fsuite.exact += fs.exact;
        fsuite.off1 += fs.off1;
        fsuite.off_more += fs.off_more;
        fsuite.tests++;
        fsuite.integer_only += fs.float_ops == 0;
      }
      if (o.verbose || r == FAIL || (r == PASS && xfail))
        printf("%s: %s/%s%s%s%s\n", tag, sname, tests[t], why[0] ? ": " : "",
               why, folded);
    }
    printf("%s: %d passed, %d failed, %d expected failures, %d unsupported"
           "%s\n",
           sname, c.passed, c.failed, c.xfailed, c.unsupported,
           c.xpassed ? " (and unexpected passes)" : "");
    if (o.fold)
      printf("%s: folded (%s): %lld elements exact, %lld off by 1, %lld off "
             "by more; %d of %d tests integer-only\n",
             sname, dy_rounding_name(o.fold_opts.rounding), fsuite.exact,
             fsuite.off1, fsuite.off_more, fsuite.integer_only, fsuite.tests);
    ftotal.exact += fsuite.exact;
    ftotal.off1 += fsuite.off1;
    ftotal.off_more += fsuite.off_more;
    ftotal.tests += fsuite.tests;
    ftotal.integer_only += fsuite.integer_only;
    total.passed += c.passed;
    total.failed += c.failed;
    total.unsupported += c.unsupported;
    total.xfailed += c.xfailed;
    total.xpassed += c.xpassed;
    free_list(tests, nt);
  }
  printf("total: %d passed, %d failed, %d expected failures, %d unsupported, "
         "%d unexpected passes\n",
         total.passed, total.failed, total.xfailed, total.unsupported,
         total.xpassed);
  if (o.fold)
    printf("total: folded (%s): %lld elements exact, %lld off by 1, %lld off "
           "by more; %d of %d tests integer-only\n",
           dy_rounding_name(o.fold_opts.rounding), ftotal.exact, ftotal.off1,
           ftotal.off_more, ftotal.integer_only, ftotal.tests);
  for (int k = 0; k < nrq; k++)
    if (!passed_ok[k]) {
      printf("REQUIRED: %s did not pass\n", rq[k]);
      bad = 1;
    }
  free(passed_ok);
  free_list(rq, nrq);
  free_list(xf, nx);
  return bad;
}
