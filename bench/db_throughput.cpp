// Prepared-statement throughput through the host's database layer
// (oms::host::Database: pooled connection, per-connection prepared statement),
// to compare with `pgbench -M prepared` running the same SELECT.
//   db_throughput DATABASE_URL SECONDS THREADS ROWS
#include <atomic>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "db.hpp"

int main(int argc, char** argv) {
    if (argc < 5) {
        std::fprintf(stderr, "usage: db_throughput DATABASE_URL SECONDS THREADS ROWS\n");
        return 2;
    }
    oms::host::Database::Options o;
    o.url = argv[1];
    int seconds = std::atoi(argv[2]), threads = std::atoi(argv[3]), rows = std::atoi(argv[4]);
    o.max_connections = threads;
    oms::host::Database db(o);
    std::atomic<bool> stop{false};
    std::atomic<uint64_t> done{0};
    std::vector<std::thread> ts;
    for (int t = 0; t < threads; ++t) {
        ts.emplace_back([&, t] {
            std::mt19937 rng(t);
            std::uniform_int_distribution<int> pick(1, rows);
            uint64_t n = 0;
            while (!stop.load(std::memory_order_relaxed)) {
                // One lease per query, as a request does.
                auto c = db.acquire();
                auto r = c.query("SELECT id, sku, name, price, on_hand FROM bench_items WHERE id = $1",
                                 {std::to_string(pick(rng))});
                if (r.rows() != 1) std::abort();
                ++n;
            }
            done += n;
        });
    }
    std::this_thread::sleep_for(std::chrono::seconds(seconds));
    stop = true;
    for (auto& t : ts) t.join();
    std::printf("%.1f\n", static_cast<double>(done.load()) / seconds);
    return 0;
}
