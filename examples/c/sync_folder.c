/*
 * sync_folder.c - a first program against the installed C library: sync one folder into another, say how it went.
 *
 *   sync_folder SRC DST
 *
 * Prints "syncwright <version>", then the canonical report JSON on one line. On an error it prints
 * "error: code=<n> kind=<kind> message=<text>", then "path: <path>" and "details: <json>" when the error has them,
 * and exits with 10 + the error code. Otherwise the exit code is 0 when the run completed, 3 when it was partial
 * (some files failed), 1 when it failed or was cancelled; 2 for wrong arguments.
 * The embedded store lives in $SYNCWRIGHT_STATE_DIR (default: ~/.local/state/syncwright).
 *
 * Install the library, then build with pkg-config alone (from the repository root):
 *   bash scripts/install-c.sh "$HOME/.local"
 *   export PKG_CONFIG_PATH="$HOME/.local/lib/pkgconfig"
 *   cc -o sync_folder examples/c/sync_folder.c $(pkg-config --cflags --libs syncwright)
 *   LD_LIBRARY_PATH="$HOME/.local/lib" ./sync_folder photos /mnt/nas/photos
 * (Or link with -Wl,-rpath,"$HOME/.local/lib", or install into a prefix the loader searches, such as /usr/local,
 * and run ldconfig.)
 */
#include <stdio.h>
#include <string.h>

#include <syncwright.h>

/* Prints an error with everything it carries, frees it, and returns the exit code for it. */
static int report_error(sw_error *err) {
    sw_error_code_t code = sw_error_code(err);
    const char *path = sw_error_path(err);       /* borrowed from err: NULL when no path concerns it */
    const char *details = sw_error_details(err); /* borrowed from err: a JSON object, or NULL */
    printf("error: code=%d kind=%s message=%s\n", (int)code, sw_error_kind(err), sw_error_message(err));
    if (path != NULL) {
        printf("path: %s\n", path);
    }
    if (details != NULL) {
        printf("details: %s\n", details);
    }
    switch (code) {
    case SW_ERR_CONFLICT:
        /* Another run holds a lock: the details say which job, since when, on which host. */
        fprintf(stderr, "busy: try again once the other run has finished\n");
        break;
    case SW_ERR_NOT_FOUND:
    case SW_ERR_INVALID_INPUT:
        fprintf(stderr, "check the arguments\n");
        break;
    default:
        break;
    }
    sw_error_free(err); /* frees the message, path and details too */
    return 10 + (int)code;
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s SRC DST\n", argv[0]);
        return 2;
    }
    printf("syncwright %s\n", sw_version());

    sw_engine *engine = NULL;
    sw_job *job = NULL;
    char *report = NULL;
    int exit_code = 1;

    /* Blocks briefly: opens the embedded store. */
    sw_error *err = sw_engine_new(NULL /* default config */, &engine);
    if (err == NULL) {
        /* Returns once the job is queued; the sync runs on the engine's threads. */
        err = sw_sync_start(engine, argv[1], argv[2], NULL /* default options */, NULL /* no progress */, NULL,
                            NULL, &job);
    }
    if (err == NULL) {
        /* Blocks until the job has finished (-1: no time limit). */
        err = sw_job_wait(job, -1, &report);
    }
    if (err != NULL) {
        exit_code = report_error(err);
    } else {
        printf("%s\n", report);
        const char *status = sw_job_status(job); /* the report's "status", as a static string */
        exit_code = strcmp(status, "completed") == 0 ? 0 : strcmp(status, "partial") == 0 ? 3 : 1;
    }

    /* Free functions accept NULL, so this cleanup is right on every path. */
    sw_string_free(report);
    sw_job_free(job);
    sw_engine_free(engine); /* the last handle: blocks until the engine's threads are joined */
    return exit_code;
}
