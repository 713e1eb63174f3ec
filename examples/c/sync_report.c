/*
 * sync_report.c - run one sync as a job, show its progress, print its report.
 *
 *   sync_report SRC DST OPTIONS_JSON
 *
 * Progress goes to stderr, one line per snapshot ("progress <percent> <stage>"); the canonical report JSON goes to
 * stdout on one line. Exit code: 0 when the run completed, 3 when it was partial (some files failed), 1 otherwise;
 * 2 for wrong arguments. The embedded store lives in $SYNCWRIGHT_STATE_DIR (the engine's default).
 *
 * Build against the installed library (scripts/install-c.sh; see examples/c/README.md), from the repository root:
 *   bash scripts/install-c.sh "$HOME/.local" && export PKG_CONFIG_PATH="$HOME/.local/lib/pkgconfig"
 *   cc -Wall -Wextra -o sync_report examples/c/sync_report.c $(pkg-config --cflags --libs syncwright)
 * and run it with LD_LIBRARY_PATH="$HOME/.local/lib" (or link with -Wl,-rpath,"$HOME/.local/lib").
 * Run:
 *   ./sync_report SOME/DIR /tmp/copy '{"transfers": 4}'
 */
#include <stdio.h>
#include <string.h>

#include "syncwright.h"

/* Called on a library thread with one progress snapshot as JSON, valid only during the call. `user` is what was
 * given to sw_sync_start: here the stream to print to. A real program would use a JSON parser; the two fields
 * are easy to pick out by hand. */
static void on_progress(const char *json, void *user) {
    const char *percent = strstr(json, "\"percent\":");
    const char *stage = strstr(json, "\"stage\":\"");
    if (percent == NULL || stage == NULL) {
        return;
    }
    percent += strlen("\"percent\":");
    stage += strlen("\"stage\":\"");
    fprintf((FILE *)user, "progress %.*s %.*s\n", (int)strspn(percent, "0123456789.-+eE"), percent,
            (int)strcspn(stage, "\""), stage);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s SRC DST OPTIONS_JSON\n", argv[0]);
        return 2;
    }
    sw_engine *engine = NULL;
    sw_job *job = NULL;
    char *report = NULL;
    int exit_code = 1;

    /* Each call returns NULL on success or an error the caller owns; the first error skips the rest. */
    sw_error *err = sw_engine_new(NULL /* default config */, &engine);
    if (err == NULL) {
        err = sw_sync_start(engine, argv[1], argv[2], argv[3], on_progress, stderr, NULL /* nothing to free */,
                            &job);
    }
    if (err == NULL) {
        err = sw_job_wait(job, -1 /* no time limit */, &report);
    }
    if (err != NULL) {
        fprintf(stderr, "error: %s: %s\n", sw_error_kind(err), sw_error_message(err));
        sw_error_free(err);
    } else {
        printf("%s\n", report);
        const char *status = sw_job_status(job); /* the report's "status", as a static string */
        exit_code = strcmp(status, "completed") == 0 ? 0 : strcmp(status, "partial") == 0 ? 3 : 1;
    }

    /* Free functions accept NULL, so this cleanup is right on every path. */
    sw_string_free(report);
    sw_job_free(job);
    sw_engine_free(engine); /* the last handle: stops and joins the engine's threads */
    return exit_code;
}
