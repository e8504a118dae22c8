/* fuzz_cli.c — the command line: argument vectors for every subcommand, run in a scratch
 * directory (where libFuzzer also leaves its reproducers). Arguments with '/' are refused, so
 * anything a fuzzed `-o` writes stays there. */
#include <getopt.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "fuzz_common.h"

static const struct {
    const char *name;
    int (*run)(int, char **);
} commands[] = {{"mel", cmd_mel},       {"info", cmd_info},       {"vocode", cmd_vocode}, {"encode", cmd_encode},
                {"decode", cmd_decode}, {"score", cmd_score},     {"compare", cmd_compare},
                {"export", cmd_export}};

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    char dir[] = "/tmp/wgfuzzcli.XXXXXX";
    if (!mkdtemp(dir) || chdir(dir)) abort();
    return 0; /* run with -close_fd_mask=3: the commands' output goes, libFuzzer's stays */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1 || size > 512 || memchr(data, '/', size)) return 0;
    /* the first byte picks the command; the rest, split at NUL, are its arguments */
    char buf[520];
    memcpy(buf, data + 1, size - 1);
    buf[size - 1] = '\0';
    char *argv[40];
    int argc = 0;
    argv[argc++] = (char *)commands[data[0] % (sizeof commands / sizeof commands[0])].name;
    for (char *p = buf; p < buf + size - 1 && argc < 39; p += strlen(p) + 1) argv[argc++] = p;
    argv[argc] = NULL;
    optind = 0; /* getopt starts afresh for every input */
    commands[data[0] % (sizeof commands / sizeof commands[0])].run(argc, argv);
    return 0;
}
