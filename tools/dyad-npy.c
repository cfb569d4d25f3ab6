/* dyad-npy: prints, compares and copies .npy files, for the lit tests.
 *
 *   dyad-npy print FILE.npy
 *   dyad-npy cmp ACTUAL.npy EXPECTED.npy [--rtol R] [--atol A] [--exact]
 *   dyad-npy copy IN.npy OUT.npy
 *   dyad-npy agree A.npy B.npy [--min PERCENT]
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dyad/npy.h"

static const char usage[] =
    "usage: dyad-npy print FILE.npy\n"
    "       dyad-npy cmp ACTUAL.npy EXPECTED.npy [--rtol R] [--atol A] "
    "[--exact]\n"
    "       dyad-npy copy IN.npy OUT.npy\n"
    "       dyad-npy agree A.npy B.npy [--min PERCENT] [--labels L.npy]\n"
    "\n"
    "print  writes 'dtype=float32 shape=[2, 3]' then one value per line\n"
    "cmp    requires equal shapes; elements match when\n"
    "       |a - b| <= atol + rtol * |b| (default rtol 1e-5, atol 1e-6), or\n"
    "       with --exact when equal (NaN equals NaN); exits 1 on a mismatch\n"
    "copy   reads IN and writes it again as OUT\n"
    "agree  compares the argmax along the last axis of two [N, C] arrays\n"
    "       (classifier outputs) and prints 'agreement: K/N (P%)'; with\n"
    "       --labels also each array's top-1 accuracy; exits 1 below --min\n";

static int is_float(DyNpyDtype t) { return t == DY_NPY_F32 || t == DY_NPY_F64; }

/* Element i of an integer or bool array. */
static int64_t get_i64(const DyNpy *a, size_t i) {
  const unsigned char *p = a->data;
  switch (a->dtype) {
  case DY_NPY_I8:
    return (int8_t)p[i];
  case DY_NPY_U8:
  case DY_NPY_BOOL:
    return p[i];
  case DY_NPY_I16: {
    int16_t v;
    memcpy(&v, p + 2 * i, 2);
    return v;
  }
  case DY_NPY_I32: {
    int32_t v;
    memcpy(&v, p + 4 * i, 4);
    return v;
  }
  case DY_NPY_I64: {
    int64_t v;
    memcpy(&v, p + 8 * i, 8);
    return v;
  }
  default:
    return 0;
  }
}

/* Element i as a double (int64 above 2^53 loses precision). */
static double get_f64(const DyNpy *a, size_t i) {
  const unsigned char *p = a->data;
  switch (a->dtype) {
  case DY_NPY_F32: {
    float v;
    memcpy(&v, p + 4 * i, 4);
    return v;
  }
  case DY_NPY_F64: {
    double v;
    memcpy(&v, p + 8 * i, 8);
    return v;
  }
  default:
    return (double)get_i64(a, i);
  }
}

static size_t numel(const DyNpy *a) {
  return a->nbytes / dy_npy_dtype_size(a->dtype);
}

static void print_shape(const DyNpy *a) {
  putchar('[');
  for (int k = 0; k < a->rank; k++)
    printf("%s%lld", k ? ", " : "", (long long)a->dims[k]);
  putchar(']');
}

/* Prints the multi-index of flat element i. */
static void print_index(const DyNpy *a, size_t i) {
  int64_t coord[DY_NPY_MAX_RANK];
  for (int k = a->rank - 1; k >= 0; k--) {
    coord[k] = a->dims[k] ? (int64_t)(i % (size_t)a->dims[k]) : 0;
    i = a->dims[k] ? i / (size_t)a->dims[k] : 0;
  }
  putchar('[');
  for (int k = 0; k < a->rank; k++)
    printf("%s%lld", k ? ", " : "", (long long)coord[k]);
  putchar(']');
}

static void print_value(const DyNpy *a, size_t i) {
  if (a->dtype == DY_NPY_F32)
    printf("%.9g", get_f64(a, i));
  else if (a->dtype == DY_NPY_F64)
    printf("%.17g", get_f64(a, i));
  else
    printf("%lld", (long long)get_i64(a, i));
}

static int cmd_print(const char *path, DyDiag *d) {
  DyNpy a;
  if (dy_npy_read(path, &a, d))
    return 1;
  printf("dtype=%s shape=", dy_npy_dtype_name(a.dtype));
  print_shape(&a);
  putchar('\n');
  size_t n = numel(&a);
  for (size_t i = 0; i < n; i++) {
    print_value(&a, i);
    putchar('\n');
  }
  dy_npy_free(&a);
  return 0;
}

