#include "modules/compress/pool.h"

#include <algorithm>

namespace gw::compress {

namespace {

// First guesses, before an encoder of the coding has run in this worker (measured on x86-64
// while compressing: zlib's deflate state at windowBits 15 / memLevel 8, ~262 KiB; Brotli at
// quality 4, ~2.1 MiB (5: 2.65 MiB, 11: 6.3 MiB) with lgwin 18; zstd level 3 at windowLog 18,
// ~1.74 MiB). Replaced by the most an encoder is seen to hold: an encoder at a higher level
// than the guess's may pass the bound once, on the worker's first response of that coding.
constexpr std::array<size_t, 4> kFirstGuess = {0, 270u << 10, 2200u << 10, 1800u << 10};

size_t index(Coding c) { return static_cast<size_t>(c); }

constexpr size_t kWholeGuess = 800u << 10;

// A buffer's heap bytes (its capacity beyond the string's inline room).
size_t counted(const std::string& b) { return b.capacity() - std::string().capacity(); }

}  // namespace

Pool::Pool(size_t max_memory) : max_memory_(max_memory), estimate_(kFirstGuess) {}

size_t Pool::idle() const {
    size_t n = 0;
    for (const auto& v : idle_) n += v.size();
    return n;
}

// Frees idle encoders of codings other than `keep` (theirs is memory no response uses) until
// `need` more bytes fit.
bool Pool::make_room(size_t need, Coding keep) {
    for (size_t k = 0; k < idle_.size(); ++k) {
        if (k == index(keep)) continue;
        auto& list = idle_[k];
        while (meter_.bytes + need > max_memory_ && !list.empty()) {
            Encoder* e = list.back();
            list.pop_back();
            auto it = std::find_if(all_.begin(), all_.end(), [e](const auto& p) { return p.get() == e; });
            if (it != all_.end()) all_.erase(it);
        }
    }
    return meter_.bytes + need <= max_memory_;
}

Encoder* Pool::acquire(Coding c, int level) {
    Encoder* e = nullptr;
    auto& list = idle_[index(c)];
    if (!list.empty()) {
        e = list.back();
        // An idle encoder holds its state already (zlib's, zstd's) - or freed it in idle() and
        // remakes it in reset() (Brotli's): that must fit like a new encoder's.
        if (e->memory() == 0 && !make_room(estimate_[index(c)], c)) return nullptr;
        list.pop_back();
    } else {
        if (!make_room(estimate_[index(c)], c)) return nullptr;
        auto made = make_encoder(c, &meter_);
        if (!made) return nullptr;
        e = made.get();
        all_.push_back(std::move(made));
    }
    if (!e->reset(level)) {
        list.push_back(e);
        return nullptr;
    }
    ++in_use_;
    return e;
}

WholeGzip* Pool::whole_gzip(int level) {
    level = std::clamp(level, 1, 9);
    auto& w = whole_[static_cast<size_t>(level)];
    if (!w) {
        // A level-5 compressor holds about 700 KiB (its hash chains and match finder).
        if (!make_room(kWholeGuess, Coding::Identity)) return nullptr;
        w = std::make_unique<WholeGzip>(level, &meter_);
        if (!w->ok()) {
            w.reset();
            return nullptr;
        }
    }
    return w.get();
}

std::string* Pool::acquire_buffer(size_t size) {
    std::string* b = nullptr;
    if (!idle_buffers_.empty()) {
        b = idle_buffers_.back();
        idle_buffers_.pop_back();
    } else {
        buffers_.push_back(std::make_unique<std::string>());
        b = buffers_.back().get();
    }
    size_t have = counted(*b);
    if (have < size) {
        if (!make_room(size - have, Coding::Identity)) {
            idle_buffers_.push_back(b);
            return nullptr;
        }
        b->reserve(size);
        meter_.bytes += counted(*b) - have;
    }
    b->clear();
    ++in_use_;
    return b;
}

void Pool::release_buffer(std::string* b) {
    if (!b) return;
    --in_use_;
    if (idle_buffers_.size() >= kMaxIdle) {  // after a burst, the worker keeps only a few
        meter_.bytes -= counted(*b);
        auto it = std::find_if(buffers_.begin(), buffers_.end(), [b](const auto& p) { return p.get() == b; });
        if (it != buffers_.end()) buffers_.erase(it);
        return;
    }
    idle_buffers_.push_back(b);
}

void Pool::release(Encoder* e) {
    if (!e) return;
    --in_use_;
    size_t& est = estimate_[index(e->coding())];
    est = std::max(est, e->memory());
    auto& list = idle_[index(e->coding())];
    if (list.size() >= kMaxIdle) {  // after a burst, the worker keeps only a few
        auto it = std::find_if(all_.begin(), all_.end(), [e](const auto& p) { return p.get() == e; });
        if (it != all_.end()) all_.erase(it);
        return;
    }
    e->idle();
    list.push_back(e);
}

}  // namespace gw::compress
