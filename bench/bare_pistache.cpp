// The HTTP ceiling: a bare Pistache route with nothing of OMS in front of it,
// built from the same Pistache with the same reactor threads, so the host's
// GET /health/live can be compared against it in one run.
//   bare_pistache PORT [REACTOR_THREADS]
#include <pistache/endpoint.h>
#include <pistache/http.h>

#include <csignal>
#include <cstdlib>
#include <thread>

using namespace Pistache;

namespace {
class Bare : public Http::Handler {
public:
    HTTP_PROTOTYPE(Bare)
    void onRequest(const Http::Request& req, Http::ResponseWriter w) override {
        if (req.resource() != "/health/live") {
            w.send(Http::Code::Not_Found);
            return;
        }
        // The same keep-alive correction the host makes (Pistache 0.0.5 pre-sets
        // Connection: Close on requests without a Connection header); without
        // it the "ceiling" would be a new TCP connection per request.
        auto conn = req.headers().tryGet<Http::Header::Connection>();
        bool close = conn && conn->control() == Http::ConnectionControl::Close;
        w.headers().remove<Http::Header::Connection>();
        w.headers().add<Http::Header::Connection>(close ? Http::ConnectionControl::Close
                                                        : Http::ConnectionControl::KeepAlive);
        w.send(Http::Code::Ok, R"({"status":"ok"})", MIME(Application, Json));
    }
};
}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) return 2;
    int threads = argc > 2 ? std::atoi(argv[2]) : 2;
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    Http::Endpoint ep(Address(Ipv4::loopback(), Port(static_cast<uint16_t>(std::atoi(argv[1])))));
    ep.init(Http::Endpoint::options().threads(threads).flags(Tcp::Options::ReuseAddr | Tcp::Options::NoDelay));
    ep.setHandler(Http::make_handler<Bare>());
    ep.serveThreaded();
    int sig = 0;
    sigwait(&set, &sig);
    ep.shutdown();
    return 0;
}
