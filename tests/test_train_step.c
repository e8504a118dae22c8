/* test_train_step.c — training gradients. (1) One full training step of the tiny reference config
 * against PyTorch autograd in float64 (tools/make_train_reference.py): the loss to 1e-5 relative,
 * every parameter gradient (weight_g / weight_v included) to 1e-4 relative to its tensor's
 * largest, and Adam's update against torch.optim.Adam. (2) Central finite differences of the
 * loss, computed by wg_encode (a separate code path), against the analytic gradient for entries
 * of every tensor. (3) The backward pass rebuilds each flow's input exactly. */
#include "adam.h"
#include "model.h"
#include "safetensors.h"
#include "testutil.h"
#include "train_step.h"
#include "trainable.h"

typedef struct fixture {
    wg_st_file st;
    wg_config cfg;
    wg_trainable tr;
    float *theta, *params, *grad, *dtheta;
    float *mel, *audio;
    size_t B, M, F, T;
    double loss_ref;
} fixture;

static void load_fixture(fixture *f) {
    wg_error err = {0};
    assert_int_equal(wg_st_read(DATA("train/tiny_step.safetensors"), &f->st, &err), 0);
    assert_int_equal(wg_config_parse(f->st.config, "tiny_step", &f->cfg, &err), 0);
    assert_int_equal(wg_trainable_build(&f->cfg, 1, &f->tr), 0);
    f->theta = malloc(f->tr.total * sizeof(float));
    f->dtheta = malloc(f->tr.total * sizeof(float));
    f->params = malloc(f->tr.table.total * sizeof(float));
    f->grad = calloc(f->tr.table.total, sizeof(float));
    for (int i = 0; i < f->tr.n; i++) {
        char name[96];
        snprintf(name, sizeof name, "p.%s", f->tr.e[i].name);
        const wg_st_tensor *t = wg_st_find(&f->st, name);
        if (!t) fail_msg("the reference has no %s", name);
        assert_int_equal(t->numel, f->tr.e[i].numel);
        assert_int_equal(wg_st_copy(&f->st, t, f->theta + f->tr.e[i].offset, NULL), 0);
    }
    const wg_st_tensor *tm = wg_st_find(&f->st, "mel"), *ta = wg_st_find(&f->st, "audio");
    f->B = tm->shape[0], f->M = tm->shape[1], f->F = tm->shape[2], f->T = ta->shape[1];
    f->mel = malloc(tm->numel * sizeof(float));
    f->audio = malloc(ta->numel * sizeof(float));
    assert_int_equal(wg_st_copy(&f->st, tm, f->mel, NULL), 0);
    assert_int_equal(wg_st_copy(&f->st, ta, f->audio, NULL), 0);
    assert_int_equal(wg_st_copy_f64(&f->st, wg_st_find(&f->st, "loss"), &f->loss_ref, NULL), 0);
}

static void free_fixture(fixture *f) {
    free(f->theta), free(f->dtheta), free(f->params), free(f->grad), free(f->mel), free(f->audio);
    wg_trainable_free(&f->tr);
    wg_st_close(&f->st);
}

static bool keep; /* the keep_activations path instead of rebuilding flow inputs */

/* loss and (into f->grad, f->dtheta) its gradient at f->theta */
static double loss_and_grad(fixture *f, double *recon) {
    wg_trainable_fold(&f->tr, f->theta, f->params);
    float *copy = malloc(f->tr.table.total * sizeof(float));
    memcpy(copy, f->params, f->tr.table.total * sizeof(float));
    wg_model *m;
    wg_error err = {0};
    assert_int_equal(wg_model_from_params(&f->cfg, copy, "theta", &m, &err), 0);
    wg_train_work w;
    assert_int_equal(wg_train_work_alloc(&f->cfg, f->T / f->cfg.n_group, keep, &w), 0);
    memset(f->grad, 0, f->tr.table.total * sizeof(float));
    double inv = 1.0 / ((double)f->B * f->T), loss = 0, s2 = f->cfg.sigma * f->cfg.sigma;
    *recon = 0;
    for (size_t b = 0; b < f->B; b++) {
        wg_segment_terms terms;
        wg_train_segment(m, f->grad, f->mel + b * f->M * f->F, f->F, f->audio + b * f->T, f->T, inv, &w, &terms);
        loss += (terms.sum_z2 / (2 * s2) - terms.log_s - terms.log_det_w) * inv;
        *recon = fmax(*recon, terms.reconstruction_error);
    }
    wg_trainable_backward(&f->tr, f->theta, f->grad, f->dtheta);
    wg_train_work_free(&w);
    wg_model_free(m);
    return loss;
}

