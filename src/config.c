/* config.c — NVIDIA config.json (data_config, waveglow_config, sigma) to wg_config and back.
 * Missing keys keep NVIDIA's published defaults; wrong types are errors, not silent defaults. */
#include "err.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fileio.h"

wg_config wg_config_default(void) {
    return (wg_config){
        .sampling_rate = 22050,
        .filter_length = 1024,
        .hop_length = 256,
        .win_length = 1024,
        .mel_fmin = 0.0,
        .mel_fmax = 8000.0,
        .segment_length = 16000,
        .n_mel_channels = 80,
        .n_flows = 12,
        .n_group = 8,
        .n_early_every = 4,
        .n_early_size = 2,
        .wn_n_layers = 8,
        .wn_n_channels = 256,
        .wn_kernel_size = 3,
        .sigma = 1.0,
    };
}

/* Reads an optional integer key; a present key of the wrong type or out of int range fails. */
static int get_int(const cJSON *obj, const char *key, int *dst, const char *source, const char *section,
                   wg_error *err) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!item)
        return 0;
    if (!cJSON_IsNumber(item) || !isfinite(item->valuedouble) || item->valuedouble != floor(item->valuedouble) ||
        fabs(item->valuedouble) > 1e9)
        return wg_fail(err, WG_ECONFIG, "%s: %s.%s must be an integer", source, section, key);
    *dst = (int)item->valuedouble;
    return 0;
}

static int get_double(const cJSON *obj, const char *key, double *dst, double if_null, const char *source,
                      const char *section, wg_error *err) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!item)
        return 0;
    if (cJSON_IsNull(item)) {
        *dst = if_null;
        return 0;
    }
    if (!cJSON_IsNumber(item) || !isfinite(item->valuedouble))
        return wg_fail(err, WG_ECONFIG, "%s: %s.%s must be a finite number", source, section, key);
    *dst = item->valuedouble;
    return 0;
}

static int get_section(const cJSON *root, const char *name, const cJSON **out, const char *source, wg_error *err) {
    const cJSON *item = cJSON_GetObjectItemCaseSensitive(root, name);
    *out = NULL;
    if (!item)
        return 0;
    if (!cJSON_IsObject(item))
        return wg_fail(err, WG_ECONFIG, "%s: \"%s\" must be an object", source, name);
    *out = item;
    return 0;
}

