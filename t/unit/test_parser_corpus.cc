// The request corpus: t/data/requests/NNN-name.http hold raw requests (smuggling shapes,
// malformed heads, limits, and requests that must pass), and t/data/requests/expected.txt says
// what the request parser must make of each with the default ParserLimits:
//
//     # comment
//     001-ok-simple-get.http ok       Complete
//     016-cl-then-te.http 400         Error with this status
//
// The data directory is $GW_TEST_DATA if set, else "t/data" relative to the current directory
// (the test runner starts from the top of the tree). t/data/gen-requests.pl writes the corpus.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "http/parser.h"

namespace gw::http {
namespace {

namespace fs = std::filesystem;

struct Case {
    std::string file;
    std::string expected;  // "ok" or a status code
    int line = 0;
};

fs::path corpus_dir() {
    const char* env = std::getenv("GW_TEST_DATA");
    return fs::path(env != nullptr && *env != '\0' ? env : "t/data") / "requests";
}

const char* result_name(ParseResult r) {
    switch (r) {
        case ParseResult::Complete:
            return "Complete";
        case ParseResult::Incomplete:
            return "Incomplete";
        case ParseResult::Error:
            return "Error";
    }
    return "?";
}

TEST(ParserCorpus, EveryRequestGetsItsExpectedStatus) {
    const fs::path dir = corpus_dir();
    const fs::path list = dir / "expected.txt";
    std::ifstream in(list);
    ASSERT_TRUE(in) << "cannot open " << list << " (set GW_TEST_DATA to the t/data directory, or "
                    << "run from the top of the source tree)";

    std::vector<Case> cases;
    std::set<std::string> listed;
    std::string text;
    int lineno = 0;
    while (std::getline(in, text)) {
        ++lineno;
        if (text.empty() || text[0] == '#') continue;
        std::istringstream fields(text);
        Case c;
        std::string extra;
        c.line = lineno;
        if (!(fields >> c.file >> c.expected) || (fields >> extra)) {
            ADD_FAILURE() << list << ":" << lineno << ": expected `FILE STATUS`, got `" << text
                          << "`";
            continue;
        }
        if (c.expected != "ok") {
            const int s = std::atoi(c.expected.c_str());
            if (std::to_string(s) != c.expected || s < 400 || s > 599) {
                ADD_FAILURE() << list << ":" << lineno << ": status must be `ok` or a 4xx/5xx "
                              << "code, got `" << c.expected << "`";
                continue;
            }
        }
        if (!listed.insert(c.file).second) {
            ADD_FAILURE() << list << ":" << lineno << ": " << c.file << " listed twice";
            continue;
        }
        cases.push_back(c);
    }
    ASSERT_FALSE(cases.empty()) << list << " lists no files";

    // A case file that is not listed would silently go untested.
    for (const auto& entry : fs::directory_iterator(dir)) {
        const std::string name = entry.path().filename().string();
        if (entry.path().extension() == ".http" && listed.count(name) == 0)
            ADD_FAILURE() << dir / name << " is not listed in " << list;
    }

    const ParserLimits limits;  // the defaults: 16k head, 8k target, 100 headers
    auto req = std::make_unique<Request>();
    size_t checked = 0;
    for (const Case& c : cases) {
        const fs::path path = dir / c.file;
        std::ifstream f(path, std::ios::binary);
        if (!f) {
            ADD_FAILURE() << list << ":" << c.line << ": cannot open " << path;
            continue;
        }
        const std::string bytes((std::istreambuf_iterator<char>(f)),
                                std::istreambuf_iterator<char>());
        ParseError err;
        const ParseResult r = parse_request_head(bytes, limits, *req, err);
        ++checked;
        if (c.expected == "ok") {
            EXPECT_EQ(r, ParseResult::Complete)
                << c.file << ": expected the request to parse, got " << result_name(r)
                << (r == ParseResult::Error
                        ? " " + std::to_string(err.status) + " (" + std::string(err.reason) + ")"
                        : std::string());
            if (r == ParseResult::Complete) {
                EXPECT_LE(req->head_length, bytes.size()) << c.file;
            }
        } else {
            const int want = std::atoi(c.expected.c_str());
            if (r != ParseResult::Error) {
                ADD_FAILURE() << c.file << ": expected " << want << ", got " << result_name(r);
                continue;
            }
            EXPECT_EQ(err.status, want) << c.file << ": expected " << want << ", got " << err.status
                                        << " (" << err.reason << ")";
            EXPECT_FALSE(err.reason.empty()) << c.file << ": error without a reason";
        }
    }
    EXPECT_EQ(checked, cases.size());
    RecordProperty("cases", static_cast<int>(checked));
}

}  // namespace
}  // namespace gw::http
