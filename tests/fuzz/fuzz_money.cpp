// Money: a JSON amount and a currency code from the input. An accepted amount
// is exact — written back in major units it parses to the same minor units.
#include <oms/money.hpp>

#include <string>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string in(reinterpret_cast<const char*>(data), size);
    auto bar = in.find('|');  // "INR|99.99"
    std::string currency = bar == std::string::npos ? "INR" : in.substr(0, bar);
    auto amount = nlohmann::json::parse(bar == std::string::npos ? in : in.substr(bar + 1), nullptr, false);
    if (amount.is_discarded()) return 0;
    auto parsed = oms::money::parse_json(amount, currency);
    if (!parsed.ok()) return 0;
    auto back = oms::money::parse_json(oms::money::to_json(parsed.minor, currency), currency);
    if (!back.ok() || back.minor != parsed.minor) __builtin_trap();
    return 0;
}
