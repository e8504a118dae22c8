/* test_flow.c — the WaveGlow flow against NVIDIA's own code (float64 parity vectors in
 * tests/data/reference, see its README), inverse(forward(x)) = x on random configs, windowed
 * processing equal to one whole-signal pass, and the counter-based latent generator. */
#include <stdint.h>

#include "condfold.h"
#include "kernels.h"
#include "model.h"
#include "upsample.h"
#include "wavenet.h"
#include "rng.h"
#include "safetensors.h"
#include "synth.h"
#include "team.h"
#include "testutil.h"

static float *tensor(const wg_st_file *st, const char *name, size_t *numel) {
    const wg_st_tensor *t = wg_st_find(st, name);
    assert_non_null(t);
    float *x = malloc(t->numel * sizeof(float));
    assert_int_equal(wg_st_copy(st, t, x, NULL), 0);
    if (numel)
        *numel = t->numel;
    return x;
}

static double scalar(const wg_st_file *st, const char *name) {
    const wg_st_tensor *t = wg_st_find(st, name);
    assert_non_null(t);
    double v;
    assert_int_equal(wg_st_copy_f64(st, t, &v, NULL), 0);
    return v;
}

/* Both ways of doing the dilated taps: three GEMMs, and Winograd's F(6,3) (which loading turns
 * on only from 64 channels; the tiny model has fewer). */
static void nvidia_parity(int winograd, int fold) {
    wg_model *m;
    wg_st_file io;
    wg_error err = {0};
    assert_int_equal(wg_model_load(DATA("reference/tiny.model.safetensors"), &m, &err), 0);
    assert_int_equal(m->winograd, 0);
    wg_model_set_winograd(m, winograd);
    if (fold) {
        assert_int_equal(wg_model_fold_conditioning(m, SIZE_MAX, &err), 0);
        wg_model_set_fold_min_frames(m, 0); /* every window folds, however narrow */
    }
    assert_int_equal(wg_model_get_info(m).folded, fold);
    printf("dilated taps by %s, conditioning %s:\n", winograd ? "Winograd's F(6,3)" : "three GEMMs",
           fold ? "folded" : "upsampled");
    assert_int_equal(wg_st_read(DATA("reference/tiny.io.safetensors"), &io, &err), 0);
    size_t T, nz, n_inv;
    float *audio = tensor(&io, "audio", &T), *mel = tensor(&io, "mel", NULL), *zref = tensor(&io, "z", &nz);
    float *z_in = tensor(&io, "z_in", NULL), *mel_inv = tensor(&io, "mel_inv", NULL);
    float *aref = tensor(&io, "audio_inv", &n_inv);
    double sigma = scalar(&io, "sigma");
    float *z = malloc(nz * sizeof(float)), *a = malloc(n_inv * sizeof(float));
    wg_likelihood lk;
    assert_int_equal(wg_encode(m, mel, 17, audio, T, z, &lk, NULL, &err), 0);
    double ez = max_abs_diff(z, zref, nz) / max_abs(zref, nz);
    double ref_log_s = scalar(&io, "log_s_total"), ref_log_det = scalar(&io, "log_det_W_total");
    double ref_loss = scalar(&io, "loss");
    double e_s = fabs(lk.log_s_total - ref_log_s) / fabs(ref_log_s);
    double e_w = fabs(lk.log_det_w_total - ref_log_det) / fmax(fabs(ref_log_det), 1e-300);
    double e_l = fabs(lk.loss - ref_loss) / fabs(ref_loss);
    printf("z: max |err| / max |z| = %.2e (max |z| %.3f)\n", ez, max_abs(zref, nz));
    printf("log_s_total %.9g vs %.9g: rel err %.2e\n", lk.log_s_total, ref_log_s, e_s);
    printf("log_det_W_total %.9g vs %.9g: rel err %.2e\n", lk.log_det_w_total, ref_log_det, e_w);
    printf("loss %.9g vs %.9g: rel err %.2e\n", lk.loss, ref_loss, e_l);
    assert_true(ez <= 1e-5);
    assert_true(e_s <= 1e-5);
    assert_true(e_w <= 1e-5 || fabs(lk.log_det_w_total - ref_log_det) <= 1e-5);
    assert_true(e_l <= 1e-5);
    assert_true(lk.n_samples == T && lk.sigma == 1.0);
    /* the change-of-variables identity, with every constant */
    double ll = -lk.sum_z2 / 2 - T * 0.5 * log(2 * M_PI) + ref_log_s + ref_log_det;
    printf("log p(x) = %.6f nats (%.4f nats/sample, %.3f bits per 16-bit sample)\n", lk.log_likelihood,
           lk.nats_per_sample, lk.bits_per_sample16);
    assert_true(fabs(lk.log_likelihood - ll) <= 1e-5 * fabs(ll));
    assert_true(fabs(lk.bits_per_sample16 - (15.0 - lk.nats_per_sample / log(2.0))) < 1e-9);

    assert_int_equal(wg_synth_samples(m, 16), n_inv);
    assert_int_equal(wg_decode(m, mel_inv, 16, z_in, n_inv, (float)sigma, a, NULL, &err), 0);
    double ea = max_abs_diff(a, aref, n_inv) / max_abs(aref, n_inv);
    printf("audio_inv: max |err| / max |audio| = %.2e (max |audio| %.3f)\n", ea, max_abs(aref, n_inv));
    assert_true(ea <= 1e-5);
    free(audio), free(mel), free(zref), free(z_in), free(mel_inv), free(aref), free(z), free(a);
    wg_st_close(&io);
    wg_model_free(m);
}

static void test_nvidia_parity(void **state) {
    (void)state;
    for (int fold = 0; fold <= 1; fold++) {
        nvidia_parity(0, fold);
        nvidia_parity(1, fold);
    }
}

/* ---- random models -------------------------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static double urand(void) { /* splitmix64 → [0, 1) */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return (double)((z ^ (z >> 31)) >> 11) * 0x1p-53;
}
static float nrand(void) { return (float)(sqrt(-2 * log(urand() + 1e-300)) * cos(2 * M_PI * urand())); }

/* A model with random weights scaled like a trained one: the 1×1 convs are random rotations
 * (products of Householder reflections), end layers small so exp(log_s) stays moderate. */
static wg_model *random_model(const wg_config *cfg) {
    wg_param_table t;
    assert_int_equal(wg_param_table_build(cfg, &t), 0);
    float *p = malloc(t.total * sizeof(float));
    for (int i = 0; i < t.n; i++) {
        const wg_param *q = &t.p[i];
        size_t fan_in = q->ndim > 1 ? q->shape[1] * (q->ndim > 2 ? q->shape[2] : 1) : 1;
        float scale = q->ndim > 1 ? 1.0f / sqrtf((float)fan_in) : 0.1f;
        if (q->role == WG_P_END_W || q->role == WG_P_END_B)
            scale *= 0.3f;
        if (q->role == WG_P_UPSAMPLE_W)
            scale = 0.05f;
        for (size_t j = 0; j < q->numel; j++)
            p[q->offset + j] = scale * nrand();
        if (q->role == WG_P_CONVINV_W) {
            size_t n = q->shape[0];
            float *w = p + q->offset;
            for (size_t a = 0; a < n * n; a++)
                w[a] = (a / n == a % n);
            for (int h = 0; h < 3; h++) { /* w ← (I − 2vvᵀ) w */
                double v[64], norm = 0;
                for (size_t a = 0; a < n; a++) {
                    v[a] = nrand();
                    norm += v[a] * v[a];
                }
                norm = sqrt(norm);
                for (size_t col = 0; col < n; col++) {
                    double dot = 0;
                    for (size_t a = 0; a < n; a++)
                        dot += v[a] / norm * w[a * n + col];
                    for (size_t a = 0; a < n; a++)
                        w[a * n + col] -= (float)(2 * v[a] / norm * dot);
                }
            }
        }
    }
    wg_model *m;
    wg_error err = {0};
    assert_int_equal(wg_model_from_params(cfg, p, "random", &m, &err), 0);
    wg_param_table_free(&t);
    return m;
}

