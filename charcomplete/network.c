/* The network's step (charcomplete/stepper.py) in C: the LSTM cell, the attention head and the
 * output layer, one character at a time, and the recurrence over a text after a jump.
 *
 * A step of the shipped networks reads their weight matrices whole (0.4 M weights 256 wide, 1.4 M
 * 512 wide), more than a core's L2 cache keeps between keys: its time is the time to read them. Here
 * they are kept as int8, a float scale per column (the largest |w| of the column / 127; a
 * network's bits per character move by under 0.1 %: docs/benchmarks.md), converted to float32
 * as they are read, every sum float32, and read with AVX-512 or AVX2 + FMA when the compiler
 * targets them (native.py compiles with -march=native); elsewhere the weights stay float32 and
 * the loops are plain C, which measured no faster than numpy: net_int8() says which, and
 * stepper.py steps in C only with int8.
 * A matrix (K, N) for x @ W is one block: its K * N weights, padded to 64 bytes, then its N
 * column scales (float32; all 1 for float32 weights): net_matrix_bytes, net_quantize.
 * The gates' tanh is a rational approximation (Eigen's, a few float32 ulp), the same on every path.
 * Compiled on first use by charcomplete/native.py with the machine's C compiler; without one,
 * stepper.py's numpy code runs. Standard C and the compiler's intrinsics only: loaded with ctypes.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__AVX512F__)
#include <immintrin.h>
#define INT8 1
#define LANES 16
typedef int8_t weight_t;
typedef __m512 vec;
#define VLOAD(p) _mm512_loadu_ps(p)
#define VSTORE(p, v) _mm512_storeu_ps(p, v)
#define VSET(x) _mm512_set1_ps(x)
#define VFMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define WLOAD(p) _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(_mm_loadu_si128((const __m128i *)(p))))
#elif defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#define INT8 1
#define LANES 8
typedef int8_t weight_t;
typedef __m256 vec;
#define VLOAD(p) _mm256_loadu_ps(p)
#define VSTORE(p, v) _mm256_storeu_ps(p, v)
#define VSET(x) _mm256_set1_ps(x)
#define VFMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define WLOAD(p) _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(p))))
#else
#define INT8 0
typedef float weight_t;
#endif

/* 1 if the weights are int8 (net_quantize makes them so), 0 if float32. */
int net_int8(void) { return INT8; }

static int64_t padded(int64_t K, int64_t N) { return (K * N * (int64_t)sizeof(weight_t) + 63) / 64 * 64; }

/* Bytes of a (K, N) matrix block: the weights, padded to 64 bytes, then N float32 scales. */
int64_t net_matrix_bytes(int64_t K, int64_t N) { return padded(K, N) + N * (int64_t)sizeof(float); }

static const float *scales(int64_t K, int64_t N, const weight_t *w) {
    return (const float *)((const char *)w + padded(K, N));
}

/* dst (a block of net_matrix_bytes) = src (K, N) float32 as weights: int8 rounded to nearest
 * (even) with each column's scale, or float32 and scales 1. */
void net_quantize(int64_t K, int64_t N, const float *src, weight_t *dst) {
    float *scale = (float *)scales(K, N, dst);
#if INT8
    for (int64_t j = 0; j < N; j++) scale[j] = 0.0f;
    for (int64_t k = 0; k < K; k++)
        for (int64_t j = 0; j < N; j++) {
            const float a = fabsf(src[k * N + j]);
            scale[j] = a > scale[j] ? a : scale[j];
        }
    for (int64_t j = 0; j < N; j++) scale[j] /= 127.0f;
    for (int64_t k = 0; k < K; k++)
        for (int64_t j = 0; j < N; j++) {
            const float q = scale[j] > 0.0f ? nearbyintf(src[k * N + j] / scale[j]) : 0.0f;
            dst[k * N + j] = (weight_t)fminf(fmaxf(q, -127.0f), 127.0f);  /* (fmaxf: a NaN becomes -127, never undefined) */
        }
#else
    memcpy(dst, src, sizeof(float) * K * N);
    for (int64_t j = 0; j < N; j++) scale[j] = 1.0f;
#endif
}

/* g (N,) += x (K,) @ w (K, N), each column times its scale: the products summed in acc (N,), row
 * by row, four at a time (the weights streamed in order). */
static void vecmat(int64_t K, int64_t N, const float *x, const weight_t *w, float *g, float *acc) {
    const float *scale = scales(K, N, w);
    int64_t k = 0, j;
    memset(acc, 0, sizeof(float) * N);
    for (; k + 4 <= K; k += 4) {
        const float x0 = x[k], x1 = x[k + 1], x2 = x[k + 2], x3 = x[k + 3];
        const weight_t *r0 = w + k * N, *r1 = r0 + N, *r2 = r1 + N, *r3 = r2 + N;
        j = 0;
#if INT8
        const vec v0 = VSET(x0), v1 = VSET(x1), v2 = VSET(x2), v3 = VSET(x3);
        for (; j + LANES <= N; j += LANES) {
            vec a = VLOAD(acc + j);
            a = VFMA(v0, WLOAD(r0 + j), a);
            a = VFMA(v1, WLOAD(r1 + j), a);
            a = VFMA(v2, WLOAD(r2 + j), a);
            a = VFMA(v3, WLOAD(r3 + j), a);
            VSTORE(acc + j, a);
        }
#endif
        for (; j < N; j++) acc[j] += x0 * r0[j] + x1 * r1[j] + x2 * r2[j] + x3 * r3[j];
    }
    for (; k < K; k++) {
        const float xk = x[k];
        const weight_t *r = w + k * N;
        for (j = 0; j < N; j++) acc[j] += xk * r[j];
    }
    for (j = 0; j < N; j++) g[j] += scale[j] * acc[j];
}

