/* conv.h - Conv params shared by the reference op and the fast CPU paths. */
#ifndef CNN_OPS_CONV_H
#define CNN_OPS_CONV_H
#include "ops.h"

typedef struct {
  cnn_window_params win;
  int64_t group;
} cnn_conv_params;

/* Window geometry for this node's input and weight. */
cnn_status cnn_conv_geometry (cnn_exec *x, cnn_window *w);

/* cpu/phase_grid.c: a 2D convolution's input as zero-bordered phase planes.
 * With stride s the padded input is cut into s x s planes (phase (py, px)
 * holds padded rows py, py + s, ... and columns px, px + s, ...), each
 * Hq x Wq, so that every stride reads like stride 1: on that grid the output
 * pixel (y, x) is column j = y * Wq + x, and its input under kernel tap
 * (ky, kx) is at j + cnn_phase_grid_tap (ky, kx) in the channel's planes.
 * The ncols columns j < (OH - 1) * Wq + OW hold every output; those with
 * x >= OW are computed and dropped. */
typedef struct {
  int64_t H, W, kh, kw, sh, sw, dh, dw, pt, pl;
  int64_t OH, OW, Hq, Wq;
  int64_t ncols;
  int64_t plane_floats;         /* one channel's planes: sh * sw * Hq * Wq */
} cnn_phase_grid;

/* FALSE for 3D windows and for planes too large for 32-bit offsets. */
bool cnn_phase_grid_init (const cnn_window *w, cnn_phase_grid *g);
int64_t cnn_phase_grid_tap (const cnn_phase_grid *g, int64_t ky, int64_t kx);
/* One channel's rows of phase @py (all its planes a tap reads) from the
 * H x W plane @src; the zero borders too, or only the input's pixels when
 * the borders are known to be zero already (planes reused for channel after
 * channel). */
void cnn_phase_grid_fill (const cnn_phase_grid *g, const float *src, int64_t py, bool borders, float *planes);
/* The same for plane rows [@q0, @q1) only (each of the channel's planes of
 * phase @py): the rows a thread's share of the output reads first. */
void cnn_phase_grid_fill_rows (const cnn_phase_grid *g, const float *src, int64_t py, bool borders, float *planes,
    int64_t q0, int64_t q1);
/* Grid columns [j0, j0 + n) (at @grid) to the OH x OW plane @out, plus
 * @bias and the same pixels of @residual (or NULL), then @act. */
void cnn_phase_grid_store (const cnn_phase_grid *g, const float *grid, int64_t j0, int64_t n, float bias,
    const float *residual, const cnn_act *act, float *out);

/* Columns of output rows [r0, r0 + nr) (of w->out[0] * w->out[1]) for
 * input channels [c0, c1) of the group at @xg, written into the packed B
 * layout of cnn_sgemm_packed_b_offset() for K rows. */
void cnn_conv_im2col_packed (const cnn_window *w, const float *xg, float *bp, int64_t r0, int64_t nr, int64_t K,
    int64_t c0, int64_t c1);

/* cpu/conv2d_depthwise.c: depthwise convolutions (one filter per channel),
 * any kernel size up to 64 taps, stride, dilation and pads, with AVX-512. */
bool cnn_conv2d_depthwise_applies (const cnn_exec *x);
size_t cnn_conv2d_depthwise_scratch (const cnn_exec *x);
cnn_status cnn_conv2d_depthwise (cnn_exec *x);

/* cpu/conv2d_winograd.c: F(4x4, 3x3) for 3x3 stride-1 dense convolutions
 * (AVX-512), where it beats the GEMM paths unless CNN_WINOGRAD says. */
bool cnn_conv2d_winograd_applies (const cnn_exec *x);
size_t cnn_conv2d_winograd_scratch (const cnn_exec *x);
cnn_status cnn_conv2d_winograd (cnn_exec *x);
/* Overrides CNN_WINOGRAD (tests): true sends every 3x3 stride-1 dense
 * convolution there, false none; not thread safe against running sessions. */
void cnn_conv2d_winograd_enable (bool on);

/* cpu/conv2d_implicit.c: stride-1 2D convolutions as an implicit GEMM over a
 * zero-padded copy of the input (AVX-512). */
bool cnn_conv2d_implicit_applies (const cnn_exec *x);
/* Overrides CNN_PIXEL_MAJOR (tests): the implicit GEMM's pixel-major mode
 * for small outputs with many weights where it pays (-1), never (0) or
 * wherever it can (1); not thread safe against running sessions. */
void cnn_conv2d_pixel_major_enable (int mode);
size_t cnn_conv2d_implicit_scratch (const cnn_exec *x);
cnn_status cnn_conv2d_implicit (cnn_exec *x);

/* cpu/conv2d_narrow.c: stride-1 2D convolutions to 1 to 4 output channels
 * per group (a style network's last 9x9 convolution to RGB), AVX-512. */
bool cnn_conv2d_narrow_applies (const cnn_exec *x);
size_t cnn_conv2d_narrow_scratch (const cnn_exec *x);
cnn_status cnn_conv2d_narrow (cnn_exec *x);

/* cpu/conv2d_gemm.c: im2col + OpenBLAS sgemm, and a direct depthwise kernel. */
cnn_status cnn_conv2d_gemm (cnn_exec *x);
size_t cnn_conv2d_gemm_scratch (const cnn_exec *x);
/* The weights packed by cnn_sgemm_tile_pack_a() as G groups of Mg x K, made
 * once per plan (x->cache: a node always takes the same path, tile and
 * split); NULL when out of memory.  With @parts > 1, each group's K is cut
 * into parts (cnn_conv_k_part()) packed one after the other, for a split
 * of K between threads. */
const float *cnn_conv_packed_weights (cnn_exec *x, int64_t Mg, int64_t K, int64_t taps, cnn_sgemm_tile tile,
    int parts);
/* Part @p of @parts of K: rows [*k0, *k1), whole input channels (@taps
 * rows each), and the offset of its packed weights from the group's. */
size_t cnn_conv_k_part (int64_t Mg, int64_t K, int64_t taps, cnn_sgemm_tile tile, int parts, int p, int64_t *k0,
    int64_t *k1);
#endif
