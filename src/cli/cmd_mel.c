/* cmd_mel.c — `waveglow mel`: audio file → log-mel .npy (n_mel, frames). */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

static const char *help =
    "usage: waveglow mel IN -o OUT.npy [--model M | --config C.json] [--quiet]\n\n"
    "Computes the log-mel spectrogram of IN (any format libsndfile reads; multi-channel input is\n"
    "downmixed, other sample rates are resampled) with the TacotronSTFT convention and writes it as\n"
    "float32 .npy of shape (n_mel_channels, 1 + samples / hop_length).\n\n"
    "  -o, --output OUT.npy   where to write the mel (written atomically)\n"
    "  -m, --model M          take the data parameters from a model file\n"
    "  -c, --config C.json    ... or from an NVIDIA-layout config.json\n"
    "                         (neither: NVIDIA's defaults, 22050 Hz, 80 mels)\n"
    "  -q, --quiet            print nothing but errors\n" CLI_RESAMPLE_HELP "  -h, --help             this text\n";

int cmd_mel(int argc, char **argv) {
    static const struct option opts[] = {{"output", required_argument, 0, 'o'},
                                         {"model", required_argument, 0, 'm'},
                                         {"config", required_argument, 0, 'c'},
                                         {"quiet", no_argument, 0, 'q'},
                                         {"resample", required_argument, 0, 'R'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *out = NULL, *model_path = NULL, *config_path = NULL;
    bool quiet = false;
    int c;
    while ((c = getopt_long(argc, argv, "o:m:c:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'o': out = optarg; break;
        case 'm': model_path = optarg; break;
        case 'c': config_path = optarg; break;
        case 'q': quiet = true; break;
        case 'R':
            if (!cli_set_resample("mel", optarg))
                return CLI_BAD;
            break;
        case 'h': fputs(help, stdout); return CLI_OK;
        default: return cli_usage("mel", "unknown option");
        }
    }
    if (optind != argc - 1)
        return cli_usage("mel", "expected exactly one input file");
    if (!out)
        return cli_usage("mel", "missing -o OUT.npy");
    const char *in = argv[optind];
    wg_config cfg;
    int rc = cli_load_config("mel", model_path, config_path, &cfg, NULL);
    if (rc)
        return rc;
    wg_audio audio;
    if ((rc = cli_read_audio("mel", in, cfg.sampling_rate, quiet, &audio)))
        return rc;
    wg_error err = {0};
    wg_mel *mel = NULL;
    float *spec = NULL;
    if (wg_mel_create(&cfg, &mel, &err)) {
        rc = cli_error("mel", &err);
        goto done;
    }
    size_t frames = wg_mel_frames(mel, audio.n_samples);
    spec = malloc(sizeof(float) * (size_t)cfg.n_mel_channels * (frames ? frames : 1));
    if (!spec) {
        fprintf(stderr, "waveglow mel: out of memory\n");
        rc = CLI_BAD;
        goto done;
    }
    if (wg_mel_compute(mel, audio.samples, audio.n_samples, spec, &err)) {
        fprintf(stderr, "waveglow mel: %s: %s\n", in, err.message);
        rc = CLI_BAD;
        goto done;
    }
    size_t shape[2] = {(size_t)cfg.n_mel_channels, frames};
    if (wg_npy_write(out, spec, 2, shape, &err)) {
        rc = cli_error("mel", &err);
        goto done;
    }
    if (!quiet) {
        size_t n = shape[0] * shape[1];
        double lo = INFINITY, hi = -INFINITY, sum = 0;
        for (size_t i = 0; i < n; i++) {
            lo = fmin(lo, spec[i]);
            hi = fmax(hi, spec[i]);
            sum += spec[i];
        }
        printf("%s: %.3f s at %d Hz -> %s: %d mels x %zu frames (hop %d), log-mel min %.3f mean %.3f max %.3f\n", in,
               (double)audio.n_samples / audio.sample_rate, audio.sample_rate, out, cfg.n_mel_channels, frames,
               cfg.hop_length, lo, sum / (double)n, hi);
    }
done:
    free(spec);
    wg_mel_destroy(mel);
    wg_audio_free(&audio);
    return rc;
}
