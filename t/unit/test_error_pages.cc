// The error_pages module's configuration: which page a status takes (the route's exact status,
// its class, then the top level's), pages read from YAML, and the errors of bad ones.
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/config/schema.h"
#include "core/config/yaml.h"
#include "modules/error_pages/config.h"

namespace gw::error_pages {
namespace {

PageSet read(const std::string& text, std::vector<std::string>* errors = nullptr) {
    Diagnostics diags;
    std::optional<yaml::Node> root = yaml::parse(text, std::make_shared<const std::string>("gw.conf"), diags);
    EXPECT_TRUE(root.has_value()) << text;
    PageSet set;
    if (root) read_pages(*root, "error_pages", "/nonexistent-prefix", set, diags);
    for (const Diagnostic& d : diags.all()) {
        if (errors)
            errors->push_back(d.str());
        else
            ADD_FAILURE() << d.str();
    }
    return set;
}

std::string body(const http::ErrorPage* p) { return p ? p->body.source() : "(none)"; }

TEST(ErrorPages, ExactStatusBeforeItsClass) {
    PageSet s = read("5xx: {body: class}\n502: {body: exact}\n4xx: {body: four}\n");
    EXPECT_EQ(body(s.find(502)), "exact");
    EXPECT_EQ(body(s.find(503)), "class");
    EXPECT_EQ(body(s.find(404)), "four");
    EXPECT_EQ(s.find(302), nullptr);
    EXPECT_EQ(s.find(200), nullptr);
}

TEST(ErrorPages, RoutePagesBeforeTopLevelOnes) {
    Settings s;
    s.top = read("5xx: {body: top-class}\n404: {body: top-404}\n");
    s.routes.resize(2);
    s.routes[1] = read("5xx: {body: route-class}\n");
    EXPECT_EQ(body(s.find(1, 502)), "route-class") << "the route's class before the top level's exact status";
    EXPECT_EQ(body(s.find(1, 404)), "top-404") << "a status the route has no page for: the top level's";
    EXPECT_EQ(body(s.find(0, 502)), "top-class");
    EXPECT_EQ(body(s.find(-1, 404)), "top-404") << "requests no route matched";
    EXPECT_EQ(body(s.find(7, 503)), "top-class") << "a route past the list";
    EXPECT_FALSE(s.intercepts(1));
    s.routes[1].intercept = true;
    EXPECT_TRUE(s.intercepts(1));
    EXPECT_FALSE(s.intercepts(-1));
}

TEST(ErrorPages, ContentTypeDefaultsToHtml) {
    PageSet s = read("500: {body: x}\n501: {body: '{}', content_type: application/json}\n");
    EXPECT_EQ(s.find(500)->content_type, "text/html; charset=utf-8");
    EXPECT_EQ(s.find(501)->content_type, "application/json");
}

TEST(ErrorPages, VariablesCompileAtLoad) {
    PageSet s = read("500: {body: '$status at $uri'}\n");
    EXPECT_FALSE(s.find(500)->body.constant());
    std::vector<std::string> errors;
    read("500: {body: '$stauts'}\n", &errors);
    ASSERT_EQ(errors.size(), 1u);
    EXPECT_EQ(errors[0], "gw.conf:1:13: error_pages.500.body: unknown variable \"$stauts\" (did you mean \"$status\"?)");
}

TEST(ErrorPages, BadPagesAreReported) {
    std::vector<std::string> errors;
    read("200: {body: x}\n6xx: {body: x}\n500: {}\n501: {body: x, file: y}\n502: {file: missing.html}\n"
         "503: {body: x, content_type: \"\"}\n",
         &errors);
    ASSERT_EQ(errors.size(), 6u);
    EXPECT_EQ(errors[0], "gw.conf:1:1: error_pages: \"200\" is not an error status (400..599, or 4xx, 5xx)");
    EXPECT_EQ(errors[1], "gw.conf:2:1: error_pages: \"6xx\" is not an error status (400..599, or 4xx, 5xx)");
    EXPECT_EQ(errors[2], "gw.conf:3:6: error_pages.500: a page needs a body or a file");
    EXPECT_EQ(errors[3], "gw.conf:4:22: error_pages.501.file: body and file cannot be used together");
    EXPECT_EQ(errors[4],
              "gw.conf:5:13: error_pages.502.file: cannot read \"/nonexistent-prefix/missing.html\": No such file or directory");
    EXPECT_EQ(errors[5], "gw.conf:6:6: error_pages.503.content_type: not a valid media type");
}

TEST(ErrorPages, DumpLoadsBack) {
    PageSet s = read("502: {body: 'down: $status', content_type: text/plain}\n4xx: {body: four}\n");
    std::string out;
    dump_pages(s, 0, out);
    EXPECT_EQ(out,
              "error_pages:\n"
              "  \"502\":\n    body: \"down: $status\"\n    content_type: \"text/plain\"\n"
              "  \"4xx\":\n    body: \"four\"\n    content_type: \"text/html; charset=utf-8\"\n");
}

}  // namespace
}  // namespace gw::error_pages
