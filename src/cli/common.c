/* common.c — see cli.h. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "condfold.h"
#include "kernels.h"

int cli_error(const char *cmd, const wg_error *err) {
    fprintf(stderr, "waveglow %s: %s\n", cmd, err->message[0] ? err->message : wg_strerror(err->code));
    return CLI_BAD;
}

int cli_usage(const char *cmd, const char *fmt, ...) {
    fprintf(stderr, "waveglow %s: ", cmd);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(see 'waveglow %s --help')\n", cmd);
    return CLI_BAD;
}

int cli_load_config(const char *cmd, const char *model_path, const char *config_path, wg_config *cfg,
                    wg_model **model) {
    wg_error err = {0};
    if (model)
        *model = NULL;
    if (model_path && config_path)
        return cli_usage(cmd, "give --model or --config, not both");
    if (model_path) {
        wg_model *m = NULL;
        if (wg_model_load(model_path, &m, &err))
            return cli_error(cmd, &err);
        *cfg = *wg_model_config(m);
        if (model)
            *model = m;
        else
            wg_model_free(m);
        return 0;
    }
    if (config_path) {
        if (wg_config_load(config_path, cfg, &err))
            return cli_error(cmd, &err);
        return 0;
    }
    *cfg = wg_config_default();
    return 0;
}

/* The one option the program keeps outside a subcommand's locals: every audio read of the run
 * uses it. */
static wg_audio_read_params read_params = {.quality = WG_RESAMPLE_BEST};

bool cli_set_resample(const char *cmd, const char *name) {
    static const char *names[] = {"best", "medium", "fast", "linear"};
    static const wg_resample_quality q[] = {WG_RESAMPLE_BEST, WG_RESAMPLE_MEDIUM, WG_RESAMPLE_FASTEST,
                                            WG_RESAMPLE_LINEAR};
    for (int i = 0; i < 4; i++)
        if (!strcmp(name, names[i])) {
            read_params.quality = q[i];
            return true;
        }
    cli_usage(cmd, "--resample expects best, medium, fast or linear, got \"%s\"", name);
    return false;
}

int cli_read_audio(const char *cmd, const char *path, int rate, bool quiet, wg_audio *audio) {
    wg_error err = {0};
    if (wg_audio_read(path, rate, &read_params, audio, &err))
        return cli_error(cmd, &err);
    if (!quiet && audio->source_channels > 1)
        fprintf(stderr, "waveglow %s: %s: downmixed %d channels to mono\n", cmd, path, audio->source_channels);
    if (!quiet && audio->source_rate != audio->sample_rate)
        fprintf(stderr, "waveglow %s: %s: resampled from %d Hz to the model's %d Hz\n", cmd, path, audio->source_rate,
                audio->sample_rate);
    return 0;
}

bool cli_parse_int(const char *cmd, const char *opt, const char *text, long lo, long hi, long *out) {
    char *end;
    errno = 0;
    long v = strtol(text, &end, 10);
    if (errno || end == text || *end || v < lo || v > hi) {
        cli_usage(cmd, "%s expects an integer in [%ld, %ld], got \"%s\"", opt, lo, hi, text);
        return false;
    }
    *out = v;
    return true;
}

bool cli_parse_float(const char *cmd, const char *opt, const char *text, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double v = strtod(text, &end);
    if (errno || end == text || *end || !(v >= lo && v <= hi)) {
        cli_usage(cmd, "%s expects a number in [%g, %g], got \"%s\"", opt, lo, hi, text);
        return false;
    }
    *out = v;
    return true;
}

bool cli_has_suffix(const char *path, const char *suffix) {
    size_t n = strlen(path), m = strlen(suffix);
    return n >= m && strcasecmp(path + n - m, suffix) == 0;
}