static wg_config make_config(int rate, int hop, int n_mel, int flows, int group, int every, int early, int layers,
                             int channels, int kernel) {
    wg_config c = wg_config_default();
    c.sampling_rate = rate;
    c.hop_length = hop;
    c.win_length = c.filter_length = 4 * hop;
    c.mel_fmax = rate / 2.0;
    c.n_mel_channels = n_mel;
    c.n_flows = flows;
    c.n_group = group;
    c.n_early_every = every;
    c.n_early_size = early;
    c.wn_n_layers = layers;
    c.wn_n_channels = channels;
    c.wn_kernel_size = kernel;
    wg_error err = {0};
    int rc = wg_config_validate(&c, "random config", &err);
    if (rc)
        printf("%s\n", err.message);
    assert_int_equal(rc, 0);
    return c;
}

static void round_trip(const wg_config *cfg, size_t frames, int winograd) {
    wg_model *m = random_model(cfg);
    wg_model_set_winograd(m, winograd);
    size_t T = wg_synth_samples(m, frames), M = (size_t)cfg->n_mel_channels;
    float *mel = malloc(M * frames * sizeof(float)), *x = malloc(T * sizeof(float));
    float *z = malloc(T * sizeof(float)), *y = malloc(T * sizeof(float)), *z2 = malloc(T * sizeof(float));
    for (size_t i = 0; i < M * frames; i++)
        mel[i] = -5.0f + 2.0f * nrand();
    for (size_t i = 0; i < T; i++)
        x[i] = 0.3f * nrand();
    wg_error err = {0};
    wg_likelihood lk, lk2;
    int rc = wg_encode(m, mel, frames, x, T, z, &lk, NULL, &err);
    if (rc)
        printf("encode: %s\n", err.message);
    assert_int_equal(rc, 0);
    assert_int_equal(wg_decode(m, mel, frames, z, T, 1.0f, y, NULL, &err), 0);
    double e = max_abs_diff(x, y, T) / max_abs(x, T);
    /* windowed: tiny chunks force many windows; the result must not change */
    wg_run_params p = wg_run_default_params();
    p.chunk_steps = 5;
    assert_int_equal(wg_encode(m, mel, frames, x, T, z2, &lk2, &p, &err), 0);
    double ec = max_abs_diff(z, z2, T) / max_abs(z, T);
    double el = fabs(lk.log_likelihood - lk2.log_likelihood) / fabs(lk.log_likelihood);
    assert_int_equal(wg_decode(m, mel, frames, z, T, 1.0f, z2, &p, &err), 0);
    double ed = max_abs_diff(y, z2, T) / max_abs(y, T);
    printf("%2d kHz hop %3d mel %2d flows %d group %d early %d/%d WN %dx%d k%d%s, %zu samples: "
           "|x - inv(fwd(x))| %.1e, chunked z %.1e ll %.1e audio %.1e (%.3f nats/sample)\n",
           cfg->sampling_rate / 1000, cfg->hop_length, cfg->n_mel_channels, cfg->n_flows, cfg->n_group,
           cfg->n_early_size, cfg->n_early_every, cfg->wn_n_layers, cfg->wn_n_channels, cfg->wn_kernel_size,
           m->winograd ? " Winograd" : "", T, e, ec, el, ed, lk.nats_per_sample);
    assert_true(e <= 1e-5);
    assert_true(ec <= 1e-5 && el <= 1e-6 && ed <= 1e-5);
    free(mel), free(x), free(z), free(y), free(z2);
    wg_model_free(m);
}

static void test_round_trips(void **state) {
    (void)state;
    wg_config cs[] = {
        make_config(22050, 256, 80, 4, 8, 2, 2, 3, 16, 3), /* the reference shape, n_mel 80 */
        make_config(16000, 200, 40, 5, 4, 3, 2, 2, 12, 5), /* n_group 4, kernel 5, 16 kHz, hop 200 */
        make_config(16000, 160, 24, 6, 8, 2, 2, 3, 8, 1),  /* kernel 1 (no temporal context in WN) */
        make_config(22050, 64, 20, 3, 8, 4, 2, 4, 10, 3),  /* no early output (every 4 > flows) */
        make_config(16000, 96, 32, 4, 8, 1, 2, 2, 8, 3),   /* early output after every flow */
        make_config(24000, 120, 16, 4, 6, 2, 2, 3, 8, 7),  /* n_group 6, kernel 7 */
        make_config(16000, 128, 20, 2, 8, 2, 2, 5, 96, 3), /* wide enough for the Winograd taps by default */
    };
    size_t frames[] = {9, 12, 10, 40, 20, 11, 20};
    for (size_t i = 0; i < sizeof cs / sizeof cs[0]; i++) {
        round_trip(&cs[i], frames[i], wg_wn_winograd_pays(&cs[i]));
        if (cs[i].wn_kernel_size == 3) /* and the other way */
            round_trip(&cs[i], frames[i], !wg_wn_winograd_pays(&cs[i]));
    }
}

static void test_synthesis_is_split_invariant(void **state) {
    (void)state;
    wg_config cfg = make_config(16000, 128, 20, 4, 8, 2, 2, 3, 8, 3);
    wg_model *m = random_model(&cfg);
    size_t frames = 50, T = wg_synth_samples(m, frames);
    float *mel = malloc(20 * frames * sizeof(float)), *a = malloc(T * sizeof(float)), *b = malloc(T * sizeof(float));
    for (size_t i = 0; i < 20 * frames; i++)
        mel[i] = -4.0f + nrand();
    wg_error err = {0};
    wg_run_params p = wg_run_default_params();
    assert_int_equal(wg_synthesize(m, mel, frames, 0.6f, 1234, a, &p, &err), 0);
    p.chunk_steps = 17;
    assert_int_equal(wg_synthesize(m, mel, frames, 0.6f, 1234, b, &p, &err), 0);
    double e = max_abs_diff(a, b, T);
    printf("synthesis, one window vs windows of 17 steps: max |diff| %.2e (max |audio| %.3f)\n", e, max_abs(a, T));
    assert_true(e <= 1e-5 * max_abs(a, T));
    /* another seed gives other audio; sigma 0 is the mean path, independent of the seed */
    assert_int_equal(wg_synthesize(m, mel, frames, 0.6f, 1235, b, &p, &err), 0);
    assert_true(max_abs_diff(a, b, T) > 1e-3);
    assert_int_equal(wg_synthesize(m, mel, frames, 0.0f, 1, a, &p, &err), 0);
    assert_int_equal(wg_synthesize(m, mel, frames, 0.0f, 2, b, &p, &err), 0);
    assert_true(max_abs_diff(a, b, T) == 0);
    /* bad inputs */
    mel[7] = NAN;
    assert_int_equal(wg_synthesize(m, mel, frames, 0.6f, 1, a, &p, &err), WG_ENONFINITE);
    assert_non_null(strstr(err.message, "frame 7"));
    mel[7] = 0;
    assert_int_equal(wg_synthesize(m, mel, frames, -1.0f, 1, a, &p, &err), WG_EINVAL);
    assert_int_equal(wg_encode(m, mel, 2, a, T, b, NULL, &p, &err), WG_EINVAL);
    assert_non_null(strstr(err.message, "cover"));
    assert_int_equal(wg_encode(m, mel, frames, a, 13, b, NULL, &p, &err), WG_EINVAL);
    free(mel), free(a), free(b);
    wg_model_free(m);
}

/* The flows split among a team of threads (each layer's columns shared out, the dilated taps
 * reading across the members' boundaries) give the audio, the latent and the likelihood of one
 * thread, with members that get one block, several, or none; and wg_team_split covers the
 * columns exactly, in blocks of 16. Dilations up to 16 put some members' first column in the last
 * sixth of a Winograd block (80 of 96 columns), whose sextets have only their last output there. */