static int cmd_copy(const char *in, const char *out, DyDiag *d) {
  DyNpy a;
  if (dy_npy_read(in, &a, d))
    return 1;
  int rc = dy_npy_write(out, &a, d);
  dy_npy_free(&a);
  return rc;
}

/* Parses a non-negative tolerance; returns 0 on success. */
static int parse_tol(const char *flag, const char *s, double *out) {
  char *end;
  double v = strtod(s, &end);
  if (end == s || *end || !(v >= 0) || isinf(v)) {
    fprintf(stderr,
            "dyad-npy: error: %s needs a non-negative number, got '%s'\n", flag,
            s);
    return 1;
  }
  *out = v;
  return 0;
}

static int cmd_cmp(int argc, char **argv, DyDiag *d) {
  const char *paths[2];
  int npaths = 0, exact = 0;
  double rtol = 1e-5, atol = 1e-6;
  for (int i = 0; i < argc; i++) {
    if (strcmp(argv[i], "--exact") == 0) {
      exact = 1;
    } else if (strcmp(argv[i], "--rtol") == 0 ||
               strcmp(argv[i], "--atol") == 0) {
      if (i + 1 >= argc) {
        fprintf(stderr, "dyad-npy: error: %s needs a value\n", argv[i]);
        return 1;
      }
      if (parse_tol(argv[i], argv[i + 1], argv[i][2] == 'r' ? &rtol : &atol))
        return 1;
      i++;
    } else if (argv[i][0] == '-' && argv[i][1]) {
      fprintf(stderr, "dyad-npy: error: unknown option '%s'\n", argv[i]);
      return 1;
    } else if (npaths < 2) {
      paths[npaths++] = argv[i];
    } else {
      fprintf(stderr, "dyad-npy: error: cmp takes two files\n");
      return 1;
    }
  }
  if (npaths != 2) {
    fprintf(stderr, "dyad-npy: error: cmp takes two files\n%s", usage);
    return 1;
  }
  DyNpy a, b;
  if (dy_npy_read(paths[0], &a, d))
    return 1;
  if (dy_npy_read(paths[1], &b, d)) {
    dy_npy_free(&a);
    return 1;
  }
  int same_shape = a.rank == b.rank;
  for (int k = 0; same_shape && k < a.rank; k++)
    same_shape = a.dims[k] == b.dims[k];
  if (!same_shape) {
    printf("shape mismatch: ");
    print_shape(&a);
    printf(" (%s) vs ", dy_npy_dtype_name(a.dtype));
    print_shape(&b);
    printf(" (%s)\n", dy_npy_dtype_name(b.dtype));
    dy_npy_free(&a);
    dy_npy_free(&b);
    return 1;
  }
  /* two integer arrays compare as int64, so nothing is lost to doubles */
  int as_int = !is_float(a.dtype) && !is_float(b.dtype);
  size_t n = numel(&a), nbad = 0;
  double max_abs = 0, max_rel = 0;
  for (size_t i = 0; i < n; i++) {
    double x = get_f64(&a, i), y = get_f64(&b, i);
    double abs_err, rel_err;
    int ok;
    if (as_int) {
      int64_t xi = get_i64(&a, i), yi = get_i64(&b, i);
      abs_err = fabs(x - y);
      ok = xi == yi || (!exact && abs_err <= atol + rtol * fabs(y));
    } else if (isnan(x) || isnan(y)) {
      ok = isnan(x) && isnan(y);
      abs_err = ok ? 0 : NAN;
    } else if (x == y) {
      ok = 1;
      abs_err = 0;
    } else {
      abs_err = fabs(x - y);
      ok = !exact && abs_err <= atol + rtol * fabs(y);
    }
    rel_err = abs_err == 0 ? 0 : y != 0 ? abs_err / fabs(y) : INFINITY;
    if (ok) {
      if (abs_err > max_abs)
        max_abs = abs_err;
      if (rel_err > max_rel)
        max_rel = rel_err;
      continue;
    }
    if (nbad < 10) {
      printf("mismatch at ");
      print_index(&a, i);
      printf(": got ");
      print_value(&a, i);
      printf(", expected ");
      print_value(&b, i);
      printf(" (abs err %.3g)\n", abs_err);
    }
    nbad++;
  }
  if (nbad)
    printf("%zu of %zu elements differ\n", nbad, n);
  else
    printf("match: %zu elements, max abs err %.3g, max rel err %.3g\n", n,
           max_abs, max_rel);
  dy_npy_free(&a);
  dy_npy_free(&b);
  return nbad ? 1 : 0;
}

