/* glrm's CPU kernels for the Mamba-1 selective scan and the depthwise causal conv + SiLU (float32).

   Plain C (no torch headers): glrm.models.cpu_kernels compiles this file once with the system C compiler
   into a cached shared library and calls it through ctypes (which releases the GIL, so channel blocks can
   run on several Python threads). The pure-PyTorch twins in glrm.models.scan are the reference; tests check
   these kernels against them.

   Scan, per channel e and state n, in sweep order (t ascending, or descending when `reverse`):
       h[e,n] = exp(delta[t,e] A[e,n]) h[e,n] + delta[t,e] u[t,e] B[t,n]
       y[t,e] = ((y[t,e] if accumulate) + sum_n C[t,n] h[e,n] + D[e] u[t,e]) * (silu(z[t,e]) if z)
   with delta = softplus(the given delta) when `softplus` (the dt_proj output, bias included).
   One pass over the sequence: the state of a block of VB channels stays in registers / L1 for all t,
   so every (t, e, n) element costs one exp and three multiply-adds and no memory traffic; only u, delta,
   B, C are read and y written, once. Vectorised over channels (no horizontal sums). */

#include <stdint.h>
#include <string.h>

#define VB 16    /* channels per block: one AVX-512 vector, two AVX2 vectors */
#define NMAX 64  /* largest d_state the kernel takes (glrm.models.cpu_kernels checks) */

typedef float v16f __attribute__((vector_size(64)));   /* GCC/clang vectors: AVX-512, 2xAVX2, 4xNEON */
typedef int32_t v16i __attribute__((vector_size(64)));

static inline v16f vload(const float *p) { v16f v; memcpy(&v, p, sizeof v); return v; }
static inline void vstore(float *p, v16f v) { memcpy(p, &v, sizeof v); }
static inline v16f vsplat(float x) { return (v16f){x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x}; }
static inline v16f vselect(v16i mask, v16f a, v16f b) {   /* mask ? a : b, lane by lane (mask 0 or -1) */
    v16i ai, bi;
    memcpy(&ai, &a, sizeof ai);
    memcpy(&bi, &b, sizeof bi);
    v16i r = (ai & mask) | (bi & ~mask);
    v16f out;
    memcpy(&out, &r, sizeof out);
    return out;
}

/* exp(x) lane by lane for x in [-87, 88] (Cephes expf: x = k ln2 + r, |r| <= ln2/2, degree-5 polynomial for
   exp(r), about 1 ulp; k by the round-to-nearest magic-number trick, 2^k built in the exponent bits). */
static inline v16f vexp_clamped(v16f x) {
    const v16f magic = vsplat(12582912.0f);                     /* 1.5 * 2^23 */
    v16f km = x * vsplat(1.44269504088896341f) + magic;         /* round(x log2 e) in the low mantissa bits */
    v16f k = km - magic;
    v16f r = x - k * vsplat(0.693359375f);
    r = r - k * vsplat(-2.12194440e-4f);
    v16f p = vsplat(1.9875691500e-4f);
    p = p * r + vsplat(1.3981999507e-3f);
    p = p * r + vsplat(8.3334519073e-3f);
    p = p * r + vsplat(4.1665795894e-2f);
    p = p * r + vsplat(1.6666665459e-1f);
    p = p * r + vsplat(5.0000001201e-1f);
    p = p * r * r + r + vsplat(1.0f);
    v16i kb, mb;
    memcpy(&kb, &km, sizeof kb);
    memcpy(&mb, &magic, sizeof mb);
    v16i e = ((kb - mb) + 127) << 23;                           /* the bits of 2^k */
    v16f s;
    memcpy(&s, &e, sizeof s);
    return p * s;
}

/* exp(x) for x <= 0; x < -87 gives 0 (the true value is below the smallest normal float). */
static inline v16f vexp_nonpos(v16f x) {
    const v16f lo = vsplat(-87.0f);
    v16i under = x < lo;
    return vselect(under, vsplat(0.0f), vexp_clamped(vselect(under, lo, x)));
}

/* x * sigmoid(x) = x / (1 + exp(-x)), exp argument clamped to [-87, 88]. */
static inline v16f vsilu(v16f x) {
    v16f m = -x;
    m = vselect(m > vsplat(88.0f), vsplat(88.0f), m);
    m = vselect(m < vsplat(-87.0f), vsplat(-87.0f), m);
    return x / (vsplat(1.0f) + vexp_clamped(m));
}

/* log(x) lane by lane for normal x > 0 (Cephes logf: x = 2^e m, m in [sqrt(1/2), sqrt 2), degree-8
   polynomial; about 1 ulp). */
