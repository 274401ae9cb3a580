// A host start and stop with all four plugins loaded, serving a little of
// everything in between, leaks nothing: under valgrind (memcheck, definite
// leaks and memory errors fail) in the normal build, and under LeakSanitizer
// in the ASan build (whose host reports leaks at exit with a non-zero status).
#include <unistd.h>

#include "common.hpp"
#include "shop.hpp"

using namespace omstest;
using namespace std::chrono_literals;

namespace {

bool sanitized_build() {
#if defined(__SANITIZE_ADDRESS__)
    return true;
#else
    return false;
#endif
}

}  // namespace

TEST(Leaks, AHostStartAndStopWithAllPluginsLeaksNothing) {
    TestDatabase db;
    PluginDir plugins({"users.so", "inventory.so", "orders.so", "payments.so"});
    auto env = host_env(db, {{"OMS_PLUGIN_DIR", plugins.path()}, {"RAZORPAY_WEBHOOK_SECRET", "leak-test"},
                             {"OMS_WORKERS", "2"}, {"OMS_ARGON2_MEMORY_KIB", "19456"}});
    ASSERT_EQ(HostProcess::run({"migrate"}, env, 120s).exit_code, 0);

    std::vector<std::string> args;
    std::string binary;
    if (!sanitized_build()) {
        binary = "/usr/bin/valgrind";
        ASSERT_EQ(::access(binary.c_str(), X_OK), 0) << "valgrind is not installed (./dev deps installs it)";
        args = {"--quiet", "--leak-check=full", "--show-leak-kinds=definite", "--errors-for-leak-kinds=definite",
                "--error-exitcode=99", "--num-callers=30", HostProcess::host_binary(), "serve"};
    } else {
        args = {"serve"};
    }
    HostProcess host(args, env, binary);
    ASSERT_TRUE(host.wait_ready(120s)) << host.log();
    int port = host.port();

    User u = sign_up(port, "leaky");
    EXPECT_EQ(get(port, "/users/me", u.token).status, 200);
    EXPECT_EQ(get(port, "/orders", u.token).status, 200);
    EXPECT_EQ(post(port, "/orders", {{"items", {{{"product_id", "7e46c596-b9a5-4410-a927-db03e5fa2724"}, {"quantity", 1}}}}},
                   u.token)
                  .status,
              400);  // unknown product: an error path too
    EXPECT_EQ(http_get(port, "/health").status, 200);
    EXPECT_EQ(http_get(port, "/metrics").status, 200);
    EXPECT_EQ(http_get(port, "/openapi.json").status, 200);
    EXPECT_EQ(http_request(port, "POST", "/payments/webhook", "{}", {{"Content-Type", "application/json"}}).status, 400);

    host.signal(SIGTERM);
    int status = host.wait_exit(120s);
    EXPECT_EQ(status, 0) << "exit " << status << "; the log:\n" << host.log();
}
