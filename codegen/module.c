/* The LLVM backend's module: a kernel-level graph (lower-target) to one
 * LLVM module holding the kernel library (codegen/kernels/, bitcode built
 * for each architecture and embedded in dyad), the model's weights in
 * read-only data, and three functions:
 *
 *   static void impl(const void *const *in, void *ws)  every op in order
 *   int NAME_run(const void *const *in, void *const *out, void *ws)
 *   int NAME_run_f32(const float *const *in, float *const *out, void *ws)
 *
 * Each op is one call of its kernel with constant shapes, types, tables
 * and buffer addresses (workspace offsets from the memory plan); the kernels
 * are internal and always inlined, so `default<O3>` for the target machine
 * specializes and vectorizes each call. See docs/codegen.md. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llvm-c/Analysis.h>
#include <llvm-c/BitReader.h>
#include <llvm-c/Core.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Linker.h>
#include <llvm-c/Orc.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/Transforms/PassBuilder.h>

#include "cg_internal.h"
#include "dyad/fileio.h"
#include "dyad/interp.h"
#include "dyad/requant.h"
#include "dyad/shape.h"

/* --- target machine --- */

static void init_llvm(void) {
  static int done;
  if (done)
    return;
  done = 1;
  LLVMInitializeX86TargetInfo();
  LLVMInitializeX86Target();
  LLVMInitializeX86TargetMC();
  LLVMInitializeX86AsmPrinter();
  LLVMInitializeAArch64TargetInfo();
  LLVMInitializeAArch64Target();
  LLVMInitializeAArch64TargetMC();
  LLVMInitializeAArch64AsmPrinter();
  LLVMInitializeRISCVTargetInfo();
  LLVMInitializeRISCVTarget();
  LLVMInitializeRISCVTargetMC();
  LLVMInitializeRISCVAsmPrinter();
}

int dy_cg_host_target(DyTarget *t, DyDiag *d) {
  init_llvm();
  char *triple = LLVMGetDefaultTargetTriple();
  char *cpu = LLVMGetHostCPUName();
  char *feat = LLVMGetHostCPUFeatures();
  DyLoc none = {0};
  int rc = dy_target_init_host(t, triple, cpu, feat, d, none);
  LLVMDisposeMessage(triple);
  LLVMDisposeMessage(cpu);
  LLVMDisposeMessage(feat);
  return rc;
}

int dy_cg_target_from_flags(DyTarget *t, const char *triple, const char *cpu,
                            const char *mattr, DyDiag *d) {
  DyLoc none = {0};
  if ((!triple || !*triple) && (!cpu || !*cpu)) {
    if (dy_cg_host_target(t, d))
      return 1;
    if (mattr && *mattr) {
      /* the host with changes: host features, then the user's, which must
       * be features dyad knows (the host's own may not be) */
      DyTarget check;
      if (dy_target_init(&check, t->triple, NULL, mattr, d, none))
        return 1;
      char all[8192];
      snprintf(all, sizeof all, "%s,%s", t->features, mattr);
      DyTarget h = *t;
      return dy_target_init_host(t, h.triple, h.cpu, all, d, none);
    }
    return 0;
  }
  if (!triple || !*triple) {
    init_llvm();
    char *host = LLVMGetDefaultTargetTriple();
    int rc = dy_target_init(t, host, cpu, mattr, d, none);
    LLVMDisposeMessage(host);
    return rc;
  }
  return dy_target_init(t, triple, cpu, mattr, d, none);
}

static LLVMTargetMachineRef make_tm(const DyTarget *t, int opt, DyDiag *d) {
  init_llvm();
  LLVMTargetRef target;
  char *err = NULL;
  if (LLVMGetTargetFromTriple(t->triple, &target, &err)) {
    dy_error(d, (DyLoc){0}, "LLVM has no target for '%s': %s", t->triple,
             err ? err : "");
    LLVMDisposeMessage(err);
    return NULL;
  }
  LLVMCodeGenOptLevel lvl = opt >= 3   ? LLVMCodeGenLevelAggressive
                            : opt == 2 ? LLVMCodeGenLevelDefault
                            : opt == 1 ? LLVMCodeGenLevelLess
                                       : LLVMCodeGenLevelNone;
  LLVMTargetMachineOptionsRef o = LLVMCreateTargetMachineOptions();
  LLVMTargetMachineOptionsSetCPU(o, t->cpu);
  LLVMTargetMachineOptionsSetFeatures(o, t->features);
  LLVMTargetMachineOptionsSetCodeGenOptLevel(o, lvl);
  LLVMTargetMachineOptionsSetRelocMode(o, LLVMRelocPIC);
  if (t->arch == DY_ARCH_RISCV64)
    LLVMTargetMachineOptionsSetABI(o, "lp64d");
  LLVMTargetMachineRef tm =
      LLVMCreateTargetMachineWithOptions(target, t->triple, o);
  LLVMDisposeTargetMachineOptions(o);
  if (!tm)
    dy_error(d, (DyLoc){0}, "LLVM cannot make a target machine for '%s'",
             t->triple);
  return tm;
}

