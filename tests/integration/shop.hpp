// Helpers for suites that drive the real plugins like a storefront does: a
// plugin folder for the host, unique names, signed-up users, requests with a
// bearer token.
#pragma once

#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <string>
#include <vector>

#include "common.hpp"

namespace omstest {

// "tag-<pid>-<n>", different on every call in this process.
inline std::string unique(const std::string& tag) {
    static std::atomic<int> counter{0};
    return tag + "-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
}

// The plugins this build made (file names in OMS_PLUGIN_BUILD_DIR, e.g. "users.so").
inline std::vector<std::string> built_plugins() {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(env_or_fail("OMS_PLUGIN_BUILD_DIR")))
        if (e.path().extension() == ".so") out.push_back(e.path().filename().string());
    return out;
}

// A host's OMS_PLUGIN_DIR is one folder: a temporary one with links to the
// named plugins ("users.so"), looked up among the build's real plugins, then
// the test plugins; `extra` are paths of other .so files (an example's).
class PluginDir {
public:
    explicit PluginDir(const std::vector<std::string>& plugins, const std::vector<std::string>& extra = {}) {
        namespace fs = std::filesystem;
        char tmpl[] = "/tmp/oms-plugins-XXXXXX";
        if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
        path_ = tmpl;
        fs::path real = env_or_fail("OMS_PLUGIN_BUILD_DIR"), test = env_or_fail("OMS_TEST_PLUGIN_DIR");
        for (const auto& name : plugins) {
            fs::path from = fs::exists(real / name) ? real / name : test / name;
            if (!fs::exists(from)) throw std::runtime_error("no plugin " + name + " in " + real.string() + " or " + test.string());
            fs::create_symlink(from, fs::path(path_) / name);
        }
        for (const auto& file : extra) {
            if (!fs::exists(file)) throw std::runtime_error(file + " is missing");
            fs::create_symlink(file, fs::path(path_) / fs::path(file).filename());
        }
    }
    ~PluginDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    PluginDir(const PluginDir&) = delete;
    PluginDir& operator=(const PluginDir&) = delete;
    const std::string& path() const { return path_; }

private:
    std::string path_;
};

inline HeaderList with_auth(const std::string& token, HeaderList extra = {}) {
    if (!token.empty()) extra.emplace_back("Authorization", "Bearer " + token);
    return extra;
}
inline HttpResponse post(int port, const std::string& path, const nlohmann::json& body, const std::string& token = "",
                         HeaderList extra = {}) {
    return http_post_json(port, path, body, with_auth(token, std::move(extra)));
}
inline HttpResponse get(int port, const std::string& path, const std::string& token) {
    return http_get(port, path, with_auth(token));
}

struct User {
    std::string id, email, token;
};

// A new customer account, logged in.
inline User sign_up(int port, const std::string& tag) {
    User u;
    u.email = unique(tag) + "@example.com";
    const std::string password = "correct horse battery";
    auto created = post(port, "/users/create", {{"name", tag}, {"email", u.email}, {"password", password}});
    if (created.status != 201) throw std::runtime_error("sign-up failed: " + created.body);
    u.id = created.json()["id"];
    auto login = post(port, "/users/login", {{"email", u.email}, {"password", password}});
    if (login.status != 200) throw std::runtime_error("login failed: " + login.body);
    u.token = login.json()["token"];
    return u;
}

}  // namespace omstest
