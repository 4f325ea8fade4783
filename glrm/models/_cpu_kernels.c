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
   so every (t, e, n) element costs one exp (base 2: a multiply, a reduction, five FMAs and a scale on
   AVX-512) and three multiply-adds and no memory traffic; only u, delta, B, C are read and y written,
   once. Vectorised over channels (no horizontal sums). */

#include <stdint.h>
#include <string.h>
#if defined(__AVX512F__)
#include <immintrin.h>
#endif

#define VB 16    /* channels per block: one AVX-512 vector, two AVX2 vectors */
#define NMAX 64  /* largest d_state the kernel takes (glrm.models.cpu_kernels checks) */

typedef float v16f __attribute__((vector_size(64)));   /* GCC/clang vectors: AVX-512, 2xAVX2, 4xNEON */
typedef int32_t v16i __attribute__((vector_size(64)));

static inline v16f vload(const float *p) { v16f v; memcpy(&v, p, sizeof v); return v; }
static inline void vstore(float *p, v16f v) { memcpy(p, &v, sizeof v); }
static inline v16f vsplat(float x) { return (v16f){x, x, x, x, x, x, x, x, x, x, x, x, x, x, x, x}; }
/* a * b + c with one rounding where the CPU has FMA (C99 mode does not contract a * b + c by itself). */
static inline v16f vfma(v16f a, v16f b, v16f c) {
#if defined(__AVX512F__)
    return (v16f)_mm512_fmadd_ps((__m512)a, (__m512)b, (__m512)c);
#else
    return a * b + c;
#endif
}
static inline v16f vselect(v16i mask, v16f a, v16f b) {   /* mask ? a : b, lane by lane (mask 0 or -1) */
    v16i ai, bi;
    memcpy(&ai, &a, sizeof ai);
    memcpy(&bi, &b, sizeof bi);
    v16i r = (ai & mask) | (bi & ~mask);
    v16f out;
    memcpy(&out, &r, sizeof out);
    return out;
}

/* 2^x lane by lane for x <= 126 (the scan's decay has x <= 0: delta >= 0, A <= 0): k = floor(x),
   f = x - k in [0, 1), 2^f by a degree-5 polynomial (near-minimax for the relative error, fitted for glrm: at most 1.7e-7 in
   float32, about 1.5 ulp), times 2^k. AVX-512: f by one vreduceps, and p 2^floor(x) by vscalefps, which
   underflows smoothly to 0 (no clamp, no k). Elsewhere: x clamped at -126 first (2^-126 ~ 1e-38 instead of
   a smaller value: the state is multiplied by ~1e-38 either way), k by the round-to-nearest magic-number
   trick on x - 1/2, and 2^k built in the exponent bits. */
#if defined(__AVX512F__) && defined(__AVX512DQ__)
#define VEXP2_AVX512 1
#endif
static inline v16f vexp2(v16f x) {
#ifdef VEXP2_AVX512
    v16f f = (v16f)_mm512_reduce_ps((__m512)x, _MM_FROUND_TO_NEG_INF | _MM_FROUND_NO_EXC);
#else
    x = vselect(x < vsplat(-126.0f), vsplat(-126.0f), x);
    const v16f magic = vsplat(12582912.0f);                     /* 1.5 * 2^23 */
    v16f km = (x - vsplat(0.5f)) + magic;                       /* floor(x) (to rounding) in the low bits */
    v16f f = x - (km - magic);
#endif
    v16f p = vfma(vsplat(1.8671305152e-3f), f, vsplat(9.0170288458e-3f));
    p = vfma(p, f, vsplat(5.5799912661e-2f));
    p = vfma(p, f, vsplat(2.4016444385e-1f));
    p = vfma(p, f, vsplat(6.9315129519e-1f));
    p = vfma(p, f, vsplat(1.0f));
#ifdef VEXP2_AVX512
    return (v16f)_mm512_scalef_ps((__m512)p, (__m512)x);
#else
    v16i kb, mb;
    memcpy(&kb, &km, sizeof kb);
    memcpy(&mb, &magic, sizeof mb);
    v16i e = ((kb - mb) + 127) << 23;                           /* the bits of 2^k */
    v16f s;
    memcpy(&s, &e, sizeof s);
    return p * s;
#endif
}