/* --- constants --- */

/* A private constant global holding n bytes, 64-byte aligned. */
LLVMValueRef dy_cg_bytes(Cg *cg, const void *data, size_t n) {
  LLVMValueRef init = LLVMConstStringInContext2(cg->ctx, data, n, 1);
  LLVMValueRef gv = LLVMAddGlobal(cg->mod, LLVMTypeOf(init), "dyad.const");
  LLVMSetInitializer(gv, init);
  LLVMSetGlobalConstant(gv, 1);
  LLVMSetLinkage(gv, LLVMPrivateLinkage);
  LLVMSetUnnamedAddress(gv, LLVMGlobalUnnamedAddr);
  LLVMSetAlignment(gv, 64);
  return gv;
}

LLVMValueRef dy_cg_i64s(Cg *cg, const int64_t *v, size_t n) {
  return dy_cg_bytes(cg, v, n * sizeof *v);
}

LLVMValueRef dy_cg_i32s(Cg *cg, const int64_t *v, size_t n) {
  int32_t *b = malloc((n ? n : 1) * sizeof *b);
  for (size_t i = 0; i < n; i++)
    b[i] = (int32_t)v[i];
  LLVMValueRef g = dy_cg_bytes(cg, b, n * sizeof *b);
  free(b);
  return g;
}

LLVMValueRef dy_cg_f32s(Cg *cg, const double *v, size_t n) {
  float *b = malloc((n ? n : 1) * sizeof *b);
  for (size_t i = 0; i < n; i++)
    b[i] = (float)v[i];
  LLVMValueRef g = dy_cg_bytes(cg, b, n * sizeof *b);
  free(b);
  return g;
}

LLVMValueRef dy_cg_f64s(Cg *cg, const double *v, size_t n) {
  return dy_cg_bytes(cg, v, n * sizeof *v);
}

/* --- values --- */

static LLVMValueRef offset_ptr(Cg *cg, LLVMValueRef base, int64_t off) {
  LLVMValueRef idx = LLVMConstInt(cg->i64, (unsigned long long)off, 0);
  return LLVMBuildGEP2(cg->b, cg->i8, base, &idx, 1, "");
}

static LLVMValueRef load_slot(Cg *cg, LLVMValueRef arr, int i) {
  LLVMValueRef p = offset_ptr(cg, arr, (int64_t)i * 8);
  return LLVMBuildLoad2(cg->b, cg->ptr, p, "");
}

static int input_index(const DyGraph *g, const DyValue *v) {
  for (int i = 0; i < g->ninputs; i++)
    if (g->inputs[i] == v)
      return i;
  return -1;
}

int dy_cg_is_impl(const DyOp *op, const char *impl) {
  const DyAttr *a = dy_op_attr(op, "impl");
  return a && a->kind == DY_ATTR_STR && strcmp(a->s, impl) == 0;
}

/* A 4-bit constant stored two to a byte, low nibble first. */
static LLVMValueRef nibble_bytes(Cg *cg, const DyValue *v) {
  int64_t n = dy_type_numel(&v->type);
  unsigned char *b = calloc((size_t)(n / 2 + 1), 1);
  if (!b) /* cannot happen for a constant that fit in memory once */
    return dy_cg_bytes(cg, v->def->data->data, v->def->data->nbytes);
  for (int64_t i = 0; i < n; i++)
    b[i / 2] |=
        (unsigned char)((dy_load_int(v->def->data->data, v->type.elem, i) & 15)
                        << (4 * (i & 1)));
  LLVMValueRef g = dy_cg_bytes(cg, b, (size_t)(n / 2 + (n & 1)));
  free(b);
  return g;
}

