/* libFuzzer target for the .dy parser, verifier and printer.
 *
 * Every input is parsed (external data is never read and constants are
 * capped at 1 MiB); a graph that parses is verified and printed. A graph
 * that verifies must survive print -> parse unchanged (dy_graph_equal), and
 * printing the reparsed graph must give the same text: anything else is a
 * round-trip bug and stops the fuzzer. Every parsed graph must also equal
 * its clone.
 *
 * Build with -DDYAD_FUZZ=ON and clang; see test/fuzz/run.sh.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dyad/ir.h"
#include "dyad/text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void quiet(void *ctx, DySeverity sev, DyLoc loc, const char *msg) {}

/* Prints g; NULL on a print error. Out of memory is not a finding. */
static char *print_to_buffer(const DyGraph *g, size_t *len) {
  return dy_print_graph_to_string(g, NULL, len);
}

/* Shows the texts involved in a broken invariant, then stops. */
static void broken(const char *what, const char *text, size_t len,
                   const char *printed, const char *reprinted)
    __attribute__((noreturn));
static void broken(const char *what, const char *text, size_t len,
                   const char *printed, const char *reprinted) {
  fprintf(stderr, "parse_fuzzer: %s\n--- input ---\n%.*s\n", what, (int)len,
          text);
  if (printed)
    fprintf(stderr, "--- printed ---\n%s", printed);
  if (reprinted)
    fprintf(stderr, "--- printed again ---\n%s", reprinted);
  __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  DyParseOptions opt;
  memset(&opt, 0, sizeof opt);
  opt.max_const_bytes = (size_t)1 << 20;
  opt.no_external = 1;

  DyDiag d;
  dy_diag_init(&d);
  d.fn = quiet;
  const char *text = (const char *)data;
  DyGraph *g = dy_parse_graph("fuzz.dy", text, size, &opt, &d);
  if (!g) {
    dy_diag_fini(&d);
    return 0;
  }
  int verified = dy_graph_verify(g, &d) == 0;

  DyGraph *c = dy_graph_clone(g);
  if (!dy_graph_equal(g, c))
    broken("the clone differs from the graph", text, size, NULL, NULL);
  dy_graph_destroy(c);

  size_t len;
  char *printed = print_to_buffer(g, &len);
  if (!printed)
    broken("the parsed graph does not print", text, size, NULL, NULL);

  if (verified) {
    DyDiag d2;
    dy_diag_init(&d2);
    d2.fn = quiet;
    DyGraph *h = dy_parse_graph("printed.dy", printed, len, &opt, &d2);
    if (!h)
      broken("the printed graph does not parse", text, size, printed, NULL);
    if (!dy_graph_equal(g, h))
      broken("print -> parse gives a different graph", text, size, printed,
             NULL);
    size_t len2;
    char *reprinted = print_to_buffer(h, &len2);
    if (!reprinted || len2 != len || memcmp(printed, reprinted, len) != 0)
      broken("printing the reparsed graph gives other text", text, size,
             printed, reprinted);
    free(reprinted);
    dy_graph_destroy(h);
    dy_diag_fini(&d2);
  }

  free(printed);
  dy_graph_destroy(g);
  dy_diag_fini(&d);
  return 0;
}
