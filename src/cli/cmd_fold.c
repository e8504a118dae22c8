/* cmd_fold.c — `waveglow fold`: build a model's conditioning fold once and write it to a file,
 * which vocode then maps in instead of building it (foldfile.h). */
#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "cli.h"
#include "kernels.h"

static const char *help =
    "usage: waveglow fold --model M [-o OUT] [--threads N] [--quiet]\n\n"
    "Builds the model's conditioning fold (the mel upsampler multiplied into every flow's cond\n"
    "1x1 conv: about half the conditioning's FLOPs, for memory) and writes it to OUT, so that it is\n"
    "built once instead of by every process. `vocode`, `decode`, `encode` and `score` map a fold\n"
    "file in wherever they find one beside the model (or are given one with --fold-file), for\n"
    "inputs of any length: the build pays for itself only on long ones, mapping a built fold costs\n"
    "about one reading of it.\n"
    "The file records the weights it was built from; a model it was not built from refuses it.\n\n"
    "  -m, --model M       model file (.safetensors)\n"
    "  -o, --output OUT    fold file (default: M with .safetensors replaced by .fold, where vocode\n"
    "                      looks for it)\n"
    "  -t, --threads N     threads for the build (default: all cores)\n"
    "  -q, --quiet         no progress or notes\n"
    "  -h, --help          this text\n";

int cmd_fold(int argc, char **argv) {
    static const struct option opts[] = {{"model", required_argument, 0, 'm'},   {"output", required_argument, 0, 'o'},
                                         {"threads", required_argument, 0, 't'}, {"quiet", no_argument, 0, 'q'},
                                         {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
    const char *model_path = NULL, *out = NULL;
    long threads = 0;
    bool quiet = false;
    int c;
    while ((c = getopt_long(argc, argv, "m:o:t:qh", opts, NULL)) != -1) {
        switch (c) {
        case 'm': model_path = optarg; break;
        case 'o': out = optarg; break;
        case 't':
            if (!cli_parse_int("fold", "--threads", optarg, 0, 4096, &threads))
                return CLI_BAD;
            break;
        case 'q': quiet = true; break;
        case 'h': fputs(help, stdout); return CLI_OK;
        default: return cli_usage("fold", "unknown option");
        }
    }
    if (optind != argc)
        return cli_usage("fold", "unexpected argument \"%s\"", argv[optind]);
    if (!model_path)
        return cli_usage("fold", "missing --model M");
    char side[4096];
    if (!out) {
        if (!cli_fold_path(model_path, side, sizeof side))
            return cli_usage("fold", "model path too long");
        out = side;
    }
    wg_config cfg;
    wg_model *model = NULL;
    int rc = cli_load_config("fold", model_path, NULL, &cfg, &model);
    if (rc)
        return rc;
    wg_model_info info = wg_model_get_info(model);
    wg_error err = {0};
    struct timespec t0, t1;
    if (!quiet)
        fprintf(stderr, "waveglow fold: building the conditioning fold (%.0f MB)\n", info.fold_bytes / 1e6);
    wg_set_threads((int)threads);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    if (wg_model_fold_conditioning(model, SIZE_MAX, &err) || wg_model_save_fold(model, out, &err)) {
        rc = cli_error("fold", &err);
    } else if (!quiet) {
        clock_gettime(CLOCK_MONOTONIC, &t1);
        printf("%s: conditioning fold (%.0f MB) built and written in %.2f s -> %s\n", model_path, info.fold_bytes / 1e6,
               (t1.tv_sec - t0.tv_sec) + 1e-9 * (t1.tv_nsec - t0.tv_nsec), out);
    }
    wg_model_free(model);
    return rc;
}
