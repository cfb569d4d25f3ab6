/* ONNX importer: ModelProto (protobuf-c, generated from Debian's onnx.proto)
 * into the graph IR; this file is its driver.
 *
 * It holds the one failure path (every error names the node, its op type
 * and index, and tells an invalid model from an unsupported one), the
 * converter table, the import of a graph, and the public entry points. The
 * other files of lib/onnx/: tensor.c (TensorProto decoding, external data,
 * the byte budget), layout.c (IR types and names, NCHW/NHWC), node.c (the
 * value table, node inputs, outputs and attributes), ops_float.c,
 * ops_layout.c, ops_shape.c and ops_quant.c (the converters). Nothing is
 * approximated: anything not handled exactly is reported as unsupported
 * with the node's name, op type and index.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dyad/text.h"
#include "import_internal.h"

int dy_is_onnx_path(const char *path) {
  size_t n = strlen(path);
  return n >= 5 && strcmp(path + n - 5, ".onnx") == 0;
}

/* --- errors --- */

static void vfail(Imp *m, DyOnnxStatus st, const char *fmt, va_list ap)
    __attribute__((noreturn));
static void vfail(Imp *m, DyOnnxStatus st, const char *fmt, va_list ap) {
  char msg[1024];
  vsnprintf(msg, sizeof msg, fmt, ap);
  /* say that a limitation is one, unless the message already does */
  const char *pre = st == DY_ONNX_UNSUPPORTED && !strstr(msg, "supported")
                        ? "unsupported: "
                        : "";
  DyLoc loc = {m->file, 0, 0};
  if (m->node)
    dy_error(m->d, loc, "node '%s' (%s, #%zu): %s%s",
             m->node->name && m->node->name[0] ? m->node->name : "",
             m->node->op_type ? m->node->op_type : "?", m->node_index, pre,
             msg);
  else
    dy_error(m->d, loc, "%s%s", pre, msg);
  m->status = st;
  longjmp(m->fail, 1);
}

void dy_onnx_unsupported(Imp *m, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfail(m, DY_ONNX_UNSUPPORTED, fmt, ap);
}

void dy_onnx_invalid(Imp *m, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vfail(m, DY_ONNX_INVALID, fmt, ap);
}

/* --- dispatch --- */

typedef struct Handler {
  const char *op;
  void (*fn)(Imp *);
} Handler;

static const Handler handlers[] = {
    {"Identity", imp_identity},
    {"Dropout", imp_identity},
    {"Constant", imp_constant},
    {"Conv", imp_conv},
    {"MaxPool", imp_pool},
    {"AveragePool", imp_pool},
    {"GlobalAveragePool", imp_global_avgpool},
    {"Relu", imp_unary},
    {"Sigmoid", imp_unary},
    {"Tanh", imp_unary},
    {"HardSwish", imp_unary},
    {"HardSigmoid", imp_unary},
    {"Clip", imp_unary},
    {"Add", imp_binary},
    {"Sub", imp_binary},
    {"Mul", imp_binary},
    {"Softmax", imp_softmax},
    {"BatchNormalization", imp_batchnorm},
    {"Gemm", imp_gemm},
    {"MatMul", imp_matmul},
    {"Reshape", imp_reshape},
    {"Flatten", imp_flatten},
    {"Squeeze", imp_squeeze},
    {"Unsqueeze", imp_squeeze},
    {"Transpose", imp_transpose},
    {"Concat", imp_concat},
    {"Pad", imp_pad},
    {"Shape", imp_shape},
    {"Gather", imp_gather},
    {"Cast", imp_cast},
    {"ConstantOfShape", imp_constant_of_shape},
    {"QuantizeLinear", imp_quantize},
    {"DequantizeLinear", imp_dequantize},
    {"QLinearConv", imp_qlinear_conv},
    {"QLinearMatMul", imp_qlinear_matmul},
    {"ConvInteger", imp_conv_integer},
    {"MatMulInteger", imp_matmul_integer},
    {"DynamicQuantizeLinear", imp_dynamic_quantize},
};

/* Keeps the first message reported to a DyDiag (ctx: char[512]). */
static void keep_first(void *ctx, DySeverity sev, DyLoc loc, const char *msg) {
  char *buf = ctx;
  if (!buf[0])
    snprintf(buf, 512, "%s", msg);
}

/* Infers the type of every op built after `last` (NULL: all) as the
 * verifier will, so that a node whose shapes or attributes do not fit
 * (channels, groups, windows, ...) fails as that node's error rather than
 * as a graph that does not verify. Results are held to dy_onnx_check_shape's
 * limits (within those of the .dy text; dy_onnx_numel and the loops rely on
 * them). */
