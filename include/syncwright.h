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
 *    its job handle; sw_status_outcome() gives static strings. Every handle type (sw_engine, sw_job, sw_subscription, sw_error) has a sw_*_free()
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
 *        may be remote), sw_manifest_build() (scans and hashes a local tree), sw_storage_usage() (reads
 *        manifests or scans folders) and sw_recovery_self_test() (runs syncs, for seconds);
 *      - for jobs of the engine they stop: sw_profile_unlock() and sw_unlock_all() (a job of this engine
 *        that holds a lock is cancelled and waited for) and sw_operation_cancel() (its running job);
 *      - for lock files, which may sit on a network volume or an SFTP host: sw_profile_status(),
 *        sw_profiles_status() and sw_profile_status_text() (an SFTP destination is reached to read its
 *        lock), sw_profile_unlock(), sw_unlock_all() and sw_lock_self_test();
 *      - for local disk only: sw_engine_new() (reads the config file and opens the embedded store,
 *        waiting up to 10 s for another process that holds it), sw_sync_start(), sw_profile_run() and
 *        sw_operation_retry() (take the profile's lock in the coordination folder and record the run in
 *        the store; never the network: the job does its I/O on the engine's threads), and the calls
 *        that read the store or the logs: sw_run_history(), sw_profile_logs(), sw_profile_logs_page(),
 *        sw_operations(), sw_operations_interrupted(), sw_operation() and sw_recovery_metrics(); and
 *        sw_subscribe() with a `since` (reads the kept events);
 *      - for the vault's key derivation (Argon2id: by default 64 MiB of memory and most of a second) and
 *        its file: sw_vault_init(), sw_vault_unlock(), sw_vault_keys(), sw_vault_get(), sw_vault_set(),
 *        sw_vault_delete(), sw_vault_change_passphrase(), sw_vault_restore_backup() and
 *        sw_vault_import_rclone() (once the vault is unlocked, only the file is read or written);
 *      - for archives, reading or writing every file they hold: sw_backup_create(), sw_backup_list() (each
 *        archive's directory), sw_backup_verify() and sw_backup_restore();
 *      - for image files: sw_media_info() (reads each file's headers and metadata chunks);
 *      - for document 3's cloud sync: sw_cloud_manifest() (walks and hashes the tree), sw_cloud_dry_run()
 *        (lists the remote) and sw_cloud_run() (the whole run, which is a job of the engine that
 *        sw_jobs_active() lists and another thread may cancel);
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
 * A sync running (or finished) in the background. Opaque; from `sw_sync_start`, `sw_profile_run`, `sw_run_all`,
 * `sw_operation_retry` or `sw_job_get`, freed with `sw_job_free`.
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
 * only during the call (copy it to keep it). `user` is the pointer given to `sw_sync_start` (or `sw_profile_run`,
 * `sw_run_all`).
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
 * Makes a backup: a zip of the configured paths named `<UTC %Y%m%dT%H%M%SZ>[-label].zip` (`label` NULL for
 * none; letters, digits, `.`, `_`, `-`, at most 64) with `__meta__/cloud_sync/manifest.json` inside, then keeps
 * the `max_backups` newest archives (0: `[backup] max_backups`; 1 to 50). The result in `*out_json`:
 * `{"name","path","size","created_at","label","entries","bytes","rotated":[names],"warnings":[text]}`.
 * Errors: `invalid_input` for a bad label or count (nothing is written); `permission` and others from the
 * files; `cancelled` when the engine closes meanwhile (no archive is left).
 *
 * Blocking: yes: reads every file of the paths and writes the archive (fsynced before it is renamed).
 *
 * # Safety
 * `engine` is NULL or a live engine; `label` and `dir` are NULL or NUL-terminated strings; `out_json` is NULL
 * or writable.
 */
struct sw_error *sw_backup_create(struct sw_engine *engine,
                                  const char *label,
                                  uint32_t max_backups,
                                  const char *dir,
                                  char **out_json);

/**
 * The archives of the backups folder, newest first, in `*out_json`: `[{"name","path","size","created_at",
 * "label","entries"}]` (only syncwright's: a user's own zips there are not listed). A missing folder is an
 * empty list. Errors: `invalid_input` for NULL arguments.
 *
 * Blocking: yes: opens each archive's central directory.
 *
 * # Safety
 * `engine` is NULL or a live engine; `dir` is NULL or a NUL-terminated string; `out_json` is NULL or writable.
 */
struct sw_error *sw_backup_list(struct sw_engine *engine,
                                const char *dir,
                                char **out_json);

/**
 * Verifies archive `name` (a name in the backups folder, or a path) without restoring it, in `*out_json`:
 * `{"name","entries","bytes","ok","problems":[{"path","problem"}]}`. Errors: `not_found` for a missing archive;
 * `corrupt` for one that is refused as a whole (an unsafe entry name, no manifest, damage), with details naming
 * the entry.
 *
 * Blocking: yes: reads the whole archive.
 *
 * # Safety
 * `engine` is NULL or a live engine; `name` and `dir` are NULL or NUL-terminated strings; `out_json` is NULL or
 * writable.
 */
struct sw_error *sw_backup_verify(struct sw_engine *engine,
                                  const char *name,
                                  const char *dir,
                                  char **out_json);

/**
 * Restores archive `name` (a name in the backups folder, or a path) into `target` (NULL: the `[backup]` root).
 * Every entry name is checked before anything is written (no absolute path, `..`, drive letter, backslash, NUL,
 * symlink entry, duplicate, or entry outside the manifest): a refused archive writes nothing. Each file is
 * checked against the manifest's SHA-256 while it is extracted and renamed into place; existing files are kept
 * unless `replace_existing` is non-zero. The result in `*out_json`: `{"archive","target","status":"completed"|
 * "partial","restored":[paths],"kept":[paths],"failed":[{"path","error"}],"bytes"}`. Errors: `not_found`;
 * `corrupt` for a refused archive; `cancelled` when the engine closes meanwhile.
 *
 * Blocking: yes: reads the archive and writes every file (each fsynced before its rename).
 *
 * # Safety
 * `engine` is NULL or a live engine; `name`, `target` and `dir` are NULL or NUL-terminated strings; `out_json`
 * is NULL or writable.
 */
struct sw_error *sw_backup_restore(struct sw_engine *engine,
                                   const char *name,
                                   const char *target,
                                   int32_t replace_existing,
                                   const char *dir,
                                   char **out_json);

/**
 * The manifest of the configured tree for `snapshot` (NULL: `[cloud_sync] default_snapshot`), taking only the
 * paths of `include_json` (a JSON array of relative paths; NULL: `[cloud_sync] include`), in `*out_json`:
 * `{"schema_version":1,"manifest":{"name","root","created_at","entries","checksum"},"include","exclude",
 * "checksum","errors"}`. Touches no remote. Errors: `feature_disabled` unless `[features] enable_cloud_sync`;
 * `invalid_input` for a bad snapshot or path.
 *
 * Blocking: yes: walks the tree and hashes every file not in the hash cache.
 *
 * # Safety
 * `engine` is NULL or a live engine; `snapshot` and `include_json` are NULL or NUL-terminated strings;
 * `out_json` is NULL or writable.
 */
struct sw_error *sw_cloud_manifest(struct sw_engine *engine,
                                   const char *snapshot,
                                   const char *include_json,
                                   char **out_json);

/**
 * The plan of mirroring the tree to a service, writing nothing. `request_json`: `{"service":"s3"|"gdrive",
 * "snapshot"?,"paths"?:[...],"credentials_key"?,"service_config"?:{"bucket","prefix","region","parent_id",
 * "manifest_parent_id"}}` (endpoints come only from the config). The result in `*out_json`:
 * `{"schema_version":1,"manifest":{...},"plan":{...},"summary":{"status":"dry_run","service","snapshot",
 * "uploads":[{"path","size","reason"}],"deletes":[...],"skipped":[...],"bytes","unchanged"},"remote_manifest",
 * "errors":[],"job_id","manifest_committed":false}`. Errors: `feature_disabled` unless `[features]` turns the
 * service on; `invalid_input` for a bad request; `not_found` for a vault key that is not there; `auth`,
 * `network` and others from the service.
 *
 * Blocking: yes: walks and hashes the tree and lists the remote (network I/O).
 *
 * # Safety
 * `engine` is NULL or a live engine; `request_json` is NULL or a NUL-terminated string; `out_json` is NULL or
 * writable.
 */
struct sw_error *sw_cloud_dry_run(struct sw_engine *engine,
                                  const char *request_json,
                                  char **out_json);

/**
 * Mirrors the tree to a service: `sw_cloud_dry_run`'s request with `"commit_manifest"?: bool` (default true:
 * the remote manifest is replaced after a clean run). The result as `sw_cloud_dry_run`'s with `summary.status`
 * `"completed"`, or `"partial"` with `errors: [{"action","path","error","kind"}]` when some files failed (the run
 * goes on past them). Errors: as `sw_cloud_dry_run`; `conflict` when another run writes the destination;
 * `cancelled` when its job is cancelled.
 *
 * Blocking: yes: for the whole run (uploads over the network); the run is a job of the engine, listed by
 * `sw_jobs_active` and cancellable from another thread.
 *
 * # Safety
 * `engine` is NULL or a live engine; `request_json` is NULL or a NUL-terminated string; `out_json` is NULL or
 * writable.
 */
struct sw_error *sw_cloud_run(struct sw_engine *engine,
                              const char *request_json,
                              char **out_json);

/**
 * Creates an engine and stores it in `*out_engine` (free it with `sw_engine_free`).
 *
 * `config_json` is optional (NULL or "" for the defaults, and no profiles): a JSON object with any of
 *  - `config_file`: a config file (TOML) whose profiles and settings the engine then owns (relative paths in its
 *    `[settings]` resolve from the file's folder), or `config`: the same document as a JSON value (relative
 *    paths resolve from the working folder); not both;
 *  - `state_dir`: where the embedded store (hash cache, run history, operations) lives; default: the config's
 *    `[settings] state_dir`, else `$SYNCWRIGHT_STATE_DIR`, else `$XDG_STATE_HOME/syncwright`, else
 *    `~/.local/state/syncwright`;
 *  - `no_store` (true: no store, so no hash cache and no history), `worker_threads` (0: one per core);
 *  - `log_dir` (profile logs; default `[settings] log_dir`, else `logs` in the state folder) and `log_max_size`
 *    (bytes at which a profile log is rotated; default `[settings] log_max_size`, else 10 MiB).
 *
 * The fields given override the config's `[settings]`. For example `{"config_file":"/etc/syncwright/pod.toml"}`,
 * that file holding
 *
 * ```toml
 * [settings]
 * coordination_dir = "/network/.syncwright/locks"   # profile locks, on the shared volume
 * state_dir = "/workspace/.syncwright-state"        # the embedded store, on local disk
 *
 * [profiles.user_data]
 * source = "/workspace/ComfyUI/user"
 * destination = "/network/users/alice/user_data"
 * min_age = "10s"
 * ```
 *
 * or the same as a value: `{"config":{"settings":{"coordination_dir":"/network/.syncwright/locks"},"profiles":
 * {"user_data":{"source":"/workspace/ComfyUI/user","destination":"/network/users/alice/user_data",
 * "min_age":"10s"}}}}`. The profiles are then listed by `sw_profiles`, run by `sw_profile_run` and `sw_run_all`
 * (examples/c/profiles.c). A config file that cannot be read gives `not_found` or `permission`; a bad config (in
 * the file or the value, or both given) `invalid_input`. The engine starts its worker threads here.
 * Errors: `invalid_input` for a NULL `out_engine`, text that is not UTF-8 or a bad config (unknown fields
 * included); `permission`, `resource`, `corrupt` and others when the store cannot be opened.
 *
 * Blocking: yes, on local disk only: it reads the config file, opens (creating, and if damaged replacing) the
 * embedded store, waiting up to 10 s while another process sets the same store up, and starts the worker threads.
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
 * `job` is NULL or a job handle from this library, freed only once, and not in use by another thread.
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

/**
 * A handle on the job `id` of this engine (running, or finished within the last hour), in `*out_job` (free it
 * with `sw_job_free`; it is another handle on the same job: freeing it neither cancels the job nor touches other
 * handles). Errors: `not_found` when the engine has no such job (a job of another process, or one that ended
 * more than an hour ago: see `sw_run_history`); `invalid_input` for NULL arguments.
 *
 * Blocking: no.
 *
 * # Safety
 * `engine` is NULL or a live engine; `id` is NULL or a NUL-terminated string; `out_job` is NULL or writable.
 */
struct sw_error *sw_job_get(struct sw_engine *engine,
                            const char *id,
                            struct sw_job **out_job);

/**
 * The jobs of this engine still running, oldest first, in `*out_json` as a canonical JSON array of job
 * snapshots (free it with `sw_string_free`): `[{"job_id","sync_id","profile","source","destination","started_at",
 * "status":"running","progress":{...},"finished_at":null}]` (the objects of `sw_job_snapshot`, without report).
 * Errors: `invalid_input` for NULL arguments.
 *
 * Blocking: no.
 *
 * # Safety
 * `engine` is NULL or a live engine; `out_json` is NULL or writable.
 */
struct sw_error *sw_jobs_active(struct sw_engine *engine,
                                char **out_json);

/**
 * The `limit` most recent jobs of this engine (running, or finished within the last hour), newest first, in
 * `*out_json` as a canonical JSON array of job snapshots without report, as `sw_jobs_active` (free it with
 * `sw_string_free`). Errors: `invalid_input` for NULL arguments.
 *
 * Blocking: no.
 *
 * # Safety
 * `engine` is NULL or a live engine; `out_json` is NULL or writable.
 */
struct sw_error *sw_jobs_recent(struct sw_engine *engine,
                                size_t limit,
                                char **out_json);

/**
 * The job as it is now, in `*out_json` as canonical JSON (free it with `sw_string_free`):
 * `{"job_id","sync_id","profile","source","destination","started_at","status","progress":{...},"finished_at"}`,
 * "status" being "running" until it ended, and with `"report":{...}` (its report, as `sw_job_wait` gives it) once
 * it ended when `with_report` is non-zero. Errors: `invalid_input` for NULL arguments.
 *
 * Blocking: no.
 *
 * # Safety
 * `job` is NULL or a live job handle; `out_json` is NULL or writable.
 */
struct sw_error *sw_job_snapshot(const struct sw_job *job,
                                 int32_t with_report,
                                 char **out_json);

/**
 * Page `page` (from 1) of `per_page` (1 to 1000) runs of profile `profile`, newest first, from the embedded store
 * (so runs of earlier processes too), in `*out_json` as canonical JSON (free it with `sw_string_free`):
 * `{"profile","runs":[{"job_id","sync_id","profile","source","destination","status","started_at","finished_at",
 * "duration_ms","error","stats","pid","host"}],"pagination":{"page","per_page","total","pages"}}`.
 * Errors: `not_found` when the engine has no profile `profile`; `invalid_input` for NULL arguments, page 0 or a
 * per_page out of range; `feature_disabled` for an engine without a store (`no_store`).
 *
 * Blocking: yes, for local disk only: it reads the embedded store.
 *
 * # Safety
 * `engine` is NULL or a live engine; `profile` is NULL or a NUL-terminated string; `out_json` is NULL or
 * writable.
 */
struct sw_error *sw_run_history(struct sw_engine *engine,
                                const char *profile,
                                size_t page,
                                size_t per_page,
                                char **out_json);

/**
 * Removes profile `name`'s locks (its own in the coordination folder, and its destination's wherever that lives)
 * without ever letting two runs write one destination, and stores what it did in `*out_json` as canonical JSON
 * (free it with `sw_string_free`): `{"removed":[{"name","location","reason":"stale"|"cancelled"|"forced",
 * "job_id"}],"cancelled_jobs":[job ids],"errors":[text]}`.
 *
 * A stale lock (its holder gone, or its lease expired) is removed at once. One that a job of this engine holds
 * goes with that job, which is cancelled and waited for first. One that another process or host holds with a
 * fresh lease is an error of kind `conflict` naming the holders (details `{"holders":[{"lock","location",
 * "job_id","started_at","profile","pid","host","instance_id","lease_until"}]}`; nothing is removed), unless
 * `force` is non-zero: then it is removed and that run stops at its next lease renewal. A folder that cannot be
 * reached (an SFTP host that is down) is listed in "errors", not an error.
 * Errors: `not_found` when the engine has no profile `name`; `conflict` as above; `invalid_input` for NULL
 * arguments.
 *
 * Blocking: yes: while a job of this engine that holds the lock is cancelled and waited for (a transfer stops
 * within one chunk), and for file I/O: the lock files in the coordination folder and at the destination (an
 * SFTP destination is reached over the network).
 *
 * # Safety
 * `engine` is NULL or a live engine; `name` is NULL or a NUL-terminated string; `out_json` is NULL or writable.
 */
struct sw_error *sw_profile_unlock(struct sw_engine *engine,
                                   const char *name,
                                   int32_t force,
                                   char **out_json);

/**
 * `sw_profile_unlock` for every lock: those in the coordination folder, those of plain syncs to S3 and Drive
 * (`<state dir>/locks`), and every profile's destination lock, by the same rules (`force` non-zero removes
 * locks held elsewhere with a fresh lease). Stores what it did in `*out_json`, in the same shape as
 * `sw_profile_unlock` (free it with `sw_string_free`). Errors: `conflict` when a lock is held elsewhere and
 * `force` is 0 (nothing is removed then); `invalid_input` for NULL arguments.
 *
 * Blocking: yes, as `sw_profile_unlock`: while the engine's own jobs that hold locks are cancelled and waited
 * for, and for the lock files of every profile's destination (SFTP ones over the network).
 *
 * # Safety
 * `engine` is NULL or a live engine; `out_json` is NULL or writable.
 */
struct sw_error *sw_unlock_all(struct sw_engine *engine,
                               int32_t force,
                               char **out_json);

/**
 * Checks that locking works in the coordination folder with a test lock named `name` (such as
 * "lock-self-test"): takes it, checks that a second take is refused, renews it and releases it. Stores
 * `{"name","location","steps":[text]}` in `*out_json` (free it with `sw_string_free`), every step having passed.
 * Errors: the error of the first step that failed (`permission` for a folder that cannot be written,
 * `internal` for a folder where a lock does not exclude, ...); `invalid_input` for NULL arguments or a name that is
 * not letters, digits, `-`, `_` and `.`.
 *
 * Blocking: yes, briefly, for file I/O: it creates, renews and removes the test lock in the coordination folder
 * (often on a network volume).
 *
 * # Safety
 * `engine` is NULL or a live engine; `name` is NULL or a NUL-terminated string; `out_json` is NULL or writable.
 */
struct sw_error *sw_lock_self_test(struct sw_engine *engine,
                                   const char *name,
                                   char **out_json);

/**
 * The last `lines` entries of profile `profile`'s log, oldest first, of `level` only when it is not NULL
 * ("debug", "info", "warning" or "error"), in `*out_json` as a canonical JSON array (free it with
 * `sw_string_free`): `[{"timestamp","level","message","data":{...}}]`. Every run writes entries (started,
 * finished with its counts, locks broken, errors). Errors: `not_found` when the engine has no profile `profile`;
 * `invalid_input` for NULL arguments or an unknown level.
 *
 * Blocking: yes, for local disk only: it reads the profile's log files (in the engine's log folder).
 *
 * # Safety
 * `engine` is NULL or a live engine; `profile` and `level` are NULL or NUL-terminated strings; `out_json` is NULL
 * or writable.
 */
struct sw_error *sw_profile_logs(struct sw_engine *engine,
                                 const char *profile,
                                 size_t lines,
                                 const char *level,
                                 char **out_json);

/**
 * Page `page` (from 1) of `per_page` (from 1) entries of profile `profile`'s log, oldest first, of `level` only
 * when it is not NULL, in `*out_json` as canonical JSON (free it with `sw_string_free`):
 * `{"logs":[{"timestamp","level","message","data"}],"pagination":{"page","per_page","total","pages"}}`.
 * Errors: `not_found` when the engine has no profile `profile`; `invalid_input` for NULL arguments, page or
 * per_page 0, or an unknown level.
 *
 * Blocking: yes, for local disk only: it reads the profile's log files.
 *
 * # Safety
 * `engine` is NULL or a live engine; `profile` and `level` are NULL or NUL-terminated strings; `out_json` is NULL
 * or writable.
 */
struct sw_error *sw_profile_logs_page(struct sw_engine *engine,
                                      const char *profile,
                                      size_t page,
                                      size_t per_page,
                                      const char *level,
                                      char **out_json);

/**
 * The format, size and generation metadata of each path of `paths_json` (a JSON array of path strings), in
 * `*out_json` (free it with `sw_string_free`): `[{"schema_version":1,"path","format":"png"|"jpeg"|"webp"|null,
 * "size","metadata":{"generator":"a1111"|"comfyui","format","parameters","prompt","negative_prompt","steps",
 * "sampler","scheduler","cfg_scale","seed","width","height","model","model_hash","loras":[{"name","weight",
 * "hash"}],"extra":{...},"comfy_prompt","comfy_workflow","warnings"?}|null,"error":{"kind","message"}|null}]`.
 * Pixels are never decoded. A file that is not an image has no metadata and no error; one that cannot be read
 * carries its error. Errors: `invalid_input` for NULL arguments, JSON that is not an array of strings, no path
 * or more than 100,000.
 *
 * Blocking: yes: reads each file's headers and metadata chunks.
 *
 * # Safety
 * `engine` is NULL or a live engine; `paths_json` is NULL or a NUL-terminated string; `out_json` is NULL or
 * writable.
 */
struct sw_error *sw_media_info(struct sw_engine *engine,
                               const char *paths_json,
                               char **out_json);

/**
 * The profiles and settings the engine owns (read from the `config_file` or `config` given to `sw_engine_new`),
 * in `*out_json` as canonical JSON (free it with `sw_string_free`): the config file's schema,
 * `{"settings":{"coordination_dir","state_dir","log_dir","log_max_size","lock_lease",...},"profiles":{"<name>":
 * {"source","destination","command","preset","include","exclude","delete","interval",...}}}`. Secrets (passphrases,
 * keys, tokens) are never in it: they come out as null. An engine opened without a config has no profiles.
 * Errors: `invalid_input` for NULL arguments.
 *
 * Blocking: no.
 *
 * # Safety
 * `engine` is NULL or a live engine; `out_json` is NULL or writable.
 */
struct sw_error *sw_engine_config(struct sw_engine *engine,
                                  char **out_json);

/**
 * The engine's profiles, in name order, in `*out_json` as a canonical JSON array (free it with
 * `sw_string_free`): `[{"name","kind":"sync"|"command","source","destination","command","interval_secs",
 * "delete"}]` (locations never carry credentials). Errors: `invalid_input` for NULL arguments.
 *
 * Blocking: no.
 *
 * # Safety
 * `engine` is NULL or a live engine; `out_json` is NULL or writable.
 */
struct sw_error *sw_profiles(struct sw_engine *engine,
                             char **out_json);

/**
 * The status of profile `name` now, in `*out_json` as canonical JSON (free it with `sw_string_free`):
 * `{"profile","running","job":{"job_id","started_at","pid","host","this_engine"}|null,"state":"running"|"success"|
 * "error"|"idle","lock":<lock>|null,"destination_lock":<lock>|null,"destination_lock_error":text|null,
 * "last_run":{"job_id","status","outcome":"success"|"error","started_at","finished_at","duration_ms","error",
 * "stats"}|null,"config":<profile as in sw_profiles>,"summary":<the line sw_profile_status_text gives>}`, where a
 * lock is `{"info":{"name","profile","job_id","pid","host","started_at","lease_until",...},"state":"held"|
 * "stale","reason" (stale),"location"}`. "running" and "job" come from the profile's lock, so they show a run of
 * another process or host too; "last_run" is its last ended run in the embedded store (null without a store).
 * Errors: `not_found` when the engine has no profile `name`; `invalid_input` for NULL arguments; `permission`
 * and others when the coordination folder cannot be read.
 *
 * Blocking: yes, for file I/O: it reads the lock files in the coordination folder (often on a network volume),
 * the destination's lock (an SFTP destination is reached over the network to look; one that cannot be reached is
 * `destination_lock_error`, not an error) and the embedded store.
 *
 * # Safety
 * `engine` is NULL or a live engine; `name` is NULL or a NUL-terminated string; `out_json` is NULL or writable.
 */
struct sw_error *sw_profile_status(struct sw_engine *engine,
                                   const char *name,
                                   char **out_json);

/**
 * The status of every profile, in name order, in `*out_json` as a canonical JSON array of the objects
 * `sw_profile_status` gives (free it with `sw_string_free`). Errors: `invalid_input` for NULL arguments;
 * `permission` and others when the coordination folder cannot be read.
 *
 * Blocking: yes, for file I/O: as `sw_profile_status`, for every profile (each SFTP destination is reached over
 * the network to look at its lock).
 *
 * # Safety
 * `engine` is NULL or a live engine; `out_json` is NULL or writable.
 */
struct sw_error *sw_profiles_status(struct sw_engine *engine,
                                    char **out_json);

/**
 * The status of profile `name` (or of every profile when `name` is NULL, one line each, in name order) as text
 * for people, in `*out_text` (free it with `sw_string_free`), such as
 * `user_data: idle; last run completed at 2026-05-01T10:00:00Z (420 ms)` or
 * `user_data: running (job J, since T); never run`. Errors: as `sw_profile_status`.
 *
 * Blocking: yes, for file I/O, as `sw_profile_status` (`sw_profiles_status` when `name` is NULL).
 *
 * # Safety
 * `engine` is NULL or a live engine; `name` is NULL or a NUL-terminated string; `out_text` is NULL or writable.
 */
struct sw_error *sw_profile_status_text(struct sw_engine *engine,
                                        const char *name,
                                        char **out_text);

/**
 * Starts a run of profile `name` in the background and stores its handle in `*out_job` (free it with
 * `sw_job_free`); follow it as a job of `sw_sync_start` (`sw_job_wait` gives its report: a sync's, or for a
 * command profile `{"type":"command",...,"output"}`).
 *
 * One run of a profile at a time, across processes and hosts that share the coordination folder: a profile
 * already running is an error of kind `conflict` (`SW_ERR_CONFLICT`) whose message names the running job and its
 * start (`profile P is already running (job J, since T, pid N on H)`) and whose details say the same as JSON
 * (`{"lock","location","job_id","started_at","profile","pid","host","instance_id"}`). The run then takes its
 * destination's lock as its first step, like every writing sync: a destination another run writes makes the job
 * fail at once (status "failed", the conflict in the report's "fatal").
 *
 * `on_progress`, `user` and `free_user` are as for `sw_sync_start`, with the same ownership of `user`:
 * `free_user` is called exactly once, before this function returns when it fails or `on_progress` is NULL,
 * otherwise right after the final progress call (stage "done"), before the job counts as finished. (A command
 * profile's progress never reaches "done": then `free_user` is called when the engine drops the job's task, just
 * after the job finished, and at the latest when the engine shuts down.)
 *
 * Errors: `not_found` when the engine has no profile `name`; `conflict` as above; `invalid_input` for NULL
 * arguments or text that is not UTF-8; `permission` and others when the lock cannot be written.
 *
 * Blocking: for file I/O only: it takes the profile's lock in the coordination folder (often on a network
 * volume) and records the run in the embedded store. The sync itself, network included, runs on the engine's
 * threads.
 *
 * # Safety
 * `engine` is NULL or a live engine; `name` is NULL or a NUL-terminated string; `on_progress` and `free_user` are
 * NULL or functions callable from any thread with `user`; `out_job` is NULL or writable.
 */
struct sw_error *sw_profile_run(struct sw_engine *engine,
                                const char *name,
                                sw_progress_fn on_progress,
                                void *user,
                                sw_free_user_fn free_user,
                                struct sw_job **out_job);

/**
 * Starts a run of every profile, one after the other, as one job, and stores its handle in `*out_job` (free it
 * with `sw_job_free`); returns at once. Its report (from `sw_job_wait`) has `"type":"run_all"` and one result per
 * profile: `{"schema_version","type":"run_all","run_id","status","started_at","finished_at","duration_ms",
 * "stats":<sums>,"total","successful":[names],"failed":[names],"results":{"<name>":<report>|{"kind","error",
 * "details"}}}` (a profile that could not start, such as one already running, has the error object). Its status:
 * "completed" when every profile completed, "failed" when none did, "partial" otherwise; `sw_job_cancel` cancels
 * the profile running then and skips the rest ("cancelled"). `sw_report_text` makes it a line per profile.
 *
 * `on_progress` gets the snapshots of each profile's run in turn (each ends with a stage "done" of its own).
 * Ownership of `user` is as for `sw_sync_start`, except when `free_user` is called: exactly once, before this
 * function returns when it fails or `on_progress` is NULL, otherwise once the run-all and every profile run are
 * done with it: just after the job finished (possibly after `sw_job_wait` returned), and at the latest when the
 * engine shuts down. So leave `user` to `free_user` once the job has started.
 *
 * Errors: `invalid_input` for NULL arguments. (A profile that fails is a result in the report, not an error.)
 *
 * Blocking: no: every profile, its locks included, runs on the engine's threads.
 *
 * # Safety
 * `engine` is NULL or a live engine; `on_progress` and `free_user` are NULL or functions callable from any thread
 * with `user`; `out_job` is NULL or writable.
 */
struct sw_error *sw_run_all(struct sw_engine *engine,
                            sw_progress_fn on_progress,
                            void *user,
                            sw_free_user_fn free_user,
                            struct sw_job **out_job);

/**
 * The operations in the embedded store (one per job: its attempts, state and what it needs to run again), newest
 * first, at most `limit`, only those not ended when `active_only` is non-zero, in `*out_json` as a canonical
 * JSON array (free it with `sw_string_free`): `[{"operation_id","function_name":"sync"|"sync_profile"|"command",
 * "state":"pending"|"in_progress"|"recovering"|"success"|"failed"|"exhausted"|"cancelled","attempt",
 * "max_attempts","error","created_at","updated_at","metadata":{...}}]`. Ended operations are kept for a week.
 * Errors: `feature_disabled` for an engine without a store (`no_store`); `invalid_input` for NULL arguments.
 *
 * Blocking: yes, for local disk only: it reads the embedded store.
 *
 * # Safety
 * `engine` is NULL or a live engine; `out_json` is NULL or writable.
 */
struct sw_error *sw_operations(struct sw_engine *engine,
                               int32_t active_only,
                               size_t limit,
                               char **out_json);

/**
 * The operations a restart interrupted (not ended, and their process is gone from this host: a crash or a
 * kill while they ran), newest first, in `*out_json` as a canonical JSON array of the objects of `sw_operations`
 * (free it with `sw_string_free`); retry one with `sw_operation_retry`. Errors: `feature_disabled` for an engine
 * without a store (`no_store`); `invalid_input` for NULL arguments.
 *
 * Blocking: yes, for local disk only: it reads the embedded store.
 *
 * # Safety
 * `engine` is NULL or a live engine; `out_json` is NULL or writable.
 */
struct sw_error *sw_operations_interrupted(struct sw_engine *engine,
                                           char **out_json);

/**
 * The operation `id` (the id of the job that runs or ran it), in `*out_json` as the canonical JSON object of
 * `sw_operations` (free it with `sw_string_free`). Errors: `not_found` when the store has no such operation;
 * `feature_disabled` without a store; `invalid_input` for NULL arguments.
 *
 * Blocking: yes, for local disk only: it reads the embedded store.
 *
 * # Safety
 * `engine` is NULL or a live engine; `id` is NULL or a NUL-terminated string; `out_json` is NULL or writable.
 */
struct sw_error *sw_operation(struct sw_engine *engine,
                              const char *id,
                              char **out_json);

/**
 * Runs operation `id` again as a new job with the same id, and stores its handle in `*out_job` (free it with
 * `sw_job_free`; follow it as any job). An operation that failed, ran out of attempts, was cancelled or was
 * interrupted by a restart can be retried; any ended one when `force` is non-zero. It gets `max_attempts` more
 * attempts (0: as many as it had). A profile's operation takes the profile's lock again (the engine must have
 * that profile); a sync locks its destination like any writing run. There is no progress callback: follow the
 * job with `sw_job_progress` or a subscription.
 * Errors: `not_found` when the store has no such operation; `conflict` when it is running, or has succeeded and
 * `force` is 0, or its profile is running; `invalid_input` for NULL arguments or a profile the engine lacks;
 * `feature_disabled` without a store.
 *
 * Blocking: for file I/O only: it reads the store, takes the profile's lock (coordination folder) and records the
 * run. The run itself, network included, is on the engine's threads.
 *
 * # Safety
 * `engine` is NULL or a live engine; `id` is NULL or a NUL-terminated string; `out_job` is NULL or writable.
 */
struct sw_error *sw_operation_retry(struct sw_engine *engine,
                                    const char *id,
                                    int32_t force,
                                    uint32_t max_attempts,
                                    struct sw_job **out_job);

/**
 * Cancels operation `id`: its job in this engine is cancelled and waited for (the operation ends "cancelled"),
 * or a stored operation that does not run here is marked cancelled. Stores the operation as it is then in
 * `*out_json` (the object of `sw_operations`; free it with `sw_string_free`).
 * Errors: `not_found` when the store has no such operation; `conflict` when it has already ended;
 * `feature_disabled` without a store; `invalid_input` for NULL arguments.
 *
 * Blocking: yes, when its job runs in this engine: until the job has stopped (a transfer stops within one
 * chunk); and for local disk: the embedded store.
 *
 * # Safety
 * `engine` is NULL or a live engine; `id` is NULL or a NUL-terminated string; `out_json` is NULL or writable.
 */
struct sw_error *sw_operation_cancel(struct sw_engine *engine,
                                     const char *id,
                                     char **out_json);

/**
 * Recovery figures in `*out_json` as canonical JSON (free it with `sw_string_free`): over the stored operations
 * (all zero without a store), this engine's circuit breaker trips, and the settings in effect:
 * `{"total_operations","active_operations","recovered_operations","failed_operations","average_recovery_time",
 * "retry_attempts","success_rate","average_attempts_per_recovery","circuit_breaker_trips","persistence",
 * "max_attempts","retry":{"<category>":{"backoff","max_attempts","initial_delay","max_delay","jitter"}},
 * "breaker":{"failure_threshold","failure_rate","window_secs","min_calls","cooldown_secs","half_open_probes",
 * "targets":{"<target>":{...}} (when there are overrides)}}` (the circuit breakers' `[settings.breaker]`).
 * Errors: `invalid_input` for NULL arguments.
 *
 * Blocking: yes, for local disk only: it reads the embedded store.
 *
 * # Safety
 * `engine` is NULL or a live engine; `out_json` is NULL or writable.
 */
struct sw_error *sw_recovery_metrics(struct sw_engine *engine,
                                     char **out_json);

/**
 * The circuit breakers of the remote targets this engine's jobs used so far, by target, in `*out_json` as a
 * canonical JSON array (free it with `sw_string_free`): `[{"target","state":"closed"|"open"|"half_open",
 * "consecutive_failures","trips","opened_at","next_probe_at","timeout_remaining","config":{"failure_threshold",
 * "failure_rate","window_secs","min_calls","cooldown_secs","half_open_probes"}}]` (`[]` before any remote run).
 * The settings they follow (`[settings.breaker]`) are in `sw_recovery_metrics`' "breaker".
 * Errors: `invalid_input` for NULL arguments.
 *
 * Blocking: no.
 *
 * # Safety
 * `engine` is NULL or a live engine; `out_json` is NULL or writable.
 */
struct sw_error *sw_breakers(struct sw_engine *engine,
                             char **out_json);

/**
 * Runs the recovery self-test: each scenario named in `scenarios_json` (a JSON array of scenario ids such as
 * `["network_timeout","corruption"]`; NULL, "" or `[]` for all of them, see `sw_recovery_scenarios`) `runs` times
 * (0 counts as 1), for real: syncs of a small generated tree with injected faults, in a scratch folder under the
 * system's temporary folder that is removed afterwards. Stores what it measured in `*out_json` (free it with
 * `sw_string_free`): `{"baseline_ms","scenarios":[{"name","description","runs","as_expected","success_rate",
 * "retries","average_recovery_ms","overhead_percent","passed"}],"overall":"PASS"|"FAIL"}`.
 * Errors: `not_found` for an unknown scenario; `invalid_input` for NULL arguments or a `scenarios_json` that is
 * not an array of strings.
 *
 * Blocking: yes, for seconds (about a second per scenario and run): it runs the syncs and waits for them.
 *
 * # Safety
 * `engine` is NULL or a live engine; `scenarios_json` is NULL or a NUL-terminated string; `out_json` is NULL or
 * writable.
 */
struct sw_error *sw_recovery_self_test(struct sw_engine *engine,
                                       const char *scenarios_json,
                                       uint32_t runs,
                                       char **out_json);

/**
 * The scenarios of the recovery self-test, in `*out_json` as a canonical JSON array (free it with
 * `sw_string_free`): `[{"id","name","description","category":"network"|"service"|"resource"|"data",
 * "error_category","expect_recovery"}]`; `id` is what `sw_recovery_self_test` takes.
 * Errors: `invalid_input` for NULL arguments.
 *
 * Blocking: no.
 *
 * # Safety
 * `engine` is NULL or a live engine; `out_json` is NULL or writable.
 */
struct sw_error *sw_recovery_scenarios(struct sw_engine *engine, char **out_json);

/**
 * The outcome word of a status, for documents that know only success and error (document 5's `lastStatus`):
 * "success" for "completed", "running" for "queued" and "running", "error" for "partial", "failed", "cancelled"
 * and "interrupted". A static string: do not free it. NULL when `status` is NULL, not UTF-8 or not a status word.
 *
 * Blocking: no.
 *
 * # Safety
 * `status` is NULL or a NUL-terminated string.
 */
const char *sw_status_outcome(const char *status);

/**
 * A report (the canonical JSON `sw_job_wait` gives) as the short text for people that document 1 calls its
 * `output`, in `*out_text` (free it with `sw_string_free`): the summary line
 * (`completed: 3 created, 0 updated, 0 deleted, 0 unchanged, 0 skipped, 0 errors, 0 warnings; 1.20 MB in 0.42 s`,
 * then `: <error>` for a run that failed as a whole), then the first errors one per line (at most 10, and how many
 * more); a command profile's output after its summary; for a run-all (`"type":"run_all"`) one line per profile
 * (`<name>: <summary>`), then `N of M profiles completed`.
 * Errors: `invalid_input` for NULL arguments, text that is not UTF-8, or JSON that is not a report.
 *
 * Blocking: no.
 *
 * # Safety
 * `report_json` is NULL or a NUL-terminated string; `out_text` is NULL or writable.
 */
struct sw_error *sw_report_text(const char *report_json,
                                char **out_text);

/**
 * What folders hold, by type, by profile and by folder, with the disk's figures, in `*out_json` as canonical
 * JSON (free it with `sw_string_free`): `{"total_size","total_human_readable","by_type":{"<category>":{"size",
 * "human_readable"}},"by_project":{"<profile>":{...}},"by_folder":{"<folder>":{...}},"disk":{"total","used",
 * "free","percent","total_human_readable","used_human_readable","free_human_readable"}|null}`.
 *
 * `query_json` is optional (NULL or "" for none): `{"models_root":"/path","root":"/path"}`, both optional: a
 * models folder whose subfolders are the categories ("by_type"), a tree whose top-level folders are counted
 * ("by_folder"). The destinations of the engine's profiles give "by_project". Sizes come from the manifest
 * syncwright keeps at a destination when it is there and clean, else from a scan (no hashing).
 * Errors: `invalid_input` for NULL arguments or a bad query (unknown fields included); `not_found` for a folder
 * that does not exist; `permission` and others from the scan.
 *
 * Blocking: yes, for file I/O: it reads manifests or scans the folders (possibly large, possibly on a network
 * volume).
 *
 * # Safety
 * `engine` is NULL or a live engine; `query_json` is NULL or a NUL-terminated string; `out_json` is NULL or
 * writable.
 */
struct sw_error *sw_storage_usage(struct sw_engine *engine,
                                  const char *query_json,
                                  char **out_json);

/**
 * Where the engine's vault is, in `*out_json` (free it with `sw_string_free`): `{"schema_version":1,"path",
 * "exists","unlocked","kdf":{"m_kib","t","p"},"passphrase_env","passphrase_env_set"}`. Reads no secret.
 * Errors: `invalid_input` for NULL arguments or bad `[settings.vault_kdf]`.
 *
 * Blocking: no (one stat of the vault file).
 *
 * # Safety
 * `engine` is NULL or a live engine; `out_json` is NULL or writable.
 */
struct sw_error *sw_vault_status(struct sw_engine *engine,
                                 char **out_json);

/**
 * Creates an empty vault under `passphrase` (NULL: `SYNCWRIGHT_SECRETS_KEY`) and keeps it unlocked; its status
 * (as `sw_vault_status`) in `*out_json`. Errors: `conflict` when the vault exists; `auth` when no passphrase is
 * given or set; `invalid_input` for NULL arguments.
 *
 * Blocking: yes: derives the key (Argon2id, by default 64 MiB and about a second) and writes the file.
 *
 * # Safety
 * `engine` is NULL or a live engine; `passphrase` is NULL or a NUL-terminated string; `out_json` is NULL or
 * writable.
 */
struct sw_error *sw_vault_init(struct sw_engine *engine,
                               const char *passphrase,
                               char **out_json);

/**
 * Unlocks the vault and keeps it so; its status in `*out_json`. Errors: `auth` for a wrong or missing
 * passphrase; `corrupt` for a damaged file (see `sw_vault_restore_backup`); `invalid_input` for a vault version
 * this library does not read; `not_found` when there is no vault.
 *
 * Blocking: yes: derives the key (Argon2id) and reads the file.
 *
 * # Safety
 * `engine` is NULL or a live engine; `passphrase` is NULL or a NUL-terminated string; `out_json` is NULL or
 * writable.
 */
struct sw_error *sw_vault_unlock(struct sw_engine *engine,
                                 const char *passphrase,
                                 char **out_json);

/**
 * Forgets the unlocked vault (the next call that needs it unlocks it again); its status in `*out_json`.
 * Errors: `invalid_input` for NULL arguments.
 *
 * Blocking: no.
 *
 * # Safety
 * `engine` is NULL or a live engine; `out_json` is NULL or writable.
 */
struct sw_error *sw_vault_lock(struct sw_engine *engine,
                               char **out_json);

/**
 * The vault's keys (never their values) as a JSON array of strings in `*out_json`. Errors: as
 * `sw_vault_unlock`.
 *
 * Blocking: yes: reads the file (and derives the key when the vault is not unlocked yet).
 *
 * # Safety
 * `engine` is NULL or a live engine; `passphrase` is NULL or a NUL-terminated string; `out_json` is NULL or
 * writable.
 */
struct sw_error *sw_vault_keys(struct sw_engine *engine,
                               const char *passphrase,
                               char **out_json);

/**
 * The value of `key` (dotted keys reach into objects: `cloud_sync.gdrive.credentials`) in `*out_json`:
 * `{"key","value"}`, the value a string or an object. It is a secret: free it with `sw_string_free` as soon as
 * it is used. Errors: `not_found` when the vault has no such key; `invalid_input` for a key that is not dotted
 * names of letters, digits, `_` and `-`; otherwise as `sw_vault_unlock`.
 *
 * Blocking: yes: reads the file (and derives the key when the vault is not unlocked yet).
 *
 * # Safety
 * `engine` is NULL or a live engine; `key` and `passphrase` are NULL or NUL-terminated strings; `out_json` is
 * NULL or writable.
 */
struct sw_error *sw_vault_get(struct sw_engine *engine,
                              const char *key,
                              const char *passphrase,
                              char **out_json);

/**
 * Sets `key` to `value_json` (a JSON string or object: `"hunter2"`, `{"access_key_id":...}`) and writes the
 * vault (the replaced envelope becomes its newest inline backup); the keys after it in `*out_json` (a JSON
 * array). Errors: `invalid_input` for a bad key, or a value that is not a JSON string or object (the value is
 * never quoted in the message); otherwise as `sw_vault_unlock`.
 *
 * Blocking: yes: reads and writes the file under its lock (and derives the key when the vault is not unlocked
 * yet, or when its parameters are weaker than the configured ones).
 *
 * # Safety
 * `engine` is NULL or a live engine; `key`, `value_json` and `passphrase` are NULL or NUL-terminated strings;
 * `out_json` is NULL or writable.
 */
struct sw_error *sw_vault_set(struct sw_engine *engine,
                              const char *key,
                              const char *value_json,
                              const char *passphrase,
                              char **out_json);

/**
 * Removes `key`; the keys after it in `*out_json` (a JSON array). Errors: `not_found` when there is no such
 * key; otherwise as `sw_vault_set`.
 *
 * Blocking: yes, as `sw_vault_set`.
 *
 * # Safety
 * `engine` is NULL or a live engine; `key` and `passphrase` are NULL or NUL-terminated strings; `out_json` is
 * NULL or writable.
 */
struct sw_error *sw_vault_delete(struct sw_engine *engine,
                                 const char *key,
                                 const char *passphrase,
                                 char **out_json);

/**
 * Re-encrypts the vault under `new_passphrase` (NULL: `SYNCWRIGHT_SECRETS_KEY_NEW`) with a new salt; earlier
 * envelopes stay as backups under their own passphrase. The engine keeps it unlocked under the new one; its
 * status in `*out_json`. Errors: `auth` for a wrong current passphrase or no new one; `invalid_input` for an
 * empty new one; otherwise as `sw_vault_unlock`.
 *
 * Blocking: yes: derives the new key (Argon2id) and writes the file.
 *
 * # Safety
 * `engine` is NULL or a live engine; `new_passphrase` and `passphrase` are NULL or NUL-terminated strings;
 * `out_json` is NULL or writable.
 */
struct sw_error *sw_vault_change_passphrase(struct sw_engine *engine,
                                            const char *new_passphrase,
                                            const char *passphrase,
                                            char **out_json);

/**
 * When the vault's current envelope is damaged, writes back the newest inline backup that opens, in
 * `*out_json`: `{"restored":bool,"backup":1..5|null}` (false and null for an intact vault). Errors: `corrupt`
 * when no backup opens either; otherwise as `sw_vault_unlock`.
 *
 * Blocking: yes: derives keys (Argon2id, per backup tried) and writes the file.
 *
 * # Safety
 * `engine` is NULL or a live engine; `passphrase` is NULL or a NUL-terminated string; `out_json` is NULL or
 * writable.
 */
struct sw_error *sw_vault_restore_backup(struct sw_engine *engine,
                                         const char *passphrase,
                                         char **out_json);

/**
 * Imports an unencrypted rclone.conf at `path`: its `s3` sections with access keys, `drive` sections with a
 * service account and `sftp` sections with a key become vault entries `<prefix>.<section>` (`prefix` NULL:
 * `rclone`). The report in `*out_json`: `{"source","imported":[{"section","service","key","profile",
 * "profile_toml","notes"?}],"not_imported":[{"section","service","reason"}]}` (no secret in it). Errors:
 * `invalid_input` for an encrypted or malformed file (the line number is named, never its text); `not_found`
 * for a missing one; otherwise as `sw_vault_set`.
 *
 * Blocking: yes: reads the conf and the files it names, and writes the vault.
 *
 * # Safety
 * `engine` is NULL or a live engine; `path`, `prefix` and `passphrase` are NULL or NUL-terminated strings;
 * `out_json` is NULL or writable.
 */
struct sw_error *sw_vault_import_rclone(struct sw_engine *engine,
                                        const char *path,
                                        const char *prefix,
                                        const char *passphrase,
                                        char **out_json);

#ifdef __cplusplus
}  // extern "C"
#endif  // __cplusplus

#endif  /* SYNCWRIGHT_H */
