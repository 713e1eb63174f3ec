/*
 * syncwright.h - the C ABI of syncwright (libsyncwright_ffi.so / libsyncwright_ffi.a).
 *
 * Rules that hold for every function in this header:
 *
 *  - Names. Every symbol starts with `sw_`. Handles are opaque structs used only through pointers.
 *
 *  - Errors. A fallible function returns `sw_error *`: NULL means success; otherwise the caller owns the
 *    error and frees it with sw_error_free(). Read it with sw_error_code() (a `sw_error_code_t`: one of the
 *    SW_ERR_* values, 1..13, stable; SW_OK, 0, is never an error), sw_error_kind() (its stable snake_case
 *    name, such as "not_found"), sw_error_message() (text for a person), sw_error_path() (the path
 *    concerned, if any) and sw_error_details() (structured facts as a JSON object, if any: for a
 *    "conflict", who holds the lock and since when). Results are returned through out-parameters, which
 *    are set to NULL/0 first and filled only on success.
 *
 *  - Ownership. A `char *` returned through an out-parameter belongs to the caller: free it with
 *    sw_string_free(), never with free(). A `const char *` returned by a function is borrowed: static
 *    strings (sw_version(), sw_error_kind()) live for the whole process; sw_error_message(),
 *    sw_error_path() and sw_error_details() live as long as their error; sw_job_id() lives as long as
 *    its job handle. Every handle type (sw_engine, sw_job, sw_subscription, sw_error) has a sw_*_free()
 *    function, and every free function accepts NULL.
 *    The library never keeps a pointer you pass in beyond the call, except a callback's `user` (below).
 *
 *  - Handles and lifetimes. An engine (sw_engine_new) owns worker threads, the embedded store and the
 *    event bus. Each sw_job and sw_subscription keeps its engine alive, so it may outlive the sw_engine
 *    handle: free handles in any order. sw_job_free() does NOT cancel the job (sw_job_cancel() does); a
 *    job whose handle is freed keeps running inside the engine. When the last handle of an engine is
 *    freed, the engine cancels and waits for such jobs, stops its threads and joins them: after that
 *    free returns, no thread of the engine runs and no callback of it is called (freed from inside a
 *    callback, this shutdown runs on a helper thread instead). Never free a handle while another
 *    thread still uses it.
 *
 *  - NULL. An input pointer that is required and is NULL gives an error of kind "invalid_input"
 *    (or a NULL/0 result from functions that cannot report errors); it never crashes. Optional
 *    arguments are documented as such and take NULL for "default".
 *
 *  - Strings are UTF-8 and NUL-terminated, in and out. An input that is not valid UTF-8 gives an error
 *    of kind "invalid_input". Structured values (options, manifests, reports) cross as canonical JSON
 *    strings: the same snake_case schema as the Rust, Python and Node APIs.
 *
 *  - Panics. Every function runs under a panic guard: an internal failure becomes an error of kind
 *    "internal" (or a NULL/0 result), never an abort across the boundary.
 *
 *  - Threads. Functions may be called from any thread. Handles may be shared between threads unless
 *    their documentation says otherwise.
 *
 *  - Blocking. Every function's documentation has a "Blocking:" paragraph saying whether it waits, and
 *    on what. A blocking call blocks only the calling thread (never the engine's jobs or other callers);
 *    call it off a UI or event-loop thread. The calls that wait:
 *      - for a job or an event, at most `int64_t timeout_ms` (negative: without limit; 0: only looks):
 *        sw_job_wait() (until the job has finished) and sw_subscription_next() (until an event comes);
 *      - for work they do on the caller's behalf: sw_plan() (scans the source and the destination, which
 *        may be remote) and sw_manifest_build() (scans and hashes a local tree);
 *      - for local disk only: sw_engine_new() (opens the embedded store, waiting up to 10 s for another
 *        process that holds it) and sw_sync_start() (records the run in the store; never the network:
 *        the job does its I/O on the engine's threads), and sw_subscribe() with a `since` (reads the
 *        kept events);
 *      - for the engine's shutdown: the free that releases an engine's last handle (sw_engine_free(),
 *        sw_job_free() or sw_subscription_free(), see "Handles and lifetimes") cancels the jobs left
 *        running, waits for them (a transfer stops within one chunk) and joins the engine's threads.
 *    Every other function returns at once.
 *
 *  - Callbacks. A callback (sw_progress_fn) is called on a library thread, never the thread that
 *    registered it, and gets the `void *user` given with it; its string arguments are valid only during
 *    the call. Make it thread-safe and quick, never unwind (C++ exceptions) or longjmp out of it, and
 *    never wait in it for its own job. Calls for one job never overlap.
 *    The optional finaliser (sw_free_user_fn) is called exactly once with `user`, when the library
 *    no longer needs it: after the last call of the callback, or before the registering function
 *    returns if it fails. It may run on a library thread. sw_sync_start() says exactly when.
 */


