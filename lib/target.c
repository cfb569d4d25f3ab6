/* Target descriptions (include/dyad/target.h) from lib/targets.def. */
#include <stdio.h>
#include <string.h>

#include "dyad/target.h"

typedef struct Feature {
  DyArch arch;
  const char *name;
  unsigned bit;
  const char *implies; /* comma-separated */
} Feature;

typedef struct Cpu {
  DyArch arch;
  const char *name;
  const char *features;
  int l1, l2;
  double i8, i16, f32, bw;
} Cpu;

static const Feature features[] = {
#define DY_FEATURE(A, N, BIT, IMPL) {DY_ARCH_##A, N, BIT, IMPL},
#define DY_CPU(A, N, F, L1, L2, I8, I16, F32, BW)
#include "targets.def"
#undef DY_FEATURE
#undef DY_CPU
};
enum { NFEATURES = sizeof features / sizeof features[0] };

static const Cpu cpus[] = {
#define DY_FEATURE(A, N, BIT, IMPL)
#define DY_CPU(A, N, F, L1, L2, I8, I16, F32, BW)                              \
  {DY_ARCH_##A, N, F, L1, L2, I8, I16, F32, BW},
#include "targets.def"
#undef DY_FEATURE
#undef DY_CPU
};
enum { NCPUS = sizeof cpus / sizeof cpus[0] };

const char *dy_arch_name(DyArch a) {
  switch (a) {
  case DY_ARCH_X86_64:
    return "x86_64";
  case DY_ARCH_AARCH64:
    return "aarch64";
  case DY_ARCH_RISCV64:
    return "riscv64";
  }
  return "?";
}

const char *const *dy_target_cpus(DyArch a, int *n) {
  static const char *names[3][NCPUS + 1];
  static int counts[3] = {-1, -1, -1};
  if (counts[a] < 0) {
    int k = 0;
    for (int i = 0; i < NCPUS; i++)
      if (cpus[i].arch == a)
        names[a][k++] = cpus[i].name;
    names[a][k] = NULL;
    counts[a] = k;
  }
  if (n)
    *n = counts[a];
  return names[a];
}

/* The triple's architecture: the part before the first '-'. */
static int arch_of(const char *triple, DyArch *out) {
  size_t n = strcspn(triple, "-");
  static const struct {
    const char *name;
    DyArch a;
  } names[] = {{"x86_64", DY_ARCH_X86_64},
               {"amd64", DY_ARCH_X86_64},
               {"aarch64", DY_ARCH_AARCH64},
               {"arm64", DY_ARCH_AARCH64},
               {"riscv64", DY_ARCH_RISCV64}};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
    if (strlen(names[i].name) == n && strncmp(triple, names[i].name, n) == 0) {
      *out = names[i].a;
      return 0;
    }
  return 1;
}

static int find_feature(DyArch a, const char *name, size_t n) {
  for (int i = 0; i < NFEATURES; i++)
    if (features[i].arch == a && strlen(features[i].name) == n &&
        strncmp(features[i].name, name, n) == 0)
      return i;
  return -1;
}

/* Sets on[i] for feature i and everything it implies. */
static void enable(DyArch a, int i, unsigned char *on) {
  if (on[i])
    return;
  on[i] = 1;
  for (const char *p = features[i].implies; *p;) {
    size_t n = strcspn(p, ",");
    int j = find_feature(a, p, n);
    if (j >= 0)
      enable(a, j, on);
    p += n + (p[n] == ',');
  }
}

/* Whether feature i implies feature j (directly or not). */
static int implies(DyArch a, int i, int j) {
  if (i == j)
    return 1;
  for (const char *p = features[i].implies; *p;) {
    size_t n = strcspn(p, ",");
    int k = find_feature(a, p, n);
    if (k >= 0 && implies(a, k, j))
      return 1;
    p += n + (p[n] == ',');
  }
  return 0;
}

static void list_names(char *buf, size_t n, DyArch a, int cpus_not_features) {
  size_t used = 0;
  buf[0] = 0;
  int count = cpus_not_features ? NCPUS : NFEATURES;
  for (int i = 0; i < count; i++) {
    DyArch ia = cpus_not_features ? cpus[i].arch : features[i].arch;
    const char *name = cpus_not_features ? cpus[i].name : features[i].name;
    if (ia != a)
      continue;
    int w = snprintf(buf + used, n - used, "%s%s", used ? ", " : "", name);
    if (w < 0 || (size_t)w >= n - used)
      break;
    used += (size_t)w;
  }
}

static void append(char *buf, size_t n, const char *sep, const char *s) {
  size_t used = strlen(buf);
  snprintf(buf + used, n - used, "%s%s", used ? sep : "", s);
}

static void derive(DyTarget *t) {
  unsigned f = t->feat;
  t->dot = 0;
  switch (t->arch) {
  case DY_ARCH_X86_64:
    if (f & (DY_FEAT_AVX512VNNI | DY_FEAT_AVXVNNI))
      t->dot |= DY_DOT_VPDPBUSD;
    if (f & DY_FEAT_AVX2)
      t->dot |= DY_DOT_PMADDUBSW;
    if (f & DY_FEAT_SSE2)
      t->dot |= DY_DOT_PMADDWD;
    t->vector_bits = (f & DY_FEAT_AVX512BW) ? 512
                     : (f & DY_FEAT_AVX2)   ? 256
                                            : 128;
    break;
  case DY_ARCH_AARCH64:
    if (f & DY_FEAT_NEON)
      t->dot |= DY_DOT_SMULL;
    if (f & DY_FEAT_DOTPROD)
      t->dot |= DY_DOT_SDOT;
    if (f & DY_FEAT_I8MM)
      t->dot |= DY_DOT_USDOT | DY_DOT_SMMLA;
    t->vector_bits = (f & DY_FEAT_NEON) ? 128 : 64;
    break;
  case DY_ARCH_RISCV64:
    if (f & DY_FEAT_RV_V)
      t->dot |= DY_DOT_VWMACC;
    t->vector_bits = !(f & DY_FEAT_RV_V)     ? 64
                     : (f & DY_FEAT_ZVL256B) ? 256
                                             : 128;
    break;
  }
}

static int init(DyTarget *t, const char *triple, const char *cpu,
                const char *mattr, int host, DyDiag *d, DyLoc loc) {
  memset(t, 0, sizeof *t);
  char names[1024];
  if (!triple || !*triple || arch_of(triple, &t->arch)) {
    dy_error(d, loc,
             "unknown target triple '%s' (known architectures: x86_64, "
             "aarch64, riscv64, e.g. aarch64-linux-gnu)",
             triple ? triple : "");
    return 1;
  }
  if (strlen(triple) >= sizeof t->triple) {
    dy_error(d, loc, "target triple '%.40s...' is too long", triple);
    return 1;
  }
  strcpy(t->triple, triple);
  if (!cpu || !*cpu)
    cpu = t->arch == DY_ARCH_X86_64    ? "x86-64"
          : t->arch == DY_ARCH_AARCH64 ? "generic"
                                       : "generic-rv64";
  const Cpu *c = NULL;
  for (int i = 0; i < NCPUS; i++)
    if (cpus[i].arch == t->arch && strcmp(cpus[i].name, cpu) == 0)
      c = &cpus[i];
  if (!c && !host) {
    list_names(names, sizeof names, t->arch, 1);
    dy_error(d, loc, "unknown CPU '%s' for %s (known: %s)", cpu,
             dy_arch_name(t->arch), names);
    return 1;
  }
  if (strlen(cpu) >= sizeof t->cpu) {
    dy_error(d, loc, "CPU name '%.40s...' is too long", cpu);
    return 1;
  }
  strcpy(t->cpu, cpu);
  unsigned char on[NFEATURES] = {0}, off[NFEATURES] = {0};
  if (c) {
    for (const char *p = c->features; *p;) {
      size_t n = strcspn(p, ",");
      int j = find_feature(t->arch, p, n);
      if (j >= 0)
        enable(t->arch, j, on);
      p += n + (p[n] == ',');
    }
    t->l1d_kb = c->l1;
    t->l2_kb = c->l2;
    t->cost.int8_macs = c->i8;
    t->cost.int16_macs = c->i16;
    t->cost.int4_macs = c->i8;
    t->cost.f32_flops = c->f32;
    t->cost.bytes_cycle = c->bw;
  } else {
    /* a host CPU dyad has no table row for: modest defaults */
    t->l1d_kb = 32;
    t->l2_kb = 512;
    t->cost = (DyTargetCost){16, 8, 16, 8, 32};
  }
  if (t->arch == DY_ARCH_X86_64)
    enable(t->arch, find_feature(t->arch, "sse2", 4), on);
  if (t->arch == DY_ARCH_AARCH64)
    enable(t->arch, find_feature(t->arch, "neon", 4), on);
  /* the list: +name or -name, comma-separated */
  char unknown[4096] = "";
  for (const char *p = mattr ? mattr : ""; *p;) {
    size_t n = strcspn(p, ",");
    if (n == 0) {
      p++;
      continue;
    }
    char sign = p[0];
    if ((sign != '+' && sign != '-') || n < 2) {
      dy_error(d, loc, "feature '%.*s' must start with '+' or '-'", (int)n, p);
      return 1;
    }
    int j = find_feature(t->arch, p + 1, n - 1);
    if (j < 0) {
      if (!host) {
        list_names(names, sizeof names, t->arch, 0);
        dy_error(d, loc, "unknown feature '%.*s' for %s (known: %s)",
                 (int)(n - 1), p + 1, dy_arch_name(t->arch), names);
        return 1;
      }
      /* the host's own features LLVM knows and dyad does not: pass on */
      char one[64];
      snprintf(one, sizeof one, "%.*s", (int)n < 63 ? (int)n : 63, p);
      if (strlen(unknown) + strlen(one) + 2 < sizeof unknown)
        append(unknown, sizeof unknown, ",", one);
    } else if (sign == '+') {
      enable(t->arch, j, on);
      off[j] = 0;
    } else {
      for (int i = 0; i < NFEATURES; i++)
        if (features[i].arch == t->arch && on[i] && implies(t->arch, i, j))
          on[i] = 0;
      off[j] = 1;
    }
    p += n + (p[n] == ',');
  }
  for (int i = 0; i < NFEATURES; i++) {
    if (features[i].arch != t->arch)
      continue;
    char one[64];
    if (on[i] || off[i]) {
      snprintf(one, sizeof one, "%c%s", on[i] ? '+' : '-', features[i].name);
      append(t->features, sizeof t->features, ",", one);
    }
    if (on[i])
      t->feat |= features[i].bit;
  }
  if (*unknown)
    append(t->features, sizeof t->features, ",", unknown);
  derive(t);
  return 0;
}

int dy_target_init(DyTarget *t, const char *triple, const char *cpu,
                   const char *mattr, DyDiag *d, DyLoc loc) {
  return init(t, triple, cpu, mattr, 0, d, loc);
}

int dy_target_init_host(DyTarget *t, const char *triple, const char *cpu,
                        const char *host_features, DyDiag *d, DyLoc loc) {
  return init(t, triple, cpu, host_features, 1, d, loc);
}

void dy_target_describe(const DyTarget *t, char *buf, size_t n) {
  static const char *const dots[] = {"pmaddubsw", "vpdpbusd", "smull",
                                     "sdot",      "usdot",    "smmla",
                                     "vwmacc",    "pmaddwd"};
  char dl[128] = "";
  for (int i = 0; i < 8; i++)
    if (t->dot & (1u << i))
      append(dl, sizeof dl, ",", dots[i]);
  snprintf(buf, n, "%s cpu=%s vector=%d dot=%s", dy_arch_name(t->arch), t->cpu,
           t->vector_bits, *dl ? dl : "none");
}

/* --- dot-product kernels (codegen/kernels/dot.c) --- */

static const DyDotKernel dot_kernels[] = {
    {"vpdpbusd.512", "dyk_dot_vpdpbusd_512", DY_ARCH_X86_64,
     DY_FEAT_AVX512F | DY_FEAT_AVX512BW | DY_FEAT_AVX512VNNI, DY_DOT_VPDPBUSD,
     16, 4, 1, 0, 'u', -128, 127},
    {"vpdpbusd.256", "dyk_dot_vpdpbusd_256", DY_ARCH_X86_64,
     DY_FEAT_AVX2 | DY_FEAT_AVXVNNI, DY_DOT_VPDPBUSD, 8, 4, 1, 0, 'u', -128,
     127},
    {"vpmaddubsw", "dyk_dot_vpmaddubsw", DY_ARCH_X86_64, DY_FEAT_AVX2,
     DY_DOT_PMADDUBSW, 8, 4, 1, 0, 'u', -64, 64},
    {"vpmaddwd", "dyk_dot_vpmaddwd", DY_ARCH_X86_64, DY_FEAT_AVX2,
     DY_DOT_PMADDUBSW, 8, 2, 1, 1, 0, -128, 127},
    {"pmaddwd", "dyk_dot_pmaddwd", DY_ARCH_X86_64, DY_FEAT_SSE2, DY_DOT_PMADDWD,
     4, 2, 1, 1, 0, -128, 127},
    {"smmla", "dyk_dot_smmla", DY_ARCH_AARCH64, DY_FEAT_I8MM, DY_DOT_SMMLA, 8,
     8, 2, 0, 's', -128, 127},
    {"usdot", "dyk_dot_usdot", DY_ARCH_AARCH64, DY_FEAT_I8MM, DY_DOT_USDOT, 16,
     4, 1, 0, 'u', -128, 127},
    {"sdot", "dyk_dot_sdot", DY_ARCH_AARCH64, DY_FEAT_DOTPROD, DY_DOT_SDOT, 16,
     4, 1, 0, 's', -128, 127},
    {"smull", "dyk_dot_smull", DY_ARCH_AARCH64, DY_FEAT_NEON, DY_DOT_SMULL, 1,
     16, 1, 0, 's', -128, 127},
    {"vwmacc", "dyk_dot_vwmacc", DY_ARCH_RISCV64, DY_FEAT_RV_V, DY_DOT_VWMACC,
     1, 8, 1, 0, 's', -128, 127},
};

const DyDotKernel *dy_dot_kernels(int *n) {
  *n = (int)(sizeof dot_kernels / sizeof dot_kernels[0]);
  return dot_kernels;
}

const DyDotKernel *dy_dot_kernel(const char *impl) {
  for (size_t i = 0; i < sizeof dot_kernels / sizeof dot_kernels[0]; i++)
    if (strcmp(dot_kernels[i].impl, impl) == 0)
      return &dot_kernels[i];
  return NULL;
}

int dy_dot_offset(const DyDotKernel *k, int x_unsigned) {
  if (k->act == 'u' && !x_unsigned)
    return 128;
  if (k->act == 's' && x_unsigned)
    return -128;
  return 0;
}
