// A plugin that claims ABI major 2: the host must refuse it by name.
#include <oms/abi.h>

extern "C" OMS_EXPORT const oms_plugin_descriptor* oms_plugin_entry(void) {
    static const char* const no_dependencies[] = {nullptr};
    static const oms_plugin_descriptor d = {
        2, 0, sizeof(oms_plugin_descriptor), "abi_mismatch", "1.0.0", "declares ABI 2.0", no_dependencies,
        [](const oms_host_api*, oms_plugin*, oms_error*) { return 0; }, [] {}};
    return &d;
}