/* Index of the largest of the C values of row r (the first on ties). */
static size_t argmax_row(const DyNpy *a, size_t r, size_t c) {
  size_t best = 0;
  for (size_t j = 1; j < c; j++)
    if (get_f64(a, r * c + j) > get_f64(a, r * c + best))
      best = j;
  return best;
}

static int cmd_agree(int argc, char **argv, DyDiag *d) {
  double min = 0;
  const char *files[2] = {NULL, NULL}, *labels = NULL;
  int nf = 0;
  for (int i = 0; i < argc; i++) {
    if (strcmp(argv[i], "--min") == 0 && i + 1 < argc)
      min = atof(argv[++i]);
    else if (strcmp(argv[i], "--labels") == 0 && i + 1 < argc)
      labels = argv[++i];
    else if (nf < 2 && argv[i][0] != '-')
      files[nf++] = argv[i];
    else {
      fprintf(stderr, "dyad-npy: error: bad argument '%s'\n%s", argv[i], usage);
      return 1;
    }
  }
  if (nf != 2) {
    fprintf(stderr, "dyad-npy: error: agree takes two files\n%s", usage);
    return 1;
  }
  DyNpy a, b, l;
  memset(&l, 0, sizeof l);
  if (dy_npy_read(files[0], &a, d))
    return 1;
  if (dy_npy_read(files[1], &b, d)) {
    dy_npy_free(&a);
    return 1;
  }
  if (labels && dy_npy_read(labels, &l, d)) {
    dy_npy_free(&a);
    dy_npy_free(&b);
    return 1;
  }
  int rc = 1;
  size_t n = a.rank >= 1 ? (size_t)a.dims[0] : 0;
  size_t c = a.rank >= 1 ? numel(&a) / (n ? n : 1) : 0;
  if (a.rank < 2 || b.rank != a.rank || numel(&b) != numel(&a) ||
      (size_t)b.dims[0] != n || c == 0) {
    fprintf(stderr, "dyad-npy: error: agree needs two arrays of the same "
                    "[N, C] shape\n");
    goto done;
  }
  if (labels && (numel(&l) != n || is_float(l.dtype))) {
    fprintf(stderr, "dyad-npy: error: labels must be N integers\n");
    goto done;
  }
  size_t same = 0, ca = 0, cb = 0;
  for (size_t r = 0; r < n; r++) {
    size_t ia = argmax_row(&a, r, c), ib = argmax_row(&b, r, c);
    same += ia == ib;
    if (labels) {
      ca += (int64_t)ia == get_i64(&l, r);
      cb += (int64_t)ib == get_i64(&l, r);
    }
  }
  double pct = n ? 100.0 * (double)same / (double)n : 100.0;
  printf("agreement: %zu/%zu (%.2f%%)\n", same, n, pct);
  if (labels)
    printf("top-1: %s %zu/%zu, %s %zu/%zu\n", files[0], ca, n, files[1], cb, n);
  rc = pct + 1e-9 < min;
  if (rc)
    printf("below the required %.2f%%\n", min);
done:
  dy_npy_free(&a);
  dy_npy_free(&b);
  dy_npy_free(&l);
  return rc;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    fputs(usage, stderr);
    return 1;
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
    fputs(usage, stdout);
    return 0;
  }
  DyDiag d;
  dy_diag_init(&d);
  int rc;
  if (strcmp(argv[1], "print") == 0 && argc == 3) {
    rc = cmd_print(argv[2], &d);
  } else if (strcmp(argv[1], "copy") == 0 && argc == 4) {
    rc = cmd_copy(argv[2], argv[3], &d);
  } else if (strcmp(argv[1], "cmp") == 0) {
    rc = cmd_cmp(argc - 2, argv + 2, &d);
  } else if (strcmp(argv[1], "agree") == 0) {
    rc = cmd_agree(argc - 2, argv + 2, &d);
  } else {
    fprintf(stderr, "dyad-npy: error: bad command line\n%s", usage);
    rc = 1;
  }
  dy_diag_fini(&d);
  return rc;
}
