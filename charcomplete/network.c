/* The network's step (charcomplete/stepper.py) in C: the LSTM cell, the attention head and the
 * output layer, one character at a time, and the recurrence over a text after a jump.
 *
 * A step of the shipped networks reads their weight matrices whole (0.4 M weights 256 wide, 1.4 M
 * 512 wide), more than a core's L2 cache keeps between keys: its time is the time to read them. Here
 * they are kept as int8, a float scale per column (the largest |w| of the column / 127; a
 * network's bits per character move by under 0.1 %: docs/benchmarks.md), and the vector each
 * matrix multiplies is rounded to int16, by its own largest |x|, the weights widened to int16 as
 * they are read and the products summed exactly in int32; each column's sum times the two scales
 * at the end. On x86 each pair of products at once (vpdpwssd with VNNI, else vpmaddwd), 16 columns
 * at a time with AVX-512BW, 8 with AVX2 (native.py compiles with -march=native); on 64-bit ARM
 * with NEON (smlal), 16 columns a row, the int8 values stored as int16 (NEON has no widening
 * multiply-add of int8 by int16: twice the bytes, half the instructions); elsewhere in plain C,
 * the same layout and arithmetic as NEON's, which stepper.py leaves to numpy (slower here:
 * net_vectorised() says which). Every build
 * gives the same numbers (tests/test_network_c.py; ARM's under qemu). (int8 vectors, vpdpbusd,
 * were tried: no faster here, the steps being bound by reading the weights, and they moved the
 * ghosts.)
 * A matrix (K, N) for x @ W is one block: its int8 weights in blocks of columns, as the instructions
 * read them, padded to 64 bytes, then its column scales (float32): net_matrix_bytes, net_quantize.
 * The gates' tanh is a rational approximation (Eigen's, a few float32 ulp), the same on every path.
 * Compiled on first use by charcomplete/native.py with the machine's C compiler; without one,
 * stepper.py's numpy code runs. Standard C and the compiler's intrinsics only: loaded with ctypes.
 */
#include <math.h>
#include <stdint.h>
#include <string.h>

#if defined(__AVX512F__) && defined(__AVX512BW__)
#include <immintrin.h>
#define BLOCK 16  /* columns a vector's sums hold */
#define X86 1
#if defined(__AVX512VNNI__)
#define DPWSSD(acc, w, x) _mm512_dpwssd_epi32(acc, w, x)  /* acc + each pair of int16 products, in int32 */
#else
#define DPWSSD(acc, w, x) _mm512_add_epi32(acc, _mm512_madd_epi16(w, x))
#endif
#elif defined(__AVX2__)
#include <immintrin.h>
#define BLOCK 8
#define X86 1
#if defined(__AVXVNNI__)
#define DPWSSD(acc, w, x) _mm256_dpwssd_avx_epi32(acc, w, x)
#else
#define DPWSSD(acc, w, x) _mm256_add_epi32(acc, _mm256_madd_epi16(w, x))
#endif
#else
#define BLOCK 16  /* NEON (64-bit ARM), or plain C */
#define X86 0
#endif
#if !X86 && defined(__ARM_NEON) && defined(__aarch64__)
#include <arm_neon.h>
#define NEON 1
#else
#define NEON 0
#endif

#if X86
typedef int8_t weight_t;  /* widened to int16 as read (vpmovsxbw) */
#else
typedef int16_t weight_t;  /* int8's values, stored widened: NEON multiplies int16 by int16 without a widening step */
#endif

/* Which code multiplies: its instructions and how many columns a block holds. */
const char *net_build(void) {
#if defined(__AVX512F__) && defined(__AVX512BW__) && defined(__AVX512VNNI__)
    return "AVX-512 VNNI, 16 columns";
#elif defined(__AVX512F__) && defined(__AVX512BW__)
    return "AVX-512, 16 columns";
#elif defined(__AVX2__) && defined(__AVXVNNI__)
    return "AVX-VNNI, 8 columns";
#elif defined(__AVX2__)
    return "AVX2, 8 columns";
#elif NEON
    return "NEON, 16 columns";
#else
    return "plain C, 16 columns";
#endif
}

/* 1 if the products run in vector instructions (AVX2, AVX-512, NEON): stepper.py steps in C then;
 * 0 for plain C, which numpy outpaces. */
int net_vectorised(void) {
#if X86 || NEON
    return 1;
#else
    return 0;
#endif
}

/* A (K, N) matrix's int8 weights lie in blocks of BLOCK columns, rows and columns past K (to a
 * multiple of 4) and N zero. x86: rows 4r..4r+3 of a block are 4 * BLOCK bytes, column c's four
 * rows together (byte 4c + i: row 4r + i), as vpmaddwd reads pairs; NEON and plain C: row k's
 * BLOCK weights (int16), column by column, as smlal reads them. */
