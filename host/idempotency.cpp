#include "idempotency.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

namespace oms::host {

bool IdempotencyStore::valid_key(std::string_view key) {
    if (key.empty() || key.size() > 255) return false;
    for (char c : key)
        if (c < 0x21 || c > 0x7e) return false;
    return true;
}

IdempotencyStore::Claim IdempotencyStore::claim(Database& db, const std::string& scope, const std::string& key,
                                                const std::string& hash) {
    auto conn = db.acquire();
    // Twice at most: the row can vanish between the insert and the read when
    // its first request failed and gave the key up.
    for (int attempt = 0; attempt < 2; ++attempt) {
        auto inserted = conn.query(
            "INSERT INTO oms_idempotency_keys (scope, key, request_hash) VALUES ($1, $2, $3) "
            "ON CONFLICT (scope, key) DO NOTHING RETURNING 1",
            {scope, key, hash});
        if (inserted.rows() == 1) return {Claim::Proceed, {}};

        auto row = conn.query(
            "SELECT request_hash, state, response_status, response_headers::text, response_body, "
            "       locked_at < now() - make_interval(secs => $3::int) AS stale "
            "FROM oms_idempotency_keys WHERE scope = $1 AND key = $2",
            {scope, key, std::to_string(kStaleClaim.count())});
        if (row.rows() == 0) continue;
        if (row.value(0, 0) != hash) return {Claim::BodyMismatch, {}};
        if (row.value(0, 1) == "completed") {
            Claim c{Claim::Replay, {}};
            c.replay.status = std::stoi(std::string(row.value(0, 2)));
            c.replay.body = std::string(row.value(0, 4));
            auto headers = nlohmann::json::parse(row.value(0, 3), nullptr, false);
            if (headers.is_object())
                for (auto& [name, value] : headers.items()) {
                    if (name == "Content-Type") c.replay.content_type = value.get<std::string>();
                    else c.replay.headers.emplace_back(name, value.get<std::string>());
                }
            c.replay.headers.emplace_back("Idempotent-Replayed", "true");
            return c;
        }
        if (row.value(0, 5) == "t") {
            // The claim's host died mid-request (its transaction rolled back): take it over.
            auto taken = conn.query(
                "UPDATE oms_idempotency_keys SET locked_at = now() "
                "WHERE scope = $1 AND key = $2 AND state = 'in_flight' "
                "  AND locked_at < now() - make_interval(secs => $3::int) RETURNING 1",
                {scope, key, std::to_string(kStaleClaim.count())});
            if (taken.rows() == 1) return {Claim::Proceed, {}};
        }
        return {Claim::InFlight, {}};
    }
    return {Claim::InFlight, {}};
}

void IdempotencyStore::complete(Database::Lease& request_tx, const std::string& scope, const std::string& key,
                                const Reply& reply) {
    nlohmann::json headers = nlohmann::json::object();
    if (!reply.content_type.empty()) headers["Content-Type"] = reply.content_type;
    for (const auto& [name, value] : reply.headers)
        if (name == "Location") headers[name] = value;  // what a client needs from a replay
    request_tx.query(
        "UPDATE oms_idempotency_keys SET state = 'completed', response_status = $3, "
        "       response_headers = $4::jsonb, response_body = $5, completed_at = now() "
        "WHERE scope = $1 AND key = $2",
        {scope, key, std::to_string(reply.status), headers.dump(), reply.body});
}

void IdempotencyStore::abandon(Database& db, const std::string& scope, const std::string& key) noexcept {
    try {
        auto conn = db.acquire();
        conn.query("DELETE FROM oms_idempotency_keys WHERE scope = $1 AND key = $2 AND state = 'in_flight'",
                   {scope, key});
    } catch (const std::exception& e) {
        // The claim goes stale after kStaleClaim and is taken over then.
        spdlog::warn("could not release idempotency key after a failed request: {}", e.what());
    }
}

uint64_t IdempotencyStore::purge(Database& db, std::chrono::seconds retention) {
    auto conn = db.acquire();
    auto r = conn.query("DELETE FROM oms_idempotency_keys WHERE created_at < now() - make_interval(secs => $1::int)",
                        {std::to_string(retention.count())});
    return r.affected();
}

}  // namespace oms::host
