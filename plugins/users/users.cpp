// users: accounts and authentication.
//
//   POST /users/create   {name, email, password}   → 201 the user
//   POST /users/login    {email, password}         → 200 {token, token_type, expires_in, user}
//   GET  /users/me       (token)                   → the caller
//   POST /users/:id/role (admin) {role}            → 200 the user (every host's cached caller dropped)
//   DELETE /users/:id    (admin)                   → 204 (not one's own account: 409)
//   service users.get {user_id}|{email}            → the account (never the hash), or 404
//   service oms.resolve_caller                     → the host asks it for a request with a valid
//                                                    token (and caches the answer per user id):
//                                                    the user's current role, or 401
//   oms-host users create-admin --email E --name N (password: OMS_ADMIN_PASSWORD or stdin)
//   oms-host users set-role EMAIL ROLE
#include <oms/bulkhead.hpp>
#include <oms/plugin.hpp>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <iostream>
#include <memory>
#include <thread>
#include <string>

#include "login_throttle.hpp"
#include "password.hpp"
#include "schemas.hpp"
#include "user_input.hpp"

namespace {

using users::LoginThrottle;
using users::PasswordHasher;
namespace schemas = users::schemas;

// Set up once in setup(), read by handlers on any worker thread.
std::unique_ptr<PasswordHasher> hasher;
std::unique_ptr<LoginThrottle> throttle;
// argon2 is tens of milliseconds of CPU by design: a flood of sign-ups or
// logins may take at most this many workers (the rest keep serving).
std::unique_ptr<oms::Bulkhead> hashing;

constexpr const char* kUserColumns = "id, name, email, role, created_at";

oms::json user_json(const oms::Row& row) {
    return {{"id", row.get<std::string>("id")},
            {"name", row.get<std::string>("name")},
            {"email", row.get<std::string>("email")},
            {"role", row.get<std::string>("role")},
            {"created_at", row.time("created_at")}};
}

// Every host caches the answers of oms.resolve_caller (the host's caller
// cache): a change to a user's role or existence drops that user's entry on
// every host when the changing transaction commits.
// Also under the name before ABI 1.3: hosts of an older build, during a
// rolling upgrade, listen for that one only.
void forget_cached_caller(oms::Tx& tx, const std::string& user_id) {
    tx.invalidate_cached(OMS_SERVICE_RESOLVE_CALLER, user_id);
    tx.invalidate_cached("auth.resolve_caller", user_id);
}

// A UUID as PostgreSQL prints it (lower case): the cache's keys are ids as tokens carry them.
std::string lower(std::string s) {
    for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

oms::Error unknown_user() { return oms::not_found("No account has this id."); }

oms::Error invalid_credentials() {
    return {401, "invalid_credentials", "The email or password is incorrect."};
}

oms::Error too_many(const std::string& what, int64_t wait) {
    return oms::Error(429, "too_many_attempts", what + "; try again in " + std::to_string(wait) + " seconds.")
        .with_header("Retry-After", std::to_string(wait));
}

oms::Response create_user(oms::Request& req) {
    auto input = users::parse_new_user(req.json_body());
    {
        auto tx = oms::Tx::begin();
        auto wait = throttle->admit_signup(tx, std::string(req.remote_address()));
        tx.commit();
        if (wait) throw too_many("Too many accounts created from this address", *wait);
    }
    // Before taking the request's connection.
    std::string hash = hashing->run([&] { return hasher->hash(input.password); });
    try {
        auto row = req.tx()
                       .query(std::string("INSERT INTO users (name, email, password_hash) VALUES ($1, $2, $3) "
                                          "RETURNING ") + kUserColumns,
                              input.name, input.email, hash)
                       .at(0);
        return oms::Response::json(user_json(row), 201);
    } catch (const oms::Error& e) {
        if (e.is_unique_violation()) throw oms::conflict("email_taken", "An account with this email already exists.");
        throw;
    }
}

oms::Response login(oms::Request& req) {
    auto creds = users::parse_credentials(req.json_body());
    std::string address(req.remote_address());

    // Look up in a short transaction of its own: no connection is held while
    // argon2 runs (tens of milliseconds of CPU).
    std::optional<oms::Row> user;
    std::string email_key;
    {
        auto tx = oms::Tx::begin();
        // Folded by PostgreSQL's lower(), exactly like the unique index, so
        // "ZOË@…" and "zoë@…" are one account and one throttle counter.
        email_key = tx.query("SELECT lower($1) AS k", creds.email).at(0).get<std::string>("k");
        // Counted before argon2 runs, so parallel guesses cannot overshoot the limit.
        if (auto wait = throttle->admit_login(tx, email_key, address)) {
            tx.commit();
            throw too_many("Too many failed logins", *wait);
        }
        user = tx.query(std::string("SELECT ") + kUserColumns + ", password_hash FROM users WHERE lower(email) = $1",
                        email_key)
                   .first();
        tx.commit();
    }

    bool ok = false;
    try {
        hashing->run([&] {
            if (user) ok = hasher->verify(creds.password, user->get<std::string>("password_hash"));
            else hasher->verify_nothing(creds.password);  // the same cost as a wrong password
        });
    } catch (const oms::Error&) {
        throttle->cancel_login(email_key, address);  // busy: the password was never checked
        throw;
    }
    if (!ok) {
        throttle->fail_login(email_key, address);
        throw invalid_credentials();
    }

    auto& tx = req.tx();
    throttle->succeed_login(tx, email_key, address);
    std::string id = user->get<std::string>("id");
    if (hasher->needs_rehash(user->get<std::string>("password_hash"))) {
        tx.exec("UPDATE users SET password_hash = $1, updated_at = now() WHERE id = $2::uuid",
                hashing->run([&] { return hasher->hash(creds.password); }), id);
        oms::log::info("rehashed a password with the current argon2id parameters");
    }
    auto token = oms::issue_token(id, user->get<std::string>("role"));
    return oms::Response::json({{"token", token.token},
                                {"token_type", "Bearer"},
                                {"expires_in", token.expires_in},
                                {"user", user_json(*user)}});
}

oms::Response me(oms::Request& req) {
    auto caller = req.require_caller();
    auto row = req.tx()
                   .query(std::string("SELECT ") + kUserColumns + " FROM users WHERE id = $1::uuid", caller.user_id)
                   .first();
    if (!row) throw oms::unauthorized("The account of this token no longer exists.");
    return oms::Response::json(user_json(*row));
}

// POST /users/:id/role {role}: admins promote and demote accounts. An admin
// cannot demote themself (another admin can), so nobody locks themself out
// by mistake.
oms::Response change_role(oms::Request& req) {
    auto caller = req.require_caller();
    std::string id = lower(req.param("id"));
    if (!oms::is_uuid(id)) throw unknown_user();
    std::string role = users::parse_role_change(req.json_body());
    if (id == lower(caller.user_id) && role != "admin")
        throw oms::conflict("cannot_demote_self",
                            "An administrator cannot take the admin role from themself; another administrator can.");
    auto& tx = req.tx();
    auto row = tx.query(std::string("UPDATE users SET role = $1, updated_at = now() WHERE id = $2::uuid AND role <> $1 "
                                    "RETURNING ") + kUserColumns,
                        role, id)
                   .first();
    if (row) {
        forget_cached_caller(tx, id);
        oms::log::info("account " + id + " was given the role " + role + " by " + caller.user_id);
        return oms::Response::json(user_json(*row));
    }
    row = tx.query(std::string("SELECT ") + kUserColumns + " FROM users WHERE id = $1::uuid", id).first();
    if (!row) throw unknown_user();
    return oms::Response::json(user_json(*row));  // it already had that role
}

// DELETE /users/:id: the account and its password hash go; the orders and
// payments that name its id are kept (they are the shop's records and hold
// no reference the database enforces). Its tokens stop working everywhere.
oms::Response delete_user(oms::Request& req) {
    auto caller = req.require_caller();
    std::string id = lower(req.param("id"));
    if (!oms::is_uuid(id)) throw unknown_user();
    if (id == lower(caller.user_id))
        throw oms::conflict("cannot_delete_self",
                            "An administrator cannot delete their own account; another administrator can.");
    auto& tx = req.tx();
    if (tx.exec("DELETE FROM users WHERE id = $1::uuid", id) == 0) throw unknown_user();
    forget_cached_caller(tx, id);
    oms::log::info("account " + id + " was deleted by " + caller.user_id);
    return oms::Response::no_content();
}

// Service users.get {user_id} or {email} → {id, name, email, role,
// created_at} (never the hash); 404 not_found when there is no such account,
// 400 validation_failed when neither (or a malformed one) is given.
oms::json get_user(oms::Tx& tx, const oms::json& args) {
    if (!args.is_object()) throw oms::validation_failed({{"user_id", "give user_id or email"}});
    std::optional<oms::Row> row;
    if (auto id = args.find("user_id"); id != args.end()) {
        if (!id->is_string() || !oms::is_uuid(id->get<std::string>()))
            throw oms::validation_failed({{"user_id", "must be a UUID"}});
        row = tx.query(std::string("SELECT ") + kUserColumns + " FROM users WHERE id = $1::uuid",
                       id->get<std::string>())
                  .first();
    } else if (auto email = args.find("email"); email != args.end()) {
        if (!email->is_string() || email->get<std::string>().empty())
            throw oms::validation_failed({{"email", "must be a non-empty string"}});
        row = tx.query(std::string("SELECT ") + kUserColumns + " FROM users WHERE lower(email) = lower($1)",
                       email->get<std::string>())
                  .first();
    } else {
        throw oms::validation_failed({{"user_id", "give user_id or email"}});
    }
    if (!row) throw oms::not_found("No such account.");
    return user_json(*row);
}

oms::json resolve_caller(oms::Tx& tx, const oms::json& args) {
    std::string id = args.at("user_id").get<std::string>();
    if (!oms::is_uuid(id)) throw oms::unauthorized("Unknown user.");
    auto row = tx.query("SELECT role FROM users WHERE id = $1::uuid", id).first();
    if (!row) throw oms::unauthorized("Unknown user.");
    return {{"user_id", id}, {"role", row->get<std::string>("role")}};
}

// The password for create-admin: OMS_ADMIN_PASSWORD, else the first line of stdin.
std::string admin_password() {
    if (auto p = oms::config("OMS_ADMIN_PASSWORD"); p && !p->empty()) return *p;
    std::string line;
    if (!std::getline(std::cin, line)) line.clear();
    if (!line.empty() && line.back() == '\r') line.pop_back();
    return line;
}

void create_admin(const oms::CommandArgs& args) {
    oms::json body = {{"email", args.get("email").value_or("")},
                      {"name", args.get("name").value_or("")},
                      {"password", admin_password()}};
    auto input = users::parse_new_user(body);  // the same rules as the API
    std::string hash = hasher->hash(input.password);
    auto tx = oms::Tx::begin();
    try {
        auto row = tx.query("INSERT INTO users (name, email, password_hash, role) VALUES ($1, $2, $3, 'admin') "
                            "RETURNING id",
                            input.name, input.email, hash)
                       .at(0);
        tx.commit();
        std::printf("created admin %s (%s)\n", input.email.c_str(), row.get<std::string>("id").c_str());
    } catch (const oms::Error& e) {
        if (e.is_unique_violation())
            throw oms::conflict("email_taken", "an account with " + input.email +
                                                   " already exists; use `oms-host users set-role " + input.email +
                                                   " admin`");
        throw;
    }
}

void set_role(const oms::CommandArgs& args) {
    std::string email = args.get("email").value_or("");
    std::string role = args.get("role").value_or("");
    if (!users::is_valid_role(role)) throw oms::bad_request("invalid_role", "ROLE must be customer or admin");
    auto tx = oms::Tx::begin();
    auto row = tx.query("UPDATE users SET role = $1, updated_at = now() WHERE lower(email) = lower($2) RETURNING id",
                        role, email)
                   .first();
    if (!row) throw oms::Error(404, "not_found", "no account with email " + email);
    forget_cached_caller(tx, row->get<std::string>("id"));  // serving hosts see it at commit
    tx.commit();
    std::printf("%s is now %s\n", email.c_str(), role.c_str());
}

void setup(oms::Plugin& p) {
    users::Argon2Params params;
    params.memory_kib = static_cast<uint32_t>(oms::config_int("OMS_ARGON2_MEMORY_KIB", 19456, 19456, 4 << 20));
    params.iterations = static_cast<uint32_t>(oms::config_int("OMS_ARGON2_ITERATIONS", 2, 2, 64));
    params.parallelism = static_cast<uint32_t>(oms::config_int("OMS_ARGON2_PARALLELISM", 1, 1, 16));
    hasher = std::make_unique<PasswordHasher>(params);
    int quarter = std::max<int>(1, static_cast<int>(oms::config_int("OMS_WORKERS", 8, 1, 256)) / 4);
    int cores = std::max<int>(1, static_cast<int>(std::thread::hardware_concurrency()));
    hashing = std::make_unique<oms::Bulkhead>(
        "password hashing", static_cast<int>(oms::config_int("OMS_ARGON2_MAX_CONCURRENT", std::min(cores, quarter), 1, 1024)),
        static_cast<int>(oms::config_int("OMS_ARGON2_MAX_WAITING", quarter, 0, 1024)), std::chrono::seconds(2));

    users::ThrottlePolicy policy;
    policy.max_failures_per_email = oms::config_int("OMS_LOGIN_MAX_FAILURES", 5, 1, 1000);
    policy.max_failures_per_address = oms::config_int("OMS_LOGIN_MAX_FAILURES_PER_ADDRESS", 20, 1, 100000);
    policy.window_seconds = oms::config_int("OMS_LOGIN_WINDOW", 900, 1, 86400);
    policy.max_signups_per_address = oms::config_int("OMS_SIGNUP_MAX_PER_ADDRESS", 20, 1, 10000000);
    policy.signup_window_seconds = oms::config_int("OMS_SIGNUP_WINDOW", 3600, 1, 604800);
    throttle = std::make_unique<LoginThrottle>(policy);

    p.route("POST", "/users/create", create_user)
        .summary("Create a customer account")
        .request_schema(schemas::new_user())
        .response_schema(201, schemas::user())
        .error(409, "email_taken: an account with this email exists (emails are case-insensitive).")
        .error(429, "too_many_attempts: too many accounts created from this address; retry after Retry-After.");
    p.route("POST", "/users/login", login)
        .summary("Exchange email and password for a bearer token")
        .request_schema(schemas::credentials())
        .response_schema(200, schemas::login_result())
        .error(401, "invalid_credentials: the email or password is incorrect.")
        .error(429, "too_many_attempts: too many failed logins for this email or address; retry after Retry-After.");
    p.route("GET", "/users/me", me).auth().summary("The authenticated user").response_schema(200, schemas::user());
    auto user_id = oms::schema::uuid();
    p.route("POST", "/users/:id/role", change_role)
        .role("admin")
        .summary("Give an account the role customer or admin")
        .path_param("id", user_id, "The account's id")
        .request_schema(schemas::role_change())
        .response_schema(200, schemas::user())
        .error(404, "not_found: no account has this id.")
        .error(409, "cannot_demote_self: an administrator cannot take the admin role from themself.");
    p.route("DELETE", "/users/:id", delete_user)
        .role("admin")
        .summary("Delete an account (its orders and payments are kept)")
        .path_param("id", user_id, "The account's id")
        .response_schema(204, nullptr)
        .error(404, "not_found: no account has this id.")
        .error(409, "cannot_delete_self: an administrator cannot delete their own account.");

    p.service("users.get", get_user, "An account by id or by email (never the password hash); 404 not_found")
        .accepts(schemas::user_lookup())
        .returns(schemas::user());
    p.service(OMS_SERVICE_RESOLVE_CALLER, resolve_caller,
              "The current role of a token's subject, asked by the host; 401 when the account is gone")
        .accepts(schemas::token_claims())
        .returns(schemas::caller());

    p.job("purge_login_throttle", std::chrono::minutes(1), [] { throttle->purge_expired(); });

    p.command("create-admin", "Create an administrator (password from OMS_ADMIN_PASSWORD or the first line of stdin)",
              create_admin)
        .required("email", "the administrator's email")
        .required("name", "the administrator's name");
    p.command("set-role", "Give an existing account the role customer or admin", set_role)
        .positional("email", "the account's email")
        .positional("role", "customer or admin");
}

}  // namespace

OMS_PLUGIN("users", "1.0.0", "Accounts, argon2id passwords, login throttling and tokens", setup)
