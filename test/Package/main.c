/* A program outside dyad's tree that uses the installed package (public
 * headers, libdyad.a): parses a graph from a string, verifies it, runs it
 * with the reference interpreter and prints its outputs. Built and run by
 * test/Package/run.cmake, which checks the output with FileCheck against the
 * CHECK lines below (the values are worked out by hand in the comments). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dyad/codegen.h"
#include "dyad/interp.h"
#include "dyad/pass.h"
#include "dyad/text.h"

/* A float layer: x = [2, 4], x·w = [2·1 + 4·0.5, 2·-2 + 4·3] = [4, 8],
 * + b = [4.25, -1], relu: [4.25, 0].
 * An integer layer (test/Interp/integer_layers.dy): xi - 128 = [2, -2],
 * wi - [1, 0] = [[2, 1], [0, 5]], acc = [4, -8] + [10, 0] = [14, -8];
 * requant by [0.25, 0.5] to round(3.5) + 3 = 7 and round(-4) + 3 = -1. */
static const char demo_dy[] =
    "graph @demo(%x: tensor<1x2xf32>) -> (tensor<1x2xf32>, tensor<1x2xi8>) "
    "{\n"
    "  %w = const dense<[[1.0, -2.0], [0.5, 3.0]]> : tensor<2x2xf32>\n"
    "  %b = const dense<[0.25, -9.0]> : tensor<2xf32>\n"
    "  %m = matmul %x, %w, %b : tensor<1x2xf32>\n"
    "  %y = relu %m : tensor<1x2xf32>\n"
    "  %xi = const dense<[[130, 126]]> : "
    "tensor<1x2x!quant.uniform<u8:f32, 0.5:128>>\n"
    "  %wi = const dense<[[3, 1], [1, 5]]> : "
    "tensor<2x2x!quant.uniform<i8:f32:1, {0.25:1, 0.5}>>\n"
    "  %bi = const dense<[10, 0]> : tensor<2xi32>\n"
    "  %acc = matmul %xi, %wi, %bi : tensor<1x2xi32>\n"
    "  %q = requant %acc {output_zp = 3, rounding = \"float\", "
    "scale = [0.25, 0.5]} : tensor<1x2xi8>\n"
    "  return %y, %q\n"
    "}\n";

// CHECK: parsed @demo: 1 input, 2 outputs, 9 ops
// CHECK-NEXT: verify: 0 errors
// CHECK-NEXT: y: tensor<1x2xf32> = 4.25 0
// CHECK-NEXT: q: tensor<1x2xi8> = 7 -1
//
// Then fold-scales through the pass registry, with an option: the float
// requant's scales 0.25 = 2^30 * 2^(-1 - 31) and 0.5 = 2^30 * 2^(0 - 31)
// become dyadic; TOSA's single round takes 14 * 0.25 = 3.5 up to 4 as
// round-half-even did, so the outputs stay. The float matmul keeps the
// graph at the qdq level.
// CHECK-NEXT: fold-scales: 0, level qdq
// CHECK-NEXT: %q = requant %acc {axis = 1,
// CHECK-SAME: multiplier = [1073741824, 1073741824], output_zp = 3,
// CHECK-SAME: rounding = "tosa-single", shift = [-1, 0]}
// CHECK-NEXT: verify: 0 errors
// CHECK-NEXT: y: tensor<1x2xf32> = 4.25 0
// CHECK-NEXT: q: tensor<1x2xi8> = 7 -1
//
// Then the backend (dyad::dyad-codegen): lowered for AArch64 (a Cortex-A53)
// and compiled to demo.o and demo.h in the working directory; the header
// declares the entry points.
// CHECK-NEXT: lower-target: 0, level kernel
// CHECK-NEXT: codegen: 0
// CHECK-NEXT: header: int demo_run(const void *const *inputs
static void print_tensor(const DyValue *v, const DyTensor *t) {
  printf("%s: ", v->name);
  dy_print_type(stdout, &t->type);
  printf(" =");
  int64_t n = dy_type_numel(&t->type);
  for (int64_t i = 0; i < n; i++) {
    if (t->type.elem == DY_F32)
      printf(" %g", (double)((const float *)t->data)[i]);
    else
      printf(" %lld", (long long)dy_load_int(t->data, t->type.elem, i));
  }
  printf("\n");
}

/* Verifies g and runs it on x = [2, 4]. Returns 0, or 1 after reporting. */
static int verify_and_run(const DyGraph *g, DyDiag *d) {
  int errors = dy_graph_verify(g, d);
  printf("verify: %d errors\n", errors);
  if (errors)
    return 1;
  DyTensor in, outs[2];
  if (dy_tensor_alloc(&in, &g->inputs[0]->type, d))
    return 1;
  ((float *)in.data)[0] = 2.0f;
  ((float *)in.data)[1] = 4.0f;
  int status = dy_interp_run(g, &in, outs, d);
  dy_tensor_free(&in);
  if (status)
    return 1;
  for (int i = 0; i < g->noutputs; i++) {
    print_tensor(g->outputs[i], &outs[i]);
    dy_tensor_free(&outs[i]);
  }
  return 0;
}

/* lower-target for a Cortex-A53, then the object and its header. */
static int compile(DyGraph *g, DyDiag *d) {
  DyTarget t;
  DyCodegenOptions o = {"demo", DY_EMIT_OBJ, 2};
  int status = dy_target_init(&t, "aarch64-linux-gnu", "cortex-a53", NULL, d,
                              (DyLoc){0});
  if (!status)
    status = dy_pass_run(dy_pass_lookup("lower-target", 12), g, NULL, &t, d);
  printf("lower-target: %d, level %s\n", status,
         dy_level_name(dy_graph_level(g)));
  if (status)
    return 1;
  status = dy_codegen(g, &t, &o, "demo.o", "demo.h", d);
  printf("codegen: %d\n", status);
  size_t len;
  char *h = status ? NULL : dy_read_file("demo.h", &len, d);
  const char *decl = h ? strstr(h, "int demo_run(") : NULL;
  if (decl)
    printf("header: %.*s\n", (int)(strchr(decl, ',') - decl), decl);
  free(h);
  return status || !decl;
}

int main(void) {
  DyDiag d;
  dy_diag_init(&d);
  int status = 1;
  DyGraph *g = dy_parse_graph("demo.dy", demo_dy, sizeof demo_dy - 1, NULL, &d);
  if (g) {
    printf("parsed @%s: %d input, %d outputs, %d ops\n", g->name, g->ninputs,
           g->noutputs, g->nops);
    status = verify_and_run(g, &d);
    if (!status) {
      const DyPassInfo *p = dy_pass_lookup("fold-scales", 11);
      status = dy_pass_run(p, g, "rounding=tosa-single", NULL, &d);
      printf("fold-scales: %d, level %s\n", status,
             dy_level_name(dy_graph_level(g)));
      for (const DyOp *op = g->first; op; op = op->next)
        if (op->kind == DY_OP_REQUANT) {
          size_t len;
          char *text = dy_print_graph_to_string(g, NULL, &len);
          const char *line = text ? strstr(text, "%q = requant") : NULL;
          const char *end = line ? strchr(line, ':') : NULL;
          if (end)
            printf("%.*s\n", (int)(end - line - 1), line);
          free(text);
        }
    }
    if (!status)
      status = verify_and_run(g, &d);
    if (!status)
      status = compile(g, &d);
    dy_graph_destroy(g);
  }
  dy_diag_fini(&d);
  return status;
}
