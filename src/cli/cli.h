/* cli.h — what the subcommands of the `waveglow` program share: error reporting with the
 * program's exit codes, and loading configs, models and audio with the user told what happened.
 * Exit codes: 0 success, 1 a check failed, 2 bad usage or bad input. */
#ifndef WG_CLI_H
#define WG_CLI_H

#include <stdbool.h>

#include "waveglow.h"

enum { CLI_OK = 0, CLI_CHECK_FAILED = 1, CLI_BAD = 2 };

typedef struct cli_command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} cli_command;

/* Prints "waveglow CMD: message" to stderr; returns CLI_BAD. */
int cli_error(const char *cmd, const wg_error *err);
int cli_usage(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Exactly one of model_path / config_path may be set; neither means NVIDIA's defaults.
 * With a model path the model is loaded and returned in *model (when model is not NULL). */
int cli_load_config(const char *cmd, const char *model_path, const char *config_path, wg_config *cfg,
                    wg_model **model);
/* Reads audio at the config's rate and tells the user (once) about resampling or downmixing. */
int cli_read_audio(const char *cmd, const char *path, int rate, bool quiet, wg_audio *audio);
/* Parses a positive integer option value; returns false with a usage message on failure. */
bool cli_parse_int(const char *cmd, const char *opt, const char *text, long lo, long hi, long *out);

int cmd_mel(int argc, char **argv);
int cmd_info(int argc, char **argv);

#endif