/* Whether const op c (4-bit) is read only as the weights of a portable
 * integer conv2d or matmul, or by a dequantize: kernels that read it
 * through ld(), which takes two to a byte. */
static int nibble_const(const DyGraph *g, const DyOp *c) {
  const DyValue *v = c->results[0];
  if (v->type.elem != DY_I4 && v->type.elem != DY_U4)
    return 0;
  for (int i = 0; i < g->noutputs; i++)
    if (g->outputs[i] == v)
      return 0;
  int users = 0;
  for (const DyOp *op = g->first; op; op = op->next)
    for (int i = 0; i < op->noperands; i++) {
      if (op->operands[i] != v)
        continue;
      users++;
      int weights = (op->kind == DY_OP_CONV2D || op->kind == DY_OP_MATMUL) &&
                    i == 1 && dy_cg_is_impl(op, "generic.int");
      int deq = op->kind == DY_OP_DEQUANTIZE && i == 0 &&
                (dy_cg_is_impl(op, "dequantize") ||
                 dy_cg_is_impl(op, "exit.dequantize"));
      if (!weights && !deq)
        return 0;
    }
  return users > 0;
}

int dy_cg_elem(const Cg *cg, const DyValue *v) {
  if (v->def && v->def->kind == DY_OP_CONST)
    for (int k = 0; k < cg->nconsts; k++)
      if (cg->const_ops[k] == v->def && cg->nibbles[k])
        return v->type.elem == DY_U4 ? 33 : 32; /* U4P, I4P */
  return (int)v->type.elem;
}

/* The address of v's data in the current function (cg->in, cg->ws). */
LLVMValueRef dy_cg_value(Cg *cg, const DyValue *v) {
  if (!v->def)
    return load_slot(cg, cg->in, input_index(cg->g, v));
  if (dy_cg_is_impl(v->def, "entry.quantize"))
    return load_slot(cg, cg->in, input_index(cg->g, v->def->operands[0]));
  if (v->def->kind == DY_OP_CONST) {
    for (int k = 0; k < cg->nconsts; k++)
      if (cg->const_ops[k] == v->def) {
        if (!cg->consts[k] && cg->nibbles[k])
          cg->consts[k] = nibble_bytes(cg, v);
        else if (!cg->consts[k])
          cg->consts[k] =
              dy_cg_bytes(cg, v->def->data->data, v->def->data->nbytes);
        return cg->consts[k];
      }
  }
  const DyAttr *a = dy_value_attr(v, "offset");
  return offset_ptr(cg, cg->ws, a ? a->i : 0);
}

LLVMValueRef dy_cg_workspace(Cg *cg, int64_t off) {
  return offset_ptr(cg, cg->ws, off);
}

/* Calls kernel `name` with args converted to its parameter types. */
void dy_cg_call(Cg *cg, const char *name, int n, const CgArg *args) {
  LLVMValueRef fn = LLVMGetNamedFunction(cg->mod, name);
  LLVMTypeRef fty = LLVMGlobalGetValueType(fn);
  unsigned np = LLVMCountParamTypes(fty);
  LLVMTypeRef pt[64];
  LLVMValueRef av[64];
  LLVMGetParamTypes(fty, pt);
  for (unsigned i = 0; i < np && i < (unsigned)n; i++) {
    const CgArg *a = &args[i];
    LLVMTypeKind k = LLVMGetTypeKind(pt[i]);
    if (k == LLVMPointerTypeKind)
      av[i] = a->p ? a->p : LLVMConstNull(pt[i]);
    else if (k == LLVMIntegerTypeKind)
      av[i] = LLVMConstInt(pt[i], (unsigned long long)a->i, 1);
    else
      av[i] = LLVMConstReal(pt[i], a->f);
  }
  LLVMBuildCall2(cg->b, fty, fn, av, np, "");
}

/* --- the module --- */

static void make_c_ident(const char *s, char *buf, size_t n) {
  size_t k = 0;
  if (n == 0)
    return;
  if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || *s == '_') &&
      k + 1 < n)
    buf[k++] = '_';
  for (; *s && k + 1 < n; s++)
    buf[k++] = ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
                (*s >= '0' && *s <= '9') || *s == '_')
                   ? *s
                   : '_';
  buf[k] = 0;
}

void dy_cg_symbol_prefix(const DyGraph *g, const char *name, char *buf,
                         size_t n) {
  make_c_ident(name && *name ? name : g->name, buf, n);
}