static void check_new_ops(Imp *m, DyOp *last) {
  DyOp *first = last ? last->next : m->g->first;
  for (DyOp *op = first; op; op = op->next)
    for (int r = 0; r < op->nresults; r++)
      dy_onnx_check_shape(m, "the result", (size_t)op->results[r]->type.rank,
                          op->results[r]->type.dims);
  char msg[512] = "";
  DyDiag d;
  dy_diag_init(&d);
  d.fn = keep_first;
  d.ctx = msg;
  int bad = 0;
  for (DyOp *op = first; op && !bad; op = op->next) {
    DyType t;
    bad = dy_op_infer_type(op, &t, &d);
  }
  dy_diag_fini(&d);
  if (bad)
    dy_onnx_invalid(m, "%s", msg);
}

void dy_onnx_infer(Imp *m, const DyOp *op, DyType *t) {
  char msg[512] = "";
  DyDiag d;
  dy_diag_init(&d);
  d.fn = keep_first;
  d.ctx = msg;
  int bad = dy_op_infer_type(op, t, &d);
  dy_diag_fini(&d);
  if (bad)
    dy_onnx_invalid(m, "%s", msg);
}

static void import_node(Imp *m) {
  const Onnx__NodeProto *n = m->node;
  if (!n->op_type || !n->op_type[0])
    dy_onnx_invalid(m, "node without an op type");
  if (n->domain && n->domain[0] && strcmp(n->domain, "ai.onnx") != 0)
    dy_onnx_unsupported(m, "operator domain '%s'", n->domain);
  if (dy_onnx_fold_arith(m))
    return;
  DyOp *last = m->g->last;
  for (size_t i = 0; i < sizeof handlers / sizeof handlers[0]; i++)
    if (strcmp(handlers[i].op, n->op_type) == 0) {
      if (!n->n_output || !n->output[0][0]) /* IR names derive from it */
        dy_onnx_invalid(m, "missing output 0");
      handlers[i].fn(m);
      check_new_ops(m, last);
      return;
    }
  dy_onnx_unsupported(m, "unsupported operator");
}

/* Renames v, an op result that is not yet a graph output, to `want` (the
 * sanitized name of an ONNX graph output). The value that holds `want` (the
 * NHWC result whose NCHW copy v is, say) takes v's name in exchange; a
 * graph input or an earlier output keeps it, and so does v its own. */
static void take_name(Imp *m, DyValue *v, const char *want) {
  DyGraph *g = m->g;
  if (!v->def || dy_value_is_output(g, v) || strcmp(v->name, want) == 0)
    return;
  for (int i = 0; i < g->ninputs; i++)
    if (strcmp(g->inputs[i]->name, want) == 0)
      return;
  DyValue *holder = NULL;
  for (DyOp *op = g->first; op && !holder; op = op->next)
    for (int r = 0; r < op->nresults; r++)
      if (strcmp(op->results[r]->name, want) == 0)
        holder = op->results[r];
  if (holder && dy_value_is_output(g, holder))
    return;
  if (holder) { /* swap: both names stay claimed */
    holder->name = v->name;
    v->name = dy_arena_strdup(g->arena, want);
    return;
  }
  dy_graph_release_name(g, v->name);
  v->name = dy_graph_unique_name(g, want);
}