#ifndef SYNCWRIGHT_H
#define SYNCWRIGHT_H

/* Generated by cbindgen from ffi/src (ffi/build.rs). Do not edit: change the Rust source and rebuild. */

#include <stdint.h>
#include <stddef.h>

/**
 * The stable numeric code of an error, as `sw_error_code` returns it: one value per error kind, in the order of
 * the kinds (their numbers never change; a new kind gets the next number). `SW_OK` (0) is never an error.
 */
typedef enum sw_error_code_t {
  /**
   * Not an error: the value `sw_error_code` returns for NULL.
   */
  SW_OK = 0,
  /**
   * A path, job, profile or object does not exist.
   */
  SW_ERR_NOT_FOUND = 1,
  /**
   * Bad arguments (including NULL pointers and invalid UTF-8), a bad path or name, a malformed document.
   */
  SW_ERR_INVALID_INPUT = 2,
  /**
   * Already running, a lock held, a destination edited since the last run.
   */
  SW_ERR_CONFLICT = 3,
  /**
   * The operating system or the service refused access.
   */
  SW_ERR_PERMISSION = 4,
  /**
   * A connection failed or broke.
   */
  SW_ERR_NETWORK = 5,
  /**
   * Something took longer than allowed.
   */
  SW_ERR_TIMEOUT = 6,
  /**
   * Out of disk, memory or quota.
   */
  SW_ERR_RESOURCE = 7,
  /**
   * Credentials missing, wrong or expired.
   */
  SW_ERR_AUTH = 8,
  /**
   * Data did not match its checksum or could not be parsed.
   */
  SW_ERR_CORRUPT = 9,
  /**
   * The work was cancelled.
   */
  SW_ERR_CANCELLED = 10,
  /**
   * A service or backend is not available now.
   */
  SW_ERR_UNAVAILABLE = 11,
  /**
   * The feature is switched off by configuration.
   */
  SW_ERR_FEATURE_DISABLED = 12,
  /**
   * A bug or an unexpected state (including a panic inside the library).
   */
  SW_ERR_INTERNAL = 13,
} sw_error_code_t;

/**
 * An engine: the async runtime, the embedded store (hash cache) and the event bus that jobs and subscriptions
 * use. Opaque; create it with `sw_engine_new`, free it with `sw_engine_free`. Thread-safe.
 */
typedef struct sw_engine sw_engine;

/**
 * An error returned by a fallible function. Opaque: read it with `sw_error_code`, `sw_error_kind`,
 * `sw_error_message`, `sw_error_path` and `sw_error_details`; free it with `sw_error_free`.
 */
typedef struct sw_error sw_error;

/**
 * A sync running (or finished) in the background. Opaque; from `sw_sync_start`, freed with `sw_job_free`.
 * Thread-safe: any thread may query, cancel or wait on it, several at once.
 */
typedef struct sw_job sw_job;