/* The kernel library for t's architecture (each embedded bitcode file),
 * linked into cg->mod; every kernel internal, always inlined, compiled for
 * t's CPU and features. */
static int link_kernels(Cg *cg, DyDiag *d) {
  size_t len;
  const unsigned char *bc;
  for (int i = 0; (bc = dy_cg_kernel_bitcode(cg->t->arch, i, &len)); i++) {
    LLVMMemoryBufferRef mb = LLVMCreateMemoryBufferWithMemoryRange(
        (const char *)bc, len, "dyad-kernels", 0);
    LLVMModuleRef km;
    if (LLVMParseBitcodeInContext2(cg->ctx, mb, &km)) {
      LLVMDisposeMemoryBuffer(mb);
      dy_error(d, (DyLoc){0}, "the embedded kernel library does not load");
      return 1;
    }
    LLVMDisposeMemoryBuffer(mb);
    LLVMSetTarget(km, cg->t->triple);
    LLVMSetModuleDataLayout(km, cg->dl);
    if (LLVMLinkModules2(cg->mod, km)) {
      dy_error(d, (DyLoc){0}, "the kernel library does not link");
      return 1;
    }
  }
  unsigned inl = LLVMGetEnumAttributeKindForName("alwaysinline", 12);
  for (LLVMValueRef f = LLVMGetFirstFunction(cg->mod); f;
       f = LLVMGetNextFunction(f)) {
    if (LLVMIsDeclaration(f))
      continue;
    LLVMSetLinkage(f, LLVMInternalLinkage);
    LLVMSetVisibility(f, LLVMDefaultVisibility);
    LLVMAddAttributeAtIndex(f, LLVMAttributeFunctionIndex,
                            LLVMCreateEnumAttribute(cg->ctx, inl, 0));
  }
  return 0;
}

/* Deletes the kernels the model does not call (to a fixed point: kernels
 * call helpers), then compiles the rest for t's CPU and features. The
 * unused ones must go first: a kernel for instructions t lacks (vpdpbusd
 * on an AVX2 machine) cannot be selected once given t's features, and
 * -O0 would not remove it. */
static void drop_unused_kernels(Cg *cg) {
  for (int changed = 1; changed;) {
    changed = 0;
    LLVMValueRef f = LLVMGetFirstFunction(cg->mod);
    while (f) {
      LLVMValueRef next = LLVMGetNextFunction(f);
      if (!LLVMIsDeclaration(f) && LLVMGetLinkage(f) == LLVMInternalLinkage &&
          !LLVMGetFirstUse(f)) {
        LLVMDeleteFunction(f);
        changed = 1;
      }
      f = next;
    }
  }
  for (LLVMValueRef f = LLVMGetFirstFunction(cg->mod); f;
       f = LLVMGetNextFunction(f))
    if (!LLVMIsDeclaration(f))
      dy_cg_set_target_attrs(cg, f);
}

void dy_cg_set_target_attrs(Cg *cg, LLVMValueRef f) {
  LLVMRemoveStringAttributeAtIndex(f, LLVMAttributeFunctionIndex, "target-cpu",
                                   10);
  LLVMRemoveStringAttributeAtIndex(f, LLVMAttributeFunctionIndex,
                                   "target-features", 15);
  LLVMRemoveStringAttributeAtIndex(f, LLVMAttributeFunctionIndex, "tune-cpu",
                                   8);
  LLVMAddAttributeAtIndex(
      f, LLVMAttributeFunctionIndex,
      LLVMCreateStringAttribute(cg->ctx, "target-cpu", 10, cg->t->cpu,
                                (unsigned)strlen(cg->t->cpu)));
  LLVMAddAttributeAtIndex(
      f, LLVMAttributeFunctionIndex,
      LLVMCreateStringAttribute(cg->ctx, "target-features", 15, cg->t->features,
                                (unsigned)strlen(cg->t->features)));
}

static LLVMValueRef add_function(Cg *cg, const char *name, int exported,
                                 LLVMTypeRef ret, int nparams) {
  LLVMTypeRef params[3] = {cg->ptr, cg->ptr, cg->ptr};
  LLVMTypeRef fty = LLVMFunctionType(ret, params, (unsigned)nparams, 0);
  LLVMValueRef f = LLVMAddFunction(cg->mod, name, fty);
  LLVMSetLinkage(f, exported ? LLVMExternalLinkage : LLVMInternalLinkage);
  unsigned nounwind = LLVMGetEnumAttributeKindForName("nounwind", 8);
  LLVMAddAttributeAtIndex(f, LLVMAttributeFunctionIndex,
                          LLVMCreateEnumAttribute(cg->ctx, nounwind, 0));
  dy_cg_set_target_attrs(cg, f);
  LLVMBasicBlockRef bb = LLVMAppendBasicBlockInContext(cg->ctx, f, "entry");
  LLVMPositionBuilderAtEnd(cg->b, bb);
  return f;
}

