#include <gtest/gtest.h>

#include <cstring>
#include <string>
#include <string_view>

#include "http/proxy/read_buffer.h"

using gw::http::proxy::ReadBuffer;

namespace {

ReadBuffer make() {
    ReadBuffer b;
    b.mem.reset(new char[ReadBuffer::kSize]);
    return b;
}

void append(ReadBuffer& b, std::string_view bytes) {
    ASSERT_LE(bytes.size(), b.room());
    memcpy(b.tail(), bytes.data(), bytes.size());
    b.len += bytes.size();
}

std::string_view view(const ReadBuffer& b) { return {b.data(), b.len}; }

}  // namespace

TEST(ReadBuffer, ConsumingAdvancesWithoutMovingBytes) {
    ReadBuffer b = make();
    append(b, "HTTP/1.1 200 OK\r\n\r\nbody");
    const char* body = b.data() + 19;
    b.consume(19);
    EXPECT_EQ(view(b), "body");
    EXPECT_EQ(b.data(), body);  // not moved
    EXPECT_EQ(b.room(), ReadBuffer::kSize - 23);
}

TEST(ReadBuffer, EmptyingRewindsToTheFront) {
    ReadBuffer b = make();
    append(b, "abcdef");
    b.consume(2);
    b.consume(4);
    EXPECT_EQ(b.len, 0u);
    EXPECT_EQ(b.start, 0u);
    EXPECT_EQ(b.room(), ReadBuffer::kSize);
}

TEST(ReadBuffer, MakeRoomMovesOnlyWhenTheTailIsFull) {
    ReadBuffer b = make();
    std::string head(ReadBuffer::kSize - 10, 'h');
    append(b, head);
    b.consume(100);
    b.make_room();
    EXPECT_EQ(b.start, 100u);  // there is still room at the tail
    append(b, "0123456789");
    ASSERT_EQ(b.room(), 0u);
    b.make_room();
    EXPECT_EQ(b.start, 0u);
    EXPECT_EQ(b.room(), 100u);
    EXPECT_EQ(view(b).substr(b.len - 10), "0123456789");
    EXPECT_EQ(view(b).substr(0, 3), "hhh");
}

TEST(ReadBuffer, FullMeansNoProgressPossible) {
    ReadBuffer b = make();
    append(b, std::string(ReadBuffer::kSize, 'x'));
    b.make_room();
    EXPECT_TRUE(b.full());
    b.consume(1);
    EXPECT_FALSE(b.full());
    b.make_room();
    EXPECT_EQ(b.room(), 1u);
}

TEST(ReadBuffer, ClearForgetsEverything) {
    ReadBuffer b = make();
    append(b, "abc");
    b.consume(1);
    b.clear();
    EXPECT_EQ(b.len, 0u);
    EXPECT_EQ(b.start, 0u);
}