/* x / (1 + 2^m), the exponent clamped to [-126, 126] (beyond it, 1 + 2^m is 1, or the quotient is below
   1e-36 in magnitude): x sigmoid(s) with m = -s log2 e, for the SiLU and the tanh-GELU. */
static inline v16f vdiv_1p_exp2(v16f x, v16f m) {
    m = vselect(m > vsplat(126.0f), vsplat(126.0f), m);
    m = vselect(m < vsplat(-126.0f), vsplat(-126.0f), m);
    return x / (vsplat(1.0f) + vexp2(m));
}

/* x * sigmoid(x) = x / (1 + exp(-x)) (within 1e-36 of 0 for x < -87). */
static inline v16f vsilu(v16f x) { return vdiv_1p_exp2(x, x * vsplat(-1.44269504088896341f)); }

/* softplus(x) = max(x, 0) + log1p(exp(-|x|)) (torch's: log1p(exp(x)), x itself above 20; the same to
   rounding, as exp(-20) is below half an ulp of 20). log1p(v) for v = exp(-|x|) in (0, 1] as
   v + v^2 q(v), q of degree 7 (near-minimax for the relative error, fitted for glrm: at most 1.7e-7 in
   float32), so no log and no divide. (Where vexp2 clamps, x < -87 gives about 1e-38 instead of 0.) */
static inline v16f vsoftplus(v16f x) {
    v16f neg = vselect(x > vsplat(0.0f), -x, x);                /* -|x| */
    v16f v = vexp2(neg * vsplat(1.44269504088896341f));
    v16f q = vfma(vsplat(5.3648184985e-3f), v, vsplat(-3.0065771192e-2f));
    q = vfma(q, v, vsplat(7.9204499722e-2f));
    q = vfma(q, v, vsplat(-1.3753800094e-1f));
    q = vfma(q, v, vsplat(1.9153653085e-1f));
    q = vfma(q, v, vsplat(-2.4857163429e-1f));
    q = vfma(q, v, vsplat(3.3321323991e-1f));
    q = vfma(q, v, vsplat(-4.9999648333e-1f));
    v16f lp = vfma(q * v, v, v);
    return vselect(x > vsplat(0.0f), x, vsplat(0.0f)) + lp;
}

int glrm_kernels_abi(void) { return 3; }

/* Load nv <= VB floats (the rest 0). */
static inline v16f vload_part(const float *p, int64_t nv) {
    float tmp[VB] = {0};
    for (int64_t v = 0; v < nv; v++) tmp[v] = p[v];
    return vload(tmp);
}

/* Store the first nv <= VB lanes. */
static inline void vstore_part(float *p, v16f x, int64_t nv) {
    float tmp[VB];
    vstore(tmp, x);
    for (int64_t v = 0; v < nv; v++) p[v] = tmp[v];
}

/* One batch row b and one block of nv <= VB channels [e0, e0 + nv), all positions in sweep order. The state
   and A log2(e) (so that the decay is 2^(delta A log2 e), see vexp2) of the block's channels live in
   hs[] / As2[] as vectors over channels; always inlined, so a constant N (the common d_state 16) unrolls the
   n loops and keeps the states in registers. The positions go in tiles of TT: first the per-position work
   (softplus, delta u, D u, the gate silu(z)) for the whole tile, whose positions are independent (so the
   CPU overlaps their long exp / divide chains), then the recurrence over the tile. */
