// The word-at-a-time helpers of http/chars.h against their byte-at-a-time definitions.
#include <gtest/gtest.h>

#include <random>
#include <string>

#include "http/chars.h"

namespace gw::http::chars {
namespace {

TEST(CharsScan, LowerInPlaceEveryByteEveryPlace) {
    for (size_t n = 0; n <= 40; ++n)
        for (size_t at = 0; at < std::max<size_t>(n, 1); ++at)
            for (int c = 0; c < 256; ++c) {
                std::string s(n, 'Q');
                if (n) s[at] = static_cast<char>(c);
                std::string want = s;
                for (char& ch : want) ch = ascii_lower(ch);
                lower_in_place(s.data(), s.size());
                ASSERT_EQ(s, want) << "n=" << n << " at=" << at << " byte=" << c;
            }
}

size_t reference_skip(const std::string& s, size_t p) {
    while (p < s.size() && is_text(s[p])) ++p;
    return p;
}

TEST(CharsScan, SkipValueTextStopsAtTheFirstBadByte) {
    // Every byte value at every place of lines of every length up to 40, from every start.
    for (size_t n = 1; n <= 40; ++n)
        for (size_t at = 0; at < n; ++at)
            for (int c = 0; c < 256; ++c) {
                std::string s(n, 'v');
                s[at] = static_cast<char>(c);
                for (size_t from : {size_t{0}, size_t{1}, n / 2})
                    ASSERT_EQ(skip_value_text(s.data(), from, s.size()), reference_skip(s, from))
                        << "n=" << n << " at=" << at << " byte=" << c << " from=" << from;
            }
}

TEST(CharsScan, SkipValueTextRandom) {
    std::mt19937 rng(7);
    for (int round = 0; round < 20000; ++round) {
        std::string s(rng() % 100, '\0');
        for (char& ch : s) {
            unsigned r = rng() % 100;
            ch = r < 3 ? static_cast<char>(rng() % 32) : r < 4 ? '\x7f' : static_cast<char>(32 + rng() % 224);
        }
        size_t from = s.empty() ? 0 : rng() % s.size();
        ASSERT_EQ(skip_value_text(s.data(), from, s.size()), reference_skip(s, from));
    }
}

}  // namespace
}  // namespace gw::http::chars
