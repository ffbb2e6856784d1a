/* cnn-private.h - internal structures shared by the loader, the graph passes,
 * the session and the ops.  Not installed. */
#ifndef CNN_PRIVATE_H
#define CNN_PRIVATE_H

#include "cnn.h"
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* Status codes inside the core; negative means failure.  They map onto
 * cnn_error_code at the library boundary. */
typedef enum {
  CNN_OK = 0,
  CNN_E_INVALID = -1,           /* malformed model */
  CNN_E_UNSUPPORTED = -2,
  CNN_E_SHAPE = -3,
  CNN_E_NOMEM = -4,
  CNN_E_IO = -5,
  CNN_E_BACKEND = -6,
  CNN_E_ARG = -7,
} cnn_status;

typedef struct cnn_threadpool cnn_threadpool;

/* Hot loops are compiled for AVX-512 and AVX2+FMA too, picked at load time
 * (GCC function multiversioning); other compilers get one portable copy. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__)
#define CNN_MULTIVERSION __attribute__ ((target_clones ("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define CNN_MULTIVERSION
#endif

/* Largest tensor we accept: 4 GiB.  Guards size arithmetic against overflow
 * and hostile models against huge allocations. */
#define CNN_MAX_TENSOR_BYTES (INT64_C (1) << 32)

/* ---- the op table (X-macro) ------------------------------------------- */

typedef enum {
#define CNN_OP(e, onnx_name, fn) CNN_OP_##e,
#include "ops.def"
#undef CNN_OP
  CNN_OP_COUNT
} cnn_op;

/* ---- attributes as read from the file ---------------------------------- */

typedef enum {
  CNN_ATTR_UNDEFINED, CNN_ATTR_FLOAT, CNN_ATTR_INT, CNN_ATTR_STRING,
  CNN_ATTR_TENSOR, CNN_ATTR_FLOATS, CNN_ATTR_INTS, CNN_ATTR_OTHER,
} cnn_attr_type;

typedef struct {
  char *name;
  cnn_attr_type type;
  float f;
  int64_t i;
  char *s;
  int n;                        /* for FLOATS / INTS */
  float *floats;
  int64_t *ints;
  cnn_tensor t;                 /* for TENSOR: data owned */
} cnn_attr;

/* ---- fused activations --------------------------------------------------- */

typedef enum {
  CNN_ACT_NONE, CNN_ACT_RELU, CNN_ACT_LEAKY_RELU, CNN_ACT_CLIP,
  CNN_ACT_SIGMOID, CNN_ACT_TANH, CNN_ACT_HARD_SWISH, CNN_ACT_SILU,
} cnn_act_type;

typedef struct {
  cnn_act_type type;
  float alpha, beta;            /* leaky slope; clip min/max */
} cnn_act;

/* Applies @act to n floats in place. */
void cnn_act_apply (const cnn_act *act, float *x, int64_t n);
/* The same for the fast kernels: Sigmoid, SiLU and Tanh with AVX-512 where
 * the CPU has it (cpu/activation_avx512.c), within a few ulp of
 * cnn_act_apply(); the rest as cnn_act_apply(). */
void cnn_act_apply_fast (const cnn_act *act, float *x, int64_t n);
/* e^x (cnn_act_map_fast: the sigmoid or tanh @t) of @n floats from @in into
 * @out (which may be @in) with AVX-512, or false where the CPU lacks it. */
bool cnn_exp_fast (const float *in, float *out, int64_t n);
bool cnn_act_map_fast (cnn_act_type t, const float *in, float *out, int64_t n);

/* The activations cheap enough to apply value by value where the value is
 * written (cnn_act_one), rather than in a pass of their own. */
static inline bool
cnn_act_is_simple (cnn_act_type t)
{
  return t == CNN_ACT_NONE || t == CNN_ACT_RELU || t == CNN_ACT_LEAKY_RELU || t == CNN_ACT_CLIP;
}

/* A simple activation @t (slope or bounds @alpha, @beta) of @v, as
 * cnn_act_apply() computes it. */
