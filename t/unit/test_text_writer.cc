// The TextWriter (core/text_writer.h): what it writes is what the std::string escapers write,
// across its window, and the log times and durations (core/text_time.h).
#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <regex>
#include <string>

#include "core/text_escape.h"
#include "core/text_time.h"
#include "core/text_writer.h"

namespace {

using gw::StringWriter;
using Escape = gw::TextWriter::Escape;

TEST(TextWriter, AppendsAcrossItsWindow) {
    std::string out = "head ";
    std::string big(5000, 'x');
    big[4999] = 'y';
    {
        StringWriter w(out);
        w.append("a");
        w.append(big);  // crosses the 512-byte window several times
        w.put('!');
        for (int i = 0; i < 300; ++i) w.append("0123456789");
        EXPECT_EQ(w.size(), 1 + 5000 + 1 + 3000u);
    }
    ASSERT_EQ(out.size(), 5 + 1 + 5000 + 1 + 3000u);
    EXPECT_EQ(out.substr(0, 6), "head a");
    EXPECT_EQ(out.substr(5004, 3), "xy!");
    EXPECT_EQ(out.substr(out.size() - 10), "0123456789");
}

TEST(TextWriter, SmallCopiesOfEverySize) {
    std::string src = "abcdefghijklmnopqrstuvwxyz0123456789";
    for (size_t n = 0; n <= src.size(); ++n) {
        std::string out;
        {
            StringWriter w(out);
            w.append(std::string_view(src).substr(0, n));
        }
        EXPECT_EQ(out, src.substr(0, n)) << n;
    }
}

TEST(TextWriter, Numbers) {
    std::string out;
    {
        StringWriter w(out);
        for (uint64_t v : {uint64_t{0}, uint64_t{7}, uint64_t{10}, uint64_t{99}, uint64_t{100}, uint64_t{12345},
                           std::numeric_limits<uint64_t>::max()}) {
            w.number(v);
            w.put(' ');
        }
    }
    EXPECT_EQ(out, "0 7 10 99 100 12345 18446744073709551615 ");
}

TEST(TextWriter, EscapesOnTheWayInAsTheStringEscapersDo) {
    std::string value = "plain a\"b\\c\r\nd\te\x01\x7f\xc3\xa9\xff\xc2\x85 end";
    struct Case {
        Escape mode;
        std::string want;
    };
    std::string log, json;
    gw::append_log_escaped(log, value);
    gw::append_json_escaped_text(json, value);
    for (const Case& c : {Case{Escape::None, value}, Case{Escape::Header, "plain a\"b\\cd\te\x01\x7f\xc3\xa9\xff\xc2\x85 end"},
                          Case{Escape::Log, log}, Case{Escape::Json, json}}) {
        std::string direct, after;
        {
            StringWriter w(direct);
            w.set_escape(c.mode);
            w.append(value);
        }
        {
            StringWriter w(after);  // written as it is, then escaped as a whole (templates)
            w.append("[");
            uint64_t mark = w.size();
            w.append(value);
            w.escape_since(mark, c.mode);
            w.append("]");
        }
        EXPECT_EQ(direct, c.want) << static_cast<int>(c.mode);
        EXPECT_EQ(after, "[" + c.want + "]") << static_cast<int>(c.mode);
    }
}

TEST(TextWriter, EscapesAValueThatLeftTheWindow) {
    std::string value(2000, 'v');
    value[1500] = '"';
    std::string want;
    gw::append_log_escaped(want, value);
    std::string out;
    {
        StringWriter w(out);
        w.append(std::string(500, 'p'));  // the value starts near the window's end
        uint64_t mark = w.size();
        w.append(value);
        w.escape_since(mark, Escape::Log);
    }
    EXPECT_EQ(out, std::string(500, 'p') + want);
}

TEST(TextWriter, TruncateInTheWindowAndBeyondIt) {
    std::string out = "x";
    {
        StringWriter w(out);
        w.append("keep");
        uint64_t mark = w.size();
        w.append("drop");
        w.truncate(mark);
        w.append("+");
        uint64_t mark2 = w.size();
        w.append(std::string(3000, 'z'));  // the window has been appended to `out` since
        w.truncate(mark2);
        w.append("end");
    }
    EXPECT_EQ(out, "xkeep+end");
}

TEST(TextTime, SecondsAndCalendarTexts) {
    std::string out;
    {
        StringWriter w(out);
        gw::write_seconds(w, 0, 3);
        w.put(' ');
        gw::write_seconds(w, 1234567, 3);
        w.put(' ');
        gw::write_seconds(w, 1234567, 6);
        w.put(' ');
        gw::write_seconds(w, 98765432100, 3);
        w.put(' ');
        gw::write_seconds(w, 5, 6);
    }
    EXPECT_EQ(out, "0.000 1.234 1.234567 98765.432 0.000005");

    std::string local, iso, utc;
    {
        StringWriter a(local), b(iso), c(utc);
        gw::write_time_local(a);
        gw::write_time_iso8601(b);
        gw::write_time_utc_ms(c);
    }
    EXPECT_TRUE(std::regex_match(local, std::regex(R"(\d\d/[A-Z][a-z][a-z]/\d{4}:\d\d:\d\d:\d\d [+-]\d{4})"))) << local;
    EXPECT_TRUE(std::regex_match(iso, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d\d:\d\d)"))) << iso;
    EXPECT_TRUE(std::regex_match(utc, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)"))) << utc;
}

}  // namespace