static int64_t cols(int64_t N) { return (N + BLOCK - 1) / BLOCK * BLOCK; }
static int64_t weight_bytes(int64_t K, int64_t N) { return (K + 3) / 4 * 4 * cols(N) * (int64_t)sizeof(weight_t); }
static int64_t padded(int64_t K, int64_t N) { return (weight_bytes(K, N) + 63) / 64 * 64; }

/* Bytes of a (K, N) matrix block: the weights, padded to 64 bytes, then the float32 scales. */
int64_t net_matrix_bytes(int64_t K, int64_t N) { return padded(K, N) + cols(N) * (int64_t)sizeof(float); }

static const float *scales(int64_t K, int64_t N, const weight_t *w) {
    return (const float *)((const char *)w + padded(K, N));
}

/* q clamped to [-A, A], a NaN to -A (no library call: the loops stay inline; never an undefined cast). */
static float clamp(float q, float A) {
    q = q > -A ? q : -A;
    return q < A ? q : A;
}

/* dst (a block of net_matrix_bytes) = src (K, N) float32 as int8 weights: each column's weights
 * times 127 / its largest |w| rounded to nearest (even), the scale that largest |w| / 127.
 * Written block by block, in the order the weights lie. */
void net_quantize(int64_t K, int64_t N, const float *src, weight_t *dst) {
    float *scale = (float *)scales(K, N, dst);
    for (int64_t j = 0; j < cols(N); j++) scale[j] = 0.0f;
    for (int64_t k = 0; k < K; k++)
        for (int64_t j = 0; j < N; j++) {
            const float a = fabsf(src[k * N + j]);
            scale[j] = a > scale[j] ? a : scale[j];
        }
    weight_t *out = dst;
    for (int64_t b = 0; b < cols(N); b += BLOCK) {
        float inv[BLOCK];  /* the block's columns: 127 / largest |w| (0 past N or for a column of zeros) */
        for (int c = 0; c < BLOCK; c++) inv[c] = b + c < N && scale[b + c] > 0.0f ? 127.0f / scale[b + c] : 0.0f;
#define Q(k, c) ((k) < K && b + (c) < N ? (weight_t)clamp(nearbyintf(src[(k) * N + b + (c)] * inv[c]), 127.0f) : 0)
#if X86
        for (int64_t k0 = 0; k0 < K; k0 += 4)
            for (int c = 0; c < BLOCK; c++)
                for (int64_t k = k0; k < k0 + 4; k++) *out++ = Q(k, c);
#else
        for (int64_t k = 0; k < (K + 3) / 4 * 4; k++)
            for (int c = 0; c < BLOCK; c++) *out++ = Q(k, c);
#endif
#undef Q
    }
    for (int64_t j = 0; j < N; j++) scale[j] /= 127.0f;
}

/* The largest |x[k]| of x (K,) (a NaN is passed over). */
static float largest(int64_t K, const float *x) {
    float top = 0.0f;
    int64_t k = 0;
#if defined(__AVX512F__)
    __m512 m = _mm512_setzero_ps();
    for (; k + 16 <= K; k += 16) m = _mm512_max_ps(_mm512_abs_ps(_mm512_loadu_ps(x + k)), m);  /* (m when |x| is NaN) */
    top = _mm512_reduce_max_ps(m);
#elif X86
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 m = _mm256_setzero_ps();
    for (; k + 8 <= K; k += 8) m = _mm256_max_ps(_mm256_andnot_ps(sign, _mm256_loadu_ps(x + k)), m);  /* (m when |x| is NaN) */
    float lanes[8];
    _mm256_storeu_ps(lanes, m);
    for (int i = 0; i < 8; i++) top = lanes[i] > top ? lanes[i] : top;
#endif
    for (; k < K; k++) top = fabsf(x[k]) > top ? fabsf(x[k]) : top;
    return top;
}

/* The largest whole number A the vector is rounded to lie in [-A, A]: 32,767 (int16), less where a
 * sum of K products with int8 weights could pass int32. */
static int32_t whole_max(int64_t K) {
    const int64_t a = 2147483647 / (127 * (K > 0 ? K : 1));
    return a < 32767 ? (int32_t)a : 32767;
}

#if X86
/* x's four int16 of rows 4r..4r+3 as one int64 (to broadcast to every column). */
static int64_t four(const int16_t *xq, int64_t r) {
    int64_t v;
    memcpy(&v, xq + 4 * r, 8);
    return v;
}

/* dot (cols(N),) = the columns' sums of xq (4R,) int16 times the int8 weights w, exactly in int32:
 * the weights widened to int16 as read, each pair of products summed (vpdpwssd or vpmaddwd). */
