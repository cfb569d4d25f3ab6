/* dyad compile: a model to a native object file and its C header. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dyad/codegen.h"
#include "dyad/fileio.h"
#include "dyad/load.h"
#include "dyad/pass.h"
#include "dyad/text.h"
#include "dyad_cmds.h"

static const DyLoc none = {0};

static void usage_compile(FILE *out) {
  fputs("  compile MODEL -o OUT.o [--target=TRIPLE] [--mcpu=CPU]\n"
        "          [--mattr=+f1,-f2] [--emit=obj|asm|llvm] [--name=NAME]\n"
        "          [-O0|-O1|-O2|-O3] [--emit-kernel-ir=FILE.dy]\n"
        "          [--calib DATA] [scheme options]\n"
        "                             compile a float or quantized model "
        "(.dy, .onnx)\n"
        "                             to OUT.o and OUT.h (the default "
        "target is the host);\n"
        "                             with --calib or a scheme option of "
        "'quantize',\n"
        "                             it quantizes the model first\n",
        out);
}

/* OUT with its extension replaced by .h (or .h appended) */
static char *header_path(const char *out) {
  size_t n = strlen(out);
  const char *slash = strrchr(out, '/');
  const char *dot = strrchr(out, '.');
  if (dot && (!slash || dot > slash) && dot != out && dot[-1] != '/')
    n = (size_t)(dot - out);
  char *h = malloc(n + 3);
  if (!h)
    return NULL;
  memcpy(h, out, n);
  memcpy(h + n, ".h", 3);
  return h;
}

static const char *opt_value(const char *arg, const char *name) {
  size_t n = strlen(name);
  if (strncmp(arg, name, n) == 0 && arg[n] == '=')
    return arg + n + 1;
  return NULL;
}

static int cmd_compile(int argc, char **argv, DyDiag *d) {
  const char *model = NULL, *out = NULL, *triple = NULL, *cpu = NULL;
  const char *mattr = NULL, *kernel_ir = NULL, *calib = NULL, *v;
  char **scheme = calloc((size_t)argc + 1, sizeof *scheme);
  int nscheme = 0;
  if (!scheme) {
    dy_error(d, none, "compile: out of memory");
    return 1;
  }
  DyCodegenOptions o = {NULL, DY_EMIT_OBJ, 3};
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
      free(scheme);
      return DYAD_CMD_HELP;
    }
    if (strcmp(a, "-o") == 0 && i + 1 < argc)
      out = argv[++i];
    else if (strcmp(a, "--calib") == 0 && i + 1 < argc)
      calib = argv[++i];
    else if ((v = opt_value(a, "--target")))
      triple = v;
    else if ((v = opt_value(a, "--mcpu")))
      cpu = v;
    else if ((v = opt_value(a, "--mattr")))
      mattr = v;
    else if ((v = opt_value(a, "--name")))
      o.name = v;
    else if ((v = opt_value(a, "--emit-kernel-ir")))
      kernel_ir = v;
    else if ((v = opt_value(a, "--emit"))) {
      if (strcmp(v, "obj") == 0)
        o.emit = DY_EMIT_OBJ;
      else if (strcmp(v, "asm") == 0)
        o.emit = DY_EMIT_ASM;
      else if (strcmp(v, "llvm") == 0)
        o.emit = DY_EMIT_LLVM;
      else {
        dy_error(d, none, "compile: --emit must be obj, asm or llvm, not '%s'",
                 v);
        return 1;
      }
    } else if (a[0] == '-' && a[1] == 'O' && a[2] >= '0' && a[2] <= '3' &&
               !a[3])
      o.opt_level = a[2] - '0';
    else if (a[0] == '-' && a[1] == '-' && strchr(a, '='))
      scheme[nscheme++] = argv[i]; /* a scheme option of quantize */
    else if (a[0] == '-' && a[1]) {
      dy_error(d, none, "compile: unknown option '%s'", a);
      free(scheme);
      return 1;
    } else if (!model)
      model = a;
    else {
      dy_error(d, none, "compile: more than one model ('%s', '%s')", model, a);
      free(scheme);
      return 1;
    }
  }
  char *text = NULL, *hdr = NULL;
  DyGraph *g = NULL;
  int rc = 1;
  DyTarget t;
  if (!model || !out) {
    dy_error(d, none, "compile: usage: dyad compile MODEL -o OUT.o");
    goto done;
  }
  if (o.name && !*o.name) {
    dy_error(d, none, "compile: --name must not be empty");
    goto done;
  }
  if (dy_cg_target_from_flags(&t, triple, cpu, mattr, d))
    goto done;
  g = dy_load_model(model, NULL, &text, d);
  if (!g)
    goto done;
  if (dy_canonicalize(g, d) || dy_fold_batchnorm(g, d) ||
      dy_canonicalize(g, d) || dy_graph_verify(g, d))
    goto done;
  if (calib || nscheme) { /* quantize first, as `dyad quantize` does */
    DyGraph *q = dyad_quantize_graph(g, calib, nscheme, scheme, d);
    if (!q)
      goto done;
    dy_graph_destroy(g);
    g = q;
  }
  if (dy_pass_run(dy_pass_lookup("lower-target", 12), g, NULL, &t, d) ||
      dy_graph_verify(g, d))
    goto done;
  if (kernel_ir) {
    DyPrintOptions po;
    memset(&po, 0, sizeof po);
    po.hex_threshold = 64;
    size_t len;
    char *buf = dy_print_graph_to_string(g, &po, &len);
    int bad = !buf || dy_write_file(kernel_ir, buf, len, d);
    free(buf);
    if (bad)
      goto done;
  }
  /* the header goes beside the object; an object on stdout has none */
  hdr =
      o.emit == DY_EMIT_OBJ && strcmp(out, "-") != 0 ? header_path(out) : NULL;
  if (hdr && strcmp(hdr, out) == 0) {
    dy_error(d, none, "compile: the output '%s' would be its own header", out);
    goto done;
  }
  rc = dy_codegen(g, &t, &o, out, hdr, d);
done:
  free(scheme);
  free(hdr);
  if (g)
    dy_graph_destroy(g);
  free(text);
  return rc;
}

const DyadCommand dyad_cmd_compile = {"compile", cmd_compile, usage_compile};