static inline v16f vlog_pos(v16f x) {
    v16i xi;
    memcpy(&xi, &x, sizeof xi);
    v16i ei = ((xi >> 23) & 0xff) - 126;
    v16i mi = (xi & 0x007fffff) | 0x3f000000;                   /* mantissa in [0.5, 1) */
    v16f m;
    memcpy(&m, &mi, sizeof m);
    v16f e = __builtin_convertvector(ei, v16f);
    v16i small = m < vsplat(0.707106781186547524f);
    e = vselect(small, e - vsplat(1.0f), e);
    m = vselect(small, m + m - vsplat(1.0f), m - vsplat(1.0f));
    v16f z = m * m;
    v16f y = vsplat(7.0376836292e-2f);
    y = y * m + vsplat(-1.1514610310e-1f);
    y = y * m + vsplat(1.1676998740e-1f);
    y = y * m + vsplat(-1.2420140846e-1f);
    y = y * m + vsplat(1.4249322787e-1f);
    y = y * m + vsplat(-1.6668057665e-1f);
    y = y * m + vsplat(2.0000714765e-1f);
    y = y * m + vsplat(-2.4999993993e-1f);
    y = y * m + vsplat(3.3333331174e-1f);
    y = y * m * z;
    y = y + vsplat(-2.12194440e-4f) * e;
    y = y - vsplat(0.5f) * z;
    return m + y + vsplat(0.693359375f) * e;
}

/* softplus(x) = log1p(exp(x)), x itself above 20 (torch's default threshold). log1p(v) as
   log(1 + v) v / ((1 + v) - 1), which is exact to rounding also where 1 + v rounds to 1 (then: v). */
static inline v16f vsoftplus(v16f x) {
    v16f xc = vselect(x > vsplat(20.0f), vsplat(20.0f), x);
    xc = vselect(xc < vsplat(-87.0f), vsplat(-87.0f), xc);
    v16f v = vexp_clamped(xc);
    v16f w = vsplat(1.0f) + v;
    v16f d = w - vsplat(1.0f);
    v16i same = d == vsplat(0.0f);
    v16f lp = vselect(same, v, vlog_pos(w) * v / vselect(same, vsplat(1.0f), d));
    lp = vselect(x < vsplat(-87.0f), vsplat(0.0f), lp);
    return vselect(x > vsplat(20.0f), x, lp);
}

int glrm_kernels_abi(void) { return 2; }

/* Strides are in elements. u, delta, y: [b*sb + t*st + e]; B, C: [b*sb + t*st + n]; A: (E, N) contiguous;
   D: (E) or NULL; h: (Bt, E, N) contiguous, the state entering the sweep, overwritten with the final one.
   Channels [e_begin, e_end) only (callers split channels across threads). */
