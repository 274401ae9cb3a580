// Test-only tools run offline with node (the OpenAPI and AsyncAPI validators):
// each lives in <build>/<name>, installed by `npm ci` from the package.json and
// lock file of a folder in the source tree, and again only when that lock file
// changes. Plus the small file and PATH helpers the suites using them share.
#pragma once

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "common.hpp"

namespace omstest {

// The build directory (the parent of the stock plugins' folder).
inline std::filesystem::path build_dir() {
    return std::filesystem::path(env_or_fail("OMS_PLUGIN_BUILD_DIR")).parent_path();
}

// An executable on PATH, or "" (HostProcess runs absolute paths only).
inline std::string which(const std::string& name) {
    const char* path = std::getenv("PATH");
    std::stringstream dirs(path ? path : "/usr/bin:/bin");
    for (std::string d; std::getline(dirs, d, ':');)
        if (!d.empty() && ::access((std::filesystem::path(d) / name).c_str(), X_OK) == 0)
            return (std::filesystem::path(d) / name).string();
    return "";
}

inline std::string read_file(const std::filesystem::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

inline void write_file(const std::filesystem::path& p, const std::string& text) { std::ofstream(p) << text; }

// Installs the tool of source folder `src` (package.json, package-lock.json,
// validate.mjs, optional .npmrc) into <build>/<name>; `installed_marker` is a
// file under node_modules that exists once it is. Sets `dir`. Returns "" when
// ready, else why not (the test fails with it). Install scripts never run.
inline std::string install_node_tool(const std::filesystem::path& src, const std::string& name,
                                     const std::string& installed_marker, std::filesystem::path& dir) {
    namespace fs = std::filesystem;
    using namespace std::chrono_literals;
    dir = build_dir() / name;
    fs::create_directories(dir);
    for (const char* f : {"package.json", "validate.mjs", ".npmrc"})
        if (fs::exists(src / f)) fs::copy_file(src / f, dir / f, fs::copy_options::overwrite_existing);
    std::string lock = read_file(src / "package-lock.json");
    if (fs::exists(dir / "node_modules" / installed_marker) && read_file(dir / "package-lock.json") == lock) return "";
    std::string npm = which("npm");
    if (npm.empty() || which("node").empty())
        return "node and npm are needed for " + name + " (Debian packages nodejs and npm: ./dev deps)";
    write_file(dir / "package-lock.json", lock);
    auto r = HostProcess::run({"ci", "--prefix", dir.string(), "--no-audit", "--no-fund", "--ignore-scripts", "--cache",
                               (dir / ".npm-cache").string(), "--fetch-retries=1", "--fetch-timeout=30000"},
                              {}, 300s, "", npm);
    if (r.exit_code != 0) {
        fs::remove(dir / "package-lock.json");  // try again next time
        return "`npm ci` could not install " + name + " into " + dir.string() +
               " (is the npm registry reachable?); exit " + std::to_string(r.exit_code) + ":\n" + r.out + r.err;
    }
    return "";
}

}  // namespace omstest