static inline float
cnn_act_one (cnn_act_type t, float alpha, float beta, float v)
{
  switch (t) {
    case CNN_ACT_RELU:
      return v > 0.f ? v : 0.f;
    case CNN_ACT_LEAKY_RELU:
      return v >= 0.f ? v : v * alpha;
    case CNN_ACT_CLIP:
      return v < alpha ? alpha : (v > beta ? beta : v);
    default:
      return v;
  }
}

/* Runs the statement MACRO (T) with T the simple activation @t as a
 * constant (Relu, LeakyRelu or Clip; any other as none), so that a loop of
 * cnn_act_one (T, ...) compiles to straight vector code without a switch
 * per value. */
#define CNN_ACT_SIMPLE_CASES(t, MACRO) do { \
    switch (t) { \
      case CNN_ACT_RELU: MACRO (CNN_ACT_RELU); break; \
      case CNN_ACT_LEAKY_RELU: MACRO (CNN_ACT_LEAKY_RELU); break; \
      case CNN_ACT_CLIP: MACRO (CNN_ACT_CLIP); break; \
      default: MACRO (CNN_ACT_NONE); break; \
    } \
  } while (0)

/* ---- the graph ----------------------------------------------------------- */

typedef struct {
  char *name;
  cnn_dtype dtype;              /* UNDEFINED until known */
  cnn_dtype file_dtype;
  int ndim;                     /* -1: unknown */
  int64_t dims[CNN_MAX_DIMS];   /* -1: symbolic or unknown */
  char *dim_names[CNN_MAX_DIMS];
  void *const_data;             /* initializer / Constant output, owned */
  int producer;                 /* node index, -1 for inputs and constants */
  int n_consumers;
  int input_index;              /* -1 unless a graph input */
  int output_index;             /* -1 unless a graph output */
  bool feeds_shape;             /* a graph input whose values shape the plan */
} cnn_value;

typedef struct cnn_node {
  char *name;
  char *op_type;
  cnn_op op;
  int opset;
  int n_in, n_out;
  int *in;                      /* value indices, -1 for an absent optional input */
  int *out;
  int n_attrs;
  cnn_attr *attrs;
  void *params;                 /* the op's own typed params, parsed at load */
  cnn_act act;                  /* activation fused into this node */
  bool dead;                    /* removed by a graph pass */
} cnn_node;

struct cnn_model {
  gint ref_count;
  GPtrArray *values;            /* cnn_value* */
  GPtrArray *nodes;             /* cnn_node*, in topological order */
  GHashTable *value_by_name;    /* name -> index+1 */
  int n_inputs, n_outputs;
  int *input_values, *output_values;
  cnn_tensor_info *inputs, *outputs;
  cnn_model_stats stats;
  char *producer;
  GHashTable *op_counts;        /* op type -> count in the file */
  char *base_dir;
};

static inline cnn_value *
cnn_model_value (const cnn_model *m, int i)
{
  return g_ptr_array_index (m->values, i);
}

static inline cnn_node *
cnn_model_node (const cnn_model *m, int i)
{
  return g_ptr_array_index (m->nodes, i);
}

/* Adds a value, returns its index. */
int cnn_model_add_value (cnn_model *m, const char *name);

/* Graph passes run at load (graph.c). */
cnn_status cnn_graph_sort (cnn_model *m, GString *err);
void cnn_graph_optimize (cnn_model *m);
void cnn_graph_count_consumers (cnn_model *m);
void cnn_graph_mark_shape_inputs (cnn_model *m);

/* ---- running one node ---------------------------------------------------- */

/* What an op's functions see: the node, its tensors, scratch memory and a
 * place for an error message. */