static size_t value_bytes(const DyValue *v) {
  int overflow;
  return dy_type_nbytes(&v->type, &overflow);
}

/* The value NAME_run gives as output j: an exit dequantize's operand. */
static const DyValue *run_output(const DyGraph *g, int j) {
  const DyValue *v = g->outputs[j];
  if (v->def && dy_cg_is_impl(v->def, "exit.dequantize"))
    return v->def->operands[0];
  return v;
}

static void memcpy_value(Cg *cg, LLVMValueRef dst, LLVMValueRef src, size_t n) {
  if (n)
    LLVMBuildMemCpy(cg->b, dst, 1, src, 1,
                    LLVMConstInt(cg->i64, (unsigned long long)n, 0));
}

/* wrapper(in, out, ws) around impl: the entry quantizes (f32 in), impl,
 * the exit dequantizes (f32 out). Other inputs and outputs: with `generic`
 * passed in and copied out in their own types; without, the wrapper
 * returns 1 (NAME_run_f32 of a graph with integer inputs or outputs). */
static int build_wrapper(Cg *cg, const char *name, LLVMValueRef impl,
                         int generic, DyDiag *d) {
  const DyGraph *g = cg->g;
  LLVMValueRef runf = add_function(cg, name, 1, cg->i32, 3);
  LLVMValueRef fin = LLVMGetParam(runf, 0), fout = LLVMGetParam(runf, 1);
  cg->ws = LLVMGetParam(runf, 2);
  int nin = g->ninputs ? g->ninputs : 1;
  LLVMValueRef arr = LLVMBuildArrayAlloca(
      cg->b, cg->ptr, LLVMConstInt(cg->i32, (unsigned)nin, 0), "in");
  for (int i = 0; i < g->ninputs; i++) {
    const DyValue *x = g->inputs[i];
    const DyOp *q = NULL;
    for (const DyOp *op = g->first; op; op = op->next)
      if (dy_cg_is_impl(op, "entry.quantize") && op->operands[0] == x)
        q = op;
    LLVMValueRef slot = offset_ptr(cg, arr, (int64_t)i * 8);
    if (!q) {
      if (x->type.elem != DY_F32 && !generic) {
        /* a stored-integer input without an entry quantize: the float
         * wrapper cannot feed it */
        LLVMBuildRet(cg->b, LLVMConstInt(cg->i32, 1, 0));
        goto outputs_done;
      }
      LLVMBuildStore(cg->b, load_slot(cg, fin, i), slot);
      continue;
    }
    const DyAttr *a = dy_value_attr(q->results[0], "offset");
    LLVMValueRef dst = offset_ptr(cg, cg->ws, a ? a->i : 0);
    cg->in = fin;
    if (dy_cg_emit_quantize(cg, q, load_slot(cg, fin, i), dst, d))
      return 1;
    LLVMBuildStore(cg->b, dst, slot);
  }
  cg->in = arr;
  {
    LLVMValueRef a2[2] = {arr, cg->ws};
    LLVMBuildCall2(cg->b, LLVMGlobalGetValueType(impl), impl, a2, 2, "");
  }
  for (int j = 0; j < g->noutputs; j++) {
    const DyValue *v = g->outputs[j];
    LLVMValueRef dst = load_slot(cg, fout, j);
    if (v->def && dy_cg_is_impl(v->def, "exit.dequantize")) {
      if (dy_cg_emit_dequantize(cg, v->def,
                                dy_cg_value(cg, v->def->operands[0]), dst, d))
        return 1;
    } else if ((v->type.elem == DY_F32 && !v->type.quant) || generic) {
      memcpy_value(cg, dst, dy_cg_value(cg, v), value_bytes(v));
    } else {
      LLVMBuildRet(cg->b, LLVMConstInt(cg->i32, 1, 0));
      goto outputs_done;
    }
  }
  LLVMBuildRet(cg->b, LLVMConstInt(cg->i32, 0, 0));
outputs_done:
  return 0;
}

