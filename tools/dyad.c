/* dyad: the user driver. Subcommands: run (more arrive with later stages). */
#include <llvm-c/Core.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dyad/codegen.h"
#include "dyad/fileio.h"
#include "dyad/interp.h"
#include "dyad/load.h"
#include "dyad/npy.h"
#include "dyad/onnx.h"
#include "dyad/pass.h"
#include "dyad/shape.h"
#include "dyad/text.h"
#include "dyad_cmds.h"

#ifndef DYAD_VERSION
#define DYAD_VERSION "0"
#endif

static const DyLoc none = {NULL, 0, 0};

static void usage_run(FILE *out) {
  fputs(
      "  run MODEL [--input NAME=FILE.npy]... [FILE.npy]... --output-dir "
      "DIR\n"
      "      run MODEL (.dy or .onnx) with the reference interpreter; inputs\n"
      "      are given by name or positionally in graph order; writes\n"
      "      DIR/<output name>.npy for every graph output\n"
      "      --print          also print every output's values to stdout\n"
      "      --jit            compile the model for this machine (LLJIT)\n"
      "                       and run the native code instead of the\n"
      "                       interpreter, on the same inputs and outputs\n"
      "      --batch          each input file holds N samples along axis 0\n"
      "                       for a model input of shape [1, ...]; runs\n"
      "                       them one by one and stacks the outputs\n"
      "      --layout=nhwc    ONNX: rank-4 inputs and outputs in NHWC\n",
      out);
}

static void usage_import(FILE *out) {
  fputs("  import MODEL.onnx -o OUT.dy [--layout=nhwc]\n"
        "      import an ONNX model (opsets 7 to 21) into the .dy text form;\n"
        "      rank-4 inputs and outputs keep the model's NCHW layout unless\n"
        "      --layout=nhwc\n",
        out);
}

/* The .npy dtype that stores elements of type t. */
static DyNpyDtype npy_dtype_of(const DyType *t) {
  switch (t->elem) {
  case DY_F32:
    return DY_NPY_F32;
  case DY_I32:
    return DY_NPY_I32;
  case DY_I16:
    return DY_NPY_I16;
  case DY_U8:
  case DY_U4:
  case DY_U2:
    return DY_NPY_U8;
  default:
    return DY_NPY_I8;
  }
}

/* Converts an .npy array into a tensor of the graph input's type: same
 * shape; the dtype must store the type exactly (int64 is accepted for i32
 * when every value fits). */
static int npy_to_tensor(const char *path, const DyNpy *a, const DyValue *in,
                         DyTensor *t, DyDiag *d) {
  const DyType *ty = &in->type;
  DyLoc loc = {path, 0, 0};
  char want[128], got[128];
  dy_format_dims(want, sizeof want, ty->rank, ty->dims);
  dy_format_dims(got, sizeof got, a->rank, a->dims);
  int same = a->rank == ty->rank;
  for (int i = 0; same && i < a->rank; i++)
    same = a->dims[i] == ty->dims[i];
  if (!same) {
    dy_error(d, loc, "input '%s' expects shape %s, the file has %s", in->name,
             want, got);
    return 1;
  }
  DyNpyDtype dt = npy_dtype_of(ty);
  int widen = a->dtype == DY_NPY_I64 && dt == DY_NPY_I32;
  if (a->dtype != dt && !widen) {
    dy_error(d, loc, "input '%s' expects %s data (%s), the file has %s",
             in->name, dy_npy_dtype_name(dt), dy_elem_name(ty->elem),
             dy_npy_dtype_name(a->dtype));
    return 1;
  }
  if (dy_tensor_alloc(t, ty, d))
    return 1;
  size_t n = t->nbytes / dy_elem_size(ty->elem);
  int64_t lo, hi;
  dy_elem_range(ty->elem, &lo, &hi);
  if (ty->quant) {
    lo = ty->quant->qmin;
    hi = ty->quant->qmax;
  }
  for (size_t i = 0; i < n; i++) {
    int64_t v;
    if (ty->elem == DY_F32)
      break;
    if (widen)
      v = ((const int64_t *)a->data)[i];
    else if (dt == DY_NPY_I32)
      v = ((const int32_t *)a->data)[i];
    else if (dt == DY_NPY_I16)
      v = ((const int16_t *)a->data)[i];
    else if (dt == DY_NPY_U8)
      v = ((const uint8_t *)a->data)[i];
    else
      v = ((const int8_t *)a->data)[i];
    if (v < lo || v > hi || (ty->elem == DY_I1 && v == 0)) {
      dy_error(d, loc, "input '%s': element %zu is %lld, outside %s", in->name,
               i, (long long)v, dy_elem_name(ty->elem));
      dy_tensor_free(t);
      return 1;
    }
    if (widen)
      ((int32_t *)t->data)[i] = (int32_t)v;
  }
  if (!widen)
    memcpy(t->data, a->data, t->nbytes);
  return 0;
}

