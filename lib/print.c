/* The .dy printer: writes the canonical text that the parser reads back. */
#include "dyad/text.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Rewrites a shortest "%.{prec}g" rendering of v such as "1e+01" in fixed
 * notation ("10") when v is below 1e17, then makes it look like a float
 * literal: "10" -> "10.0". */
static void float_suffix(char *buf, size_t n, double v, int prec) {
  if (isfinite(v) && v != 0) {
    int e = (int)floor(log10(fabs(v)));
    if (e >= prec && e < 17)
      snprintf(buf, n, "%.*g", e + 1, v);
  }
  if (strpbrk(buf, ".eEn") == NULL) { /* n: inf, nan */
    size_t len = strlen(buf);
    if (len + 2 < n)
      memcpy(buf + len, ".0", 3);
  }
}

/* NaN keeps its sign ("-nan" reads back negative); the payload is lost. */
void dy_format_f32(char *buf, size_t n, float v) {
  if (isnan(v)) {
    snprintf(buf, n, signbit(v) ? "-nan" : "nan");
    return;
  }
  int prec = 1;
  for (; prec <= 9; prec++) {
    snprintf(buf, n, "%.*g", prec, (double)v);
    if (strtof(buf, NULL) == v)
      break;
  }
  float_suffix(buf, n, (double)v, prec);
}

void dy_format_f64(char *buf, size_t n, double v) {
  if (isnan(v)) {
    snprintf(buf, n, signbit(v) ? "-nan" : "nan");
    return;
  }
  int prec = 1;
  for (; prec <= 17; prec++) {
    snprintf(buf, n, "%.*g", prec, v);
    if (strtod(buf, NULL) == v)
      break;
  }
  float_suffix(buf, n, v, prec);
}

static void print_param(FILE *out, double scale, int64_t zp) {
  char buf[40];
  dy_format_f64(buf, sizeof buf, scale);
  fputs(buf, out);
  if (zp)
    fprintf(out, ":%lld", (long long)zp);
}

/* Prints params [*idx..) nested as shape[k..rank). */
static void print_param_nest(FILE *out, const DyQuant *q, const int64_t *shape,
                             int rank, int k, int64_t *idx) {
  fputc('{', out);
  for (int64_t i = 0; i < shape[k]; i++) {
    if (i)
      fputs(", ", out);
    if (k + 1 < rank)
      print_param_nest(out, q, shape, rank, k + 1, idx);
    else {
      print_param(out, q->scales[*idx], q->zero_points[*idx]);
      (*idx)++;
    }
  }
  fputc('}', out);
}

static void print_quant(FILE *out, const DyType *t) {
  const DyQuant *q = t->quant;
  int64_t lo, hi;
  dy_elem_range(q->storage, &lo, &hi);
  fprintf(out, "!quant.uniform<%s", dy_elem_name(q->storage));
  if (q->qmin != lo || q->qmax != hi)
    fprintf(out, "<%lld:%lld>", (long long)q->qmin, (long long)q->qmax);
  fputs(":f32", out);
  int64_t idx = 0;
  switch (q->kind) {
  case DY_QUANT_PER_TENSOR:
    fputs(", ", out);
    print_param(out, q->scales[0], q->zero_points[0]);
    break;
  case DY_QUANT_PER_AXIS: {
    int64_t shape[1] = {q->nparams};
    fprintf(out, ":%d, ", q->axis);
    print_param_nest(out, q, shape, 1, 0, &idx);
    break;
  }
  case DY_QUANT_BLOCKED: {
    int64_t shape[DY_MAX_RANK];
    fputs(":{", out);
    int first = 1;
    for (int i = 0; i < t->rank; i++)
      if (q->block[i] > 0) {
        fprintf(out, "%s%d:%lld", first ? "" : ",", i, (long long)q->block[i]);
        first = 0;
      }
    fputs("}, ", out);
    dy_quant_block_shape(q, t, shape);
    print_param_nest(out, q, shape, t->rank, 0, &idx);
    break;
  }
  }
  fputc('>', out);
}

void dy_print_type(FILE *out, const DyType *t) {
  fputs("tensor<", out);
  for (int i = 0; i < t->rank; i++)
    fprintf(out, "%lldx", (long long)t->dims[i]);
  if (t->quant)
    print_quant(out, t);
  else
    fputs(dy_elem_name(t->elem), out);
  fputc('>', out);
}

