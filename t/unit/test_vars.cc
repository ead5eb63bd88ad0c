// The variable language (src/http/vars): compiling texts, rendering every built-in variable
// from a real Stream, the escaping of each kind of output, and the redaction of secrets in logs.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "core/config/config.h"
#include "filter_harness.h"
#include "http/server.h"
#include "http/vars/vars.h"

namespace gw::http::vars {
namespace {

using Escape = Template::Escape;

struct Compiled {
    bool ok = false;
    Template t;
    std::vector<std::string> errors;
};

// Compiles `text` as if found at t.conf:3:7 under the config path "x.y".
Compiled compile_text(std::string_view text) {
    Compiled c;
    Diagnostics diags;
    Mark mark;
    mark.file = std::make_shared<const std::string>("t.conf");
    mark.line = 3;
    mark.col = 7;
    c.ok = compile(text, mark, "x.y", diags, c.t);
    for (const Diagnostic& d : diags.all()) c.errors.push_back(d.str());
    return c;
}

// The pieces as text: literals quoted, variables as get@param.
std::vector<std::string> shape(const Template& t) {
    std::vector<std::string> out;
    for (const Template::Piece& p : t.pieces()) {  // (a piece is a variable and the literal after it)
        if (p.get) out.push_back("$" + p.param);
        if (!p.text.empty()) out.push_back("'" + p.text + "'");
    }
    return out;
}

// ---- compiling

TEST(VarsCompile, LiteralsAndEscapedDollar) {
    Compiled c = compile_text("plain text");
    ASSERT_TRUE(c.ok);
    EXPECT_TRUE(c.t.constant());
    EXPECT_EQ(shape(c.t), std::vector<std::string>{"'plain text'"});
    EXPECT_EQ(c.t.source(), "plain text");

    c = compile_text("costs $$5 and $$$$");
    ASSERT_TRUE(c.ok);
    EXPECT_TRUE(c.t.constant());
    EXPECT_EQ(shape(c.t), std::vector<std::string>{"'costs $5 and $$'"});
    EXPECT_EQ(c.t.source(), "costs $$5 and $$$$");  // as written, for -T

    c = compile_text("");
    ASSERT_TRUE(c.ok);
    EXPECT_TRUE(c.t.empty());
    EXPECT_TRUE(c.t.pieces().empty());
}

TEST(VarsCompile, VariablesAndBraces) {
    Compiled c = compile_text("ip=$remote_addr, ${request_id}x $uri.");
    ASSERT_TRUE(c.ok) << ::testing::PrintToString(c.errors);
    EXPECT_FALSE(c.t.constant());
    // A name runs over letters, digits and '_': the '.' and ',' end it; braces let text follow.
    EXPECT_EQ(shape(c.t), (std::vector<std::string>{"'ip='", "$", "', '", "$", "'x '", "$", "'.'"}));
    EXPECT_EQ(c.t.single_variable(), nullptr);

    c = compile_text("$status");
    ASSERT_TRUE(c.ok);
    ASSERT_NE(c.t.single_variable(), nullptr);
    EXPECT_TRUE(c.t.single_variable()->numeric);
    c = compile_text("$remote_addr");
    ASSERT_NE(c.t.single_variable(), nullptr);
    EXPECT_FALSE(c.t.single_variable()->numeric);
}

TEST(VarsCompile, Families) {
    Compiled c = compile_text("$http_x_user_id|$http_X_Mixed|$arg_Page_no|$cookie_Session_ID|${http_user_agent}");
    ASSERT_TRUE(c.ok) << ::testing::PrintToString(c.errors);
    // Header names: lower-cased, '_' for '-'. Query parameters and cookies: as written.
    EXPECT_EQ(shape(c.t), (std::vector<std::string>{"$x-user-id", "'|'", "$x-mixed", "'|'", "$Page_no", "'|'",
                                                    "$Session_ID", "'|'", "$user-agent"}));
}

TEST(VarsCompile, FamiliesAreCaseSensitiveInTheirPrefix) {
    // Variable names are case-sensitive: "$HTTP_X" is not the http_ family.
    Compiled c = compile_text("$HTTP_X $Remote_Addr");
    EXPECT_FALSE(c.ok);
    EXPECT_EQ(c.errors.size(), 2u) << ::testing::PrintToString(c.errors);
}

TEST(VarsCompile, UnknownVariableSuggests) {
    Compiled c = compile_text("x $remote_adr y");
    EXPECT_FALSE(c.ok);
    EXPECT_EQ(c.errors,
              std::vector<std::string>{"t.conf:3:7: x.y: unknown variable \"$remote_adr\" (did you mean \"$remote_addr\"?)"});

    c = compile_text("$reqest_uri");
    EXPECT_EQ(c.errors,
              std::vector<std::string>{"t.conf:3:7: x.y: unknown variable \"$reqest_uri\" (did you mean \"$request_uri\"?)"});

    c = compile_text("$zzzzzzzzzzzz");
    EXPECT_EQ(c.errors, std::vector<std::string>{"t.conf:3:7: x.y: unknown variable \"$zzzzzzzzzzzz\""});

    // A family's prefix alone names nothing.
    c = compile_text("$http_");
    EXPECT_FALSE(c.ok);
    ASSERT_EQ(c.errors.size(), 1u);
    EXPECT_EQ(c.errors[0], "t.conf:3:7: x.y: unknown variable \"$http_\" (did you mean \"$http_NAME\"?)");
}

TEST(VarsCompile, MistypedFamilySuggestsTheFamily) {
    auto error = [](std::string_view text) {
        Compiled c = compile_text(text);
        EXPECT_FALSE(c.ok) << text;
        return c.errors.size() == 1 ? c.errors[0] : ::testing::PrintToString(c.errors);
    };
    EXPECT_EQ(error("$htp_user_agent"),
              "t.conf:3:7: x.y: unknown variable \"$htp_user_agent\" (did you mean \"$http_user_agent\"?)");
    EXPECT_EQ(error("$cokie_sid"), "t.conf:3:7: x.y: unknown variable \"$cokie_sid\" (did you mean \"$cookie_sid\"?)");
    EXPECT_EQ(error("$ag_page"), "t.conf:3:7: x.y: unknown variable \"$ag_page\" (did you mean \"$arg_page\"?)");
    EXPECT_EQ(error("$http"), "t.conf:3:7: x.y: unknown variable \"$http\" (did you mean \"$http_NAME\"?)");
    EXPECT_EQ(error("$cookie"), "t.conf:3:7: x.y: unknown variable \"$cookie\" (did you mean \"$cookie_NAME\"?)");
    EXPECT_EQ(error("$zz_top"), "t.conf:3:7: x.y: unknown variable \"$zz_top\"");
}

TEST(VarsCompile, EveryProblemIsReported) {
    Compiled c = compile_text("$nope1 and $nope2");
    EXPECT_FALSE(c.ok);
    EXPECT_EQ(c.errors.size(), 2u) << ::testing::PrintToString(c.errors);
}

TEST(VarsCompile, LoneDollarAndBadBraces) {
    Compiled c = compile_text("price: 5$");
    EXPECT_FALSE(c.ok);
    EXPECT_EQ(c.errors, std::vector<std::string>{"t.conf:3:7: x.y: a '$' must start a variable name (write \"$$\" for "
                                                 "a '$') in \"price: 5$\""});
    c = compile_text("a $ b");
    EXPECT_FALSE(c.ok);
    EXPECT_EQ(c.errors.size(), 1u);
    c = compile_text("$-x");
    EXPECT_FALSE(c.ok);

    c = compile_text("x ${host");
    EXPECT_FALSE(c.ok);
    EXPECT_EQ(c.errors, std::vector<std::string>{"t.conf:3:7: x.y: unterminated \"${\" in \"x ${host\""});

    c = compile_text("${}");
    EXPECT_FALSE(c.ok);
    EXPECT_EQ(c.errors, std::vector<std::string>{"t.conf:3:7: x.y: bad variable name \"${}\""});
    c = compile_text("${ho st}");
    EXPECT_FALSE(c.ok);
    EXPECT_EQ(c.errors, std::vector<std::string>{"t.conf:3:7: x.y: bad variable name \"${ho st}\""});
}

TEST(VarsCompile, LiteralKeepsDollars) {
    Template t = literal("a $b $$");
    EXPECT_TRUE(t.constant());
    EXPECT_EQ(shape(t), std::vector<std::string>{"'a $b $$'"});
    std::string out;
    t.render({}, out, Escape::Header);
    EXPECT_EQ(out, "a $b $$");
}

TEST(VarsCompile, NamesListsEveryBuiltin) {
    std::vector<std::string> all = names();
    for (std::string_view n : {"remote_addr", "remote_port", "host", "request_uri", "request", "uri", "args",
                               "arg_NAME", "http_NAME", "cookie_NAME", "request_id", "route", "status",
                               "bytes_sent", "body_bytes_sent", "request_time", "upstream_addr", "upstream_status",
                               "upstream_response_time", "time_iso8601", "time_local", "msec", "generation",
                               "scheme", "server_protocol", "request_method"})
        EXPECT_NE(std::find(all.begin(), all.end(), n), all.end()) << n;
}

// ---- rendering from a real Stream

class VarsRender : public ::testing::Test {
  protected:
    void SetUp() override {
        h_.stream().begin(&h_.io(), 0);
        route_.name = "api";
        h_.stream().set_route(&route_);
        h_.stream().mark_start();
        http::IdGenerator ids(7);
        h_.stream().set_request_id("req-abc", ids);
        env_.stream = &h_.stream();
    }
    void TearDown() override { h_.stream().end(); }