static int build(Cg *cg, const char *prefix, DyDiag *d) {
  const DyGraph *g = cg->g;
  char name[300];
  /* impl(in, ws): every op but the boundary ones */
  LLVMTypeRef vt = LLVMVoidTypeInContext(cg->ctx);
  LLVMValueRef impl = add_function(cg, "dyad.impl", 0, vt, 2);
  LLVMBasicBlockRef impl_bb = LLVMGetInsertBlock(cg->b);
  /* each op in a function of its own (never inlined) that its kernel is
   * inlined into: the optimizer works layer by layer, so compile time
   * grows linearly with the model, not with the square of one huge
   * function */
  unsigned noinline = LLVMGetEnumAttributeKindForName("noinline", 8);
  int k = 0;
  for (const DyOp *op = g->first; op; op = op->next) {
    if (op->kind == DY_OP_CONST || dy_cg_is_impl(op, "entry.quantize") ||
        dy_cg_is_impl(op, "exit.dequantize"))
      continue;
    snprintf(name, sizeof name, "dyad.op.%d", k++);
    LLVMValueRef f = add_function(cg, name, 0, vt, 2);
    LLVMAddAttributeAtIndex(f, LLVMAttributeFunctionIndex,
                            LLVMCreateEnumAttribute(cg->ctx, noinline, 0));
    cg->in = LLVMGetParam(f, 0);
    cg->ws = LLVMGetParam(f, 1);
    if (dy_cg_emit_op(cg, op, d))
      return 1;
    LLVMBuildRetVoid(cg->b);
    LLVMPositionBuilderAtEnd(cg->b, impl_bb);
    LLVMValueRef args[2] = {LLVMGetParam(impl, 0), LLVMGetParam(impl, 1)};
    LLVMBuildCall2(cg->b, LLVMGlobalGetValueType(f), f, args, 2, "");
  }
  LLVMBuildRetVoid(cg->b);

  /* NAME_run(in, out, ws) */
  snprintf(name, sizeof name, "%s_run", prefix);
  LLVMValueRef run = add_function(cg, name, 1, cg->i32, 3);
  cg->in = LLVMGetParam(run, 0);
  cg->ws = LLVMGetParam(run, 2);
  LLVMValueRef args[2] = {cg->in, cg->ws};
  LLVMBuildCall2(cg->b, LLVMGlobalGetValueType(impl), impl, args, 2, "");
  for (int j = 0; j < g->noutputs; j++) {
    const DyValue *v = run_output(g, j);
    memcpy_value(cg, load_slot(cg, LLVMGetParam(run, 1), j), dy_cg_value(cg, v),
                 value_bytes(v));
  }
  LLVMBuildRet(cg->b, LLVMConstInt(cg->i32, 0, 0));

  /* NAME_run_f32(in, out, ws): the entry quantizes, impl, the exit
   * dequantizes */
  snprintf(name, sizeof name, "%s_run_f32", prefix);
  if (build_wrapper(cg, name, impl, 0, d))
    return 1;
  /* for the JIT: the same taking and giving the graph's own types */
  if (cg->jit && build_wrapper(cg, "dyad_run_graph", impl, 1, d))
    return 1;
  return 0;
}

/* The model's module, built and optimized for t: cg and *tm filled (free
 * them with cg_free), or 1 after an error. jit: also the internal entry
 * dyad_run_graph for dy_jit_create. */