static void import_graph(Imp *m, const Onnx__ModelProto *model) {
  for (size_t i = 0; i < model->n_opset_import; i++) {
    const Onnx__OperatorSetIdProto *o = model->opset_import[i];
    if (!o->domain || !o->domain[0] || strcmp(o->domain, "ai.onnx") == 0)
      m->opset = (int)o->version;
  }
  if (!m->opset)
    dy_onnx_unsupported(m,
                        "the model imports no ai.onnx operator set (only %s)",
                        model->n_opset_import && model->opset_import[0]->domain
                            ? model->opset_import[0]->domain
                            : "none");
  /* Opsets 7 to 21 are the target; older models import too where the
   * attribute checks prove the semantics equal (the attributes that older
   * versions had, such as `broadcast` or `consumed_inputs`, are rejected). */
  if (m->opset < 1 || m->opset > 21)
    dy_onnx_unsupported(m, "opset %d (1 to 21 are supported)", m->opset);
  const Onnx__GraphProto *gp = model->graph;
  if (!gp)
    dy_onnx_invalid(m, "the model has no graph");
  m->g->name = dy_arena_strdup(
      m->g->arena,
      dy_onnx_ir_name(m, gp->name && gp->name[0] ? gp->name : "main"));
  for (size_t i = 0; i < gp->n_initializer; i++) {
    const Onnx__TensorProto *t = gp->initializer[i];
    char what[300];
    snprintf(what, sizeof what, "initializer '%.200s'", t->name ? t->name : "");
    Host *h = dy_onnx_host_from_proto(m, t, what);
    Val *v = dy_onnx_new_val(m, t->name ? t->name : "");
    v->k = h;
    v->dtype = h->dtype;
    v->rank = h->rank;
    memcpy(v->dims, h->dims, sizeof h->dims);
  }
  for (size_t i = 0; i < gp->n_input; i++) {
    const Onnx__ValueInfoProto *vi = gp->input[i];
    const char *name = vi->name ? vi->name : "";
    if (dy_onnx_lookup(m, name))
      continue; /* an initializer listed as input (older exporters) */
    const Onnx__TensorProto *ci = NULL;
    (void)ci;
    const DyOnnxTensor *given = NULL;
    for (int k = 0; m->opt && k < m->opt->nconst_inputs; k++)
      if (strcmp(m->opt->const_inputs[k].name, name) == 0)
        given = &m->opt->const_inputs[k];
    Val *v = dy_onnx_new_val(m, name);
    v->input_index = (int)i;
    if (given) {
      Host *h = dy_arena_alloc(m->scratch, sizeof *h);
      h->dtype = given->dtype;
      h->rank = given->rank;
      memcpy(h->dims, given->dims, sizeof h->dims);
      h->data = dy_arena_memdup(m->scratch, given->data, given->nbytes);
      h->nbytes = given->nbytes;
      v->dtype = h->dtype;
      v->rank = h->rank;
      memcpy(v->dims, h->dims, sizeof h->dims);
      /* int64 values (shapes) are constants; others stay inputs unless a
       * node needs them constant */
      if (h->dtype == T_INT64)
        v->k = h;
      else
        v->given = h;
      continue;
    }
    if (!vi->type ||
        vi->type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE ||
        !vi->type->tensor_type)
      dy_onnx_unsupported(m, "graph input '%s' is not a tensor", name);
    const Onnx__TypeProto__Tensor *tt = vi->type->tensor_type;
    v->dtype = tt->has_elem_type ? tt->elem_type : 0;
    DyElemType elem;
    if (!dy_onnx_elem_of(m, v->dtype, &elem))
      dy_onnx_unsupported(m, "graph input '%s' has data type %s", name,
                          dy_onnx_dtype_name(v->dtype));
    if (!tt->shape)
      dy_onnx_unsupported(m, "graph input '%s' has no shape", name);
    int64_t dims[DY_MAX_RANK];
    if (tt->shape->n_dim > DY_MAX_RANK)
      dy_onnx_unsupported(m, "graph input '%s' has rank %zu", name,
                          tt->shape->n_dim);
    for (size_t k = 0; k < tt->shape->n_dim; k++) {
      const Onnx__TensorShapeProto__Dimension *dm = tt->shape->dim[k];
      if (dm->value_case !=
          ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE)
        dy_onnx_unsupported(
            m,
            "graph input '%s' has a symbolic dimension '%s' "
            "(dyad needs static shapes)",
            name,
            dm->value_case ==
                    ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM
                ? dm->dim_param
                : "?");
      dims[k] = dm->dim_value;
    }
    char what[300];
    snprintf(what, sizeof what, "graph input '%.200s'", name);
    dy_onnx_check_shape(m, what, tt->shape->n_dim, dims);
    v->rank = (int)tt->shape->n_dim;
    memcpy(v->dims, dims, sizeof dims);
    int lay = m->opt && m->opt->nhwc_io && v->rank == 4;
    v->v = dy_graph_add_input(m->g, dy_onnx_ir_name(m, name),
                              dy_onnx_ir_type(m, v, lay));
    v->v->index = (int)i;
    v->nhwc = lay;
  }
  for (size_t i = 0; i < gp->n_node; i++) {
    m->node = gp->node[i];
    m->node_index = i;
    import_node(m);
  }
  m->node = NULL;
  /* inputs made on first use: back into the model's order */
  for (int i = 1; i < m->g->ninputs; i++)
    for (int k = i;
         k > 0 && m->g->inputs[k - 1]->index > m->g->inputs[k]->index; k--) {
      DyValue *t = m->g->inputs[k];
      m->g->inputs[k] = m->g->inputs[k - 1];
      m->g->inputs[k - 1] = t;
    }
  for (int i = 0; i < m->g->ninputs; i++)
    m->g->inputs[i]->index = i;
  if (gp->n_output == 0)
    dy_onnx_invalid(m, "the graph has no outputs");
  DyValue **outs = dy_arena_alloc(m->scratch, gp->n_output * sizeof *outs);
  for (size_t i = 0; i < gp->n_output; i++) {
    const char *name = gp->output[i]->name ? gp->output[i]->name : "";
    Val *v = dy_onnx_lookup(m, name);
    if (!v)
      dy_onnx_invalid(m, "graph output '%s' is not computed by any node", name);
    int lay = m->opt && m->opt->nhwc_io && v->rank == 4;
    DyValue *iv = lay ? dy_onnx_nhwc(m, v) : dy_onnx_logical(m, v);
    const char *want = dy_onnx_ir_name(m, name);
    take_name(m, iv, want);
    if (strcmp(iv->name, want) != 0 || !iv->def ||
        dy_value_is_output(m->g, iv)) {
      /* outputs are named after the ONNX outputs: add an identity when the
       * value has another name (a transposed copy, an input, a constant) */
      DyValue *idv =
          dy_build_op(m->g, NULL, DY_OP_IDENTITY, 1, &iv, iv->type, want);
      iv = idv;
    }
    outs[i] = iv;
    dy_graph_set_outputs(m->g, (int)i + 1, outs);
  }
}