static void test_team_matches_one_thread(void **state) {
    (void)state;
    for (size_t n = 0; n < 200; n += 7)
        for (int size = 1; size <= 5; size++) {
            size_t next = 0;
            for (int r = 0; r < size; r++) {
                size_t c0, c1;
                wg_team_split(n, r, size, &c0, &c1);
                assert_true(c0 == next && c1 >= c0 && (c0 % 16 == 0 || c0 == n));
                next = c1;
            }
            assert_true(next == n);
        }
    wg_config cfg = make_config(16000, 128, 20, 4, 8, 2, 2, 5, 8, 3); /* dilations up to 16 */
    wg_model *m = random_model(&cfg);
    size_t frames = 13, T = wg_synth_samples(m, frames); /* 208 columns */
    float *mel = malloc(20 * frames * sizeof(float)), *a = malloc(T * sizeof(float)), *b = malloc(T * sizeof(float));
    float *za = malloc(T * sizeof(float)), *zb = malloc(T * sizeof(float));
    for (size_t i = 0; i < 20 * frames; i++)
        mel[i] = -4.0f + nrand();
    wg_error err = {0};
    wg_run_params p = wg_run_default_params();
    wg_likelihood la, lb;
    for (int winograd = 0; winograd <= 1; winograd++) {
        wg_model_set_winograd(m, winograd);
        p.n_threads = 1;
        assert_int_equal(wg_synthesize(m, mel, frames, 0.6f, 99, a, &p, &err), 0);
        assert_int_equal(wg_encode(m, mel, frames, a, T, za, &la, &p, &err), 0);
        int sizes[] = {2, 3, 5, 16};
        for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
            p.n_threads = sizes[i];
            for (int rep = 0; rep < 3; rep++) {
                assert_int_equal(wg_synthesize(m, mel, frames, 0.6f, 99, b, &p, &err), 0);
                assert_int_equal(wg_encode(m, mel, frames, a, T, zb, &lb, &p, &err), 0);
                double e = max_abs_diff(a, b, T), ez = max_abs_diff(za, zb, T);
                double el = fabs(la.log_likelihood - lb.log_likelihood) / fabs(la.log_likelihood);
                if (rep == 0)
                    printf("%s, %2d threads vs 1: audio max |diff| %.2e, latent %.2e, log-likelihood %.1e relative\n",
                           winograd ? "Winograd taps" : "tap GEMMs", sizes[i], e, ez, el);
                assert_true(e <= 1e-5 * max_abs(a, T) && ez <= 1e-5 * max_abs(za, T) && el <= 1e-6);
            }
        }
    }
    /* the caller's BLAS thread count survives (the trainer sets it once, then validates through
     * wg_encode between steps) */
    wg_set_threads(1);
    p.n_threads = 2;
    assert_int_equal(wg_encode(m, mel, frames, a, T, zb, &lb, &p, &err), 0);
    assert_int_equal(wg_synthesize(m, mel, frames, 0.6f, 99, b, &p, &err), 0);
    assert_int_equal(wg_get_threads(), 1);
    wg_set_threads(3);
    int before = wg_get_threads(); /* what OpenBLAS allows of 3 here */
    assert_int_equal(wg_synthesize(m, mel, frames, 0.6f, 99, b, &p, &err), 0);
    assert_int_equal(wg_get_threads(), before);
    wg_set_threads(1); /* OpenBLAS's own threads are invisible to ThreadSanitizer: the tests after this run without */
    free(mel), free(a), free(b), free(za), free(zb);
    wg_model_free(m);
}

/* A workspace (wg_run_params.workspace) gives the audio, latent and likelihood of calls without
 * one, to the bit, through a sequence that grows it (one window, then many of another width),
 * keeps it (a shorter call, the same arena), changes its team (2 threads, then 1), serves a
 * folded model and a model of another shape (laid out again); and a call that fails leaves it
 * usable. */
static void test_workspace_reuse(void **state) {
    (void)state;
    wg_config ca = make_config(16000, 128, 20, 4, 8, 2, 2, 4, 8, 3), cb = make_config(16000, 64, 12, 2, 16, 4, 2, 3, 6, 3);
    wg_model *ma = random_model(&ca), *mb = random_model(&cb), *mf = random_model(&ca);
    wg_error err = {0};
    assert_int_equal(wg_model_fold_conditioning(mf, SIZE_MAX, &err), 0);
    wg_model_set_fold_min_frames(mf, 1); /* the fold at any width */
    size_t frames = 60, Tmax = wg_synth_samples(ma, frames) + wg_synth_samples(mb, frames);
    float *mel = malloc(20 * frames * sizeof(float)), *x = malloc(Tmax * sizeof(float));
    float *a = malloc(Tmax * sizeof(float)), *b = malloc(Tmax * sizeof(float));
    for (size_t i = 0; i < 20 * frames; i++) mel[i] = -4.0f + nrand();
    for (size_t i = 0; i < Tmax; i++) x[i] = 0.3f * nrand();
    wg_workspace *ws;
    assert_int_equal(wg_workspace_create(&ws, &err), 0);
    const wg_flow_work *kept = wg_workspace_work(ws);
    struct {
        wg_model *m;
        size_t frames, chunk;
        int threads;
        int arena; /* 1: the call must keep the arena of the call before, 0: it must lay out another */
    } calls[] = {
        {ma, 8, 0, 1, 0},   /* one window of 128 steps: the first layout */
        {ma, 60, 40, 1, 0}, /* windows of 40 steps and the reach (60) on each side: wider, laid out again */
        {ma, 10, 0, 2, 1},  /* one window of 160 steps, the capacity: kept, with a team of two */
        {ma, 60, 40, 1, 1}, /* the team back to one thread, the arena kept */
        {mf, 10, 0, 2, 1},  /* the folded model of the same shape: the arena kept, fold buffers added */
        {mb, 50, 0, 1, 0},  /* another shape (200 steps) */
        {ma, 12, 0, 1, 0},  /* and back (192 steps) */
    };
    float *prev = NULL;
    size_t prev_cap = 0;
    int prev_group = 0;
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        wg_model *m = calls[i].m;
        size_t fr = calls[i].frames, T = wg_synth_samples(m, fr);
        wg_run_params own = wg_run_default_params();
        own.chunk_steps = calls[i].chunk;
        own.n_threads = calls[i].threads;
        wg_run_params shared = own;
        shared.workspace = ws;
        wg_likelihood la, lb;
        assert_int_equal(wg_synthesize(m, mel, fr, 0.6f, 7, a, &own, &err), 0);
        assert_int_equal(wg_synthesize(m, mel, fr, 0.6f, 7, b, &shared, &err), 0);
        assert_memory_equal(a, b, T * sizeof(float));
        /* a new layout may land at the old address: it shows in the capacity or the shape */
        if (calls[i].arena)
            assert_true(kept->mem == prev && kept->capacity == prev_cap);
        else
            assert_true(kept->capacity != prev_cap || kept->cfg.n_group != prev_group);
        assert_true(kept->cfg.n_group == m->cfg.n_group && kept->cfg.hop_length == m->cfg.hop_length);
        assert_true((kept->fold_mem != NULL) >= wg_model_folded(m));
        assert_int_equal(wg_decode(m, mel, fr, x, T, 0.8f, a, &own, &err), 0);
        assert_int_equal(wg_decode(m, mel, fr, x, T, 0.8f, b, &shared, &err), 0);
        assert_memory_equal(a, b, T * sizeof(float));
        assert_int_equal(wg_encode(m, mel, fr, x, T, a, &la, &own, &err), 0);
        assert_int_equal(wg_encode(m, mel, fr, x, T, b, &lb, &shared, &err), 0);
        assert_memory_equal(a, b, T * sizeof(float));
        assert_true(la.log_likelihood == lb.log_likelihood);
        assert_true(kept->mem != NULL && (kept->team != NULL) == (calls[i].threads > 1));
        prev = kept->mem, prev_cap = kept->capacity, prev_group = kept->cfg.n_group;
    }
    /* a failed call (a NaN in the mel) fails as it would without, and the next call still agrees */
    wg_run_params own = wg_run_default_params(), shared = own;
    shared.workspace = ws;
    mel[3] = NAN;
    assert_int_equal(wg_synthesize(ma, mel, 10, 0.6f, 7, b, &shared, &err), WG_ENONFINITE);
    mel[3] = -4.0f;
    size_t T = wg_synth_samples(ma, 10);
    assert_int_equal(wg_synthesize(ma, mel, 10, 0.6f, 7, a, &own, &err), 0);
    assert_int_equal(wg_synthesize(ma, mel, 10, 0.6f, 7, b, &shared, &err), 0);
    assert_memory_equal(a, b, T * sizeof(float));
    wg_workspace_free(ws);
    wg_workspace_free(NULL);
    wg_set_threads(1);
    free(mel), free(x), free(a), free(b);
    wg_model_free(ma), wg_model_free(mb), wg_model_free(mf);
}

