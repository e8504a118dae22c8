/* test_model_load.c — loading NVIDIA-named model files: the reference model as it is, weight
 * norm pairs, and each way a model file can disagree with its config. */
#include "model.h"
#include "safetensors.h"
#include "testutil.h"

#define TINY DATA("reference/tiny.model.safetensors")

static void test_reference_model_loads(void **state) {
    (void)state;
    wg_model *m;
    wg_error err = {0};
    assert_int_equal(wg_model_load(TINY, &m, &err), 0);
    const wg_config *c = wg_model_config(m);
    assert_int_equal(c->n_flows, 4);
    /* parameter count: the sum of the file's tensor sizes (an independent count) */
    wg_st_file st;
    assert_int_equal(wg_st_read(TINY, &st, &err), 0);
    size_t total = 0;
    for (int i = 0; i < st.n_tensors; i++)
        total += st.tensors[i].numel;
    wg_model_info info = wg_model_get_info(m);
    printf("parameters %zu (file holds %zu), receptive field %zu samples, %.3f GFLOP/s of audio\n", info.n_parameters,
           total, info.receptive_field_samples, info.flops_per_second / 1e9);
    assert_int_equal(info.n_parameters, total);
    /* what synthesis computes, from the shapes of the GEMMs wavenet.c calls for a flow of n_half
     * H a step: the upsampler and cond as the model has them, start (C × H), layer 0's taps through
     * start (2C × (H + 1), K of them), the others' K taps of 2C × C or by Winograd 8/6 of them,
     * residual rows plus end's (C + 2H) × C for all but the last layer, whose 2H × C rows are the
     * output, and the 1×1 conv; against the model's own count, with the taps of every layer and
     * the 2C × C res_skip, C × C last res_skip and 2H × C end it describes */
    double C = c->wn_n_channels, L = c->wn_n_layers, K = c->wn_kernel_size, MG = c->n_mel_channels * c->n_group;
    double steps = (double)c->sampling_rate / c->n_group, up = 2.0 * c->n_mel_channels * c->n_mel_channels * 4 * c->sampling_rate;
    for (int wino = 0; wino <= 1; wino++) {
        double ours = 0, model = 0;
        for (int k = 0; k < c->n_flows; k++) {
            double rem = m->flows[k].n_rem, H = rem / 2, common = 2 * (2 * C * L) * MG + 2 * C * H + 2 * rem * rem;
            ours += common + 2 * 2 * C * (H + 1) * K + (L - 1) * 2 * 2 * C * C * (wino ? 8.0 / 6 : K) +
                    (L - 1) * 2 * (C + 2 * H) * C + 2 * 2 * H * C;
            model += common + L * 2 * 2 * C * C * K + (L - 1) * 2 * 2 * C * C + 2 * C * C + 2 * 2 * H * C;
        }
        /* the tiny model is too narrow for the Winograd taps; set them to reach their count */
        assert_int_equal(m->winograd, 0);
        wg_model_set_winograd(m, wino);
        wg_model_info ii = wg_model_get_info(m);
        printf("%s: %.5f of the model's %.5f GFLOP/s of audio computed\n", wino ? "Winograd taps" : "tap GEMMs",
               ii.computed_flops_per_second / 1e9, ii.flops_per_second / 1e9);
        assert_true(fabs(ii.flops_per_second - (model * steps + up)) <= 1e-9 * ii.flops_per_second);
        assert_true(fabs(ii.computed_flops_per_second - (ours * steps + up)) <= 1e-9 * ii.flops_per_second);
        assert_true(ii.computed_flops_per_second < ii.flops_per_second);
        wg_model_set_winograd(m, 0);
    }
    /* reach per flow (3-1)/2 * (2^3 - 1) = 7 steps, 4 flows: 28 steps each side, 8 samples a step */
    assert_int_equal(info.receptive_field_samples, (2 * 28 + 1) * 8);
    /* the loaded tensors are the file's, in place */
    const wg_st_tensor *t = wg_st_find(&st, "WN.2.in_layers.1.weight");
    float *w = malloc(t->numel * sizeof(float));
    assert_int_equal(wg_st_copy(&st, t, w, NULL), 0);
    assert_memory_equal(m->flows[2].in_w[1], w, t->numel * sizeof(float));
    /* W⁻¹ really is the inverse */
    const wg_flow_view *v = &m->flows[1];
    double worst = 0;
    for (int i = 0; i < v->n_rem; i++)
        for (int j = 0; j < v->n_rem; j++) {
            double acc = 0;
            for (int k = 0; k < v->n_rem; k++)
                acc += (double)v->convinv_w[i * v->n_rem + k] * v->convinv_inv[k * v->n_rem + j];
            worst = fmax(worst, fabs(acc - (i == j)));
        }
    printf("|W W^-1 - I| max %.2e\n", worst);
    assert_true(worst < 1e-5);
    free(w);
    wg_st_close(&st);
    wg_model_free(m);
}