    void request(std::string head) { ASSERT_TRUE(h_.set_request(std::move(head))); }

    std::string render(std::string_view text, Escape escape = Escape::Text) {
        Compiled c = compile_text(text);
        EXPECT_TRUE(c.ok) << ::testing::PrintToString(c.errors);
        std::string out;
        c.t.render(env_, out, escape);
        return out;
    }
    std::string log(std::string_view text) {
        LogsConfig logs;
        env_.redact = &logs;
        std::string out = render(text, Escape::Log);
        env_.redact = nullptr;
        return out;
    }

    test::FilterHarness h_;
    RouteRuntime route_;
    Env env_;
};

TEST_F(VarsRender, ClientAndConnection) {
    h_.set_client("192.0.2.10", 40123);
    EXPECT_EQ(render("$remote_addr:$remote_port"), "192.0.2.10:40123");
    h_.set_client("192.0.2.10", 0);  // a client named by a forwarding header: no port
    EXPECT_EQ(render("[$remote_port]"), "[]");
    EXPECT_EQ(log("[$remote_port]"), "[-]");
    EXPECT_EQ(render("$scheme $server_protocol"), "http HTTP/1.1");
    request("GET / HTTP/1.0\r\n\r\n");
    EXPECT_EQ(render("$server_protocol"), "HTTP/1.0");
}

TEST_F(VarsRender, RequestLineAndTarget) {
    request("POST /a/./b/../c?x=1&y=two HTTP/1.1\r\nHost: Example.TEST:8443\r\nContent-Length: 0\r\n\r\n");
    EXPECT_EQ(render("$request_method"), "POST");
    EXPECT_EQ(render("$request_uri"), "/a/./b/../c?x=1&y=two");
    EXPECT_EQ(render("$request"), "POST /a/./b/../c?x=1&y=two HTTP/1.1");
    EXPECT_EQ(render("$args"), "x=1&y=two");
    EXPECT_EQ(render("[$arg_x][$arg_y][$arg_z][$arg_X]"), "[1][two][][]");
    // $host: lower-cased, without the port (as nginx's); $http_host: as sent.
    EXPECT_EQ(render("$host"), "example.test");
    EXPECT_EQ(render("$http_host"), "Example.TEST:8443");
    EXPECT_EQ(render("$request_id"), "req-abc");
    EXPECT_EQ(render("$route"), "api");
}

TEST_F(VarsRender, UriIsTheNormalisedPath) {
    request("GET /a/b?q=1 HTTP/1.1\r\nHost: h\r\n\r\n");
    EXPECT_EQ(render("$uri"), "/a/b");
    request("GET /plain HTTP/1.1\r\nHost: h\r\n\r\n");
    EXPECT_EQ(render("[$args][$arg_q]"), "[][]");
    EXPECT_EQ(log("[$args][$arg_q]"), "[-][-]");
}

TEST_F(VarsRender, HostForms) {
    request("GET / HTTP/1.1\r\nHost: [2001:DB8::1]:8080\r\n\r\n");
    EXPECT_EQ(render("$host"), "[2001:db8::1]");
    request("GET / HTTP/1.1\r\nHost: [::1]\r\n\r\n");
    EXPECT_EQ(render("$host"), "[::1]");
    request("GET / HTTP/1.1\r\nHost: plain\r\n\r\n");
    EXPECT_EQ(render("$host"), "plain");
    request("GET / HTTP/1.0\r\n\r\n");
    EXPECT_EQ(render("[$host]"), "[]");
    EXPECT_EQ(log("$host"), "-");
}

TEST_F(VarsRender, ArgFirstOneWins) {
    request("GET /?a=1&ab=2&a=3&b=&c HTTP/1.1\r\nHost: h\r\n\r\n");
    EXPECT_EQ(render("$arg_a $arg_ab"), "1 2");
    EXPECT_EQ(render("[$arg_b][$arg_c]"), "[][]");  // empty or without '=': no value
}

TEST_F(VarsRender, HeadersAndCookies) {
    request("GET / HTTP/1.1\r\nHost: h\r\nX-User-Id: 42\r\nUser-Agent: curl/8\r\n"
            "Cookie: a=1; session=s3cr3t;theme=dark; empty=\r\n\r\n");
    EXPECT_EQ(render("$http_x_user_id $http_user_agent"), "42 curl/8");
    EXPECT_EQ(render("[$http_x_none]"), "[]");
    EXPECT_EQ(render("$cookie_a|$cookie_session|$cookie_theme"), "1|s3cr3t|dark");
    EXPECT_EQ(render("[$cookie_empty][$cookie_none][$cookie_sess]"), "[][][]");
}

TEST_F(VarsRender, RepeatedHeaderFieldsAreJoined) {
    // As nginx (1.23+): every field of the name, in order, ", " between them ("; " for Cookie).
    request("GET / HTTP/1.1\r\nHost: h\r\nX-Tag: a\r\nAccept: x/y\r\nx-tag: b, c\r\nX-Tag:\r\n"
            "X-TAG: d\r\nCookie: a=1\r\nCookie: b=2\r\n\r\n");
    EXPECT_EQ(render("$http_x_tag"), "a, b, c, d");  // the empty field adds nothing
    EXPECT_EQ(render("$http_cookie"), "a=1; b=2");
    EXPECT_EQ(render("[$http_accept]"), "[x/y]");
    EXPECT_EQ(log("\"$http_x_tag\""), "\"a, b, c, d\"");
}

TEST_F(VarsRender, ResponseFigures) {
    EXPECT_EQ(render("[$status][$bytes_sent][$body_bytes_sent]"), "[][][]");  // not known yet
    EXPECT_EQ(log("$status $bytes_sent $body_bytes_sent"), "- - -");
    env_.status = 204;
    env_.finished = true;
    env_.bytes_sent = 120;
    env_.body_bytes = 0;
    EXPECT_EQ(render("$status $bytes_sent $body_bytes_sent"), "204 120 0");
    env_.request_time = 1.5;
    EXPECT_EQ(render("$request_time"), "1.500");
    env_.request_time = -1;  // measured from the stream's start: a small figure
    std::string t = render("$request_time");
    EXPECT_EQ(t.rfind("0.", 0), 0u) << t;
    env_.generation = 9;
    EXPECT_EQ(render("$generation"), "9");
}

TEST_F(VarsRender, UpstreamAttempts) {
    EXPECT_EQ(render("[$upstream_addr][$upstream_status][$upstream_response_time]"), "[][][]");
    EXPECT_EQ(log("$upstream_addr $upstream_status"), "- -");
    UpstreamTrace& trace = h_.stream().upstream_trace();
    trace.add("10.0.0.1:80", 502, 1500);
    trace.add("10.0.0.2:80", 200, 12000);
    EXPECT_EQ(render("$upstream_addr|$upstream_status|$upstream_response_time"),
              "10.0.0.1:80, 10.0.0.2:80|502, 200|0.001, 0.012");
    for (int i = 0; i < 4; ++i) trace.add("10.0.0.3:80", 503, 0);
    EXPECT_EQ(render("$upstream_status"), "502, 200, 503, 503, ...");
}

TEST_F(VarsRender, Times) {
    std::string iso = render("$time_iso8601");
    // 2026-12-04T05:59:54+00:00
    ASSERT_EQ(iso.size(), 25u) << iso;
    EXPECT_EQ(iso[10], 'T');
    EXPECT_EQ(iso[22], ':');
    std::string local = render("$time_local");
    EXPECT_EQ(local.size(), 26u) << local;  // 04/Dec/2026:05:59:54 +0000
    EXPECT_EQ(local[2], '/');
    std::string msec = render("$msec");
    ASSERT_GT(msec.size(), 4u);
    EXPECT_EQ(msec[msec.size() - 4], '.') << msec;
}

TEST_F(VarsRender, HeaderEscapeDropsLineBreaks) {
    // The parser refuses CR and LF in a header value; a variable returning one anyway (a
    // module's) must still never split a header: try it with a getter of our own.
    Template::Piece p;
    p.get = [](const Env&, std::string_view, gw::TextWriter& out) {
        out += "a\r\nX-Evil: 1\0b";
        out += std::string_view("\0c", 2);
        return true;
    };
    Compiled c = compile_text("v=$uri");
    ASSERT_TRUE(c.ok);
    const_cast<std::vector<Template::Piece>&>(c.t.pieces())[1] = p;
    std::string out;
    c.t.render(env_, out, Escape::Header);
    EXPECT_EQ(out, "v=aX-Evil: 1c");
}

TEST_F(VarsRender, LogEscapesAndWritesDashes) {
    request("GET /p?q=%22 HTTP/1.1\r\nHost: h\r\nUser-Agent: a\"b\\c\xc3\xa9\r\n\r\n");
    EXPECT_EQ(log("\"$http_user_agent\" [$http_referer]"), "\"a\\x22b\\x5Cc\\xC3\\xA9\" [-]");
    EXPECT_EQ(render("$http_user_agent", Escape::Text), "a\"b\\c\xc3\xa9");
}

TEST_F(VarsRender, JsonEscapesValues) {
    request("GET / HTTP/1.1\r\nHost: h\r\nUser-Agent: a\"b\\c\t\xff\r\n\r\n");
    LogsConfig logs;
    env_.redact = &logs;
    EXPECT_EQ(render("$http_user_agent", Escape::Json), "a\\\"b\\\\c\\t\\u00ff");
    EXPECT_EQ(render("$http_x_none", Escape::Json), "-");
}

TEST_F(VarsRender, JsonEscapesLiteralsToo) {
    // A literal of a JSON field is inside a JSON string as well: a quote must not end it.
    request("GET / HTTP/1.1\r\nHost: h\r\n\r\n");
    EXPECT_EQ(render("say \"$host\" \\ ok", Escape::Json), "say \\\"h\\\" \\\\ ok");
}

TEST_F(VarsRender, LogsRedactSecrets) {
    request("GET /login?user=bob&token=abc123&x=1 HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer xyz\r\n"
            "Cookie: session=s3cr3t\r\nReferer: https://o.example/?access_token=zz&k=v\r\n\r\n");
    EXPECT_EQ(log("$request_uri"), "/login?user=bob&token=REDACTED&x=1");
    EXPECT_EQ(log("$request"), "GET /login?user=bob&token=REDACTED&x=1 HTTP/1.1");
    EXPECT_EQ(log("$args"), "user=bob&token=REDACTED&x=1");
    EXPECT_EQ(log("$arg_token $arg_user"), "REDACTED bob");
    EXPECT_EQ(log("$http_authorization"), "REDACTED");
    EXPECT_EQ(log("$http_cookie"), "REDACTED");
    EXPECT_EQ(log("$cookie_session"), "REDACTED");
    EXPECT_EQ(log("$http_referer"), "https://o.example/?access_token=REDACTED&k=v");
    EXPECT_EQ(log("$uri"), "/login");
}

TEST_F(VarsRender, LogsRedactSecretsAfterASemicolon) {
    // Some frameworks split parameters on ';' too: the logged target redacts "token" there, and
    // so must the value of the parameter it hides in.
    request("GET /?x=1;token=abc;y=2&z=3 HTTP/1.1\r\nHost: h\r\n\r\n");
    EXPECT_EQ(log("$request_uri"), "/?x=1;token=REDACTED&z=3");
    EXPECT_EQ(log("$arg_x"), "1;token=REDACTED");
    EXPECT_EQ(log("$arg_z"), "3");
    EXPECT_EQ(render("$arg_x", Escape::Header), "1;token=abc;y=2");
    request("GET /?x=a;b=c HTTP/1.1\r\nHost: h\r\n\r\n");
    EXPECT_EQ(log("$arg_x"), "a;b=c");
}

TEST_F(VarsRender, HeadersAndBodiesCarryTheRealValues) {
    request("GET /login?token=abc123 HTTP/1.1\r\nHost: h\r\nAuthorization: Bearer xyz\r\n"
            "Cookie: session=s3cr3t\r\n\r\n");
    EXPECT_EQ(render("$request_uri|$arg_token|$http_authorization|$cookie_session", Escape::Header),
              "/login?token=abc123|abc123|Bearer xyz|s3cr3t");
    EXPECT_EQ(render("$args", Escape::Text), "token=abc123");
}

TEST_F(VarsRender, ConfiguredRedactionApplies) {
    request("GET /?sig=1 HTTP/1.1\r\nHost: h\r\nX-Api-Key: k1\r\n\r\n");
    LogsConfig logs;
    logs.redact_query.push_back("sig");
    logs.redact_headers.push_back("x-api-key");
    env_.redact = &logs;
    EXPECT_EQ(render("$arg_sig $http_x_api_key $request_uri", Escape::Log), "REDACTED REDACTED /?sig=REDACTED");
}

TEST(VarsRenderNoStream, NothingIsAvailable) {
    // A template rendered without a request (e.g. at load) has only its literals.
    Compiled c = compile_text("a$remote_addr$host$request_uri${http_x}b");
    ASSERT_TRUE(c.ok);
    std::string out;
    c.t.render({}, out, Escape::Header);
    EXPECT_EQ(out, "ab");
    out.clear();
    c.t.render({}, out, Escape::Log);
    EXPECT_EQ(out, "a----b");
}

TEST(VarsRenderNoStream, RenderAppends) {
    Compiled c = compile_text("x$$");
    std::string out = "keep:";
    c.t.render({}, out, Escape::Text);
    EXPECT_EQ(out, "keep:x$");
}

}  // namespace
}  // namespace gw::http::vars
