/* wavenet.c — see wavenet.h. */
#include "wavenet.h"

#include <cblas.h>
#include <math.h>
#include <string.h>

#include "kernels.h"

/* The cond GEMM covers as many layers as fit in this many rows. OpenBLAS packs cond
 * (n_mel·n_group × n) on every call, which weighs most at small widths, where a layer's GEMM
 * has only 2C rows; each layer batched costs a (2C × window) buffer. */
enum { COND_ROWS = 768 };

/* Winograd sextets a tile's GEMMs cover at most (more where one block of 6·dilation holds more):
 * at 256 channels and 27 562 steps 768 ran as fast as 1024 and 4-5% faster than 512, in the
 * scratch F(4,3)'s best tile (1024 quads) took. */
enum { WINO_TILE = 768, WINO_MIN_CHANNELS = 64 };

static size_t wn_pad(const wg_config *c) { return (size_t)(c->wn_kernel_size - 1) / 2 << (c->wn_n_layers - 1); }

static size_t cond_layers(const wg_config *c) {
    size_t L = (size_t)c->wn_n_layers, C = (size_t)c->wn_n_channels;
    size_t b = COND_ROWS / (2 * C);
    return b < 1 ? 1 : b > L ? L : b;
}

int wg_wn_winograd_pays(const wg_config *c) {
    return c->wn_kernel_size == 3 && c->wn_n_channels >= WINO_MIN_CHANNELS;
}

static size_t wino_tile_sextets(const wg_config *c) {
    size_t dmax = (size_t)1 << (c->wn_n_layers - 1);
    return dmax > WINO_TILE ? dmax : WINO_TILE;
}

size_t wg_wn_winograd_filter_floats(const wg_config *c) {
    size_t C = (size_t)c->wn_n_channels;
    return c->wn_kernel_size == 3 ? (size_t)c->wn_n_layers * 6 * 2 * C * C : 0;
}

void wg_wn_winograd_filters(const wg_config *c, const float *in_w_taps, float *in_w_wino) {
    /* G·(W0, W1, W2) at the points ±1, ±2, ±1/2 (the last two over 32, which wino_out multiplies
     * back); the first and last rows, W0 and W2, are the taps themselves and not stored */
    static const double g[6][3] = {{-2.0 / 9, -2.0 / 9, -2.0 / 9}, {-2.0 / 9, 2.0 / 9, -2.0 / 9},
                                   {1.0 / 90, 1.0 / 45, 2.0 / 45},  {1.0 / 90, -1.0 / 45, 2.0 / 45},
                                   {1.0 / 45, 1.0 / 90, 1.0 / 180}, {1.0 / 45, -1.0 / 90, 1.0 / 180}};
    size_t S = 2 * (size_t)c->wn_n_channels * (size_t)c->wn_n_channels;
    for (size_t l = 0; l < (size_t)c->wn_n_layers; l++)
        for (size_t r = 0; r < 6; r++)
            for (size_t e = 0; e < S; e++) {
                const float *w = in_w_taps + l * 3 * S + e;
                in_w_wino[(l * 6 + r) * S + e] = (float)(g[r][0] * w[0] + g[r][1] * w[S] + g[r][2] * w[2 * S]);
            }
}

size_t wg_wn_scratch_floats(const wg_config *c) {
    /* eight input transforms (C rows) and eight products (2C rows) per sextet */
    return c->wn_kernel_size == 3 ? 24 * (size_t)c->wn_n_channels * wino_tile_sextets(c) : 0;
}

/* F(6,3)'s input transform Bᵀ·x of one sextet into its eight operands, `stride` floats apart, at
 * the points 0, ±1, ±2, ±1/2 and ∞; the first row's sign is flipped so that U0 is W0 itself */
