/* main.c — the `waveglow` program: dispatches to one subcommand per file in src/cli/. */
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const cli_command commands[] = {
    {"mel", cmd_mel, "compute the log-mel spectrogram of an audio file (.npy out)"},
    {"info", cmd_info, "describe a model or config: sizes, receptive field, cost"},
    {"vocode", cmd_vocode, "synthesise speech from a mel (.npy) or from audio (copy-synthesis)"},
    {"play", cmd_play, "synthesise and play speech in real time (PortAudio), from a file or stdin"},
    {"encode", cmd_encode, "audio -> latent z (.npy) and its exact log-likelihood"},
    {"decode", cmd_decode, "latent z + mel -> audio, the inverse of encode"},
    {"score", cmd_score, "exact log-likelihood of audio files under a model"},
    {"compare", cmd_compare, "objective comparison of two audio files, with thresholds and a picture"},
    {"train", cmd_train, "train a model by maximum likelihood on a folder or list of audio files"},
    {"export", cmd_export, "write a model file from a training checkpoint"},
    {"fold", cmd_fold, "build a model's conditioning fold once, into a file that vocode maps in"},
};
static const int n_commands = (int)(sizeof commands / sizeof commands[0]);

static void usage(FILE *fp) {
    fprintf(fp,
            "waveglow %s — a WaveGlow flow vocoder for the CPU\n\n"
            "usage: waveglow COMMAND [OPTIONS]   (waveglow COMMAND --help for each)\n\ncommands:\n",
            WG_VERSION_STRING);
    for (int i = 0; i < n_commands; i++)
        fprintf(fp, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(fp, "\nexit codes: 0 success, 1 a check failed, 2 bad usage or input\n");
}

int main(int argc, char **argv) {
    /* A file-size limit (ulimit -f) must fail a write, not kill the process mid-file. */
    signal(SIGXFSZ, SIG_IGN);
    if (argc < 2) {
        usage(stderr);
        return CLI_BAD;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return CLI_OK;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("waveglow %s\nBLAS: %s\n", WG_VERSION_STRING, cli_blas_description());
        return CLI_OK;
    }
    for (int i = 0; i < n_commands; i++)
        if (!strcmp(argv[1], commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "waveglow: unknown command \"%s\"\n\n", argv[1]);
    usage(stderr);
    return CLI_BAD;
}
