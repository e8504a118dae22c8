/* wg_bench.c — the C side of bench/run: each subcommand times one thing and prints one line of
 * "key=value" pairs for the driver to parse.
 *   wg_bench sgemm M N K THREADS          sgemm GFLOP/s at that shape (row-major, as the model calls it)
 *   wg_bench decode MODEL MEL Z THREADS OUT [gemm|winograd][,fold|,foldmap]  latent → audio (wg_decode,
 *       repeated with one workspace), seconds, samples/s, GFLOP/s; the last argument forces the dilated taps' path (default: the
 *       model's) and, with fold, folds the conditioning (wg_model_fold_conditioning) first; with foldmap, also
 *       saves that fold to OUT.fold and maps it into a fresh load of the model (wg_model_load_fold), as vocode
 *       maps a fold file, and times that
 *   wg_bench fold-ab MODEL MEL Z THREADS FOLDFILE  decode with a built fold and with it saved to FOLDFILE
 *       and mapped back (wg_model_load_fold), alternated over 40 rounds: median times and time ratio
 *   wg_bench mel AUDIO_SECONDS RATE       the log-mel front end: seconds per minute of audio
 *   wg_bench fftw-wisdom N...             plans FFTW's forward complex transform of each length N (out
 *       of place, as mel.c plans its half-length ones) with FFTW_PATIENT, prints each plan and its
 *       time against FFTW_ESTIMATE's on stderr, and the wisdom, as a C string for mel.c, on stdout
 *   wg_bench train CONFIG BATCH SEGMENT THREADS STEPS  a full training step (with Adam): time, peak RSS
 *   wg_bench stream MODEL SECONDS THREADS [CONTEXT_MS CHUNK_STEPS [MEL.npy]]
 *       streaming at real-time pace: real-time factor, first-audio latency, and the SNR of the
 *       streamed audio against offline synthesis (same seed); CONTEXT_MS < 0 is the exact context,
 *       CHUNK_STEPS 0 the default; a MEL (e.g. of held-out speech) replaces the random one */
#include <cblas.h>
#include <fftw3.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "adam.h"
#include "kernels.h"
#include "model.h"
#include "train_step.h"
#include "trainable.h"
#include "waveglow.h"

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + 1e-9 * t.tv_nsec;
}

/* Per-repetition times, and their median: a noisy neighbour on a shared machine stretches a few
 * repetitions, which a mean over the window would charge to the code under test. bench/run times
 * PyTorch the same way. */
typedef struct rep_clock {
    double t[1 << 14];
    int n;
    double start, last;
} rep_clock;

static void rep_start(rep_clock *c) {
    c->n = 0;
    c->start = c->last = now();
}

/* Records one repetition; true while the budget of seconds is not spent, or fewer than five ran
 * and ten budgets are not (a median of one or two repetitions is a single sample). */
static int rep_lap(rep_clock *c, double budget) {
    double t = now();
    if (c->n < (int)(sizeof c->t / sizeof c->t[0])) c->t[c->n++] = t - c->last;
    c->last = t;
    return t - c->start < budget || (c->n < 5 && t - c->start < 10 * budget);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double rep_median(rep_clock *c) {
    qsort(c->t, (size_t)c->n, sizeof c->t[0], cmp_double);
    return c->n % 2 ? c->t[c->n / 2] : 0.5 * (c->t[c->n / 2 - 1] + c->t[c->n / 2]);
}

static float *randn(size_t n, unsigned seed, float scale, float shift) {
    float *x = malloc(n * sizeof(float));
    srand(seed);
    for (size_t i = 0; i < n; i++) {
        double u1 = (rand() + 1.0) / (RAND_MAX + 2.0), u2 = (rand() + 1.0) / (RAND_MAX + 2.0);
        x[i] = shift + scale * (float)(sqrt(-2 * log(u1)) * cos(2 * M_PI * u2));
    }
    return x;
}

/* VmHWM, this process image's own peak: ru_maxrss would carry over the peak of the process that
 * forked us (Linux keeps it across execve), here bench/run's Python with torch loaded. */
static double peak_rss_mb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    double kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6)) kb = atof(line + 6);
    if (f) fclose(f);
    return kb / 1024;
}