typedef struct cnn_exec {
  const cnn_node *node;
  const void *params;
  int n_in, n_out;
  cnn_tensor **in;              /* NULL entries for absent optional inputs */
  cnn_tensor **out;
  bool *in_const;               /* input data known at plan time */
  void *scratch;
  size_t scratch_size;
  cnn_threadpool *pool;         /* NULL: run serially */
  int threads;                  /* size of the pool */
  GString *err;
  /* plan-time fusion: the activation to apply (the node's, or a Relu
   * folded in after it), and a tensor to add before it (a residual Add
   * folded into a Conv); out0_value is the value output 0 really is */
  cnn_act act;
  const cnn_tensor *residual;
  int residual_value;
  int out0_value;
  bool out0_final;              /* output 0 is a graph output: the session reads it */
  /* plan-time fusion: an exec whose output only this one reads, computed
   * by this one's fast kernel as it goes (a Resize before a Transpose to
   * NHWC: the Resize writes NHWC); its inputs are read, its output never
   * exists */
  struct cnn_exec *pre;
  /* data a fast kernel derives from constant inputs once per plan
   * (transformed weights), freed with the plan; where those inputs are
   * not constant, dropped before each run (cnn_conv2d_gemm) */
  void *cache;
  void (*cache_free) (void *cache);
} cnn_exec;

typedef struct {
  const char *onnx_name;
  size_t params_size;
  /* Reads the node's attributes into params.  May be NULL (no params). */
  cnn_status (*parse) (const cnn_node *node, void *params, GString *err);
  /* Sets output dtypes and shapes.  Input data is readable where in_const. */
  cnn_status (*infer) (cnn_exec *x);
  /* The plain reference kernel. */
  cnn_status (*compute_ref) (cnn_exec *x);
  /* The fast CPU kernel, NULL when the reference is all there is. */
  cnn_status (*compute_fast) (cnn_exec *x);
  /* Scratch bytes compute_fast needs, NULL for none. */
  size_t (*scratch_size) (const cnn_exec *x);
  /* Floating point operations, NULL for "about one per output element". */
  int64_t (*flops) (const cnn_exec *x);
  unsigned flags;
  /* Bit k set: input k shapes the output (Reshape's shape, Slice's starts...)
   * and must be known when planning. */
  unsigned shape_inputs;
} cnn_op_def;

enum {
  CNN_OPF_SHAPE_ONLY = 1 << 0,  /* output depends on input shapes only */
  CNN_OPF_ALIAS = 1 << 1,       /* output 0 is a view of input 0 (reshape-like) */
  CNN_OPF_FUSE_ACT = 1 << 2,    /* honours node->act */
};

extern const cnn_op_def *const cnn_op_defs[CNN_OP_COUNT];

/* Looks an ONNX op type up (default domain); CNN_OP_COUNT if unknown. */
cnn_op cnn_op_lookup (const char *domain, const char *op_type);

/* Error helpers: the message is prefixed with the node name and op type. */
cnn_status cnn_exec_fail (cnn_exec *x, cnn_status st, const char *fmt, ...) G_GNUC_PRINTF (3, 4);
cnn_status cnn_node_fail (const cnn_node *n, GString *err, cnn_status st, const char *fmt, ...) G_GNUC_PRINTF (4, 5);
/* "[1,3,224,224]" into buf. */
const char *cnn_shape_str (const cnn_tensor *t, char *buf, size_t size);

/* ---- attribute access (attrs.c) ------------------------------------------ */

const cnn_attr *cnn_node_attr (const cnn_node *n, const char *name);
int64_t cnn_attr_int (const cnn_node *n, const char *name, int64_t def);
float cnn_attr_float (const cnn_node *n, const char *name, float def);
const char *cnn_attr_string (const cnn_node *n, const char *name, const char *def);
/* Copies an INTS attribute into out (at most max); returns the count, or -1
 * if absent. */
int cnn_attr_ints (const cnn_node *n, const char *name, int64_t *out, int max);
int cnn_attr_floats (const cnn_node *n, const char *name, float *out, int max);

/* ---- tensor helpers (tensor.c) ------------------------------------------- */