/* The folded conditioning (condfold.h) computes the function of the upsampler and cond convs:
 * synthesis, encoding and the likelihood agree with the unfolded model's, alone and in teams
 * whose members split frames, in one window and in many (frames shared across window edges),
 * with several cond GEMM blocks (128 channels: 3 layers, then 1), with rows that the members
 * split unevenly (5 channels: 30 rows), and in each layout of the fold: the one the CPU and the
 * BLAS's kernels pick, panels of 8 rows (or the most that divide a layer) with a window's frames
 * in one GEMM, of 2 rows with GEMMs of at most 4 frames (uneven, and across window edges), and
 * strips (16 phases: a whole row at hop / n_group 16, half a row at 32) where they apply; a
 * panel of rows that do not divide a layer, or of a part of a row other than a strip, is
 * refused; the streamed audio equals the
 * offline audio; the fold is refused where it cannot apply or would take too much memory, and
 * a refresh (the trainer's, after a step) drops it. */
static void test_cond_fold(void **state) {
    (void)state;
    wg_config cfgs[] = {make_config(16000, 128, 20, 4, 8, 2, 2, 4, 8, 3), make_config(16000, 64, 12, 2, 16, 4, 2, 4, 128, 3),
                        make_config(16000, 256, 20, 2, 8, 2, 2, 3, 5, 3)};
    for (size_t ci = 0; ci < sizeof cfgs / sizeof cfgs[0]; ci++) {
        wg_model *m = random_model(&cfgs[ci]);
        size_t M = (size_t)cfgs[ci].n_mel_channels, frames = 29, T = wg_synth_samples(m, frames);
        float *mel = malloc(M * frames * sizeof(float)), *a = malloc(T * sizeof(float)), *b = malloc(T * sizeof(float));
        float *za = malloc(T * sizeof(float)), *zb = malloc(T * sizeof(float));
        for (size_t i = 0; i < M * frames; i++) mel[i] = -4.0f + nrand();
        wg_error err = {0};
        wg_run_params p = wg_run_default_params();
        wg_likelihood la, lb;
        p.n_threads = 1;
        assert_int_equal(wg_synthesize(m, mel, frames, 0.6f, 7, a, &p, &err), 0);
        assert_int_equal(wg_encode(m, mel, frames, a, T, za, &la, &p, &err), 0);
        wg_model_info before = wg_model_get_info(m);
        assert_int_equal(wg_model_fold_conditioning(m, before.fold_bytes - 1, &err), WG_EUNSUPPORTED);
        assert_non_null(strstr(err.message, "MB"));
        assert_false(wg_model_get_info(m).folded);
        assert_int_equal(wg_model_fold_conditioning(m, before.fold_bytes, &err), 0);
        /* windows narrower than the model's minimum take the upsampler's path: the same audio */
        assert_int_equal(m->cond_fold_min_frames, WG_COND_FOLD_MIN_FRAMES);
        wg_model_set_fold_min_frames(m, frames + 1);
        p.n_threads = 1;
        assert_int_equal(wg_synthesize(m, mel, frames, 0.6f, 7, b, &p, &err), 0);
        assert_true(max_abs_diff(a, b, T) == 0);
        wg_model_set_fold_min_frames(m, 0);
        wg_model_info after = wg_model_get_info(m);
        assert_true(after.folded && after.computed_flops_per_second < 0.75 * before.computed_flops_per_second);
        assert_true(after.fold_breakeven_samples > 0);
        int threads[] = {1, 2, 3};
        size_t chunks[] = {0, 23}, layer_rows = 2 * (size_t)cfgs[ci].wn_n_channels;
        size_t R = (size_t)(cfgs[ci].hop_length / cfgs[ci].n_group);
        /* the layout chosen; 8 rows (or the most that divide a layer) with a window's frames in
         * one GEMM; 2 rows with GEMMs of at most 4 frames; strips */
        size_t panels[] = {m->cond_fold_panel_cols, (layer_rows % 8 ? layer_rows % 4 ? 2 : 4 : 8) * R, 2 * R,
                           WG_COND_FOLD_STRIP};
        size_t frames_per_gemm[] = {m->cond_fold_chunk_frames, 0, 4, 0};
        assert_int_equal(wg_cond_fold_build(m, SIZE_MAX, 3 * R, 0, &err), WG_EINVAL);
        assert_int_equal(wg_cond_fold_build(m, SIZE_MAX, 16 * R, 0, &err), WG_EINVAL);
        /* part of a row, not a strip */
        assert_int_equal(wg_cond_fold_build(m, SIZE_MAX, R / 2 == WG_COND_FOLD_STRIP ? R / 4 : R / 2, 0, &err),
                         WG_EINVAL);
        printf("%s\n", err.message);
        for (size_t fi = 0; fi < 4; fi++) {
            if (!wg_cond_fold_panel_valid(&cfgs[ci], panels[fi])) continue;
            assert_int_equal(wg_cond_fold_build(m, SIZE_MAX, panels[fi], frames_per_gemm[fi], &err), 0);
            wg_model_set_fold_min_frames(m, 0);
            for (size_t ti = 0; ti < 3; ti++)
            for (size_t ki = 0; ki < 2; ki++) {
                p.n_threads = threads[ti], p.chunk_steps = chunks[ki];
                assert_int_equal(wg_synthesize(m, mel, frames, 0.6f, 7, b, &p, &err), 0);
                assert_int_equal(wg_encode(m, mel, frames, a, T, zb, &lb, &p, &err), 0);
                double e = max_abs_diff(a, b, T), ez = max_abs_diff(za, zb, T);
                double el = fabs(la.log_likelihood - lb.log_likelihood) / fabs(la.log_likelihood);
                printf("config %zu folded (panels of %zu columns, GEMMs of %zu frames), %d thread(s), chunk %2zu: "
                       "audio max |diff| %.2e, latent %.2e, log-likelihood %.1e relative\n", ci, panels[fi],
                       frames_per_gemm[fi], threads[ti], chunks[ki], e, ez, el);
                assert_true(e <= 1e-5 * max_abs(a, T) && ez <= 1e-5 * max_abs(za, T) && el <= 1e-6);
                assert_true(e > 0); /* rounded otherwise: the folded path ran */
            }
        }
        /* the stream's windows of 32 steps with the exact context, pushed frame by frame */
        wg_stream *s;
        wg_stream_params sp = wg_stream_default_params();
        sp.chunk_steps = 32, sp.sigma = 0.6f, sp.seed = 7, sp.n_threads = 2;
        assert_int_equal(wg_stream_create(m, &sp, &s, &err), 0);
        size_t got = 0;
        for (size_t f = 0; f <= frames; f++) {
            if (f < frames) {
                assert_int_equal(wg_stream_push(s, mel + f, 1, frames, &err), 0);
            } else {
                assert_int_equal(wg_stream_finish(s, &err), 0);
            }
            got += wg_stream_pull(s, b + got, T - got);
        }
        assert_int_equal(got, T);
        double es = max_abs_diff(a, b, T);
        printf("config %zu folded, streamed vs offline unfolded: max |diff| %.2e\n", ci, es);
        assert_true(es <= 1e-5 * max_abs(a, T));
        wg_stream_free(s);
        assert_int_equal(wg_model_refresh(m), 0);
        assert_false(wg_model_get_info(m).folded);
        free(mel), free(a), free(b), free(za), free(zb);
        wg_model_free(m);
    }
    /* hop 100 is no multiple of n_group 8: no fold */
    wg_config odd = make_config(16000, 100, 8, 2, 4, 2, 2, 2, 8, 3);
    wg_model *m = random_model(&odd);
    wg_error err = {0};
    assert_int_equal(wg_model_get_info(m).fold_bytes, 0);
    assert_int_equal(wg_model_fold_conditioning(m, SIZE_MAX, &err), WG_EUNSUPPORTED);
    wg_model_free(m);
}

/* How wide synthesis's windows are: an input that two windows would cut with 2.5% or more of
 * it repeated goes in one window where its arena fits 256 MB (the bundled model's 10 s, NVIDIA's
 * config's 10 s); longer ones in windows of 16384 steps or 8 reaches, as do those of models of
 * short reach, whatever their memory; an explicit chunk is kept. */
