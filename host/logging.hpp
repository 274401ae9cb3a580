// spdlog set-up: one JSON object per line (LOG_FORMAT=json) or plain text.
// A message that is itself a JSON object (the access log) is merged into the line.
#pragma once

#include <string>

namespace oms::host {

void setup_logging(const std::string& level, bool json);

}  // namespace oms::host
