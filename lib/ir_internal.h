/* Shared between the files of the IR core (lib/ir.c, lib/graph_util.c):
 * what a clone needs of the constant-data buffers, whose layout stays
 * private to lib/ir.c. Not a public header. */
#ifndef DYAD_IR_INTERNAL_H
#define DYAD_IR_INTERNAL_H

#include "dyad/ir.h"

/* Makes g hold a reference to b as well (constant data is immutable, so a
 * graph and its clones share it; the last graph destroyed frees it).
 * Returns 1, holding nothing, when out of memory. */
int dy_graph_share_blob(DyGraph *g, DyBlob *b);

#endif