static void test_window_steps(void **state) {
    (void)state;
    wg_config bundled = make_config(16000, 256, 80, 8, 8, 4, 2, 6, 64, 3);
    wg_config nvidia = make_config(22050, 256, 80, 12, 8, 4, 2, 8, 256, 3);
    wg_config tiny = make_config(22050, 256, 16, 4, 8, 2, 2, 3, 16, 3);
    size_t rb = wg_flow_reach(&bundled), rn = wg_flow_reach(&nvidia), rt = wg_flow_reach(&tiny);
    assert_int_equal(rb, 504);
    assert_int_equal(rn, 3060);
    /* the bundled model: one window through 80 reaches, its arena within 256 MB there */
    assert_int_equal(wg_synth_window_steps(&bundled, 20000, 0), 20000);
    assert_int_equal(wg_synth_window_steps(&bundled, 80 * rb, 0), 80 * rb);
    assert_true(wg_flow_work_floats(&bundled, 80 * rb) * sizeof(float) <= (size_t)256 << 20);
    assert_int_equal(wg_synth_window_steps(&bundled, 80 * rb + 1, 0), 16384);
    assert_int_equal(wg_synth_window_steps(&bundled, 20000, 4096), 4096);
    assert_int_equal(wg_synth_window_steps(&bundled, 4096 + 2 * rb, 4096), 4096 + 2 * rb);
    /* NVIDIA's: one window as far as the arena allows, then 8 reaches */
    assert_int_equal(wg_synth_window_steps(&nvidia, 27562, 0), 27562);
    assert_int_equal(wg_synth_window_steps(&nvidia, 31000, 0), 31000);
    assert_true(wg_flow_work_floats(&nvidia, 31000) * sizeof(float) <= (size_t)256 << 20);
    assert_int_equal(wg_synth_window_steps(&nvidia, 33000, 0), 8 * rn);
    assert_true(wg_flow_work_floats(&nvidia, 33000) * sizeof(float) > (size_t)256 << 20);
    /* short reach: windows of 16384 however little memory a wider one would take */
    assert_int_equal(wg_synth_window_steps(&tiny, 16384 + 2 * rt, 0), 16384 + 2 * rt);
    assert_int_equal(wg_synth_window_steps(&tiny, 16384 + 2 * rt + 1, 0), 16384);
    assert_true(wg_flow_work_floats(&tiny, 16384 + 2 * rt + 1) * sizeof(float) < (size_t)64 << 20);
}

/* A copy of m with its own parameters, one of them (params index `tweak`, or none where
 * tweak == SIZE_MAX) moved by 1e-3. */
static wg_model *model_copy(const wg_model *m, size_t tweak) {
    float *p = malloc(m->table.total * sizeof(float));
    memcpy(p, m->params, m->table.total * sizeof(float));
    if (tweak != SIZE_MAX) p[tweak] += 1e-3f;
    wg_model *c;
    wg_error err = {0};
    assert_int_equal(wg_model_from_params(&m->cfg, p, "copy", &c, &err), 0);
    return c;
}

static void flip_byte(const char *path, long offset) {
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, offset, SEEK_SET), 0);
    int b = fgetc(fp);
    assert_int_equal(fseek(fp, offset, SEEK_SET), 0);
    fputc(b ^ 0x10, fp);
    assert_int_equal(fclose(fp), 0);
}

/* Overwrites the first `from` in the file with `to`, of the same length. */
static void replace_in_file(const char *path, const char *from, const char *to) {
    assert_int_equal(strlen(from), strlen(to));
    FILE *fp = fopen(path, "r+b");
    assert_non_null(fp);
    char head[4096] = {0};
    size_t got = fread(head, 1, sizeof head - 1, fp);
    assert_true(got > 8);
    char *at = strstr(head + 8, from); /* the JSON header, after its 8-byte length */
    assert_non_null(at);
    assert_int_equal(fseek(fp, at - head, SEEK_SET), 0);
    assert_int_equal(fwrite(to, 1, strlen(to), fp), strlen(to));
    assert_int_equal(fclose(fp), 0);
}

/* A fold saved to a file (foldfile.h) and mapped into a model with the same weights is the same
 * fold, bit for bit, in the layout it was saved in (the one picked, panels of 2 rows, and strips
 * of half a row), and synthesises the same audio; so is a file of the first format, which named
 * its layout by "group_rows"; a model with other cond or upsampler weights refuses it, as does a
 * damaged, cut or foreign file or one whose layout is none of this model's, and a refused load
 * leaves the model's fold as it was; a model with no fold has none to save. */
static void test_fold_file(void **state) {
    (void)state;
    wg_config cfg = make_config(16000, 256, 20, 4, 8, 2, 2, 4, 8, 3); /* R = 32 phases */
    wg_model *m = random_model(&cfg), *same = model_copy(m, SIZE_MAX);
    size_t M = (size_t)cfg.n_mel_channels, frames = 29, T = wg_synth_samples(m, frames);
    size_t fold_floats = wg_cond_fold_floats(&cfg) / (size_t)cfg.n_flows, CL2 = 2 * 8 * 4;
    float *mel = malloc(M * frames * sizeof(float)), *a = malloc(T * sizeof(float)), *b = malloc(T * sizeof(float));
    for (size_t i = 0; i < M * frames; i++) mel[i] = -4.0f + nrand();
    char path[512], bad[512];
    tmp_path(path, sizeof path, "model.fold");
    tmp_path(bad, sizeof bad, "bad.fold");
    wg_error err = {0};
    wg_run_params p = wg_run_default_params();
    p.n_threads = 1;
    assert_int_equal(wg_model_save_fold(m, path, &err), WG_EINVAL);
    assert_false(file_exists(path));
    size_t panels[] = {0, WG_COND_FOLD_STRIP, 2 * 32}; /* 0: what wg_model_fold_conditioning picks */
    for (size_t pi = 0; pi < 3; pi++) {
        if (panels[pi])
            assert_int_equal(wg_cond_fold_build(m, SIZE_MAX, panels[pi], 0, &err), 0);
        else
            assert_int_equal(wg_model_fold_conditioning(m, SIZE_MAX, &err), 0);
        wg_model_set_fold_min_frames(m, 0);
        assert_int_equal(wg_synthesize(m, mel, frames, 0.6f, 7, a, &p, &err), 0);
        assert_int_equal(wg_model_save_fold(m, path, &err), 0);
        assert_int_equal(wg_model_load_fold(same, path, &err), 0);
        assert_true(wg_model_get_info(same).folded && same->cond_fold_map_bytes > 0);
        assert_int_equal(same->cond_fold_panel_cols, m->cond_fold_panel_cols);
        assert_int_equal(same->cond_fold_chunk_frames, m->cond_fold_chunk_frames);
        for (int k = 0; k < cfg.n_flows; k++) {
            assert_memory_equal(same->flows[k].cond_fold, m->flows[k].cond_fold, (fold_floats - CL2) * sizeof(float));
            assert_memory_equal(same->flows[k].cond_fold_b, m->flows[k].cond_fold_b, CL2 * sizeof(float));
        }
        wg_model_set_fold_min_frames(same, 0);
        assert_int_equal(wg_synthesize(same, mel, frames, 0.6f, 7, b, &p, &err), 0);
        printf("fold file, panels of %zu columns: audio max |diff| against the model it was saved from %.2e\n",
               same->cond_fold_panel_cols, max_abs_diff(a, b, T));
        assert_true(max_abs_diff(a, b, T) == 0);
    }
    /* the last file (panels of 2 rows) as the first format wrote it: the same fold; a layout that
     * is none of this model's is refused */
    assert_int_equal(sh("cp %s %s", path, bad), 0);
    replace_in_file(bad, "\"panel_columns\":\"64\"", "\"group_rows\":    \"2\"");
    wg_model *legacy = model_copy(m, SIZE_MAX);
    assert_int_equal(wg_model_load_fold(legacy, bad, &err), 0);
    assert_int_equal(legacy->cond_fold_panel_cols, 64);
    wg_model_set_fold_min_frames(legacy, 0);
    assert_int_equal(wg_synthesize(legacy, mel, frames, 0.6f, 7, b, &p, &err), 0);
    assert_true(max_abs_diff(a, b, T) == 0);
    wg_model_free(legacy);
    replace_in_file(bad, "\"group_rows\":    \"2\"", "\"group_rows\":    \"3\"");
    assert_int_equal(wg_model_load_fold(same, bad, &err), WG_EFORMAT);
    printf("%s\n", err.message);
    assert_non_null(strstr(err.message, "no layout"));
    assert_int_equal(sh("cp %s %s", path, bad), 0);
    replace_in_file(bad, "\"panel_columns\":\"64\"", "\"panel_columns\":\"48\"");
    assert_int_equal(wg_model_load_fold(same, bad, &err), WG_EFORMAT);
    assert_non_null(strstr(err.message, "no layout"));
    /* other cond or upsampler weights: refused, the model unfolded as it was */
    size_t cond_b = (size_t)(m->flows[1].cond_b - m->params), up_w = (size_t)(m->upsample_w - m->params);
    size_t tweaks[] = {cond_b + 3, up_w + 77};
    for (size_t ti = 0; ti < 2; ti++) {
        wg_model *other = model_copy(m, tweaks[ti]);
        assert_int_equal(wg_model_load_fold(other, path, &err), WG_ECONFIG);
        printf("%s\n", err.message);
        assert_non_null(strstr(err.message, "waveglow fold"));
        assert_false(wg_model_get_info(other).folded);
        wg_model_free(other);
    }
    /* a byte of the data changed, a cut file, no file, a safetensors file of something else: refused,
     * and `same` keeps the fold it holds */
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(sh("cp %s %s", path, bad), 0);
    flip_byte(bad, (long)st.st_size - 4 * (long)CL2 - 5);
    assert_int_equal(wg_model_load_fold(same, bad, &err), WG_EFORMAT);
    printf("%s\n", err.message);
    assert_non_null(strstr(err.message, "checksum"));
    assert_int_equal(sh("cp %s %s && truncate -s %ld %s", path, bad, (long)st.st_size - 100, bad), 0);
    assert_true(wg_model_load_fold(same, bad, &err) < 0);
    printf("%s\n", err.message);
    assert_int_equal(wg_model_load_fold(same, "/nonexistent/model.fold", &err), WG_EIO);
    wg_st_entry e = {"cond_fold.0", 1, {4}, mel};
    assert_int_equal(wg_st_write(bad, &e, 1, NULL, &err), 0);
    assert_int_equal(wg_model_load_fold(same, bad, &err), WG_EFORMAT);
    printf("%s\n", err.message);
    assert_non_null(strstr(err.message, "not a conditioning fold file"));
    assert_true(wg_model_get_info(same).folded);
    assert_int_equal(wg_synthesize(same, mel, frames, 0.6f, 7, b, &p, &err), 0);
    assert_true(max_abs_diff(a, b, T) == 0);
    /* a config with no fold (hop 100 is no multiple of n_group 8) */
    wg_config odd = make_config(16000, 100, 8, 2, 4, 2, 2, 2, 8, 3);
    wg_model *o = random_model(&odd);
    assert_int_equal(wg_model_load_fold(o, path, &err), WG_EUNSUPPORTED);
    wg_model_free(o);
    free(mel), free(a), free(b);
    wg_model_free(m), wg_model_free(same);
}

