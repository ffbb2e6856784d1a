/* cnn.h - public API of cnncore, the CNN graph engine behind the cnn* GStreamer elements.
 *
 * A worked example (error handling shortened):
 *
 *   GError *err = NULL;
 *   cnn_model *model = cnn_model_load ("squeezenet.onnx", &err);
 *   if (!model) { g_printerr ("%s\n", err->message); return 1; }
 *
 *   cnn_session_options opts = CNN_SESSION_OPTIONS_INIT;
 *   opts.threads = 2;
 *   cnn_session *sess = cnn_session_new (model, &opts, &err);
 *
 *   cnn_tensor in = { CNN_DTYPE_FLOAT32, 4, { 1, 3, 224, 224 }, pixels };
 *   if (!cnn_session_run (sess, &in, 1, &err)) ...
 *   const cnn_tensor *out = cnn_session_get_output (sess, 0);
 *   const float *probs = out->data;
 *
 *   cnn_session_free (sess);
 *   cnn_model_unref (model);
 *
 * Threading: a cnn_model is read-only once loaded and may be shared by any
 * number of threads (it is reference counted).  A cnn_session holds all the
 * state of one run (shapes, folded constants, activation arena) and must be
 * used by one thread at a time; create one session per streaming thread.
 *
 * Errors: every fallible call takes a GError ** in the CNN_ERROR domain.  The
 * message names the node, its op type and the shapes at fault where there is
 * one.
 *
 * Environment: CNN_NO_AVX512=1 keeps the AVX-512 kernels off (the AVX2 ones
 * run where the CPU has them, else OpenBLAS and the portable loops);
 * CNN_NO_AVX2=1 keeps the AVX2 ones off; CNN_NO_IMPLICIT=1 turns the
 * implicit-GEMM convolution off (im2col + GEMM runs instead: for
 * comparisons);
 * CNN_WINOGRAD=0 keeps 3x3 stride-1 convolutions off the Winograd
 * F(4x4,3x3) path, which they take where it is faster (4 input channels or
 * more, 9 or more 4x4 output tiles; errors a few times 1e-6 of the output's
 * range instead of 1e-7); CNN_WINOGRAD=1 sends every one there.
 */
#ifndef CNN_H
#define CNN_H

#include <glib.h>
#include <stddef.h>
#include <stdint.h>

G_BEGIN_DECLS

#define CNN_MAX_DIMS 8

/* Element types.  The values are ONNX's TensorProto.DataType numbers. */
typedef enum {
  CNN_DTYPE_UNDEFINED = 0,
  CNN_DTYPE_FLOAT32 = 1,
  CNN_DTYPE_UINT8 = 2,
  CNN_DTYPE_INT8 = 3,
  CNN_DTYPE_INT32 = 6,
  CNN_DTYPE_INT64 = 7,
  CNN_DTYPE_BOOL = 9,           /* one byte per element, 0 or 1 */
  CNN_DTYPE_FLOAT16 = 10,       /* only in files: converted to FLOAT32 on load */
} cnn_dtype;

/* Returns the ONNX name of @dtype ("float", "int64", ...). */
const char *cnn_dtype_name (cnn_dtype dtype);
/* Size in bytes of one element, 0 for unknown types. */
size_t cnn_dtype_size (cnn_dtype dtype);

/* A dense row-major tensor.  @data is not owned by the struct. */
typedef struct {
  cnn_dtype dtype;
  int ndim;
  int64_t dims[CNN_MAX_DIMS];
  void *data;
} cnn_tensor;

/* Number of elements of @t (1 for a scalar). */
int64_t cnn_tensor_numel (const cnn_tensor *t);

/* A model input or output as declared in the file.  A dimension that is
 * symbolic (a batch dimension "N", say) or unknown is -1, with its name in
 * @dim_names[i] when the file gives one. */
