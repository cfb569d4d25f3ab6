/* Test driver for a compiled model with one f32 input and one output:
 * reads a batch of N samples (.npy float32, N x the input's elements),
 * runs PFX_run_f32 on each and writes the N outputs as .npy float32
 * [N, output elements]. Built with -DMODEL_H='"m.h"' -DPFX=m -DPFX_UP=M.
 *
 * -DTHREADS: two threads, each with its own workspace, run the samples
 * interleaved, ten times over; every repetition must give the first's
 * outputs (the code is reentrant: no writable globals). -DALIAS: each
 * output is written over its own input buffer (the code reads no input
 * after it writes an output). */
#ifdef THREADS
#include <pthread.h>
#endif
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include MODEL_H

#define CAT2(a, b) a##b
#define CAT(a, b) CAT2(a, b)
/* the header's macros, named by -DPFX_UP=M (the upper-case prefix) */
#define IN_ELEMS CAT(PFX_UP, _INPUT0_ELEMS)
#define OUT_ELEMS CAT(PFX_UP, _OUTPUT0_ELEMS)
#define WS_SIZE CAT(PFX_UP, _WORKSPACE_SIZE)

#ifdef THREADS
typedef struct Work {
  const float *x;
  float *y;
  long n;
  int t, bad;
} Work;

/* Samples t, t + 2, ... ten times over in a workspace of its own. */
static void *worker(void *arg) {
  Work *w = arg;
  void *ws = aligned_alloc(64, WS_SIZE ? (WS_SIZE + 63) / 64 * 64 : 64);
  float got[OUT_ELEMS];
  for (int rep = 0; rep < 10; rep++)
    for (long i = w->t; i < w->n; i += 2) {
      const float *in[1] = {w->x + i * IN_ELEMS};
      float *out[1] = {rep ? got : w->y + i * OUT_ELEMS};
      if (CAT(PFX, _run_f32)(in, out, ws) != 0 ||
          (rep && memcmp(got, w->y + i * OUT_ELEMS, sizeof got) != 0))
        w->bad = 1;
    }
  free(ws);
  return NULL;
}
#endif

int main(int argc, char **argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: %s IN.npy OUT.npy\n", argv[0]);
    return 2;
  }
  FILE *f = fopen(argv[1], "rb");
  unsigned char pre[10];
  if (!f || fread(pre, 1, 10, f) != 10 || memcmp(pre, "\x93NUMPY\x01", 7))
    return 2;
  size_t hl = pre[8] | (size_t)pre[9] << 8;
  char *hdr = calloc(hl + 1, 1);
  if (fread(hdr, 1, hl, f) != hl || !strstr(hdr, "'<f4'"))
    return 2;
  long start = ftell(f);
  fseek(f, 0, SEEK_END);
  long n = (ftell(f) - start) / 4 / IN_ELEMS;
  fseek(f, start, SEEK_SET);
  float *x = malloc((size_t)n * IN_ELEMS * 4);
  float *y = malloc((size_t)n * OUT_ELEMS * 4);
  void *ws = aligned_alloc(64, WS_SIZE ? (WS_SIZE + 63) / 64 * 64 : 64);
  if (fread(x, 4, (size_t)n * IN_ELEMS, f) != (size_t)n * IN_ELEMS)
    return 2;
#ifdef THREADS
  free(ws);
  Work w[2];
  pthread_t th[2];
  for (int t = 0; t < 2; t++) {
    w[t] = (Work){x, y, n, t, 0};
    if (pthread_create(&th[t], NULL, worker, &w[t]))
      return 4;
  }
  for (int t = 0; t < 2; t++)
    if (pthread_join(th[t], NULL) || w[t].bad)
      return 5;
#else
  for (long i = 0; i < n; i++) {
    const float *in[1] = {x + i * IN_ELEMS};
    float *out[1] = {y + i * OUT_ELEMS};
#ifdef ALIAS
    float *buf = malloc((IN_ELEMS > OUT_ELEMS ? IN_ELEMS : OUT_ELEMS) * 4);
    memcpy(buf, in[0], IN_ELEMS * 4);
    in[0] = buf;
    out[0] = buf;
#endif
    if (CAT(PFX, _run_f32)(in, out, ws) != 0)
      return 3;
#ifdef ALIAS
    memcpy(y + i * OUT_ELEMS, buf, OUT_ELEMS * 4);
    free(buf);
#endif
  }
#endif
  FILE *o = fopen(argv[2], "wb");
  char h[128];
  int len = snprintf(h, sizeof h,
                     "{'descr': '<f4', 'fortran_order': False, 'shape': "
                     "(%ld, %d), }",
                     n, OUT_ELEMS);
  int total = (10 + len + 1 + 63) / 64 * 64;
  memset(h + len, ' ', (size_t)(total - 10 - len));
  h[total - 10 - 1] = '\n';
  fwrite("\x93NUMPY\x01\x00", 1, 8, o);
  unsigned char hb[2] = {(unsigned char)((total - 10) & 255),
                         (unsigned char)((total - 10) >> 8)};
  fwrite(hb, 1, 2, o);
  fwrite(h, 1, (size_t)(total - 10), o);
  fwrite(y, 4, (size_t)n * OUT_ELEMS, o);
  return fclose(o) != 0;
}