static void print_tensor(const char *name, const DyTensor *t) {
  char shape[128];
  dy_format_dims(shape, sizeof shape, t->type.rank, t->type.dims);
  printf("%s: %s %s\n", name, shape, dy_elem_name(t->type.elem));
  size_t n = t->nbytes / dy_elem_size(t->type.elem);
  for (size_t i = 0; i < n; i++) {
    switch (t->type.elem) {
    case DY_F32:
      printf("%s%.6g", i ? " " : "  ", (double)((const float *)t->data)[i]);
      break;
    case DY_I32:
      printf("%s%d", i ? " " : "  ", (int)((const int32_t *)t->data)[i]);
      break;
    case DY_I16:
      printf("%s%d", i ? " " : "  ", (int)((const int16_t *)t->data)[i]);
      break;
    case DY_U8:
    case DY_U4:
    case DY_U2:
      printf("%s%u", i ? " " : "  ", (unsigned)((const uint8_t *)t->data)[i]);
      break;
    default:
      printf("%s%d", i ? " " : "  ", (int)((const int8_t *)t->data)[i]);
      break;
    }
  }
  printf("\n");
}

/* --jit: g lowered for the host and compiled into this process. Returns
 * the kernel-level graph (which the JIT's code refers to; destroy it after
 * *out), or NULL after an error. */
static DyGraph *jit_compile(const DyGraph *g, DyJit **out, DyDiag *d) {
  DyTarget t;
  DyGraph *k = dy_graph_clone(g);
  if (!k)
    return NULL;
  if (dy_cg_host_target(&t, d) || dy_canonicalize(k, d) ||
      dy_fold_batchnorm(k, d) || dy_canonicalize(k, d) ||
      dy_graph_verify(k, d) ||
      dy_pass_run(dy_pass_lookup("lower-target", 12), k, NULL, &t, d) ||
      dy_graph_verify(k, d) || dy_jit_create(k, &t, 3, out, d)) {
    dy_graph_destroy(k);
    return NULL;
  }
  return k;
}

/* One run of the compiled model on the interpreter's inputs, into fresh
 * outputs of the graph's types. */
static int jit_run(DyJit *j, const DyGraph *g, const DyTensor *ins,
                   DyTensor *outs, DyDiag *d) {
  const void **in = calloc((size_t)g->ninputs + 1, sizeof *in);
  void **out = calloc((size_t)g->noutputs + 1, sizeof *out);
  int rc = !in || !out;
  if (rc)
    dy_error(d, none, "out of memory");
  for (int i = 0; !rc && i < g->ninputs; i++)
    in[i] = ins[i].data;
  for (int i = 0; !rc && i < g->noutputs; i++) {
    rc = dy_tensor_alloc(&outs[i], &g->outputs[i]->type, d);
    if (!rc)
      out[i] = outs[i].data;
  }
  if (!rc && dy_jit_run(j, in, out) != 0) {
    dy_error(d, none, "the compiled model failed");
    rc = 1;
  }
  free(in);
  free(out);
  return rc;
}

