// The plugin's configuration, read once at start-up. A bad value stops the
// host with one line naming the setting (oms::Error "bad_config" from setup).
//
//   RAZORPAY_KEY_ID          unset: SIMULATED mode (no money moves; refused when OMS_ENV=production)
//   RAZORPAY_KEY_SECRET      required with KEY_ID (Basic auth, checkout signatures)
//   RAZORPAY_WEBHOOK_SECRET  required with KEY_ID (X-Razorpay-Signature); optional when simulated
//   RAZORPAY_API_BASE        default https://api.razorpay.com/v1; http:// only for loopback (tests)
//   RAZORPAY_TIMEOUT_MS      connect, send and receive timeout of each gateway call (default 10000)
//   RAZORPAY_CA_FILE         PEM bundle to trust instead of the system's CAs
#pragma once

#include <string>

namespace payments {

struct Settings {
    bool simulated = false;
    std::string key_id;
    std::string key_secret;
    std::string webhook_secret;  // empty: webhooks are refused (400)
    std::string api_base = "https://api.razorpay.com/v1";
    int timeout_ms = 10000;
    // Calls to Razorpay at once per host, and how many more may wait (1 s)
    // for a place; beyond, 503 busy. A hanging Razorpay so holds at most
    // their sum of the host's workers (default: a quarter of OMS_WORKERS each).
    int max_concurrent_calls = 2;
    int max_waiting_calls = 2;
    std::string ca_file;
};

// Reads and validates the settings; throws oms::Error(bad_config) naming the setting.
Settings load_settings();

// "https://host:port/v1" → its parts; throws std::invalid_argument unless it is
// https, or http to a loopback host.
struct ApiBase {
    bool https = true;
    std::string host;
    unsigned short port = 443;
    std::string path;  // without a trailing slash, e.g. "/v1"
};
ApiBase parse_api_base(const std::string& url);

}  // namespace payments

namespace payments {
// The settings loaded at start-up (set once by setup, then only read).
const Settings& settings();
void set_settings(Settings s);
}  // namespace payments