__attribute__((always_inline)) static inline void wino_in(float *o, size_t stride, const float x[8]) {
    o[0] = (x[0] - x[6]) + 5.25f * (x[4] - x[2]);
    float a = x[2] + x[6] - 4.25f * x[4], b = x[1] + x[5] - 4.25f * x[3];
    o[stride] = a + b;
    o[2 * stride] = a - b;
    a = 0.25f * x[2] - 1.25f * x[4] + x[6], b = 0.5f * x[1] - 2.5f * x[3] + 2.0f * x[5];
    o[3 * stride] = a + b;
    o[4 * stride] = a - b;
    a = 4.0f * x[2] - 5.0f * x[4] + x[6], b = 2.0f * x[1] - 2.5f * x[3] + 0.5f * x[5];
    o[5 * stride] = a + b;
    o[6 * stride] = a - b;
    o[7 * stride] = (x[7] - x[1]) + 5.25f * (x[3] - x[5]);
}

/* its output transform Aᵀ·m: the sextet's six outputs from its eight products, `stride` floats
 * apart; the products at ±1/2 come from filters scaled by 1/32 (wg_wn_winograd_filters), so that
 * every coefficient here is a power of two */
__attribute__((always_inline)) static inline void wino_out(const float *m, size_t stride, float y[6]) {
    float p12 = m[stride] + m[2 * stride], m12 = m[stride] - m[2 * stride];
    float p34 = m[3 * stride] + m[4 * stride], m34 = m[3 * stride] - m[4 * stride];
    float p56 = m[5 * stride] + m[6 * stride], m56 = m[5 * stride] - m[6 * stride];
    y[0] = m[0] + p12 + p34 + 32.0f * p56;
    y[1] = m12 + 2.0f * m34 + 16.0f * m56;
    y[2] = p12 + 4.0f * p34 + 8.0f * p56;
    y[3] = m12 + 8.0f * m34 + 4.0f * m56;
    y[4] = p12 + 16.0f * p34 + 2.0f * p56;
    y[5] = m12 + 32.0f * m34 + m56 + m[7 * stride];
}

/* The transforms of one channel's sextets (input) or one row's (output) over a tile's blocks b0
 * to b0 + nb − 1, each block's sextets [lo, hi): vectorised along a block's run of consecutive
 * sextets (SIMD copies: as baseline scalar code F(4,3)'s took 8% of NVIDIA's folded synthesis at
 * 1 s, then 6%; more is memory traffic). x and y point at column 0 (x has d columns of padding
 * before it); x's inputs from column lim on read as zero. */
WG_SIMD_CLONES static void wino_in_channel(float *restrict o, size_t stride, const float *restrict x, size_t d,
                                           size_t lim, size_t b0, size_t nb, const size_t *lo, const size_t *hi) {
    for (size_t b = 0; b < nb; b++) {
        size_t B = (b0 + b) * 6 * d, nr = hi[b] - lo[b];
        const float *xb = x - d + B + lo[b]; /* x_k of the run's sextet r is xb[r + k·d] */
        if (B + 7 * d <= lim) {
            const float *x0 = xb, *x1 = xb + d, *x2 = xb + 2 * d, *x3 = xb + 3 * d, *x4 = xb + 4 * d, *x5 = xb + 5 * d;
            const float *x6 = xb + 6 * d, *x7 = xb + 7 * d;
            WG_IVDEP /* the eight operands' rows are stride ≥ nr apart */
            for (size_t r = 0; r < nr; r++) {
                const float xk[8] = {x0[r], x1[r], x2[r], x3[r], x4[r], x5[r], x6[r], x7[r]};
                wino_in(o + r, stride, xk);
            }
        } else {
            for (size_t r = 0; r < nr; r++) {
                float xk[8];
                for (size_t k = 0; k < 8; k++) xk[k] = B + lo[b] + r + k * d < lim + d ? xb[r + k * d] : 0.0f;
                wino_in(o + r, stride, xk);
            }
        }
        o += nr;
    }
}

