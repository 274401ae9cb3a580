// `oms-host inventory import FILE`: upserts products by SKU from a CSV file
// with the header sku,name,price,currency,on_hand (any order; currency may be
// left out, INR for new products). All or nothing: every line is checked
// first, each bad one reported as FILE:LINE: message on stderr, and then
// nothing is changed (exit 2); otherwise one transaction imports them all.
#pragma once

#include <oms/plugin.hpp>

namespace inventory {

void import_command(const oms::CommandArgs& args);

}  // namespace inventory
