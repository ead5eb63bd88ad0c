// The outbound HTTP client (src/http/client) against a real server (http_test_server.h: a
// listening socket of the test's own, answering as each test scripts it). The client runs on the
// test's event loop.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <atomic>
#include <cstring>
#include <functional>
#include <string>

#include <gtest/gtest.h>

#include "event/loop.h"
#include "http/client/client.h"
#include "http_test_server.h"
#include "redis_server.h"  // run_until, free_port

using gw::event::Loop;
using gw::http_test::pause_ms;
using gw::http_test::send_all;
using gw::http_test::Server;
using gw::http_test::wait_for_close;
using gw::redis_test::run_until;
namespace httpc = gw::httpc;

namespace {

// Records each answer (copied: the Answer's views end with the call).
struct Collect : httpc::Handler {
    int calls = 0;
    httpc::Error error = httpc::Error::None;
    std::string reason;
    int status = 0;
    std::string body;
    std::string content_type;
    std::function<void()> then;  // runs inside the handler's call
    void on_http_answer(httpc::Answer& a) override {
        ++calls;
        error = a.error;
        reason = std::string(a.reason);
        status = a.status;
        body = std::move(*a.body);
        content_type = a.head ? std::string(a.head->header("content-type")) : "";
        if (then) then();
    }
};

class HttpClientTest : public ::testing::Test {
  protected:
    httpc::Request request(const Server& s, std::string_view target = "/") {
        httpc::Request r;
        r.address = s.addr();
        r.address_len = s.addr_len();
        r.target = target;
        r.host = "test.local";
        r.timeout = 2000;
        return r;
    }
    // Runs the loop until `c` was called (or 3 s pass).
    bool answered(const Collect& c) { return run_until(loop_, [&] { return c.calls > 0; }, 3000); }

    Loop loop_;
    httpc::Client client_{loop_};
};

}  // namespace

TEST_F(HttpClientTest, PostsARequestBody) {
    std::string got;
    Server s([&](int fd, const std::string& head) {
        // The head as recorded may hold the start of the body: read the rest by its length.
        size_t end = head.find("\r\n\r\n") + 4;
        std::string body = head.substr(end);
        char buf[4096];
        while (body.size() < 5000) {
            ssize_t n = recv(fd, buf, sizeof buf, 0);
            if (n <= 0) break;
            body.append(buf, static_cast<size_t>(n));
        }
        got = body;
        send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    });
    std::string payload(5000, 'j');
    httpc::Request r = request(s, "/v1/traces");
    r.method = "POST";
    r.body = payload;
    Collect c;
    httpc::Handle h = client_.fetch(r, c);
    ASSERT_TRUE(answered(c));
    EXPECT_EQ(c.status, 200);
    ASSERT_EQ(s.heads().size(), 1u);
    EXPECT_TRUE(s.heads()[0].starts_with("POST /v1/traces HTTP/1.1\r\n")) << s.heads()[0];
    EXPECT_NE(s.heads()[0].find("Content-Length: 5000\r\n"), std::string::npos) << s.heads()[0];
    EXPECT_EQ(got, payload);
}

TEST_F(HttpClientTest, ContentLengthBodyAndTheRequestAsSent) {
    Server s([](int fd, const std::string&) {
        send_all(fd, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"keys\":[]}");
    });
    gw::http::Header extra[] = {{"Accept", "application/json"}, {"User-Agent", "gatewayd-test"}};
    httpc::Request r = request(s, "/keys?x=1");
    r.headers = extra;
    Collect c;
    httpc::Handle h = client_.fetch(r, c);
    EXPECT_TRUE(h.pending());
    EXPECT_EQ(c.calls, 0) << "never answered from inside fetch()";
    ASSERT_TRUE(answered(c));
    EXPECT_EQ(c.error, httpc::Error::None) << c.reason;
    EXPECT_EQ(c.status, 200);
    EXPECT_EQ(c.body, "{\"keys\":[]}");
    EXPECT_EQ(c.content_type, "application/json");
    EXPECT_FALSE(h.pending());
    ASSERT_EQ(s.heads().size(), 1u);
    EXPECT_EQ(s.heads()[0],
              "GET /keys?x=1 HTTP/1.1\r\nHost: test.local\r\nAccept: application/json\r\n"
              "User-Agent: gatewayd-test\r\nConnection: close\r\n\r\n");
    EXPECT_EQ(client_.in_flight(), 0u);
    run_until(loop_, [] { return false; }, 50);
    EXPECT_EQ(c.calls, 1) << "exactly once";
}

