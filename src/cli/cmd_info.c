/* cmd_info.c — `waveglow info`: a model's or config's shape, size, receptive field and cost. */
#include <getopt.h>
#include <stdio.h>
#include <unistd.h>

#include "cli.h"

static const char *help =
    "usage: waveglow info (--model M | --config C.json)\n\n"
    "Prints the config, the parameter count, the receptive field in samples and milliseconds, and\n"
    "the synthesis cost in FLOPs per second of audio. With --model every tensor is validated, and\n"
    "so is the model's fold file (M.fold, from `waveglow fold`) where there is one.\n\n"
    "  -m, --model M          a model file (.safetensors)\n"
    "  -c, --config C.json    an NVIDIA-layout config.json\n"
    "  -h, --help             this text\n";

int cmd_info(int argc, char **argv) {
    static const struct option opts[] = {{"model", required_argument, 0, 'm'},
                                         {"config", required_argument, 0, 'c'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *model_path = NULL, *config_path = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "m:c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model_path = optarg; break;
        case 'c': config_path = optarg; break;
        case 'h': fputs(help, stdout); return CLI_OK;
        default: return cli_usage("info", "unknown option");
        }
    }
    if (optind != argc)
        return cli_usage("info", "unexpected argument \"%s\"", argv[optind]);
    if (!model_path && !config_path)
        return cli_usage("info", "give --model M or --config C.json");
    wg_config cfg;
    wg_model *model = NULL;
    int rc = cli_load_config("info", model_path, config_path, &cfg, &model);
    if (rc)
        return rc;
    wg_model_info info = wg_config_info(&cfg);
    double synthesis_sigma = model ? wg_model_get_info(model).synthesis_sigma : 0;
    /* the fold file beside the model, which vocode and the others would map: whether it loads */
    char fold_path[4096], fold_note[4096 + 1024 + 128] = "";
    if (model && info.fold_bytes && cli_fold_path(model_path, fold_path, sizeof fold_path) &&
        access(fold_path, F_OK) == 0) {
        wg_error err = {0};
        if (wg_model_load_fold(model, fold_path, &err))
            snprintf(fold_note, sizeof fold_note, "  fold file: not used: %s\n", err.message);
        else {
            bool native = cli_fold_native(model);
            snprintf(fold_note, sizeof fold_note,
                     "  fold file: %s (checked; vocode, decode, encode and score map it)%s%s\n", fold_path,
                     native ? "" : "; ", native ? "" : CLI_FOLD_NOT_NATIVE);
        }
    }
    wg_model_free(model);
    printf("%s\n", model_path ? model_path : config_path);
    printf("  data:      %d Hz, filter_length %d, hop_length %d, win_length %d, mel %g-%g Hz, segment %d\n",
           cfg.sampling_rate, cfg.filter_length, cfg.hop_length, cfg.win_length, cfg.mel_fmin, cfg.mel_fmax,
           cfg.segment_length);
    printf("  waveglow:  %d mels, %d flows, n_group %d, early output %d every %d flows\n", cfg.n_mel_channels,
           cfg.n_flows, cfg.n_group, cfg.n_early_size, cfg.n_early_every);
    printf("  WN:        %d layers x %d channels, kernel %d\n", cfg.wn_n_layers, cfg.wn_n_channels, cfg.wn_kernel_size);
    printf("  sigma:     %g (prior standard deviation for likelihoods)\n", cfg.sigma);
    printf("  parameters: %zu (%.2f MB as float32)\n", info.n_parameters, info.n_parameters * 4.0 / 1e6);
    printf("  receptive field: %zu samples (%.1f ms)\n", info.receptive_field_samples, info.receptive_field_ms);
    printf("  synthesis cost: %.2f GFLOP per second of audio\n", info.flops_per_second / 1e9);
    if (info.computed_flops_per_second < info.flops_per_second)
        printf("  computed:  %.2f GFLOP per second of audio (the WN's start and end multiplied into its first taps and "
               "skip convs; from 64 channels, its dilated taps by Winograd's F(6,3))\n",
               info.computed_flops_per_second / 1e9);
    if (synthesis_sigma > 0)
        printf("  synthesis sigma: %g (the model's default latent temperature)\n", synthesis_sigma);
    if (info.fold_bytes)
        printf("  conditioning fold (waveglow fold, vocode --fold): %.1f MB; its build costs the FLOPs it saves in "
               "%.1f s of audio\n",
               info.fold_bytes / 1e6, (double)info.fold_breakeven_samples / cfg.sampling_rate);
    fputs(fold_note, stdout);
    return CLI_OK;
}
