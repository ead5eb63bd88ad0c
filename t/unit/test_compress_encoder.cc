// The compress module's encoders (src/modules/compress/encoder.h): what each writes decodes,
// with its format's reference decoder, to the bytes given - in one piece or in many, with
// flushes between them, response after response on one (reset) encoder.
#include <brotli/decode.h>
#include <gtest/gtest.h>
#include <zlib.h>
#if GW_HAVE_ZSTD
#include <zstd.h>
#endif

#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "modules/compress/encoder.h"

using gw::compress::Coding;

namespace {

std::string gunzip(std::string_view in) {
    z_stream z{};
    EXPECT_EQ(inflateInit2(&z, 15 + 16), Z_OK);  // gzip only: a zlib or raw stream fails
    std::string out;
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    z.avail_in = static_cast<uInt>(in.size());
    int r = Z_OK;
    char buf[65536];
    while (r == Z_OK) {
        z.next_out = reinterpret_cast<Bytef*>(buf);
        z.avail_out = sizeof buf;
        r = inflate(&z, Z_NO_FLUSH);
        out.append(buf, sizeof buf - z.avail_out);
        if (r == Z_BUF_ERROR) break;
    }
    EXPECT_EQ(r, Z_STREAM_END) << "a complete gzip stream";
    inflateEnd(&z);
    return out;
}

std::string unbrotli(std::string_view in) {
    BrotliDecoderState* s = BrotliDecoderCreateInstance(nullptr, nullptr, nullptr);
    std::string out;
    size_t avail_in = in.size();
    const uint8_t* next_in = reinterpret_cast<const uint8_t*>(in.data());
    BrotliDecoderResult r = BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT;
    char buf[65536];
    while (r == BROTLI_DECODER_RESULT_NEEDS_MORE_OUTPUT) {
        size_t avail_out = sizeof buf;
        uint8_t* next_out = reinterpret_cast<uint8_t*>(buf);
        r = BrotliDecoderDecompressStream(s, &avail_in, &next_in, &avail_out, &next_out, nullptr);
        out.append(buf, sizeof buf - avail_out);
    }
    EXPECT_EQ(r, BROTLI_DECODER_RESULT_SUCCESS) << "a complete brotli stream";
    BrotliDecoderDestroyInstance(s);
    return out;
}

#if GW_HAVE_ZSTD
std::string unzstd(std::string_view in) {
    ZSTD_DCtx* d = ZSTD_createDCtx();
    std::string out;
    ZSTD_inBuffer input{in.data(), in.size(), 0};
    char buf[65536];
    size_t r = 1;
    while (input.pos < input.size || r != 0) {
        ZSTD_outBuffer output{buf, sizeof buf, 0};
        r = ZSTD_decompressStream(d, &output, &input);
        if (ZSTD_isError(r)) break;
        out.append(buf, output.pos);
        if (output.pos == 0 && input.pos == input.size) break;
    }
    EXPECT_EQ(r, 0u) << "a complete zstd frame";
    ZSTD_freeDCtx(d);
    return out;
}
#endif

std::string decode(Coding c, std::string_view in) {
    switch (c) {
        case Coding::Gzip: return gunzip(in);
        case Coding::Br: return unbrotli(in);
#if GW_HAVE_ZSTD
        case Coding::Zstd: return unzstd(in);
#endif
        default: return {};
    }
}

// JSON-like text (compressible) with random bytes mixed in (not all of it).
std::string body(size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::string s;
    while (s.size() < n) {
        s += "{\"id\":" + std::to_string(rng() % 100000) + ",\"name\":\"item\",\"tags\":[\"a\",\"b\"]},";
        if (rng() % 8 == 0) s.push_back(static_cast<char>(rng()));
    }
    s.resize(n);
    return s;
}

std::vector<Coding> codings() {
    std::vector<Coding> v = {Coding::Gzip, Coding::Br};
    if (gw::compress::available(Coding::Zstd)) v.push_back(Coding::Zstd);
    return v;
}

}  // namespace

TEST(CompressEncoder, OnePieceRoundTrips) {
    for (Coding c : codings()) {
        auto e = gw::compress::make_encoder(c);
        ASSERT_TRUE(e) << gw::compress::coding_name(c);
        for (size_t n : {size_t{0}, size_t{1}, size_t{1000}, size_t{300000}}) {
            std::string in = body(n, static_cast<unsigned>(n)), out;
            ASSERT_TRUE(e->reset(5));
            ASSERT_TRUE(e->write(in, false, true, out));
            EXPECT_EQ(decode(c, out), in) << gw::compress::coding_name(c) << " " << n;
            if (n >= 1000) {
                EXPECT_LT(out.size(), in.size() / 2) << gw::compress::coding_name(c);
            }
        }
    }
}

TEST(CompressEncoder, ManyPiecesWithFlushesAndResets) {
    for (Coding c : codings()) {
        auto e = gw::compress::make_encoder(c);
        ASSERT_TRUE(e);
        for (unsigned response = 0; response < 3; ++response) {  // the same encoder, reset each time
            std::string in = body(200000 + response * 7777, response), out;
            ASSERT_TRUE(e->reset(static_cast<int>(1 + response)));
            std::mt19937 rng(response);
            size_t at = 0;
            while (at < in.size()) {
                size_t piece = std::min<size_t>(in.size() - at, 1 + rng() % 20000);
                bool flush = rng() % 5 == 0;
                ASSERT_TRUE(e->write(std::string_view(in).substr(at, piece), flush, false, out));
                at += piece;
            }
            ASSERT_TRUE(e->write({}, false, true, out));
            EXPECT_EQ(decode(c, out), in) << gw::compress::coding_name(c) << " response " << response;
        }
    }
}

TEST(CompressEncoder, AFlushMakesWhatCameSoFarDecodable) {
    // An event stream's chunk must reach the client whole at once: after a flush, the output so
    // far decodes (by a streaming decoder) to everything written so far.
    auto e = gw::compress::make_encoder(Coding::Gzip);
    ASSERT_TRUE(e && e->reset(5));
    std::string out;
    ASSERT_TRUE(e->write("data: one\n\n", true, false, out));
    z_stream z{};
    ASSERT_EQ(inflateInit2(&z, 15 + 16), Z_OK);
    z.next_in = reinterpret_cast<Bytef*>(out.data());
    z.avail_in = static_cast<uInt>(out.size());
    char buf[256];
    z.next_out = reinterpret_cast<Bytef*>(buf);
    z.avail_out = sizeof buf;
    inflate(&z, Z_SYNC_FLUSH);
    EXPECT_EQ(std::string(buf, sizeof buf - z.avail_out), "data: one\n\n");
    inflateEnd(&z);
}

TEST(CompressEncoder, IdentityHasNoEncoder) {
    EXPECT_EQ(gw::compress::make_encoder(Coding::Identity), nullptr);
    EXPECT_TRUE(gw::compress::available(Coding::Gzip));
    EXPECT_TRUE(gw::compress::available(Coding::Br));
    EXPECT_EQ(gw::compress::available(Coding::Zstd), GW_HAVE_ZSTD != 0);
}
