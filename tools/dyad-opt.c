/* dyad-opt: runs passes over a .dy graph and prints the result, for lit. */
#include <llvm-c/Core.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dyad/codegen.h"
#include "dyad/diag_verify.h"
#include "dyad/fileio.h"
#include "dyad/onnx.h"
#include "dyad/pass.h"
#include "dyad/text.h"

#ifndef DYAD_VERSION
#define DYAD_VERSION "0"
#endif

static void usage(FILE *out) {
  fputs(
      "usage: dyad-opt FILE [-p PASS[,PASS...]] [-o OUT] [options]\n"
      "\n"
      "Reads a .dy graph (FILE '-' reads stdin) or an .onnx model, verifies\n"
      "it, runs the passes in order and prints the resulting graph.\n"
      "\n"
      "options:\n"
      "  -p, --passes LIST      comma-separated passes (may repeat); a pass\n"
      "                         takes options in braces, name{key=value ...}\n"
      "                         (docs/quantization.md lists them)\n"
      "  -o FILE                write the result to FILE (default: stdout);\n"
      "                         nothing is written if any step fails\n"
      "  --print-after-all      print the graph to stderr after every pass\n"
      "  --verify-each          verify the graph after every pass\n"
      "  --verify-roundtrip     check that the printed graph parses back to\n"
      "                         an equal graph\n"
      "  --split-input-file     treat '// -----' lines as separators between\n"
      "                         independent graphs\n"
      "  --verify-diagnostics   check diagnostics against '// expected-error\n"
      "                         {{message}}' comments in FILE (also\n"
      "                         expected-warning, expected-note, @+N, @-N,\n"
      "                         @above, @below, -re; docs/ir.md) instead of\n"
      "                         printing them; exit 0 when all match\n"
      "  --external-weights F   write constants larger than the threshold to\n"
      "                         the side file F (referenced by its name)\n"
      "  --external-threshold N bytes above which constants go to the side\n"
      "                         file (default 1024)\n"
      "  --target=TRIPLE        the target lower-target lowers for, as llc's\n"
      "                         -mtriple (default: the host)\n"
      "  --mcpu=CPU             its CPU (default: the triple's baseline, or\n"
      "                         the host's CPU for the host)\n"
      "  --mattr=+F1,-F2        features added to or removed from the CPU's\n"
      "  --layout=nhwc          ONNX: rank-4 inputs and outputs in NHWC\n"
      "  --inline-weights       print constants read from side files inline\n"
      "  --hex-threshold N      print constants of more than N elements as\n"
      "                         hex blobs\n"
      "  --help, --version\n"
      "\n"
      "passes:\n",
      out);
  int n;
  const DyPassInfo *p = dy_pass_list(&n);
  for (int i = 0; i < n; i++) {
    fprintf(out, "  %-22s %s\n", p[i].name, p[i].def->summary);
    dy_pass_print_options(out, &p[i], "", NULL);
  }
}

typedef struct Options {
  const char *input, *output;
  const char *passes[64];
  int npasses;
  int print_after_all, verify_each, split, verify_roundtrip, inline_weights;
  int verify_diags;
  int nhwc_io;
  const char *ext_path;
  size_t ext_threshold, hex_threshold;
  const char *triple, *cpu, *mattr; /* --target, --mcpu, --mattr */
  const DyTarget *target;           /* what they name, or the host */
} Options;

static int parse_size(const char *s, size_t *out) {
  char *end;
  unsigned long long v = strtoull(s, &end, 10);
  if (!*s || *end || s[0] == '-')
    return 1;
  *out = (size_t)v;
  return 0;
}

/* Prints g, parses the text back and checks that the graphs are equal. */
static int check_roundtrip(const DyGraph *g, const char *file, DyDiag *d) {
  size_t len;
  char *buf = dy_print_graph_to_string(g, NULL, &len);
  DyLoc loc = {file, 0, 0};
  if (!buf) {
    dy_error(d, loc, "cannot print the graph for the round-trip check");
    return 1;
  }
  DyParseOptions popt = {0};
  popt.line_offset = -1000000; /* the text is not the file: no carets */
  DyGraph *h = dy_parse_graph(file, buf, len, &popt, d);
  int rc = 0;
  if (!h) {
    dy_error(d, loc, "round trip: the printed graph does not parse");
    rc = 1;
  } else if (!dy_graph_equal(g, h)) {
    dy_error(d, loc, "round trip: the printed graph reads back different");
    rc = 1;
  }
  dy_graph_destroy(h);
  free(buf);
  return rc;
}

