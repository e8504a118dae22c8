/* cmd_compare.c — `waveglow compare`: objective comparison of two audio files, with thresholds
 * for regression tests (exit 1 names what failed), JSON for machines, a PNG for people. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli.h"
#include "mel.h"
#include "plot.h"

static const char *help =
    "usage: waveglow compare REF TEST [--max-delay MS] [--match-gain] [--max-abs X] [--min-snr DB]\n"
    "                        [--max-lsd DB] [--max-mcd DB] [--max-length-diff N] [--json] [--png OUT.png]\n\n"
    "Measures TEST against REF (same sample rate; several channels are averaged): max abs and RMS\n"
    "difference, SNR (dB), log-spectral distance on STFT magnitudes (dB), mel-cepstral distortion\n"
    "from the log-mel without c0 (dB, 10/ln10 * sqrt(2 sum)), and the length difference. With\n"
    "thresholds, exits 0 when all hold and 1 naming each that fails; 2 on bad input.\n"
    "STFT: 1024-point periodic Hann, hop 256; mel: 80 Slaney bands up to min(8000, rate/2) Hz.\n\n"
    "      --max-delay MS        align TEST to REF first, searching delays within +-MS ms\n"
    "      --match-gain          scale TEST by the least-squares gain first\n"
    "      --max-abs X           fail if max |REF - TEST| > X\n"
    "      --min-snr DB          fail if SNR < DB\n"
    "      --max-lsd DB          fail if LSD > DB\n"
    "      --max-mcd DB          fail if MCD > DB\n"
    "      --max-length-diff N   fail if the lengths differ by more than N samples\n"
    "      --json                the measures and verdicts as JSON on stdout\n"
    "      --png OUT.png         the two log-mel spectrograms and their difference\n"
    "  -h, --help                this text\n";

enum { O_DELAY = 256, O_GAIN, O_ABS, O_SNR, O_LSD, O_MCD, O_LEN, O_JSON, O_PNG };

static int plot(const char *png, const wg_audio *ref, const wg_audio *test, const wg_compare_result *r,
                const char *title) {
    wg_config c = wg_config_default();
    c.sampling_rate = ref->sample_rate;
    c.mel_fmax = fmin(8000.0, ref->sample_rate / 2.0);
    wg_error err = {0};
    wg_mel *mel;
    if (wg_mel_create(&c, &mel, &err)) return cli_error("compare", &err);
    size_t t0 = r->delay < 0 ? (size_t)(-r->delay) : 0, n = r->n_compared, frames = wg_mel_frames(mel, n);
    float *b = malloc(n * sizeof(float)), *ma = malloc(80 * frames * sizeof(float)), *mb = malloc(80 * frames * sizeof(float));
    int rc = CLI_BAD;
    if (b && ma && mb) {
        for (size_t i = 0; i < n; i++) b[i] = (float)(r->gain * test->samples[t0 + (size_t)r->delay + i]);
        char sub[256];
        snprintf(sub, sizeof sub, "SNR %.2f dB   LSD %.3f dB   MCD %.3f dB   max |diff| %.3g   delay %ld   gain %.4g",
                 r->snr_db, r->lsd_db, r->mcd_db, r->max_abs, r->delay, r->gain);
        plot_axes ax = {ref->sample_rate, c.hop_length, c.mel_fmin, c.mel_fmax};
        if (!wg_mel_compute(mel, ref->samples + t0, n, ma, &err) && !wg_mel_compute(mel, b, n, mb, &err) &&
            !cli_plot_compare(png, ma, mb, 80, frames, &ax, title, sub, &err))
            rc = 0;
        else
            cli_error("compare", &err);
    }
    free(b), free(ma), free(mb);
    wg_mel_destroy(mel);
    return rc;
}

int cmd_compare(int argc, char **argv) {
    static const struct option opts[] = {
        {"max-delay", required_argument, 0, O_DELAY}, {"match-gain", no_argument, 0, O_GAIN},
        {"max-abs", required_argument, 0, O_ABS},     {"min-snr", required_argument, 0, O_SNR},
        {"max-lsd", required_argument, 0, O_LSD},     {"max-mcd", required_argument, 0, O_MCD},
        {"max-length-diff", required_argument, 0, O_LEN}, {"json", no_argument, 0, O_JSON},
        {"png", required_argument, 0, O_PNG},         {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    wg_compare_params p = wg_compare_default_params();
    double max_abs = NAN, min_snr = NAN, max_lsd = NAN, max_mcd = NAN;
    long max_len = -1;
    bool json = false;
    const char *png = NULL;
    int c;
    while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
        bool ok = true;
        switch (c) {
        case O_DELAY: ok = cli_parse_float("compare", "--max-delay", optarg, 0, 10000, &p.max_delay_ms); break;
        case O_GAIN: p.match_gain = true; break;
        case O_ABS: ok = cli_parse_float("compare", "--max-abs", optarg, 0, 1e9, &max_abs); break;
        case O_SNR: ok = cli_parse_float("compare", "--min-snr", optarg, -1e9, 1e9, &min_snr); break;
        case O_LSD: ok = cli_parse_float("compare", "--max-lsd", optarg, 0, 1e9, &max_lsd); break;
        case O_MCD: ok = cli_parse_float("compare", "--max-mcd", optarg, 0, 1e9, &max_mcd); break;
        case O_LEN: ok = cli_parse_int("compare", "--max-length-diff", optarg, 0, 1L << 40, &max_len); break;
        case O_JSON: json = true; break;
        case O_PNG: png = optarg; break;
        case 'h': fputs(help, stdout); return CLI_OK;
        default: return cli_usage("compare", "unknown option");
        }
        if (!ok) return CLI_BAD;
    }
    if (optind != argc - 2) return cli_usage("compare", "expected REF and TEST");
    const char *ref_path = argv[optind], *test_path = argv[optind + 1];
    wg_audio ref, test;
    int rc = cli_read_audio("compare", ref_path, 0, true, &ref);
    if (rc) return rc;
    if ((rc = cli_read_audio("compare", test_path, 0, true, &test))) {
        wg_audio_free(&ref);
        return rc;
    }
    wg_compare_result r;
    wg_error err = {0};
    if (ref.sample_rate != test.sample_rate) {
        fprintf(stderr, "waveglow compare: %s is %d Hz but %s is %d Hz; resample one first\n", ref_path,
                ref.sample_rate, test_path, test.sample_rate);
        rc = CLI_BAD;
    } else if (wg_compare(ref.samples, ref.n_samples, test.samples, test.n_samples, ref.sample_rate, &p, &r, &err)) {
        fprintf(stderr, "waveglow compare: %s vs %s: %s\n", ref_path, test_path, err.message);
        rc = CLI_BAD;
    }
    if (rc) goto done;
    struct {
        const char *name;
        bool set, pass;
        double value, limit;
    } checks[] = {
        {"max-abs", max_abs == max_abs, r.max_abs <= max_abs, r.max_abs, max_abs},
        {"min-snr", min_snr == min_snr, r.snr_db >= min_snr, r.snr_db, min_snr},
        {"max-lsd", max_lsd == max_lsd, r.lsd_db <= max_lsd, r.lsd_db, max_lsd},
        {"max-mcd", max_mcd == max_mcd, r.mcd_db <= max_mcd, r.mcd_db, max_mcd},
        {"max-length-diff", max_len >= 0, labs(r.length_diff) <= max_len, (double)r.length_diff, (double)max_len},
    };
    int n_failed = 0;
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) n_failed += checks[i].set && !checks[i].pass;
    if (json) {
        cJSON *o = cJSON_CreateObject(), *ch = cJSON_CreateArray();
        cJSON_AddStringToObject(o, "reference", ref_path);
        cJSON_AddStringToObject(o, "test", test_path);
        cJSON_AddNumberToObject(o, "sample_rate", ref.sample_rate);
        cJSON_AddNumberToObject(o, "samples_compared", (double)r.n_compared);
        cJSON_AddNumberToObject(o, "length_diff", (double)r.length_diff);
        cJSON_AddNumberToObject(o, "delay", (double)r.delay);
        cJSON_AddNumberToObject(o, "gain", r.gain);
        cJSON_AddNumberToObject(o, "max_abs", r.max_abs);
        cJSON_AddNumberToObject(o, "rms", r.rms);
        if (isinf(r.snr_db))
            cJSON_AddNullToObject(o, "snr_db"); /* identical: JSON has no infinity */
        else
            cJSON_AddNumberToObject(o, "snr_db", r.snr_db);
        cJSON_AddBoolToObject(o, "identical", isinf(r.snr_db));
        cJSON_AddNumberToObject(o, "lsd_db", r.lsd_db);
        cJSON_AddNumberToObject(o, "mcd_db", r.mcd_db);
        for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++) {
            if (!checks[i].set) continue;
            cJSON *x = cJSON_CreateObject();
            cJSON_AddStringToObject(x, "check", checks[i].name);
            cJSON_AddNumberToObject(x, "limit", checks[i].limit);
            cJSON_AddBoolToObject(x, "pass", checks[i].pass);
            cJSON_AddItemToArray(ch, x);
        }
        cJSON_AddItemToObject(o, "checks", ch);
        cJSON_AddBoolToObject(o, "pass", n_failed == 0);
        char *t = cJSON_Print(o);
        puts(t);
        free(t);
        cJSON_Delete(o);
    } else {
        printf("%s vs %s (%d Hz, %zu samples compared, length diff %ld, delay %ld, gain %.6g)\n", ref_path,
               test_path, ref.sample_rate, r.n_compared, r.length_diff, r.delay, r.gain);
        printf("  max abs %.6g  rms %.6g  SNR %.3f dB  LSD %.4f dB  MCD %.4f dB\n", r.max_abs, r.rms, r.snr_db,
               r.lsd_db, r.mcd_db);
    }
    for (size_t i = 0; i < sizeof checks / sizeof checks[0]; i++)
        if (checks[i].set && !checks[i].pass)
            fprintf(stderr, "waveglow compare: FAILED %s: %.6g (limit %.6g)\n", checks[i].name, checks[i].value,
                    checks[i].limit);
    if (png) {
        char title[512];
        snprintf(title, sizeof title, "%s vs %s", ref_path, test_path);
        if ((rc = plot(png, &ref, &test, &r, title))) goto done;
    }
    rc = n_failed ? CLI_CHECK_FAILED : CLI_OK;
done:
    wg_audio_free(&ref);
    wg_audio_free(&test);
    return rc;
}
