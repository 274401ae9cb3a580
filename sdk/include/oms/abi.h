/*
 * oms/abi.h — the C boundary between oms-host and its plugins (ABI 1).
 *
 * Read this file top to bottom once; everything a plugin can do is here.
 * Most authors use the C++ layer in <oms/plugin.hpp>, which wraps this table.
 *
 * Rules of the boundary
 *  - Only C types cross it: integers, `oms_str` (pointer + length, not
 *    necessarily NUL-terminated), POD structs and opaque handles. No STL, no
 *    exceptions, no third-party types.
 *  - Whoever allocates frees. A handle made by `*_new` is freed by its
 *    matching `*_free`. Strings the host returns stay valid for the lifetime
 *    named beside each function and belong to the host.
 *  - Every fallible call returns OMS_OK (0) or OMS_FAIL and, on failure, fills
 *    the `oms_error` the caller passed (HTTP status, stable code, detail).
 *  - Versioning: `abi_major` must equal the host's exactly or the plugin is
 *    refused at load. Growth is append-only: new host functions are added at
 *    the end of `oms_host_api` (check `struct_size` before calling one newer
 *    than your build), new fields at the end of the `*_def` structs (each
 *    starts with its own `struct_size`), and `abi_minor` counts the additions.
 *
 * Lifecycle
 *  1. The host dlopen()s the .so (RTLD_NOW | RTLD_LOCAL) and calls the single
 *     exported symbol `oms_plugin_entry`, which returns a static descriptor.
 *  2. After checking ABI and dependencies, the host calls `init` once, in
 *     dependency order. `init` registers routes, migrations, subscriptions,
 *     services, jobs, tasks and commands, and declares the plugin's contracts
 *     (the events it publishes, the services it calls); registration is only
 *     valid inside `init`. When every plugin is initialised, the host checks
 *     that each subscription and each declared call has a provider among the
 *     loaded plugins, and refuses to start otherwise.
 *  3. Handlers are then called from the host's worker threads, concurrently.
 *  4. `shutdown` is called once, in reverse order, before dlclose.
 */
#ifndef OMS_ABI_H
#define OMS_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define OMS_ABI_MAJOR 1u
#define OMS_ABI_MINOR 3u

/* The one symbol a plugin exports. */
#define OMS_PLUGIN_ENTRY_SYMBOL "oms_plugin_entry"

#if defined(__GNUC__) || defined(__clang__)
#define OMS_EXPORT __attribute__((visibility("default")))
#else
#define OMS_EXPORT
#endif

#define OMS_OK 0
#define OMS_FAIL 1

/* A byte string: `data` may be NULL only when `len` is 0 ("absent"). */
typedef struct oms_str {
    const char* data;
    size_t len;
} oms_str;

/* ---- Opaque handles (all owned by the host) ---------------------------- */
typedef struct oms_plugin oms_plugin;     /* the host's record of this plugin; valid until shutdown returns */
typedef struct oms_error oms_error;       /* error slot: status, code, detail, field errors, sqlstate */
typedef struct oms_buffer oms_buffer;     /* growable byte buffer, for data a callee hands back */
typedef struct oms_request oms_request;   /* one HTTP request; valid during the route handler call */
typedef struct oms_response oms_response; /* its response; valid during the route handler call */
typedef struct oms_tx oms_tx;             /* one database transaction on one pooled connection */
typedef struct oms_result oms_result;     /* the rows of one query; free with result_free */
typedef struct oms_command_args oms_command_args; /* parsed options of one CLI command run */

/* ---- Descriptions a plugin hands to the host during init ----------------- */

/* Route flags. */
#define OMS_ROUTE_PUBLIC 0u
#define OMS_ROUTE_AUTH 1u         /* a valid Bearer token is required (401 otherwise) */
#define OMS_ROUTE_RAW_BODY 2u     /* accept any content type; the body is not parsed as JSON */
#define OMS_ROUTE_IDEMPOTENT 4u   /* honour the Idempotency-Key header: the host replays the first
                                    answer for the same key and body, and stores it in the
                                    request's transaction (see the README) */