int cli_load_mel(const char *cmd, const char *path, const wg_model *model, bool quiet, wg_array *mel, wg_audio *audio) {
    const wg_config *cfg = wg_model_config(model);
    wg_error err = {0};
    memset(mel, 0, sizeof *mel);
    if (audio)
        memset(audio, 0, sizeof *audio);
    if (cli_has_suffix(path, ".npy")) {
        if (wg_npy_read(path, mel, &err))
            return cli_error(cmd, &err);
        if (mel->ndim == 3 && mel->shape[0] == 1) { /* (1, n_mel, frames), as batched TTS output */
            mel->ndim = 2;
            mel->shape[0] = mel->shape[1];
            mel->shape[1] = mel->shape[2];
        }
        if (mel->ndim != 2 || mel->shape[0] != (size_t)cfg->n_mel_channels || mel->shape[1] == 0) {
            fprintf(stderr, "waveglow %s: %s: a mel must be (n_mel = %d, frames), this one is %s(", cmd, path,
                    cfg->n_mel_channels,
                    mel->ndim == 2 && mel->shape[1] == (size_t)cfg->n_mel_channels ? "transposed? " : "");
            for (int i = 0; i < mel->ndim; i++)
                fprintf(stderr, i ? ", %zu" : "%zu", mel->shape[i]);
            fprintf(stderr, ")\n");
            wg_array_free(mel);
            return CLI_BAD;
        }
        return 0;
    }
    wg_audio a;
    int rc = cli_read_audio(cmd, path, cfg->sampling_rate, quiet, &a);
    if (rc)
        return rc;
    wg_mel *fe = NULL;
    if (wg_mel_create(cfg, &fe, &err)) {
        wg_audio_free(&a);
        return cli_error(cmd, &err);
    }
    size_t frames = wg_mel_frames(fe, a.n_samples);
    mel->ndim = 2;
    mel->shape[0] = (size_t)cfg->n_mel_channels;
    mel->shape[1] = frames;
    mel->data = malloc(sizeof(float) * mel->shape[0] * (frames ? frames : 1));
    if (!mel->data) {
        wg_mel_destroy(fe);
        wg_audio_free(&a);
        fprintf(stderr, "waveglow %s: out of memory\n", cmd);
        return CLI_BAD;
    }
    rc = wg_mel_compute(fe, a.samples, a.n_samples, mel->data, &err);
    wg_mel_destroy(fe);
    if (rc) {
        fprintf(stderr, "waveglow %s: %s: %s\n", cmd, path, err.message);
        wg_array_free(mel);
        wg_audio_free(&a);
        return CLI_BAD;
    }
    if (audio)
        *audio = a;
    else
        wg_audio_free(&a);
    return 0;
}

int cli_write_audio(const char *cmd, const char *path, const float *samples, size_t n, int rate, bool as_float,
                    bool quiet) {
    wg_error err = {0};
    if (cli_has_suffix(path, ".npy")) {
        size_t shape[1] = {n};
        if (wg_npy_write(path, samples, 1, shape, &err))
            return cli_error(cmd, &err);
        return 0;
    }
    size_t clipped = 0;
    if (wg_audio_write(path, samples, n, rate, as_float ? WG_FORMAT_FLOAT : WG_FORMAT_PCM16, &clipped, &err))
        return cli_error(cmd, &err);
    if (clipped && !quiet)
        fprintf(stderr, "waveglow %s: %s: %zu of %zu samples (%.3f%%) were outside [-1, 1) and clipped\n", cmd, path,
                clipped, n, 100.0 * clipped / n);
    return 0;
}

void cli_progress(size_t done, size_t total, void *user_data) {
    const char *cmd = user_data;
    if (!isatty(STDERR_FILENO) || total == 0)
        return;
    fprintf(stderr, "\rwaveglow %s: %5.1f%%", cmd, 100.0 * done / total);
    if (done >= total)
        fprintf(stderr, "\r\033[K");
    fflush(stderr);
}

wg_run_params cli_run_params(const char *cmd, long threads, bool quiet) {
    wg_run_params p = wg_run_default_params();
    p.n_threads = (int)threads;
    if (!quiet) {
        p.progress = cli_progress;
        p.user_data = (void *)cmd;
    }
    return p;
}

double cli_sigma(const wg_model *model, double sigma_option) {
    if (sigma_option >= 0) return sigma_option;
    double own = wg_model_get_info(model).synthesis_sigma;
    return own > 0 ? own : CLI_DEFAULT_SIGMA;
}

bool cli_parse_fold(const char *cmd, const char *text, int *mode) {
    static const char *names[] = {"off", "on", "auto"};
    for (int i = 0; i < 3; i++)
        if (!strcmp(text, names[i])) {
            *mode = i;
            return true;
        }
    fprintf(stderr, "waveglow %s: --fold takes auto, on or off, not \"%s\"\n", cmd, text);
    return false;
}

