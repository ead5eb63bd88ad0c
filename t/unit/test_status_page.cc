// The admin status page: the metrics store's JSON renderer, the label and HTML escaping, the JSON
// reader the page renders from, and the page itself for hostile names (nothing from the
// configuration or from requests can add an element or a script).
#include <openssl/evp.h>

#include <cmath>
#include <string>

#include <gtest/gtest.h>

#include "core/base64.h"
#include "core/metrics/store.h"
#include "core/text_escape.h"
#include "http/status_page/assets.h"
#include "http/status_page/figures.h"
#include "http/status_page/html.h"
#include "http/status_page/json.h"
#include "http/status_page/page.h"

using gw::http::status_page::Json;
using gw::http::status_page::parse_json;
using gw::metrics::Store;
using gw::shm::Zone;

namespace {

std::string labels_json(std::string_view labels) {
    std::string out;
    gw::metrics::append_labels_json(out, labels);
    return out;
}

std::string html(std::string_view s) {
    std::string out;
    gw::append_html_escaped(out, s);
    return out;
}

size_t count(std::string_view hay, std::string_view needle) {
    size_t n = 0;
    for (size_t at = hay.find(needle); at != std::string_view::npos; at = hay.find(needle, at + 1)) ++n;
    return n;
}

TEST(StatusPageLabels, ParsedUnescapedAndJsonEscaped) {
    EXPECT_EQ(labels_json(""), "{}");
    EXPECT_EQ(labels_json("route=\"hello\",code=\"200\""), "{\"route\":\"hello\",\"code\":\"200\"}");
    // The exposition format's escapes (\\, \", \n) are undone, then JSON's applied.
    std::string v = gw::metrics::escape_label_value("a\"b\\c\nd</script>");
    EXPECT_EQ(labels_json("name=\"" + v + "\""), "{\"name\":\"a\\\"b\\\\c\\nd</script>\"}");
    // A comma or an equals sign inside a value is part of the value.
    EXPECT_EQ(labels_json("k=\"a,b=c\",z=\"\""), "{\"k\":\"a,b=c\",\"z\":\"\"}");
    // Control characters and bytes that are not UTF-8 stay valid JSON.
    EXPECT_EQ(labels_json(std::string("k=\"\x01\xff\"")), "{\"k\":\"\\u0001\\u00ff\"}");
}

TEST(StatusPageLabels, MalformedTextIsKeptWhole) {
    EXPECT_EQ(labels_json("nonsense"), "{\"_labels\":\"nonsense\"}");
    EXPECT_EQ(labels_json("k=\"open"), "{\"_labels\":\"k=\\\"open\"}");
    EXPECT_EQ(labels_json("k=\"v\","), "{\"_labels\":\"k=\\\"v\\\",\"}");
    EXPECT_EQ(labels_json("k=\"v\"x"), "{\"_labels\":\"k=\\\"v\\\"x\"}");
}

TEST(StatusPageMetricsJson, EveryTypeRendered) {
    auto zone = Zone::create("metrics", 1 << 20, gw::metrics::kLayoutVersion);
    ASSERT_TRUE(zone);
    Store store(*zone);
    store.counter("gw_requests_total", "route=\"<script>\\\"x\",code=\"200\"", "Requests.")->fetch_add(7);
    store.gauge("gw_level", "", "A \"gauge\".")->store(-3);
    static constexpr double bounds[] = {0.005, 0.1, 1};
    auto* h = store.histogram("gw_seconds", "route=\"a\"", "", bounds);
    ASSERT_NE(h, nullptr);
    h->observe_micros(1000);     // 0.001: first bucket
    h->observe_micros(50000);    // 0.05: second
    h->observe_micros(3000000);  // 3 s: +Inf
    std::string out;
    store.render_json(out);
    Json doc;
    ASSERT_TRUE(parse_json(out, doc)) << out;
    ASSERT_TRUE(doc.is_array());
    ASSERT_EQ(doc.items.size(), 3u);

    const Json& c = doc.items[0];
    EXPECT_EQ(c["name"].str(), "gw_requests_total");
    EXPECT_EQ(c["type"].str(), "counter");
    EXPECT_EQ(c["help"].str(), "Requests.");
    ASSERT_EQ(c["series"].items.size(), 1u);
    EXPECT_EQ(c["series"].items[0]["labels"]["route"].str(), "<script>\"x");
    EXPECT_EQ(c["series"].items[0]["labels"]["code"].str(), "200");
    EXPECT_EQ(c["series"].items[0]["value"].num(), 7);

    const Json& g = doc.items[1];
    EXPECT_EQ(g["type"].str(), "gauge");
    EXPECT_EQ(g["help"].str(), "A \"gauge\".");
    EXPECT_EQ(g["series"].items[0]["value"].num(), -3);
    EXPECT_TRUE(g["series"].items[0]["labels"].is_object());

    const Json& s = doc.items[2]["series"].items[0];
    EXPECT_EQ(doc.items[2]["type"].str(), "histogram");
    ASSERT_EQ(s["le"].items.size(), 3u);
    EXPECT_EQ(s["le"].items[0].str(), "0.005");
    EXPECT_EQ(s["le"].items[2].str(), "1");
    ASSERT_EQ(s["buckets"].items.size(), 4u);
    EXPECT_EQ(s["buckets"].items[0].num(), 1);  // cumulative
    EXPECT_EQ(s["buckets"].items[1].num(), 2);
    EXPECT_EQ(s["buckets"].items[2].num(), 2);
    EXPECT_EQ(s["buckets"].items[3].num(), 3);
    EXPECT_EQ(s["count"].num(), 3);
    EXPECT_EQ(s["sum"].str(), "3.051");
}

TEST(StatusPageMetricsJson, EmptyStore) {
    auto zone = Zone::create("metrics", 1 << 20, gw::metrics::kLayoutVersion);
    Store store(*zone);
    std::string out;
    store.render_json(out);
    EXPECT_EQ(out, "[]");
}

TEST(StatusPageHtml, Escaping) {
    EXPECT_EQ(html("plain text 1.2"), "plain text 1.2");
    EXPECT_EQ(html("<script>alert('x')</script>"), "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;");
    EXPECT_EQ(html("a&b \"q\""), "a&amp;b &quot;q&quot;");
    EXPECT_EQ(html("tab\tnl\n"), "tab\tnl\n");
    EXPECT_EQ(html(std::string("\x01\x7f", 2)), "\xef\xbf\xbd\xef\xbf\xbd");  // C0 and DEL
    EXPECT_EQ(html("\xc2\x85"), "\xef\xbf\xbd");                            // C1 (NEL)
    EXPECT_EQ(html("\xff" "a"), "\xef\xbf\xbd" "a");                         // not UTF-8
    EXPECT_EQ(html("\xc3\xa9\xe2\x82\xac"), "\xc3\xa9\xe2\x82\xac");           // é€ pass
}

TEST(StatusPageJson, Reader) {
    Json j;
    ASSERT_TRUE(parse_json(R"( {"a":[1,-2.5e3,true,false,null],"s":"x\"\\\/\n\u00e9\ud83d\ude00","o":{}} )", j));
    EXPECT_EQ(j["a"].items.size(), 5u);
    EXPECT_EQ(j["a"].items[1].num(), -2500);
    EXPECT_EQ(j["a"].items[1].str(), "-2.5e3");
    EXPECT_TRUE(j["a"].items[2].boolean);
    EXPECT_TRUE(j["a"].items[4].is_null());
    EXPECT_EQ(j["s"].str(), "x\"\\/\n\xc3\xa9\xf0\x9f\x98\x80");
    EXPECT_TRUE(j["o"].is_object());
    EXPECT_TRUE(j["missing"]["deeper"].is_null());
    for (const char* bad : {"", "{", "[1,]", "{\"a\" 1}", "01x", "\"\x01\"", "[1] 2", "tru", "\"\\x\""})
        EXPECT_FALSE(parse_json(bad, j)) << bad;
    EXPECT_FALSE(parse_json(std::string(100, '[') + std::string(100, ']'), j));  // too deep
    EXPECT_TRUE(parse_json(std::string(60, '[') + std::string(60, ']'), j));
}

// A /status/live document as the gateway writes it, with hostile names where the configuration
// or requests put text.
const char* kDoc = R"({"version":"0.1.0","generation":3,"uptime_seconds":3725,"master_pid":10,
 "workers":[{"slot":0,"pid":11,"generation":3,"state":"ready","requests":5,"connections":1}],
 "upstreams":[{"name":"app\"><img src=x onerror=alert(2)>","servers":[
   {"address":"10.0.0.1:80","health":"down","passive_fails":2,"circuit":"open"},
   {"address":"10.0.0.2:80","health":"<b>up</b>","circuit":"closed"}]}],
 "time_ms":1796432147749,
 "tracing":{"exported":12,"dropped":0,"collector":"<u>x</u>","batches":[1,2]},
 "listeners":[{"address":"127.0.0.1:80","admin":false,"tls":true,"http2":"on","proxy_protocol":false}],
 "routes":[{"name":"<script>alert(1)</script>","upstream":"app"},{"name":"ok","return":204}],
 "metrics":[
  {"name":"gateway_http_requests_total","type":"counter","help":"","series":[
    {"labels":{"route":"<script>alert(1)</script>","code":"200"},"value":90},
    {"labels":{"route":"<script>alert(1)</script>","code":"503"},"value":10},
    {"labels":{"route":"","code":"404"},"value":3}]},
  {"name":"gateway_http_request_duration_seconds","type":"histogram","help":"","series":[
    {"labels":{"route":"<script>alert(1)</script>"},"le":[0.001,0.01,0.1],"buckets":[50,90,100,100],"sum":0.5,"count":100}]},
  {"name":"gateway_ratelimit_decisions_total","type":"counter","help":"","series":[
    {"labels":{"policy":"per-ip","result":"allowed"},"value":40},
    {"labels":{"policy":"per-ip","result":"rejected"},"value":4}]},
  {"name":"gateway_tls_certificate_expiry_timestamp_seconds","type":"gauge","help":"","series":[
    {"labels":{"listener":"127.0.0.1:80","name":"</td></tr><script>alert(3)</script>"},"value":1796432147}]},
  {"name":"gateway_grpc_responses_total","type":"counter","help":"","series":[
    {"labels":{"route":"g","grpc_status":"<i>0</i>"},"value":2}]}
 ]})";