#define OMS_ROUTE_READ_ONLY 8u    /* ABI 1.1: the handler only reads. Its request_tx runs each
                                    statement without BEGIN/COMMIT round trips (an implicit
                                    transaction per round trip: READ COMMITTED gives every
                                    statement its own snapshot either way). Only for handlers
                                    that never write: a write there commits at once, whatever
                                    the handler answers afterwards. */

/* Route handler: read `req`, write `resp`, return OMS_OK; or fill `err` and
 * return OMS_FAIL (the host answers with problem+json). The request's
 * transaction (request_tx) is committed by the host after OMS_OK and rolled
 * back after OMS_FAIL. */
typedef int (*oms_route_handler)(void* user_data, oms_request* req, oms_response* resp,
                                 oms_error* err);

typedef struct oms_route_def {
    uint32_t struct_size;   /* sizeof(oms_route_def) as the plugin was built */
    const char* method;     /* "GET", "POST", "PUT", "PATCH", "DELETE" */
    const char* path;       /* "/orders/:id" — segments starting with ':' are parameters */
    uint32_t flags;         /* OMS_ROUTE_* */
    const char* role;       /* required role ("admin"), or NULL for any caller; implies AUTH */
    oms_route_handler handler;
    void* user_data;
    const char* summary;    /* one line for the OpenAPI document */
    const char* openapi;    /* optional JSON object merged into the OpenAPI operation, or NULL;
                               its "x-oms-errors": {"409": "code: when"} adds problem answers */
} oms_route_def;

typedef struct oms_migration_def {
    uint32_t struct_size;
    uint32_t version;       /* strictly increasing per plugin: 1, 2, 3 ... */
    const char* name;       /* file name, e.g. "0001_create_users.sql" */
    oms_str sql;            /* the script; the host runs it in one transaction */
} oms_migration_def;

/* Event subscriber: runs inside the publisher's transaction. Failing it fails
 * the publish, and so the publisher's whole transaction.
 * With OMS_SUBSCRIBE_AFTER_COMMIT (ABI 1.2) it runs instead after the
 * publisher's transaction commits, with `tx` NULL (open your own), never if it
 * rolls back: the delivery is a task (see oms_task_def) stored by the
 * publishing transaction — at least once, surviving a host's crash, in publish
 * order per subscriber (a delivery waits until the one before it succeeded or
 * was given up), retried on a 5xx failure, given up on a 4xx. */
typedef int (*oms_event_handler)(void* user_data, oms_tx* tx, oms_str event, oms_str payload_json,
                                 oms_error* err);

#define OMS_SUBSCRIBE_AFTER_COMMIT 1u
#define OMS_SUBSCRIBE_OPTIONAL 2u /* ABI 1.3: start even when no loaded plugin declares the event
                                     (see oms_event_def); without it a subscription to an exact name
                                     or a prefix that no declared event matches refuses start-up */

typedef struct oms_subscription_def {
    uint32_t struct_size;
    const char* event;      /* exact name ("order.paid"), a prefix ("order.*") or "*" */
    oms_event_handler handler;
    void* user_data;
    uint32_t flags;         /* ABI 1.2: OMS_SUBSCRIBE_*; absent or 0: in the publisher's transaction */
} oms_subscription_def;

/* Service: a named operation other plugins call with JSON, inside the
 * caller's transaction. Write the JSON result into `out`. */
typedef int (*oms_service_handler)(void* user_data, oms_tx* tx, oms_str args_json,
                                   oms_buffer* out, oms_error* err);

typedef struct oms_service_def {
    uint32_t struct_size;
    const char* name;       /* "<plugin>.<operation>", e.g. "inventory.reserve"; "oms.<capability>"
                               names a service the host itself calls (OMS_SERVICE_RESOLVE_CALLER) */
    oms_service_handler handler;
    void* user_data;
    const char* description;
    /* ABI 1.3: the contract, each a JSON Schema (JSON text) or NULL. Checked by
     * the host when OMS_CONTRACT_CHECKS is on (development and tests): a call
     * whose arguments, or an answer whose result, does not match fails with
     * 500 contract_violation. Money is integer minor units, marked
     * "x-oms-unit": "minor". */
    const char* args_schema;
    const char* result_schema;
} oms_service_def;

