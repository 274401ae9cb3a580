// A plugin as SDK 1.2 built it, written against the C boundary alone: it
// declares no contracts (ABI 1.3 did not exist), offers the caller resolver
// under its old name "auth.resolve_caller" with a 1.0-sized service
// definition, subscribes to an event nobody declares and publishes one. The
// host must keep all of it working: the old name still answers who a token's
// subject is (sub "promote-me" is an admin, "gone" no longer exists), the
// subscription only warns, and the undeclared publish passes the checks.
#include <oms/abi.h>

#include <cstddef>
#include <cstring>
#include <string_view>

namespace {

const oms_host_api* host = nullptr;

oms_str str(const char* s) { return oms_str{s, std::strlen(s)}; }

int resolve(void*, oms_tx*, oms_str args, oms_buffer* out, oms_error* err) {
    std::string_view given(args.data, args.len);
    const char* answer = R"({"user_id":"someone","role":"customer"})";
    if (given.find("\"promote-me\"") != std::string_view::npos) answer = R"({"user_id":"promote-me","role":"admin"})";
    else if (given.find("\"gone\"") != std::string_view::npos) answer = nullptr;
    if (!answer) {
        host->error_set(err, 401, str("unauthorized"), str("Unknown user."));
        return OMS_FAIL;
    }
    host->buffer_append(out, str(answer));
    return OMS_OK;
}

int on_event(void*, oms_tx*, oms_str, oms_str, oms_error*) { return OMS_OK; }

int publish_route(void*, oms_request* req, oms_response* resp, oms_error* err) {
    oms_tx* tx = nullptr;
    if (host->request_tx(req, &tx, err) != OMS_OK) return OMS_FAIL;
    if (host->event_publish(tx, str("legacy.happened"), str("{\"n\":1}"), err) != OMS_OK) return OMS_FAIL;
    host->response_set_body(resp, str("{\"published\":\"legacy.happened\"}"), str("application/json"));
    return OMS_OK;
}

int init(const oms_host_api* h, oms_plugin* self, oms_error* err) {
    host = h;
    oms_service_def service{};
    service.struct_size = offsetof(oms_service_def, args_schema);  // as SDK 1.2 built it
    service.name = "auth.resolve_caller";
    service.handler = &resolve;
    service.description = "Who a token's subject is (the name before ABI 1.3)";
    if (h->register_service(self, &service, err) != OMS_OK) return OMS_FAIL;
    oms_subscription_def sub{};
    sub.struct_size = sizeof sub;
    sub.event = "nobody.legacy";
    sub.handler = &on_event;
    if (h->subscribe(self, &sub, err) != OMS_OK) return OMS_FAIL;
    oms_route_def route{};
    route.struct_size = sizeof route;
    route.method = "POST";
    route.path = "/legacy/publish";
    route.handler = &publish_route;
    route.summary = "Publishes legacy.happened, which nobody declares";
    return h->register_route(self, &route, err);
}

}  // namespace

extern "C" OMS_EXPORT const oms_plugin_descriptor* oms_plugin_entry(void) {
    static const oms_plugin_descriptor descriptor = {
        OMS_ABI_MAJOR, 2u, sizeof(oms_plugin_descriptor), "legacy_resolver", "1.0.0",
        "Test plugin: an SDK 1.2 plugin offering auth.resolve_caller", nullptr, &init, nullptr,
    };
    return &descriptor;
}
