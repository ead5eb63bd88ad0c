#include "modules/compress/encoder.h"

#include <brotli/encode.h>
#include <libdeflate.h>
#include <zlib.h>
#if GW_HAVE_ZSTD
// For ZSTD_createCCtx_advanced (custom allocators): in libzstd's "experimental" section, but
// exported by the shared library and unchanged since 1.3.
#define ZSTD_STATIC_LINKING_ONLY
#include <zstd.h>
#endif

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace gw::compress {

namespace {

constexpr size_t kOutStep = 16 * 1024;  // output room added per library call

// The libraries' allocations, counted: each block starts with its size (the free functions of
// zlib, Brotli and zstd are not told it), in a header that keeps the block's alignment.
constexpr size_t kHeader = alignof(std::max_align_t);

void* counted_alloc(void* opaque, size_t n) {
    auto* e = static_cast<Encoder*>(opaque);
    auto* p = static_cast<unsigned char*>(std::malloc(n + kHeader));
    if (!p) return nullptr;
    std::memcpy(p, &n, sizeof n);
    e->held_ += n;
    if (e->meter_) e->meter_->bytes += n;
    return p + kHeader;
}

void counted_free(void* opaque, void* block) {
    if (!block) return;
    auto* e = static_cast<Encoder*>(opaque);
    unsigned char* p = static_cast<unsigned char*>(block) - kHeader;
    size_t n;
    std::memcpy(&n, p, sizeof n);
    e->held_ -= n;
    if (e->meter_) e->meter_->bytes -= n;
    std::free(p);
}

// libdeflate's allocator is global and has no opaque pointer: the block's header carries its
// meter too, and the meter of the compressor being made is set around the allocation.
Meter* g_deflate_meter = nullptr;
struct DeflateHeader {
    size_t size;
    Meter* meter;
};
static_assert(sizeof(DeflateHeader) <= kHeader);

void* deflate_alloc(size_t n) {
    auto* p = static_cast<unsigned char*>(std::malloc(n + kHeader));
    if (!p) return nullptr;
    DeflateHeader h{n, g_deflate_meter};
    std::memcpy(p, &h, sizeof h);
    if (h.meter) h.meter->bytes += n;
    return p + kHeader;
}

void deflate_free(void* block) {
    if (!block) return;
    unsigned char* p = static_cast<unsigned char*>(block) - kHeader;
    DeflateHeader h;
    std::memcpy(&h, p, sizeof h);
    if (h.meter) h.meter->bytes -= h.size;
    std::free(p);
}

voidpf zlib_alloc(voidpf opaque, uInt items, uInt size) {
    return counted_alloc(opaque, static_cast<size_t>(items) * size);
}
void zlib_free(voidpf opaque, voidpf block) { counted_free(opaque, block); }

class GzipEncoder final : public Encoder {
  public:
    explicit GzipEncoder(Meter* meter) {
        meter_ = meter;
        z_.zalloc = zlib_alloc;
        z_.zfree = zlib_free;
        z_.opaque = static_cast<Encoder*>(this);
        // 15 + 16: a gzip wrapper (header and CRC-32 trailer) around deflate, the 32 KiB window.
        ok_ = deflateInit2(&z_, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK;
    }
    ~GzipEncoder() override {
        if (ok_) deflateEnd(&z_);
    }
    bool reset(int level) override {
        return ok_ && deflateReset(&z_) == Z_OK &&
               deflateParams(&z_, std::clamp(level, 1, 9), Z_DEFAULT_STRATEGY) == Z_OK;
    }
    bool write(std::string_view in, bool flush, bool finish, std::string& out) override {
        int mode = finish ? Z_FINISH : flush ? Z_SYNC_FLUSH : Z_NO_FLUSH;
        z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
        z_.avail_in = static_cast<uInt>(in.size());
        for (;;) {
            size_t used = out.size();
            out.resize(used + kOutStep);
            z_.next_out = reinterpret_cast<Bytef*>(out.data() + used);
            z_.avail_out = static_cast<uInt>(kOutStep);
            int r = deflate(&z_, mode);
            out.resize(used + (kOutStep - z_.avail_out));
            if (r == Z_STREAM_ERROR) return false;
            if (finish ? r == Z_STREAM_END : (z_.avail_in == 0 && z_.avail_out != 0)) return true;
            if (r == Z_BUF_ERROR && z_.avail_in == 0 && !finish) return true;  // nothing more to do
        }
    }
    Coding coding() const override { return Coding::Gzip; }

  private:
    z_stream z_{};
    bool ok_ = false;
};

class BrotliEncoder final : public Encoder {
  public:
    explicit BrotliEncoder(Meter* meter) { meter_ = meter; }
    ~BrotliEncoder() override { drop(); }
    bool reset(int level) override {
        drop();  // no reset in Brotli's API: a new state per response
        s_ = BrotliEncoderCreateInstance(counted_alloc, counted_free, static_cast<Encoder*>(this));
        return s_ && BrotliEncoderSetParameter(s_, BROTLI_PARAM_QUALITY, static_cast<uint32_t>(std::clamp(level, 0, 11))) &&
               BrotliEncoderSetParameter(s_, BROTLI_PARAM_LGWIN, 18);
    }
    bool write(std::string_view in, bool flush, bool finish, std::string& out) override {
        if (!s_) return false;
        BrotliEncoderOperation op = finish ? BROTLI_OPERATION_FINISH : flush ? BROTLI_OPERATION_FLUSH : BROTLI_OPERATION_PROCESS;
        size_t avail_in = in.size();
        const uint8_t* next_in = reinterpret_cast<const uint8_t*>(in.data());
        for (;;) {
            size_t used = out.size();
            out.resize(used + kOutStep);
            size_t avail_out = kOutStep;
            uint8_t* next_out = reinterpret_cast<uint8_t*>(out.data() + used);
            BROTLI_BOOL r = BrotliEncoderCompressStream(s_, op, &avail_in, &next_in, &avail_out, &next_out, nullptr);
            out.resize(used + (kOutStep - avail_out));
            if (!r) return false;
            bool pending = BrotliEncoderHasMoreOutput(s_);
            if (finish) {
                if (BrotliEncoderIsFinished(s_)) return true;
            } else if (avail_in == 0 && !pending) {
                return true;
            }
        }
    }
    Coding coding() const override { return Coding::Br; }
    void idle() override { drop(); }

  private:
    void drop() {
        if (s_) BrotliEncoderDestroyInstance(s_);
        s_ = nullptr;
    }
    BrotliEncoderState* s_ = nullptr;
};

#if GW_HAVE_ZSTD
class ZstdEncoder final : public Encoder {
  public:
    explicit ZstdEncoder(Meter* meter) {
        meter_ = meter;
        c_ = ZSTD_createCCtx_advanced(ZSTD_customMem{counted_alloc, counted_free, static_cast<Encoder*>(this)});
    }
    ~ZstdEncoder() override { ZSTD_freeCCtx(c_); }
    bool reset(int level) override {
        return c_ && !ZSTD_isError(ZSTD_CCtx_reset(c_, ZSTD_reset_session_only)) &&
               !ZSTD_isError(ZSTD_CCtx_setParameter(c_, ZSTD_c_compressionLevel, std::clamp(level, 1, 19))) &&
               !ZSTD_isError(ZSTD_CCtx_setParameter(c_, ZSTD_c_windowLog, 18));
    }
    bool write(std::string_view in, bool flush, bool finish, std::string& out) override {
        ZSTD_EndDirective mode = finish ? ZSTD_e_end : flush ? ZSTD_e_flush : ZSTD_e_continue;
        ZSTD_inBuffer input{in.data(), in.size(), 0};
        for (;;) {
            size_t used = out.size();
            out.resize(used + kOutStep);
            ZSTD_outBuffer output{out.data() + used, kOutStep, 0};
            size_t left = ZSTD_compressStream2(c_, &output, &input, mode);
            out.resize(used + output.pos);
            if (ZSTD_isError(left)) return false;
            if (mode == ZSTD_e_continue ? input.pos == input.size : left == 0) return true;
        }
    }
    Coding coding() const override { return Coding::Zstd; }

  private:
    ZSTD_CCtx* c_ = nullptr;
};
#endif

}  // namespace

WholeGzip::WholeGzip(int level, Meter* meter) {
    // Installed once, before the first compressor exists (as libdeflate requires).
    static const bool installed = (libdeflate_set_memory_allocator(deflate_alloc, deflate_free), true);
    (void)installed;
    g_deflate_meter = meter;
    c_ = libdeflate_alloc_compressor(std::clamp(level, 1, 9));
    g_deflate_meter = nullptr;
}

WholeGzip::~WholeGzip() {
    if (c_) libdeflate_free_compressor(c_);
}

bool WholeGzip::compress(std::string_view in, std::string& out) {
    if (!c_) return false;
    size_t used = out.size();
    out.resize(used + libdeflate_gzip_compress_bound(c_, in.size()));
    size_t n = libdeflate_gzip_compress(c_, in.data(), in.size(), out.data() + used, out.size() - used);
    out.resize(used + n);
    return n != 0;
}

bool available(Coding c) {
    switch (c) {
        case Coding::Gzip:
        case Coding::Br: return true;
        case Coding::Zstd: return GW_HAVE_ZSTD != 0;
        case Coding::Identity: return false;
    }
    return false;
}

std::unique_ptr<Encoder> make_encoder(Coding c, Meter* meter) {
    switch (c) {
        case Coding::Gzip: return std::make_unique<GzipEncoder>(meter);
        case Coding::Br: return std::make_unique<BrotliEncoder>(meter);
#if GW_HAVE_ZSTD
        case Coding::Zstd: return std::make_unique<ZstdEncoder>(meter);
#endif
        default: return nullptr;
    }
}

}  // namespace gw::compress