WG_SIMD_CLONES static void wino_out_row(float *restrict y, const float *restrict m, size_t stride, size_t d, size_t c0,
                                        size_t c1, size_t b0, size_t nb, const size_t *lo, const size_t *hi) {
    for (size_t b = 0; b < nb; b++) {
        size_t B = (b0 + b) * 6 * d;
        float *yb = y + B;
        if (B >= c0 && B + 6 * d <= c1) {
            WG_IVDEP /* r + i·d, r < d, are distinct */
            for (size_t r = 0; r < d; r++) {
                float yi[6];
                wino_out(m + r, stride, yi);
                for (size_t i = 0; i < 6; i++) yb[r + i * d] += yi[i];
            }
            m += d;
        } else {
            for (size_t r = lo[b]; r < hi[b]; r++, m++) {
                float yi[6];
                wino_out(m, stride, yi);
                for (size_t i = 0; i < 6; i++) {
                    size_t t = B + r + i * d;
                    if (t >= c0 && t < c1) yb[r + i * d] += yi[i];
                }
            }
        }
    }
}

/* pre[o][t] += Σ_j W_j[o]·h[t + (j − 1)·d] for t in [c0, c1), by Winograd's F(6,3) (Lavin & Gray,
 * 2016) along the dilated time axis: a sextet's six outputs y[t + i·d], i < 6, come from the
 * eight inputs x[t + (k − 1)·d], k < 8, through eight products U_k·D_k instead of eighteen W_j·x
 * (F(4,3)'s six for four outputs measured 2-3% slower at NVIDIA's width on one thread, the same on
 * two, for 0.5-0.8 of its error).
 * Sextets sit in blocks of 6d columns aligned to column 0, not to c0, so a column's sextet and
 * transforms are the same however the team splits the columns; a member also computes the
 * sextets of its edge blocks whose other outputs are its neighbours' (and drops those). h and pre
 * point at column 0; h's rows are valid (data or zero padding) up to column lim − 1, and inputs
 * past it only reach outputs past n, so they are read as zero. u: W0, the six transforms of
 * wg_wn_winograd_filters, W2. */
static void taps_winograd(const float *const u[8], size_t C, const float *h, size_t ldh, size_t lim, size_t d,
                          size_t c0, size_t c1, float *pre, size_t ldp, float *scratch, size_t tile) {
    size_t blk = 6 * d, b_end = (c1 + blk - 1) / blk, per = tile / d ? tile / d : 1;
    if (per > WINO_TILE) per = WINO_TILE;
    size_t lo[WINO_TILE], hi[WINO_TILE]; /* the tile's blocks' sextets r in [lo, hi) */
    for (size_t b0 = c0 / blk; b0 < b_end; b0 += per) {
        size_t nb = b0 + per < b_end ? per : b_end - b0, np = 0;
        /* those with an output in [c0, c1) and a first output < c1 */
        for (size_t b = 0; b < nb; b++) {
            size_t B = (b0 + b) * blk;
            lo[b] = B + 5 * d < c0 ? c0 - B - 5 * d : 0;
            hi[b] = c1 - B < d ? c1 - B : d;
            np += hi[b] - lo[b];
        }
        float *D = scratch, *M = scratch + 8 * C * np;
        for (size_t ch = 0; ch < C; ch++) wino_in_channel(D + ch * np, np * C, h + ch * ldh, d, lim, b0, nb, lo, hi);
        for (size_t k = 0; k < 8; k++) wg_gemm(2 * C, np, C, u[k], C, D + k * C * np, np, 0.0f, M + k * 2 * C * np, np);
        size_t S = 2 * C * np;
        for (size_t row = 0; row < 2 * C; row++)
            wino_out_row(pre + row * ldp, M + row * np, S, d, c0, c1, b0, nb, lo, hi);
    }
}