TEST_F(HttpClientTest, ChunkedBodyInPiecesAfterAnInterimResponse) {
    Server s([](int fd, const std::string&) {
        send_all(fd, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhel");
        pause_ms(30);
        send_all(fd, "lo\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n");
    });
    Collect c;
    httpc::Handle h = client_.fetch(request(s), c);
    ASSERT_TRUE(answered(c));
    EXPECT_EQ(c.error, httpc::Error::None) << c.reason;
    EXPECT_EQ(c.status, 200);
    EXPECT_EQ(c.body, "hello world");
}

TEST_F(HttpClientTest, BodyUntilTheServerCloses) {
    Server s([](int fd, const std::string&) {
        send_all(fd, "HTTP/1.0 200 OK\r\n\r\nfirst part, ");
        pause_ms(30);
        send_all(fd, "second part");
    });
    Collect c;
    httpc::Handle h = client_.fetch(request(s), c);
    ASSERT_TRUE(answered(c));
    EXPECT_EQ(c.error, httpc::Error::None) << c.reason;
    EXPECT_EQ(c.body, "first part, second part");
}

TEST_F(HttpClientTest, OnAUnixSocket) {
    Server s([](int fd, const std::string&) { send_all(fd, "HTTP/1.1 204 No Content\r\n\r\n"); }, true);
    Collect c;
    httpc::Handle h = client_.fetch(request(s), c);
    ASSERT_TRUE(answered(c));
    EXPECT_EQ(c.error, httpc::Error::None) << c.reason;
    EXPECT_EQ(c.status, 204);
    EXPECT_EQ(c.body, "");
}

TEST_F(HttpClientTest, SlowServerHitsTheTimeout) {
    Server s([](int fd, const std::string&) {
        send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");  // then nothing
        wait_for_close(fd, 2000);
    });
    httpc::Request r = request(s);
    r.timeout = 150;
    Collect c;
    gw::event::Millis t0 = loop_.update_time();
    httpc::Handle h = client_.fetch(r, c);
    ASSERT_TRUE(answered(c));
    gw::event::Millis took = loop_.update_time() - t0;
    EXPECT_EQ(c.error, httpc::Error::Timeout);
    EXPECT_EQ(c.reason, "timed out");
    EXPECT_EQ(c.status, 200) << "the head had come";
    EXPECT_EQ(c.body, "") << "no partial body on an error";
    EXPECT_GE(took, 140);
    EXPECT_LT(took, 1000);
}

TEST_F(HttpClientTest, ConnectionRefused) {
    uint16_t port = gw::redis_test::free_port();  // bound and closed: nobody listens there
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    httpc::Request r;
    r.address = reinterpret_cast<const sockaddr*>(&a);
    r.address_len = sizeof a;
    r.host = "x";
    Collect c;
    httpc::Handle h = client_.fetch(r, c);
    EXPECT_EQ(c.calls, 0);
    ASSERT_TRUE(answered(c));
    EXPECT_EQ(c.error, httpc::Error::Connect);
    EXPECT_EQ(c.reason, "Connection refused");
    EXPECT_EQ(c.status, 0);

    // A unix socket nobody listens on fails inside connect() itself: still answered from the loop.
    sockaddr_un u{};
    u.sun_family = AF_UNIX;
    strcpy(u.sun_path, "/tmp/gw-httpc-test-nobody-here.sock");
    r.address = reinterpret_cast<const sockaddr*>(&u);
    r.address_len = sizeof u;
    Collect d;
    httpc::Handle h2 = client_.fetch(r, d);
    EXPECT_EQ(d.calls, 0);
    ASSERT_TRUE(answered(d));
    EXPECT_EQ(d.error, httpc::Error::Connect);
    EXPECT_EQ(d.reason, "No such file or directory");
}

TEST_F(HttpClientTest, OversizeBodiesAreRefused) {
    const char* answers[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 101\r\n\r\n",  // known from the head: refused at once
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n",  // ...after the data passes the cap
        "HTTP/1.1 200 OK\r\n\r\n",
    };
    for (const char* head : answers) {
        SCOPED_TRACE(head);
        Server s([head](int fd, const std::string&) {
            send_all(fd, head);
            send_all(fd, std::string(64, 'x'));
            send_all(fd, strstr(head, "chunked") ? "\r\n40\r\n" + std::string(64, 'y') : std::string(64, 'y'));
            wait_for_close(fd, 1000);
        });
        httpc::Request r = request(s);
        r.max_body = 100;
        Collect c;
        httpc::Handle h = client_.fetch(r, c);
        ASSERT_TRUE(answered(c));
        EXPECT_EQ(c.error, httpc::Error::TooLarge);
        EXPECT_EQ(c.status, 200);
        EXPECT_EQ(c.body, "");
    }
}

TEST_F(HttpClientTest, CancelBeforeTheAnswerClosesTheSocketAndNeverCalls) {
    std::atomic<bool> saw_close{false};
    Server s([&](int fd, const std::string&) { saw_close = wait_for_close(fd, 2000); });
    Collect c;
    httpc::Handle h = client_.fetch(request(s), c);
    ASSERT_TRUE(run_until(loop_, [&] { return s.heads().size() == 1; }, 2000)) << "the request went out";
    h.cancel();
    EXPECT_FALSE(h.pending());
    EXPECT_EQ(client_.in_flight(), 0u);
    ASSERT_TRUE(run_until(loop_, [&] { return saw_close.load(); }, 2000)) << "the server saw the connection close";
    run_until(loop_, [] { return false; }, 50);
    EXPECT_EQ(c.calls, 0);
    h.cancel();  // again: harmless
}

TEST_F(HttpClientTest, AHandleWhoseOwnerWentAwayCancels) {
    Server s([](int fd, const std::string&) {
        pause_ms(50);
        send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    });
    {
        Collect gone;
        httpc::Handle h = client_.fetch(request(s), gone);
    }  // the owner and its handle go: the handler is not called (it would be a dangling one)
    EXPECT_EQ(client_.in_flight(), 0u);
    Collect c;
    httpc::Handle h = client_.fetch(request(s), c);  // the pooled call, reused
    ASSERT_TRUE(answered(c));
    EXPECT_EQ(c.body, "ok");
    // A handle kept after its answer is inert, even once its call serves another request.
    Collect d;
    httpc::Handle next = client_.fetch(request(s), d);
    h.cancel();
    EXPECT_TRUE(next.pending());
    ASSERT_TRUE(answered(d));
    EXPECT_EQ(d.body, "ok");
}

TEST_F(HttpClientTest, GarbageIsAnErrorNotACrash) {
    const char* answers[] = {
        "HELLO THERE\r\n\r\n",
        "HTTP/1.1 2OO OK\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n",
        "",
        "HTTP/1.1 200 OK\r\nContent-Le",
        "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
    };
    for (const char* bytes : answers) {
        SCOPED_TRACE(bytes);
        Server s([bytes](int fd, const std::string&) { send_all(fd, bytes); });
        Collect c;
        httpc::Handle h = client_.fetch(request(s), c);
        ASSERT_TRUE(answered(c));
        EXPECT_TRUE(c.error == httpc::Error::BadResponse || c.error == httpc::Error::Closed)
            << httpc::error_name(c.error);
        EXPECT_FALSE(c.reason.empty());
    }
    // A head that never ends within the buffer.
    Server s([](int fd, const std::string&) {
        send_all(fd, "HTTP/1.1 200 OK\r\n");
        for (int i = 0; i < 1000; ++i)
            if (!send_all(fd, "X-Filler: " + std::string(40, 'f') + "\r\n")) break;
    });
    Collect c;
    httpc::Handle h = client_.fetch(request(s), c);
    ASSERT_TRUE(answered(c));
    EXPECT_EQ(c.error, httpc::Error::BadResponse);
}

TEST_F(HttpClientTest, HeadOnlyAnswersWithoutReadingTheBody) {
    Server s([](int fd, const std::string&) {
        send_all(fd, "HTTP/1.1 503 Service Unavailable\r\nContent-Length: 100000\r\n\r\n");
        wait_for_close(fd, 2000);  // the body never comes
    });
    httpc::Request r = request(s);
    r.read_body = false;
    r.max_body = 10;
    Collect c;
    httpc::Handle h = client_.fetch(r, c);
    ASSERT_TRUE(answered(c));
    EXPECT_EQ(c.error, httpc::Error::None);
    EXPECT_EQ(c.status, 503);
}

TEST_F(HttpClientTest, RequestsThatCannotBeSentAreAnsweredFromTheLoop) {
    Server s([](int fd, const std::string&) { send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"); });
    gw::http::Header split[] = {{"X-A", "1\r\nX-Injected: 1"}};
    gw::http::Header framing[] = {{"Content-Length", "5"}};
    struct Case {
        std::string_view target, host;
        std::span<const gw::http::Header> headers;
    } cases[] = {
        {"/a b", "h", {}}, {"no-slash", "h", {}}, {"/", "", {}},
        {"/", "h\r\nX: 1", {}}, {"/", "h", split}, {"/", "h", framing},
    };
    for (const Case& k : cases) {
        httpc::Request r = request(s, k.target);
        r.host = k.host;
        r.headers = k.headers;
        Collect c;
        httpc::Handle h = client_.fetch(r, c);
        EXPECT_EQ(c.calls, 0);
        ASSERT_TRUE(answered(c));
        EXPECT_EQ(c.error, httpc::Error::Invalid) << c.reason;
    }
    EXPECT_EQ(s.connections(), 0) << "nothing was sent";
}

TEST_F(HttpClientTest, HandlerMayStartAnotherRequestOrDestroyTheClient) {
    Server s([](int fd, const std::string&) { send_all(fd, "HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\none"); });
    auto client = std::make_unique<httpc::Client>(loop_);
    Collect second;
    httpc::Handle h2;
    Collect first;
    first.then = [&] { h2 = client->fetch(request(s), second); };
    httpc::Handle h1 = client->fetch(request(s), first);
    ASSERT_TRUE(answered(first));
    ASSERT_TRUE(answered(second));
    EXPECT_EQ(first.body, "one");
    EXPECT_EQ(second.body, "one");

    Collect last;
    httpc::Handle h3;
    last.then = [&] {
        // Handles must not outlive their client: let go of them first (h3 from inside its own
        // answer, which is harmless).
        h1 = httpc::Handle();
        h2 = httpc::Handle();
        h3 = httpc::Handle();
        client.reset();
    };
    h3 = client->fetch(request(s), last);
    ASSERT_TRUE(answered(last));
    EXPECT_EQ(client, nullptr);
}
