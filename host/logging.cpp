#include "logging.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <chrono>
#include <ctime>

namespace oms::host {
namespace {

class JsonFormatter final : public spdlog::formatter {
public:
    void format(const spdlog::details::log_msg& msg, spdlog::memory_buf_t& dest) override {
        using namespace std::chrono;
        auto t = system_clock::to_time_t(msg.time);
        auto ms = duration_cast<milliseconds>(msg.time.time_since_epoch()).count() % 1000;
        std::tm tm{};
        gmtime_r(&t, &tm);
        char ts[40];
        size_t n = std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
        std::snprintf(ts + n, sizeof ts - n, ".%03dZ", static_cast<int>(ms));

        std::string_view payload(msg.payload.data(), msg.payload.size());
        std::string out = "{\"time\":\"";
        out += ts;
        out += "\",\"level\":\"";
        auto lvl = spdlog::level::to_string_view(msg.level);
        out.append(lvl.data(), lvl.size());
        out += "\",";
        if (payload.size() >= 2 && payload.front() == '{' && payload.back() == '}') {
            out.append(payload.substr(1));  // already a JSON object: merge its fields
        } else {
            out += "\"msg\":";
            out += nlohmann::json(std::string(payload)).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
            out += '}';
        }
        out += '\n';
        dest.append(out.data(), out.data() + out.size());
    }
    std::unique_ptr<spdlog::formatter> clone() const override { return std::make_unique<JsonFormatter>(); }
};

}  // namespace

void setup_logging(const std::string& level, bool json) {
    auto logger = std::make_shared<spdlog::logger>("oms", std::make_shared<spdlog::sinks::stdout_sink_mt>());
    if (json) logger->set_formatter(std::make_unique<JsonFormatter>());
    else logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
    logger->set_level(spdlog::level::from_str(level));
    logger->flush_on(spdlog::level::info);
    spdlog::set_default_logger(logger);
}

}  // namespace oms::host