typedef struct {
  const char *name;
  cnn_dtype dtype;              /* FLOAT16 in the file is reported as FLOAT32 */
  cnn_dtype file_dtype;         /* the type written in the file */
  int ndim;
  int64_t dims[CNN_MAX_DIMS];
  const char *dim_names[CNN_MAX_DIMS];
} cnn_tensor_info;

#define CNN_ERROR (cnn_error_quark ())
GQuark cnn_error_quark (void);

typedef enum {
  CNN_ERROR_IO,                 /* file missing or unreadable */
  CNN_ERROR_INVALID_MODEL,      /* malformed protobuf, bad graph, bad tensor data */
  CNN_ERROR_UNSUPPORTED,        /* op, attribute or type not implemented */
  CNN_ERROR_SHAPE,              /* shapes do not fit the op */
  CNN_ERROR_INVALID_ARGUMENT,   /* wrong inputs given to a call */
  CNN_ERROR_NO_MEMORY,          /* an allocation failed or is absurdly large */
  CNN_ERROR_BACKEND,            /* backend unavailable or failed */
} cnn_error_code;

typedef struct cnn_model cnn_model;
typedef struct cnn_session cnn_session;

/* ---- models ------------------------------------------------------------- */

/* Loads an ONNX model (opset 7 to 17).  External data files are looked up
 * next to @path and must stay inside its folder.  Every op the engine does not
 * support is listed in one error.  Returns a new reference or NULL. */
cnn_model *cnn_model_load (const char *path, GError **error);

/* Same from a buffer; @base_dir is where external data live (may be NULL:
 * then a model with external data fails to load). */
cnn_model *cnn_model_load_from_memory (const void *data, size_t size,
    const char *base_dir, GError **error);

cnn_model *cnn_model_ref (cnn_model *model);
void cnn_model_unref (cnn_model *model);

int cnn_model_get_n_inputs (const cnn_model *model);
int cnn_model_get_n_outputs (const cnn_model *model);
/* Returned pointers live as long as the model. */
const cnn_tensor_info *cnn_model_get_input (const cnn_model *model, int index);
const cnn_tensor_info *cnn_model_get_output (const cnn_model *model, int index);
/* Index of the input/output called @name, or -1. */
int cnn_model_find_input (const cnn_model *model, const char *name);
int cnn_model_find_output (const cnn_model *model, const char *name);

/* Facts about the file and its graph, for tools. */
typedef struct {
  int64_t ir_version;
  int64_t opset;                /* default domain opset */
  const char *producer;         /* may be "" */
  int n_nodes_file;             /* nodes in the file */
  int n_nodes;                  /* nodes after load-time optimization */
  int64_t n_params;             /* elements in initializers */
  int n_folded_batchnorms;      /* BatchNormalization folded into Conv */
  int n_fused_activations;      /* activations fused into Conv/Gemm/MatMul */
} cnn_model_stats;

void cnn_model_get_stats (const cnn_model *model, cnn_model_stats *stats);

/* Calls @func for each op type of the file with the number of its nodes. */
void cnn_model_foreach_op_type (const cnn_model *model,
    void (*func) (const char *op_type, int count, gpointer user_data),
    gpointer user_data);

/* ---- sessions ----------------------------------------------------------- */

typedef struct {
  int threads;                  /* 0: all cores */
  /* "cpu", "cuda" (when compiled in) or "auto" (NULL): CUDA when a GPU is
   * there, else the CPU with a message saying why */
  const char *backend;
  gboolean reference;           /* run the plain reference kernels only (CPU) */
  int64_t default_dim;          /* value for symbolic dims not set by inputs (default 1) */
  /* arithmetic of the CUDA backend: "fp32" (NULL: exact float32 math),
   * "tf32" (tensor cores on float32 data), "fp16" (float tensors stored as
   * half on the GPU, tensor cores, float accumulation; inputs and outputs
   * stay float32); the CPU always computes fp32 */
  const char *precision;
} cnn_session_options;

