/* Loading a model for the tools, whatever its format (by extension). */
#ifndef DYAD_LOAD_H
#define DYAD_LOAD_H

#include "dyad/ir.h"

struct DyOnnxOptions;

/* Loads a model for the tools: .onnx through the importer (with opt), any
 * other file as .dy text (verified). *text receives the .dy text that d's
 * carets refer to (NULL for ONNX); free it after d. */
DyGraph *dy_load_model(const char *path, const struct DyOnnxOptions *opt,
                       char **text, DyDiag *d);

#endif