TEST(StatusPageRender, HostileNamesAreText) {
    Json doc;
    ASSERT_TRUE(parse_json(kDoc, doc));
    std::string page;
    gw::http::status_page::render_page(doc, page);
    // Exactly one script element (the page's own) and no element from a name.
    EXPECT_EQ(count(page, "<script"), 1u);
    EXPECT_EQ(count(page, "<img"), 0u);
    EXPECT_EQ(count(page, "<b>"), 0u);
    EXPECT_EQ(count(page, "<i>"), 0u);
    EXPECT_NE(page.find("<td class=\"name\">&lt;script&gt;alert(1)&lt;/script&gt;</td>"), std::string::npos);
    EXPECT_NE(page.find("data-k=\"&lt;script&gt;alert(1)&lt;/script&gt;\""), std::string::npos);
    EXPECT_NE(page.find("app&quot;&gt;&lt;img src=x onerror=alert(2)&gt;"), std::string::npos);
    EXPECT_NE(page.find("&lt;/td&gt;&lt;/tr&gt;&lt;script&gt;alert(3)&lt;/script&gt;"), std::string::npos);
    // An unknown state is a badge of class "other", its text escaped.
    EXPECT_NE(page.find("<span class=\"badge b-other\">&lt;b&gt;up&lt;/b&gt;</span>"), std::string::npos);
}