static int cg_prepare(Cg *cg, LLVMTargetMachineRef *tm, const DyGraph *g,
                      const DyTarget *t, const char *prefix, int opt_level,
                      int jit, DyDiag *d) {
  memset(cg, 0, sizeof *cg);
  const DyAttr *lvl = dy_graph_attr(g, "level");
  if (!lvl || lvl->kind != DY_ATTR_STR || strcmp(lvl->s, "kernel") != 0) {
    dy_error(d, g->loc,
             "code generation needs a graph at the kernel level (run "
             "lower-target first)");
    return 1;
  }
  *tm = make_tm(t, opt_level, d);
  if (!*tm)
    return 1;
  cg->g = g;
  cg->t = t;
  cg->jit = jit;
  cg->ctx = LLVMContextCreate();
  cg->mod = LLVMModuleCreateWithNameInContext(prefix, cg->ctx);
  cg->b = LLVMCreateBuilderInContext(cg->ctx);
  cg->i8 = LLVMInt8TypeInContext(cg->ctx);
  cg->i32 = LLVMInt32TypeInContext(cg->ctx);
  cg->i64 = LLVMInt64TypeInContext(cg->ctx);
  cg->ptr = LLVMPointerTypeInContext(cg->ctx, 0);
  cg->dl = LLVMCreateTargetDataLayout(*tm);
  cg->consts = calloc((size_t)(g->nops ? g->nops : 1), sizeof *cg->consts);
  cg->const_ops =
      calloc((size_t)(g->nops ? g->nops : 1), sizeof *cg->const_ops);
  cg->nibbles = calloc((size_t)(g->nops ? g->nops : 1), 1);
  for (const DyOp *op = g->first; op && cg->const_ops && cg->nibbles;
       op = op->next)
    if (op->kind == DY_OP_CONST) {
      cg->nibbles[cg->nconsts] = (unsigned char)nibble_const(g, op);
      cg->const_ops[cg->nconsts++] = op;
    }
  LLVMSetTarget(cg->mod, t->triple);
  LLVMSetModuleDataLayout(cg->mod, cg->dl);
  if (!cg->consts || !cg->const_ops || !cg->nibbles || link_kernels(cg, d) ||
      build(cg, prefix, d))
    return 1;
  drop_unused_kernels(cg);
  char *err = NULL;
  if (LLVMVerifyModule(cg->mod, LLVMReturnStatusAction, &err)) {
    dy_error(d, g->loc, "internal error: the generated module is invalid: %s",
             err);
    LLVMDisposeMessage(err);
    return 1;
  }
  LLVMDisposeMessage(err);
  char pipeline[32];
  snprintf(pipeline, sizeof pipeline, "default<O%d>",
           opt_level < 0   ? 0
           : opt_level > 3 ? 3
                           : opt_level);
  LLVMPassBuilderOptionsRef po = LLVMCreatePassBuilderOptions();
  LLVMErrorRef e = LLVMRunPasses(cg->mod, pipeline, *tm, po);
  LLVMDisposePassBuilderOptions(po);
  if (e) {
    char *msg = LLVMGetErrorMessage(e);
    dy_error(d, g->loc, "LLVM optimization failed: %s", msg);
    LLVMDisposeErrorMessage(msg);
    return 1;
  }
  return 0;
}

/* Frees what cg_prepare made; parts handed to the JIT are NULL. */
static void cg_free(Cg *cg, LLVMTargetMachineRef tm) {
  free(cg->nibbles);
  free(cg->consts);
  free(cg->const_ops);
  if (cg->b)
    LLVMDisposeBuilder(cg->b);
  if (cg->mod)
    LLVMDisposeModule(cg->mod);
  if (cg->dl)
    LLVMDisposeTargetData(cg->dl);
  if (cg->ctx)
    LLVMContextDispose(cg->ctx);
  if (tm)
    LLVMDisposeTargetMachine(tm);
}

int dy_codegen(const DyGraph *g, const DyTarget *t, const DyCodegenOptions *o,
               const char *out, const char *header, DyDiag *d) {
  char prefix[200];
  dy_cg_symbol_prefix(g, o->name, prefix, sizeof prefix);
  Cg cg;
  LLVMTargetMachineRef tm = NULL;
  int rc = 1;
  char *err = NULL, *htext = NULL;
  if (cg_prepare(&cg, &tm, g, t, prefix, o->opt_level, 0, d))
    goto done;
  /* everything is made in memory first: an error leaves no file, and the
   * object and its header are written one after the other */
  size_t hlen = 0;
  htext = header ? dy_cg_header_text(g, t, prefix, &hlen, d) : NULL;
  if (header && !htext)
    goto done;
  if (o->emit == DY_EMIT_LLVM) {
    char *text = LLVMPrintModuleToString(cg.mod);
    rc = dy_write_file(out, text, strlen(text), d);
    LLVMDisposeMessage(text);
  } else {
    LLVMMemoryBufferRef mb;
    if (LLVMTargetMachineEmitToMemoryBuffer(
            tm, cg.mod,
            o->emit == DY_EMIT_ASM ? LLVMAssemblyFile : LLVMObjectFile, &err,
            &mb)) {
      dy_error(d, g->loc, "LLVM code generation failed: %s", err ? err : "");
      LLVMDisposeMessage(err);
      goto done;
    }
    rc = dy_write_file(out, LLVMGetBufferStart(mb), LLVMGetBufferSize(mb), d);
    LLVMDisposeMemoryBuffer(mb);
  }
  if (!rc && htext)
    rc = dy_write_file(header, htext, hlen, d);
done:
  free(htext);
  cg_free(&cg, tm);
  return rc;
}