#define TT 32
static inline __attribute__((always_inline)) void scan_block(
        int64_t b, int64_t L, int64_t E, const int64_t N, int64_t e0, int64_t nv,
        const float *u, int64_t u_sb, int64_t u_st, const float *delta, int64_t d_sb, int64_t d_st,
        const float *Bm, int64_t b_sb, int64_t b_st, const float *Cm, int64_t c_sb, int64_t c_st,
        const float *A, const float *D, float *h, const float *z, int64_t z_sb, int64_t z_st,
        float *y, int64_t y_sb, int64_t y_st, int reverse, int accumulate, int softplus) {
    v16f hs[NMAX], As2[NMAX];
    v16f dls[TT], dus[TT], accs[TT], gates[TT];
    float tmp[VB], tmp2[VB];
    for (int64_t n = 0; n < N; n++) {
        for (int v = 0; v < VB; v++) {
            tmp[v] = v < nv ? h[(b * E + e0 + v) * N + n] : 0.0f;
            tmp2[v] = v < nv ? A[(e0 + v) * N + n] : 0.0f;
        }
        hs[n] = vload(tmp);
        As2[n] = vload(tmp2) * vsplat(1.44269504088896341f);
    }
    const v16f Dv = D ? vload_part(D + e0, nv) : vsplat(0.0f);
    for (int64_t s0 = 0; s0 < L; s0 += TT) {
        const int64_t nt = L - s0 < TT ? L - s0 : TT;
        for (int64_t i = 0; i < nt; i++) {       /* per position: independent across the tile */
            int64_t t = reverse ? L - 1 - (s0 + i) : s0 + i;
            const float *ur = u + b * u_sb + t * u_st + e0;
            const float *dr = delta + b * d_sb + t * d_st + e0;
            v16f dl = nv == VB ? vload(dr) : vload_part(dr, nv);
            v16f uu = nv == VB ? vload(ur) : vload_part(ur, nv);
            if (softplus) dl = vsoftplus(dl);   /* lanes past nv: softplus(0) = log 2, times u = 0, A = 0 */
            dls[i] = dl;
            dus[i] = dl * uu;
            accs[i] = Dv * uu;
            if (z) {
                const float *zr = z + b * z_sb + t * z_st + e0;
                gates[i] = vsilu(nv == VB ? vload(zr) : vload_part(zr, nv));
            }
        }
        for (int64_t i = 0; i < nt; i++) {       /* the recurrence */
            int64_t t = reverse ? L - 1 - (s0 + i) : s0 + i;
            const float *br = Bm + b * b_sb + t * b_st;
            const float *cr = Cm + b * c_sb + t * c_st;
            float *yr = y + b * y_sb + t * y_st + e0;
            const v16f dl = dls[i], du = dus[i];
            v16f acc = accs[i];
#pragma GCC unroll 16
            for (int64_t n = 0; n < N; n++) {
                v16f hn = vfma(vexp2(dl * As2[n]), hs[n], du * br[n]);
                hs[n] = hn;
                acc = vfma(vsplat(cr[n]), hn, acc);
            }
            if (accumulate) acc += nv == VB ? vload(yr) : vload_part(yr, nv);
            if (z) acc *= gates[i];
            if (nv == VB)
                vstore(yr, acc);
            else
                vstore_part(yr, acc, nv);
        }
    }
    for (int64_t n = 0; n < N; n++) {
        vstore(tmp, hs[n]);
        for (int64_t v = 0; v < nv; v++) h[(b * E + e0 + v) * N + n] = tmp[v];
    }
}

/* Strides are in elements. u, delta, y: [b*sb + t*st + e]; B, C: [b*sb + t*st + n]; A: (E, N) contiguous;
   D: (E) or NULL; h: (Bt, E, N) contiguous, the state entering the sweep, overwritten with the final one.
   Channels [e_begin, e_end) only (callers split channels across threads). d_state 16 (Mamba's and
   Caduceus' published models) has its own unrolled copy of the block loop. */