/* numel with overflow checks: -1 when it would pass CNN_MAX_TENSOR_BYTES. */
int64_t cnn_shape_numel_checked (int ndim, const int64_t *dims, size_t elem);
bool cnn_shape_equal (const cnn_tensor *a, const cnn_tensor *b);
void cnn_tensor_set_shape (cnn_tensor *t, cnn_dtype dtype, int ndim, const int64_t *dims);
/* Reads element i of an integer or float tensor as int64 / double. */
int64_t cnn_tensor_get_int (const cnn_tensor *t, int64_t i);
double cnn_tensor_get_double (const cnn_tensor *t, int64_t i);
/* Normalizes a possibly negative axis; -1 if out of range. */
int cnn_axis (int64_t axis, int ndim);
/* Broadcast shape of a and b (numpy rules) into out; false if incompatible. */
bool cnn_broadcast_shape (const cnn_tensor *a, const cnn_tensor *b, cnn_tensor *out);

/* ---- threads (cpu/threadpool.c, cpu/gemm.c) ------------------------------ */

/* A pool of @n_threads threads, the caller of cnn_parallel_for() included. */
cnn_threadpool *cnn_threadpool_new (int n_threads);
void cnn_threadpool_free (cnn_threadpool *pool);
/* Threads of @pool (1 for NULL). */
int cnn_threadpool_size (const cnn_threadpool *pool);

/* Runs fn(i, tid, data) for i in [0, n) on the pool (serially when @pool is
 * NULL); tid in [0, size) tells which thread runs it, for per-thread scratch. */
void cnn_parallel_for (cnn_threadpool *pool, int64_t n, void (*fn) (int64_t i, int tid, void *data),
    void *data);
/* Layers of large maps split between threads by pixels rather than by
 * channels (the implicit GEMM's, cpu/conv2d_implicit.c; MaxPool's of large
 * planes, ops/pool.c), the first part of
 * the image to thread 0: loop n's items in [n t / T, n (t + 1) / T) go to
 * thread t first, so a loop whose items run over the image in order hands
 * thread t the t-th part, layer after layer, and what a layer reads lies
 * mostly in the cache of the core that wrote it.  Split by channels, each
 * thread read the whole input, half of it from the other core, and a
 * layer of few output channels read it for few rows of its tile
 * (SqueezeNet's 256 -> 32 at 27 x 27 took as long at 2 threads as at 1 in
 * the model).  Depthwise layers keep their split by channels: in bands of
 * rows, the per-row setup cost 10-20% (MobileNetV2's 14 x 14, 56 x 56).
 * CNN_SPATIAL=0: by channels everywhere (comparisons). */
bool cnn_spatial_split (void);
/* Rows [*r0, *r1) of @rows in part @b of @parts (whole multiples of @align
 * but for the last part's end). */
void cnn_spatial_part (int64_t rows, int64_t b, int64_t parts, int64_t align, int64_t *r0, int64_t *r1);
/* memcpy() of @bytes in chunks across @pool's threads (one core does not
 * fill a pinned staging buffer at the memory's speed). */
void cnn_parallel_copy (cnn_threadpool *pool, void *dst, const void *src, size_t bytes);

/* Row-major C = alpha * op(A) op(B) + beta * C in the calling thread: the
 * AVX-512 kernel where the CPU has it (cpu/sgemm_avx512.c), else OpenBLAS. */
void cnn_sgemm_serial (bool trans_a, bool trans_b, int M, int N, int K, float alpha,
    const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc);
bool cnn_sgemm_avx512_available (void);
/* cnncore's own SIMD kernels (the GEMM tiles below, the convolutions' and
 * MaxPool's): AVX-512 (cpu/sgemm_avx512.c) or, on CPUs without it, AVX2
 * with FMA (cpu/sgemm_avx2.c).  Environment: CNN_NO_AVX512=1 takes the AVX2
 * ones, CNN_NO_AVX2=1 as well leaves none (OpenBLAS, the plain loops). */