TEST(StatusPageRender, Figures) {
    Json doc;
    ASSERT_TRUE(parse_json(kDoc, doc));
    std::string page;
    gw::http::status_page::render_page(doc, page);
    EXPECT_NE(page.find("uptime <b id=\"uptime\">1h 2m 5s</b>"), std::string::npos);
    EXPECT_NE(page.find("data-f=\"requests\">100</td>"), std::string::npos);
    EXPECT_NE(page.find("data-f=\"e5\">10.00 %</td>"), std::string::npos);
    EXPECT_NE(page.find("data-f=\"e4\">0.00 %</td>"), std::string::npos);
    // p50 at the first bound (50 of 100 in the first bucket), p90 at the second, p99 between
    // 0.01 and 0.1: 0.01 + 0.09 * (99 - 90) / 10.
    EXPECT_NE(page.find("data-f=\"p50\">1.00 ms</td>"), std::string::npos) << page;
    EXPECT_NE(page.find("data-f=\"p90\">10.0 ms</td>"), std::string::npos);
    EXPECT_NE(page.find("data-f=\"p99\">91.0 ms</td>"), std::string::npos);
    EXPECT_NE(page.find("<span class=\"badge b-down\">down</span>"), std::string::npos);
    EXPECT_NE(page.find("<span class=\"badge b-open\">open</span>"), std::string::npos);
    EXPECT_NE(page.find("data-f=\"fails\">2</td>"), std::string::npos);
    EXPECT_NE(page.find("data-f=\"rejected\">4</td>"), std::string::npos);
    EXPECT_NE(page.find("data-f=\"allowed\">40</td>"), std::string::npos);
    EXPECT_NE(page.find("<td>return 204</td>"), std::string::npos);
    // Requests no route matched: a row of their own, keyed "".
    EXPECT_NE(page.find("<tr data-k=\"\"><td class=\"name\"><em>no route</em></td><td>404</td>"
                        "<td class=\"n\" data-f=\"requests\">3</td>"),
              std::string::npos);
    EXPECT_NE(page.find("<section id=\"tls\">"), std::string::npos);
    EXPECT_NE(page.find("<section id=\"grpc\">"), std::string::npos);
    EXPECT_EQ(page.find("<section id=\"cache\">"), std::string::npos);  // no cache configured
    // A /status member the page has no section for (a module's) is shown flattened.
    EXPECT_NE(page.find("<section class=\"other\"><h2>tracing</h2>"), std::string::npos);
    EXPECT_NE(page.find("<tr><td>exported</td><td class=\"n\">12</td></tr>"), std::string::npos);
    EXPECT_NE(page.find("<tr><td>collector</td><td class=\"n\">&lt;u&gt;x&lt;/u&gt;</td></tr>"), std::string::npos);
    EXPECT_NE(page.find("<tr><td>batches[1]</td><td class=\"n\">2</td></tr>"), std::string::npos);
}