size_t wg_wn_end_fold_floats(const wg_config *c, int n_half) {
    size_t L = (size_t)c->wn_n_layers, C = (size_t)c->wn_n_channels, R = 2 * (size_t)n_half;
    return R < C ? (L - 1) * (C + R) * C + R * C + R : 0;
}

size_t wg_wn_start_fold_floats(const wg_config *c, int n_half) {
    size_t C = (size_t)c->wn_n_channels, H = (size_t)n_half;
    return H + 1 < C ? (size_t)c->wn_kernel_size * 2 * C * (H + 1) : 0;
}

static size_t xs_rows(const wg_config *c) { return (size_t)c->n_group / 2 + 1; }

size_t wg_wn_work_floats(const wg_config *c, size_t cap) {
    size_t C = (size_t)c->wn_n_channels, ld = cap + 2 * wn_pad(c);
    return 2 * C * ld + cond_layers(c) * 2 * C * cap + C * cap + xs_rows(c) * ld;
}

void wg_wn_work_init(wg_wn_work *w, const wg_config *c, size_t cap, float *mem) {
    size_t C = (size_t)c->wn_n_channels;
    w->capacity = cap;
    w->pad = wn_pad(c);
    w->cond_layers = cond_layers(c);
    w->hs = mem, mem += 2 * C * (cap + 2 * w->pad);
    w->pre = mem, mem += w->cond_layers * 2 * C * cap;
    w->acts = mem, mem += C * cap;
    w->xs = mem;
    w->fold = (wg_cond_fold_input){0};
}

void wg_wn_forward(const wg_model *m, const wg_flow_view *v, const float *a0, size_t lda, const float *cond, size_t n,
                   wg_wn_work *w, float *out, float *scratch) {
    wg_wn_forward_part(m, v, a0, lda, cond, n, w, out, 0, n, NULL, scratch);
}

