/* The dyad driver's commands: a table of {name, run, usage} rows that
 * tools/dyad.c reads for dispatch and --help. A command lives in its own
 * file and never calls back into the driver. */
#ifndef DYAD_TOOLS_CMDS_H
#define DYAD_TOOLS_CMDS_H

#include <stdio.h>

#include "dyad/diag.h"

/* A command's run returns 0 (success), 1 (an error, reported through d),
 * or DYAD_CMD_HELP when it was given --help (the driver prints the usage
 * and exits with 0). */
#define DYAD_CMD_HELP 2

typedef struct DyadCommand {
  const char *name;
  int (*run)(int argc, char **argv, DyDiag *d);
  /* Writes the command's lines of `dyad --help`. */
  void (*usage)(FILE *out);
} DyadCommand;

extern const DyadCommand dyad_cmd_run, dyad_cmd_import;      /* tools/dyad.c */
extern const DyadCommand dyad_cmd_quantize, dyad_cmd_report; /* dyad_quant.c */
extern const DyadCommand dyad_cmd_compile; /* dyad_compile.c */

struct DyGraph;
/* dyad compile's quantization (dyad_quant.c): calibrates the float graph g
 * on `calib` (NULL: none, for dynamic activations or a QDQ model) and
 * quantizes it to the integer level as `dyad quantize` does, with the
 * scheme options opts[0..nopts) ("--key=value"). Returns the new graph (g
 * is left calibrated), or NULL after an error. */
struct DyGraph *dyad_quantize_graph(struct DyGraph *g, const char *calib,
                                    int nopts, char *const *opts, DyDiag *d);
/* The scheme options' lines of `dyad --help`. */
void dyad_usage_scheme(FILE *out);

#endif