static int cmd_run(int argc, char **argv, DyDiag *d) {
  const char *model = NULL, *outdir = NULL;
  const char *named[64], *files[64], *positional[64];
  int nnamed = 0, npos = 0, print = 0, batch = 0, jit = 0;
  DyOnnxOptions oopt;
  memset(&oopt, 0, sizeof oopt);
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0) {
      return DYAD_CMD_HELP;
    } else if (strcmp(a, "--input") == 0 || strcmp(a, "-i") == 0) {
      if (i + 1 >= argc) {
        dy_error(d, none, "option '%s' needs NAME=FILE.npy", a);
        return 1;
      }
      const char *v = argv[++i];
      const char *eq = strchr(v, '=');
      if (!eq || eq == v) {
        dy_error(d, none, "option '--input' needs NAME=FILE.npy, got '%s'", v);
        return 1;
      }
      if (nnamed == 64) {
        dy_error(d, none, "too many inputs");
        return 1;
      }
      named[nnamed] = v;
      files[nnamed++] = eq + 1;
    } else if (strcmp(a, "--output-dir") == 0 || strcmp(a, "-o") == 0) {
      if (i + 1 >= argc) {
        dy_error(d, none, "option '%s' needs a directory", a);
        return 1;
      }
      outdir = argv[++i];
    } else if (strcmp(a, "--print") == 0) {
      print = 1;
    } else if (strcmp(a, "--batch") == 0) {
      batch = 1;
    } else if (strcmp(a, "--jit") == 0) {
      jit = 1;
    } else if (strcmp(a, "--layout=nhwc") == 0) {
      oopt.nhwc_io = 1;
    } else if (strcmp(a, "--layout=nchw") == 0) {
      oopt.nhwc_io = 0;
    } else if (a[0] == '-' && a[1] != 0) {
      dy_error(d, none, "unknown option '%s' for 'run' (see dyad --help)", a);
      return 1;
    } else if (!model) {
      model = a;
    } else if (npos < 64) {
      positional[npos++] = a;
    }
  }
  if (!model) {
    dy_error(d, none, "run: no model given (see dyad --help)");
    return 1;
  }
  if (!outdir && !print) {
    dy_error(d, none, "run: no --output-dir given");
    return 1;
  }
  char *text = NULL;
  DyGraph *g = dy_load_model(model, &oopt, &text, d);
  if (!g) {
    free(text);
    return 1;
  }
  int rc = 1;
  int n = g->ninputs;
  DyJit *jitted = NULL;
  DyGraph *kg = NULL;
  DyTensor *ins = calloc((size_t)n + 1, sizeof *ins);
  DyTensor *outs = calloc((size_t)g->noutputs + 1, sizeof *outs);
  const char **src = calloc((size_t)n + 1, sizeof *src);
  DyNpy *arrays = calloc((size_t)n + 1, sizeof *arrays);
  char **stacked = calloc((size_t)g->noutputs + 1, sizeof *stacked);
  if (!ins || !outs || !src || !arrays || !stacked) {
    dy_error(d, none, "out of memory");
    goto done;
  }
  if (npos && nnamed) {
    dy_error(d, none, "give inputs either by name or by position, not both");
    goto done;
  }
  for (int k = 0; k < nnamed; k++) {
    size_t len = (size_t)(files[k] - 1 - named[k]);
    int found = -1;
    for (int i = 0; i < n; i++)
      if (strlen(g->inputs[i]->name) == len &&
          strncmp(g->inputs[i]->name, named[k], len) == 0)
        found = i;
    if (found < 0) {
      dy_error(d, none, "the model has no input named '%.*s'", (int)len,
               named[k]);
      goto done;
    }
    if (src[found]) {
      dy_error(d, none, "input '%.*s' given twice", (int)len, named[k]);
      goto done;
    }
    src[found] = files[k];
  }
  if (npos) {
    if (npos != n) {
      dy_error(d, none, "the model takes %d input%s, %d given", n,
               n == 1 ? "" : "s", npos);
      goto done;
    }
    for (int i = 0; i < n; i++)
      src[i] = positional[i];
  }
  for (int i = 0; i < n; i++) {
    if (!src[i]) {
      dy_error(d, none, "no data for input '%s' (use --input %s=FILE.npy)",
               g->inputs[i]->name, g->inputs[i]->name);
      goto done;
    }
    if (dy_npy_read(src[i], &arrays[i], d))
      goto done;
  }
  /* --batch: every input file holds N samples along axis 0 of a model
   * input whose first dimension is 1; outputs are stacked the same way */
  int64_t nb = 1;
  for (int i = 0; batch && i < n; i++) {
    const DyType *t = &g->inputs[i]->type;
    DyLoc loc = {src[i], 0, 0};
    if (t->rank < 1 || t->dims[0] != 1 || arrays[i].rank != t->rank) {
      dy_error(d, loc,
               "--batch needs input '%s' of shape [1, ...] and a file "
               "of shape [N, ...] of the same rank",
               g->inputs[i]->name);
      goto done;
    }
    if (i > 0 && arrays[i].dims[0] != nb) {
      dy_error(d, loc, "--batch: inputs differ in the number of samples");
      goto done;
    }
    nb = arrays[i].dims[0];
  }
  for (int i = 0; batch && i < g->noutputs; i++)
    if (g->outputs[i]->type.rank < 1 || g->outputs[i]->type.dims[0] != 1) {
      dy_error(d, none, "--batch needs outputs of shape [1, ...]; '%s' is not",
               g->outputs[i]->name);
      goto done;
    }
  for (int64_t b = 0; b < nb; b++) {
    for (int i = 0; i < n; i++) {
      DyNpy one = arrays[i];
      if (batch) {
        size_t per = one.nbytes / (size_t)(one.dims[0] ? one.dims[0] : 1);
        one.dims[0] = 1;
        one.data = (char *)arrays[i].data + (size_t)b * per;
        one.nbytes = per;
      }
      dy_tensor_free(&ins[i]);
      if (npy_to_tensor(src[i], &one, g->inputs[i], &ins[i], d))
        goto done;
    }
    for (int i = 0; i < g->noutputs; i++)
      dy_tensor_free(&outs[i]);
    if (jit) {
      if (!jitted && !(kg = jit_compile(g, &jitted, d)))
        goto done;
      if (jit_run(jitted, g, ins, outs, d))
        goto done;
    } else if (dy_interp_run(g, ins, outs, d))
      goto done;
    for (int i = 0; i < g->noutputs; i++) {
      if (!stacked[i]) {
        stacked[i] = calloc((size_t)nb, outs[i].nbytes ? outs[i].nbytes : 1);
        if (!stacked[i]) {
          dy_error(d, none, "out of memory");
          goto done;
        }
      }
      memcpy(stacked[i] + (size_t)b * outs[i].nbytes, outs[i].data,
             outs[i].nbytes);
    }
  }
  if (outdir && dy_mkdir_p(outdir, d))
    goto done;
  rc = 0;
  for (int i = 0; i < g->noutputs && !rc; i++) {
    const DyValue *v = g->outputs[i];
    DyTensor all = outs[i];
    all.type.dims[0] = batch ? nb : all.type.dims[0];
    all.nbytes = outs[i].nbytes * (size_t)nb;
    all.data = stacked[i];
    if (print)
      print_tensor(v->name, &all);
    if (!outdir)
      continue;
    DyNpy a;
    memset(&a, 0, sizeof a);
    a.dtype = npy_dtype_of(&v->type);
    a.rank = all.type.rank;
    for (int k = 0; k < a.rank; k++)
      a.dims[k] = all.type.dims[k];
    a.data = all.data;
    a.nbytes = all.nbytes;
    size_t plen = strlen(outdir) + strlen(v->name) + 8;
    char *path = malloc(plen);
    if (!path) {
      dy_error(d, none, "out of memory");
      rc = 1;
      break;
    }
    snprintf(path, plen, "%s/%s.npy", outdir, v->name);
    rc = dy_npy_write(path, &a, d);
    free(path);
  }