/* Runs the pipeline on one graph, printing into out (a memory stream).
 * Returns 0 or 1. */
/* Splits the next pass off a comma-separated list: `name` or
 * `name{options}` (commas inside braces belong to the options). Returns 0
 * at the end of the list, -1 on unbalanced braces. */
static int next_pass(const char **list, const char **name, size_t *nlen,
                     char *opts, size_t optn) {
  const char *p = *list;
  if (!*p)
    return 0;
  const char *b = p;
  while (*b && *b != ',' && *b != '{')
    b++;
  *name = p;
  *nlen = (size_t)(b - p);
  opts[0] = 0;
  if (*b == '{') {
    const char *e = strchr(b, '}');
    if (!e || (size_t)(e - b - 1) >= optn)
      return -1;
    memcpy(opts, b + 1, (size_t)(e - b - 1));
    opts[e - b - 1] = 0;
    b = e + 1;
    if (*b && *b != ',')
      return -1;
  }
  *list = *b ? b + 1 : b;
  return 1;
}

static int process(const Options *o, const char *file, const char *text,
                   size_t len, int line_offset, FILE *out, FILE *ext,
                   uint64_t *ext_off, DyDiag *d) {
  DyParseOptions popt = {0};
  popt.line_offset = line_offset;
  DyGraph *g;
  if (dy_is_onnx_path(file)) {
    char dir[4096];
    const char *slash = strrchr(file, '/');
    snprintf(dir, sizeof dir, "%.*s", slash ? (int)(slash - file) : 1,
             slash ? file : ".");
    DyOnnxOptions oopt = {0};
    oopt.nhwc_io = o->nhwc_io;
    g = dy_onnx_import_buffer(file, text, len, dir, &oopt, NULL, d);
  } else {
    g = dy_parse_graph(file, text, len, &popt, d);
  }
  if (!g)
    return 1;
  int rc = 0;
  if (dy_graph_verify(g, d)) {
    rc = 1;
    goto done;
  }
  for (int i = 0; i < o->npasses && !rc; i++) {
    const char *list = o->passes[i], *pname;
    size_t n;
    char opts[4096];
    while (!rc && next_pass(&list, &pname, &n, opts, sizeof opts) > 0) {
      const DyPassInfo *pass = dy_pass_lookup(pname, n);
      DY_ASSERT(pass); /* checked in main */
      if (dy_pass_run(pass, g, opts[0] ? opts : NULL, o->target, d)) {
        rc = 1;
        break;
      }
      if (o->print_after_all) {
        fprintf(stderr, "// -----// IR Dump After %s //----- //\n", pass->name);
        dy_print_graph(stderr, g, NULL);
      }
      if (o->verify_each && dy_graph_verify(g, d)) {
        DyLoc loc = {file, 0, 0};
        dy_error(d, loc, "the graph is invalid after pass '%s'", pass->name);
        rc = 1;
      }
    }
  }
  if (!rc && !o->verify_each && dy_graph_verify(g, d)) {
    DyLoc loc = {file, 0, 0};
    dy_error(d, loc, "the graph is invalid after the passes");
    rc = 1;
  }
  if (!rc && o->verify_roundtrip && check_roundtrip(g, file, d))
    rc = 1;
  if (!rc) {
    DyPrintOptions popts = {0};
    popts.hex_threshold = o->hex_threshold;
    popts.inline_external = o->inline_weights;
    if (ext) {
      popts.external_file = ext;
      popts.external_path = o->ext_path;
      popts.external_threshold = o->ext_threshold;
      popts.external_offset = *ext_off;
    }
    /* Keep the side file's name as given: it is written next to OUT. */
    const char *slash = o->ext_path ? strrchr(o->ext_path, '/') : NULL;
    if (slash)
      popts.external_path = slash + 1;
    if (dy_print_graph(out, g, &popts))
      rc = 1;
    *ext_off = popts.external_offset;
  }
done:
  dy_graph_destroy(g);
  return rc;
}

