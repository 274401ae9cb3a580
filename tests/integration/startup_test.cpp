// Start-up refusals: each bad plugin set or configuration stops the host
// with exit code 2 and one clear line on stderr.
#include <filesystem>

#include "common.hpp"

using namespace omstest;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

struct Refusal {
    int exit_code;
    std::string line;
};

Refusal refuse(const TestDatabase& db, std::map<std::string, std::string> env, std::vector<std::string> args = {"serve"}) {
    auto r = HostProcess::run(args, host_env(db, std::move(env)), 30s);
    std::string err = r.err;
    while (!err.empty() && err.back() == '\n') err.pop_back();
    EXPECT_EQ(err.find('\n'), std::string::npos) << "expected one line, got:\n" << r.err;
    return {r.exit_code, err};
}

// A folder holding copies of the given test plugins.
struct PluginDir {
    fs::path path;
    explicit PluginDir(const std::vector<std::pair<std::string, std::string>>& copies) {
        path = fs::temp_directory_path() / ("oms-plugins-" + std::to_string(::getpid()) + "-" +
                                            std::to_string(reinterpret_cast<uintptr_t>(this)));
        fs::create_directories(path);
        for (const auto& [from, to] : copies) fs::copy_file(from, path / to);
    }
    ~PluginDir() { fs::remove_all(path); }
};

std::string test_plugin(const std::string& name) { return env_or_fail("OMS_TEST_PLUGIN_DIR") + "/" + name + ".so"; }

}  // namespace

TEST(Startup, PluginOfAnotherAbiMajorIsRefusedByName) {
    TestDatabase db;
    auto r = refuse(db, {{"OMS_PLUGIN_DIR", env_or_fail("OMS_BAD_PLUGIN_DIR")}});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.line.find("abi_mismatch.so"), std::string::npos) << r.line;
    EXPECT_NE(r.line.find("ABI 2.0"), std::string::npos) << r.line;
    EXPECT_NE(r.line.find("this host provides ABI 1."), std::string::npos) << r.line;
}

// abi.h's promise, host side (issue 13, item 18): a plugin built against a
// newer minor loads when it uses nothing this host lacks; the host reads only
// the fields it knows of its longer definitions, and steps through command
// options by the plugin's own size.
TEST(Startup, APluginBuiltAgainstANewerMinorLoadsWhenItUsesNothingNew) {
    TestDatabase db;
    std::map<std::string, std::string> env = {{"OMS_PLUGIN_DIR", env_or_fail("OMS_FUTURE_PLUGIN_DIR")}};
    auto host = start_host(db, env);
    ASSERT_NE(host, nullptr);
    auto r = http_get(host->port(), "/future");
    ASSERT_EQ(r.status, 200) << r;
    EXPECT_EQ(r.json()["abi"], "1.9");
    auto plugins = HostProcess::run({"plugins"}, host_env(db, env));
    EXPECT_NE(plugins.out.find("1.9"), std::string::npos) << plugins.out;
    auto hello = HostProcess::run({"future_abi", "hello", "--name", "Ada", "--shout"}, host_env(db, env));
    EXPECT_EQ(hello.exit_code, 0) << hello.err;
    EXPECT_EQ(hello.out, "hello Ada!\n") << hello.err;
}

TEST(Startup, ADefinitionShorterThanItsFirstVersionIsRefusedByName) {
    TestDatabase db;
    auto r = refuse(db, {{"OMS_PLUGIN_DIR", env_or_fail("OMS_FUTURE_PLUGIN_DIR")}, {"FUTURE_TRUNCATED", "1"}});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.line.find("future_abi"), std::string::npos) << r.line;
    EXPECT_NE(r.line.find("shorter than its first version"), std::string::npos) << r.line;
}

// OMS_PLUGIN_DIR is a list of folders, like PATH (issue 19, item 4).
TEST(Startup, PluginFoldersAreAColonSeparatedList) {
    TestDatabase db;
    PluginDir first({{test_plugin("probe"), "probe.so"}});
    PluginDir second({{test_plugin("probe_consumer"), "probe_consumer.so"}});
    std::string list = first.path.string() + ":" + second.path.string();
    auto host = start_host(db, {{"OMS_PLUGIN_DIR", list}});
    ASSERT_NE(host, nullptr);
    auto r = http_get(host->port(), "/consumer/double/21");
    ASSERT_EQ(r.status, 200) << r;
    EXPECT_EQ(r.json()["doubled"], 42);
    // Naming plugins looks through every folder.
    auto named = start_host(db, {{"OMS_PLUGIN_DIR", list}, {"OMS_PLUGINS", "probe,probe_consumer"}});
    ASSERT_NE(named, nullptr);
    EXPECT_EQ(http_get(named->port(), "/consumer/double/1").status, 200);
}

