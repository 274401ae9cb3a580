// A plugin as a newer SDK (a pretend ABI 1.9) would build it, written against
// the C boundary alone: its descriptor and every definition it hands over are
// longer than this host's (fields a later minor appended), and its command
// options are stepped by a larger size. It uses nothing this host lacks, so
// the host must load it, reading only the fields it knows (abi.h's rule).
// FUTURE_TRUNCATED=1 instead hands over a route definition shorter than ABI
// 1.0's, which the host must refuse by name rather than read past.
#include <oms/abi.h>

#include <cstdio>
#include <cstring>

namespace {

const oms_host_api* host = nullptr;

// "1.9" layouts: the 1.x struct first, then what a later minor appended.
struct FutureDescriptor {
    oms_plugin_descriptor base;
    const char* added_in_1_9;
};
struct FutureRoute {
    oms_route_def base;
    const char* added_in_1_9;
    unsigned long long more_added_in_1_9;
};
struct FutureOption {
    oms_option_def base;
    const char* added_in_1_9;
};
struct FutureCommand {
    oms_command_def base;
    const char* added_in_1_9;
};

oms_str str(const char* s) { return oms_str{s, std::strlen(s)}; }

int hello_route(void*, oms_request*, oms_response* resp, oms_error*) {
    host->response_set_body(resp, str("{\"abi\":\"1.9\"}"), str("application/json"));
    return OMS_OK;
}

int hello_command(void*, const oms_command_args* args, oms_error*) {
    oms_str name = host->command_arg(args, str("name"));
    oms_str shout = host->command_arg(args, str("shout"));
    std::printf("hello %.*s%s\n", static_cast<int>(name.len), name.data, shout.data ? "!" : "");
    return OMS_OK;
}

FutureOption options[] = {
    {{"name", "who to greet", OMS_OPTION_REQUIRED}, "1.9 option field"},
    {{"shout", "greet loudly", OMS_OPTION_FLAG}, "1.9 option field"},
};

int init(const oms_host_api* h, oms_plugin* self, oms_error* err) {
    host = h;
    oms_str truncated = h->config_get(self, str("FUTURE_TRUNCATED"));
    FutureRoute route{};
    route.base.struct_size = sizeof route;
    route.base.method = "GET";
    route.base.path = "/future";
    route.base.flags = OMS_ROUTE_PUBLIC;
    route.base.handler = hello_route;
    route.base.summary = "Answers from a plugin built against a newer minor";
    route.added_in_1_9 = "ignored by a 1.2 host";
    route.more_added_in_1_9 = ~0ull;
    if (truncated.data && truncated.len == 1 && truncated.data[0] == '1')
        route.base.struct_size = offsetof(oms_route_def, flags);  // shorter than ABI 1.0's
    if (h->register_route(self, &route.base, err) != OMS_OK) return OMS_FAIL;

    FutureCommand command{};
    command.base.struct_size = sizeof command;
    command.base.name = "hello";
    command.base.help = "Greets";
    command.base.options = &options[0].base;
    command.base.option_count = 2;
    command.base.handler = hello_command;
    command.base.option_size = sizeof(FutureOption);
    command.added_in_1_9 = "ignored by a 1.2 host";
    return h->register_command(self, &command.base, err);
}

}  // namespace

extern "C" OMS_EXPORT const oms_plugin_descriptor* oms_plugin_entry(void) {
    static const char* const no_dependencies[] = {nullptr};
    static const FutureDescriptor d = {
        {OMS_ABI_MAJOR, 9, sizeof(FutureDescriptor), "future_abi", "1.0.0", "built against a pretend ABI 1.9",
         no_dependencies, init, nullptr},
        "ignored by a 1.2 host"};
    return &d.base;
}