int wg_config_parse(const char *json, const char *source, wg_config *out, wg_error *err) {
    if (!json || !out)
        return wg_fail(err, WG_EINVAL, "wg_config_parse: NULL argument");
    if (!source)
        source = "config";
    cJSON *root = cJSON_Parse(json);
    if (!root)
        return wg_fail(err, WG_ECONFIG, "%s: not valid JSON", source);
    int rc = 0;
    wg_config cfg = wg_config_default();
    double fmax_null = -1.0; /* marks "null": Nyquist, resolved once the rate is known */
    const cJSON *data, *wg, *wn, *train;
    if (!cJSON_IsObject(root)) {
        rc = wg_fail(err, WG_ECONFIG, "%s: the top level must be a JSON object", source);
        goto done;
    }
    if ((rc = get_section(root, "data_config", &data, source, err)) ||
        (rc = get_section(root, "waveglow_config", &wg, source, err)) ||
        (rc = get_section(root, "train_config", &train, source, err)))
        goto done;
    if (!data && !wg) {
        rc = wg_fail(err, WG_ECONFIG, "%s: neither \"data_config\" nor \"waveglow_config\" is present", source);
        goto done;
    }
    if (data) {
        if ((rc = get_int(data, "sampling_rate", &cfg.sampling_rate, source, "data_config", err)) ||
            (rc = get_int(data, "filter_length", &cfg.filter_length, source, "data_config", err)) ||
            (rc = get_int(data, "hop_length", &cfg.hop_length, source, "data_config", err)) ||
            (rc = get_int(data, "win_length", &cfg.win_length, source, "data_config", err)) ||
            (rc = get_int(data, "segment_length", &cfg.segment_length, source, "data_config", err)) ||
            (rc = get_double(data, "mel_fmin", &cfg.mel_fmin, 0.0, source, "data_config", err)) ||
            (rc = get_double(data, "mel_fmax", &cfg.mel_fmax, fmax_null, source, "data_config", err)))
            goto done;
        if (cfg.mel_fmax == fmax_null)
            cfg.mel_fmax = cfg.sampling_rate / 2.0;
    }
    if (wg) {
        if ((rc = get_int(wg, "n_mel_channels", &cfg.n_mel_channels, source, "waveglow_config", err)) ||
            (rc = get_int(wg, "n_flows", &cfg.n_flows, source, "waveglow_config", err)) ||
            (rc = get_int(wg, "n_group", &cfg.n_group, source, "waveglow_config", err)) ||
            (rc = get_int(wg, "n_early_every", &cfg.n_early_every, source, "waveglow_config", err)) ||
            (rc = get_int(wg, "n_early_size", &cfg.n_early_size, source, "waveglow_config", err)))
            goto done;
        if ((rc = get_section(wg, "WN_config", &wn, source, err)))
            goto done;
        if (wn && ((rc = get_int(wn, "n_layers", &cfg.wn_n_layers, source, "WN_config", err)) ||
                   (rc = get_int(wn, "n_channels", &cfg.wn_n_channels, source, "WN_config", err)) ||
                   (rc = get_int(wn, "kernel_size", &cfg.wn_kernel_size, source, "WN_config", err))))
            goto done;
    }
    /* sigma: ours at the top level; NVIDIA's recipes keep it in train_config. */
    if ((rc = get_double(root, "sigma", &cfg.sigma, 1.0, source, "(top level)", err)))
        goto done;
    if (!cJSON_GetObjectItemCaseSensitive(root, "sigma") && train &&
        (rc = get_double(train, "sigma", &cfg.sigma, 1.0, source, "train_config", err)))
        goto done;
    if ((rc = wg_config_validate(&cfg, source, err)))
        goto done;
    *out = cfg;
done:
    cJSON_Delete(root);
    return rc;
}

int wg_config_load(const char *path, wg_config *out, wg_error *err) {
    char *text = NULL;
    size_t len = 0;
    int rc = wg_read_file(path, 1 << 20, &text, &len, err);
    if (rc)
        return rc;
    rc = wg_config_parse(text, path, out, err);
    free(text);
    return rc;
}

