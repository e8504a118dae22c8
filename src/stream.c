/* stream.c — see waveglow.h. With F frames pushed, every sample below F·hop has its final
 * upsampled conditioning (the transposed conv is causal in frames: sample s depends on frames
 * ⌊s/hop⌋ − 3 … ⌊s/hop⌋), so steps up to F·hop/g − context are ready; a window reaches `context`
 * steps past its kept centre on both sides, clipped at the signal's start and, once finished,
 * at its end, exactly as wg_synthesize places its windows. Mel frames no window can need again
 * are dropped, so memory stays bounded however long the stream runs. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "condfold.h"
#include "err.h"
#include "flow.h"
#include "kernels.h"
#include "model.h"
#include "synth.h"

struct wg_stream {
    const wg_model *m;
    wg_stream_params p;
    size_t G, M, hop, context, chunk;
    float *mel; /* (M, cap), row stride cap: frames [first, first + count) */
    size_t cap, first, count;
    size_t out_step; /* the next step to synthesise */
    bool finished;
    float *fifo; /* ready audio: [rd, wr) */
    size_t fifo_cap, rd, wr;
    wg_flow_work work;
};

wg_stream_params wg_stream_default_params(void) {
    return (wg_stream_params){.sigma = 0.6f, .seed = 0, .context_ms = -1, .chunk_steps = 0, .n_threads = 0};
}

int wg_stream_create(const wg_model *m, const wg_stream_params *params, wg_stream **out, wg_error *err) {
    *out = NULL;
    wg_stream_params p = params ? *params : wg_stream_default_params();
    if (!isfinite(p.sigma) || p.sigma < 0) return wg_fail(err, WG_EINVAL, "sigma %g must be >= 0", p.sigma);
    if (!isfinite(p.context_ms)) return wg_fail(err, WG_EINVAL, "context must be finite");
    wg_stream *s = calloc(1, sizeof *s);
    if (!s) return wg_fail(err, WG_ENOMEM, "out of memory");
    const wg_config *c = &m->cfg;
    s->m = m, s->p = p;
    s->G = (size_t)c->n_group, s->M = (size_t)c->n_mel_channels, s->hop = (size_t)c->hop_length;
    s->context = p.context_ms < 0 ? wg_flow_reach(c) : (size_t)llround(p.context_ms * 1e-3 * c->sampling_rate / (double)s->G);
    s->chunk = p.chunk_steps ? p.chunk_steps : 512;
    s->cap = 64;
    s->mel = malloc(sizeof(float) * s->M * s->cap);
    s->fifo_cap = s->chunk * s->G * 2;
    s->fifo = malloc(sizeof(float) * s->fifo_cap);
    if (!s->mel || !s->fifo || wg_flow_work_alloc(c, s->chunk + 2 * s->context, &s->work) ||
        (wg_model_folded(m) && wg_flow_work_fold(&s->work, c))) {
        wg_stream_free(s);
        return wg_fail(err, WG_ENOMEM, "out of memory for a stream");
    }
    *out = s;
    return 0;
}

void wg_stream_free(wg_stream *s) {
    if (!s) return;
    free(s->mel);
    free(s->fifo);
    wg_flow_work_free(&s->work);
    free(s);
}

size_t wg_stream_lookahead(const wg_stream *s) { return s->context * s->G; }
size_t wg_stream_available(const wg_stream *s) { return s->wr - s->rd; }

size_t wg_stream_pull(wg_stream *s, float *out, size_t max) {
    size_t n = s->wr - s->rd < max ? s->wr - s->rd : max;
    memcpy(out, s->fifo + s->rd, n * sizeof(float));
    s->rd += n;
    return n;
}

