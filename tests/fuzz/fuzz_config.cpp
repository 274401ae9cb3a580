// .env / config-file text, and every setting the host validates from it: a
// bad value is a ConfigError (one line, exit 2), never anything else.
#include <string>

#include "config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    std::map<std::string, std::string> values;
    try {
        values = oms::host::parse_env_text(text, ".env");
    } catch (const oms::host::ConfigError&) {
        return 0;
    }
    oms::host::parse_duration_seconds(text);
    try {
        auto cfg = oms::host::Config::from_map(values);
        cfg.validate_for_serving();
    } catch (const oms::host::ConfigError&) {
    }
    return 0;
}