int wg_config_validate(const wg_config *c, const char *source, wg_error *err) {
    if (!source)
        source = "config";
#define CHECK(cond, ...)                                                                                               \
    do {                                                                                                               \
        if (!(cond))                                                                                                   \
            return wg_fail(err, WG_ECONFIG, __VA_ARGS__);                                                              \
    } while (0)
    CHECK(c->sampling_rate >= 1000 && c->sampling_rate <= 384000, "%s: sampling_rate %d is outside [1000, 384000]",
          source, c->sampling_rate);
    CHECK(c->filter_length >= 16 && c->filter_length <= 65536, "%s: filter_length %d is outside [16, 65536]", source,
          c->filter_length);
    CHECK(c->win_length >= 2 && c->win_length <= c->filter_length,
          "%s: win_length %d must be in [2, filter_length = %d]", source, c->win_length, c->filter_length);
    CHECK(c->hop_length >= 1 && c->hop_length <= 16384, "%s: hop_length %d is outside [1, 16384]", source,
          c->hop_length);
    CHECK(c->mel_fmin >= 0 && c->mel_fmin < c->mel_fmax, "%s: need 0 <= mel_fmin (%g) < mel_fmax (%g)", source,
          c->mel_fmin, c->mel_fmax);
    CHECK(c->mel_fmax <= c->sampling_rate / 2.0 + 1e-6, "%s: mel_fmax %g is above the Nyquist frequency %g", source,
          c->mel_fmax, c->sampling_rate / 2.0);
    CHECK(c->segment_length >= 0 && c->segment_length <= 100000000, "%s: segment_length %d is out of range", source,
          c->segment_length);
    CHECK(c->n_mel_channels >= 1 && c->n_mel_channels <= 1024, "%s: n_mel_channels %d is outside [1, 1024]", source,
          c->n_mel_channels);
    CHECK(c->n_flows >= 1 && c->n_flows <= 256, "%s: n_flows %d is outside [1, 256]", source, c->n_flows);
    CHECK(c->n_group >= 2 && c->n_group <= 256 && c->n_group % 2 == 0, "%s: n_group %d must be even, in [2, 256]",
          source, c->n_group);
    CHECK(c->n_early_every >= 1, "%s: n_early_every %d must be >= 1", source, c->n_early_every);
    CHECK(c->n_early_size >= 0 && c->n_early_size % 2 == 0, "%s: n_early_size %d must be even and >= 0", source,
          c->n_early_size);
    int remaining = c->n_group;
    for (int k = 1; k < c->n_flows; k++)
        if (k % c->n_early_every == 0)
            remaining -= c->n_early_size;
    CHECK(remaining >= 2, "%s: early outputs (%d every %d flows) leave %d channels; at least 2 must remain", source,
          c->n_early_size, c->n_early_every, remaining);
    CHECK(c->wn_n_layers >= 1 && c->wn_n_layers <= 24, "%s: WN_config.n_layers %d is outside [1, 24]", source,
          c->wn_n_layers);
    CHECK(c->wn_n_channels >= 1 && c->wn_n_channels <= 4096, "%s: WN_config.n_channels %d is outside [1, 4096]", source,
          c->wn_n_channels);
    CHECK(c->wn_kernel_size >= 1 && c->wn_kernel_size <= 63 && c->wn_kernel_size % 2 == 1,
          "%s: WN_config.kernel_size %d must be odd, in [1, 63]", source, c->wn_kernel_size);
    CHECK(isfinite(c->sigma) && c->sigma > 0, "%s: sigma %g must be positive", source, c->sigma);
#undef CHECK
    return 0;
}

char *wg_config_to_json(const wg_config *c) {
    cJSON *root = cJSON_CreateObject();
    cJSON *data = cJSON_AddObjectToObject(root, "data_config");
    cJSON *wg = cJSON_AddObjectToObject(root, "waveglow_config");
    cJSON *wn = wg ? cJSON_AddObjectToObject(wg, "WN_config") : NULL;
    char *text = NULL;
    if (!root || !data || !wg || !wn)
        goto done;
    cJSON_AddNumberToObject(data, "segment_length", c->segment_length);
    cJSON_AddNumberToObject(data, "sampling_rate", c->sampling_rate);
    cJSON_AddNumberToObject(data, "filter_length", c->filter_length);
    cJSON_AddNumberToObject(data, "hop_length", c->hop_length);
    cJSON_AddNumberToObject(data, "win_length", c->win_length);
    cJSON_AddNumberToObject(data, "mel_fmin", c->mel_fmin);
    cJSON_AddNumberToObject(data, "mel_fmax", c->mel_fmax);
    cJSON_AddNumberToObject(wg, "n_mel_channels", c->n_mel_channels);
    cJSON_AddNumberToObject(wg, "n_flows", c->n_flows);
    cJSON_AddNumberToObject(wg, "n_group", c->n_group);
    cJSON_AddNumberToObject(wg, "n_early_every", c->n_early_every);
    cJSON_AddNumberToObject(wg, "n_early_size", c->n_early_size);
    cJSON_AddNumberToObject(wn, "n_layers", c->wn_n_layers);
    cJSON_AddNumberToObject(wn, "n_channels", c->wn_n_channels);
    cJSON_AddNumberToObject(wn, "kernel_size", c->wn_kernel_size);
    cJSON_AddNumberToObject(root, "sigma", c->sigma);
    text = cJSON_PrintUnformatted(root);
done:
    cJSON_Delete(root);
    return text;
}