done:
  for (int i = 0; ins && arrays && i < n; i++) {
    dy_tensor_free(&ins[i]);
    dy_npy_free(&arrays[i]);
  }
  for (int i = 0; outs && stacked && i < g->noutputs; i++) {
    dy_tensor_free(&outs[i]);
    free(stacked[i]);
  }
  free(arrays);
  free(stacked);
  free(ins);
  free(outs);
  free(src);
  dy_jit_destroy(jitted);
  if (kg)
    dy_graph_destroy(kg);
  dy_graph_destroy(g);
  free(text);
  return rc;
}

static int cmd_import(int argc, char **argv, DyDiag *d) {
  const char *model = NULL, *out = NULL;
  DyOnnxOptions oopt;
  memset(&oopt, 0, sizeof oopt);
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    if (strcmp(a, "--help") == 0) {
      return DYAD_CMD_HELP;
    } else if (strcmp(a, "-o") == 0) {
      if (i + 1 >= argc) {
        dy_error(d, none, "option '-o' needs a file");
        return 1;
      }
      out = argv[++i];
    } else if (strcmp(a, "--layout=nhwc") == 0) {
      oopt.nhwc_io = 1;
    } else if (strcmp(a, "--layout=nchw") == 0) {
      oopt.nhwc_io = 0;
    } else if (a[0] == '-' && a[1] != 0) {
      dy_error(d, none, "unknown option '%s' for 'import' (see dyad --help)",
               a);
      return 1;
    } else if (!model) {
      model = a;
    } else {
      dy_error(d, none, "import: more than one model given");
      return 1;
    }
  }
  if (!model || !out) {
    dy_error(d, none, "import: usage: dyad import MODEL.onnx -o OUT.dy");
    return 1;
  }
  DyGraph *g = dy_onnx_import(model, &oopt, NULL, d);
  if (!g)
    return 1;
  size_t len;
  char *buf = dy_print_graph_to_string(g, NULL, &len);
  int rc = !buf;
  if (rc)
    dy_error(d, none, "cannot print the imported graph");
  else
    rc = dy_write_file(out, buf, len, d);
  free(buf);
  dy_graph_destroy(g);
  return rc;
}