static void sums(int64_t R, int64_t N, const int16_t *xq, const weight_t *w, int32_t *dot) {
    for (int64_t b = 0; b < cols(N); b += BLOCK) {
        const weight_t *blk = w + b * 4 * R;  /* rows 4r..4r+3 of each column together: 4 * BLOCK bytes a row of blocks */
#if BLOCK == 16
        /* columns 0-7 and 8-15, even and odd rows of blocks: column c's two sums (rows 4r, 4r+1 and 4r+2, 4r+3) in lanes 2c, 2c + 1 */
        __m512i a0 = _mm512_setzero_si512(), a1 = _mm512_setzero_si512(), b0 = _mm512_setzero_si512(), b1 = _mm512_setzero_si512();
#define ROWS(v0, v1, r, x4) do { \
            v0 = DPWSSD(v0, _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(blk + (r) * 64))), x4); \
            v1 = DPWSSD(v1, _mm512_cvtepi8_epi16(_mm256_loadu_si256((const __m256i *)(blk + (r) * 64 + 32))), x4); \
        } while (0)
#define BROADCAST(r) _mm512_set1_epi64(four(xq, r))
#else
        /* columns 0-3 and 4-7, even and odd rows of blocks: column c's two sums in lanes 2c, 2c + 1 */
        __m256i a0 = _mm256_setzero_si256(), a1 = _mm256_setzero_si256(), b0 = _mm256_setzero_si256(), b1 = _mm256_setzero_si256();
#define ROWS(v0, v1, r, x4) do { \
            v0 = DPWSSD(v0, _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(blk + (r) * 32))), x4); \
            v1 = DPWSSD(v1, _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(blk + (r) * 32 + 16))), x4); \
        } while (0)
#define BROADCAST(r) _mm256_set1_epi64x(four(xq, r))
#endif
        int64_t r = 0;
        for (; r + 2 <= R; r += 2) {
            ROWS(a0, a1, r, BROADCAST(r));
            ROWS(b0, b1, r + 1, BROADCAST(r + 1));
        }
        if (r < R) ROWS(a0, a1, r, BROADCAST(r));
#undef ROWS
#undef BROADCAST
#if BLOCK == 16
        a0 = _mm512_add_epi32(a0, b0);
        a1 = _mm512_add_epi32(a1, b1);
        const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
        const __m512i odd = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
        _mm512_storeu_si512((void *)(dot + b), _mm512_add_epi32(_mm512_permutex2var_epi32(a0, even, a1),
                                                                 _mm512_permutex2var_epi32(a0, odd, a1)));
#else
        a0 = _mm256_add_epi32(a0, b0);
        a1 = _mm256_add_epi32(a1, b1);
        /* hadd within 128-bit lanes: columns 0, 1, 4, 5 | 2, 3, 6, 7; the permute puts them in order */
        _mm256_storeu_si256((__m256i *)(dot + b),
                            _mm256_permutevar8x32_epi32(_mm256_hadd_epi32(a0, a1), _mm256_setr_epi32(0, 1, 4, 5, 2, 3, 6, 7)));
#endif
    }
}
#elif NEON
/* The same with NEON (every 64-bit ARM CPU): row by row, the block's 16 weights (int8's values,
 * stored as int16) multiplied by the row's int16 into the columns' int32 sums (smlal, smlal2);
 * even and odd rows into two sets of sums, so that the additions do not wait on each other. */
static void sums(int64_t R, int64_t N, const int16_t *xq, const weight_t *w, int32_t *dot) {
    for (int64_t b = 0; b < cols(N); b += BLOCK) {
        const weight_t *row = w + b * 4 * R;  /* row k of the block: BLOCK weights */
        int32x4_t a[8];
        for (int i = 0; i < 8; i++) a[i] = vdupq_n_s32(0);
        for (int64_t k = 0; k < 4 * R; k += 4, row += 4 * BLOCK) {  /* four rows at a time, their x in one register */
            const int16x4_t x4 = vld1_s16(xq + k);
#define ROW(t, set, lane) do { \
                const int16x8_t lo = vld1q_s16(row + (t) * BLOCK), hi = vld1q_s16(row + (t) * BLOCK + 8); \
                a[set] = vmlal_lane_s16(a[set], vget_low_s16(lo), x4, lane); \
                a[set + 1] = vmlal_high_lane_s16(a[set + 1], lo, x4, lane); \
                a[set + 2] = vmlal_lane_s16(a[set + 2], vget_low_s16(hi), x4, lane); \
                a[set + 3] = vmlal_high_lane_s16(a[set + 3], hi, x4, lane); \
            } while (0)
            ROW(0, 0, 0);
            ROW(1, 4, 1);
            ROW(2, 0, 2);
            ROW(3, 4, 3);
#undef ROW
        }
        for (int i = 0; i < 4; i++) vst1q_s32(dot + b + 4 * i, vaddq_s32(a[i], a[4 + i]));
    }
}
#else
/* The same in plain C, row by row (on this project's x86 machine slower than numpy: stepper.py
 * steps in numpy then; tests/test_network_c.py checks it as NEON's layout and arithmetic). */