DyGraph *dy_onnx_import_buffer(const char *name, const void *buf, size_t len,
                               const char *base_dir, const DyOnnxOptions *opt,
                               DyOnnxStatus *status, DyDiag *d) {
  Imp m;
  memset(&m, 0, sizeof m);
  m.file = name;
  m.base_dir = base_dir;
  m.d = d;
  m.opt = opt;
  m.budget = opt && opt->max_bytes ? opt->max_bytes : DY_ONNX_DEFAULT_MAX;
  Onnx__ModelProto *model =
      onnx__model_proto__unpack(NULL, len, (const uint8_t *)buf);
  if (!model) {
    DyLoc loc = {name, 0, 0};
    dy_error(d, loc,
             "not a valid ONNX model (the protobuf does not parse: "
             "truncated or corrupt)");
    if (status)
      *status = DY_ONNX_INVALID;
    return NULL;
  }
  m.scratch = dy_arena_create();
  m.g = dy_graph_create("main");
  if (setjmp(m.fail)) {
    onnx__model_proto__free_unpacked(model, NULL);
    dy_arena_destroy(m.scratch);
    dy_graph_destroy(m.g);
    if (status)
      *status = m.status;
    return NULL;
  }
  import_graph(&m, model);
  onnx__model_proto__free_unpacked(model, NULL);
  dy_arena_destroy(m.scratch);
  if (dy_graph_verify(m.g, d)) {
    DyLoc loc = {name, 0, 0};
    dy_error(d, loc, "internal error: the imported graph does not verify");
    dy_graph_destroy(m.g);
    if (status)
      *status = DY_ONNX_INVALID;
    return NULL;
  }
  if (status)
    *status = DY_ONNX_OK;
  return m.g;
}

DyGraph *dy_onnx_import(const char *path, const DyOnnxOptions *opt,
                        DyOnnxStatus *status, DyDiag *d) {
  size_t len;
  char *buf = dy_read_file(path, &len, d);
  if (!buf) {
    if (status)
      *status = DY_ONNX_INVALID;
    return NULL;
  }
  char dir[4096];
  const char *slash = strrchr(path, '/');
  if (slash)
    snprintf(dir, sizeof dir, "%.*s", (int)(slash - path), path);
  else
    snprintf(dir, sizeof dir, ".");
  DyGraph *g = dy_onnx_import_buffer(path, buf, len, dir, opt, status, d);
  free(buf);
  return g;
}

/* --- TensorProto files (ONNX test data) --- */

int dy_onnx_read_tensor(const char *path, DyOnnxTensor *out, DyDiag *d) {
  memset(out, 0, sizeof *out);
  size_t len;
  char *buf = dy_read_file(path, &len, d);
  if (!buf)
    return 1;
  DyLoc loc = {path, 0, 0};
  Onnx__TensorProto *t =
      onnx__tensor_proto__unpack(NULL, len, (const uint8_t *)buf);
  free(buf);
  if (!t) {
    dy_error(d, loc, "not a valid TensorProto");
    return 1;
  }
  Imp m;
  memset(&m, 0, sizeof m);
  m.file = path;
  m.d = d;
  m.budget = DY_ONNX_DEFAULT_MAX;
  m.scratch = dy_arena_create();
  int rc = 0;
  if (setjmp(m.fail)) {
    rc = 1;
  } else {
    Host *h = dy_onnx_host_from_proto(&m, t, "tensor");
    out->data = malloc(h->nbytes ? h->nbytes : 1);
    if (!out->data) {
      dy_error(d, loc, "out of memory");
      rc = 1;
    } else {
      memcpy(out->data, h->data, h->nbytes);
      out->nbytes = h->nbytes;
      out->dtype = h->dtype;
      out->rank = h->rank;
      memcpy(out->dims, h->dims, sizeof h->dims);
      out->name = strdup(t->name ? t->name : "");
    }
  }
  dy_arena_destroy(m.scratch);
  onnx__tensor_proto__free_unpacked(t, NULL);
  return rc;
}

void dy_onnx_tensor_free(DyOnnxTensor *t) {
  free(t->data);
  free(t->name);
  memset(t, 0, sizeof *t);
}
