/* common.c — see cli.h. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

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
    if (model) *model = NULL;
    if (model_path && config_path) return cli_usage(cmd, "give --model or --config, not both");
    if (model_path) {
        wg_model *m = NULL;
        if (wg_model_load(model_path, &m, &err)) return cli_error(cmd, &err);
        *cfg = *wg_model_config(m);
        if (model)
            *model = m;
        else
            wg_model_free(m);
        return 0;
    }
    if (config_path) {
        if (wg_config_load(config_path, cfg, &err)) return cli_error(cmd, &err);
        return 0;
    }
    *cfg = wg_config_default();
    return 0;
}

int cli_read_audio(const char *cmd, const char *path, int rate, bool quiet, wg_audio *audio) {
    wg_error err = {0};
    if (wg_audio_read(path, rate, NULL, audio, &err)) return cli_error(cmd, &err);
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
