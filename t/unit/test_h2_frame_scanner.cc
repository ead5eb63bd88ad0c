// The frame-header walk ahead of nghttp2 (src/http/h2/frame_scanner.h): the same stops, at the
// same places, however the bytes are cut into reads.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "http/h2/frame_scanner.h"

namespace gw::http::h2 {
namespace {

using Kind = FrameScanner::Kind;

std::string frame(uint8_t type, uint8_t flags, uint32_t stream, const std::string& payload) {
    std::string f;
    size_t n = payload.size();
    f += static_cast<char>(n >> 16);
    f += static_cast<char>(n >> 8);
    f += static_cast<char>(n);
    f += static_cast<char>(type);
    f += static_cast<char>(flags);
    for (int s = 24; s >= 0; s -= 8) f += static_cast<char>(stream >> s);
    return f + payload;
}

std::string priority_payload(uint32_t depends_on, bool exclusive = false) {
    uint32_t v = depends_on | (exclusive ? 0x80000000u : 0);
    std::string p;
    for (int s = 24; s >= 0; s -= 8) p += static_cast<char>(v >> s);
    return p + '\x10';  // weight
}

struct Seen {
    Kind kind;
    size_t end;  // offset in the whole input just after the stop
    int32_t stream;
    int32_t depends_on;
    bool operator==(const Seen&) const = default;
};

// Feeds `in` cut at `cuts` (offsets), as the session does: on to each stop, then the rest.
std::vector<Seen> scan(const std::string& in, std::vector<size_t> cuts) {
    FrameScanner sc;
    std::vector<Seen> out;
    cuts.push_back(in.size());
    size_t from = 0;
    for (size_t cut : cuts) {
        const auto* p = reinterpret_cast<const uint8_t*>(in.data()) + from;
        size_t n = cut - from;
        size_t base = from;
        while (n > 0) {
            FrameScanner::Stop s = sc.next(p, n);
            EXPECT_LE(s.at, n);
            if (s.kind != Kind::None) out.push_back({s.kind, base + s.at, s.stream, s.depends_on});
            else EXPECT_EQ(s.at, n) << "no stop: all of it passes";
            if (s.kind != Kind::None && s.at == 0) {
                ADD_FAILURE() << "a stop that passes no byte";
                return out;
            }
            p += s.at;
            n -= s.at;
            base += s.at;
        }
        from = cut;
    }
    return out;
}

const std::string kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

struct Stream {
    std::string bytes;
    std::vector<Seen> stops;
};

Stream sample() {
    Stream s;
    auto add = [&](const std::string& f) { s.bytes += f; };
    add(kPreface);
    add(frame(0x4, 0, 0, std::string(12, '\0')));                  // SETTINGS
    add(frame(0x1, 0x5, 1, std::string(20, 'h')));                 // HEADERS
    add(frame(0x0, 0x0, 1, ""));                                   // empty DATA
    s.stops.push_back({Kind::Data, s.bytes.size(), 1, 0});
    add(frame(0x0, 0x1, 1, std::string(100, 'd')));                // DATA with a body
    s.stops.push_back({Kind::Data, s.bytes.size() - 100, 1, 0});
    add(frame(0x2, 0, 3, priority_payload(3, true)));              // PRIORITY, on itself
    s.stops.push_back({Kind::Priority, s.bytes.size(), 3, 3});
    add(frame(0x2, 0, 5, priority_payload(1)));                    // PRIORITY, on stream 1
    s.stops.push_back({Kind::Priority, s.bytes.size(), 5, 1});
    add(frame(0x2, 0, 7, "\0\0\0"));                               // PRIORITY of 3 bytes
    add(frame(0x8, 0, 0, "\0\0\0\1"));                             // WINDOW_UPDATE
    add(frame(0x2, 0, 0, priority_payload(0)));                    // PRIORITY on stream 0
    s.stops.push_back({Kind::Priority, s.bytes.size(), 0, 0});
    add(frame(0x0, 0x8, 0x7fffffff, std::string("\x02", 1) + "ab" + std::string(2, '\0')));  // padded DATA
    s.stops.push_back({Kind::Data, s.bytes.size() - 5, 0x7fffffff, 0});
    add(frame(0xfa, 0, 9, std::string(40000, 'x')));               // an unknown type, long
    add(frame(0x0, 0, 0x80000003u, ""));                           // the reserved bit is not the id
    s.stops.push_back({Kind::Data, s.bytes.size(), 3, 0});
    return s;
}

TEST(H2FrameScanner, FindsEachStopInOneRead) {
    Stream s = sample();
    EXPECT_EQ(scan(s.bytes, {}), s.stops);
}

TEST(H2FrameScanner, TheSameStopsWhereverTheReadIsCut) {
    Stream s = sample();
    for (size_t cut = 1; cut < s.bytes.size(); cut += (cut < 400 ? 1 : 997))
        ASSERT_EQ(scan(s.bytes, {cut}), s.stops) << "cut at " << cut;
}

TEST(H2FrameScanner, ByteByByte) {
    Stream s = sample();
    std::vector<size_t> cuts;
    for (size_t i = 1; i < 600; ++i) cuts.push_back(i);
    for (size_t i = 600; i < s.bytes.size(); i += 333) cuts.push_back(i);
    EXPECT_EQ(scan(s.bytes, cuts), s.stops);
}

TEST(H2FrameScanner, NothingButThePrefaceAndPieces) {
    FrameScanner sc;
    const auto* p = reinterpret_cast<const uint8_t*>(kPreface.data());
    FrameScanner::Stop st = sc.next(p, 10);
    EXPECT_EQ(st.kind, Kind::None);
    EXPECT_EQ(st.at, 10u);
    st = sc.next(p + 10, kPreface.size() - 10);
    EXPECT_EQ(st.kind, Kind::None);
    std::string d = frame(0x0, 0, 5, "xyz");
    st = sc.next(reinterpret_cast<const uint8_t*>(d.data()), 4);  // part of a header
    EXPECT_EQ(st.kind, Kind::None);
    EXPECT_EQ(st.at, 4u);
    st = sc.next(reinterpret_cast<const uint8_t*>(d.data()) + 4, d.size() - 4);
    EXPECT_EQ(st.kind, Kind::Data);
    EXPECT_EQ(st.at, 5u) << "the header's last 5 bytes";
    EXPECT_EQ(st.stream, 5);
}

}  // namespace
}  // namespace gw::http::h2