static int fifo_reserve(wg_stream *s, size_t n) {
    if (s->rd > 0) { /* slide the unread part to the front */
        memmove(s->fifo, s->fifo + s->rd, (s->wr - s->rd) * sizeof(float));
        s->wr -= s->rd, s->rd = 0;
    }
    if (s->wr + n <= s->fifo_cap) return 0;
    size_t cap = (s->wr + n) * 2;
    float *f = realloc(s->fifo, cap * sizeof(float));
    if (!f) return -1;
    s->fifo = f, s->fifo_cap = cap;
    return 0;
}

/* Synthesises every window that is ready. */
static int run(wg_stream *s, wg_error *err) {
    size_t frames = s->first + s->count;
    size_t known = frames * s->hop / s->G;                                 /* steps with final conditioning */
    size_t end = s->finished ? frames * s->hop / s->G : (size_t)-1;        /* wg_synth_samples / G */
    size_t ready = s->finished ? end : (known > s->context ? known - s->context : 0);
    /* a window costs its context on both sides whatever it keeps: wait for a whole chunk */
    if (!s->finished && ready < s->out_step + s->chunk)
        return 0;
    int blas_threads = wg_get_threads(); /* the caller's, put back below */
    wg_flow_work_threads(&s->work, s->p.n_threads);
    int rc = 0;
    while (s->out_step < ready && !rc) {
        wg_window win;
        win.c0 = s->out_step;
        win.c1 = win.c0 + s->chunk < ready ? win.c0 + s->chunk : ready;
        win.w0 = win.c0 > s->context ? win.c0 - s->context : 0;
        win.w1 = win.c1 + s->context < known ? win.c1 + s->context : known;
        if (fifo_reserve(s, (win.c1 - win.c0) * s->G)) {
            rc = wg_fail(err, WG_ENOMEM, "out of memory");
            break;
        }
        wg_mel_view view = {s->mel, s->cap, s->first, s->count};
        wg_inverse_window(s->m, &s->work, &view, NULL, 0, s->p.sigma, s->p.seed, win, s->fifo + s->wr);
        s->wr += (win.c1 - win.c0) * s->G;
        s->out_step = win.c1;
    }
    wg_set_threads(blas_threads);
    return rc;
}

int wg_stream_push(wg_stream *s, const float *frames, size_t n, size_t ld, wg_error *err) {
    if (s->finished) return wg_fail(err, WG_EINVAL, "the stream was already finished");
    for (size_t b = 0; b < s->M; b++)
        for (size_t f = 0; f < n; f++)
            if (!isfinite(frames[b * ld + f]))
                return wg_fail(err, WG_ENONFINITE, "mel value at band %zu of frame %zu is not finite", b,
                               s->first + s->count + f);
    /* drop frames that no window will read again: the next window starts at out_step − context */
    size_t w0 = s->out_step > s->context ? s->out_step - s->context : 0, s0 = w0 * s->G;
    size_t need = s0 + 1 > 4 * s->hop ? (s0 + 1 - 4 * s->hop) / s->hop : 0;
    if (need > s->first + s->count) need = s->first + s->count;
    if (s->count + n > s->cap && need > s->first) {
        size_t drop = need - s->first;
        for (size_t b = 0; b < s->M; b++)
            memmove(s->mel + b * s->cap, s->mel + b * s->cap + drop, (s->count - drop) * sizeof(float));
        s->first += drop, s->count -= drop;
    }
    if (s->count + n > s->cap) {
        size_t cap = (s->count + n) * 2;
        float *mel = malloc(sizeof(float) * s->M * cap);
        if (!mel) return wg_fail(err, WG_ENOMEM, "out of memory");
        for (size_t b = 0; b < s->M; b++) memcpy(mel + b * cap, s->mel + b * s->cap, s->count * sizeof(float));
        free(s->mel);
        s->mel = mel, s->cap = cap;
    }
    for (size_t b = 0; b < s->M; b++) memcpy(s->mel + b * s->cap + s->count, frames + b * ld, n * sizeof(float));
    s->count += n;
    return run(s, err);
}

int wg_stream_finish(wg_stream *s, wg_error *err) {
    if (s->finished) return 0;
    s->finished = true;
    return run(s, err);
}
