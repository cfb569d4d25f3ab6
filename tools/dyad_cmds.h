/* Subcommands of the dyad driver that live outside tools/dyad.c. */
#ifndef DYAD_TOOLS_CMDS_H
#define DYAD_TOOLS_CMDS_H

#include <stdio.h>

#include "dyad/diag.h"

void dyad_usage(FILE *out);
int dyad_cmd_quantize(int argc, char **argv, DyDiag *d);
int dyad_cmd_report(int argc, char **argv, DyDiag *d);

#endif