/* wg_cond_fold_apply alone: every row of pre, over windows that start and end inside a frame,
 * as short as one step and many frames long (whole six-frame blocks, and after them or alone
 * blocks of 1-5 frames), against in_b + cond_b + cond_w · (the upsampled mel) in float64. pre
 * starts as NaN, so a step that no one writes shows, and two members split the rows as a team's
 * do. Hops of 16 and 32 steps a frame (whole 16-column strips) and of 4 (not), each layout of
 * the fold: panels of 8, 4 and 2 rows, of 2 rows in GEMMs of 4 frames, and strips (16 phases of a
 * row, half a row at 32), multiplied by the AVX2 kernel or in GEMMs of 5 frames. */
static void test_cond_fold_apply_windows(void **state) {
    (void)state;
    const wg_config cfgs[] = {make_config(16000, 128, 20, 2, 8, 2, 2, 2, 8, 3),
                              make_config(16000, 256, 16, 2, 8, 2, 2, 2, 5, 3),
                              make_config(16000, 64, 12, 2, 16, 4, 2, 2, 8, 3)};
    for (int ci = 0; ci < 3; ci++) {
        const wg_config *c = &cfgs[ci];
        wg_model *m = random_model(c);
        size_t M = (size_t)c->n_mel_channels, MG = M * c->n_group, R = (size_t)(c->hop_length / c->n_group);
        size_t C2 = 2 * (size_t)c->wn_n_channels, rows = C2 * c->wn_n_layers, F = 41, KF = 4 * M;
        float *mel = malloc(M * F * sizeof(float));
        for (size_t i = 0; i < M * F; i++) mel[i] = -4.0f + nrand();
        wg_mel_view mv = wg_mel_view_all(mel, F);
        /* steps [s0, s0 + n): whole frames; inside frames at both ends (one step past a 16-step
         * run's start, one short of a run's end, one into the last run); one step */
        size_t windows[][2] = {{0, F * R},     {5, 37},         {1, 6 * R + 14}, {R - 1, 2 * R + 2},
                               {R - 1, 1},     {3, 6 * R + 7},  {2 * R + 9, F * R - 2 * R - 12},
                               {R + 3, R},     {0, 12 * R}};
        size_t panels[] = {8 * R, 4 * R, 2 * R, 2 * R, WG_COND_FOLD_STRIP, WG_COND_FOLD_STRIP};
        size_t chunks[] = {0, 0, 0, 4, 0, 5};
        for (size_t li = 0; li < sizeof panels / sizeof panels[0]; li++) {
            if (!wg_cond_fold_panel_valid(c, panels[li])) continue;
            wg_error err = {0};
            assert_int_equal(wg_cond_fold_build(m, SIZE_MAX, panels[li], chunks[li], &err), 0);
            const wg_flow_view *v = &m->flows[1];
            for (size_t wi = 0; wi < sizeof windows / sizeof windows[0]; wi++) {
                size_t s0 = windows[wi][0], n = windows[wi][1], h0, h1;
                wg_cond_fold_frame_range(c, s0, s0 + n, &h0, &h1);
                size_t ld = h1 - h0, n_scratch = wg_cond_fold_scratch_floats(c, n);
                float *frames = malloc(KF * ld * sizeof(float)), *pre = malloc((rows * n + 16) * sizeof(float));
                float *up = malloc(MG * n * sizeof(float)), *up_scratch = malloc(wg_upsample_scratch(c) * sizeof(float));
                float *scratch[2] = {malloc(n_scratch * sizeof(float)), malloc(n_scratch * sizeof(float))};
                wg_cond_fold_frames(c, &mv, h0, h0, h1, frames, ld);
                wg_cond_fold_input in = {frames, ld, h0, s0, panels[li], chunks[li]};
                for (size_t i = 0; i < rows * n + 16; i++) pre[i] = i < rows * n ? NAN : 7.0f;
                /* the members' columns [0, split) and [split, n), the second's rows first: a step
                 * written past a row's end would stay in the next member's first row */
                size_t split = n / 3;
                for (size_t l = 0; l < (size_t)c->wn_n_layers; l++) {
                    wg_cond_fold_apply(c, v, l * C2, C2, &in, n, split, n, pre + l * C2 * n, n, scratch[1]);
                    wg_cond_fold_apply(c, v, l * C2, C2, &in, n, 0, split, pre + l * C2 * n, n, scratch[0]);
                }
                for (size_t i = rows * n; i < rows * n + 16; i++) assert_true(pre[i] == 7.0f);
                wg_upsample_cond(m, &mv, s0, n, up, n, up_scratch);
                double worst = 0, scale = 0;
                for (size_t r = 0; r < rows; r++)
                    for (size_t t = 0; t < n; t++) {
                        double want = (double)v->in_b[r / C2][r % C2] + v->cond_b[r];
                        for (size_t q = 0; q < MG; q++) want += (double)v->cond_w[r * MG + q] * up[q * n + t];
                        double got = pre[r * n + t];
                        worst = isfinite(got) ? fmax(worst, fabs(got - want)) : INFINITY;
                        scale = fmax(scale, fabs(want));
                    }
                printf("fold apply, hop %d / group %d, panels of %zu columns, GEMMs of %zu frames, steps [%zu, %zu): "
                       "max |diff| %.2e of %.2e\n", c->hop_length, c->n_group, panels[li], chunks[li], s0, s0 + n,
                       worst, scale);
                assert_true(scale > 0.1 && worst <= 1e-5 * scale);
                free(frames), free(pre), free(up), free(up_scratch), free(scratch[0]), free(scratch[1]);
            }
        }
        free(mel);
        wg_model_free(m);
    }
}

