/* The dyad graph IR: types, values, ops, graphs and the builder API.
 *
 * A graph is an SSA list of ops in topological order with static shapes and
 * NHWC layout. All of a graph's memory lives in its arena. docs/ir.md gives
 * the semantics of every op and the text form.
 */
#ifndef DYAD_IR_H
#define DYAD_IR_H

#include <stddef.h>
#include <stdint.h>

#include "dyad/arena.h"
#include "dyad/diag.h"

#define DY_MAX_RANK 8

/* Element types. Storage in memory, one element per slot:
 *   f32 float, i32 int32_t, i16 int16_t,
 *   i8 i4 i2 i1 ternary int8_t, u8 u4 u2 uint8_t.
 * i1 is the binary type of binarized networks: values -1 and +1.
 * ternary holds -1, 0, +1. */
typedef enum DyElemType {
  DY_F32,
  DY_I32,
  DY_I16,
  DY_I8,
  DY_U8,
  DY_I4,
  DY_U4,
  DY_I2,
  DY_U2,
  DY_I1,
  DY_TERNARY,
  DY_ELEM_COUNT
} DyElemType;

const char *dy_elem_name(DyElemType t); /* "f32", "i8", ... */
int dy_elem_from_name(const char *s, size_t n, DyElemType *out);
size_t dy_elem_size(DyElemType t); /* bytes of one stored element */
int dy_elem_is_int(DyElemType t);  /* every type but f32 */
/* Element i of integer storage of type e (any alignment): loads as int64,
 * stores truncating to the storage type. */
int64_t dy_load_int(const void *data, DyElemType e, int64_t i);
void dy_store_int(void *data, DyElemType e, int64_t i, int64_t v);
/* Full value range of an integer type (i1: -1..1, holding only -1 and 1). */
void dy_elem_range(DyElemType t, int64_t *lo, int64_t *hi);

typedef enum DyQuantKind {
  DY_QUANT_PER_TENSOR, /* one scale and zero point */
  DY_QUANT_PER_AXIS,   /* one pair per index of `axis` */
  DY_QUANT_BLOCKED     /* per group / sub-channel: a pair per block */
} DyQuantKind;

/* Parameters of a quantized element type: real = scale * (q - zero_point).
 * Spelled as MLIR's quant dialect, see docs/ir.md. Arena-owned, immutable. */
typedef struct DyQuant {
  DyQuantKind kind;
  DyElemType storage; /* integer storage type */
  int64_t qmin, qmax; /* storage range, narrower for narrow-range schemes */
  int axis;           /* DY_QUANT_PER_AXIS: the quantized axis */
  int64_t block[DY_MAX_RANK]; /* DY_QUANT_BLOCKED: block size per axis, 0 =
                                 the whole axis */
  int64_t nparams;            /* number of (scale, zero point) pairs */
  const double *scales;
  const int64_t *zero_points;
} DyQuant;

/* A tensor type; quantized when quant is non-NULL (then elem == storage). */
typedef struct DyType {
  DyElemType elem;
  int rank;
  int64_t dims[DY_MAX_RANK];
  const DyQuant *quant;
} DyType;

/* Number of elements, or -1 if it overflows int64 / SIZE_MAX bytes. */
int64_t dy_type_numel(const DyType *t);
/* Bytes of storage for the tensor, or 0 with *overflow set. */
size_t dy_type_nbytes(const DyType *t, int *overflow);
int dy_type_equal(const DyType *a, const DyType *b);
int dy_quant_equal(const DyQuant *a, const DyQuant *b);
int dy_shape_equal(const DyType *a, const DyType *b);
DyType dy_type_make(DyElemType e, int rank, const int64_t *dims);
/* The values an integer tensor may hold: its quantization's [qmin, qmax],
 * else its element type's full range. */
void dy_type_int_range(const DyType *t, int64_t *lo, int64_t *hi);
/* Shape of the scale tensor of a blocked quant on a tensor of type t. */
void dy_quant_block_shape(const DyQuant *q, const DyType *t, int64_t *out);

/* Op traits (the last column of ops.def, which explains each). */
enum {
  DY_TRAIT_MOVES = 1 << 0,
  DY_TRAIT_KEEPS_Q = 1 << 1,
  DY_TRAIT_QUANTIZE = 1 << 2,
  DY_TRAIT_WEIGHTS = 1 << 3,
  DY_TRAIT_ELEMENTWISE = 1 << 4
};