/* The capability the host asks for every authenticated request: who the
 * token's subject is now. Arguments {"user_id": "<the token's sub>"}; result
 * {"user_id": ..., "role": "customer"|"admin"}; fail with 401 when the
 * account is gone. Offered by one plugin (the stock users plugin). Plugins
 * built before ABI 1.3 offered it as "auth.resolve_caller", which the host
 * still accepts. */
#define OMS_SERVICE_RESOLVE_CALLER "oms.resolve_caller"

/* Declared event (ABI 1.3): a plugin declares each event it publishes, with
 * the JSON Schema of its payload; other plugins subscribe to it by name and
 * can read its contract (`oms-host contracts`, GET /asyncapi.json) instead of
 * the publisher's code. With OMS_CONTRACT_CHECKS on, a payload that does not
 * match its event's declaration fails with 500 contract_violation, and so
 * does publishing an event no loaded plugin declares from a plugin that
 * declares events (one that declares none is warned once per event). Payload
 * fields are only ever added: a field keeps its name and meaning for the
 * whole ABI major. */
typedef struct oms_event_def {
    uint32_t struct_size;
    const char* name;           /* "<aggregate>.<what happened>", e.g. "order.paid"; one declarer per host */
    const char* summary;        /* one line: when it is published */
    const char* payload_schema; /* JSON Schema of the payload (a JSON object), as JSON text */
} oms_event_def;

/* A service this plugin calls (ABI 1.3). Declared at init, so that a host
 * missing the plugin that offers it refuses to start (exit 2, one line naming
 * both) instead of failing requests later — unless OMS_USE_OPTIONAL: then the
 * plugin checks service_exists before calling. With OMS_CONTRACT_CHECKS on, a
 * plugin that declares calls and calls a service it did not declare fails
 * with 500 contract_violation (one that declares none is warned once). */
#define OMS_USE_OPTIONAL 1u

typedef struct oms_service_use_def {
    uint32_t struct_size;
    const char* service;        /* "inventory.reserve" */
    uint32_t flags;             /* OMS_USE_* */
} oms_service_use_def;

/* Periodic job: called on the host's job thread every `interval_ms` (>= 10)
 * while the host serves (not during CLI commands); one host runs its jobs one
 * at a time. It opens its own transactions (tx_begin); several hosts may run
 * it at the same moment, so make it safe for that (e.g. FOR UPDATE SKIP LOCKED).
 * A failure is logged and the job runs again at its next interval. */
typedef int (*oms_job_handler)(void* user_data, oms_error* err);

typedef struct oms_job_def {
    uint32_t struct_size;
    const char* name;
    uint32_t interval_ms;
    oms_job_handler handler;
    void* user_data;
} oms_job_def;

/* Task (ABI 1.2): work that must follow a committed decision, at least once —
 * a payment gateway call after an order changed, a message to another system.
 * A transaction enqueues it (tx_enqueue_task): the task is stored by that
 * transaction, so it exists only if the transaction commits (a transactional
 * outbox), and a serving host runs it soon after, on its task threads, outside
 * any transaction: open your own (tx_begin) to read and to record the outcome,
 * and hold none across a slow call. At least once: a host that dies during a
 * task leaves it to run again when its lease ends, and two runs may overlap
 * if a handler outlives the lease; make the handler idempotent (the task id is
 * a stable idempotency key for an outside system).
 * Return OMS_OK when done. Fail with a 5xx status to be retried (back-off from
 * OMS_TASK_RETRY_MS, doubling, at most max_attempts runs), with any other
 * status to give up at once: the task is kept as "dead", with its error, for
 * an operator (`oms-host tasks`). */
typedef struct oms_task {
    oms_str id;             /* a uuid, the same on every attempt */
    oms_str name;
    oms_str payload_json;
    uint32_t attempt;       /* 1 on the first run */
} oms_task;

typedef int (*oms_task_handler)(void* user_data, const oms_task* task, oms_error* err);

typedef struct oms_task_def {
    uint32_t struct_size;
    const char* name;       /* "<plugin>.<task>", e.g. "payments.refund"; unique per host */
    oms_task_handler handler;
    void* user_data;
    uint32_t max_attempts;  /* 0: the host's OMS_TASK_MAX_ATTEMPTS */
} oms_task_def;