/* Synthesis computes the cond terms of several WN layers in one GEMM (as many as fit 768 rows,
 * so 3 of 4 layers at 128 channels, then 1), training all of them: the two forwards must agree,
 * and the training one is checked against PyTorch in test_train_step. */
static void test_wn_cond_batches_agree(void **state) {
    (void)state;
    const wg_config cfgs[] = {make_config(16000, 128, 20, 2, 8, 2, 2, 4, 128, 3),
                              make_config(16000, 128, 20, 2, 8, 2, 2, 3, 8, 3)};
    for (int ci = 0; ci < 2; ci++) {
        const wg_config *c = &cfgs[ci];
        wg_model *m = random_model(c);
        const wg_flow_view *v = &m->flows[0];
        size_t n = 100, MG = (size_t)c->n_mel_channels * c->n_group, H = (size_t)v->n_half;
        float *a0 = malloc(H * n * sizeof(float)), *cond = malloc(MG * n * sizeof(float));
        float *out = malloc(2 * H * n * sizeof(float)), *ref = malloc(2 * H * n * sizeof(float));
        float *wmem = malloc(wg_wn_work_floats(c, n) * sizeof(float));
        float *cmem = malloc(wg_wn_cache_floats(c, n) * sizeof(float));
        for (size_t i = 0; i < H * n; i++) a0[i] = nrand();
        for (size_t i = 0; i < MG * n; i++) cond[i] = nrand();
        wg_wn_work w;
        wg_wn_cache cache;
        wg_wn_work_init(&w, c, n, wmem);
        wg_wn_cache_init(&cache, c, n, cmem);
        float *scratch = malloc(wg_wn_scratch_floats(c) * sizeof(float));
        wg_model_set_winograd(m, 0);
        wg_wn_forward(m, v, a0, n, cond, n, &w, out, scratch);
        free(scratch);
        wg_wn_forward_cached(m, v, a0, n, cond, n, &cache, ref);
        double e = max_abs_diff(out, ref, 2 * H * n), scale = max_abs(ref, 2 * H * n);
        printf("WN %d x %d, cond GEMMs of %zu layers: max |diff| %.2e of %.2e\n", c->wn_n_layers, c->wn_n_channels,
               w.cond_layers, e, scale);
        assert_true(scale > 1e-3 && e <= 1e-5 * scale);
        free(a0), free(cond), free(out), free(ref), free(wmem), free(cmem);
        wg_model_free(m);
    }
}

/* Winograd's F(6,3) taps against the tap GEMMs, and both against the WN in float64 (which
 * keeps start, skip and end as the layers they are), at
 * widths either side of where loading turns it on, for windows shorter than one block of 6·d,
 * not a multiple of it, and many blocks long (several tiles of 768 sextets, 4608 steps), so that
 * every edge case of the sextets (clipped inputs past the padding, outputs past the window) is
 * reached. */
static void wn_f64(const wg_model *m, const wg_flow_view *v, const float *a0, const float *cond, size_t n,
                   double *out) {
    const wg_config *c = &m->cfg;
    size_t C = (size_t)c->wn_n_channels, L = (size_t)c->wn_n_layers, H = (size_t)v->n_half;
    size_t MG = (size_t)c->n_mel_channels * c->n_group, K = (size_t)c->wn_kernel_size;
    double *h = calloc(C * n, sizeof(double)), *skip = calloc(C * n, sizeof(double));
    double *pre = malloc(2 * C * n * sizeof(double)), *acts = malloc(C * n * sizeof(double));
    for (size_t o = 0; o < C; o++)
        for (size_t t = 0; t < n; t++) {
            double x = v->start_b[o];
            for (size_t i = 0; i < H; i++) x += (double)v->start_w[o * H + i] * a0[i * n + t];
            h[o * n + t] = x;
        }
    for (size_t l = 0; l < L; l++) {
        long d = 1L << l;
        for (size_t o = 0; o < 2 * C; o++)
            for (size_t t = 0; t < n; t++) {
                double x = (double)v->in_b[l][o] + v->cond_b[l * 2 * C + o];
                for (size_t i = 0; i < MG; i++) x += (double)v->cond_w[(l * 2 * C + o) * MG + i] * cond[i * n + t];
                for (long j = 0; j < (long)K; j++) {
                    long s = (long)t + (j - (long)(K - 1) / 2) * d;
                    if (s < 0 || s >= (long)n) continue;
                    for (size_t i = 0; i < C; i++)
                        x += (double)v->in_w[l][(o * C + i) * K + (size_t)j] * h[i * n + (size_t)s];
                }
                pre[o * n + t] = x;
            }
        for (size_t i = 0; i < C * n; i++) acts[i] = tanh(pre[i]) / (1 + exp(-pre[C * n + i]));
        for (size_t o = 0; o < (l < L - 1 ? 2 * C : C); o++)
            for (size_t t = 0; t < n; t++) {
                double x = v->rs_b[l][o];
                for (size_t i = 0; i < C; i++) x += (double)v->rs_w[l][o * C + i] * acts[i * n + t];
                if (l < L - 1 && o < C) h[o * n + t] += x;
                else skip[(o % C) * n + t] += x;
            }
    }
    for (size_t o = 0; o < 2 * H; o++)
        for (size_t t = 0; t < n; t++) {
            double x = v->end_b[o];
            for (size_t i = 0; i < C; i++) x += (double)v->end_w[o * C + i] * skip[i * n + t];
            out[o * n + t] = x;
        }
    free(h), free(skip), free(pre), free(acts);
}

static double max_abs_diff_f64(const float *a, const double *b, size_t n) {
    double worst = 0;
    for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs(a[i] - b[i]));
    return worst;
}

static void test_wn_winograd_taps(void **state) {
    (void)state;
    const wg_config cfgs[] = {make_config(16000, 128, 20, 2, 8, 2, 2, 6, 8, 3),
                              make_config(16000, 128, 20, 2, 8, 2, 2, 5, 96, 3),
                              make_config(16000, 128, 20, 2, 8, 2, 2, 3, 64, 5)};
    const size_t lengths[] = {1, 3, 37, 128, 129, 9300};
    assert_int_equal(wg_wn_winograd_pays(&cfgs[0]), 0);
    assert_int_equal(wg_wn_winograd_pays(&cfgs[1]), 1);
    assert_int_equal(wg_wn_winograd_pays(&cfgs[2]), 0); /* kernel 5 */
    const wg_config below = make_config(16000, 128, 20, 2, 8, 2, 2, 5, 63, 3);
    const wg_config at = make_config(16000, 128, 20, 2, 8, 2, 2, 5, 64, 3);
    assert_int_equal(wg_wn_winograd_pays(&below), 0);
    assert_int_equal(wg_wn_winograd_pays(&at), 1);
    for (int ci = 0; ci < 3; ci++) {
        const wg_config *c = &cfgs[ci];
        wg_model *m = random_model(c);
        assert_int_equal(m->winograd, ci == 1);
        const wg_flow_view *v = &m->flows[0];
        /* start multiplied into layer 0's taps in all three; end into the skip rows where its 2·n_half
         * rows are fewer than C (not at 8 channels): the float64 WN holds both paths */
        assert_non_null(v->start_taps);
        assert_int_equal(v->rs_end_w != NULL, ci != 0);
        for (size_t li = 0; li < sizeof lengths / sizeof lengths[0]; li++) {
            size_t n = lengths[li], MG = (size_t)c->n_mel_channels * c->n_group, H = (size_t)v->n_half;
            if (ci == 1 && n > 200 && n < 4000) continue;
            float *a0 = malloc(H * n * sizeof(float)), *cond = malloc(MG * n * sizeof(float));
            float *out = malloc(2 * H * n * sizeof(float)), *ref = malloc(2 * H * n * sizeof(float));
            float *wmem = malloc(wg_wn_work_floats(c, n) * sizeof(float));
            size_t ns = wg_wn_scratch_floats(c);
            float *scratch = malloc((ns ? ns : 1) * sizeof(float));
            for (size_t i = 0; i < H * n; i++) a0[i] = nrand();
            for (size_t i = 0; i < MG * n; i++) cond[i] = nrand();
            wg_wn_work w;
            wg_wn_work_init(&w, c, n, wmem);
            wg_model_set_winograd(m, 0);
            wg_wn_forward(m, v, a0, n, cond, n, &w, ref, scratch);
            wg_model_set_winograd(m, 1);
            assert_int_equal(m->winograd, c->wn_kernel_size == 3);
            wg_wn_forward(m, v, a0, n, cond, n, &w, out, scratch);
            double e = max_abs_diff(out, ref, 2 * H * n), scale = max_abs(ref, 2 * H * n);
            /* the float64 WN where it is quick (under the sanitizers too); the long window at 96
             * channels, which spans several tiles, is held to the tap GEMMs alone */
            double e_win = -1, e_dir = -1;
            if (n * (size_t)c->wn_n_channels < 100000) {
                double *exact = malloc(2 * H * n * sizeof(double));
                wn_f64(m, v, a0, cond, n, exact);
                e_win = max_abs_diff_f64(out, exact, 2 * H * n), e_dir = max_abs_diff_f64(ref, exact, 2 * H * n);
                free(exact);
            }
            printf("WN %d x %d (kernel %d), %4zu steps: Winograd vs tap GEMMs max |diff| %.2e of %.2e; vs float64: "
                   "Winograd %.2e, tap GEMMs %.2e\n",
                   c->wn_n_layers, c->wn_n_channels, c->wn_kernel_size, n, e, scale, e_win, e_dir);
            assert_true(scale > 1e-3);
            if (e_dir >= 0) assert_true(e_dir <= 1e-5 * scale);
            if (c->wn_kernel_size == 3) {
                assert_true(e <= 1e-5 * scale);
                if (e_win >= 0) assert_true(e_win <= 1e-5 * scale);
            } else {
                assert_true(e == 0); /* other kernels never take the Winograd path */
            }
            free(a0), free(cond), free(out), free(ref), free(wmem), free(scratch);
        }
        wg_model_free(m);
    }
}

