/* gstcnncpu.h - which vector passes the elements' pixel and decoding code
 * may take on this CPU. */
#ifndef GST_CNN_CPU_H
#define GST_CNN_CPU_H

#include <glib.h>

G_BEGIN_DECLS

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

/* AVX-512F, unless CNN_NO_AVX512 is set (to compare with the plain loops). */
static inline gboolean
gst_cnn_cpu_avx512 (void)
{
  static gint ok = -1;
  if (ok < 0)
    ok = __builtin_cpu_supports ("avx512f") && !g_getenv ("CNN_NO_AVX512");
  return ok;
}

/* AVX2 (with FMA), unless CNN_NO_AVX2 is set: the passes for CPUs without
 * AVX-512 (Zen 1 to 3, Intel's client cores), as cnncore's kernels.  Where
 * both are there, the AVX-512 passes run. */
static inline gboolean
gst_cnn_cpu_avx2 (void)
{
  static gint ok = -1;
  if (ok < 0)
    ok = __builtin_cpu_supports ("avx2") && __builtin_cpu_supports ("fma") && !g_getenv ("CNN_NO_AVX2");
  return ok;
}

/* The first @k (0 or more) of 8 lanes, all of them from 8 on, as a mask
 * of whole lanes (vmaskmovps, blends). */
__attribute__ ((target ("avx2"), always_inline))
static inline __m256i
gst_cnn_lanes8 (gint64 k)
{
  return _mm256_cmpgt_epi32 (_mm256_set1_epi32 ((gint) CLAMP (k, 0, 8)), _mm256_setr_epi32 (0, 1, 2, 3, 4, 5, 6, 7));
}
#endif

/* The first @k (0 or more) of 16 vector lanes, all of them from 16 on. */
static inline guint16
gst_cnn_lanes16 (gint64 k)
{
  return k >= 16 ? 0xffff : (guint16) ((1u << k) - 1);
}

/* Loops the compiler vectorizes, compiled for AVX-512 and AVX2 too and
 * picked at load time (as cnncore's CNN_MULTIVERSION). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && defined(__linux__)
#define GST_CNN_MULTIVERSION __attribute__ ((target_clones ("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define GST_CNN_MULTIVERSION
#endif

G_END_DECLS

#endif