static int die(const wg_error *e) {
    fprintf(stderr, "wg_bench: %s\n", e->message);
    return 2;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: see the top of bench/wg_bench.c\n");
        return 2;
    }
    wg_error err = {0};
    if (!strcmp(argv[1], "sgemm") && argc == 6) {
        int M = atoi(argv[2]), N = atoi(argv[3]), K = atoi(argv[4]);
        wg_set_threads(atoi(argv[5]));
        float *a = randn((size_t)M * K, 1, 1, 0), *b = randn((size_t)K * N, 2, 1, 0), *c = calloc((size_t)M * N, 4);
        static rep_clock rc;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1, a, K, b, N, 1, c, N); /* warm-up */
        rep_start(&rc);
        do cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1, a, K, b, N, 1, c, N);
        while (rep_lap(&rc, 1.0));
        printf("gflops=%.2f reps=%d\n", 2.0 * M * N * K / rep_median(&rc) / 1e9, rc.n);
        return 0;
    }
    if (!strcmp(argv[1], "decode") && (argc == 7 || argc == 8)) {
        wg_model *m;
        wg_array mel, z;
        if (wg_model_load(argv[2], &m, &err) || wg_npy_read(argv[3], &mel, &err) || wg_npy_read(argv[4], &z, &err))
            return die(&err);
        /* the last argument: gemm or winograd forces the taps' path; fold (alone or after a comma)
         * folds the conditioning first (timed: fold_seconds) */
        const char *opt = argc == 8 ? argv[7] : "";
        if (!strncmp(opt, "gemm", 4) || !strncmp(opt, "winograd", 8)) wg_model_set_winograd(m, opt[0] == 'w');
        double fold_s = 0, map_s = 0;
        if (strstr(opt, "fold")) {
            double f0 = now();
            wg_set_threads(atoi(argv[5]));
            if (wg_model_fold_conditioning(m, SIZE_MAX, &err)) return die(&err);
            fold_s = now() - f0;
        }
        if (strstr(opt, "foldmap")) {
            /* saved beside OUT and mapped back in place of the build, as vocode maps a fold file:
             * the repetitions then read the page cache's copy (map_seconds: the map and checksum) */
            char path[4096];
            snprintf(path, sizeof path, "%s.fold", argv[6]);
            if (wg_model_save_fold(m, path, &err)) return die(&err);
            wg_model *fresh;
            if (wg_model_load(argv[2], &fresh, &err)) return die(&err);
            if (!strncmp(opt, "gemm", 4) || !strncmp(opt, "winograd", 8)) wg_model_set_winograd(fresh, opt[0] == 'w');
            wg_model_free(m);
            m = fresh;
            double f0 = now();
            if (wg_model_load_fold(m, path, &err)) return die(&err);
            map_s = now() - f0;
            remove(path);
        }
        size_t n = z.shape[0] * z.shape[1];
        float *audio = malloc(n * sizeof(float));
        wg_run_params p = wg_run_default_params();
        p.n_threads = atoi(argv[5]);
        /* the repetitions share a workspace, as a server's requests would: memory and threads once */
        if (wg_workspace_create(&p.workspace, &err)) return die(&err);
        wg_decode(m, mel.data, mel.shape[1], z.data, n, 1.0f, audio, &p, &err); /* warm-up */
        static rep_clock rc;
        rep_start(&rc);
        do
            if (wg_decode(m, mel.data, mel.shape[1], z.data, n, 1.0f, audio, &p, &err)) return die(&err);
        while (rep_lap(&rc, 2.0));
        int reps = rc.n;
        double t = rep_median(&rc);
        double secs = (double)n / wg_model_config(m)->sampling_rate;
        wg_model_info info = wg_model_get_info(m);
        size_t shape[1] = {n};
        if (wg_npy_write(argv[6], audio, 1, shape, &err)) return die(&err);
        printf("seconds=%.6f samples_per_s=%.1f gflops=%.2f rtf=%.3f reps=%d folded=%d fold_seconds=%.4f "
               "map_seconds=%.4f computed_gflops=%.2f fold_mb=%.1f\n", t, n / t, info.flops_per_second * secs / t / 1e9,
               secs / t, reps, info.folded, fold_s, map_s, info.computed_flops_per_second * secs / t / 1e9,
               info.fold_bytes / 1e6);
        wg_workspace_free(p.workspace);
        return 0;
    }
    if (!strcmp(argv[1], "fold-ab") && argc == 7) {
        /* one model folded by a build and one with that fold mapped from a file, their decodes
         * alternated in one process so that the host's drift falls on both alike */
        wg_model *built, *mapped;
        wg_array mel, z;
        if (wg_model_load(argv[2], &built, &err) || wg_model_load(argv[2], &mapped, &err) ||
            wg_npy_read(argv[3], &mel, &err) || wg_npy_read(argv[4], &z, &err))
            return die(&err);
        wg_set_threads(atoi(argv[5]));
        if (wg_model_fold_conditioning(built, SIZE_MAX, &err) || wg_model_save_fold(built, argv[6], &err) ||
            wg_model_load_fold(mapped, argv[6], &err))
            return die(&err);
        size_t n = z.shape[0] * z.shape[1];
        float *audio = malloc(n * sizeof(float));
        wg_run_params pb = wg_run_default_params(), pm = pb;
        pb.n_threads = pm.n_threads = atoi(argv[5]);
        if (wg_workspace_create(&pb.workspace, &err) || wg_workspace_create(&pm.workspace, &err)) return die(&err);
        static rep_clock tb, tm, ratio;
        rep_start(&tb), rep_start(&tm), rep_start(&ratio);
        for (int r = -1; r < 40; r++) { /* r = -1: the warm-up */
            double t0 = now();
            if (wg_decode(built, mel.data, mel.shape[1], z.data, n, 1.0f, audio, &pb, &err)) return die(&err);
            double t1 = now();
            if (wg_decode(mapped, mel.data, mel.shape[1], z.data, n, 1.0f, audio, &pm, &err)) return die(&err);
            double t2 = now();
            if (r < 0) continue;
            tb.t[tb.n++] = t1 - t0, tm.t[tm.n++] = t2 - t1, ratio.t[ratio.n++] = (t2 - t1) / (t1 - t0);
        }
        printf("built_seconds=%.6f mapped_seconds=%.6f mapped_over_built=%.4f rounds=%d\n", rep_median(&tb),
               rep_median(&tm), rep_median(&ratio), ratio.n);
        remove(argv[6]);
        return 0;
    }
    if (!strcmp(argv[1], "mel") && argc == 4) {
        double secs = atof(argv[2]);
        wg_config c = wg_config_default();
        c.sampling_rate = atoi(argv[3]);
        c.mel_fmax = fmin(8000, c.sampling_rate / 2.0);
        size_t n = (size_t)(secs * c.sampling_rate);
        float *x = randn(n, 3, 0.1f, 0);
        wg_mel *mel;
        if (wg_mel_create(&c, &mel, &err)) return die(&err);
        float *out = malloc(sizeof(float) * 80 * wg_mel_frames(mel, n));
        static rep_clock rc, rf;
        wg_mel_compute(mel, x, n, out, NULL); /* warm-up */
        rep_start(&rc);
        do wg_mel_compute(mel, x, n, out, NULL);
        while (rep_lap(&rc, 1.0));
        /* the floor under it: the same number of FFTW transforms, planned as mel.c plans them (a
         * complex one of half the length for an even filter_length, the default's 1024) */
        size_t frames = wg_mel_frames(mel, n);
        float *in = fftwf_malloc(sizeof(float) * c.filter_length);
        fftwf_complex *spec = fftwf_malloc(sizeof(fftwf_complex) * (c.filter_length / 2 + 1));
        fftwf_plan plan = fftwf_plan_dft_1d(c.filter_length / 2, (fftwf_complex *)in, spec, FFTW_FORWARD, FFTW_ESTIMATE);
        memcpy(in, x, sizeof(float) * c.filter_length);
        rep_start(&rf);
        do
            for (size_t f = 0; f < frames; f++) fftwf_execute(plan);
        while (rep_lap(&rf, 1.0));
        printf("seconds_per_minute=%.6f fft_seconds_per_minute=%.6f\n", rep_median(&rc) / secs * 60,
               rep_median(&rf) / secs * 60);
        fftwf_destroy_plan(plan);
        fftwf_free(in), fftwf_free(spec);
        return 0;
    }
    if (!strcmp(argv[1], "fftw-wisdom") && argc >= 3) {
        double est[64];
        if (argc - 2 > 64) return fprintf(stderr, "wg_bench: at most 64 lengths\n"), 2;
        /* every ESTIMATE plan first, then their wisdom forgotten: kept, mel.c's ESTIMATE plans
         * would find it beside the PATIENT plans' */
        for (int patient = 0; patient < 2; patient++) {
            if (patient) fftwf_forget_wisdom();
            for (int a = 2; a < argc; a++) {
                int n = atoi(argv[a]);
                if (n < 2) return fprintf(stderr, "wg_bench: %s is not a transform length\n", argv[a]), 2;
                float *in = randn(2 * (size_t)n, 5, 1, 0), *buf = fftwf_malloc(sizeof(float) * 2 * (size_t)n);
                fftwf_complex *out = fftwf_malloc(sizeof(fftwf_complex) * (size_t)n);
                fftwf_plan p = fftwf_plan_dft_1d(n, (fftwf_complex *)buf, out, FFTW_FORWARD,
                                                 patient ? FFTW_PATIENT : FFTW_ESTIMATE);
                memcpy(buf, in, sizeof(float) * 2 * (size_t)n);
                static rep_clock rc;
                rep_start(&rc);
                do
                    for (int r = 0; r < 1000; r++) fftwf_execute(p);
                while (rep_lap(&rc, 1.0));
                double t = rep_median(&rc) / 1000;
                char *plan = fftwf_sprint_plan(p);
                fprintf(stderr, "n=%d %s: %.3f us a transform\n%s\n", n, patient ? "PATIENT" : "ESTIMATE", t * 1e6,
                        plan);
                if (patient) fprintf(stderr, "n=%d: PATIENT's plan %.2fx ESTIMATE's speed\n", n, est[a - 2] / t);
                else est[a - 2] = t;
                free(plan);
                fftwf_destroy_plan(p);
                fftwf_free(buf), fftwf_free(out), free(in);
            }
        }
        char *w = fftwf_export_wisdom_to_string();
        printf("/* %s */\n\"", fftwf_version);
        for (const char *c = w; *c; c++)
            if (*c == '\n') printf("\\n\"\n\"");
            else if (*c == '"' || *c == '\\') printf("\\%c", *c);
            else putchar(*c);
        printf("\"\n");
        free(w);
        return 0;
    }
    if (!strcmp(argv[1], "train") && argc == 7) {
        /* One step as src/trainer.c runs it (forward and backward per segment, the fold's chain
         * rule, Adam), holding the buffers it holds, so peak memory compares the real trainer. */
        wg_config cfg;
        if (wg_config_load(argv[2], &cfg, &err)) return die(&err);
        int B = atoi(argv[3]), S = atoi(argv[4]), steps = atoi(argv[6]);
        wg_set_threads(atoi(argv[5]));
        wg_trainable tr;
        wg_trainable_build(&cfg, 1, &tr);
        float *params = randn(tr.table.total, 4, 0.05f, 0), *theta = malloc(tr.total * 4), *grad = malloc(tr.table.total * 4);
        float *dtheta = malloc(tr.total * 4), *m = calloc(tr.total, 4), *v = calloc(tr.total, 4);
        for (int i = 0; i < tr.table.n; i++) /* 1×1 convs: identity, so the flow is invertible */
            if (tr.table.p[i].role == WG_P_CONVINV_W) {
                size_t r = tr.table.p[i].shape[0];
                for (size_t j = 0; j < r * r; j++) params[tr.table.p[i].offset + j] = (j / r == j % r);
            }
        wg_trainable_from_params(&tr, params, theta);
        wg_model *model;
        if (wg_model_from_params(&cfg, params, "bench", &model, &err)) return die(&err);
        size_t frames = 1 + (size_t)S / cfg.hop_length;
        float *mel = randn((size_t)B * cfg.n_mel_channels * frames, 5, 1, -5), *audio = randn((size_t)B * S, 6, 0.1f, 0);
        wg_train_work w;
        wg_train_work_alloc(&cfg, (size_t)S / cfg.n_group, getenv("WG_KEEP_ACTIVATIONS") != NULL, &w);
        wg_adam_params ap = wg_adam_default_params();
        double t0 = 0;
        for (int s = 0; s <= steps; s++) {
            if (s == 1) t0 = now(); /* the first step warms up */
            memset(grad, 0, tr.table.total * 4);
            for (int b = 0; b < B; b++) {
                wg_segment_terms terms;
                wg_train_segment(model, grad, mel + (size_t)b * cfg.n_mel_channels * frames, frames, audio + (size_t)b * S,
                                 (size_t)S, 1.0 / ((double)B * S), &w, &terms);
            }
            wg_trainable_backward(&tr, theta, grad, dtheta);
            wg_adam_step(theta, dtheta, m, v, tr.total, s + 1, 1e-4, &ap);
            wg_trainable_fold(&tr, theta, model->params);
            wg_model_refresh(model);
        }
        double t = (now() - t0) / steps;
        printf("step_seconds=%.4f samples_per_s=%.1f peak_rss_mb=%.1f\n", t, B * S / t, peak_rss_mb());
        return 0;
    }
    if (!strcmp(argv[1], "stream") && argc >= 5 && argc <= 8 && argc != 6) {
        wg_model *m;
        if (wg_model_load(argv[2], &m, &err)) return die(&err);
        const wg_config *c = wg_model_config(m);
        size_t frames = (size_t)(atof(argv[3]) * c->sampling_rate / c->hop_length), M = (size_t)c->n_mel_channels;
        float *mel = randn(M * frames, 7, 1, -5);
        if (argc == 8) {
            wg_array a;
            if (wg_npy_read(argv[7], &a, &err)) return die(&err);
            if (a.ndim != 2 || a.shape[0] != M) {
                fprintf(stderr, "wg_bench: %s is not a (%zu, frames) mel\n", argv[7], M);
                return 2;
            }
            free(mel);
            mel = a.data, frames = a.shape[1];
        }
        float *out = calloc(frames * (size_t)c->hop_length, 4);
        wg_stream_params sp = wg_stream_default_params();
        sp.n_threads = atoi(argv[4]);
        if (argc >= 7) sp.context_ms = atof(argv[5]), sp.chunk_steps = (size_t)atol(argv[6]);
        wg_stream *s;
        if (wg_stream_create(m, &sp, &s, &err)) return die(&err);
        /* frames arrive at real-time pace; latency: first frame in → first sample out */
        double frame_s = (double)c->hop_length / c->sampling_rate, t0 = now(), first = -1, busy = 0;
        size_t got = 0;
        for (size_t f = 0; f < frames; f++) {
            double due = t0 + f * frame_s, t = now();
            if (t < due) {
                struct timespec ts = {0, (long)((due - t) * 1e9)};
                nanosleep(&ts, NULL);
            }
            double b0 = now();
            wg_stream_push(s, mel + f, 1, frames, &err);
            busy += now() - b0;
            size_t k = wg_stream_pull(s, out + got, frames * (size_t)c->hop_length - got);
            if (k && first < 0) first = now() - t0;
            got += k;
        }
        double b0 = now();
        wg_stream_finish(s, &err);
        busy += now() - b0;
        got += wg_stream_pull(s, out + got, frames * (size_t)c->hop_length - got);
        /* offline, for the same frames and latent */
        size_t n = wg_synth_samples(m, frames);
        float *ref = malloc(n * sizeof(float));
        wg_run_params rp = wg_run_default_params();
        rp.n_threads = sp.n_threads;
        if (wg_synthesize(m, mel, frames, sp.sigma, sp.seed, ref, &rp, &err)) return die(&err);
        double e = 0, d = 0, worst = 0;
        for (size_t i = 0; i < n && i < got; i++) {
            double diff = (double)out[i] - ref[i];
            e += (double)ref[i] * ref[i], d += diff * diff, worst = fmax(worst, fabs(diff));
        }
        printf("rtf=%.3f first_audio_ms=%.1f lookahead_ms=%.1f snr_db=%.2f max_abs_diff=%.3g\n",
               (double)got / c->sampling_rate / busy, 1000 * first, 1000.0 * wg_stream_lookahead(s) / c->sampling_rate,
               d > 0 ? 10 * log10(e / d) : INFINITY, worst);
        return 0;
    }
    fprintf(stderr, "wg_bench: unknown or malformed command %s\n", argv[1]);
    return 2;
}
