/* Post-training quantization: calibrate, quantize, fold-scales.
 *
 * A float graph goes through three levels, each a plain .dy graph:
 *   calibrated: every f32 activation carries `range = [lo, hi]`;
 *   quantized:  QDQ form (quantize / dequantize around the float ops), the
 *               simulated-quantization (fake-quant) graph;
 *   integer:    fold-scales has replaced every dequantize -> op -> quantize
 *               island by integer ops and dyadic requants; only the entry
 *               quantize and the exit dequantize touch f32.
 * docs/quantization.md describes the schemes and the arithmetic.
 */
#ifndef DYAD_QUANT_H
#define DYAD_QUANT_H

#include "dyad/interp.h"
#include "dyad/ir.h"
#include "dyad/requant.h"

/* --- calibrate --- */

typedef enum DyObserver {
  DY_OBS_MINMAX,         /* smallest and largest value seen */
  DY_OBS_MOVING_AVERAGE, /* per-sample min / max, exponential moving average */
  DY_OBS_PERCENTILE,     /* the given percentile of each tail */
  DY_OBS_ENTROPY,        /* KL divergence over a histogram (TensorRT) */
  DY_OBS_MSE             /* clipping range of least expected squared error */
} DyObserver;

typedef struct DyCalibOptions {
  DyObserver observer;
  double percentile; /* 99.99: keep this percentage of each tail */
  double averaging;  /* 0.01: moving-average constant */
  int bins;          /* 2048: histogram bins (percentile, entropy, mse) */
  int bits;          /* 8: the activation bits entropy and mse aim for */
  int progress;      /* report progress on stderr */
  const char *data;  /* the calibrate pass: where the inputs are (a .npy
                        file or a directory of them) */
} DyCalibOptions;

void dy_calib_options_default(DyCalibOptions *o);
/* "minmax", "moving-average", "percentile", "entropy", "mse" */
int dy_observer_from_name(const char *s, DyObserver *out);
const char *dy_observer_name(DyObserver o);

/* Calibration inputs: nsamples runs of the graph, each g->ninputs tensors
 * (tensors[s * ninputs + i]). */
typedef struct DyCalibData {
  int nsamples, ninputs;
  DyTensor *tensors;
} DyCalibData;

/* Loads calibration data for g's f32 inputs from `path`: one .npy file
 * whose first axis is the batch (the graph's batch dimension must be 1;
 * each slice is one run) or holding exactly one input, or a directory of
 * such files (sorted by name). Graphs with several inputs are not
 * supported here. */
int dy_calib_data_load(const DyGraph *g, const char *path, DyCalibData *out,
                       DyDiag *d);
void dy_calib_data_free(DyCalibData *c);

/* Runs g in float over every sample and sets `range = [lo, hi]` on every
 * f32 graph input and every op whose f32 result depends on a graph input. */
int dy_calibrate(DyGraph *g, const DyCalibData *data, const DyCalibOptions *o,
                 DyDiag *d);

/* --- quantize --- */

typedef enum DyGranularity {
  DY_GRAN_PER_TENSOR,
  DY_GRAN_PER_CHANNEL,
  DY_GRAN_PER_GROUP /* blocks of group_size along the reduction axis */
} DyGranularity;

typedef enum DyWeightRounding {
  DY_WROUND_HALF_EVEN,
  DY_WROUND_HALF_AWAY,
  DY_WROUND_STOCHASTIC /* floor(x + u), u uniform in [0, 1), seeded */
} DyWeightRounding;

typedef struct DyQuantScheme {
  int bits;      /* weights 2..8, activations 8 or 16 */
  int is_signed; /* storage iN (else uN) */
  int symmetric; /* zero point 0 (signed) or 2^(bits-1) (unsigned) */
  int narrow;    /* drop the lowest value: [-127, 127] for i8 */
} DyQuantScheme;

typedef struct DyQuantOptions {
  DyQuantScheme weights, acts;
  DyGranularity granularity;
  int group_size; /* per-group: 32 */
  DyWeightRounding rounding;
  uint64_t seed;  /* stochastic rounding */
  int dynamic;    /* activations quantized at run time (matmul and conv2d
                     inputs, as ONNX's DynamicQuantizeLinear); no calibration */
  int integer_io; /* integer graph inputs and outputs instead of f32 */
  const char *const *skip_names; /* ops whose result has one of these names
                                    stay float (NULL-terminated, may be NULL) */
  const char *const *skip_ops;   /* op kinds by name, e.g. "softmax" */
} DyQuantOptions;

/* TFLite's full-integer defaults: int8 weights per channel, symmetric,
 * narrow range; int8 asymmetric activations. */
void dy_quant_options_default(DyQuantOptions *o);

/* Rewrites a calibrated float graph into QDQ form. Ops that already sit
 * between dequantize and quantize (an imported QDQ model) keep their
 * parameters. */
int dy_quantize(DyGraph *g, const DyQuantOptions *o, DyDiag *d);

/* The storage type of a scheme and its [qmin, qmax] (lib/qparams.c). */
DyElemType dy_scheme_range(const DyQuantScheme *s, int64_t *qmin,
                           int64_t *qmax);
/* Scale and zero point for the range [lo, hi] (widened to include 0). */
void dy_choose_qparams(const DyQuantScheme *s, double lo, double hi,
                       double *scale, int64_t *zp, int64_t *qmin,
                       int64_t *qmax);

/* --- fold-scales --- */

typedef struct DyFoldOptions {
  DyRounding rounding; /* requant rounding */
  int float_requant;   /* keep "float" requants (for comparison): not
                          integer-only */
} DyFoldOptions;

void dy_fold_options_default(DyFoldOptions *o);
int dy_fold_scales(DyGraph *g, const DyFoldOptions *o, DyDiag *d);

#endif