typedef enum DyOpKind {
#define DY_OP(E, N, MINO, MAXO, NR, TRAITS) DY_OP_##E,
#include "dyad/ops.def"
#undef DY_OP
  DY_OP_COUNT
} DyOpKind;

const char *dy_op_name(DyOpKind k);
int dy_op_from_name(const char *s, size_t n, DyOpKind *out);
void dy_op_arity(DyOpKind k, int *min_operands, int *max_operands,
                 int *nresults);
/* Whether op kind k has every trait in `traits` (DY_TRAIT_* flags). */
int dy_op_has_traits(DyOpKind k, unsigned traits);

typedef enum DyAttrKind {
  DY_ATTR_INT,    /* 3 */
  DY_ATTR_FLOAT,  /* 0.5, inf, -inf, nan */
  DY_ATTR_STR,    /* "edge" */
  DY_ATTR_INTS,   /* [1, 2] */
  DY_ATTR_FLOATS, /* [0.5, 1.0]; a list mixing ints and floats is FLOATS */
} DyAttrKind;

/* A named attribute. Lists are arena-owned. */
typedef struct DyAttr {
  const char *name;
  DyAttrKind kind;
  int64_t i;
  double f;
  const char *s;
  int n; /* list length */
  const int64_t *ints;
  const double *floats;
  DyLoc loc;
} DyAttr;

/* How a constant's data was written, so the printer writes it back alike. */
typedef enum DyDataForm {
  DY_FORM_DENSE,   /* dense<[1.0, 2.0]> or a splat dense<1.0> */
  DY_FORM_HEX,     /* dense<"0x0000803F"> raw little-endian storage */
  DY_FORM_EXTERNAL /* external<"file.bin", offset> : raw storage in a file */
} DyDataForm;

typedef struct DyBlob DyBlob;

typedef struct DyConstData {
  DyDataForm form;
  void *data;   /* storage of the op's result type, immutable */
  DyBlob *blob; /* the shared buffer holding data (dy_const_data_alloc) */
  size_t nbytes;
  const char *path; /* external: path as written, relative to the .dy file */
  uint64_t offset;  /* external: byte offset in the file */
} DyConstData;

typedef struct DyOp DyOp;

/* An SSA value: a graph input (def == NULL) or an op result. */
typedef struct DyValue {
  const char *name; /* without the % */
  DyType type;
  DyOp *def;
  int index;  /* result index in def, or graph input index */
  int nattrs; /* the value's attributes (a graph input's range, a result's
                 buffer offset), sorted by name */
  DyAttr *attrs;
  int id; /* position in the graph's numbering (dy_graph_number) */
} DyValue;

struct DyOp {
  DyOpKind kind;
  int noperands;
  DyValue **operands;
  int nresults;
  DyValue **results;
  int nattrs;
  DyAttr *attrs;     /* sorted by name */
  DyConstData *data; /* const only */
  DyLoc loc;
  DyOp *prev, *next; /* position in the graph's op list */
  int id;            /* position in the op list (dy_graph_number) */
};

typedef struct DyNameSet DyNameSet;

typedef struct DyGraph {
  DyArena *arena;
  const char *name; /* without the @ */
  int ninputs;
  DyValue **inputs;
  int noutputs;
  DyValue **outputs;
  DyOp *first, *last;
  int nops;
  DyLoc loc;
  DyNameSet *names;     /* value names in use */
  const char *base_dir; /* directory of the source file, for external data */
  int nattrs;           /* graph attributes (level, target, workspace size),
                           sorted by name */
  DyAttr *attrs;
  DyBlob **blobs; /* constant data this graph holds a reference to */
  size_t nblobs, blobs_cap;
} DyGraph;

/* --- building --- */

DyGraph *dy_graph_create(const char *name);
void dy_graph_destroy(DyGraph *g);

/* Returns a name not yet used in g: `base` itself if free, else base_1, ...
 * The returned string is arena-owned. */
const char *dy_graph_unique_name(DyGraph *g, const char *base);
/* Claims a name; returns 0 if it was already taken. */
int dy_graph_claim_name(DyGraph *g, const char *name);
void dy_graph_release_name(DyGraph *g, const char *name);

DyValue *dy_graph_add_input(DyGraph *g, const char *name, DyType type);
void dy_graph_set_outputs(DyGraph *g, int n, DyValue *const *values);