#define CNN_SESSION_OPTIONS_INIT { 0, NULL, FALSE, 1, NULL }

/* Names of the compiled-in backends, NULL-terminated, "cpu" first. */
const char *const *cnn_backend_list (void);

/* Creates a run context for @model (takes its own reference).  Plans the
 * graph for the declared input shapes, symbolic dims set to
 * opts->default_dim; a later run with other shapes plans again. */
cnn_session *cnn_session_new (cnn_model *model, const cnn_session_options *opts,
    GError **error);
void cnn_session_free (cnn_session *session);

/* Name of the backend the session runs on. */
const char *cnn_session_get_backend (const cnn_session *session);

/* Runs the model.  @inputs are in the model's input order; their dtype must
 * be the input's dtype and their shape must fit the declared one.  Returns
 * FALSE and sets @error on failure.  On the CPU a batch whose items the
 * graph keeps apart, with 1 MiB of activations or more per item, runs item
 * by item, each in cache (the same results; the stats then give one item's
 * activation memory and the batch's FLOPs; CNN_BATCH_WHOLE=1 keeps batches
 * whole).  On T threads such a batch runs T items at a time, one a thread,
 * each thread on a one-thread session of its own made at the first such run
 * (T copies of one item's activation memory; one of the prepared weights,
 * which the first lends the others, unless input values shape the plan;
 * the items left over, fewer than T, and every item while profiling, run
 * on all threads in turn; CNN_ITEMS_APART=0 runs them all in turn). */
gboolean cnn_session_run (cnn_session *session, const cnn_tensor *inputs,
    int n_inputs, GError **error);

/* The i-th output of the last run (or of the plan, with data NULL, before
 * any run).  Valid until the next run or cnn_session_free(). */
const cnn_tensor *cnn_session_get_output (const cnn_session *session, int index);

typedef struct {
  int n_exec_nodes;             /* nodes run per inference (after folding) */
  int64_t flops;                /* multiply-adds count twice */
  size_t peak_activation_bytes; /* size of the shared activation arena */
  size_t naive_activation_bytes;/* what one buffer per tensor would take */
  size_t constant_bytes;        /* weights and folded constants */
  int64_t batch_items;          /* a batch run item by item (see cnn_session_run()): its size; else 0 */
} cnn_session_stats;

void cnn_session_get_stats (const cnn_session *session, cnn_session_stats *stats);

/* Per-node timings of the last run, for profiling tools: calls @func for each
 * executed node in order with its name, op type, output shape and seconds. */
void cnn_session_foreach_node_time (const cnn_session *session,
    void (*func) (const char *name, const char *op_type,
        const cnn_tensor *output, double seconds, gpointer user_data),
    gpointer user_data);

/* Turns per-node timing on or off (off by default). */
void cnn_session_set_profiling (cnn_session *session, gboolean enable);

/* CPU threads the session computes on (the caller's included). */
int cnn_session_get_threads (const cnn_session *session);

/* Runs @func (i, thread, data) for every i in [0, n) on the session's CPU
 * threads, @thread in [0, cnn_session_get_threads()) naming the thread (for
 * per-thread scratch); serially with one thread.  For work around a run that
 * should use the threads the session was given, such as pre-processing; not
 * while the session runs in another thread. */
void cnn_session_parallel_for (cnn_session *session, int n,
    void (*func) (int i, int thread, gpointer data), gpointer data);

/* Host memory for input data that the session's backend copies fastest:
 * pinned (page-locked) memory on CUDA, plain memory on the CPU.  NULL when
 * it cannot be had; free it with cnn_session_free_host before the session. */
void *cnn_session_alloc_host (cnn_session *session, size_t size);
void cnn_session_free_host (cnn_session *session, void *mem);

/* ---- images as inputs -------------------------------------------------- */