bool cnn_sgemm_kernels_available (void);
/* AVX2 and FMA, unless CNN_NO_AVX2 is set (cpu/sgemm_avx2.c). */
bool cnn_sgemm_avx2_available (void);
/* For GEMMs whose A is constant (weights): pack it once, then multiply. */
size_t cnn_sgemm_packed_a_size (int M, int K);
void cnn_sgemm_pack_a (bool trans_a, int M, int K, const float *A, int lda, float *packed);
/* The kernel's tiles: rows of A x columns of B per call.  12 x 32 is the
 * default; 8 x 48 wastes nothing on channel counts that are multiples of 8
 * but not of 12 (16, 32, 64, 128...).  Only the implicit GEMM takes either.
 * CNN_TILE_PIXELS packs the weights as the pixel-major GEMM's B (below). */
typedef enum { CNN_TILE_12x32, CNN_TILE_8x48, CNN_TILE_PIXELS } cnn_sgemm_tile;
size_t cnn_sgemm_tile_packed_a_size (cnn_sgemm_tile t, int M, int K);
void cnn_sgemm_tile_pack_a (cnn_sgemm_tile t, bool trans_a, int M, int K, const float *A, int lda,
    float *packed);
void cnn_sgemm_avx512_packed (int M, int N, int K, float alpha, const float *Apacked, const float *B,
    int ldb, float beta, float *C, int ldc);
/* B packed by the caller (convolutions write their columns straight into
 * it): element (k, j) of a K x N matrix lives at this offset, panels of
 * CNN_SGEMM_NR columns (j / NR panels apart, j % NR inside). */
#define CNN_SGEMM_NR 32
size_t cnn_sgemm_packed_b_offset (int k, int j, int K, int N);
size_t cnn_sgemm_packed_b_size (int N, int K);
void cnn_sgemm_packed_ab (int M, int N, int K, const float *Apacked, const float *Bpacked, float *C, int ldc);
/* Implicit GEMM: rows [m0, m1) of C (m0 a multiple of the tile's rows) =
 * A B with A packed by cnn_sgemm_tile_pack_a() and row k of B (n columns)
 * read in place at B + koff[k], in whole tile-wide panels (up to 47 floats
 * past column n - 1 are read and must exist) unless @tail_packed, which
 * copies a narrower last panel first (the AVX2 kernels copy every K
 * block's n columns into packed panels first).  C holds rows m0.. at
 * stride ldc; with @ep (or NULL), each value gets its epilogue as it is
 * stored.  @rows_outer: tiles row panel by row panel, each across all n
 * columns (long runs of each output row, which the prefetchers follow),
 * else column panel by column panel.
 *
 * With ep->grid_wq, C's columns are a convolution's grid (cpu/phase_grid.c,
 * K at most CNN_SGEMM_KC): column j is grid column g = grid_j + j, that is
 * output pixel (y, x) = (g / grid_wq, g % grid_wq) of the OH x grid_ow plane
 * that row i of C is (C + i * ldc, ldc = OH * grid_ow), dropped where x >=
 * grid_ow; the residual is laid out as the planes.  grid_wq >= 16. */
#define CNN_SGEMM_KC 256
typedef struct {
  const float *bias;            /* per row of C, from row m0; or NULL */
  const float *residual;        /* added, laid out as C; or NULL */
  cnn_act_type act;             /* a cnn_act_is_simple() one */
  float alpha, beta;            /* its slope or bounds */
  int grid_wq, grid_ow, grid_j; /* grid_wq 0: C is plain */
} cnn_sgemm_epilogue;
/* Of a row's last cols (up to a tile's width) columns, how many go to the
 * thin kernel (1 to 4 columns, against A column by column), the rest to a
 * tile: for cost estimates. */
int cnn_sgemm_thin_columns (int cols);
void cnn_sgemm_gather (cnn_sgemm_tile t, int M, int m0, int m1, int n, int K, const float *Apacked,
    const float *B, const int32_t *koff, bool tail_packed, bool rows_outer, float *C, int ldc,
    const cnn_sgemm_epilogue *ep);
