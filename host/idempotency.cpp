#include "idempotency.hpp"

#include <nlohmann/json.hpp>

namespace oms::host {

bool IdempotencyStore::valid_key(std::string_view key) {
    if (key.empty() || key.size() > 255) return false;
    for (char c : key)
        if (c < 0x21 || c > 0x7e) return false;
    return true;
}

std::shared_ptr<PendingResult> IdempotencyStore::claim_later(Database::Lease& request_tx, const std::string& scope,
                                                             const std::string& key) {
    // migrations/0003: the lock without waiting (55P03 when a running request
    // holds it, which skips the rest of the pipeline), then the stored answer.
    return request_tx.query_later("SELECT * FROM oms_idempotency_claim($1, $2)", {scope, key});
}

IdempotencyStore::Claim IdempotencyStore::outcome(PendingResult& claim, const std::string& hash) {
    std::optional<QueryResult> row;
    try {
        row.emplace(Database::Lease::wait(claim));
    } catch (const DbError& e) {
        if (e.sqlstate == "55P03") return {Claim::InFlight, {}};
        throw;
    }
    if (row->rows() == 0) return {Claim::Proceed, {}};
    if (row->value(0, 0) != hash) return {Claim::BodyMismatch, {}};
    Claim c{Claim::Replay, {}};
    c.replay.status = std::stoi(std::string(row->value(0, 1)));
    c.replay.body = std::string(row->value(0, 3));
    auto headers = nlohmann::json::parse(row->value(0, 2), nullptr, false);
    if (headers.is_object())
        for (auto& [name, value] : headers.items()) {
            if (!value.is_string()) continue;
            if (name == "Content-Type") c.replay.content_type = value.get<std::string>();
            else c.replay.headers.emplace_back(name, value.get<std::string>());
        }
    c.replay.headers.emplace_back("Idempotent-Replayed", "true");
    return c;
}

void IdempotencyStore::complete_later(Database::Lease& request_tx, const std::string& scope, const std::string& key,
                                      const std::string& hash, const Reply& reply) {
    nlohmann::json headers = nlohmann::json::object();
    if (!reply.content_type.empty()) headers["Content-Type"] = reply.content_type;
    for (const auto& [name, value] : reply.headers)
        if (name == "Location") headers[name] = value;  // what a client needs from a replay
    // A plain INSERT: a second answer for the key fails and rolls its request back.
    request_tx.query_later(
        "INSERT INTO oms_idempotency_keys (scope, key, request_hash, state, response_status, response_headers, "
        "                                  response_body, completed_at) "
        "VALUES ($1, $2, $3, 'completed', $4, $5::jsonb, $6, now())",
        {scope, key, hash, std::to_string(reply.status), headers.dump(), reply.body});
}

bool IdempotencyStore::is_fence(const DbError& e) {
    return e.sqlstate == "23505" && std::string_view(e.what()).find("oms_idempotency_keys_pkey") != std::string_view::npos;
}

uint64_t IdempotencyStore::purge(Database& db, std::chrono::seconds retention) {
    auto conn = db.acquire();
    auto r = conn.query("DELETE FROM oms_idempotency_keys WHERE created_at < now() - make_interval(secs => $1::int)",
                        {std::to_string(retention.count())});
    return r.affected();
}

}  // namespace oms::host