bool cli_fold_options_agree(const char *cmd, int mode, const char *fold_file, bool streaming) {
    if (fold_file && (mode == CLI_FOLD_OFF || streaming)) {
        cli_usage(cmd, "--fold-file cannot go with %s", streaming ? "--stream" : "--fold off");
        return false;
    }
    return true;
}

bool cli_fold_path(const char *model_path, char *path, size_t size) {
    size_t n = strlen(model_path), ext = strlen(".safetensors");
    if (cli_has_suffix(model_path, ".safetensors")) n -= ext;
    return snprintf(path, size, "%.*s.fold", (int)n, model_path) < (int)size;
}

static double seconds_since(const struct timespec *t0) {
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (t1.tv_sec - t0->tv_sec) + 1e-9 * (t1.tv_nsec - t0->tv_nsec);
}

bool cli_fold_native(const wg_model *model) {
    return model->cond_fold_panel_cols == wg_cond_fold_native_panel(&model->cfg);
}

int cli_fold(const char *cmd, wg_model *model, const char *model_path, const char *fold_file, int mode,
             size_t samples, int threads, bool quiet) {
    wg_model_info info = wg_model_get_info(model);
    const wg_config *cfg = wg_model_config(model);
    if (mode == CLI_FOLD_OFF)
        return 0;
    char side[4096];
    const char *file = fold_file;
    /* windows of fewer frames than the fold's minimum never read it, so short inputs skip the map */
    size_t frames = samples == CLI_FOLD_UNKNOWN_LENGTH ? SIZE_MAX : samples / (size_t)cfg->hop_length;
    if (!file && info.fold_bytes && frames >= WG_COND_FOLD_MIN_FRAMES && cli_fold_path(model_path, side, sizeof side) &&
        access(side, F_OK) == 0)
        file = side;
    struct timespec t0;
    wg_error err = {0};
    if (file) {
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (!wg_model_load_fold(model, file, &err)) {
            if (!quiet)
                fprintf(stderr, "waveglow %s: conditioning fold (%.0f MB) mapped from %s in %.3f s\n", cmd,
                        info.fold_bytes / 1e6, file, seconds_since(&t0));
            if (!quiet && !cli_fold_native(model))
                fprintf(stderr, "waveglow %s: note: %s\n", cmd, CLI_FOLD_NOT_NATIVE);
            return 0;
        }
        fprintf(stderr, "waveglow %s: %s%s\n", cmd, fold_file ? "" : "note: not using the fold file: ", err.message);
        if (fold_file)
            return CLI_BAD;
    }
    if (mode == CLI_FOLD_AUTO && (!info.fold_bytes || info.fold_bytes > CLI_FOLD_AUTO_BYTES ||
                                  samples == CLI_FOLD_UNKNOWN_LENGTH || samples < 2 * info.fold_breakeven_samples))
        return 0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    wg_set_threads(threads); /* the build's GEMMs, on the job's threads */
    if (wg_model_fold_conditioning(model, SIZE_MAX, &err)) {
        fprintf(stderr, "waveglow %s: %s%s\n", cmd, mode == CLI_FOLD_AUTO ? "note: not folding: " : "", err.message);
        return mode == CLI_FOLD_AUTO ? 0 : CLI_BAD;
    }
    if (!quiet)
        fprintf(stderr, "waveglow %s: conditioning folded (%.0f MB) in %.2f s\n", cmd, info.fold_bytes / 1e6,
                seconds_since(&t0));
    return 0;
}

bool cli_parse_context(const char *cmd, const char *text, double *context_ms) {
    if (!strcmp(text, "exact")) {
        *context_ms = -1;
        return true;
    }
    return cli_parse_float(cmd, "--context", text, 0, 100000, context_ms);
}

bool cli_parse_chunk(const char *cmd, const char *text, double *chunk_ms) {
    return cli_parse_float(cmd, "--chunk", text, 1, 100000, chunk_ms);
}

size_t cli_chunk_steps(const wg_config *cfg, double chunk_ms) {
    double steps = chunk_ms * 1e-3 * cfg->sampling_rate / cfg->n_group;
    return steps < 1 ? 1 : (size_t)llround(steps);
}
