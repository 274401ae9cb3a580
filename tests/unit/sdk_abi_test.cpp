// abi.h's promise, SDK side (issue 13, item 18): a plugin built with this SDK
// starts on a host of ABI 1.0 — a function table that ends where 1.0's did —
// when it uses nothing newer, and refuses with abi_mismatch, naming what it
// needs, when it does. The "host" here is a table of stubs that records what
// the plugin registers.
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cstddef>
#include <string>
#include <vector>

#include "runtime.hpp"  // the host's oms_error

namespace {

struct Registered {
    std::vector<std::string> routes, subscriptions, services, jobs, commands;
    int migrations = 0;
};
Registered registered;
// Static: the plugin's per-thread error slot is freed through the table at thread exit.
oms_host_api host;

oms_str str(const std::string& s) { return {s.data(), s.size()}; }
std::string text(oms_str s) { return s.data ? std::string(s.data, s.len) : std::string(); }

// Only ABI 1.0's functions, and only those a plugin's init may call.
oms_host_api abi_10_host() {
    oms_host_api h{};
    h.abi_major = 1;
    h.abi_minor = 0;
    h.struct_size = offsetof(oms_host_api, error_add_header) + sizeof(h.error_add_header);
    h.register_route = [](oms_plugin*, const oms_route_def* d, oms_error*) {
        registered.routes.push_back(std::string(d->method) + " " + d->path);
        return OMS_OK;
    };
    h.register_migration = [](oms_plugin*, const oms_migration_def*, oms_error*) {
        ++registered.migrations;
        return OMS_OK;
    };
    h.subscribe = [](oms_plugin*, const oms_subscription_def* d, oms_error*) {
        registered.subscriptions.push_back(d->event);
        return OMS_OK;
    };
    h.register_service = [](oms_plugin*, const oms_service_def* d, oms_error*) {
        registered.services.push_back(d->name);
        return OMS_OK;
    };
    h.register_job = [](oms_plugin*, const oms_job_def* d, oms_error*) {
        registered.jobs.push_back(d->name);
        return OMS_OK;
    };
    h.register_command = [](oms_plugin*, const oms_command_def* d, oms_error*) {
        registered.commands.push_back(d->name);
        return OMS_OK;
    };
    h.config_get = [](oms_plugin*, oms_str) { return oms_str{nullptr, 0}; };
    h.log = [](oms_plugin*, int, oms_str) {};
    h.error_new = [] { return new oms_error(); };
    h.error_free = [](oms_error* e) { delete e; };
    h.error_set = [](oms_error* e, int status, oms_str code, oms_str detail) {
        e->status = status;
        e->code = text(code);
        e->detail = text(detail);
    };
    h.error_add_field = [](oms_error* e, oms_str f, oms_str m) { e->fields.emplace_back(text(f), text(m)); };
    h.error_status = [](const oms_error* e) { return e->status; };
    h.error_code = [](const oms_error* e) { return str(e->code); };
    h.error_detail = [](const oms_error* e) { return str(e->detail); };
    h.error_sqlstate = [](const oms_error* e) { return str(e->sqlstate); };
    h.error_field_count = [](const oms_error* e) { return e->fields.size(); };
    h.error_field = [](const oms_error* e, size_t i, oms_str* f, oms_str* m) {
        *f = str(e->fields[i].first);
        *m = str(e->fields[i].second);
    };
    h.error_add_header = [](oms_error*, oms_str, oms_str) {};
    return h;
}

struct Loaded {
    void* dl = nullptr;
    const oms_plugin_descriptor* descriptor = nullptr;
    explicit Loaded(const std::string& name) {
        std::string path = std::string(OMS_TEST_PLUGIN_DIR) + "/" + name + ".so";
        dl = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
        if (!dl) return;
        auto entry = reinterpret_cast<oms_plugin_entry_fn>(dlsym(dl, OMS_PLUGIN_ENTRY_SYMBOL));
        if (entry) descriptor = entry();
    }
    ~Loaded() {
        if (descriptor && descriptor->shutdown) descriptor->shutdown();
        if (dl) dlclose(dl);
    }
};

}  // namespace

TEST(SdkOnAnOlderHost, APluginUsingNothingNewStartsOnAnAbi10Host) {
    registered = {};
    Loaded plugin("probe_consumer");
    ASSERT_NE(plugin.descriptor, nullptr) << dlerror();
    EXPECT_EQ(plugin.descriptor->abi_minor, OMS_ABI_MINOR) << "built against this SDK";
    host = abi_10_host();
    oms_error err;
    ASSERT_EQ(plugin.descriptor->init(&host, nullptr, &err), OMS_OK) << err.code << ": " << err.detail;
    EXPECT_EQ(registered.routes, std::vector<std::string>{"GET /consumer/double/:n"});
    EXPECT_EQ(registered.subscriptions, std::vector<std::string>{"probe.item_created"});
}

TEST(SdkOnAnOlderHost, APluginUsingNewerFacilitiesRefusesAnAbi10HostNamingWhatItNeeds) {
    registered = {};
    Loaded plugin("probe");
    ASSERT_NE(plugin.descriptor, nullptr) << dlerror();
    host = abi_10_host();
    oms_error err;
    EXPECT_EQ(plugin.descriptor->init(&host, nullptr, &err), OMS_FAIL);
    EXPECT_EQ(err.code, "abi_mismatch");
    // The probe subscribes after commit and runs tasks: the first one met is named.
    EXPECT_TRUE(err.detail.find("tasks") != std::string::npos || err.detail.find("after commit") != std::string::npos)
        << err.detail;
    EXPECT_NE(err.detail.find("1.2"), std::string::npos) << err.detail;
    EXPECT_FALSE(registered.routes.empty()) << "what a 1.0 host offers was registered before the refusal";
}

TEST(SdkOnAnOlderHost, AHostWithoutEvenAbi10sTableIsRefused) {
    Loaded plugin("probe_consumer");
    ASSERT_NE(plugin.descriptor, nullptr) << dlerror();
    host = abi_10_host();
    host.struct_size = offsetof(oms_host_api, error_add_header);  // one function short of 1.0
    oms_error err;
    EXPECT_EQ(plugin.descriptor->init(&host, nullptr, &err), OMS_FAIL);
    EXPECT_EQ(err.code, "abi_mismatch");
}