/* Runs process() on one graph. With a verifier (--verify-diagnostics) its
 * diagnostics are checked against the expectations in its text instead of
 * printed, and the result says whether they all matched. */
static int run(const Options *o, DyDiagVerifier *v, const char *file,
               const char *text, size_t len, int line_offset, FILE *out,
               FILE *ext, uint64_t *ext_off, DyDiag *d) {
  if (!v)
    return process(o, file, text, len, line_offset, out, ext, ext_off, d);
  int bad = dy_is_onnx_path(file)
                ? 0
                : dy_diag_verifier_scan(v, text, len, line_offset, d);
  dy_diag_verifier_attach(v, d);
  process(o, file, text, len, line_offset, out, ext, ext_off, d);
  dy_diag_verifier_detach(v, d);
  return dy_diag_verifier_check(v, d) + bad != 0;
}

/* Reads a whole stream written to a memory buffer back. */
static int read_mem(FILE *f, char **buf, size_t *len) {
  long n = ftell(f);
  if (n < 0)
    return 1;
  *len = (size_t)n;
  *buf = malloc(*len + 1);
  if (!*buf)
    return 1;
  rewind(f);
  size_t got = fread(*buf, 1, *len, f);
  return got != *len;
}

int main(int argc, char **argv) {
  Options o;
  memset(&o, 0, sizeof o);
  o.ext_threshold = 1024;
  DyDiag d;
  dy_diag_init(&d);
  d.prog = "dyad-opt";
  DyLoc none = {NULL, 0, 0};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *val = NULL;
#define ARG_VALUE()                                                            \
  do {                                                                         \
    if (i + 1 >= argc) {                                                       \
      dy_error(&d, none, "option '%s' needs a value", a);                      \
      return 1;                                                                \
    }                                                                          \
    val = argv[++i];                                                           \
  } while (0)
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      usage(stdout);
      return 0;
    } else if (strcmp(a, "--version") == 0) {
      unsigned maj, min, pat;
      LLVMGetVersion(&maj, &min, &pat);
      printf("dyad-opt %s (LLVM %u.%u.%u)\n", DYAD_VERSION, maj, min, pat);
      return 0;
    } else if (strcmp(a, "-p") == 0 || strcmp(a, "--passes") == 0) {
      ARG_VALUE();
      if (o.npasses == 64) {
        dy_error(&d, none, "too many -p options");
        return 1;
      }
      o.passes[o.npasses++] = val;
    } else if (strncmp(a, "--passes=", 9) == 0) {
      if (o.npasses == 64) {
        dy_error(&d, none, "too many -p options");
        return 1;
      }
      o.passes[o.npasses++] = a + 9;
    } else if (strcmp(a, "-o") == 0) {
      ARG_VALUE();
      o.output = val;
    } else if (strcmp(a, "--print-after-all") == 0) {
      o.print_after_all = 1;
    } else if (strcmp(a, "--verify-each") == 0) {
      o.verify_each = 1;
    } else if (strcmp(a, "--layout=nhwc") == 0) {
      o.nhwc_io = 1;
    } else if (strcmp(a, "--inline-weights") == 0) {
      o.inline_weights = 1;
    } else if (strcmp(a, "--verify-roundtrip") == 0) {
      o.verify_roundtrip = 1;
    } else if (strcmp(a, "--split-input-file") == 0) {
      o.split = 1;
    } else if (strcmp(a, "--verify-diagnostics") == 0) {
      o.verify_diags = 1;
    } else if (strcmp(a, "--external-weights") == 0) {
      ARG_VALUE();
      o.ext_path = val;
    } else if (strcmp(a, "--external-threshold") == 0 ||
               strcmp(a, "--hex-threshold") == 0) {
      ARG_VALUE();
      size_t *dst = a[2] == 'e' ? &o.ext_threshold : &o.hex_threshold;
      if (parse_size(val, dst)) {
        dy_error(&d, none, "option '%s' needs a non-negative integer", a);
        return 1;
      }
    } else if (strncmp(a, "--target=", 9) == 0) {
      o.triple = a + 9;
    } else if (strncmp(a, "--mcpu=", 7) == 0) {
      o.cpu = a + 7;
    } else if (strncmp(a, "--mattr=", 8) == 0) {
      o.mattr = a + 8;
    } else if (a[0] == '-' && a[1] != 0) {
      dy_error(&d, none, "unknown option '%s' (see --help)", a);
      return 1;
    } else if (!o.input) {
      o.input = a;
    } else {
      dy_error(&d, none, "more than one input file: '%s' and '%s'", o.input, a);
      return 1;
    }
  }
  if (!o.input) {
    dy_error(&d, none, "no input file (see --help)");
    return 1;
  }
  for (int i = 0; i < o.npasses; i++) {
    const char *list = o.passes[i], *pname;
    size_t n;
    char opts[4096];
    int r;
    while ((r = next_pass(&list, &pname, &n, opts, sizeof opts)) > 0) {
      if (!dy_pass_lookup(pname, n)) {
        dy_error(&d, none, "unknown pass '%.*s' (see --help)", (int)n, pname);
        return 1;
      }
    }
    if (r < 0) {
      dy_error(&d, none,
               "malformed pass list '%s': options go in braces, "
               "name{key=value ...}",
               o.passes[i]);
      return 1;
    }
  }

  DyTarget target;
  if (dy_cg_target_from_flags(&target, o.triple, o.cpu, o.mattr, &d))
    return 1;
  o.target = &target;

  size_t len;
  char *text = dy_read_file(o.input, &len, &d);
  if (!text)
    return 1;
  const char *file = strcmp(o.input, "-") == 0 ? "<stdin>" : o.input;
  char *outbuf = NULL, *extbuf = NULL;
  size_t outlen = 0, extlen = 0;
  FILE *out = tmpfile();
  FILE *ext = o.ext_path ? tmpfile() : NULL;
  uint64_t ext_off = 0;
  int rc = 0;
  DyDiagVerifier *v = o.verify_diags ? dy_diag_verifier_create(file) : NULL;
  if (v && !o.split && !dy_is_onnx_path(file))
    dy_diag_add_source(&d, file, text, len); /* carets in the reports */
  if (o.verify_diags && !v) {
    dy_error(&d, none, "out of memory");
    rc = 1;
  } else if (!out || (o.ext_path && !ext)) {
    dy_error(&d, none, "cannot create a temporary file");
    rc = 1;
  } else if (!o.split) {
    rc = run(&o, v, file, text, len, 0, out, ext, &ext_off, &d);
  } else {
    /* Chunks keep their line numbers in the whole file. */
    dy_diag_add_source(&d, file, text, len);
    size_t start = 0;
    int line = 0, chunk_line = 0, first = 1;
    for (size_t i = 0; i <= len; i++) {
      int at_sep = 0;
      if (i == len) {
        at_sep = 1;
      } else if ((i == 0 || text[i - 1] == '\n') &&
                 strncmp(text + i, "// -----", 8) == 0) {
        at_sep = 1;
      }
      if (at_sep) {
        if (!first)
          fputs("// -----\n", out);
        first = 0;
        rc |= run(&o, v, file, text + start, i - start, chunk_line, out, ext,
                  &ext_off, &d);
        while (i < len && text[i] != '\n')
          i++;
        start = i + 1;
        chunk_line = line + 1;
      }
      if (i < len && text[i] == '\n')
        line++;
    }
  }
  if (!rc && (read_mem(out, &outbuf, &outlen) ||
              (ext && read_mem(ext, &extbuf, &extlen)))) {
    dy_error(&d, none, "cannot read back the output");
    rc = 1;
  }
  if (!rc && ext && dy_write_file(o.ext_path, extbuf, extlen, &d))
    rc = 1;
  if (!rc && dy_write_file(o.output ? o.output : "-", outbuf, outlen, &d))
    rc = 1;
  if (out)
    fclose(out);
  if (ext)
    fclose(ext);
  free(outbuf);
  free(extbuf);
  dy_diag_verifier_destroy(v);
  dy_diag_fini(&d);
  free(text);
  return rc;
}