/* CLI command, run as `oms-host <plugin> <name> [--option value ...]`. */
#define OMS_OPTION_REQUIRED 1u  /* must be given */
#define OMS_OPTION_FLAG 2u      /* takes no value; command_arg returns "1" when present */
#define OMS_OPTION_POSITIONAL 4u /* given without its --name */

/* Options are an array: its element size travels in oms_command_def's
 * option_size, since this struct has no struct_size of its own. */
typedef struct oms_option_def {
    const char* name;       /* "email" is given as --email */
    const char* help;
    uint32_t flags;         /* OMS_OPTION_* */
} oms_option_def;

/* Print results to stdout; return OMS_FAIL with `err` filled to exit non-zero:
 * exit 2 when its status is 4xx (bad input), 1 otherwise; the host prints the
 * detail. A command opens its own transactions (tx_begin). */
typedef int (*oms_command_handler)(void* user_data, const oms_command_args* args, oms_error* err);

typedef struct oms_command_def {
    uint32_t struct_size;
    const char* name;
    const char* help;
    const oms_option_def* options;
    size_t option_count;
    oms_command_handler handler;
    void* user_data;
    size_t option_size;     /* ABI 1.2: sizeof(oms_option_def) as the plugin was built (the host
                               steps through `options` by it); 0, or absent: ABI 1.0's */
} oms_command_def;

/* ---- Values that cross at run time ------------------------------------- */

/* A query parameter, bound to $1..$n. Values are sent as text; PostgreSQL
 * infers the type from the statement (add a cast like $1::uuid when needed). */
#define OMS_PARAM_NULL 0
#define OMS_PARAM_TEXT 1
#define OMS_PARAM_INT64 2
#define OMS_PARAM_FLOAT64 3
#define OMS_PARAM_BOOL 4

typedef struct oms_param {
    int32_t type;           /* OMS_PARAM_* */
    int32_t boolean;        /* OMS_PARAM_BOOL */
    oms_str text;           /* OMS_PARAM_TEXT */
    int64_t int64;          /* OMS_PARAM_INT64 */
    double float64;         /* OMS_PARAM_FLOAT64 */
} oms_param;

/* The authenticated caller of a request (strings valid during the handler). */
typedef struct oms_caller {
    oms_str user_id;        /* the token's `sub` */
    oms_str role;           /* the token's `role` */
} oms_caller;

/* Log levels (spdlog's). */
#define OMS_LOG_TRACE 0
#define OMS_LOG_DEBUG 1
#define OMS_LOG_INFO 2
#define OMS_LOG_WARN 3
#define OMS_LOG_ERROR 4

/* ---- The host's function table ------------------------------------------ */

