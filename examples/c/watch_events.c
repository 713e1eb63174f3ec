/*
 * watch_events.c - follow a job through the engine's events; optionally cancel it once bytes are moving.
 *
 *   watch_events SRC DST OPTIONS_JSON [cancel]
 *
 * Prints every event of the job (canonical JSON, one per line) to stdout, then "status <status>" and the number of
 * progress callbacks. Shows a subscription, sw_job_cancel, and a heap-allocated `user` handed to the library with
 * its finaliser. Exit code: 0 completed, 3 partial, 4 cancelled, 1 otherwise (as the CLI); 2 for wrong arguments.
 *
 * Build against the installed library (scripts/install-c.sh; see examples/c/README.md), from the repository root:
 *   bash scripts/install-c.sh "$HOME/.local" && export PKG_CONFIG_PATH="$HOME/.local/lib/pkgconfig"
 *   cc -Wall -Wextra -o watch_events examples/c/watch_events.c $(pkg-config --cflags --libs syncwright)
 * and run it with LD_LIBRARY_PATH="$HOME/.local/lib" (or link with -Wl,-rpath,"$HOME/.local/lib").
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "syncwright.h"

/* State shared with the callback. The library calls on_progress and then free_counter on one of its threads,
 * never at the same time, so no lock is needed; main() does not touch it after sw_sync_start. */
typedef struct {
    unsigned long calls;
} counter;

static void on_progress(const char *json, void *user) {
    (void)json;
    ((counter *)user)->calls++;
}

/* The finaliser: called exactly once, after the last on_progress (or at once if sw_sync_start fails). */
static void free_counter(void *user) {
    fprintf(stderr, "progress callbacks: %lu\n", ((counter *)user)->calls);
    free(user);
}

static int fail(sw_error *err) {
    fprintf(stderr, "error: %s: %s\n", sw_error_kind(err), sw_error_message(err));
    sw_error_free(err);
    return 1;
}

int main(int argc, char **argv) {
    if (argc != 4 && !(argc == 5 && strcmp(argv[4], "cancel") == 0)) {
        fprintf(stderr, "usage: %s SRC DST OPTIONS_JSON [cancel]\n", argv[0]);
        return 2;
    }
    int cancel = argc == 5;
    sw_engine *engine = NULL;
    sw_subscription *sub = NULL;
    sw_job *job = NULL;
    sw_error *err = sw_engine_new(NULL, &engine);
    if (err != NULL) {
        return fail(err);
    }
    /* Subscribe before starting, so the job's first event (job_queued) is seen too: live events only (since -1),
     * all of them (no filter; the job's id is known only once it started). A client that reconnects would pass
     * the last "seq" it saw instead, and get what it missed first. */
    if ((err = sw_subscribe(engine, -1, NULL, &sub)) == NULL) {
        counter *c = calloc(1, sizeof *c);
        if (c == NULL) {
            sw_subscription_free(sub);
            sw_engine_free(engine);
            return 1;
        }
        /* From here the library owns `c`: free_counter frees it, even if the start fails. */
        err = sw_sync_start(engine, argv[1], argv[2], argv[3], on_progress, c, free_counter, &job);
    }
    int exit_code = 1;
    if (err == NULL) {
        const char *id = sw_job_id(job);
        int finished = 0, cancelled = 0;
        while (!finished) {
            char *event = NULL;
            if ((err = sw_subscription_next(sub, -1, &event)) != NULL) {
                break;
            }
            if (event == NULL || strstr(event, id) == NULL) { /* another job's event */
                sw_string_free(event);
                continue;
            }
            printf("%s\n", event);
            finished = strstr(event, "\"type\":\"job_finished\"") != NULL;
            const char *bytes = strstr(event, "\"bytes_done\":");
            if (cancel && !cancelled && bytes != NULL && strtoull(bytes + strlen("\"bytes_done\":"), NULL, 10) > 0) {
                err = sw_job_cancel(job);
                cancelled = 1;
            }
            sw_string_free(event);
            if (err != NULL) {
                break;
            }
        }
        /* job_finished comes just before the report is ready: wait for the report itself. */
        char *report = NULL;
        if (err == NULL && (err = sw_job_wait(job, -1, &report)) == NULL) {
            const char *status = sw_job_status(job);
            printf("status %s\n", status);
            exit_code = strcmp(status, "completed") == 0   ? 0
                        : strcmp(status, "partial") == 0   ? 3
                        : strcmp(status, "cancelled") == 0 ? 4
                                                           : 1;
        }
        sw_string_free(report);
    }
    if (err != NULL) {
        exit_code = fail(err);
    }
    sw_job_free(job);
    sw_subscription_free(sub);
    sw_engine_free(engine); /* free_counter already ran: before sw_job_wait returned the report */
    return exit_code;
}