/* Creates an op (not yet in the graph) with fresh result values named after
 * `result_names` (made unique); types are the declared result types. */
DyOp *dy_op_create(DyGraph *g, DyOpKind kind, int noperands,
                   DyValue *const *operands, int nresults,
                   const DyType *result_types, const char *const *result_names);
/* Inserts op before `before` (NULL: at the end). */
void dy_graph_insert(DyGraph *g, DyOp *op, DyOp *before);
/* Unlinks op from the graph; its results must have no uses left. */
void dy_graph_erase(DyGraph *g, DyOp *op);

/* Sets (or replaces) an attribute, keeping the list sorted. */
void dy_op_set_int(DyGraph *g, DyOp *op, const char *name, int64_t v);
void dy_op_set_float(DyGraph *g, DyOp *op, const char *name, double v);
void dy_op_set_str(DyGraph *g, DyOp *op, const char *name, const char *v);
void dy_op_set_ints(DyGraph *g, DyOp *op, const char *name, int n,
                    const int64_t *v);
void dy_op_set_floats(DyGraph *g, DyOp *op, const char *name, int n,
                      const double *v);
void dy_op_add_attr(DyGraph *g, DyOp *op, const DyAttr *a);
void dy_op_remove_attr(DyOp *op, const char *name);
/* Attributes of a value: a graph input's calibrated range, a result's
 * buffer offset. Printed after the value's type. */
void dy_value_add_attr(DyGraph *g, DyValue *v, const DyAttr *a);
const DyAttr *dy_value_attr(const DyValue *v, const char *name);
/* Attributes of the graph itself (`attributes {...}` after the signature):
 * its level, its target, its workspace size. */
void dy_graph_add_attr(DyGraph *g, const DyAttr *a);
void dy_graph_set_str(DyGraph *g, const char *name, const char *v);
void dy_graph_set_int(DyGraph *g, const char *name, int64_t v);
const DyAttr *dy_graph_attr(const DyGraph *g, const char *name);

/* Constant data: immutable once built, so dy_graph_clone shares it instead
 * of copying. Sets cd->data to n zeroed bytes in a buffer that g references
 * (freed when the last graph holding it is destroyed) and returns 0, or
 * returns 1 when the memory cannot be had. */
int dy_const_data_alloc(DyGraph *g, DyConstData *cd, size_t n);

/* Numbers g's values (inputs, then results in op order) and ops (in
 * order) through their `id` fields; returns the number of values. Passes
 * that need the numbering call it after their last change. */
int dy_graph_number(DyGraph *g);
/* For a numbered graph: last_use[v->id] = the id of the last op reading v,
 * g->nops when v is a graph output, -1 when nothing reads it. One walk
 * over the ops: the liveness a memory plan needs. */
void dy_graph_last_uses(const DyGraph *g, int *last_use);

const DyAttr *dy_op_attr(const DyOp *op, const char *name);
int64_t dy_op_int(const DyOp *op, const char *name, int64_t dflt);
double dy_op_float(const DyOp *op, const char *name, double dflt);
const char *dy_op_str(const DyOp *op, const char *name, const char *dflt);
/* Copies an int list attribute into out (up to max); returns its length,
 * or copies dflt (ndflt values) when absent. */
int dy_op_ints(const DyOp *op, const char *name, int64_t *out, int max,
               const int64_t *dflt, int ndflt);

/* Checked reads (lib/attr.c): each checks the attribute's kind and range
 * and returns 0, or 1 after reporting "'<op>' attribute '<name>' ..." at
 * the op. An absent attribute gives the default. */
int dy_attr_read_int(const DyOp *op, const char *name, int64_t dflt, int64_t lo,
                     int64_t hi, int64_t *out, DyDiag *d);
/* A list of exactly n integers, each >= lo; dflt (n values) when absent,
 * and when dflt is NULL the attribute is required. */
int dy_attr_read_ints(const DyOp *op, const char *name, int n,
                      const int64_t *dflt, int64_t lo, int64_t *out, DyDiag *d);
/* A number (an integer is accepted), not nan. */
int dy_attr_read_float(const DyOp *op, const char *name, double dflt,
                       double *out, DyDiag *d);
/* A string that is one of `allowed` (NULL-terminated); *out points into
 * `allowed` (or is dflt when absent). */
int dy_attr_read_enum(const DyOp *op, const char *name,
                      const char *const *allowed, const char *dflt,
                      const char **out, DyDiag *d);