static void test_step_matches_pytorch(void **state) {
    (void)state;
    fixture f;
    load_fixture(&f);
    double recon;
    double loss = loss_and_grad(&f, &recon);
    double el = fabs(loss - f.loss_ref) / fabs(f.loss_ref);
    printf("loss %.9f vs PyTorch %.9f: rel err %.2e; flow inputs rebuilt to %.2e\n", loss, f.loss_ref, el, recon);
    assert_true(el <= 1e-5);
    assert_true(recon <= 1e-5);
    double worst = 0;
    const char *worst_name = "";
    float *ref = malloc(f.tr.total * sizeof(float));
    for (int i = 0; i < f.tr.n; i++) {
        const wg_trainable_entry *e = &f.tr.e[i];
        char name[96];
        snprintf(name, sizeof name, "g.%s", e->name);
        const wg_st_tensor *t = wg_st_find(&f.st, name);
        assert_non_null(t);
        assert_int_equal(wg_st_copy(&f.st, t, ref + e->offset, NULL), 0);
        double scale = max_abs(ref + e->offset, e->numel);
        double rel = max_abs_diff(f.dtheta + e->offset, ref + e->offset, e->numel) / fmax(scale, 1e-12);
        if (rel > worst) worst = rel, worst_name = e->name;
        if (rel > 1e-4) printf("  %s: rel err %.2e (max |g| %.3e)\n", e->name, rel, scale);
    }
    printf("%d gradient tensors: worst rel err %.2e (%s)\n", f.tr.n, worst, worst_name);
    assert_true(worst <= 1e-4);
    /* Adam, fed PyTorch's own gradients, must make PyTorch's update */
    float *m = calloc(f.tr.total, sizeof(float)), *v = calloc(f.tr.total, sizeof(float));
    float *before = malloc(f.tr.total * sizeof(float));
    memcpy(before, f.theta, f.tr.total * sizeof(float));
    wg_adam_params ap = wg_adam_default_params();
    wg_adam_step(f.theta, ref, m, v, f.tr.total, 1, 1e-3, &ap);
    double eu = 0;
    for (int i = 0; i < f.tr.n; i++) {
        const wg_trainable_entry *e = &f.tr.e[i];
        char name[96];
        snprintf(name, sizeof name, "d.%s", e->name);
        const wg_st_tensor *t = wg_st_find(&f.st, name);
        float *d = malloc(e->numel * sizeof(float));
        assert_int_equal(wg_st_copy(&f.st, t, d, NULL), 0);
        /* θ is float32: storing θ − update costs half an ulp of θ, and the float32 moments leave the
         * update itself ~1e-7 relative (its size is ~lr): the bound is the sum of the two */
        for (size_t j = 0; j < e->numel; j++) {
            double bound = fabs(before[e->offset + j]) * 0x1p-24 + 1e-6 * 1e-3;
            eu = fmax(eu, fabs((f.theta[e->offset + j] - before[e->offset + j]) - d[j]) / bound);
        }
        free(d);
    }
    printf("Adam step (lr 1e-3): max |update - torch's| = %.2f of (half an ulp of the parameter + 1e-6 lr)\n", eu);
    assert_true(eu <= 1.0);
    free(m), free(v), free(before), free(ref);
    free_fixture(&f);
}

/* the same step keeping every flow's WN intermediates instead of recomputing them */
static void test_step_keeping_activations_matches_pytorch(void **state) {
    keep = true;
    test_step_matches_pytorch(state);
    keep = false;
}

static double encode_loss(fixture *f) {
    wg_trainable_fold(&f->tr, f->theta, f->params);
    float *copy = malloc(f->tr.table.total * sizeof(float));
    memcpy(copy, f->params, f->tr.table.total * sizeof(float));
    wg_model *m;
    wg_error err = {0};
    assert_int_equal(wg_model_from_params(&f->cfg, copy, "fd", &m, &err), 0);
    float *z = malloc(f->T * sizeof(float));
    double loss = 0;
    for (size_t b = 0; b < f->B; b++) {
        wg_likelihood lk;
        assert_int_equal(wg_encode(m, f->mel + b * f->M * f->F, f->F, f->audio + b * f->T, f->T, z, &lk, NULL, &err), 0);
        loss += lk.loss / f->B;
    }
    free(z);
    wg_model_free(m);
    return loss;
}

static void test_finite_differences(void **state) {
    (void)state;
    fixture f;
    load_fixture(&f);
    double recon;
    loss_and_grad(&f, &recon);
    float *analytic = malloc(f.tr.total * sizeof(float));
    memcpy(analytic, f.dtheta, f.tr.total * sizeof(float));
    /* in each tensor, the entry with the largest gradient: its FD quotient is far above float noise */
    int checked = 0, bad = 0;
    for (int i = 0; i < f.tr.n; i++) {
        const wg_trainable_entry *e = &f.tr.e[i];
        size_t j = 0;
        for (size_t k = 1; k < e->numel; k++)
            if (fabs(analytic[e->offset + k]) > fabs(analytic[e->offset + j])) j = k;
        float *x = &f.theta[e->offset + j], x0 = *x;
        double h = 1e-2 * fmax(fabs(x0), 0.05);
        *x = (float)(x0 + h);
        double hp = *x - x0, lp = encode_loss(&f);
        *x = (float)(x0 - h);
        double hm = x0 - *x, lm = encode_loss(&f);
        *x = x0;
        double fd = (lp - lm) / (hp + hm), an = analytic[e->offset + j];
        double rel = fabs(fd - an) / fmax(fabs(an), 1e-6);
        checked++;
        if (rel > 2e-2) {
            bad++;
            printf("  %s[%zu]: analytic %.6e, finite difference %.6e (rel %.1e)\n", e->name, j, an, fd, rel);
        }
    }
    printf("finite differences: %d of %d tensors' largest gradients agree to 2e-2\n", checked - bad, checked);
    assert_int_equal(bad, 0);
    free(analytic);
    free_fixture(&f);
}

int main(void) {
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_step_matches_pytorch),
        cmocka_unit_test(test_step_keeping_activations_matches_pytorch),
        cmocka_unit_test(test_finite_differences),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