/* --- the JIT (dyad run --jit) --- */

struct DyJit {
  LLVMOrcLLJITRef jit;
  int (*run)(const void *const *, void *const *, void *);
  void *ws;
};

static int jit_error(LLVMErrorRef e, const char *what, DyDiag *d) {
  char *msg = LLVMGetErrorMessage(e);
  dy_error(d, (DyLoc){0}, "LLJIT: %s: %s", what, msg);
  LLVMDisposeErrorMessage(msg);
  return 1;
}

int dy_jit_create(const DyGraph *g, const DyTarget *t, int opt_level,
                  DyJit **out, DyDiag *d) {
  *out = NULL;
  Cg cg;
  LLVMTargetMachineRef tm = NULL;
  DyJit *j = calloc(1, sizeof *j);
  const DyAttr *ws = dy_graph_attr(g, "workspace");
  int64_t wsn = ws && ws->kind == DY_ATTR_INT ? ws->i : 0;
  if (!j || !(j->ws = aligned_alloc(64, (size_t)(wsn + 63) / 64 * 64 + 64))) {
    free(j);
    dy_error(d, g->loc, "out of memory");
    return 1;
  }
  if (cg_prepare(&cg, &tm, g, t, "dyad_jit", opt_level, 1, d)) {
    cg_free(&cg, tm);
    dy_jit_destroy(j);
    return 1;
  }
  /* the JIT takes the module, its context and the target machine */
  LLVMOrcLLJITBuilderRef jb = LLVMOrcCreateLLJITBuilder();
  LLVMOrcLLJITBuilderSetJITTargetMachineBuilder(
      jb, LLVMOrcJITTargetMachineBuilderCreateFromTargetMachine(tm));
  tm = NULL;
  LLVMErrorRef e = LLVMOrcCreateLLJIT(&j->jit, jb);
  int bad = e && jit_error(e, "cannot create the JIT", d);
  LLVMOrcThreadSafeContextRef tsc = NULL;
  if (!bad) {
    /* memcpy and memset come from this process */
    LLVMOrcDefinitionGeneratorRef gen;
    e = LLVMOrcCreateDynamicLibrarySearchGeneratorForProcess(
        &gen, LLVMOrcLLJITGetGlobalPrefix(j->jit), NULL, NULL);
    bad = e && jit_error(e, "cannot search this process", d);
    if (!bad)
      LLVMOrcJITDylibAddGenerator(LLVMOrcLLJITGetMainJITDylib(j->jit), gen);
  }
  if (!bad) {
    tsc = LLVMOrcCreateNewThreadSafeContextFromLLVMContext(cg.ctx);
    LLVMDisposeBuilder(cg.b);
    cg.b = NULL;
    LLVMOrcThreadSafeModuleRef tsm =
        LLVMOrcCreateNewThreadSafeModule(cg.mod, tsc);
    cg.ctx = NULL;
    cg.mod = NULL;
    e = LLVMOrcLLJITAddLLVMIRModule(j->jit, LLVMOrcLLJITGetMainJITDylib(j->jit),
                                    tsm);
    if (e) {
      LLVMOrcDisposeThreadSafeModule(tsm);
      bad = jit_error(e, "cannot add the model", d);
    }
  }
  if (!bad) {
    LLVMOrcExecutorAddress addr;
    e = LLVMOrcLLJITLookup(j->jit, &addr, "dyad_run_graph");
    bad = e && jit_error(e, "cannot compile the model", d);
    if (!bad)
      memcpy(&j->run, &addr, sizeof j->run);
  }
  if (tsc)
    LLVMOrcDisposeThreadSafeContext(tsc);
  cg_free(&cg, tm);
  if (bad) {
    dy_jit_destroy(j);
    return 1;
  }
  *out = j;
  return 0;
}

int dy_jit_run(DyJit *j, const void *const *inputs, void *const *outputs) {
  return j->run(inputs, outputs, j->ws);
}

void dy_jit_destroy(DyJit *j) {
  if (!j)
    return;
  if (j->jit)
    LLVMOrcDisposeLLJIT(j->jit);
  free(j->ws);
  free(j);
}