void wg_wn_forward_part(const wg_model *m, const wg_flow_view *v, const float *a0, size_t lda, const float *cond,
                        size_t n, wg_wn_work *w, float *out, size_t c0, size_t c1, wg_team *team, float *scratch) {
    const wg_config *c = &m->cfg;
    size_t C = (size_t)c->wn_n_channels, L = (size_t)c->wn_n_layers, K = (size_t)c->wn_kernel_size;
    size_t MG = (size_t)c->n_mel_channels * c->n_group, P = w->pad, ldh = n + 2 * P, nc = c1 - c0;
    float *acts = w->acts + c0;
    float *h = w->hs + P, *skip = w->hs + C * ldh + P + c0; /* h's column 0; skip's column c0 (ld ldh) */
    /* the members' dilated taps of the last WN (these buffers' previous user) may still read h */
    wg_team_barrier(team);
    /* the zero padding: what a conv with padding = dilation·(K−1)/2 sees past either end */
    for (size_t r = 0; r < C && c0 < c1; r++) { /* by the members at the ends; one with no columns stays out */
        if (c0 == 0) memset(w->hs + r * ldh, 0, P * sizeof(float));
        if (c1 == n) memset(w->hs + P + r * ldh + n, 0, P * sizeof(float));
    }
    wg_fill_bias(h + c0, C, nc, ldh, v->start_b);
    wg_gemm(C, nc, (size_t)v->n_half, v->start_w, (size_t)v->n_half, a0 + c0, lda, 1.0f, h + c0, ldh);
    /* skip starts at the sum of every layer's skip bias: one pass instead of one a layer; with
     * end multiplied through, skip is already out's 2·n_half rows and starts at end_b_total */
    const float *rse = v->rs_end_w;
    size_t H = (size_t)v->n_half, R = 2 * H;
    for (size_t r = 0; r < (rse ? R : C) && c0 < c1; r++) {
        float b = 0.0f;
        if (rse) b = v->end_b_total[r];
        else for (size_t i = 0; i < L; i++) b += v->rs_b[i][i < L - 1 ? C + r : r];
        for (size_t t = 0; t < nc; t++) skip[r * ldh + t] = b;
    }
    /* [a0; 1] for start_taps, zero past either end as h is (the taps' barrier orders these
     * writes before the neighbours read them) */
    size_t P0 = (K - 1) / 2;
    for (size_t r = 0; v->start_taps && r <= H && c0 < c1; r++) {
        float *x = w->xs + P + r * ldh;
        if (c0 == 0) memset(x - P0, 0, P0 * sizeof(float));
        if (c1 == n) memset(x + n, 0, P0 * sizeof(float));
        if (r < H) memcpy(x + c0, a0 + r * lda + c0, nc * sizeof(float));
        else for (size_t t = c0; t < c1; t++) x[t] = 1.0f;
    }
    for (size_t i = 0; i < L; i++) {
        size_t d = (size_t)1 << i;
        /* pre = in_b + cond_b slice + cond_w slice · cond + Σ_j W_j · h shifted by (j − (K−1)/2)·d;
         * the cond terms of w->cond_layers layers at a time, in one GEMM that packs cond once. A
         * fold has no cond to pack: a layer at a time, its rows still in cache for the taps and
         * the gate (the bundled model's folded synthesis 3-11% faster than 6 layers at a time) */
        int folded = w->fold.frames && v->cond_fold;
        size_t LB = folded ? 1 : w->cond_layers, nb = L - i < LB ? L - i : LB;
        float *pre = w->pre + (i % LB) * 2 * C * n + c0;
        if (i % LB == 0 && folded) {
            /* shared out by rows over every column: the members' gates of the layer before may
             * still read these rows' other columns */
            if (i) wg_team_barrier(team);
            wg_cond_fold_apply(c, v, i * 2 * C, nb * 2 * C, &w->fold, n, c0, c1, pre - c0, n, scratch);
        } else if (i % LB == 0) {
            for (size_t b = 0; b < nb; b++)
                wg_fill_bias2(pre + b * 2 * C * n, 2 * C, nc, n, v->in_b[i + b], v->cond_b + (i + b) * 2 * C);
            wg_gemm(nb * 2 * C, nc, MG, v->cond_w + i * 2 * C * MG, MG, cond + c0, n, 1.0f, pre, n);
        }
        /* h complete, every member's residual update of the layer before in: the taps read the
         * neighbours' columns */
        wg_team_barrier(team);
        if (i == 0 && v->start_taps) {
            for (size_t j = 0; j < K && c0 < c1; j++)
                wg_gemm(2 * C, nc, H + 1, v->start_taps + j * 2 * C * (H + 1), H + 1,
                        w->xs + P + c0 + (long)j - (long)P0, ldh, 1.0f, pre, n);
        } else if (m->winograd && c0 < c1) {
            size_t S = 2 * C * C;
            const float *taps = v->in_w_taps + i * 3 * S, *t = v->in_w_wino + i * 6 * S;
            const float *u[8] = {taps, t, t + S, t + 2 * S, t + 3 * S, t + 4 * S, t + 5 * S, taps + 2 * S};
            taps_winograd(u, C, h, ldh, n + P, d, c0, c1, pre - c0, n, scratch, wino_tile_sextets(c));
        } else {
            for (size_t j = 0; j < K; j++) {
                long shift = ((long)j - (long)(K - 1) / 2) * (long)d;
                wg_gemm(2 * C, nc, C, v->in_w_taps + (i * K + j) * 2 * C * C, C, h + c0 + shift, ldh, 1.0f, pre, n);
            }
        }
        wg_gate(acts, n, pre, n, C, nc);
        const float *rw = v->rs_w[i], *rb = v->rs_b[i];
        if (i < L - 1) {
            /* every member's taps have read h: now its columns may change. [h; skip] += [res; skip
             * weights] · acts, one GEMM (128 x n x 64 takes 0.83 of two of 64 rows on one core) */
            wg_team_barrier(team);
            wg_add_bias(h + c0, C, nc, ldh, rb);
            if (rse) wg_gemm(C + R, nc, C, rse + i * (C + R) * C, C, acts, n, 1.0f, h + c0, ldh);
            else wg_gemm(2 * C, nc, C, rw, C, acts, n, 1.0f, h + c0, ldh);
        } else if (rse) {
            for (size_t r = 0; r < R && c0 < c1; r++) memcpy(out + r * n + c0, skip + r * ldh, nc * sizeof(float));
            wg_gemm(R, nc, C, rse + i * (C + R) * C, C, acts, n, 1.0f, out + c0, n);
        } else {
            wg_gemm(C, nc, C, rw, C, acts, n, 1.0f, skip, ldh);
        }
    }
    if (!rse) {
        wg_fill_bias(out + c0, R, nc, n, v->end_b);
        wg_gemm(R, nc, C, v->end_w, C, skip, ldh, 1.0f, out + c0, n);
    }
}

