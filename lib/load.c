/* Loading a model by its file's extension: each format has its own
 * frontend, and .dy text is the default. */
#include "dyad/load.h"

#include "dyad/onnx.h"
#include "dyad/text.h"

DyGraph *dy_load_model(const char *path, const DyOnnxOptions *opt, char **text,
                       DyDiag *d) {
  *text = NULL;
  /* one branch per format; a new one (.mlir) goes before the default */
  if (dy_is_onnx_path(path))
    return dy_onnx_import(path, opt, NULL, d);
  return dy_load_graph(path, NULL, text, d);
}
