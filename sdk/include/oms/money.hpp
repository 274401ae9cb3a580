// Money as integer minor units (paise, cents), never floating point.
//
// JSON carries amounts in major units ("price": 99.99). nlohmann parses that
// into the nearest double; the shortest decimal that round-trips to the same
// double (std::to_chars) is exactly the text the client sent for any amount of
// up to 15 significant digits, so the conversion below is exact: 99.99 → 9999.
// More decimals than the currency has (99.999 INR) are refused, not rounded.
#pragma once

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#if defined(__GNUC__) || defined(__clang__)
#pragma GCC visibility push(hidden)
#endif

namespace oms::money {

// The currencies OMS accepts and their ISO 4217 minor-unit digits. The host's
// SQL helper oms_money_json (migrations/0004) has the same table; a test
// holds the two together.
struct Currency {
    const char* code;
    int digits;
};
inline constexpr Currency kCurrencies[] = {
    {"INR", 2}, {"USD", 2}, {"EUR", 2}, {"GBP", 2}, {"AUD", 2}, {"CAD", 2}, {"SGD", 2}, {"AED", 2},
    {"CHF", 2}, {"CNY", 2}, {"HKD", 2}, {"MYR", 2}, {"NZD", 2}, {"SEK", 2}, {"ZAR", 2}, {"NPR", 2},
    {"LKR", 2}, {"BDT", 2}, {"JPY", 0}, {"KRW", 0}, {"VND", 0}, {"KWD", 3}, {"BHD", 3}, {"OMR", 3},
};

// Minor-unit digits of an accepted currency; nullopt otherwise.
inline std::optional<int> minor_digits(std::string_view currency) {
    for (const auto& c : kCurrencies)
        if (currency == c.code) return c.digits;
    return std::nullopt;
}

// Largest amount accepted, in minor units: keeps every value exact in a double
// (for JSON output) and far from int64 overflow when lines are summed.
inline constexpr int64_t kMaxMinor = 1'000'000'000'000'000LL;  // 10^15

// Why a value is not an amount, for a validation message; empty when it is.
struct Parsed {
    int64_t minor = 0;
    std::string error;
    bool ok() const { return error.empty(); }
};

// A decimal string ("99.99", "100", "0.5") in major units → minor units.
inline Parsed parse_decimal(std::string_view text, std::string_view currency) {
    auto digits = minor_digits(currency);
    if (!digits) return {0, "has an unsupported currency"};
    if (text.empty()) return {0, "must be an amount"};
    if (text.front() == '-') return {0, "must not be negative"};
    size_t dot = text.find('.');
    std::string_view whole = text.substr(0, dot);
    std::string_view frac = dot == std::string_view::npos ? std::string_view{} : text.substr(dot + 1);
    if (whole.empty() || (dot != std::string_view::npos && frac.empty())) return {0, "must be an amount"};
    for (char c : whole)
        if (c < '0' || c > '9') return {0, "must be an amount"};
    for (char c : frac)
        if (c < '0' || c > '9') return {0, "must be an amount"};
    while (!frac.empty() && frac.back() == '0') frac.remove_suffix(1);  // 10.50 is 10.5
    if (static_cast<int>(frac.size()) > *digits)
        return {0, "has more than " + std::to_string(*digits) + " decimal places for " + std::string(currency)};
    if (whole.size() > 15) return {0, "is too large"};
    int64_t minor = 0;
    for (char c : whole) minor = minor * 10 + (c - '0');
    for (int i = 0; i < *digits; ++i) minor = minor * 10 + (i < static_cast<int>(frac.size()) ? frac[i] - '0' : 0);
    if (minor > kMaxMinor) return {0, "is too large"};
    return {minor, {}};
}

// A JSON number in major units → minor units (strings are refused: amounts are numbers).
inline Parsed parse_json(const nlohmann::json& value, std::string_view currency) {
    if (value.is_number_unsigned() || value.is_number_integer()) {
        if (value.is_number_integer() && value.get<int64_t>() < 0) return {0, "must not be negative"};
        return parse_decimal(std::to_string(value.get<uint64_t>()), currency);
    }
    if (!value.is_number_float()) return {0, "must be a number"};
    double d = value.get<double>();
    if (!(d >= 0)) return {0, "must not be negative"};  // also NaN
    if (d >= 1e15) return {0, "is too large"};
    char buf[64];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::fixed);
    if (ec != std::errc()) return {0, "must be an amount"};
    return parse_decimal(std::string_view(buf, static_cast<size_t>(end - buf)), currency);
}

// Minor units → a JSON number in major units (9999 INR → 99.99).
inline nlohmann::json to_json(int64_t minor, std::string_view currency) {
    int digits = minor_digits(currency).value_or(2);
    if (digits == 0) return minor;
    int64_t scale = 1;
    for (int i = 0; i < digits; ++i) scale *= 10;
    if (minor % scale == 0) return minor / scale;  // 100, not 100.0
    std::string text = std::to_string(minor / scale) + ".";
    std::string frac = std::to_string(minor % scale);
    text += std::string(static_cast<size_t>(digits) - frac.size(), '0') + frac;
    // The nearest double (printed back shortest, it is `text` again). Parsed
    // by nlohmann, not std::from_chars: libc++ has no floating-point from_chars.
    return nlohmann::json::parse(text);
}

}  // namespace oms::money

#if defined(__GNUC__) || defined(__clang__)
#pragma GCC visibility pop
#endif