/* ---- training -------------------------------------------------------------------------------- */

size_t wg_wn_cache_floats(const wg_config *c, size_t cap) {
    size_t C = (size_t)c->wn_n_channels, L = (size_t)c->wn_n_layers, P = wn_pad(c);
    return L * C * (cap + 2 * P) + L * 2 * C * cap + C * cap + C * cap + C * (cap + 2 * P) + C * cap + C * cap +
           2 * C * C;
}

void wg_wn_cache_init(wg_wn_cache *w, const wg_config *c, size_t cap, float *mem) {
    size_t C = (size_t)c->wn_n_channels, L = (size_t)c->wn_n_layers;
    w->capacity = cap;
    w->pad = wn_pad(c);
    size_t ldh = cap + 2 * w->pad;
    w->h = mem, mem += L * C * ldh;
    w->gate = mem, mem += L * 2 * C * cap;
    w->skip = mem, mem += C * cap;
    w->acts = mem, mem += C * cap;
    w->dh = mem, mem += C * ldh;
    w->dacts = mem, mem += C * cap;
    w->dskip = mem, mem += C * cap;
    w->dw_tap = mem;
}

static void zero_pads(float *h, size_t rows, size_t n, size_t P) {
    size_t ldh = n + 2 * P;
    for (size_t r = 0; r < rows; r++) {
        memset(h + r * ldh, 0, P * sizeof(float));
        memset(h + r * ldh + P + n, 0, P * sizeof(float));
    }
}