void glrm_scan_f32(int64_t Bt, int64_t L, int64_t E, int64_t N,
                   const float *u, int64_t u_sb, int64_t u_st,
                   const float *delta, int64_t d_sb, int64_t d_st,
                   const float *Bm, int64_t b_sb, int64_t b_st,
                   const float *Cm, int64_t c_sb, int64_t c_st,
                   const float *A, const float *D, float *h,
                   const float *z, int64_t z_sb, int64_t z_st,
                   float *y, int64_t y_sb, int64_t y_st,
                   int64_t e_begin, int64_t e_end, int reverse, int accumulate, int softplus) {
    for (int64_t b = 0; b < Bt; b++) {
        for (int64_t e0 = e_begin; e0 < e_end; e0 += VB) {
            int64_t nv = e_end - e0 < VB ? e_end - e0 : VB;
            if (N == 16)
                scan_block(b, L, E, 16, e0, nv, u, u_sb, u_st, delta, d_sb, d_st, Bm, b_sb, b_st, Cm, c_sb,
                           c_st, A, D, h, z, z_sb, z_st, y, y_sb, y_st, reverse, accumulate, softplus);
            else
                scan_block(b, L, E, N, e0, nv, u, u_sb, u_st, delta, d_sb, d_st, Bm, b_sb, b_st, Cm, c_sb,
                           c_st, A, D, h, z, z_sb, z_st, y, y_sb, y_st, reverse, accumulate, softplus);
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

/* --- HyenaDNA's position-wise work -------------------------------------------------------------------- */

/* gelu_tanh(x) = x (1 + tanh(a)) / 2 with a = sqrt(2/pi) (x + 0.044715 x^3), written as x sigmoid(2a) =
   x / (1 + 2^(-2a log2 e)): one exp, one divide (vdiv_1p_exp2). In place allowed (y == x). Elements
   [i_begin, i_end). */
static inline v16f vgelu_tanh(v16f x) {
    const v16f c1 = vsplat(-2.0f * 0.7978845608028654f * 1.44269504088896341f), c3 = vsplat(0.044715f);
    return vdiv_1p_exp2(x, vfma(c3 * x, x * x, x) * c1);
}

void glrm_gelu_tanh_f32(const float *x, float *y, int64_t i_begin, int64_t i_end) {
    int64_t i = i_begin;
    for (; i + VB <= i_end; i += VB) vstore(y + i, vgelu_tanh(vload(x + i)));
    if (i < i_end) vstore_part(y + i, vgelu_tanh(vload_part(x + i, i_end - i)), i_end - i);
}

/* HyenaDNA's short depthwise causal conv (kernel K, over W = (G + 2) D channels: the G gate blocks x0 ..
   x_{G-1}, then x_G and v) fused with what the block does next, for output positions [p_begin, p_end):
       uc[i, c] = bias[c] + sum_j w[j, c] u[off + i - (K-1) + j, c]     (u rows before row 0 read zero)
       gates[i, c] = uc[i, c]                    for c < G D          (rows: gates + i * g_st)
       vx[d, i] = uc[i, (G+1) D + d] * uc[i, G D + d]                  (channels first: vx + d * v_st + i)
   u: rows of W floats (row r at u + r * u_st; row off + i is output position i), w (K, W) contiguous.
   The products are written through a tile of TP positions so that each channel's row receives TP
   contiguous floats at a time. */
#define TP 16
#define HYENA_MAX_D 1024   /* as glrm.models.cpu_kernels.HYENA_MAX_D (the caller checks) */

/* bias[c] + sum_j w[j, c] rows[j][c] over the K taps, 16 channels from c (a NULL row is zero padding). */
static inline v16f conv_taps(const float *bias, const float *w, int64_t w_st, const float *const *rows,
                             int64_t K, int64_t c) {
    v16f acc = vload(bias + c);
    for (int64_t j = 0; j < K; j++)
        if (rows[j]) acc = vfma(vload(w + j * w_st + c), vload(rows[j] + c), acc);
    return acc;
}

void glrm_hyena_short_conv_f32(int64_t D, int64_t G, int64_t K, const float *u, int64_t u_st, int64_t off,
                               const float *w, const float *bias, float *gates, int64_t g_st,
                               float *vx, int64_t v_st, int64_t p_begin, int64_t p_end) {
    const int64_t W = (G + 2) * D;
    float tile[TP * HYENA_MAX_D];                        /* (TP, D) products */
    for (int64_t i0 = p_begin; i0 < p_end; i0 += TP) {
        int64_t np = p_end - i0 < TP ? p_end - i0 : TP;
        for (int64_t p = 0; p < np; p++) {
            int64_t i = i0 + p;
            const float *rows[16];
            for (int64_t j = 0; j < K; j++) {
                int64_t r = off + i - (K - 1) + j;
                rows[j] = r >= 0 ? u + r * u_st : NULL;
            }
            for (int64_t c = 0; c < G * D; c += VB)        /* gate blocks (D is a multiple of VB) */
                vstore(gates + i * g_st + c, conv_taps(bias, w, W, rows, K, c));
            for (int64_t d = 0; d < D; d += VB)            /* x_G * v */
                vstore(tile + p * D + d, conv_taps(bias, w, W, rows, K, (G + 1) * D + d)
                                         * conv_taps(bias, w, W, rows, K, G * D + d));
        }
        for (int64_t d = 0; d < D; d++) {
            float *dst = vx + d * v_st + i0;
            for (int64_t p = 0; p < np; p++) dst[p] = tile[p * D + d];
        }
    }
}

/* HyenaDNA's implicit filter, channels first, with its exponential window, for positions [t_begin, t_end):
       k[g, t] = (sum_f W[g, f] feats[f, t]) * (2^(decay2[g] tt[t]) + shift)      (g < G)
   (decay2 = -|delta| log2 e: the window exp(-|delta| t) + shift; shift < 0 means no window). feats (F, *)
   rows at feats + f * f_st, W (G, F) contiguous, tt the positions' t values, k rows at k + g * k_st.
   Channels go in register blocks of 8 (eight accumulators over 16 positions: each feature vector loaded
   once feeds eight FMAs), positions in tiles of 16 inside blocks of 1,024 that keep feats in L2. */
static inline __attribute__((always_inline)) void filter_tile(
        const int64_t ng, int64_t F, const float *feats, int64_t f_st, const float *W, const float *decay2,
        v16f tv, float shift, float *k, int64_t k_st, int64_t t, int64_t nt) {
    v16f acc[8];
    for (int64_t g = 0; g < ng; g++) acc[g] = vsplat(0.0f);
    for (int64_t f = 0; f < F; f++) {
        v16f v = nt == VB ? vload(feats + f * f_st + t) : vload_part(feats + f * f_st + t, nt);
        for (int64_t g = 0; g < ng; g++) acc[g] = vfma(vsplat(W[g * F + f]), v, acc[g]);
    }
    for (int64_t g = 0; g < ng; g++) {
        v16f out = acc[g];
        if (shift >= 0.0f) out = out * (vexp2(vsplat(decay2[g]) * tv) + vsplat(shift));
        if (nt == VB)
            vstore(k + g * k_st + t, out);
        else
            vstore_part(k + g * k_st + t, out, nt);
    }
}

void glrm_hyena_filter_f32(int64_t G, int64_t F, const float *feats, int64_t f_st, const float *W,
                           const float *decay2, const float *tt, float shift, float *k, int64_t k_st,
                           int64_t t_begin, int64_t t_end) {
    for (int64_t tb = t_begin; tb < t_end; tb += 1024) {
        int64_t te = tb + 1024 < t_end ? tb + 1024 : t_end;
        for (int64_t g0 = 0; g0 < G; g0 += 8) {
            int64_t ng = G - g0 < 8 ? G - g0 : 8;
            for (int64_t t = tb; t < te; t += VB) {
                int64_t nt = te - t < VB ? te - t : VB;
                v16f tv = nt == VB ? vload(tt + t) : vload_part(tt + t, nt);
                if (ng == 8)   /* the common case, unrolled: the accumulators stay in registers */
                    filter_tile(8, F, feats, f_st, W + g0 * F, decay2 + g0, tv, shift, k + g0 * k_st, k_st, t, nt);
                else
                    filter_tile(ng, F, feats, f_st, W + g0 * F, decay2 + g0, tv, shift, k + g0 * k_st, k_st, t,
                                nt);
            }
        }
    }
}