static void print_elem(FILE *out, const void *data, DyElemType e, size_t i) {
  char buf[40];
  switch (e) {
  case DY_F32:
    dy_format_f32(buf, sizeof buf, ((const float *)data)[i]);
    fputs(buf, out);
    return;
  case DY_I32:
    fprintf(out, "%d", (int)((const int32_t *)data)[i]);
    return;
  case DY_I16:
    fprintf(out, "%d", (int)((const int16_t *)data)[i]);
    return;
  case DY_U8:
  case DY_U4:
  case DY_U2:
    fprintf(out, "%u", (unsigned)((const uint8_t *)data)[i]);
    return;
  default:
    fprintf(out, "%d", (int)((const int8_t *)data)[i]);
    return;
  }
}

static void print_dense_nest(FILE *out, const DyType *t, const void *data,
                             int k, size_t *idx) {
  fputc('[', out);
  for (int64_t i = 0; i < t->dims[k]; i++) {
    if (i)
      fputs(", ", out);
    if (k + 1 < t->rank)
      print_dense_nest(out, t, data, k + 1, idx);
    else
      print_elem(out, data, t->elem, (*idx)++);
  }
  fputc(']', out);
}

static int is_splat(const DyConstData *cd, size_t esz) {
  if (cd->nbytes < esz)
    return 0; /* no elements: print as a list */
  for (size_t i = esz; i < cd->nbytes; i += esz)
    if (memcmp((const char *)cd->data + i, cd->data, esz) != 0)
      return 0;
  return 1;
}

static void print_hex(FILE *out, const DyConstData *cd) {
  fputs("dense<\"0x", out);
  for (size_t i = 0; i < cd->nbytes; i++)
    fprintf(out, "%02X", ((const uint8_t *)cd->data)[i]);
  fputs("\">", out);
}

static void print_string(FILE *out, const char *s) {
  fputc('"', out);
  for (; *s; s++) {
    if (*s == '"' || *s == '\\')
      fprintf(out, "\\%c", *s);
    else if (*s == '\n')
      fputs("\\n", out);
    else if (*s == '\t')
      fputs("\\t", out);
    else
      fputc(*s, out);
  }
  fputc('"', out);
}

/* Whether f32 data holds a NaN that "nan" / "-nan" does not read back bit
 * for bit (one with a payload); such data is printed in hex. */
static int has_payload_nan(const DyConstData *cd, DyElemType e) {
  if (e != DY_F32)
    return 0;
  for (size_t i = 0; i + 4 <= cd->nbytes; i += 4) {
    uint32_t b;
    memcpy(&b, (const char *)cd->data + i, 4);
    b &= 0x7fffffffu;
    if (b > 0x7f800000u && b != 0x7fc00000u)
      return 1;
  }
  return 0;
}

static int print_const_data(FILE *out, const DyOp *op, DyPrintOptions *opt) {
  const DyConstData *cd = op->data;
  const DyType *t = &op->results[0]->type;
  size_t esz = dy_elem_size(t->elem);
  if (opt && opt->external_file && opt->external_path &&
      (cd->form == DY_FORM_EXTERNAL ||
       (opt->external_threshold && cd->nbytes > opt->external_threshold))) {
    /* 64-byte alignment lets a loader map the data for any kernel */
    uint64_t pad = (64 - opt->external_offset % 64) % 64;
    static const char zeros[64];
    if (fwrite(zeros, 1, pad, opt->external_file) != pad ||
        fwrite(cd->data, 1, cd->nbytes, opt->external_file) != cd->nbytes)
      return 1;
    opt->external_offset += pad;
    fputs("external<", out);
    print_string(out, opt->external_path);
    fprintf(out, ", %llu>", (unsigned long long)opt->external_offset);
    opt->external_offset += cd->nbytes;
    return 0;
  }
  if (cd->form == DY_FORM_EXTERNAL && opt && opt->inline_external) {
    print_hex(out, cd);
    return 0;
  }
  if (cd->form == DY_FORM_EXTERNAL) {
    fputs("external<", out);
    print_string(out, cd->path);
    fprintf(out, ", %llu>", (unsigned long long)cd->offset);
    return 0;
  }
  size_t numel = esz ? cd->nbytes / esz : 0;
  /* No elements: the list form is [] when the first dimension is 0, but
   * [[], [], ...] with one [] per index before the 0 otherwise, which can
   * be astronomically long (1099511627776x0): write no hex bytes instead. */
  int long_empty = numel == 0 && t->rank > 0 && t->dims[0] != 0;
  if (cd->form == DY_FORM_HEX || long_empty ||
      (opt && opt->hex_threshold && numel > opt->hex_threshold) ||
      has_payload_nan(cd, t->elem)) {
    print_hex(out, cd);
    return 0;
  }
  fputs("dense<", out);
  if (is_splat(cd, esz)) {
    print_elem(out, cd->data, t->elem, 0);
  } else {
    size_t idx = 0;
    print_dense_nest(out, t, cd->data, 0, &idx);
  }
  fputc('>', out);
  return 0;
}