/* Builds a const op holding a copy of `data` (storage of `type`), appended
 * at the end of g unless `before` is given. */
DyValue *dy_build_const(DyGraph *g, DyOp *before, const char *name, DyType type,
                        const void *data, DyDataForm form);
/* Builds a single-result op with the given attributes already set later by
 * the caller; appended before `before` (NULL: at the end). */
DyValue *dy_build_op(DyGraph *g, DyOp *before, DyOpKind kind, int noperands,
                     DyValue *const *operands, DyType result_type,
                     const char *name);

/* --- uses --- */

/* Whether v is the result of a const op. */
int dy_value_is_const(const DyValue *v);
/* Number of uses of v as an operand or graph output. */
int dy_value_num_uses(const DyGraph *g, const DyValue *v);
/* Replaces every use of `from` (operands and graph outputs) by `to`. */
void dy_value_replace_all_uses(DyGraph *g, DyValue *from, DyValue *to);
int dy_value_is_output(const DyGraph *g, const DyValue *v);
/* The op that reads v, when v is an operand exactly once in the graph
 * (graph outputs aside), else NULL. */
DyOp *dy_value_sole_user(const DyGraph *g, const DyValue *v);

/* Erases every op none of whose results is used (all ops are pure).
 * Returns the number of ops erased. */
int dy_graph_remove_dead_ops(DyGraph *g);

/* A set of pointers (values, ops), for passes and the verifier. */
typedef struct DyPtrSet {
  const void **slots;
  size_t cap, count;
} DyPtrSet;
void dy_ptrset_init(DyPtrSet *s);
void dy_ptrset_fini(DyPtrSet *s);
void dy_ptrset_add(DyPtrSet *s, const void *p);
int dy_ptrset_has(const DyPtrSet *s, const void *p);

/* Quantization parameters: allocates a copy in g's arena. */
const DyQuant *dy_quant_create(DyGraph *g, const DyQuant *q);

/* Deep copy of a graph into a new arena (constants included). */
DyGraph *dy_graph_clone(const DyGraph *g);

/* Structural equality: same names, types, attributes, constant data (bit
 * for bit) and op order. Source locations and data forms are ignored. */
int dy_graph_equal(const DyGraph *a, const DyGraph *b);

/* --- verification --- */

/* Checks every op: operand counts, element types, shapes, attribute
 * ranges, constant values, SSA order. Returns the number of errors, each
 * reported through d at the op's location. */
int dy_graph_verify(const DyGraph *g, DyDiag *d);

/* The IR levels (docs/ir.md), as flags so that a pass can accept several. */
typedef enum DyIRLevel {
  DY_LEVEL_FLOAT = 1,   /* no quantized types and no quantization ops */
  DY_LEVEL_QDQ = 2,     /* quantized types or ops, float compute allowed */
  DY_LEVEL_INTEGER = 4, /* integer-only between entry and exit */
  DY_LEVEL_KERNEL = 8   /* lowered for a target (lower-target) */
} DyIRLevel;
#define DY_LEVEL_ANY 15u

/* The level g's contents are at: INTEGER when it holds quantized or
 * integer values and passes dy_verify_integer_only, QDQ when it holds any,
 * else FLOAT. (KERNEL is only ever declared, by lower-target.) */
DyIRLevel dy_graph_level(const DyGraph *g);
/* "float", "qdq", "integer", "kernel"; dy_level_from_name returns 0 for an
 * unknown name. */
const char *dy_level_name(DyIRLevel l);
DyIRLevel dy_level_from_name(const char *s);
/* A pass that changes what a graph holds keeps its declared level true:
 * when g declares a `level` other than "kernel", sets it to
 * dy_graph_level(g). A graph without the attribute is left without it. */
void dy_graph_refresh_level(DyGraph *g);

/* Checks that g is integer-only: f32 appears only as graph inputs feeding
 * `quantize` and as `dequantize` results returned as graph outputs; no
 * float requant, no dynamic_quantize. Reports each offending op. */
int dy_verify_integer_only(const DyGraph *g, DyDiag *d);

/* Infers the result type of a single-result op from its operands and
 * attributes (ignoring the op's declared result type). Returns 0 on success;
 * on failure reports through d (if non-NULL) and returns 1. Quantized result
 * element types cannot be inferred: the declared one is kept. */
int dy_op_infer_type(const DyOp *op, DyType *out, DyDiag *d);

#endif
