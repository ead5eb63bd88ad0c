#include "core/text_writer.h"

#include <algorithm>
#include <array>

#include "core/text_escape.h"

namespace gw {

namespace {

std::string escape_rest;  // one worker thread: reused, no allocation once grown

// How much of `s` mode `e` leaves as it is.
size_t unchanged_prefix(std::string_view s, TextWriter::Escape e) {
    switch (e) {
        case TextWriter::Escape::None: break;
        case TextWriter::Escape::Header:
            return static_cast<size_t>(
                std::find_if(s.begin(), s.end(), [](char c) { return c == '\r' || c == '\n' || c == '\0'; }) -
                s.begin());
        case TextWriter::Escape::Log:
        case TextWriter::Escape::Json: return plain_prefix(s);
    }
    return s.size();
}

}  // namespace

void TextWriter::copy(std::string_view s) {
    while (s.size() > room()) {
        size_t n = room();
        std::memcpy(cur_, s.data(), n);
        cur_ += n;
        s.remove_prefix(n);
        overflow();
    }
    std::memcpy(cur_, s.data(), s.size());
    cur_ += s.size();
}

void TextWriter::append_slow(std::string_view s) {
    switch (escape_) {
        case Escape::None:
            copy(s);
            return;
        case Escape::Header:
            while (!s.empty()) {
                size_t n = unchanged_prefix(s, Escape::Header);
                copy(s.substr(0, n));
                s.remove_prefix(std::min(n + 1, s.size()));
            }
            return;
        case Escape::Log:
        case Escape::Json: {
            if (plain_prefix(s) == s.size()) {  // most values: nothing to escape
                copy(s);
                return;
            }
            Escape mode = escape_;
            escape_ = Escape::None;  // the escapers write their output as it is
            if (mode == Escape::Log)
                append_log_escaped(*this, s);
            else
                append_json_escaped_text(*this, s);
            escape_ = mode;
            return;
        }
    }
}


void TextWriter::escape_since_slow(uint64_t mark, Escape e) {
    std::string& rest = escape_rest;
    if (mark >= drained_) {
        char* from = begin_ + (mark - drained_);
        std::string_view written(from, static_cast<size_t>(cur_ - from));
        size_t same = unchanged_prefix(written, e);
        if (same == written.size()) return;
        rest.assign(written.substr(same));
        cur_ = from + same;
    } else {
        rest.clear();
        take_back(mark, rest);
    }
    Escape mode = escape_;
    escape_ = e;
    append_slow(rest);
    escape_ = mode;
}

namespace {

// "00" "01" ... "99": numbers are written two digits a step.
constexpr auto kTwoDigits = [] {
    std::array<char, 200> t{};
    for (int i = 0; i < 100; ++i) {
        t[2 * i] = static_cast<char>('0' + i / 10);
        t[2 * i + 1] = static_cast<char>('0' + i % 10);
    }
    return t;
}();

}  // namespace

void TextWriter::number_slow(uint64_t v) {
    char buf[20];
    char* p = buf + sizeof buf;
    while (v >= 100) {
        p -= 2;
        std::memcpy(p, &kTwoDigits[2 * (v % 100)], 2);
        v /= 100;
    }
    if (v >= 10) {
        p -= 2;
        std::memcpy(p, &kTwoDigits[2 * v], 2);
    } else {
        *--p = static_cast<char>('0' + v);
    }
    size_t n = static_cast<size_t>(buf + sizeof buf - p);
    char* at = reserve(sizeof buf);
    copy_in(at, p, n);
    commit(at + n);
}

void StringWriter::take_back(uint64_t mark, std::string& into) {
    into.assign(out_, base_ + mark, std::string::npos);
    into.append(begin_, static_cast<size_t>(cur_ - begin_));
    truncate(mark);
}

void StringWriter::truncate(uint64_t mark) {
    if (mark >= drained_) {
        cur_ = begin_ + (mark - drained_);
        return;
    }
    out_.resize(base_ + mark);
    drained_ = mark;
    cur_ = begin_;
}

}  // namespace gw