/* __metadata__["synthesis_sigma"] of the next load_edited, or NULL for none */
static const char *synthesis_sigma;

/* Rewrites the reference model with `edit` applied to the list of entries. */
typedef void (*edit_fn)(wg_st_entry *e, int *n, float **extra, const char **config);

static int load_edited(const char *name, edit_fn edit, wg_error *err, wg_model **out) {
    wg_st_file st;
    assert_int_equal(wg_st_read(TINY, &st, err), 0);
    wg_st_entry *e = calloc((size_t)st.n_tensors + 4, sizeof *e);
    float **data = calloc((size_t)st.n_tensors + 4, sizeof *data);
    int n = st.n_tensors;
    for (int i = 0; i < n; i++) {
        data[i] = malloc(st.tensors[i].numel * sizeof(float));
        assert_int_equal(wg_st_copy(&st, &st.tensors[i], data[i], NULL), 0);
        e[i].name = st.tensors[i].name;
        e[i].ndim = st.tensors[i].ndim;
        memcpy(e[i].shape, st.tensors[i].shape, sizeof e[i].shape);
        e[i].data = data[i];
    }
    const char *config = st.config;
    float *extra = NULL;
    edit(e, &n, &extra, &config);
    char path[512];
    tmp_path(path, sizeof path, name);
    const char *meta[] = {"config", config, synthesis_sigma ? "synthesis_sigma" : NULL, synthesis_sigma, NULL};
    assert_int_equal(wg_st_write(path, e, n, config ? meta : NULL, err), 0);
    wg_model *m = NULL;
    int rc = wg_model_load(path, &m, err);
    printf("%s -> %d: %s\n", name, rc, rc ? err->message : "ok");
    if (out)
        *out = m;
    else
        wg_model_free(m);
    for (int i = 0; i < st.n_tensors; i++)
        free(data[i]);
    free(data);
    free(e);
    free(extra);
    wg_st_close(&st);
    return rc;
}

static void unchanged(wg_st_entry *e, int *n, float **x, const char **c) { (void)e, (void)n, (void)x, (void)c; }

/* A model file may name its own synthesis temperature: a number in (0, 10], or the load fails
 * naming the key; without one, info says 0 (the CLI then uses 0.6). */
static void test_synthesis_sigma_metadata(void **state) {
    (void)state;
    wg_error err = {0};
    wg_model *m;
    synthesis_sigma = NULL;
    assert_int_equal(load_edited("sigma_none.safetensors", unchanged, &err, &m), 0);
    assert_true(wg_model_get_info(m).synthesis_sigma == 0);
    wg_model_free(m);
    synthesis_sigma = "0.7";
    assert_int_equal(load_edited("sigma_07.safetensors", unchanged, &err, &m), 0);
    assert_true(wg_model_get_info(m).synthesis_sigma == 0.7);
    wg_model_free(m);
    const char *bad[] = {"abc", "0", "-0.5", "nan", "11", "0.7x", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        synthesis_sigma = bad[i];
        assert_int_equal(load_edited("sigma_bad.safetensors", unchanged, &err, NULL), WG_EFORMAT);
        assert_non_null(strstr(err.message, "synthesis_sigma"));
    }
    synthesis_sigma = NULL;
}

static int find(wg_st_entry *e, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (!strcmp(e[i].name, name))
            return i;
    fail_msg("no tensor %s", name);
    return -1;
}

static void drop_end_bias(wg_st_entry *e, int *n, float **x, const char **c) {
    (void)x, (void)c;
    int i = find(e, *n, "WN.1.end.bias");
    e[i] = e[--*n];
}
static void reshape_start(wg_st_entry *e, int *n, float **x, const char **c) {
    (void)x, (void)c;
    int i = find(e, *n, "WN.0.start.weight");
    e[i].ndim = 2;
}
static void add_unknown(wg_st_entry *e, int *n, float **x, const char **c) {
    (void)c;
    *x = calloc(4, sizeof(float));
    e[(*n)++] = (wg_st_entry){"WN.0.extra.weight", 1, {4}, *x};
}
static void no_config(wg_st_entry *e, int *n, float **x, const char **c) {
    (void)e, (void)n, (void)x;
    *c = NULL;
}
static void fewer_flows(wg_st_entry *e, int *n, float **x, const char **c) {
    (void)e, (void)n, (void)x;
    *c = "{\"waveglow_config\": {\"n_mel_channels\": 16, \"n_flows\": 3, \"n_group\": 8, \"n_early_every\": 2, "
         "\"n_early_size\": 2, \"WN_config\": {\"n_layers\": 3, \"n_channels\": 16, \"kernel_size\": 3}}}";
}
static void wider_wn(wg_st_entry *e, int *n, float **x, const char **c) {
    (void)e, (void)n, (void)x;
    *c = "{\"waveglow_config\": {\"n_mel_channels\": 16, \"n_flows\": 4, \"n_group\": 8, \"n_early_every\": 2, "
         "\"n_early_size\": 2, \"WN_config\": {\"n_layers\": 3, \"n_channels\": 32, \"kernel_size\": 3}}}";
}
static void nan_weight(wg_st_entry *e, int *n, float **x, const char **c) {
    (void)c, (void)x;
    int i = find(e, *n, "WN.3.cond_layer.weight");
    ((float *)e[i].data)[5] = NAN;
}
static void singular_convinv(wg_st_entry *e, int *n, float **x, const char **c) {
    (void)c, (void)x;
    int i = find(e, *n, "convinv.2.conv.weight");
    memset((float *)e[i].data, 0, 6 * 6 * sizeof(float));
}

