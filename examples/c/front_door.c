/*
 * front_door.c - the profile calls of the front door, the C program of the cross-language scenario.
 *
 *   front_door CONFIG_TOML
 *
 * The config file has two profiles: "quick" (a small tree) and "slow" (a bwlimit, so that it runs for a while).
 * Lists the profiles, runs "quick" and shows its status, log and history, starts "slow" and cancels it once it has
 * started, and shows the errors of a missing profile and of a bad page. Prints one JSON object per line to stdout:
 * {"step":...,"value":...} ({"step":...,"kind":...} for the errors). Exit code: 0, or 1 on an error; 2 for wrong
 * arguments.
 *
 * Build (from the repository root, after `cargo build -p syncwright-ffi`):
 *   gcc -Wall -Wextra -o front_door examples/c/front_door.c -Iinclude -Ltarget/debug -lsyncwright_ffi \
 *       -Wl,-rpath,"$PWD/target/debug"
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "syncwright.h"

/* {"config_file":"<path>"} (quotes and backslashes escaped), in a buffer to free(). */
static char *config_json(const char *path) {
    char *out = malloc(2 * strlen(path) + 32), *o = out;
    if (out == NULL) {
        return NULL;
    }
    o += sprintf(o, "{\"config_file\":\"");
    for (; *path != '\0'; path++) {
        if (*path == '"' || *path == '\\') {
            *o++ = '\\';
        }
        *o++ = *path;
    }
    strcpy(o, "\"}");
    return out;
}

/* Prints {"step":STEP,"value":*VALUE} and frees *VALUE (a JSON document from the library). */
static void emit(const char *step, char **value) {
    printf("{\"step\":\"%s\",\"value\":%s}\n", step, *value);
    sw_string_free(*value);
    *value = NULL;
}

/* Prints {"step":STEP,"kind":<the kind of ERR>} for a call expected to fail, and frees ERR and *VALUE. */
static void emit_kind(const char *step, sw_error *err, char **value) {
    printf("{\"step\":\"%s\",\"kind\":\"%s\"}\n", step, err != NULL ? sw_error_kind(err) : "ok");
    sw_error_free(err);
    sw_string_free(*value);
    *value = NULL;
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s CONFIG_TOML\n", argv[0]);
        return 2;
    }
    sw_engine *engine = NULL;
    sw_subscription *started = NULL;
    sw_job *quick = NULL, *slow = NULL;
    char *out = NULL; /* each call's result, printed and freed by emit() */
    int exit_code = 1;

    char *config = config_json(argv[1]);
    if (config == NULL) {
        return 1;
    }
    sw_error *err = sw_engine_new(config, &engine);
    free(config);

    /* Each call returns NULL on success or an error the caller owns; the first error skips the rest. */
    if (err == NULL && (err = sw_profiles(engine, &out)) == NULL) {
        emit("profiles", &out);
    }
    if (err == NULL && (err = sw_profile_status(engine, "quick", &out)) == NULL) {
        emit("status_before", &out);
    }
    if (err == NULL) {
        err = sw_profile_run(engine, "quick", NULL /* no progress callback */, NULL, NULL, &quick);
    }
    if (err == NULL && (err = sw_job_wait(quick, -1 /* no time limit */, &out)) == NULL) {
        emit("run", &out);
    }
    if (err == NULL && (err = sw_profile_status(engine, "quick", &out)) == NULL) {
        emit("status_after", &out);
    }
    if (err == NULL && (err = sw_profile_logs(engine, "quick", 2 /* lines */, NULL /* any level */, &out)) == NULL) {
        emit("logs", &out);
    }

    /* Subscribe before starting the job, so that its job_started event cannot be missed (since -1: live events). */
    if (err == NULL) {
        err = sw_subscribe(engine, -1, "{\"types\":[\"job_started\"]}", &started);
    }
    if (err == NULL) {
        err = sw_profile_run(engine, "slow", NULL, NULL, NULL, &slow);
    }
    int slow_started = 0;
    if (err == NULL) {
        /* A real program would parse the event; the job's id is easy to look for by hand. */
        char id[128];
        snprintf(id, sizeof id, "\"job_id\":\"%s\"", sw_job_id(slow));
        while (!slow_started && (err = sw_subscription_next(started, 30000 /* ms */, &out)) == NULL && out != NULL) {
            slow_started = strstr(out, id) != NULL;
            sw_string_free(out);
            out = NULL;
        }
        if (err == NULL && !slow_started) {
            fprintf(stderr, "error: the slow job did not start in 30 s\n");
        }
    }
    if (err == NULL) {
        err = sw_job_cancel(slow); /* a no-op for a job that has finished */
    }
    if (err == NULL && slow_started && (err = sw_job_wait(slow, -1, &out)) == NULL) {
        emit("cancelled", &out);

        emit_kind("not_found", sw_profile_status(engine, "nope", &out), &out);
        emit_kind("invalid", sw_run_history(engine, "quick", 1, 0 /* per_page */, &out), &out);
        if ((err = sw_run_history(engine, "quick", 1 /* page */, 10 /* per_page */, &out)) == NULL) {
            emit("history", &out);
            exit_code = 0;
        }
    }
    if (err != NULL) {
        fprintf(stderr, "error: %s: %s\n", sw_error_kind(err), sw_error_message(err));
        sw_error_free(err);
    }

    /* Free functions accept NULL, so this cleanup is right on every path. */
    sw_job_free(slow);
    sw_job_free(quick);
    sw_subscription_free(started);
    sw_engine_free(engine); /* the last handle: stops and joins the engine's threads */
    return exit_code;
}