/* a (n,) . b (n,), in 16 partial sums (which the compiler vectorises). */
static float dot(int64_t n, const float *a, const float *b) {
    float acc[16] = {0}, s = 0.0f;
    int64_t k = 0;
    for (; k + 16 <= n; k += 16)
        for (int l = 0; l < 16; l++) acc[l] += a[k + l] * b[k + l];
    for (int l = 0; l < 16; l++) s += acc[l];
    for (; k < n; k++) s += a[k] * b[k];
    return s;
}

/* Eigen's rational tanh for float32 (clamped where tanh is 1 to float precision). */
static void tanh_all(int64_t n, float *a) {
    for (int64_t j = 0; j < n; j++) {
        float x = a[j];
        x = x > 7.90531110763549805f ? 7.90531110763549805f : x;
        x = x < -7.90531110763549805f ? -7.90531110763549805f : x;
        const float x2 = x * x;
        float p = x2 * -2.76076847742355e-16f + 2.00018790482477e-13f;
        p = x2 * p + -8.60467152213735e-11f;
        p = x2 * p + 5.12229709037114e-08f;
        p = x2 * p + 1.48572235717979e-05f;
        p = x2 * p + 6.37261928875436e-04f;
        p = x2 * p + 4.89352455891786e-03f;
        float q = x2 * 1.19825839466702e-06f + 1.18534705686654e-04f;
        q = x2 * q + 2.26843463243900e-03f;
        q = x2 * q + 4.89352518554385e-03f;
        a[j] = x * p / q;
    }
}

/* One LSTM cell. g (4H,) = base + x @ w_ih (when w_ih) + h @ w_hh: the gates i, f, g, o, their
 * pre-activations scaled by 1/2 for i, f, o (sigmoid(v) = tanh(v/2)/2 + 1/2; stepper.py folds
 * the scale into the weights); g is scratch of (8H,), the products' sums after the gates.
 * h_out, c_out (H,) may not alias h, c; c_out may alias c. */
void net_cell(int64_t H, const float *base, const weight_t *w_ih, const float *x, const weight_t *w_hh,
              const float *h, const float *c, float *h_out, float *c_out, float *g) {
    float *acc = g + 4 * H;
    memcpy(g, base, sizeof(float) * 4 * H);
    if (w_ih) vecmat(H, 4 * H, x, w_ih, g, acc);
    vecmat(H, 4 * H, h, w_hh, g, acc);
    tanh_all(4 * H, g);
    for (int64_t j = 0; j < H; j++) {
        const float i = 0.5f * g[j] + 0.5f, f = 0.5f * g[H + j] + 0.5f;
        h_out[j] = c_out[j] = f * c[j] + i * g[2 * H + j];
    }
    tanh_all(H, h_out);
    for (int64_t j = 0; j < H; j++) h_out[j] *= 0.5f * g[3 * H + j] + 0.5f;
}

/* The recurrence over n characters, one layer: the cell's base for character t is bases + t *
 * stride (layer 0: its input projection's row, biases folded in; above: the biases, stride 0) and
 * its input xs[t] (H,) (above layer 0, with w_ih; else xs and w_ih are null). out (n, H): the
 * outputs; h (H,) the state before (read only), c (H,) updated in place; g: the cell's scratch. */
void net_layer(int64_t H, int64_t n, const float *bases, int64_t stride, const weight_t *w_ih, const float *xs,
               const weight_t *w_hh, const float *h, float *c, float *out, float *g) {
    for (int64_t t = 0; t < n; t++) {
        net_cell(H, bases + t * stride, w_ih, w_ih ? xs + t * H : 0, w_hh, h, c, out + t * H, c, g);
        h = out + t * H;
    }
}

/* The output layer: logits (V,) = b + z (K,) @ w_out (K, V), z = out (H,) without attention
 * (values null). With it, z = [out, ctx]: out is written to values[M - 1] (the buffer of recent
 * outputs, (M, H)), scored against all M rows by out @ w_k (scaled by inv_sqrt_h, softmax into
 * attn (M,)), ctx = attn @ values. scratch: (3H + max(H, V),). */
void net_head(int64_t H, int64_t V, int64_t M, float *values, const float *out, const weight_t *w_k, float inv_sqrt_h,
              const weight_t *w_out, const float *b_out, float *logits, float *attn, float *scratch) {
    float *z = scratch, *q = scratch + 2 * H, *acc = scratch + 3 * H;  /* z = [out, ctx]; acc: the products' sums */
    int64_t K = H;
    memcpy(z, out, sizeof(float) * H);
    if (values) {
        memcpy(values + (M - 1) * H, out, sizeof(float) * H);
        memset(q, 0, sizeof(float) * H);
        vecmat(H, H, out, w_k, q, acc);
        float top = -INFINITY, sum = 0.0f;
        for (int64_t m = 0; m < M; m++) {
            attn[m] = dot(H, values + m * H, q) * inv_sqrt_h;
            top = attn[m] > top ? attn[m] : top;
        }
        for (int64_t m = 0; m < M; m++) sum += attn[m] = expf(attn[m] - top);
        for (int64_t m = 0; m < M; m++) attn[m] /= sum;
        float *ctx = z + H;
        memset(ctx, 0, sizeof(float) * H);
        for (int64_t m = 0; m < M; m++) {
            const float a = attn[m], *v = values + m * H;
            for (int64_t k = 0; k < H; k++) ctx[k] += a * v[k];
        }
        K = 2 * H;
    }
    memcpy(logits, b_out, sizeof(float) * V);
    vecmat(K, V, z, w_out, logits, acc);
}