static void test_mismatches_are_named(void **state) {
    (void)state;
    wg_error err = {0};
    assert_int_equal(load_edited("missing.st", drop_end_bias, &err, NULL), WG_ECONFIG);
    assert_non_null(strstr(err.message, "\"WN.1.end.bias\" is missing"));
    assert_int_equal(load_edited("shape.st", reshape_start, &err, NULL), WG_ECONFIG);
    assert_non_null(strstr(err.message, "\"WN.0.start.weight\" has shape (16, 4), but the config implies (16, 4, 1)"));
    assert_int_equal(load_edited("unknown.st", add_unknown, &err, NULL), WG_ECONFIG);
    assert_non_null(strstr(err.message, "unknown tensor \"WN.0.extra.weight\""));
    assert_int_equal(load_edited("noconfig.st", no_config, &err, NULL), WG_ECONFIG);
    assert_non_null(strstr(err.message, "no __metadata__"));
    assert_int_equal(load_edited("flows.st", fewer_flows, &err, NULL), WG_ECONFIG);
    assert_non_null(strstr(err.message, "unknown tensor \"WN.3."));
    assert_int_equal(load_edited("wide.st", wider_wn, &err, NULL), WG_ECONFIG);
    assert_non_null(strstr(err.message, "but the config implies"));
    assert_int_equal(load_edited("nan.st", nan_weight, &err, NULL), WG_ENONFINITE);
    assert_non_null(strstr(err.message, "WN.3.cond_layer.weight"));
    assert_int_equal(load_edited("singular.st", singular_convinv, &err, NULL), WG_ECONFIG);
    assert_non_null(strstr(err.message, "convinv.2.conv.weight is singular"));
}

/* Splits WN.1.in_layers.2.weight into weight_g / weight_v with v = w · (o + 2) per output row. */
static float *g_store, *v_store;
static void to_weight_norm(wg_st_entry *e, int *n, float **x, const char **c) {
    (void)c, (void)x;
    int i = find(e, *n, "WN.1.in_layers.2.weight");
    size_t out = e[i].shape[0], row = e[i].shape[1] * e[i].shape[2];
    const float *w = e[i].data;
    g_store = malloc(out * sizeof(float));
    v_store = malloc(out * row * sizeof(float));
    for (size_t o = 0; o < out; o++) {
        double norm = 0;
        for (size_t j = 0; j < row; j++) {
            v_store[o * row + j] = w[o * row + j] * (float)(o + 2);
            norm += (double)w[o * row + j] * w[o * row + j];
        }
        g_store[o] = (float)sqrt(norm);
    }
    e[i].name = "WN.1.in_layers.2.weight_v";
    e[i].data = v_store;
    e[(*n)++] = (wg_st_entry){"WN.1.in_layers.2.weight_g", 3, {out, 1, 1}, g_store};
}

static void test_weight_norm_pairs_fold(void **state) {
    (void)state;
    wg_error err = {0};
    wg_model *plain, *wn;
    assert_int_equal(wg_model_load(TINY, &plain, &err), 0);
    assert_int_equal(load_edited("wn.st", to_weight_norm, &err, &wn), 0);
    size_t n = 2 * 16 * 16 * 3;
    double e = max_abs_diff(plain->flows[1].in_w[2], wn->flows[1].in_w[2], n);
    printf("weight norm fold max |diff| %.2e\n", e);
    assert_true(e < 1e-6);
    wg_model_free(plain);
    wg_model_free(wn);
    free(g_store);
    free(v_store);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_reference_model_loads),
        cmocka_unit_test(test_mismatches_are_named),
        cmocka_unit_test(test_weight_norm_pairs_fold),
        cmocka_unit_test(test_synthesis_sigma_metadata),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