/* Pixel-major GEMM for convolutions with small outputs (7 x 7: 49 pixels,
 * which tiles of 16 columns pad to 64): the output transposed, pixels x
 * channels, in tiles of 7 pixels (broadcast) by 64 channels (vectors of
 * the weights), so that nothing is padded on 7 x 7 and 14 x 14 and each
 * weight streams through once per 7 pixels.
 *
 * cnn_sgemm_pack_pixels() fills one pixel panel (K x 7 floats, zero past
 * the n <= 7 pixels): pixel i's value k is B[koff[k] + cols[i]] (the
 * implicit GEMM's B, column cols[i]).  cnn_sgemm_avx512_pixels() takes the
 * panels of n pixels (n / 7 rounded up, K x 7 each, one after the other)
 * at @Apix, or with @koff the pixels read in place: panel p's value k of
 * pixel i at Apix[koff[k] + cols[7 p] + i] (each panel's 7 pixels on
 * consecutive columns, n a multiple of 7), and w <= 64 channels [c0, c0 + w) of the weight panel that holds them,
 * whose K rows are ldb floats apart (its width, 64 but for the last): the
 * packed weights (cnn_sgemm_tile_pack_a() with CNN_TILE_PIXELS) + m0 * K +
 * c0 - m0 for the panel starting at channel m0 (c0 - m0 a multiple of 16);
 * it computes into @scratch (7 x 64 floats a pixel panel) and stores
 * channel c's n values at out + c * ldo with @ep's bias (from channel c0),
 * residual (laid out as out) and simple activation. */
#define CNN_SGEMM_PIXEL_MR 7
#define CNN_SGEMM_PIXEL_NR 64
void cnn_sgemm_pack_pixels (int K, const float *B, const int32_t *koff, const int32_t *cols, int n,
    float *panel);
void cnn_sgemm_avx512_pixels (int K, const float *Apix, const int32_t *koff, const int32_t *cols, int n,
    const float *Bpanel, int w, int ldb, float *scratch, float *out, int ldo, const cnn_sgemm_epilogue *ep);
/* Width of the pixel-major weight panel that starts at channel m0 of M (the
 * floats between its rows): 64, or the rest rounded up to a vector. */
int cnn_sgemm_pixel_panel_width (int M, int m0);
/* Rows [m0, m1) (m0 a multiple of 12) of C = A B, A packed by
 * cnn_sgemm_tile_pack_a() for the 12 x 32 tile, B (N columns) as
 * cnn_sgemm_packed_b_offset() lays it out; C and @ep as for the above. */
void cnn_sgemm_packed_rows (int M, int m0, int m1, int N, int K, const float *Apacked,
    const float *Bpacked, float *C, int ldc, const cnn_sgemm_epilogue *ep);
void cnn_sgemm_avx512 (bool trans_a, bool trans_b, int M, int N, int K, float alpha,
    const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc);
/* The same for 1 to 7 rows of C (cpu/sgemm_small_avx512.c), B read in place
 * once; false (nothing done) without AVX-512 or outside that. */
bool cnn_sgemm_small_avx512 (bool trans_a, bool trans_b, int M, int N, int K, float alpha,
    const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc);
/* The same for 1 to 28 rows (a classifier head on a batch that runs whole):
 * 8 or more go in runs of 7 or fewer against blocks of B that stay in L2,
 * rather than through the tiled kernel, which copies all of B into packed
 * panels first (2 threads, batch 8: a 2048 -> 1000 Gemm alone 0.79 -> 0.29
 * ms, 1280 -> 1000 0.44 -> 0.15; the shipped fashion classifier at batch 16
 * 4.22 -> 3.46; about even with the tiled kernel at 28); false as above. */
bool cnn_sgemm_small_rows_avx512 (bool trans_a, bool trans_b, int M, int N, int K, float alpha,
    const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc);

/* Row-major C = alpha * op(A) op(B) + beta * C on the pool. */
void cnn_gemm (cnn_threadpool *pool, bool trans_a, bool trans_b, int M, int N, int K, float alpha,
    const float *A, int lda, const float *B, int ldb, float beta, float *C, int ldc);

