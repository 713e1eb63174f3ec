/*
 * front_door.c - every front-door call of the C ABI, driven by ffi/tests/front_door.rs (plainly and under valgrind).
 *
 *   front_door CONFIG_TOML STALE_LOCK_FILE USAGE_ROOT
 *
 * CONFIG_TOML has two profiles: "copy" (a sync between two folders, slowed by a bandwidth limit so that its first
 * run lasts seconds) and "broken" (its source does not exist). STALE_LOCK_FILE is a stale lock of "broken" in the
 * coordination folder. USAGE_ROOT is a folder for sw_storage_usage.
 *
 * Results go to stdout as "label<TAB>text" lines (newlines in the text escaped as \n) for the Rust test to check;
 * failed checks go to stderr as "FAIL ..." lines. Exit code: 0 when every check passed, 1 otherwise, 2 for wrong
 * arguments. Every string, error and handle is freed, so valgrind's leak check must find nothing.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "syncwright.h"

static int failures = 0;

#define CHECK(cond, ...)                                                                                   \
    do {                                                                                                   \
        if (!(cond)) {                                                                                     \
            fprintf(stderr, "FAIL line %d: ", __LINE__);                                                   \
            fprintf(stderr, __VA_ARGS__);                                                                  \
            fputc('\n', stderr);                                                                           \
            failures++;                                                                                    \
        }                                                                                                  \
    } while (0)

/* A pointer that is not NULL, to see that out-parameters are cleared first. */
static char garbage_byte;
#define GARBAGE ((void *)&garbage_byte)

/* Prints "label<TAB>text" with the newlines of text escaped. */
static void emit(const char *label, const char *text) {
    printf("%s\t", label);
    for (const char *p = text; p != NULL && *p != '\0'; p++) {
        if (*p == '\n') {
            fputs("\\n", stdout);
        } else {
            putchar(*p);
        }
    }
    putchar('\n');
    fflush(stdout);
}

/* Takes an error that should not be: reports it and frees it. Returns 1 when there was none. */
static int ok(sw_error *err, const char *what, int line) {
    if (err == NULL) {
        return 1;
    }
    fprintf(stderr, "FAIL line %d: %s: %s: %s\n", line, what, sw_error_kind(err), sw_error_message(err));
    failures++;
    sw_error_free(err);
    return 0;
}
#define OK(call) ok((call), #call, __LINE__)