void wg_wn_forward_cached(const wg_model *m, const wg_flow_view *v, const float *a0, size_t lda, const float *cond,
                          size_t n, wg_wn_cache *w, float *out) {
    const wg_config *c = &m->cfg;
    size_t C = (size_t)c->wn_n_channels, L = (size_t)c->wn_n_layers, K = (size_t)c->wn_kernel_size;
    size_t MG = (size_t)c->n_mel_channels * c->n_group, P = w->pad, ldh = n + 2 * P;
    float *h0 = w->h;
    zero_pads(h0, C, n, P);
    wg_fill_bias(h0 + P, C, n, ldh, v->start_b);
    wg_gemm(C, n, (size_t)v->n_half, v->start_w, (size_t)v->n_half, a0, lda, 1.0f, h0 + P, ldh);
    wg_fill_bias(w->skip, C, n, n, NULL);
    /* every layer's cond term in one GEMM: the cond operand is packed once, not once a layer
     * (the gates are kept per layer anyway, so this costs no memory here, unlike synthesis) */
    for (size_t i = 0; i < L; i++)
        wg_fill_bias2(w->gate + i * 2 * C * n, 2 * C, n, n, v->in_b[i], v->cond_b + i * 2 * C);
    wg_gemm(L * 2 * C, n, MG, v->cond_w, MG, cond, n, 1.0f, w->gate, n);
    for (size_t i = 0; i < L; i++) {
        size_t d = (size_t)1 << i;
        float *hi = w->h + i * C * ldh, *gate = w->gate + i * 2 * C * n, *pre = gate;
        for (size_t j = 0; j < K; j++) {
            long shift = ((long)j - (long)(K - 1) / 2) * (long)d;
            wg_gemm(2 * C, n, C, v->in_w_taps + (i * K + j) * 2 * C * C, C, hi + P + shift, ldh, 1.0f, pre, n);
        }
        wg_tanh(gate, pre, C * n);
        wg_sigmoid(gate + C * n, pre + C * n, C * n);
        for (size_t t = 0; t < C * n; t++) w->acts[t] = gate[t] * gate[C * n + t];
        const float *rw = v->rs_w[i], *rb = v->rs_b[i];
        if (i < L - 1) {
            float *next = w->h + (i + 1) * C * ldh;
            zero_pads(next, C, n, P);
            wg_add_bias_to(next + P, hi + P, C, n, ldh, rb);
            wg_gemm(C, n, C, rw, C, w->acts, n, 1.0f, next + P, ldh);
            wg_add_bias(w->skip, C, n, n, rb + C);
            wg_gemm(C, n, C, rw + C * C, C, w->acts, n, 1.0f, w->skip, n);
        } else {
            wg_add_bias(w->skip, C, n, n, rb);
            wg_gemm(C, n, C, rw, C, w->acts, n, 1.0f, w->skip, n);
        }
    }
    size_t out_rows = 2 * (size_t)v->n_half;
    wg_fill_bias(out, out_rows, n, n, v->end_b);
    wg_gemm(out_rows, n, C, v->end_w, C, w->skip, n, 1.0f, out, n);
}

/* db[r] += Σ_t d[r][t], and db2[r] too where db2 is not NULL (two biases added to one sum) */
static void add_row_sums2(float *db, float *db2, const float *d, size_t rows, size_t n, size_t ld) {
    for (size_t r = 0; r < rows; r++) {
        float sum = (float)wg_sum_f64(d + r * ld, n);
        db[r] += sum;
        if (db2) db2[r] += sum;
    }
}

static void add_row_sums(float *db, const float *d, size_t rows, size_t n, size_t ld) {
    add_row_sums2(db, NULL, d, rows, n, ld);
}

/* C (m×n) += A (m×k, lda) · Bᵀ, B stored (n×k, ldb): weight gradients dW += dY · Xᵀ */
static void gemm_bt(size_t m, size_t n, size_t k, const float *a, size_t lda, const float *b, size_t ldb, float *c,
                    size_t ldc) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)n, (int)k, 1.0f, a, (int)lda, b, (int)ldb, 1.0f,
                c, (int)ldc);
}