static void print_attr(FILE *out, const DyAttr *a) {
  char buf[40];
  fprintf(out, "%s = ", a->name);
  switch (a->kind) {
  case DY_ATTR_INT:
    fprintf(out, "%lld", (long long)a->i);
    break;
  case DY_ATTR_FLOAT:
    dy_format_f64(buf, sizeof buf, a->f);
    fputs(buf, out);
    break;
  case DY_ATTR_STR:
    print_string(out, a->s);
    break;
  case DY_ATTR_INTS:
  case DY_ATTR_FLOATS:
    fputc('[', out);
    for (int i = 0; i < a->n; i++) {
      if (i)
        fputs(", ", out);
      if (a->kind == DY_ATTR_INTS) {
        fprintf(out, "%lld", (long long)a->ints[i]);
      } else {
        dy_format_f64(buf, sizeof buf, a->floats[i]);
        fputs(buf, out);
      }
    }
    fputc(']', out);
    break;
  }
}

/* " {a = 1, b = [2]}", or nothing for an empty list. */
static void print_attr_dict(FILE *out, int n, const DyAttr *attrs) {
  for (int k = 0; k < n; k++) {
    fputs(k ? ", " : " {", out);
    print_attr(out, &attrs[k]);
  }
  if (n)
    fputc('}', out);
}

int dy_print_graph(FILE *out, const DyGraph *g, DyPrintOptions *opt) {
  fprintf(out, "graph @%s(", g->name);
  for (int i = 0; i < g->ninputs; i++) {
    fprintf(out, "%s%%%s: ", i ? ", " : "", g->inputs[i]->name);
    dy_print_type(out, &g->inputs[i]->type);
    print_attr_dict(out, g->inputs[i]->nattrs, g->inputs[i]->attrs);
  }
  fputs(") -> ", out);
  if (g->noutputs != 1)
    fputc('(', out);
  for (int i = 0; i < g->noutputs; i++) {
    if (i)
      fputs(", ", out);
    dy_print_type(out, &g->outputs[i]->type);
  }
  if (g->noutputs != 1)
    fputc(')', out);
  if (g->nattrs) {
    fputs(" attributes", out);
    print_attr_dict(out, g->nattrs, g->attrs);
  }
  fputs(" {\n", out);
  for (const DyOp *op = g->first; op; op = op->next) {
    fputs("  ", out);
    for (int i = 0; i < op->nresults; i++)
      fprintf(out, "%s%%%s", i ? ", " : "", op->results[i]->name);
    fprintf(out, " = %s", dy_op_name(op->kind));
    if (op->kind == DY_OP_CONST) {
      fputc(' ', out);
      if (print_const_data(out, op, opt))
        return 1;
    }
    for (int i = 0; i < op->noperands; i++)
      fprintf(out, "%s%%%s", i ? ", " : " ", op->operands[i]->name);
    print_attr_dict(out, op->nattrs, op->attrs);
    fputs(" : ", out);
    for (int i = 0; i < op->nresults; i++) {
      if (i)
        fputs(", ", out);
      dy_print_type(out, &op->results[i]->type);
      print_attr_dict(out, op->results[i]->nattrs, op->results[i]->attrs);
    }
    fputc('\n', out);
  }
  fputs("  return", out);
  for (int i = 0; i < g->noutputs; i++)
    fprintf(out, "%s%%%s", i ? ", " : " ", g->outputs[i]->name);
  fputs("\n}\n", out);
  return ferror(out) ? 1 : 0;
}

char *dy_print_graph_to_string(const DyGraph *g, DyPrintOptions *opt,
                               size_t *len) {
  char *buf = NULL;
  *len = 0;
  FILE *f = open_memstream(&buf, len);
  if (!f)
    return NULL;
  int err = dy_print_graph(f, g, opt);
  if (fclose(f) != 0 || err) {
    free(buf);
    return NULL;
  }
  return buf;
}