TEST(StatusPageFigures, Quantiles) {
    using gw::http::status_page::Hist;
    Hist empty;
    EXPECT_TRUE(std::isnan(empty.quantile(0.5)));
    Hist none{{0.1, 1}, {0, 0, 0}};
    EXPECT_TRUE(std::isnan(none.quantile(0.5)));
    Hist h{{0.1, 1}, {10, 20, 20}};                // 10 in (0, 0.1], 10 in (0.1, 1]
    EXPECT_DOUBLE_EQ(h.quantile(0.25), 0.05);      // from 0 in the first bucket
    EXPECT_DOUBLE_EQ(h.quantile(0.5), 0.1);
    EXPECT_DOUBLE_EQ(h.quantile(0.75), 0.55);
    Hist inf{{0.1, 1}, {1, 1, 10}};                // most in +Inf: the highest finite bound
    EXPECT_DOUBLE_EQ(inf.quantile(0.99), 1);
    Hist gap{{0.1, 1, 2}, {5, 5, 10, 10}};         // an empty bucket is skipped
    EXPECT_DOUBLE_EQ(gap.quantile(0.75), 1.5);
}

TEST(StatusPageFigures, Formats) {
    namespace sp = gw::http::status_page;
    auto seconds = [](double v) { std::string o; sp::seconds(o, v); return o; };
    EXPECT_EQ(seconds(NAN), "\xe2\x80\x93");
    EXPECT_EQ(seconds(0.000123), "123 \xc2\xb5s");
    EXPECT_EQ(seconds(0.0025), "2.50 ms");
    EXPECT_EQ(seconds(0.0123), "12.3 ms");
    EXPECT_EQ(seconds(0.25), "250 ms");
    EXPECT_EQ(seconds(1.5), "1.50 s");
    auto ratio = [](double a, double b) { std::string o; sp::ratio(o, a, b); return o; };
    EXPECT_EQ(ratio(1, 8), "12.50 %");
    EXPECT_EQ(ratio(0, 0), "\xe2\x80\x93");
    auto duration = [](double v) { std::string o; sp::duration(o, v); return o; };
    EXPECT_EQ(duration(4), "4s");
    EXPECT_EQ(duration(184), "3m 4s");
    EXPECT_EQ(duration(7384), "2h 3m 4s");
    EXPECT_EQ(duration(93784), "1d 2h 3m");
    auto badge = [](std::string_view v) { std::string o; sp::badge(o, v); return o; };
    EXPECT_EQ(badge("half-open"), "<span class=\"badge b-half-open\">half-open</span>");
    EXPECT_EQ(badge("x\" onclick=\"y"), "<span class=\"badge b-other\">x&quot; onclick=&quot;y</span>");
}

std::string sha256_b64(std::string_view s) {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(s.data(), s.size(), md, &len, EVP_sha256(), nullptr);
    std::string out;
    gw::base64_encode(std::string_view(reinterpret_cast<const char*>(md), len), out);
    return out;
}

TEST(StatusPageRender, PolicyAllowsExactlyThePageOwnScriptAndStyle) {
    const std::string& h = gw::http::status_page::page_headers();
    EXPECT_NE(h.find("default-src 'none'"), std::string::npos);
    EXPECT_NE(h.find("script-src 'sha256-" + sha256_b64(gw::http::status_page::page_script()) + "';"),
              std::string::npos);
    EXPECT_NE(h.find("style-src 'sha256-" + sha256_b64(gw::http::status_page::page_style()) + "';"),
              std::string::npos);
    EXPECT_NE(h.find("connect-src 'self'"), std::string::npos);
    EXPECT_EQ(h.find("unsafe"), std::string::npos);
    EXPECT_NE(h.find("x-content-type-options: nosniff\r\n"), std::string::npos);
    // The page holds the texts the hashes are of, byte for byte.
    Json doc;
    ASSERT_TRUE(parse_json(kDoc, doc));
    std::string page;
    gw::http::status_page::render_page(doc, page);
    EXPECT_NE(page.find("<script>" + std::string(gw::http::status_page::page_script()) + "</script>"),
              std::string::npos);
    EXPECT_NE(page.find("<style>" + std::string(gw::http::status_page::page_style()) + "</style>"),
              std::string::npos);
}

}  // namespace