void wg_wn_backward(const wg_model *m, const wg_flow_view *v, const wg_flow_view *g, const float *a0, size_t lda,
                    const float *cond, size_t n, wg_wn_cache *w, const float *dout, float *da0, size_t ldd,
                    float *dcond) {
    const wg_config *c = &m->cfg;
    size_t C = (size_t)c->wn_n_channels, L = (size_t)c->wn_n_layers, K = (size_t)c->wn_kernel_size;
    size_t MG = (size_t)c->n_mel_channels * c->n_group, P = w->pad, ldh = n + 2 * P, half = (size_t)v->n_half;
    /* out = E·skip + e */
    gemm_bt(2 * half, C, n, dout, n, w->skip, n, g->end_w, C);
    add_row_sums(g->end_b, dout, 2 * half, n, n);
    wg_gemm_at(C, n, 2 * half, v->end_w, C, dout, n, 0.0f, w->dskip, n);
    memset(w->dh, 0, C * ldh * sizeof(float)); /* h after the last layer feeds nothing */
    for (size_t li = L; li-- > 0;) {
        size_t d = (size_t)1 << li;
        const float *hi = w->h + li * C * ldh, *gate = w->gate + li * 2 * C * n;
        for (size_t t = 0; t < C * n; t++) w->acts[t] = gate[t] * gate[C * n + t];
        /* rs = R·acts + r: the residual half goes to h, the skip half to skip */
        float *dacts = w->dacts;
        const float *rw = v->rs_w[li];
        if (li < L - 1) {
            gemm_bt(C, C, n, w->dh + P, ldh, w->acts, n, g->rs_w[li], C);
            gemm_bt(C, C, n, w->dskip, n, w->acts, n, g->rs_w[li] + C * C, C);
            add_row_sums(g->rs_b[li], w->dh + P, C, n, ldh);
            add_row_sums(g->rs_b[li] + C, w->dskip, C, n, n);
            wg_gemm_at(C, n, C, rw, C, w->dh + P, ldh, 0.0f, dacts, n);
            wg_gemm_at(C, n, C, rw + C * C, C, w->dskip, n, 1.0f, dacts, n);
        } else {
            gemm_bt(C, C, n, w->dskip, n, w->acts, n, g->rs_w[li], C);
            add_row_sums(g->rs_b[li], w->dskip, C, n, n);
            wg_gemm_at(C, n, C, rw, C, w->dskip, n, 0.0f, dacts, n);
        }
        /* acts = tanh(a)·σ(b). dL/dpre replaces the layer's gate values, read for the last time
         * here, so that after the last layer the cache's gates hold every layer's dpre: the cond
         * terms' two gradients are then one GEMM each over all layers (K = L·2C, cond and dcond
         * read once) instead of L with K = 2C */
        float *dpre = w->gate + li * 2 * C * n;
        for (size_t t = 0; t < C * n; t++) {
            float th = dpre[t], sg = dpre[C * n + t], da = dacts[t];
            dpre[t] = da * sg * (1.0f - th * th);
            dpre[C * n + t] = da * th * sg * (1.0f - sg);
        }
        /* pre = Σ_j W_j · h shifted + in_b + cond_w slice · cond + cond_b slice */
        add_row_sums2(g->in_b[li], g->cond_b + li * 2 * C, dpre, 2 * C, n, n);
        /* dh (the residual path) already holds dL/dh_{li+1}, which is also dL/dh_li through the identity */
        for (size_t j = 0; j < K; j++) {
            long shift = ((long)j - (long)(K - 1) / 2) * (long)d;
            /* dW_j (2C, C) = dpre · h_shiftedᵀ; PyTorch keeps (2C, C, K), where tap j is strided, so
             * the GEMM writes a dense scratch that is then added in */
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)(2 * C), (int)C, (int)n, 1.0f, dpre, (int)n,
                        hi + P + shift, (int)ldh, 0.0f, w->dw_tap, (int)C);
            for (size_t o = 0; o < 2 * C; o++)
                for (size_t ci = 0; ci < C; ci++) g->in_w[li][(o * C + ci) * K + j] += w->dw_tap[o * C + ci];
            wg_gemm_at(C, n, 2 * C, v->in_w_taps + (li * K + j) * 2 * C * C, C, dpre, n, 1.0f, w->dh + P + shift, ldh);
        }
        zero_pads(w->dh, C, n, P); /* what fell into the padding belongs to no input */
    }
    /* the cond terms of every layer: cond_w (L·2C, MG) and the gates, now dpre, (L·2C, n) */
    gemm_bt(L * 2 * C, MG, n, w->gate, n, cond, n, g->cond_w, MG);
    wg_gemm_at(MG, n, L * 2 * C, v->cond_w, MG, w->gate, n, 1.0f, dcond, n);
    /* h0 = S·a0 + s */
    gemm_bt(C, half, n, w->dh + P, ldh, a0, lda, g->start_w, half);
    add_row_sums(g->start_b, w->dh + P, C, n, ldh);
    wg_gemm_at(half, n, C, v->start_w, half, w->dh + P, ldh, 1.0f, da0, ldd);
}
