/* fuzz_config.c — NVIDIA-layout config JSON: the model sections and the training options. */
#include <string.h>

#include "fuzz_common.h"
#include "trainer.h"
#include "waveglow.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    char *text = malloc(size + 1);
    memcpy(text, data, size);
    text[size] = '\0';
    wg_config c;
    if (wg_config_parse(text, "fuzz", &c, NULL) == 0) {
        char *back = wg_config_to_json(&c);
        wg_config d;
        if (back && wg_config_parse(back, "round trip", &d, NULL) != 0) abort(); /* what we write, we read */
        free(back);
        wg_model_info info = wg_config_info(&c);
        (void)info;
    }
    wg_train_options o;
    wg_train_options_parse(text, "fuzz", &o, NULL, NULL, NULL);
    free(text);
    return 0;
}