/* An 8-bit picture in host memory: packed RGB (any byte order, 3 or 4 bytes
 * a pixel) or YUV 4:2:0 (I420, NV12: chroma rows and columns at half
 * resolution).  Component k (R, G, B, or Y, U, V) of pixel (x, y) is the
 * byte plane[comp_plane[k]] + row * stride[comp_plane[k]] + col *
 * comp_pstride[k] + comp_offset[k], with row, col = y, x, or y / 2, x / 2
 * for YUV chroma. */
typedef struct {
  int width, height;
  gboolean yuv;
  const uint8_t *plane[3];
  int stride[3];
  int comp_plane[3], comp_offset[3], comp_pstride[3];
  /* YUV -> RGB: y' = (Y - yoff) * ymul, u' = (U - coff) * cmul, v' likewise;
   * R = y' + rv v', G = y' + gu u' + gv v', B = y' + bu u', each rounded to a
   * byte before scaling */
  float yoff, ymul, coff, cmul, rv, gu, gv, bu;
} cnn_image;

/* How a region of an image becomes one item of an input tensor: tensor
 * pixel (i, j) shows region position ((i + 0.5 - off_x) / scale_x - 0.5,
 * (j + 0.5 - off_y) / scale_y - 0.5), bilinear between pixel centres
 * (clamped at the edges); pixels outside the region's picture (letterbox
 * bars) get pad_value.  A value is (byte value - mean[c]) / std[c]; one
 * channel is the mean of R, G and B. */
typedef struct {
  int x, y, w, h;               /* the region, inside the image */
  double scale_x, scale_y, off_x, off_y;
  gboolean nhwc;                /* tensor layout N,H,W,C, else N,C,H,W */
  gboolean bgr;                 /* channel order B, G, R */
  float mean[3], std[3];
  float pad_value;              /* in byte units, like the pixels */
} cnn_image_map;

/* Tensor position @i on one axis of a map (offset @off, scale @scale,
 * region length @len) blends region positions *a and *b by *w; TRUE when it
 * falls on the picture rather than on a letterbox bar.  For faster paths
 * that must sample as the reference does. */
gboolean cnn_image_taps (int i, double off, double scale, int len, int *a, int *b, float *w);

/* The plain reference: writes @img through @map into @out, one item of
 * @channels (1 or 3) x @height x @width floats in the map's layout. */
void cnn_image_to_tensor (const cnn_image *img, const cnn_image_map *map, int channels,
    int height, int width, float *out);

/* Pre-processing on the session's backend (a CUDA kernel on the GPU, where
 * only the region's rows travel, not a float tensor): writes item @item of
 * input @input, a float32 [N, C, H, W] tensor ([N, H, W, C] with map->nhwc)
 * with C 1 or 3, from @img.  @inputs give the shapes of the next run, as to
 * cnn_session_run(); the next cnn_session_run() whose inputs[@input].data is
 * NULL reads the items set since the last run, the others zero.  @img is
 * read before this returns. */
gboolean cnn_session_set_input_image (cnn_session *session, const cnn_tensor *inputs,
    int n_inputs, int input, int item, const cnn_image *img, const cnn_image_map *map,
    GError **error);

/* ---- helpers ------------------------------------------------------------ */

/* Reads a serialized ONNX TensorProto (the .pb files of test_data_set_N folders) into
 * a newly allocated tensor (free with cnn_tensor_free_data()).  FLOAT16 and
 * DOUBLE data become FLOAT32. */
gboolean cnn_tensor_load_pb (const char *path, cnn_tensor *tensor, char **name,
    GError **error);
void cnn_tensor_free_data (cnn_tensor *tensor);

/* IEEE half <-> float. */
float cnn_half_to_float (uint16_t h);
uint16_t cnn_float_to_half (float f);

G_END_DECLS

#endif /* CNN_H */

/* detector outputs to boxes (outside the guard: it includes this header) */
#include "cnn-detect.h"
