/* The LLVM backend (codegen/, the only code that includes llvm-c): a graph
 * at the kernel level (the lower-target pass) to one LLVM module, written as
 * an object file, assembly or LLVM IR, plus the C header that declares it
 * (docs/codegen.md). */
#ifndef DYAD_CODEGEN_H
#define DYAD_CODEGEN_H

#include "dyad/diag.h"
#include "dyad/ir.h"
#include "dyad/target.h"

typedef enum DyEmitKind { DY_EMIT_OBJ, DY_EMIT_ASM, DY_EMIT_LLVM } DyEmitKind;

typedef struct DyCodegenOptions {
  const char *name; /* symbol prefix; NULL: the graph's name */
  DyEmitKind emit;
  int opt_level; /* 0 to 3 (default<O3> when 3) */
} DyCodegenOptions;

/* The host as LLVM sees it (triple, CPU name, features). Returns 0, or 1
 * after an error. */
int dy_cg_host_target(DyTarget *t, DyDiag *d);

/* Fills t from --target/--mcpu/--mattr values (NULL or "" for the host's
 * triple, CPU and features). */
int dy_cg_target_from_flags(DyTarget *t, const char *triple, const char *cpu,
                            const char *mattr, DyDiag *d);

/* Compiles g (kernel level, lowered for t) into `out` (the object, .s or
 * .ll) and, when header is not NULL, the C header. Both are written whole
 * or not at all. Returns 0, or 1 after reporting through d. */
int dy_codegen(const DyGraph *g, const DyTarget *t, const DyCodegenOptions *o,
               const char *out, const char *header, DyDiag *d);

/* A model compiled in memory for the host with LLJIT (dyad run --jit). */
typedef struct DyJit DyJit;

/* Compiles g (kernel level, lowered for t, the host) into this process.
 * Returns 0 and *out, or 1 after reporting through d. */
int dy_jit_create(const DyGraph *g, const DyTarget *t, int opt_level,
                  DyJit **out, DyDiag *d);
/* Runs the model once: inputs and outputs in the graph's own types and
 * order (an f32 input of an entry quantize is quantized, an exit dequantize
 * gives f32), as the interpreter takes and gives them. Returns 0. Not
 * reentrant: one workspace per DyJit. */
int dy_jit_run(DyJit *j, const void *const *inputs, void *const *outputs);
void dy_jit_destroy(DyJit *j);

/* The symbol prefix codegen uses for g with the given --name (a C
 * identifier made from the graph's name when NULL) into buf. */
void dy_cg_symbol_prefix(const DyGraph *g, const char *name, char *buf,
                         size_t n);

#endif