/* ---- images (image.c) ------------------------------------------------------ */

/* NULL, or what is wrong with @img or @map. */
const char *cnn_image_check (const cnn_image *img, const cnn_image_map *map);

/* ---- backends (backend.c) ------------------------------------------------------ */

typedef struct cnn_backend cnn_backend;

/* The vtable every backend fills; optional slots may be NULL.
 *
 * A backend whose buffers are not host memory (device_memory) gets the graph
 * inputs in its arena too: the session copies inputs in with set_tensor and
 * outputs out with get_tensor.  Constants stay in host memory; such a backend
 * uploads what it needs and drops it in plan_reset, which the session calls
 * whenever it throws a plan away. */
typedef struct {
  const char *name;
  bool device_memory;
  bool host_kernels;            /* runs the ops' CPU kernels: the session plans their scratch */
  bool (*supports_op) (cnn_backend *b, const cnn_exec *x);
  void *(*alloc_buffer) (cnn_backend *b, size_t size);
  void (*free_buffer) (cnn_backend *b, void *buf);
  cnn_status (*graph_compute) (cnn_backend *b, cnn_exec *const *execs, int n, double *times);
  void (*free) (cnn_backend *b);
  /* host @src (numel elements of dtype) to the device's @dst, and back: the
   * device may store a tensor in another element type (fp16) */
  cnn_status (*set_tensor) (cnn_backend *b, void *dst, const void *src, cnn_dtype dtype, int64_t numel,
      GString *err);
  cnn_status (*get_tensor) (cnn_backend *b, void *dst, const void *src, cnn_dtype dtype, int64_t numel,
      GString *err);
  void (*plan_reset) (cnn_backend *b);
  /* host memory for outputs (pinned where that helps); NULL: g_malloc */
  void *(*alloc_host) (cnn_backend *b, size_t size);
  void (*free_host) (cnn_backend *b, void *buf);
  /* optional, device memory: pre-processing where the tensor lives: item
   * @item of the float input @t from @img through @map, or zeros with @img
   * NULL; NULL: the session converts on the host and copies */
  cnn_status (*set_image) (cnn_backend *b, const cnn_tensor *t, int item, const cnn_image *img,
      const cnn_image_map *map, GString *err);
  /* optional, device memory: cnn_session_detect() where the outputs are:
   * item @item of the float outputs @outs (one item's shape; data the whole
   * batch's, in the device's memory and element type), @C classes
   * (cnn_decoder_n_classes()); the kept boxes appended to @boxes.  NULL:
   * the session decodes its host copies */
  cnn_status (*detect) (cnn_backend *b, const cnn_decoder_options *o, const cnn_nms_options *nms,
      const cnn_tensor *const *outs, int n, int item, int C, GArray *boxes, GString *err);
} cnn_backend_i;

struct cnn_backend {
  const cnn_backend_i *iface;
  bool reference;
  cnn_threadpool *pool;         /* NULL for one thread */
};

cnn_backend *cnn_backend_cpu_new (int threads, bool reference);
#ifdef CNN_HAVE_CUDA
/* cuda/backend-cuda.c: NULL and @error when no usable device.  @threads
 * CPU threads serve the host-side work around runs (the elements' pixel
 * work through cnn_session_parallel_for). */
cnn_backend *cnn_backend_cuda_new (const cnn_session_options *opts, int threads, GError **error);
#endif
cnn_backend *cnn_backend_new (const cnn_session_options *opts, int threads, GError **error);
void cnn_backend_free (cnn_backend *b);

/* ---- loader (onnx-loader.c) ------------------------------------------------- */

cnn_status cnn_onnx_load (cnn_model *m, const void *data, size_t size, GString *err);

/* Converts FLOAT16 data (n halves) to floats. */
void cnn_half_to_float_n (const uint16_t *src, float *dst, int64_t n);

int cnn_error_code_from_status (cnn_status st);

#endif /* CNN_PRIVATE_H */