TEST(Startup, AMissingPluginFolderIsRefusedNotServedEmpty) {
    TestDatabase db;
    PluginDir real({{test_plugin("probe"), "probe.so"}});
    auto r = refuse(db, {{"OMS_PLUGIN_DIR", real.path.string() + ":/nonexistent/oms-plugins"}});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.line.find("/nonexistent/oms-plugins"), std::string::npos) << r.line;
    EXPECT_NE(r.line.find("does not exist"), std::string::npos) << r.line;
}

TEST(Startup, OnePluginInTwoFoldersIsRefused) {
    TestDatabase db;
    PluginDir first({{test_plugin("probe"), "probe.so"}});
    PluginDir second({{test_plugin("probe"), "probe.so"}});
    auto r = refuse(db, {{"OMS_PLUGIN_DIR", first.path.string() + ":" + second.path.string()}});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.line.find("provided twice"), std::string::npos) << r.line;
    auto named = refuse(db, {{"OMS_PLUGIN_DIR", first.path.string() + ":" + second.path.string()},
                             {"OMS_PLUGINS", "probe"}});
    EXPECT_EQ(named.exit_code, 2);
    EXPECT_NE(named.line.find("provided twice"), std::string::npos) << named.line;
}

TEST(Startup, MissingDependencyIsRefused) {
    TestDatabase db;
    auto r = refuse(db, {{"OMS_PLUGINS", "probe_consumer"}});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.line.find("probe_consumer"), std::string::npos) << r.line;
    EXPECT_NE(r.line.find("'probe'"), std::string::npos) << r.line;
}

TEST(Startup, DuplicatePluginIsRefused) {
    TestDatabase db;
    PluginDir dir({{test_plugin("probe"), "probe.so"}, {test_plugin("probe"), "probe_again.so"}});
    auto r = refuse(db, {{"OMS_PLUGIN_DIR", dir.path.string()}});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.line.find("provided twice"), std::string::npos) << r.line;
}

TEST(Startup, ConflictingRouteIsRefused) {
    TestDatabase db;
    PluginDir dir({{test_plugin("probe"), "probe.so"},
                   {env_or_fail("OMS_BAD_PLUGIN_DIR") + "/route_conflict.so", "route_conflict.so"}});
    auto r = refuse(db, {{"OMS_PLUGIN_DIR", dir.path.string()}});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.line.find("/probe/items/:id"), std::string::npos) << r.line;
    EXPECT_NE(r.line.find("route_conflict"), std::string::npos) << r.line;
}

TEST(Startup, UnknownPluginInTheListIsRefused) {
    TestDatabase db;
    auto r = refuse(db, {{"OMS_PLUGINS", "probe,nonexistent"}});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.line.find("nonexistent"), std::string::npos) << r.line;
}

TEST(Startup, BadConfigurationIsRefusedWithOneLine) {
    TestDatabase db;
    auto port = refuse(db, {{"PORT", "eighty"}});
    EXPECT_EQ(port.exit_code, 2);
    EXPECT_NE(port.line.find("PORT"), std::string::npos) << port.line;

    auto prod = refuse(db, {{"OMS_ENV", "production"}, {"JWT_SECRET", "short"}});
    EXPECT_EQ(prod.exit_code, 2);
    EXPECT_NE(prod.line.find("JWT_SECRET"), std::string::npos) << prod.line;

    auto url = refuse(db, {{"DATABASE_URL", "mysql://nope"}});
    EXPECT_EQ(url.exit_code, 2);
    EXPECT_NE(url.line.find("DATABASE_URL"), std::string::npos) << url.line;

    auto file = refuse(db, {{"OMS_CONFIG", "/nonexistent/oms.conf"}});
    EXPECT_EQ(file.exit_code, 2);
    EXPECT_NE(file.line.find("/nonexistent/oms.conf"), std::string::npos) << file.line;
}

TEST(Startup, ReadyQuicklyOnAMigratedDatabase) {
    TestDatabase db;
    ASSERT_EQ(HostProcess::run({"migrate"}, host_env(db)).exit_code, 0);
    auto t0 = std::chrono::steady_clock::now();
    HostProcess host({"serve"}, host_env(db));
    ASSERT_TRUE(host.wait_ready()) << host.log();
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count();
    EXPECT_LT(ms, 2000) << "start-up took " << ms << " ms";
    RecordProperty("ready_ms", static_cast<int>(ms));
}

TEST(Startup, APortInUseIsRefusedWithOneLine) {
    TestDatabase db;
    auto first = start_host(db);
    ASSERT_NE(first, nullptr);
    auto r = refuse(db, {{"PORT", std::to_string(first->port())}});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.line.find("cannot listen on 127.0.0.1:" + std::to_string(first->port())), std::string::npos) << r.line;
}