static void sums(int64_t R, int64_t N, const int16_t *xq, const weight_t *w, int32_t *dot) {
    for (int64_t b = 0; b < cols(N); b += BLOCK) {
        const weight_t *row = w + b * 4 * R;  /* row k of the block: BLOCK weights */
        int32_t acc[BLOCK] = {0};
        for (int64_t k = 0; k < 4 * R; k++, row += BLOCK)
            for (int c = 0; c < BLOCK; c++) acc[c] += (int32_t)row[c] * (int32_t)xq[k];
        memcpy(dot + b, acc, sizeof acc);
    }
}
#endif

/* g (N,) += x (K,) @ w (K, N): x rounded to whole numbers in [-A, A] by its largest |x| / A (s),
 * stored as int16; the weights widened to int16 as read and each product summed in int32,
 * exactly; each column's sum times s and the column's scale at the end.
 * acc: scratch of (2 * ((K + 3) / 4) + 1 + cols(N),) floats. */
static void vecmat(int64_t K, int64_t N, const float *x, const weight_t *w, float *g, float *acc) {
    const float *scale = scales(K, N, w);
    const int64_t R = (K + 3) / 4;
    const int32_t A = whole_max(K);
    const float top = largest(K, x), s = top / (float)A, inv = top > 0.0f ? (float)A / top : 0.0f;
    int16_t *xq = (int16_t *)acc;  /* (4R,) x as int16, zeros past K */
    int32_t *dot = (int32_t *)acc + 2 * R + 1;  /* (cols(N),) the columns' sums */
    int64_t k = 0;
#if X86
    const __m256 vinv = _mm256_set1_ps(inv);
    const __m256i lo = _mm256_set1_epi32(-A), hi = _mm256_set1_epi32(A);
    for (; k + 16 <= K; k += 16) {  /* round (to nearest even, the default), clamp, pack: the pack works within 128-bit lanes, a permute puts them in order */
        const __m256i q0 = _mm256_min_epi32(_mm256_max_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + k), vinv)), lo), hi);
        const __m256i q1 = _mm256_min_epi32(_mm256_max_epi32(_mm256_cvtps_epi32(_mm256_mul_ps(_mm256_loadu_ps(x + k + 8), vinv)), lo), hi);
        _mm256_storeu_si256((__m256i *)(xq + k), _mm256_permute4x64_epi64(_mm256_packs_epi32(q0, q1), 0xD8));
    }
#endif
    for (; k < 4 * R; k++) xq[k] = (int16_t)(k < K ? clamp(nearbyintf(x[k] * inv), (float)A) : 0.0f);
    sums(R, N, xq, w, dot);
    for (int64_t j = 0; j < N; j++) g[j] += s * scale[j] * (float)dot[j];
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
 * the scale into the weights); g is scratch of (9H + 16,), the products' sums after the gates.
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
 * attn (M,)), ctx = attn @ values. scratch: (4H + max(H, V) + 16,). */
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

/* A one-layer network's step (the shipped ones) in one call: net_cell on character id i's input
 * row, then net_head, as stepper.py's _NativeNet.step calls them (one ctypes call instead of two,
 * a dozen fewer arguments converted). The new h, c (H,) each and logits (Vp,) go into `block` in
 * that order, the attention (M,) after them; values: the buffer of recent outputs (null: no
 * attention, M 1). */
typedef struct {
    int64_t H, Vp;                      /* hidden size; the padded vocabulary */
    const float *x_table;               /* (V, 4H) the input projections, biases folded in */
    const weight_t *w_hh, *w_k, *w_out; /* net_quantize's blocks (w_k null without attention) */
    const float *b_out;                 /* (Vp,) */
    float *cell_scratch, *head_scratch; /* net_cell's g (9H + 16,), net_head's scratch */
    float inv_sqrt_h;                   /* the attention's scale (0 without it) */
} Step1;

void net_step1(const Step1 *k, int64_t i, const float *h, const float *c, float *block, float *values, int64_t M) {
    int64_t H = k->H;
    net_cell(H, k->x_table + 4 * H * i, 0, 0, k->w_hh, h, c, block, block + H, k->cell_scratch);
    net_head(H, k->Vp, M, values, block, k->w_k, k->inv_sqrt_h, k->w_out, k->b_out, block + 2 * H,
             values ? block + 2 * H + k->Vp : 0, k->head_scratch);
}