typedef struct oms_host_api {
    uint32_t abi_major;     /* OMS_ABI_MAJOR of the host */
    uint32_t abi_minor;     /* OMS_ABI_MINOR of the host */
    uint32_t struct_size;   /* sizeof(oms_host_api) in the host */

    /* Registration — only inside init. */
    int (*register_route)(oms_plugin* self, const oms_route_def* def, oms_error* err);
    int (*register_migration)(oms_plugin* self, const oms_migration_def* def, oms_error* err);
    int (*subscribe)(oms_plugin* self, const oms_subscription_def* def, oms_error* err);
    int (*register_service)(oms_plugin* self, const oms_service_def* def, oms_error* err);
    int (*register_job)(oms_plugin* self, const oms_job_def* def, oms_error* err);
    int (*register_command)(oms_plugin* self, const oms_command_def* def, oms_error* err);

    /* Configuration: environment, then .env, then the config file. Returns
     * {NULL,0} when unset. Valid for the process lifetime. */
    oms_str (*config_get)(oms_plugin* self, oms_str key);
    /* Structured log line, tagged with the plugin's name (and request id when
     * called inside a route handler). */
    void (*log)(oms_plugin* self, int level, oms_str message);

    /* Errors. */
    oms_error* (*error_new)(void);
    void (*error_free)(oms_error* err);
    void (*error_set)(oms_error* err, int http_status, oms_str code, oms_str detail);
    void (*error_add_field)(oms_error* err, oms_str field, oms_str message);
    int (*error_status)(const oms_error* err);           /* 0 when never set */
    oms_str (*error_code)(const oms_error* err);        /* valid until the error changes or is freed */
    oms_str (*error_detail)(const oms_error* err);
    oms_str (*error_sqlstate)(const oms_error* err);    /* for database errors, e.g. "23505" */
    size_t (*error_field_count)(const oms_error* err);
    void (*error_field)(const oms_error* err, size_t i, oms_str* field, oms_str* message);

    /* Buffers. */
    oms_buffer* (*buffer_new)(void);
    void (*buffer_free)(oms_buffer* buf);
    void (*buffer_append)(oms_buffer* buf, oms_str bytes);
    oms_str (*buffer_view)(const oms_buffer* buf);      /* valid until the next append or free */

    /* Requests (strings valid during the handler call; data NULL when absent). */
    oms_str (*request_method)(const oms_request* req);
    oms_str (*request_path)(const oms_request* req);
    oms_str (*request_param)(const oms_request* req, oms_str name);   /* ":id" in the route */
    oms_str (*request_query)(const oms_request* req, oms_str name);   /* decoded ?name= */
    oms_str (*request_header)(const oms_request* req, oms_str name);  /* case-insensitive */
    oms_str (*request_body)(const oms_request* req);
    oms_str (*request_id)(const oms_request* req);
    oms_str (*request_remote_address)(const oms_request* req);
    /* 1 and `out` filled when the request carries a valid token, else 0. */
    int (*request_caller)(const oms_request* req, oms_caller* out);
    /* The request's transaction, begun on first use, committed by the host
     * after the handler returns OMS_OK. Do not commit or roll it back. */
    int (*request_tx)(oms_request* req, oms_tx** out, oms_error* err);

    /* Responses (copied by the host). Default status 200, no body. */
    void (*response_set_status)(oms_response* resp, int status);
    void (*response_set_header)(oms_response* resp, oms_str name, oms_str value);
    void (*response_set_body)(oms_response* resp, oms_str body, oms_str content_type);

    /* Database. A tx from tx_begin is ended by exactly one of commit/rollback,
     * which also free it (commit frees it even when it fails). */
    int (*tx_begin)(oms_plugin* self, oms_tx** out, oms_error* err);
    int (*tx_commit)(oms_tx* tx, oms_error* err);
    void (*tx_rollback)(oms_tx* tx);
    /* One statement, $1..$n bound to `params`. On failure `err` carries the
     * mapped HTTP status and the SQLSTATE, and PostgreSQL has aborted the
     * transaction: every further query on `tx` fails until it ends. */
    int (*tx_query)(oms_tx* tx, oms_str sql, const oms_param* params, size_t param_count,
                    oms_result** out, oms_error* err);
    size_t (*result_rows)(const oms_result* res);
    size_t (*result_columns)(const oms_result* res);
    oms_str (*result_column_name)(const oms_result* res, size_t column);
    int (*result_is_null)(const oms_result* res, size_t row, size_t column);
    oms_str (*result_value)(const oms_result* res, size_t row, size_t column); /* text form */
    uint64_t (*result_affected)(const oms_result* res);  /* rows changed by INSERT/UPDATE/DELETE */
    void (*result_free)(oms_result* res);

    /* Events and services, inside `tx`. event_publish runs the matching
     * subscribers now, in plugin load order, and stops at the first failure
     * (its error fills `err`); events nest at most 16 deep. service_call fails
     * with 501 "service_unavailable" when no loaded plugin offers `name`, and
     * otherwise with the service's own error; `out` receives its JSON result. */
    int (*event_publish)(oms_tx* tx, oms_str event, oms_str payload_json, oms_error* err);
    int (*service_call)(oms_tx* tx, oms_str name, oms_str args_json, oms_buffer* out,
                        oms_error* err);
    int (*service_exists)(oms_str name);                 /* 1 when some loaded plugin offers it */

    /* Tokens: an HS256 JWT for `subject` with `role`, signed with JWT_SECRET. */
    int (*token_issue)(oms_plugin* self, oms_str subject, oms_str role, oms_buffer* token_out,
                       int64_t* expires_in_seconds, oms_error* err);

    /* CLI command arguments: the value of --name, {NULL,0} when not given. */
    oms_str (*command_arg)(const oms_command_args* args, oms_str name);

    /* Errors, continued: a header sent with the problem answer of `err`
     * (e.g. Retry-After on a 429). */
    void (*error_add_header)(oms_error* err, oms_str name, oms_str value);

    /* ABI 1.0 ends here; later minors append below. Before calling one of
     * these, check that `struct_size` covers it (the C++ SDK does). */

    /* ---- ABI 1.1 ---- */

    /* A statement sent later: it is queued on `tx` and travels, in one round
     * trip, with the next statement that needs an answer (tx_query,
     * result_wait on any queued result) or with the commit. Use it for
     * independent statements, yours and other plugins' (through services),
     * so that they do not wait for each other. `out` is readable only after
     * result_wait returned OMS_OK; free it with result_free as usual. When a
     * queued statement fails, PostgreSQL aborts the transaction: result_wait
     * and every later statement report the failure, and so does the commit. */
    int (*tx_query_deferred)(oms_tx* tx, oms_str sql, const oms_param* params, size_t param_count,
                             oms_result** out, oms_error* err);
    /* Sends what is queued (when `res` has not arrived yet) and reports the
     * outcome of `res`'s statement. Immediate results (tx_query) are OMS_OK. */
    int (*result_wait)(oms_result* res, oms_error* err);

    /* Cached answers. The host keeps a per-host cache of the answers of
     * `auth.resolve_caller` (who a token's subject is now: every authenticated
     * request needs it), keyed by the user id. A plugin that changes what such
     * an answer would be calls this inside the changing transaction: every
     * host drops the entry when the transaction commits (PostgreSQL
     * LISTEN/NOTIFY), and not at all if it rolls back. `key` empty: drop
     * every entry of `service`. */
    int (*cache_invalidate)(oms_tx* tx, oms_str service, oms_str key, oms_error* err);

    /* ---- ABI 1.2 ---- */

    /* Registration, like register_job: only inside init. */
    int (*register_task)(oms_plugin* self, const oms_task_def* def, oms_error* err);
    /* Stores a task named `name` (registered by a loaded plugin: 501
     * service_unavailable otherwise) with `payload_json` (a JSON object) in
     * `tx`; it runs after `tx` commits, never if it rolls back. A non-empty
     * `key` makes the enqueue idempotent: a task of that name and key that
     * was ever stored is not stored again. Not on a read-only request's tx. */
    int (*tx_enqueue_task)(oms_tx* tx, oms_str name, oms_str payload_json, oms_str key, oms_error* err);
    /* An extension member of the problem answer of `err` (RFC 9457 §3.2):
     * `name` a letter then letters, digits or '_', `json_value` JSON text,
     * e.g. "balance", "120". The standard members (type, title, status,
     * detail, code, errors, request_id, instance) cannot be replaced; a bad
     * name or value is ignored. */
    void (*error_add_member)(oms_error* err, oms_str name, oms_str json_value);

    /* ---- ABI 1.3 ---- */

    /* Registration, only inside init: the events this plugin publishes, and
     * the services it calls (oms_event_def, oms_service_use_def). */
    int (*register_event)(oms_plugin* self, const oms_event_def* def, oms_error* err);
    int (*register_service_use)(oms_plugin* self, const oms_service_use_def* def, oms_error* err);
} oms_host_api;

/* ---- What the plugin exports -------------------------------------------- */

typedef struct oms_plugin_descriptor {
    uint32_t abi_major;     /* OMS_ABI_MAJOR the plugin was built against */
    uint32_t abi_minor;
    uint32_t struct_size;   /* sizeof(oms_plugin_descriptor) */
    const char* name;       /* unique, [a-z0-9_]+; also its CLI namespace */
    const char* version;    /* the plugin's own version, e.g. "1.2.0" */
    const char* description;
    const char* const* dependencies; /* NULL-terminated plugin names, or NULL: each is
                                        initialised (and its migrations applied) before
                                        this plugin; a missing one refuses start-up */
    /* Register everything; return OMS_FAIL with `err` filled to refuse start-up. */
    int (*init)(const oms_host_api* host, oms_plugin* self, oms_error* err);
    /* Release what init made. May be NULL. */
    void (*shutdown)(void);
} oms_plugin_descriptor;

typedef const oms_plugin_descriptor* (*oms_plugin_entry_fn)(void);

#ifdef __cplusplus
}
#endif

#endif /* OMS_ABI_H */