/* Runs `call`, which stores a string in `out_`, and emits it under `label`. */
#define SHOW(label, call)                                                                                  \
    do {                                                                                                   \
        char *out_ = NULL;                                                                                 \
        if (OK(call)) {                                                                                    \
            CHECK(out_ != NULL, "%s gave no string", #call);                                               \
            emit((label), out_);                                                                           \
        }                                                                                                  \
        sw_string_free(out_);                                                                              \
    } while (0)

/* Runs `call` and checks that it fails with `code`; frees the error. */
#define EXPECT(code, call)                                                                                 \
    do {                                                                                                   \
        sw_error *e_ = (call);                                                                             \
        int c_ = (int)sw_error_code(e_);                                                                   \
        CHECK(c_ == (int)(code), "%s gave code %d (%s), not %d", #call, c_,                                \
              e_ != NULL ? sw_error_message(e_) : "no error", (int)(code));                                \
        sw_error_free(e_);                                                                                 \
    } while (0)

/* Progress state: the library calls on_progress, then free_progress once, on its threads. */
typedef struct {
    unsigned long calls;
    int *freed; /* set to 1 by free_progress */
} progress;

static void on_progress(const char *json, void *user) {
    (void)json;
    ((progress *)user)->calls++;
}

static void free_progress(void *user) {
    progress *p = user;
    fprintf(stderr, "progress callbacks: %lu\n", p->calls);
    *p->freed = 1;
    free(p);
}

static progress *new_progress(int *freed) {
    progress *p = calloc(1, sizeof *p);
    if (p == NULL) {
        abort();
    }
    p->freed = freed;
    return p;
}

static void mark_freed(void *user) { *(int *)user = 1; }

/* The report of a job, waited for without limit; NULL (and a failure) on error. Free it with sw_string_free. */
static char *wait_report(sw_job *job) {
    char *report = NULL;
    OK(sw_job_wait(job, -1, &report));
    return report;
}

/* Every call with NULL or invalid arguments gives invalid_input, and clears its out-parameter first. */
static void null_and_invalid_arguments(sw_engine *engine) {
    static const char bad_utf8[] = {'c', (char)0xff, 'p', 0};
    char *s = GARBAGE;
    sw_job *job = GARBAGE;

    EXPECT(SW_ERR_INVALID_INPUT, sw_engine_config(NULL, &s));
    CHECK(s == NULL, "sw_engine_config clears its out-parameter");
    EXPECT(SW_ERR_INVALID_INPUT, sw_engine_config(engine, NULL));
    EXPECT(SW_ERR_INVALID_INPUT, sw_profiles(NULL, &s));
    EXPECT(SW_ERR_INVALID_INPUT, sw_profiles(engine, NULL));
    s = GARBAGE;
    EXPECT(SW_ERR_INVALID_INPUT, sw_profile_status(engine, NULL, &s));
    CHECK(s == NULL, "sw_profile_status clears its out-parameter");
    EXPECT(SW_ERR_INVALID_INPUT, sw_profile_status(engine, bad_utf8, &s));
    EXPECT(SW_ERR_INVALID_INPUT, sw_profile_status(NULL, "copy", &s));
    EXPECT(SW_ERR_INVALID_INPUT, sw_profile_status(engine, "copy", NULL));
    EXPECT(SW_ERR_INVALID_INPUT, sw_profiles_status(NULL, &s));
    EXPECT(SW_ERR_INVALID_INPUT, sw_profiles_status(engine, NULL));
    EXPECT(SW_ERR_INVALID_INPUT, sw_profile_status_text(NULL, NULL, &s));
    EXPECT(SW_ERR_INVALID_INPUT, sw_profile_status_text(engine, NULL, NULL));
    EXPECT(SW_ERR_INVALID_INPUT, sw_profile_run(NULL, "copy", NULL, NULL, NULL, &job));
    CHECK(job == NULL, "sw_profile_run clears its out-parameter");
    EXPECT(SW_ERR_INVALID_INPUT, sw_profile_run(engine, NULL, NULL, NULL, NULL, &job));
    EXPECT(SW_ERR_INVALID_INPUT, sw_profile_run(engine, bad_utf8, NULL, NULL, NULL, &job));
    EXPECT(SW_ERR_INVALID_INPUT, sw_profile_run(engine, "copy", NULL, NULL, NULL, NULL));
    EXPECT(SW_ERR_INVALID_INPUT, sw_run_all(NULL, NULL, NULL, NULL, &job));
    EXPECT(SW_ERR_INVALID_INPUT, sw_run_all(engine, NULL, NULL, NULL, NULL));
    EXPECT(SW_ERR_INVALID_INPUT, sw_profile_unlock(NULL, "copy", 0, &s));
    EXPECT(SW_ERR_INVALID_INPUT, sw_profile_unlock(engine, NULL, 0, &s));
    EXPECT(SW_ERR_INVALID_INPUT, sw_profile_unlock(engine, "copy", 0, NULL));
    EXPECT(SW_ERR_INVALID_INPUT, sw_unlock_all(NULL, 0, &s));
    EXPECT(SW_ERR_INVALID_INPUT, sw_unlock_all(engine, 0, NULL));
    EXPECT(SW_ERR_INVALID_INPUT, sw_lock_self_test(NULL, "t", &s));
    EXPECT(SW_ERR_INVALID_INPUT, sw_lock_self_test(engine, NULL, &s));
    EXPECT(SW_ERR_INVALID_INPUT, sw_lock_self_test(engine, "t", NULL));
    EXPECT(SW_ERR_INVALID_INPUT, sw_lock_self_test(engine, "../escape", &s));
    job = GARBAGE;
    EXPECT(SW_ERR_INVALID_INPUT, sw_job_get(NULL, "id", &job));
    CHECK(job == NULL, "sw_job_get clears its out-parameter");
    EXPECT(SW_ERR_INVALID_INPUT, sw_job_get(engine, NULL, &job));
    EXPECT(SW_ERR_INVALID_INPUT, sw_job_get(engine, "id", NULL));
    EXPECT(SW_ERR_INVALID_INPUT, sw_jobs_active(NULL, &s));
    EXPECT(SW_ERR_INVALID_INPUT, sw_jobs_active(engine, NULL));
    EXPECT(SW_ERR_INVALID_INPUT, sw_jobs_recent(NULL, 5, &s));
    EXPECT(SW_ERR_INVALID_INPUT, sw_jobs_recent(engine, 5, NULL));
    EXPECT(SW_ERR_INVALID_INPUT, sw_job_snapshot(NULL, 1, &s));
    EXPECT(SW_ERR_INVALID_INPUT, sw_run_history(NULL, "copy", 1, 10, &s));
    EXPECT(SW_ERR_INVALID_INPUT, sw_run_history(engine, NULL, 1, 10, &s));
    EXPECT(SW_ERR_INVALID_INPUT, sw_run_history(engine, "copy", 0, 10, &s));
    EXPECT(SW_ERR_INVALID_INPUT, sw_run_history(engine, "copy", 1, 0, &s));
    EXPECT(SW_ERR_INVALID_INPUT, sw_run_history(engine, "copy", 1, 1001, &s));
    EXPECT(SW_ERR_INVALID_INPUT, sw_run_history(engine, "copy", 1, 10, NULL));
    EXPECT(SW_ERR_INVALID_INPUT, sw_profile_logs(NULL, "copy", 5, NULL, &s));
    EXPECT(SW_ERR_INVALID_INPUT, sw_profile_logs(engine, NULL, 5, NULL, &s));
    EXPECT(SW_ERR_INVALID_INPUT, sw_profile_logs(engine, "copy", 5, "loud", &s));
    EXPECT(SW_ERR_INVALID_INPUT, sw_profile_logs(engine, "copy", 5, bad_utf8, &s));
    EXPECT(SW_ERR_INVALID_INPUT, sw_profile_logs(engine, "copy", 5, NULL, NULL));
    EXPECT(SW_ERR_INVALID_INPUT, sw_profile_logs_page(NULL, "copy", 1, 5, NULL, &s));
    EXPECT(SW_ERR_INVALID_INPUT, sw_profile_logs_page(engine, "copy", 0, 5, NULL, &s));
    EXPECT(SW_ERR_INVALID_INPUT, sw_profile_logs_page(engine, "copy", 1, 5, "verbose", &s));
    EXPECT(SW_ERR_INVALID_INPUT, sw_profile_logs_page(engine, "copy", 1, 5, NULL, NULL));
    EXPECT(SW_ERR_INVALID_INPUT, sw_storage_usage(NULL, NULL, &s));
    EXPECT(SW_ERR_INVALID_INPUT, sw_storage_usage(engine, "{\"nope\":1}", &s));
    EXPECT(SW_ERR_INVALID_INPUT, sw_storage_usage(engine, "not json", &s));
    EXPECT(SW_ERR_INVALID_INPUT, sw_storage_usage(engine, NULL, NULL));
    EXPECT(SW_ERR_INVALID_INPUT, sw_operations(NULL, 0, 10, &s));
    EXPECT(SW_ERR_INVALID_INPUT, sw_operations(engine, 0, 10, NULL));
    EXPECT(SW_ERR_INVALID_INPUT, sw_operation(NULL, "id", &s));
    EXPECT(SW_ERR_INVALID_INPUT, sw_operation(engine, NULL, &s));
    EXPECT(SW_ERR_INVALID_INPUT, sw_operation(engine, "id", NULL));
    EXPECT(SW_ERR_INVALID_INPUT, sw_operation_retry(NULL, "id", 0, 0, &job));
    EXPECT(SW_ERR_INVALID_INPUT, sw_operation_retry(engine, NULL, 0, 0, &job));
    EXPECT(SW_ERR_INVALID_INPUT, sw_operation_retry(engine, "id", 0, 0, NULL));
    EXPECT(SW_ERR_INVALID_INPUT, sw_operation_cancel(NULL, "id", &s));
    EXPECT(SW_ERR_INVALID_INPUT, sw_operation_cancel(engine, NULL, &s));
    EXPECT(SW_ERR_INVALID_INPUT, sw_operation_cancel(engine, "id", NULL));
    EXPECT(SW_ERR_INVALID_INPUT, sw_operations_interrupted(NULL, &s));
    EXPECT(SW_ERR_INVALID_INPUT, sw_operations_interrupted(engine, NULL));
    EXPECT(SW_ERR_INVALID_INPUT, sw_breakers(NULL, &s));
    EXPECT(SW_ERR_INVALID_INPUT, sw_breakers(engine, NULL));
    EXPECT(SW_ERR_INVALID_INPUT, sw_recovery_metrics(NULL, &s));
    EXPECT(SW_ERR_INVALID_INPUT, sw_recovery_metrics(engine, NULL));
    EXPECT(SW_ERR_INVALID_INPUT, sw_recovery_self_test(NULL, NULL, 1, &s));
    EXPECT(SW_ERR_INVALID_INPUT, sw_recovery_self_test(engine, "{\"a\":1}", 1, &s));
    EXPECT(SW_ERR_INVALID_INPUT, sw_recovery_self_test(engine, "[1, 2]", 1, &s));
    EXPECT(SW_ERR_INVALID_INPUT, sw_recovery_self_test(engine, NULL, 1, NULL));
    EXPECT(SW_ERR_INVALID_INPUT, sw_recovery_scenarios(NULL, &s));
    EXPECT(SW_ERR_INVALID_INPUT, sw_recovery_scenarios(engine, NULL));
    s = GARBAGE;
    EXPECT(SW_ERR_INVALID_INPUT, sw_report_text(NULL, &s));
    CHECK(s == NULL, "sw_report_text clears its out-parameter");
    EXPECT(SW_ERR_INVALID_INPUT, sw_report_text("{\"status\":\"completed\"}", &s));
    EXPECT(SW_ERR_INVALID_INPUT, sw_report_text("not json", &s));
    EXPECT(SW_ERR_INVALID_INPUT, sw_report_text(bad_utf8, &s));
    EXPECT(SW_ERR_INVALID_INPUT, sw_report_text("{}", NULL));
    CHECK(s == NULL, "no string after errors");

    /* Names and ids that do not exist. */
    EXPECT(SW_ERR_NOT_FOUND, sw_profile_status(engine, "nope", &s));
    EXPECT(SW_ERR_NOT_FOUND, sw_profile_status_text(engine, "nope", &s));
    EXPECT(SW_ERR_NOT_FOUND, sw_profile_run(engine, "nope", NULL, NULL, NULL, &job));
    EXPECT(SW_ERR_NOT_FOUND, sw_profile_unlock(engine, "nope", 1, &s));
    EXPECT(SW_ERR_NOT_FOUND, sw_job_get(engine, "no-such-job", &job));
    CHECK(job == NULL, "no job handle for an unknown id");
    EXPECT(SW_ERR_NOT_FOUND, sw_run_history(engine, "nope", 1, 10, &s));
    EXPECT(SW_ERR_NOT_FOUND, sw_profile_logs(engine, "nope", 5, NULL, &s));
    EXPECT(SW_ERR_NOT_FOUND, sw_profile_logs_page(engine, "nope", 1, 5, NULL, &s));
    EXPECT(SW_ERR_NOT_FOUND, sw_operation(engine, "no-such-operation", &s));
    EXPECT(SW_ERR_NOT_FOUND, sw_operation_retry(engine, "no-such-operation", 1, 0, &job));
    EXPECT(SW_ERR_NOT_FOUND, sw_operation_cancel(engine, "no-such-operation", &s));
    EXPECT(SW_ERR_NOT_FOUND, sw_recovery_self_test(engine, "[\"no_such_scenario\"]", 1, &s));
    CHECK(s == NULL && job == NULL, "no results after errors");

    /* The outcome words; NULL for anything else. */
    CHECK(sw_status_outcome("completed") != NULL && strcmp(sw_status_outcome("completed"), "success") == 0,
          "completed -> success");
    CHECK(sw_status_outcome("failed") != NULL && strcmp(sw_status_outcome("failed"), "error") == 0,
          "failed -> error");
    CHECK(sw_status_outcome("partial") != NULL && strcmp(sw_status_outcome("partial"), "error") == 0,
          "partial -> error");
    CHECK(sw_status_outcome("running") != NULL && strcmp(sw_status_outcome("running"), "running") == 0,
          "running -> running");
    CHECK(sw_status_outcome("completed") == sw_status_outcome("completed"), "a static string");
    CHECK(sw_status_outcome("bogus") == NULL, "bogus -> NULL");
    CHECK(sw_status_outcome(bad_utf8) == NULL, "invalid UTF-8 -> NULL");
    CHECK(sw_status_outcome(NULL) == NULL, "NULL -> NULL");
}

/* Engines opened from a config value, a missing file, or both at once. */
static void other_configs(void) {
    sw_engine *e = GARBAGE;
    EXPECT(SW_ERR_NOT_FOUND, sw_engine_new("{\"config_file\":\"/nonexistent/syncwright.toml\"}", &e));
    CHECK(e == NULL, "no engine after an error");
    EXPECT(SW_ERR_INVALID_INPUT, sw_engine_new("{\"config_file\":\"x.toml\",\"config\":{}}", &e));
    EXPECT(SW_ERR_INVALID_INPUT, sw_engine_new("{\"config\":{\"profiles\":{\"p\":{\"source\":\"/a\"}}}}", &e));
    if (OK(sw_engine_new("{\"no_store\":true,\"config\":{\"profiles\":{\"valued\":{\"source\":\"/a\","
                         "\"destination\":\"/b\",\"min_age\":\"10s\"}}}}",
                         &e))) {
        SHOW("valued_profiles", sw_profiles(e, &out_));
        char *s = NULL;
        EXPECT(SW_ERR_FEATURE_DISABLED, sw_run_history(e, "valued", 1, 10, &s));
        EXPECT(SW_ERR_FEATURE_DISABLED, sw_operations(e, 0, 10, &s));
        EXPECT(SW_ERR_FEATURE_DISABLED, sw_operations_interrupted(e, &s));
        SHOW("valued_metrics", sw_recovery_metrics(e, &out_));
        sw_engine_free(e);
    }
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s CONFIG_TOML STALE_LOCK_FILE USAGE_ROOT\n", argv[0]);
        return 2;
    }
    const char *config = argv[1], *stale_lock = argv[2], *usage_root = argv[3];
    char buf[4096];
    int freed_first = 0, freed_refused = 0, freed_all = 0;

    snprintf(buf, sizeof buf, "{\"config_file\":\"%s\"}", config);
    sw_engine *engine = NULL;
    if (!OK(sw_engine_new(buf, &engine))) {
        return 1;
    }
    SHOW("config", sw_engine_config(engine, &out_));
    SHOW("profiles", sw_profiles(engine, &out_));

    /* A stale lock of "broken": removed at once. */
    CHECK(access(stale_lock, F_OK) == 0, "the stale lock is there to begin with");
    SHOW("unlock", sw_profile_unlock(engine, "broken", 0, &out_));
    CHECK(access(stale_lock, F_OK) != 0, "the stale lock is gone after sw_profile_unlock");
    SHOW("lock_self_test", sw_lock_self_test(engine, "c-self-test", &out_));

    /* A run of "copy", and a second start while it runs: a conflict naming the running job. */
    sw_job *first = NULL;
    if (OK(sw_profile_run(engine, "copy", on_progress, new_progress(&freed_first), free_progress, &first))) {
        const char *id = sw_job_id(first);
        emit("first_id", id);
        sw_job *second = GARBAGE;
        sw_error *err = sw_profile_run(engine, "copy", on_progress, &freed_refused, mark_freed, &second);
        CHECK((int)sw_error_code(err) == SW_ERR_CONFLICT, "a second run of copy is a conflict, not code %d",
              (int)sw_error_code(err));
        CHECK(second == NULL, "no job for the refused run");
        CHECK(freed_refused == 1, "free_user ran before the refused start returned");
        if (err != NULL) {
            CHECK(strstr(sw_error_message(err), id) != NULL, "the conflict names the running job: %s",
                  sw_error_message(err));
            emit("conflict", sw_error_message(err));
            const char *details = sw_error_details(err); /* {"lock","job_id","started_at",...} */
            CHECK(details != NULL && strstr(details, id) != NULL, "the details name the running job");
            emit("conflict_details", details);
            sw_error_free(err);
        }
        SHOW("status_running", sw_profile_status(engine, "copy", &out_));
        SHOW("active", sw_jobs_active(engine, &out_));
        sw_job *again = NULL;
        if (OK(sw_job_get(engine, id, &again))) {
            CHECK(strcmp(sw_job_id(again), id) == 0, "sw_job_get gives the job asked for");
            SHOW("snapshot_running", sw_job_snapshot(again, 1, &out_));
            sw_job_free(again); /* another handle: the job goes on */
        }
        char *report = wait_report(first);
        if (report != NULL) {
            emit("report", report);
            SHOW("report_text", sw_report_text(report, &out_));
        }
        sw_string_free(report);
        CHECK(freed_first == 1, "free_user ran before sw_job_wait returned the report");
        SHOW("snapshot", sw_job_snapshot(first, 1, &out_));
        SHOW("snapshot_no_report", sw_job_snapshot(first, 0, &out_));
    }

    SHOW("status", sw_profile_status(engine, "copy", &out_));
    SHOW("statuses", sw_profiles_status(engine, &out_));
    SHOW("status_text", sw_profile_status_text(engine, "copy", &out_));
    SHOW("status_text_all", sw_profile_status_text(engine, NULL, &out_));

    /* Every profile as one job. */
    sw_job *all = NULL;
    if (OK(sw_run_all(engine, on_progress, new_progress(&freed_all), free_progress, &all))) {
        char *report = wait_report(all);
        if (report != NULL) {
            emit("run_all", report);
            SHOW("run_all_text", sw_report_text(report, &out_));
        }
        sw_string_free(report);
    }
    sw_job_free(all);

    SHOW("history", sw_run_history(engine, "copy", 1, 10, &out_));
    SHOW("history_broken", sw_run_history(engine, "broken", 1, 10, &out_));
    SHOW("logs", sw_profile_logs(engine, "copy", 20, NULL, &out_));
    SHOW("logs_error", sw_profile_logs(engine, "broken", 20, "error", &out_));
    SHOW("logs_page", sw_profile_logs_page(engine, "copy", 1, 2, "info", &out_));
    snprintf(buf, sizeof buf, "{\"root\":\"%s\"}", usage_root);
    SHOW("usage", sw_storage_usage(engine, buf, &out_));
    SHOW("usage_profiles", sw_storage_usage(engine, NULL, &out_));
    SHOW("recent", sw_jobs_recent(engine, 10, &out_));
    SHOW("active_after", sw_jobs_active(engine, &out_));

    /* Recovery: the first run's operation, which succeeded. */
    SHOW("operations", sw_operations(engine, 0, 10, &out_));
    SHOW("operations_active", sw_operations(engine, 1, 10, &out_));
    SHOW("operations_interrupted", sw_operations_interrupted(engine, &out_));
    if (first != NULL) {
        const char *id = sw_job_id(first);
        SHOW("operation", sw_operation(engine, id, &out_));
        char *s = NULL;
        EXPECT(SW_ERR_CONFLICT, sw_operation_cancel(engine, id, &s)); /* it has ended */
        sw_job *retry = GARBAGE;
        EXPECT(SW_ERR_CONFLICT, sw_operation_retry(engine, id, 0, 0, &retry)); /* it succeeded */
        CHECK(retry == NULL, "no job for a refused retry");
        if (OK(sw_operation_retry(engine, id, 1, 2, &retry))) {
            CHECK(strcmp(sw_job_id(retry), id) == 0, "the retry's job has the operation's id");
            char *report = wait_report(retry);
            if (report != NULL) {
                emit("retry_report", report);
            }
            sw_string_free(report);
            SHOW("operation_retried", sw_operation(engine, id, &out_));
        }
        sw_job_free(retry);
    }
    SHOW("metrics", sw_recovery_metrics(engine, &out_));
    SHOW("breakers", sw_breakers(engine, &out_));
    SHOW("scenarios", sw_recovery_scenarios(engine, &out_));
    SHOW("self_test", sw_recovery_self_test(engine, "[\"corruption\"]", 1, &out_));

    /* Locks once nothing runs: nothing to remove. */
    SHOW("unlock_all", sw_unlock_all(engine, 0, &out_));

    null_and_invalid_arguments(engine);
    other_configs();

    sw_job_free(first);
    sw_engine_free(engine); /* the last handle: joins the engine's threads */
    CHECK(freed_all == 1, "the run-all's free_user ran by the time the engine was freed");
    if (failures > 0) {
        fprintf(stderr, "%d checks failed\n", failures);
        return 1;
    }
    printf("done\t%d\n", failures);
    return 0;
}