/**
 * A queue of the engine's events. Opaque; from `sw_subscribe`, freed with `sw_subscription_free`.
 * Thread-safe: `sw_subscription_close` may be called from another thread to wake a waiting
 * `sw_subscription_next`.
 */
typedef struct sw_subscription sw_subscription;

/**
 * A progress callback: `progress_json` is one progress snapshot as canonical JSON
 * (`{"stage":"transferring","current_file":...,"files_done":..,"files_total":..,"bytes_done":..,
 * "bytes_total":..,"scanned":..,"rate_bps":..,"eta_secs":..,"percent":..,"elapsed_ms":..}`), borrowed: valid
 * only during the call (copy it to keep it). `user` is the pointer given to `sw_sync_start`.
 *
 * Called on a library thread, never the thread that started the job; calls for one job never overlap and come
 * at most once per `progress_interval_ms` (option, default 200), plus a final call with stage "done" just
 * before the job finishes. Keep it quick: the job's progress waits for it. It must not unwind or longjmp out,
 * and must not wait for its own job (`sw_job_wait` on it would never return).
 */
typedef void (*sw_progress_fn)(const char *progress_json, void *user);

/**
 * A finaliser for a callback's `user` pointer: called exactly once with that pointer when the library no longer
 * needs it (see `sw_sync_start` for when). Possibly on a library thread.
 */
typedef void (*sw_free_user_fn)(void *user);

