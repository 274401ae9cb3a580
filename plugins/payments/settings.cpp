#include "settings.hpp"

#include <oms/plugin.hpp>

#include <algorithm>

#include <Poco/Exception.h>
#include <Poco/URI.h>

#include <cctype>
#include <fstream>
#include <stdexcept>

namespace payments {
namespace {

oms::Error bad_config(const std::string& message) { return oms::Error(500, "bad_config", message); }

bool has_space(const std::string& s) {
    for (unsigned char c : s)
        if (std::isspace(c) || std::iscntrl(c)) return true;
    return false;
}

bool is_loopback(const std::string& host) {
    return host == "127.0.0.1" || host == "localhost" || host == "::1" || host == "[::1]";
}

// A secret or id from the configuration: unset and empty are the same.
std::string setting(const char* key) { return oms::config(key).value_or(""); }

}  // namespace

ApiBase parse_api_base(const std::string& url) {
    Poco::URI uri;
    try {
        uri = Poco::URI(url);
    } catch (const Poco::Exception& e) {
        throw std::invalid_argument("is not a URL (" + e.message() + ")");
    }
    ApiBase out;
    if (uri.getScheme() == "https") out.https = true;
    else if (uri.getScheme() == "http") out.https = false;
    else throw std::invalid_argument("must start with https://");
    out.host = uri.getHost();
    if (out.host.empty()) throw std::invalid_argument("has no host");
    // Credentials in plain HTTP would cross the network readable: only a
    // gateway on this machine (the tests' fake) may be spoken to that way.
    if (!out.https && !is_loopback(out.host))
        throw std::invalid_argument("may use http:// only for 127.0.0.1 or localhost");
    if (!uri.getQuery().empty() || !uri.getFragment().empty() || !uri.getUserInfo().empty())
        throw std::invalid_argument("must not carry credentials, a query or a fragment");
    out.port = uri.getPort();
    out.path = uri.getPath();
    while (!out.path.empty() && out.path.back() == '/') out.path.pop_back();
    return out;
}

Settings load_settings() {
    Settings s;
    s.key_id = setting("RAZORPAY_KEY_ID");
    s.key_secret = setting("RAZORPAY_KEY_SECRET");
    s.webhook_secret = setting("RAZORPAY_WEBHOOK_SECRET");
    s.simulated = s.key_id.empty();
    std::string env = oms::config("OMS_ENV", "development");

    if (s.simulated) {
        if (env == "production")
            throw bad_config("RAZORPAY_KEY_ID is required when OMS_ENV=production (the simulated gateway moves no money)");
    } else {
        if (has_space(s.key_id)) throw bad_config("RAZORPAY_KEY_ID must not contain spaces");
        if (s.key_secret.empty()) throw bad_config("RAZORPAY_KEY_SECRET is required when RAZORPAY_KEY_ID is set");
        if (s.webhook_secret.empty())
            throw bad_config("RAZORPAY_WEBHOOK_SECRET is required when RAZORPAY_KEY_ID is set "
                             "(webhooks are how captures reach us when the browser does not)");
    }

    s.api_base = oms::config("RAZORPAY_API_BASE", s.api_base);
    if (s.api_base.empty()) s.api_base = "https://api.razorpay.com/v1";
    try {
        parse_api_base(s.api_base);
    } catch (const std::invalid_argument& e) {
        throw bad_config("RAZORPAY_API_BASE " + std::string(e.what()) + " (got '" + s.api_base + "')");
    }
    s.timeout_ms = static_cast<int>(oms::config_int("RAZORPAY_TIMEOUT_MS", 10000, 100, 120000));
    int quarter = std::max<int>(1, static_cast<int>(oms::config_int("OMS_WORKERS", 8, 1, 256)) / 4);
    s.max_concurrent_calls = static_cast<int>(oms::config_int("RAZORPAY_MAX_CONCURRENT", quarter, 1, 1024));
    s.max_waiting_calls = static_cast<int>(oms::config_int("RAZORPAY_MAX_WAITING", quarter, 0, 1024));

    s.ca_file = setting("RAZORPAY_CA_FILE");
    if (!s.ca_file.empty() && !std::ifstream(s.ca_file).good())
        throw bad_config("RAZORPAY_CA_FILE cannot be read (got '" + s.ca_file + "')");
    return s;
}

}  // namespace payments

namespace payments {
namespace {
Settings current_settings;
}
const Settings& settings() { return current_settings; }
void set_settings(Settings s) { current_settings = std::move(s); }
}  // namespace payments