/* The upsampler against ConvTranspose1d written out in double, for windows that start inside
 * the signal and at its ends, with hop a multiple of n_group (the fast path) and not. */
static void test_upsampler_against_direct_sum(void **state) {
    (void)state;
    const wg_config cfgs[] = {make_config(22050, 256, 20, 2, 8, 2, 2, 2, 8, 3),
                              make_config(16000, 100, 12, 2, 8, 2, 2, 2, 8, 3), /* 100 = 12.5 groups */
                              make_config(24000, 120, 16, 2, 6, 2, 2, 2, 8, 3),
                              /* more hops than the forward's block of 64, in several windows */
                              make_config(16000, 16, 8, 2, 8, 2, 2, 2, 8, 3)};
    const size_t n_frames[] = {23, 23, 23, 150};
    for (int ci = 0; ci < 4; ci++) {
        const wg_config *c = &cfgs[ci];
        wg_model *m = random_model(c);
        size_t M = (size_t)c->n_mel_channels, G = (size_t)c->n_group, hop = (size_t)c->hop_length, K = 4 * hop;
        size_t frames = n_frames[ci], steps = wg_synth_samples(m, frames) / G;
        float *mel = malloc(M * frames * sizeof(float));
        for (size_t i = 0; i < M * frames; i++) mel[i] = -5.0f + 2.0f * nrand();
        float *scratch = malloc(wg_upsample_scratch(c) * sizeof(float));
        assert_non_null(scratch);
        size_t windows[][2] = {{0, steps}, {0, 7}, {steps / 3, steps / 4 + 1}, {steps - 9, 9}, {1, 1}};
        double worst = 0;
        for (int wi = 0; wi < 5; wi++) {
            size_t step0 = windows[wi][0], n = windows[wi][1];
            size_t ld = n + (size_t)wi; /* a row stride wider than the window, as a team member writes */
            float *cond = malloc(M * G * ld * sizeof(float));
            for (size_t i = 0; i < M * G * ld; i++) cond[i] = 1e9f;
            wg_mel_view view = wg_mel_view_all(mel, frames);
            wg_upsample_cond(m, &view, step0, n, cond, ld, scratch);
            for (size_t r = 0; r < M * G; r++)
                for (size_t t = n; t < ld; t++) assert_true(cond[r * ld + t] == 1e9f);
            for (size_t mm = 0; mm < M; mm++)
                for (size_t t = 0; t < n; t++)
                    for (size_t j = 0; j < G; j++) {
                        size_t s = (step0 + t) * G + j;
                        double want = m->upsample_b[mm];
                        for (size_t f = 0; f < frames; f++)
                            if (s >= f * hop && s - f * hop < K)
                                for (size_t i = 0; i < M; i++)
                                    want += (double)mel[i * frames + f] * m->upsample_w[(i * M + mm) * K + s - f * hop];
                        worst = fmax(worst, fabs(cond[(mm * G + j) * ld + t] - want) / (1 + fabs(want)));
                    }
            free(cond);
        }
        printf("hop %zu, n_group %zu: upsampler within %.2g of the direct sum\n", hop, G, worst);
        assert_true(worst < 1e-5);
        free(mel), free(scratch);
        wg_model_free(m);
    }
}

static void test_philox_and_normals(void **state) {
    (void)state;
    /* Random123's known-answer vectors for philox4x32-10 */
    uint32_t out[4];
    wg_philox4x32((uint32_t[4]){0, 0, 0, 0}, (uint32_t[2]){0, 0}, out);
    assert_true(out[0] == 0x6627e8d5u && out[1] == 0xe169c58du && out[2] == 0xbc57ac4cu && out[3] == 0x9b00dbd8u);
    wg_philox4x32((uint32_t[4]){~0u, ~0u, ~0u, ~0u}, (uint32_t[2]){~0u, ~0u}, out);
    assert_true(out[0] == 0x408f276du && out[1] == 0x41c83b0eu && out[2] == 0xa20bc7c6u && out[3] == 0x6d5451fdu);
    wg_philox4x32((uint32_t[4]){0x243f6a88u, 0x85a308d3u, 0x13198a2eu, 0x03707344u},
                  (uint32_t[2]){0xa4093822u, 0x299f31d0u}, out);
    assert_true(out[0] == 0xd16cfe09u && out[1] == 0x94fdccebu && out[2] == 0x5001e420u && out[3] == 0x24126ea1u);
    /* moments of the normal deviates, and determinism by position */
    enum { N = 200000 };
    double s1 = 0, s2 = 0, s4 = 0, lag = 0, prev = 0;
    for (int i = 0; i < N; i++) {
        double v = wg_normal_at(42, (uint32_t)(i % 8), (uint64_t)i / 8);
        s1 += v, s2 += v * v, s4 += v * v * v * v, lag += v * prev;
        prev = v;
    }
    double mean = s1 / N, var = s2 / N - mean * mean, kurt = s4 / N / (var * var), corr = lag / N;
    printf("normals: mean %.4f var %.4f kurtosis %.3f lag-1 corr %.4f\n", mean, var, kurt, corr);
    assert_true(fabs(mean) < 0.01 && fabs(var - 1) < 0.01 && fabs(kurt - 3) < 0.05 && fabs(corr) < 0.01);
    assert_true(wg_normal_at(7, 3, 1000) == wg_normal_at(7, 3, 1000));
    assert_true(wg_normal_at(7, 3, 1000) != wg_normal_at(8, 3, 1000));
    assert_true(wg_normal_at(7, 3, 1000) != wg_normal_at(7, 4, 1000));
    float z[3 * 10];
    wg_fill_latent(7, 0.5f, 3, 995, 10, z, 10);
    assert_true(z[2 * 10 + 5] == (float)(0.5 * wg_normal_at(7, 2, 1000)));
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nvidia_parity),
        cmocka_unit_test(test_round_trips),
        cmocka_unit_test(test_synthesis_is_split_invariant),
        cmocka_unit_test(test_team_matches_one_thread),
        cmocka_unit_test(test_workspace_reuse),
        cmocka_unit_test(test_cond_fold),
        cmocka_unit_test(test_window_steps),
        cmocka_unit_test(test_fold_file),
        cmocka_unit_test(test_cond_fold_apply_windows),
        cmocka_unit_test(test_upsampler_against_direct_sum),
        cmocka_unit_test(test_wn_cond_batches_agree),
        cmocka_unit_test(test_wn_winograd_taps),
        cmocka_unit_test(test_philox_and_normals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
