/* C API tests of the IR: each function prints its name for CHECK-LABEL and
 * then what it built; test/CAPI/ir.test checks the output. */
#include <stdio.h>
#include <string.h>

#include "dyad/ir.h"
#include "dyad/text.h"

/* Builds conv2d -> relu through the builder API, verifies and prints. */
static void test_build_conv(void) {
  puts("test_build_conv");
  DyDiag d;
  dy_diag_init(&d);
  DyGraph *g = dy_graph_create("conv");
  int64_t xd[4] = {1, 4, 4, 2}, wd[4] = {3, 3, 3, 2}, rd[4] = {1, 2, 2, 3};
  DyValue *x = dy_graph_add_input(g, "x", dy_type_make(DY_F32, 4, xd));
  float w[54];
  for (int i = 0; i < 54; i++)
    w[i] = (float)i * 0.5f;
  DyValue *wv =
      dy_build_const(g, NULL, "w", dy_type_make(DY_F32, 4, wd), w, DY_FORM_HEX);
  DyValue *ops[2] = {x, wv};
  DyValue *c = dy_build_op(g, NULL, DY_OP_CONV2D, 2, ops,
                           dy_type_make(DY_F32, 4, rd), "c");
  int64_t strides[2] = {2, 2}, pads[4] = {1, 1, 0, 0};
  dy_op_set_ints(g, c->def, "strides", 2, strides);
  dy_op_set_ints(g, c->def, "pads", 4, pads);
  DyValue *r = dy_build_op(g, NULL, DY_OP_RELU, 1, &c, c->type, "c");
  dy_graph_set_outputs(g, 1, &r);
  printf("errors: %d\n", dy_graph_verify(g, &d));
  printf("uses of c: %d\n", dy_value_num_uses(g, c));
  dy_print_graph(stdout, g, NULL);
  DyGraph *h = dy_graph_clone(g);
  printf("clone equal: %d\n", dy_graph_equal(g, h));
  dy_op_set_int(h, h->first->next->next ? h->first->next : h->first, "groups",
                1);
  printf("changed clone equal: %d\n", dy_graph_equal(g, h));
  dy_graph_destroy(h);
  dy_graph_destroy(g);
  dy_diag_fini(&d);
}

/* Result types are inferred from operands and attributes. */
static void test_infer(void) {
  puts("test_infer");
  DyGraph *g = dy_graph_create("infer");
  int64_t xd[4] = {1, 7, 7, 3};
  DyValue *x = dy_graph_add_input(g, "x", dy_type_make(DY_F32, 4, xd));
  DyValue *p = dy_build_op(g, NULL, DY_OP_MAXPOOL, 1, &x, x->type, "p");
  int64_t k[2] = {2, 2}, s[2] = {2, 2};
  dy_op_set_ints(g, p->def, "kernel", 2, k);
  dy_op_set_ints(g, p->def, "strides", 2, s);
  DyType t;
  for (int ceil_mode = 0; ceil_mode < 2; ceil_mode++) {
    dy_op_set_int(g, p->def, "ceil_mode", ceil_mode);
    if (dy_op_infer_type(p->def, &t, NULL) == 0) {
      printf("ceil_mode=%d: ", ceil_mode);
      dy_print_type(stdout, &t);
      putchar('\n');
    }
  }
  dy_graph_destroy(g);
}

/* Names stay unique: a taken name gets a numeric suffix, a released one is
 * reused. */
static void test_names(void) {
  puts("test_names");
  DyGraph *g = dy_graph_create("names");
  printf("%s\n", dy_graph_unique_name(g, "a"));
  printf("%s\n", dy_graph_unique_name(g, "a"));
  printf("%s\n", dy_graph_unique_name(g, "a"));
  dy_graph_release_name(g, "a_1");
  printf("%s\n", dy_graph_unique_name(g, "a"));
  for (int i = 0; i < 1000; i++)
    dy_graph_unique_name(g, "v");
  printf("%s\n", dy_graph_unique_name(g, "v"));
  dy_graph_destroy(g);
}

int main(void) {
  test_build_conv();
  test_infer();
  test_names();
  return 0;
}
