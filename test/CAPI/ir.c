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

/* A clone shares constant data (it is immutable) and outlives the graph it
 * was cloned from; graph and result attributes are cloned too. */
static void test_clone_shares_data(void) {
  puts("test_clone_shares_data");
  DyGraph *g = dy_graph_create("share");
  int64_t dims[1] = {4};
  float w[4] = {1, 2, 3, 4};
  DyValue *x = dy_graph_add_input(g, "x", dy_type_make(DY_F32, 1, dims));
  DyValue *c = dy_build_const(g, NULL, "w", x->type, w, DY_FORM_DENSE);
  DyValue *ops[2] = {x, c};
  DyValue *y = dy_build_op(g, NULL, DY_OP_ADD, 2, ops, x->type, "y");
  dy_graph_set_outputs(g, 1, &y);
  dy_graph_set_str(g, "level", "float");
  DyAttr off = {0};
  off.name = "offset";
  off.kind = DY_ATTR_INT;
  off.i = 64;
  dy_value_add_attr(g, y, &off);
  DyGraph *h = dy_graph_clone(g);
  printf("same data: %d\n", h->first->data->data == g->first->data->data);
  printf("equal: %d\n", dy_graph_equal(g, h));
  dy_graph_destroy(g);
  const float *hw = h->first->data->data;
  printf("after the original is gone: %g %g %g %g\n", hw[0], hw[1], hw[2],
         hw[3]);
  dy_print_graph(stdout, h, NULL);
  dy_graph_destroy(h);
}

/* Numbering and last uses: one walk gives each value the id of the last op
 * reading it (nops for graph outputs, -1 for none). */
static void test_last_uses(void) {
  puts("test_last_uses");
  DyGraph *g = dy_graph_create("live");
  int64_t dims[1] = {4};
  DyValue *x = dy_graph_add_input(g, "x", dy_type_make(DY_F32, 1, dims));
  DyValue *a = dy_build_op(g, NULL, DY_OP_RELU, 1, &x, x->type, "a");
  DyValue *b = dy_build_op(g, NULL, DY_OP_RELU, 1, &a, x->type, "b");
  DyValue *ops[2] = {a, b};
  DyValue *s = dy_build_op(g, NULL, DY_OP_ADD, 2, ops, x->type, "s");
  dy_build_op(g, NULL, DY_OP_RELU, 1, &x, x->type, "dead");
  dy_graph_set_outputs(g, 1, &s);
  int nv = dy_graph_number(g);
  int last[8];
  dy_graph_last_uses(g, last);
  printf("values: %d ops: %d\n", nv, g->nops);
  const DyValue *vals[5] = {x, a, b, s, g->last->results[0]};
  for (int i = 0; i < 5; i++)
    printf("%%%s: id %d, last use %d\n", vals[i]->name, vals[i]->id,
           last[vals[i]->id]);
  dy_graph_destroy(g);
}

/* Traits answer what passes used to list by hand. */
static void test_traits(void) {
  puts("test_traits");
  for (int k = 0; k < DY_OP_COUNT; k++) {
    unsigned t = 0;
    for (unsigned f = 1; f <= DY_TRAIT_ELEMENTWISE; f <<= 1)
      t |= dy_op_has_traits((DyOpKind)k, f) ? f : 0;
    if (t & (DY_TRAIT_KEEPS_Q | DY_TRAIT_WEIGHTS))
      printf("%s:%s%s\n", dy_op_name((DyOpKind)k),
             t & DY_TRAIT_KEEPS_Q ? " keeps-q" : "",
             t & DY_TRAIT_WEIGHTS ? " weights" : "");
  }
}

int main(void) {
  test_build_conv();
  test_infer();
  test_names();
  test_clone_shares_data();
  test_last_uses();
  test_traits();
  return 0;
}
