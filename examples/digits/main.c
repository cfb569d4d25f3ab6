/* Classifies one 8x8 digit with the compiled model (dyad compile, README):
 * reads a float32 .npy of 64 pixels, prints the 10 probabilities and the
 * digit. Links model.o and nothing else from dyad. */
#include <stdio.h>

#include "digits.h"

int main(int argc, char **argv) {
  static float image[DIGITS_INPUT0_ELEMS], probs[DIGITS_OUTPUT0_ELEMS];
  static _Alignas(64) unsigned char workspace[DIGITS_WORKSPACE_SIZE];
  FILE *f = argc == 2 ? fopen(argv[1], "rb") : NULL;
  /* the pixels are the file's last 256 bytes (after the .npy header) */
  if (!f || fseek(f, -(long)sizeof image, SEEK_END) ||
      fread(image, sizeof image, 1, f) != 1) {
    fprintf(stderr, "usage: %s IMAGE.npy (1x8x8x1 float32)\n", argv[0]);
    return 1;
  }
  const float *in[] = {image};
  float *out[] = {probs};
  if (digits_run_f32(in, out, workspace) != 0)
    return 1;
  int best = 0;
  for (int i = 0; i < DIGITS_OUTPUT0_ELEMS; i++) {
    printf("p(%d) = %.6f\n", i, probs[i]);
    best = probs[i] > probs[best] ? i : best;
  }
  printf("digit: %d\n", best);
  return 0;
}
