/*
 * profiles.c - run a profile of a config file, then print its status and the last lines of its log.
 *
 *   profiles CONFIG_TOML PROFILE
 *
 * The config file names the profiles (see examples/config/comfyui-pod.toml), for example:
 *
 *   [settings]
 *   coordination_dir = "/network/.syncwright/locks"   # profile locks, on the shared volume
 *   state_dir = "/workspace/.syncwright-state"        # the embedded store, on local disk
 *
 *   [profiles.user_data]
 *   source = "/workspace/ComfyUI/user"
 *   destination = "/network/users/alice/user_data"
 *   min_age = "10s"
 *
 * Progress goes to stderr ("progress <percent> <stage>"); stdout gets the run's summary, the profile's status line
 * and its last log messages. Exit code: 0 when the run completed, 3 when it was partial, 5 when the profile was
 * already running (here or on another host sharing the coordination folder), 1 otherwise; 2 for wrong arguments.
 *
 * Build (from the repository root, after `cargo build -p syncwright-ffi`):
 *   gcc -Wall -Wextra -o profiles examples/c/profiles.c -Iinclude -Ltarget/debug -lsyncwright_ffi \
 *       -Wl,-rpath,"$PWD/target/debug"
 * Run:
 *   ./profiles examples/config/comfyui-pod.toml user_data
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "syncwright.h"

/* Progress snapshots arrive on a library thread, as JSON valid only during the call; `user` is the stream. */
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

/* `s` as a JSON string (quotes and backslashes escaped), in a buffer to free(). */
static char *json_string(const char *s) {
    char *out = malloc(2 * strlen(s) + 3), *o = out;
    if (out == NULL) {
        return NULL;
    }
    *o++ = '"';
    for (; *s != '\0'; s++) {
        if (*s == '"' || *s == '\\') {
            *o++ = '\\';
        }
        *o++ = *s;
    }
    *o++ = '"';
    *o = '\0';
    return out;
}

/* Prints the "message" of every entry of a JSON array of log entries. A real program would use a JSON parser;
 * this one prints each message up to its closing quote, escapes as they are. */
static void print_messages(const char *entries) {
    const char *key = "\"message\":\"";
    for (const char *p = strstr(entries, key); p != NULL; p = strstr(p, key)) {
        p += strlen(key);
        const char *end = p;
        while (*end != '\0' && !(*end == '"' && end[-1] != '\\')) {
            end++;
        }
        printf("  log: %.*s\n", (int)(end - p), p);
        p = end;
    }
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s CONFIG_TOML PROFILE\n", argv[0]);
        return 2;
    }
    const char *profile = argv[2];
    sw_engine *engine = NULL;
    sw_job *job = NULL;
    char *report = NULL, *summary = NULL, *status = NULL, *logs = NULL;
    int exit_code = 1;

    /* The engine owns the profiles of the config file: {"config_file": "<path>"}. */
    char *path = json_string(argv[1]);
    char *config = path != NULL ? malloc(strlen(path) + 32) : NULL;
    if (config == NULL) {
        free(path);
        return 1;
    }
    sprintf(config, "{\"config_file\":%s}", path);
    free(path);
    sw_error *err = sw_engine_new(config, &engine);
    free(config);

    /* Each call returns NULL on success or an error the caller owns; the first error skips the rest. */
    if (err == NULL) {
        err = sw_profile_run(engine, profile, on_progress, stderr, NULL /* nothing to free */, &job);
        if (err != NULL && sw_error_code(err) == SW_ERR_CONFLICT) {
            /* One run of a profile at a time: the message names the running job and its start. */
            fprintf(stderr, "already running: %s\n", sw_error_message(err));
            exit_code = 5;
        }
    }
    if (err == NULL) {
        err = sw_job_wait(job, -1 /* no time limit */, &report);
    }
    if (err == NULL) {
        err = sw_report_text(report, &summary); /* "completed: 2 created, ...; 1.00 MB in 0.42 s" */
    }
    if (err == NULL) {
        printf("%s\n", summary);
        const char *s = sw_job_status(job);
        exit_code = strcmp(s, "completed") == 0 ? 0 : strcmp(s, "partial") == 0 ? 3 : 1;
        /* "<profile>: idle; last run completed at <time> (<n> ms)" */
        err = sw_profile_status_text(engine, profile, &status);
    }
    if (err == NULL) {
        printf("%s\n", status);
        err = sw_profile_logs(engine, profile, 5 /* last lines */, NULL /* every level */, &logs);
    }
    if (err == NULL) {
        print_messages(logs);
    }
    if (err != NULL) {
        fprintf(stderr, "error: %s: %s\n", sw_error_kind(err), sw_error_message(err));
        sw_error_free(err);
        if (exit_code != 5) {
            exit_code = 1;
        }
    }

    /* Free functions accept NULL, so this cleanup is right on every path. */
    sw_string_free(logs);
    sw_string_free(status);
    sw_string_free(summary);
    sw_string_free(report);
    sw_job_free(job);
    sw_engine_free(engine); /* the last handle: stops and joins the engine's threads */
    return exit_code;
}
