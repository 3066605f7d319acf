/* The least a reader of journal files can do: sd-journal's own floor for the agent benchmark.
 *
 *   sdjournal_min DIR [FIELD=VALUE | + ]...
 *
 * Opens the journal files in DIR, adds the matches given ("+" between two
 * groups is a disjunction, as in journalctl), and from the first entry on
 * calls sd_journal_next() and sd_journal_get_data("MESSAGE") for every entry
 * until the end; nothing else. Prints "entries messages bytes seconds" (the
 * time of the read loop only, CLOCK_MONOTONIC). Built by bench_journal_floor.py
 * with `cc -O2 sdjournal_min.c -lsystemd`.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <systemd/sd-journal.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
    sd_journal *j;
    int r;
    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR [FIELD=VALUE | +]...\n", argv[0]);
        return 2;
    }
    r = sd_journal_open_directory(&j, argv[1], 0);
    if (r < 0) {
        fprintf(stderr, "open %s: %s\n", argv[1], strerror(-r));
        return 1;
    }
    for (int i = 2; i < argc; i++) {
        r = strcmp(argv[i], "+") == 0 ? sd_journal_add_disjunction(j)
                                      : sd_journal_add_match(j, argv[i], 0);
        if (r < 0) {
            fprintf(stderr, "match %s: %s\n", argv[i], strerror(-r));
            return 1;
        }
    }
    double start = now();
    unsigned long long entries = 0, messages = 0, bytes = 0;
    r = sd_journal_seek_head(j);
    while (r >= 0 && (r = sd_journal_next(j)) > 0) {
        const void *data;
        size_t length;
        entries++;
        if (sd_journal_get_data(j, "MESSAGE", &data, &length) >= 0) {
            messages++;
            bytes += length;
        }
    }
    double seconds = now() - start;
    if (r < 0) {
        fprintf(stderr, "read: %s\n", strerror(-r));
        return 1;
    }
    printf("%llu %llu %llu %.6f\n", entries, messages, bytes, seconds);
    sd_journal_close(j);
    return 0;
}