const DyadCommand dyad_cmd_run = {"run", cmd_run, usage_run};
const DyadCommand dyad_cmd_import = {"import", cmd_import, usage_import};

/* The commands, in --help order. */
static const DyadCommand *const commands[] = {
    &dyad_cmd_compile, &dyad_cmd_run, &dyad_cmd_import, &dyad_cmd_quantize,
    &dyad_cmd_report};
#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *out) {
  fputs("usage: dyad COMMAND [options]\n\ncommands:\n", out);
  for (size_t i = 0; i < NCOMMANDS; i++)
    commands[i]->usage(out);
  fputs("\n"
        "options:\n"
        "  --help, --version\n"
        "\n"
        "Exit status: 0 on success, 1 on an error in the input or options.\n",
        out);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    usage(stderr);
    return 1;
  }
  if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
      strcmp(argv[1], "help") == 0) {
    usage(stdout);
    return 0;
  }
  if (strcmp(argv[1], "--version") == 0) {
    unsigned maj, min, pat;
    LLVMGetVersion(&maj, &min, &pat);
    printf("dyad %s (LLVM %u.%u.%u)\n", DYAD_VERSION, maj, min, pat);
    return 0;
  }
  DyDiag d;
  dy_diag_init(&d);
  int rc = -1;
  for (size_t i = 0; i < NCOMMANDS && rc < 0; i++)
    if (strcmp(argv[1], commands[i]->name) == 0)
      rc = commands[i]->run(argc - 2, argv + 2, &d);
  if (rc < 0) {
    dy_error(&d, none, "unknown command '%s' (see dyad --help)", argv[1]);
    rc = 1;
  } else if (rc == DYAD_CMD_HELP) {
    usage(stdout);
    rc = 0;
  }
  dy_diag_fini(&d);
  return rc;
}