void glrm_scan_f32(int64_t Bt, int64_t L, int64_t E, int64_t N,
                   const float *u, int64_t u_sb, int64_t u_st,
                   const float *delta, int64_t d_sb, int64_t d_st,
                   const float *Bm, int64_t b_sb, int64_t b_st,
                   const float *Cm, int64_t c_sb, int64_t c_st,
                   const float *A, const float *D, float *h,
                   const float *z, int64_t z_sb, int64_t z_st,
                   float *y, int64_t y_sb, int64_t y_st,
                   int64_t e_begin, int64_t e_end, int reverse, int accumulate, int softplus) {
    v16f hs[NMAX], As[NMAX];
    float tmp[VB], tmp2[VB];
    for (int64_t b = 0; b < Bt; b++) {
        for (int64_t e0 = e_begin; e0 < e_end; e0 += VB) {
            int64_t nv = e_end - e0 < VB ? e_end - e0 : VB;
            for (int64_t n = 0; n < N; n++) {
                for (int v = 0; v < VB; v++) {
                    tmp[v] = v < nv ? h[(b * E + e0 + v) * N + n] : 0.0f;
                    tmp2[v] = v < nv ? A[(e0 + v) * N + n] : 0.0f;
                }
                hs[n] = vload(tmp);
                As[n] = vload(tmp2);
            }
            for (int v = 0; v < VB; v++) tmp[v] = (D && v < nv) ? D[e0 + v] : 0.0f;
            const v16f Dv = vload(tmp);
            v16f lane;
            for (int v = 0; v < VB; v++) tmp[v] = (float)v;
            lane = vload(tmp);
            for (int64_t step = 0; step < L; step++) {
                int64_t t = reverse ? L - 1 - step : step;
                const float *ur = u + b * u_sb + t * u_st + e0;
                const float *dr = delta + b * d_sb + t * d_st + e0;
                const float *br = Bm + b * b_sb + t * b_st;
                const float *cr = Cm + b * c_sb + t * c_st;
                float *yr = y + b * y_sb + t * y_st + e0;
                const float *zr = z ? z + b * z_sb + t * z_st + e0 : NULL;
                v16f dl, uu;
                if (nv == VB) {
                    dl = vload(dr);
                    uu = vload(ur);
                } else {
                    for (int v = 0; v < VB; v++) { tmp[v] = v < nv ? dr[v] : 0.0f; tmp2[v] = v < nv ? ur[v] : 0.0f; }
                    dl = vload(tmp);
                    uu = vload(tmp2);
                }
                if (softplus) dl = vsoftplus(dl);
                if (nv < VB) dl = vselect(lane < vsplat((float)nv), dl, vsplat(0.0f));
                v16f du = dl * uu, acc = Dv * uu;
                for (int64_t n = 0; n < N; n++) {
                    v16f hn = vexp_nonpos(dl * As[n]) * hs[n] + du * br[n];
                    hs[n] = hn;
                    acc += cr[n] * hn;
                }
                if (nv == VB) {
                    if (accumulate) acc += vload(yr);
                    if (zr) acc *= vsilu(vload(zr));
                    vstore(yr, acc);
                } else {
                    for (int v = 0; v < VB; v++) { tmp[v] = (accumulate && v < nv) ? yr[v] : 0.0f;
                                                   tmp2[v] = (zr && v < nv) ? zr[v] : 0.0f; }
                    acc += vload(tmp);
                    if (zr) acc *= vsilu(vload(tmp2));
                    vstore(tmp, acc);
                    for (int64_t v = 0; v < nv; v++) yr[v] = tmp[v];
                }
            }
            for (int64_t n = 0; n < N; n++) {
                vstore(tmp, hs[n]);
                for (int64_t v = 0; v < nv; v++) h[(b * E + e0 + v) * N + n] = tmp[v];
            }
        }
    }
}

/* Depthwise conv (kernel K, weights w (K, E) contiguous, bias (E) or NULL) + SiLU, in sweep order: for sweep index i
   (t = i, or L-1-i when `reverse`), out[t] = silu(bias + sum_j w[j] in[i-(K-1)+j]), where in[] is x in sweep
   order preceded by `state` (Bt, K-1, E) contiguous, the last K-1 inputs of the previous chunk in sweep
   order (NULL: zeros). x: [b*x_sb + t*x_st + e]; out (Bt, L, E) contiguous. */
void glrm_conv_silu_f32(int64_t Bt, int64_t L, int64_t E, int64_t K,
                        const float *x, int64_t x_sb, int64_t x_st,
                        const float *w, const float *bias, const float *state,
                        float *out, int64_t e_begin, int64_t e_end, int reverse) {
    float tmp[VB];
    for (int64_t b = 0; b < Bt; b++) {
        for (int64_t i = 0; i < L; i++) {
            int64_t t = reverse ? L - 1 - i : i;
            float *o = out + (b * L + t) * E;
            const float *rows[16];                       /* input row of each tap (NULL: zero padding) */
            for (int64_t j = 0; j < K && j < 16; j++) {
                int64_t src = i - (K - 1) + j;           /* sweep index of the input */
                if (src >= 0) {
                    rows[j] = x + b * x_sb + (reverse ? L - 1 - src : src) * x_st;
                } else {
                    rows[j] = state ? state + (b * (K - 1) + (K - 1) + src) * E : NULL;
                }
            }
            int64_t e = e_begin;
            for (; e + VB <= e_end; e += VB) {
                v16f acc = bias ? vload(bias + e) : vsplat(0.0f);
                for (int64_t j = 0; j < K; j++)
                    if (rows[j]) acc += vload(w + j * E + e) * vload(rows[j] + e);
                vstore(o + e, vsilu(acc));
            }
            if (e < e_end) {
                int64_t nv = e_end - e;
                for (int64_t v = 0; v < VB; v++) tmp[v] = (bias && v < nv) ? bias[e + v] : 0.0f;
                for (int64_t j = 0; j < K; j++)
                    if (rows[j])
                        for (int64_t v = 0; v < nv; v++) tmp[v] += w[j * E + e + v] * rows[j][e + v];
                vstore(tmp, vsilu(vload(tmp)));
                for (int64_t v = 0; v < nv; v++) o[e + v] = tmp[v];
            }
        }
    }
}
