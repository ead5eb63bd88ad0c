// A text written through a raw cursor: the formatting of the hot path (access log lines, header
// values from variables). An append is a bounds check and a copy, not a call into std::string
// per piece, and escaping is applied on the way in, per the writer's current mode, so a value is
// looked at once, as it is copied.
//
// The writer fills a window of memory; when the window is full, overflow() makes room
// (StringWriter: appends the window to a std::string; the access log: writes its complete lines
// to the file). Nothing is allocated by the writer itself.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

#include "core/text_escape.h"

namespace gw {

class TextWriter {
  public:
    enum class Escape : uint8_t {
        None,    // as is
        Header,  // CR, LF and NUL dropped: a header value must never be split
        Log,     // as append_log_escaped (\xHH)
        Json,    // as append_json_escaped_text (the inside of a JSON string)
    };

    TextWriter(const TextWriter&) = delete;
    TextWriter& operator=(const TextWriter&) = delete;

    Escape escape() const { return escape_; }
    void set_escape(Escape e) { escape_ = e; }

    void append(std::string_view s) {
        if (escape_ == Escape::None && s.size() <= room()) {
            copy_in(cur_, s.data(), s.size());
            cur_ += s.size();
            return;
        }
        append_slow(s);
    }
    void append(const char* p, size_t n) { append(std::string_view(p, n)); }
    void put(char c) {
        if (escape_ == Escape::None && cur_ != end_) {
            *cur_++ = c;
            return;
        }
        append_slow(std::string_view(&c, 1));
    }
    TextWriter& operator+=(std::string_view s) {
        append(s);
        return *this;
    }
    TextWriter& operator+=(char c) {
        put(c);
        return *this;
    }

    // Escapes, as mode `e` does, what was written since `mark` (a size() taken before, in mode
    // None). A value is best written as it is and looked at once, here, as a whole: most need
    // nothing, and the writer then moves nothing.
    void escape_since(uint64_t mark, Escape e) {
        if (mark >= drained_ && e != Escape::Header) {  // the usual case: in the window, plain
            const char* from = begin_ + (mark - drained_);
            size_t n = static_cast<size_t>(cur_ - from);
            if (plain_prefix(std::string_view(from, n)) == n) return;
        }
        escape_since_slow(mark, e);
    }

    // The decimal digits of `v` (digits never need escaping).
    void number(uint64_t v) {
        if (v < 10 && cur_ != end_) {
            *cur_++ = static_cast<char>('0' + v);
            return;
        }
        number_slow(v);
    }

    // Room for `n` (at most kMinWindow) bytes written as they are - digits, times: write them
    // from the pointer returned, then commit() where they end.
    static constexpr size_t kMinWindow = 64;
    char* reserve(size_t n) {
        if (room() < n) overflow();
        return cur_;
    }
    void commit(char* end) { cur_ = end; }

    // Bytes written so far.
    uint64_t size() const { return drained_ + static_cast<uint64_t>(cur_ - begin_); }

  protected:
    TextWriter() = default;
    ~TextWriter() = default;

    // The window [begin, end) is empty; it must hold at least kMinWindow bytes.
    void set_window(char* begin, char* end) {
        begin_ = cur_ = begin;
        end_ = end;
    }
    // Makes room for at least kMinWindow more bytes (what it moves out of the window is counted
    // in drained_).
    virtual void overflow() = 0;
    // Moves what was written since `mark`, when some of it has left the window, to `into` and
    // forgets it (size() is `mark` after).
    virtual void take_back(uint64_t mark, std::string& into) = 0;

    size_t room() const { return static_cast<size_t>(end_ - cur_); }

    char* begin_ = nullptr;
    char* cur_ = nullptr;
    char* end_ = nullptr;
    uint64_t drained_ = 0;  // bytes written that are no longer in the window

  private:
    // memcpy, without the call for the short pieces most texts are made of: two moves that
    // may overlap cover 4 to 16 bytes.
    static void copy_in(char* d, const char* s, size_t n) {
        if (n > 16) {
            std::memcpy(d, s, n);
        } else if (n >= 8) {
            uint64_t a, b;
            std::memcpy(&a, s, 8);
            std::memcpy(&b, s + n - 8, 8);
            std::memcpy(d, &a, 8);
            std::memcpy(d + n - 8, &b, 8);
        } else if (n >= 4) {
            uint32_t a, b;
            std::memcpy(&a, s, 4);
            std::memcpy(&b, s + n - 4, 4);
            std::memcpy(d, &a, 4);
            std::memcpy(d + n - 4, &b, 4);
        } else if (n > 0) {
            d[0] = s[0];
            d[n / 2] = s[n / 2];
            d[n - 1] = s[n - 1];
        }
    }
    void append_slow(std::string_view s);
    void number_slow(uint64_t v);
    void escape_since_slow(uint64_t mark, Escape e);
    void copy(std::string_view s);  // as is, across windows
    Escape escape_ = Escape::None;
};

// Appends to a std::string through a window on the stack: one std::string append per window
// (most texts fit one) when finished.
class StringWriter final : public TextWriter {
  public:
    explicit StringWriter(std::string& out) : out_(out), base_(out.size()) { set_window(buf_, buf_ + sizeof buf_); }
    ~StringWriter() { finish(); }

    // Appends what is still in the window to the string (the destructor does it too).
    void finish() {
        if (cur_ != begin_) overflow();
    }
    // Drops what was written after `mark` (a size()).
    void truncate(uint64_t mark);

  private:
    void take_back(uint64_t mark, std::string& into) override;
    void overflow() override {
        out_.append(begin_, static_cast<size_t>(cur_ - begin_));
        drained_ += static_cast<uint64_t>(cur_ - begin_);
        cur_ = begin_;
    }
    std::string& out_;
    size_t base_;  // the string's size when the writer started
    char buf_[512];
};

}  // namespace gw