#ifdef __cplusplus
extern "C" {
#endif // __cplusplus

/**
 * The version of the syncwright library, such as "0.1.0". A static string: do not free it.
 * NULL only if the library failed internally.
 *
 * Blocking: no.
 */
const char *sw_version(void);

/**
 * The stable numeric code of `err`: one of the `SW_ERR_*` values of `sw_error_code_t` (1..13); `SW_OK` (0)
 * when `err` is NULL.
 *
 * Blocking: no.
 *
 * # Safety
 * `err` is NULL or an error returned by this library and not yet freed.
 */
enum sw_error_code_t sw_error_code(const struct sw_error *err);

/**
 * The stable snake_case name of the kind of `err` ("not_found", "invalid_input", ...). A static string: do
 * not free it. NULL when `err` is NULL.
 *
 * Blocking: no.
 *
 * # Safety
 * `err` is NULL or an error returned by this library and not yet freed.
 */
const char *sw_error_kind(const struct sw_error *err);

/**
 * The message of `err`, for a person. Borrowed: valid until `sw_error_free(err)`. NULL when `err` is NULL.
 *
 * Blocking: no.
 *
 * # Safety
 * `err` is NULL or an error returned by this library and not yet freed.
 */
const char *sw_error_message(const struct sw_error *err);

/**
 * The path the error concerns, when there is one. Borrowed: valid until `sw_error_free(err)`. NULL when
 * `err` is NULL or the error concerns no path.
 *
 * Blocking: no.
 *
 * # Safety
 * `err` is NULL or an error returned by this library and not yet freed.
 */
const char *sw_error_path(const struct sw_error *err);

/**
 * The structured details of `err` as a JSON object, when it has any: the facts a program acts on, such as who
 * holds a lock for a `conflict` (`{"lock","location","job_id","started_at","profile","destination","pid",
 * "host","instance_id"}`) or how long to wait for a rate limit (`{"retry_after_secs": 30}`); the same object
 * as the `details` of the Rust `Error`, of a report's errors and of the Python and Node errors. Borrowed:
 * valid until `sw_error_free(err)`. NULL when `err` is NULL or the error has no details.
 *
 * Blocking: no.
 *
 * # Safety
 * `err` is NULL or an error returned by this library and not yet freed.
 */
const char *sw_error_details(const struct sw_error *err);

/**
 * Frees an error. NULL is accepted and ignored.
 *
 * Blocking: no.
 *
 * # Safety
 * `err` is NULL or an error returned by this library, freed only once.
 */
void sw_error_free(struct sw_error *err);

/**
 * Frees a string returned by this library through an out-parameter. NULL is accepted and ignored.
 * Do not pass strings from `sw_version`, `sw_error_kind`, `sw_error_message`, `sw_error_path` or
 * `sw_error_details`.
 *
 * Blocking: no.
 *
 * # Safety
 * `s` is NULL or a string returned by this library through an out-parameter, freed only once.
 */
void sw_string_free(char *s);

/**
 * Scans the local folder `root` and returns, in `*out_json` (free it with `sw_string_free`), the JSON object
 * `{"manifest": <canonical manifest>, "warnings": [...], "errors": [...]}`: files that could not be read are
 * listed in "errors" rather than silently left out.
 *
 * `options_json` is optional (NULL for the defaults): a JSON object with any of `name`, `include`, `exclude`,
 * `links` ("preserve", "follow" or "skip"), `hash` (default true), `threads` and `state_dir` (whose hash cache
 * is reused), as in the Rust, Python and Node APIs. `*out_json` is set to NULL first and filled only on success.
 * Errors: `invalid_input` for a NULL `root` or `out_json`, text that is not UTF-8, or bad options;
 * `not_found` when `root` does not exist; `permission`, `internal` and others from the scan.
 *
 * Blocking: yes, until the scan is done: it walks the whole tree and hashes every file the hash cache does not
 * know (on the calling thread and a pool of scan threads), then waits until those threads have exited.
 *
 * # Safety
 * `root` and `options_json` are NULL or NUL-terminated strings; `out_json` is NULL or writable.
 */
struct sw_error *sw_manifest_build(const char *root,
                                   const char *options_json,
                                   char **out_json);

/**
 * Creates an engine and stores it in `*out_engine` (free it with `sw_engine_free`).
 *
 * `config_json` is optional (NULL or "" for the defaults): a JSON object with any of `state_dir` (where the
 * embedded store, with the hash cache, lives; default: `$SYNCWRIGHT_STATE_DIR`, else
 * `$XDG_STATE_HOME/syncwright`, else `~/.local/state/syncwright`), `no_store` (true: no store, no hash cache) and
 * `worker_threads` (0: one per core). The engine starts its worker threads here.
 * Errors: `invalid_input` for a NULL `out_engine`, text that is not UTF-8 or a bad config (unknown fields
 * included); `permission`, `resource`, `corrupt` and others when the store cannot be opened.
 *
 * Blocking: yes, on local disk only: it opens (creating, and if damaged replacing) the embedded store, waiting up
 * to 10 s while another process sets the same store up, and starts the worker threads.
 *
 * # Safety
 * `config_json` is NULL or a NUL-terminated string; `out_engine` is NULL or writable.
 */
struct sw_error *sw_engine_new(const char *config_json,
                               struct sw_engine **out_engine);

/**
 * Frees an engine handle. NULL is accepted and ignored.
 *
 * Jobs and subscriptions of the engine stay valid: each keeps the engine alive, and its jobs keep running. When
 * the last of them (and this handle) is freed, the engine shuts down: jobs still running whose `sw_job` was
 * already freed are cancelled and waited for, then the engine's threads are stopped and joined, so the last free
 * returns only when no thread of the engine runs and no callback of it can come. (Freed from inside a callback,
 * the shutdown happens on a helper thread instead, since the calling thread is one of the engine's own.)
 *
 * Blocking: only when this is the engine's last handle: then until its jobs left running are cancelled and have
 * stopped (a transfer stops within one chunk) and its threads are joined. Otherwise no.
 *
 * # Safety
 * `engine` is NULL or a handle from `sw_engine_new`, freed only once, and not in use by another thread.
 */
void sw_engine_free(struct sw_engine *engine);

/**
 * Computes the plan of a sync from `source` to `dest` without writing anything, and stores it in
 * `*out_plan_json` as canonical JSON (free it with `sw_string_free`):
 * `{"schema_version":..,"compare":..,"actions":[{"op","path","reason","size",...}],"errors":[...],"totals":{...}}`.
 *
 * `source` and `dest` are local paths or `file://` URLs. `options_json` is optional (NULL for the defaults):
 * the canonical sync options, as for `sw_sync_start` (`dry_run` is forced on).
 * Errors: `invalid_input` for NULL arguments, text that is not UTF-8, bad options or an unsupported URL;
 * `not_found`, `permission` and others when the run cannot scan its source or destination.
 *
 * Blocking: yes, until the plan is ready: the run scans the source and the destination (over the network for
 * remote locations) and hashes what the comparison needs.
 *
 * # Safety
 * `engine` is NULL or a live engine; the strings are NULL or NUL-terminated; `out_plan_json` is NULL or writable.
 */
struct sw_error *sw_plan(struct sw_engine *engine,
                         const char *source,
                         const char *dest,
                         const char *options_json,
                         char **out_plan_json);

/**
 * Starts a sync from `source` to `dest` in the background and stores its handle in `*out_job` (free it with
 * `sw_job_free`). Returns as soon as the job is queued; follow it with `sw_job_progress`, `sw_job_wait`,
 * `sw_job_cancel`, the progress callback or a subscription.
 *
 * `source` and `dest` are local paths or `file://` URLs. `options_json` is optional (NULL for the defaults): the
 * canonical sync options, a JSON object with any of `name`, `compare` ("size_mtime", "checksum", "size_only"),
 * `modify_window_ms`, `include`, `exclude`, `links` ("preserve", "follow", "skip"), `min_age_secs`, `delete`,
 * `max_delete`, `dry_run`, `transfers`, `verify`, `bwlimit` (bytes per second), `dest_changed` ("overwrite",
 * "skip", "keep_both"), `rescan_dest`, `chunk_size`, `still_changing_retries`, `progress_interval_ms`,
 * `list_identical`, `scan_threads`; an unknown field is an error.
 *
 * `on_progress` is optional: see `sw_progress_fn` (library thread, no overlapping calls, a final call with stage
 * "done"). `user` is passed to it untouched.
 *
 * Ownership of `user`: from the moment this function is called, the library owns `user` on behalf of
 * `free_user`. If `free_user` is not NULL, it is called exactly once with `user`, whatever happens:
 *  - when this function fails (any error, including bad arguments), or `on_progress` is NULL: before this
 *    function returns, on the calling thread;
 *  - otherwise right after the final call of `on_progress` (stage "done"), on the same library thread, and
 *    before the job counts as finished: when `sw_job_wait` returns the report or `sw_job_status` gives a final
 *    status, it has already been called. It is called even if the job handle was freed.
 *
 * Errors do not come from the run itself (a run that fails as a whole still finishes with a report whose status
 * is "failed" and whose "fatal" says why) but from bad input: `invalid_input` for NULL arguments, text that is
 * not UTF-8, bad options or an unsupported URL scheme.
 *
 * Blocking: on local disk only: it records the run in the embedded store (waiting up to 10 s while another
 * process writes there). The sync itself, network included, runs on the engine's threads.
 *
 * # Safety
 * `engine` is NULL or a live engine; the strings are NULL or NUL-terminated; `on_progress` and `free_user` are
 * NULL or functions callable from any thread with `user`; `out_job` is NULL or writable.
 */
struct sw_error *sw_sync_start(struct sw_engine *engine,
                               const char *source,
                               const char *dest,
                               const char *options_json,
                               sw_progress_fn on_progress,
                               void *user,
                               sw_free_user_fn free_user,
                               struct sw_job **out_job);

/**
 * The job's id (a UUID, as in its events). Borrowed: valid as long as the job handle. NULL when `job` is NULL.
 *
 * Blocking: no.
 *
 * # Safety
 * `job` is NULL or a live job handle.
 */
const char *sw_job_id(const struct sw_job *job);

/**
 * The job's status as a static snake_case string (do not free it), the same word as the report's "status":
 * "running" until the job has finished, then its final status: "completed", "partial" (some files failed),
 * "failed" (the run could not be done; see the report's "fatal") or "cancelled". (The other words of the status
 * vocabulary, "queued" and "interrupted", belong to stored jobs and do not occur here today.) NULL when `job` is
 * NULL.
 *
 * Blocking: no.
 *
 * # Safety
 * `job` is NULL or a live job handle.
 */
const char *sw_job_status(const struct sw_job *job);

/**
 * The job's progress now, in `*out_json` as canonical JSON (the same snapshot as the progress callback gets;
 * free it with `sw_string_free`). Errors: `invalid_input` for NULL arguments.
 *
 * Blocking: no.
 *
 * # Safety
 * `job` is NULL or a live job handle; `out_json` is NULL or writable.
 */
struct sw_error *sw_job_progress(const struct sw_job *job,
                                 char **out_json);

/**
 * Asks the job to stop and returns at once; transfers stop within one chunk and remove their temporary files.
 * The job then finishes with status "cancelled" (wait for it with `sw_job_wait`). Cancelling a finished job does
 * nothing. Errors: `invalid_input` when `job` is NULL.
 *
 * Blocking: no: it asks and returns; wait for the job to end with `sw_job_wait`.
 *
 * # Safety
 * `job` is NULL or a live job handle.
 */
struct sw_error *sw_job_cancel(struct sw_job *job);

/**
 * Waits until the job has finished, at most `timeout_ms` milliseconds (negative: no limit; 0: just look), and
 * stores its report in `*out_report_json` (free it with `sw_string_free`): the canonical report JSON,
 * `{"schema_version","run_id","status","dry_run","source","destination","started_at","finished_at",
 * "duration_ms","stats":{...},"errors":[{"action","path","error","kind"}],"warnings":[{"path","reason",
 * "message"}]}` plus "plan" (dry runs) and "fatal" (a run that failed as a whole). A finished job may be waited
 * on any number of times, from several threads at once.
 *
 * Errors: `timeout` when the job is still running after `timeout_ms` (`*out_report_json` stays NULL; the job
 * goes on); `invalid_input` for NULL arguments. A failed or cancelled run is not an error here: read its
 * status in the report (or with `sw_job_status`).
 *
 * Blocking: yes, until the job has finished or `timeout_ms` has passed (0: not at all).
 *
 * # Safety
 * `job` is NULL or a live job handle; `out_report_json` is NULL or writable.
 */
struct sw_error *sw_job_wait(struct sw_job *job,
                             int64_t timeout_ms,
                             char **out_report_json);

/**
 * Frees a job handle. NULL is accepted and ignored.
 *
 * This does NOT cancel the job: a running job keeps running inside its engine (its progress callback keeps being
 * called, its events keep coming) until it finishes or the engine shuts down (see `sw_engine_free`, which
 * cancels such jobs). Call `sw_job_cancel` first to stop it.
 *
 * Blocking: only when this is the engine's last handle (see `sw_engine_free`). Otherwise no.
 *
 * # Safety
 * `job` is NULL or a handle from `sw_sync_start`, freed only once, and not in use by another thread.
 */
void sw_job_free(struct sw_job *job);

/**
 * Subscribes to the engine's events and stores the subscription in `*out_subscription` (free it with
 * `sw_subscription_free`).
 *
 * `since` is the last `seq` the caller saw (0: every event kept): the subscription first delivers every kept
 * event with a greater `seq`, in order, then the live ones, with no gap and no duplicate between the two. A
 * negative `since` gives the live events only. Events are kept for `[settings] event_retention` (default 24h),
 * at most `event_retention_max` (default 100000), in the engine's store (in memory without one); `seq` only
 * grows, across restarts too.
 *
 * Blocking: with a `since` (0 or more), while it waits for the events published so far to be stored and reads
 * the kept ones (milliseconds; longer for a large replay on a slow disk). With a negative `since`, no.
 *
 * `filter_json` (NULL or "" for all events) is a JSON object with any of `job_id`, `profile`, `operation_id`
 * (the events about that job, profile or operation) and `types` (an array of event `type` names); an event is
 * delivered when it matches every field given.
 *
 * Live events are queued for the subscription in order; one that falls more than 4096 live events behind loses
 * the oldest (see `sw_subscription_lost`) and never slows a job: subscribe again with `since` = the last `seq`
 * seen to get them back.
 *
 * Errors: `invalid_input` for a NULL `engine` or `out_subscription`, a bad filter (unknown field or type), or a
 * `since` whose following events are no longer kept or that is beyond the latest `seq`; then
 * `sw_error_details` gives `{"since":N,"oldest_seq":<oldest kept or null>,"latest_seq":<latest>}` (subscribing
 * from `latest_seq` always works).
 *
 * # Safety
 * `engine` is NULL or a live engine; `filter_json` is NULL or a NUL-terminated string; `out_subscription` is
 * NULL or writable.
 */
struct sw_error *sw_subscribe(struct sw_engine *engine,
                              int64_t since,
                              const char *filter_json,
                              struct sw_subscription **out_subscription);

/**
 * Takes the next event, waiting at most `timeout_ms` milliseconds for one (negative: no limit; 0: just look),
 * and stores it in `*out_event_json` as canonical JSON (free it with `sw_string_free`), its `seq` first:
 * `{"seq":1,"type":"job_queued","job_id","at","source","destination"}`, `{"seq":2,"type":"job_started",
 * "job_id","at"}`, `{"seq":..,"type":"progress","job_id","progress":{...snapshot...}}`,
 * `{"seq":..,"type":"job_finished","job_id","at","status","stats":{...}}`; locks, operations, breakers and
 * profile logs add `lock_taken`, `lock_released`, `lock_broken`, `recovery_update`, `recovery_completed`,
 * `breaker` and `log`.
 *
 * No event in time is not an error: `*out_event_json` is NULL and the function returns NULL. After
 * `sw_subscription_close`, queued events are still returned, then NULL at once.
 * Errors: `invalid_input` for NULL arguments.
 *
 * Blocking: yes, until an event comes, the subscription is closed or `timeout_ms` has passed (0: not at
 * all).
 *
 * # Safety
 * `subscription` is NULL or a live subscription; `out_event_json` is NULL or writable.
 */
struct sw_error *sw_subscription_next(struct sw_subscription *subscription,
                                      int64_t timeout_ms,
                                      char **out_event_json);

/**
 * How many events this subscription lost because it fell more than 4096 events behind. 0 when `subscription`
 * is NULL.
 *
 * Blocking: no.
 *
 * # Safety
 * `subscription` is NULL or a live subscription.
 */
uint64_t sw_subscription_lost(const struct sw_subscription *subscription);

/**
 * Closes the subscription: a `sw_subscription_next` waiting in another thread returns at once, and later calls
 * return the events still queued, then nothing without waiting. The handle must still be freed with
 * `sw_subscription_free` (once no other thread uses it). Errors: `invalid_input` when `subscription` is NULL.
 *
 * Blocking: no.
 *
 * # Safety
 * `subscription` is NULL or a live subscription.
 */
struct sw_error *sw_subscription_close(struct sw_subscription *subscription);

/**
 * Frees a subscription. NULL is accepted and ignored.
 *
 * Blocking: only when this is the engine's last handle (see `sw_engine_free`). Otherwise no.
 *
 * # Safety
 * `subscription` is NULL or a handle from `sw_subscribe`, freed only once, and not in use by another thread
 * (wake a waiting thread with `sw_subscription_close` first).
 */
void sw_subscription_free(struct sw_subscription *subscription);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* SYNCWRIGHT_H */
