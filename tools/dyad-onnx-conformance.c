/* dyad-onnx-conformance: runs ONNX's backend tests (model.onnx plus
 * test_data_set_N/{input,output}_K.pb) through the importer and the
 * reference interpreter and counts passed / failed / unsupported.
 *
 * Floats are compared as ONNX's own runner does (numpy assert_allclose with
 * rtol 1e-3, atol 1e-7), integers exactly. int64 inputs (shape operands) are
 * given to the importer as constants, since dyad compiles static shapes.
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dyad/interp.h"
#include "dyad/onnx.h"

#define MAX_IO 32

typedef struct Options {
  int verbose;         /* print every test's outcome */
  const char *xfail;   /* file listing expected failures (suite/test) */
  const char *only;    /* run only tests whose name contains this */
  const char *require; /* file listing tests (suite/test) that must pass */
} Options;

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

/* Compares an interpreter output with the expected tensor; on a mismatch
 * writes a reason into why. */
static int compare(const DyTensor *got, const DyOnnxTensor *want, char *why,
                   size_t n) {
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

/* Runs one data set of one test. */
static Outcome run_set(const char *model, const char *setdir, char *why,
                       size_t whyn) {
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
  if (rc == PASS && dy_interp_run(g, tin, tout, &d)) {
    snprintf(why, whyn, "run: %s", q.msg);
    rc = FAIL;
  }
  for (int i = 0; rc == PASS && i < nout; i++)
    if (compare(&tout[i], &outs[i], why, whyn))
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

static Outcome run_test(const char *dir, char *why, size_t whyn) {
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
    rc = run_set(model, setdir, why, whyn);
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
  Options o = {0, NULL, NULL, NULL};
  const char *suites[16];
  int nsuites = 0;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--help") == 0) {
      printf("usage: dyad-onnx-conformance [-v] [--xfail FILE] [--only S] "
             "SUITE_DIR...\n"
             "Runs every ONNX backend test under each SUITE_DIR (e.g.\n"
             "/usr/share/libonnx-testdata/data/node) with the importer and\n"
             "the reference interpreter. Exits 1 on a failure not listed in\n"
             "the --xfail file, on a listed test that now passes, or when a\n"
             "test listed in the --require file does not pass.\n");
      return 0;
    } else if (strcmp(argv[i], "-v") == 0) {
      o.verbose = 1;
    } else if (strcmp(argv[i], "--xfail") == 0 && i + 1 < argc) {
      o.xfail = argv[++i];
    } else if (strcmp(argv[i], "--require") == 0 && i + 1 < argc) {
      o.require = argv[++i];
    } else if (strcmp(argv[i], "--only") == 0 && i + 1 < argc) {
      o.only = argv[++i];
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
    for (int t = 0; t < nt; t++) {
      if (o.only && !strstr(tests[t], o.only))
        continue;
      char dir[4096], why[600] = "";
      snprintf(dir, sizeof dir, "%s/%s", suites[s], tests[t]);
      struct stat st;
      if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        continue;
      Outcome r = run_test(dir, why, sizeof why);
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
      if (o.verbose || r == FAIL || (r == PASS && xfail))
        printf("%s: %s/%s%s%s\n", tag, sname, tests[t], why[0] ? ": " : "",
               why);
    }
    printf("%s: %d passed, %d failed, %d expected failures, %d unsupported"
           "%s\n",
           sname, c.passed, c.failed, c.xfailed, c.unsupported,
           c.xpassed ? " (and unexpected passes)" : "");
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
