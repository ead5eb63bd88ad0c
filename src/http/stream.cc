#include "http/stream.h"

#include <bit>
#include <cstring>

#include "http/response.h"

namespace gw::http {

Stream::Stream() {}

void Stream::begin(StreamIo* io, size_t listener_index) {
    io_ = io;
    listener_index_ = listener_index;
    route_ = nullptr;
    match_.route = -1;
    match_.captures = 0;
    upstream_trace_.clear();
    upstream_deadline_ = 0;
    want_trailers_ = false;
    trailers_.clear();
    response_head_bytes = 0;
}

void Stream::end() {
    if (trace_) [[unlikely]] {
        TraceContext* t = trace_;
        trace_ = nullptr;
        if (t->ended) t->ended(*t, *this);
    }
    if (chain_ && (chain_->hooks() & kHookDestroy)) {
        // Last in, first out; only filters whose on_request ran have a state to end.
        const auto& entries = chain_->entries();
        for (size_t i = next_filter_; i-- > 0;)
            if (entries[i].filter->hooks() & kHookDestroy) entries[i].filter->on_destroy(*this, ctx(i));
    }
    chain_ = nullptr;
    next_filter_ = 0;
    paused_ = running_ = resumed_inline_ = false;
    body_filter_count_ = 0;
    body_transforms_ = 0;
    stored_head_ = stored_body_ = {};
    reply_status_ = 0;
    reply_body_.clear();
    reply_lines_.clear();
    input_listener_ = nullptr;
    request_lines_.clear();
    identity_ = nullptr;
    handler = nullptr;
    ++serial_;  // every handle given out so far is stale now
}

void Stream::set_client_text(const net::IpAddress& ip) {
    client_ip_ = ip;
    client_len_ = static_cast<uint8_t>(net::format_ip(ip, client_text_));
    client_ptr_ = client_text_;
    client_from_header_ = true;
    client_port_ = 0;
}

void Stream::mark_start() { clock_gettime(CLOCK_MONOTONIC, &start_); }

void Stream::set_request_id(std::string_view incoming, IdGenerator& ids) {
    size_t n = make_request_id(incoming, ids, id_line_ + kIdPrefix);
    memcpy(id_line_ + kIdPrefix + n, "\r\n\r\n", 4);
    request_id_len_ = static_cast<uint8_t>(n);
}

FilterStatus Stream::run_request_filters(const FilterChain* chain) {
    chain_ = chain;
    next_filter_ = 0;
    if (!chain || !(chain->hooks() & kHookRequest)) {
        if (chain) next_filter_ = static_cast<uint8_t>(chain->entries().size());
        return FilterStatus::Continue;
    }
    return continue_filters();
}

// The chain driver. A filter that resumes (or answers) inline - before returning Pause - is
// noticed here, so filters need no "did I already call back?" state of their own.
FilterStatus Stream::continue_filters() {
    const auto& entries = chain_->entries();
    running_ = true;
    while (next_filter_ < entries.size()) {
        size_t i = next_filter_++;
        Filter* f = entries[i].filter;
        if (!(f->hooks() & kHookRequest)) continue;
        resumed_inline_ = false;
        FilterStatus st = f->on_request(*this, ctx(i));
        if (st == FilterStatus::Continue) continue;
        if (st == FilterStatus::Pause && resumed_inline_) {
            resumed_inline_ = false;
            if (reply_status_ == 0) continue;
            st = FilterStatus::Done;
        }
        running_ = false;
        paused_ = st == FilterStatus::Pause;
        return st;
    }
    running_ = false;
    return FilterStatus::Continue;
}

void Stream::resume_from_handle(uint32_t serial) {
    if (serial != serial_) return;  // the stream this handle was for has ended
    if (running_) {
        resumed_inline_ = true;
        return;
    }
    if (!paused_) return;
    paused_ = false;
    if (continue_filters() == FilterStatus::Pause) return;  // a later filter waits in its turn
    io_->stream_resumed();
}

void Stream::respond_from_handle(uint32_t serial, int status, std::string_view content_type, std::string_view body,
                                 bool json_error) {
    if (serial != serial_ || (!running_ && !paused_)) return;
    if (json_error)
        reply_error(status, body);
    else
        reply(status, content_type, body);
    answer_from_handle(serial);
}

void Stream::answer_from_handle(uint32_t serial) {
    if (serial != serial_ || (!running_ && !paused_) || reply_status_ == 0) return;
    if (running_) {
        resumed_inline_ = true;
        return;
    }
    paused_ = false;
    io_->stream_resumed();
}

void Stream::reply(int status, std::string_view content_type, std::string_view body) {
    reply_status_ = status;
    reply_type_ = content_type;
    reply_body_.assign(body);
    reply_lines_.clear();
    stored_head_ = stored_body_ = {};
}

void Stream::reply_stored(std::string_view head, std::string_view body) {
    // "HTTP/1.1 200 ...": the status is the three digits after the version.
    int status = 0;
    if (head.size() > 12)
        for (size_t i = 9; i < 12; ++i) status = status * 10 + (head[i] - '0');
    reply_status_ = status >= 100 && status <= 599 ? status : 500;
    reply_type_ = {};
    reply_body_.clear();
    reply_lines_.clear();
    stored_head_ = head;
    stored_body_ = body;
}

bool Stream::offer_replacement(int status, const Response* upstream) {
    if (!chain_ || !(chain_->hooks() & kHookReplace)) return false;
    const auto& entries = chain_->entries();
    for (size_t i = next_filter_; i-- > 0;)
        if ((entries[i].filter->hooks() & kHookReplace) && entries[i].filter->on_replace(*this, ctx(i), status, upstream))
            return has_stored_reply();
    return false;
}

void Stream::reply_with_headers(int status, std::string_view header_lines, std::string_view body) {
    reply_status_ = status;
    reply_type_ = {};
    reply_body_.assign(body);
    reply_lines_.assign(header_lines);
    stored_head_ = stored_body_ = {};
}

void Stream::reply_error(int status, std::string_view message) {
    reply_status_ = status;
    reply_type_ = "application/json";
    reply_body_.clear();
    reply_lines_.clear();
    append_json_error_body(reply_body_, status, message);
}

void Stream::add_request_header(std::string_view name, std::string_view value) {
    request_lines_ += name;
    request_lines_ += ": ";
    for (char c : value)
        if (c != '\r' && c != '\n' && c != '\0') request_lines_ += c;
    request_lines_ += "\r\n";
}

std::string_view Stream::response_head_lines(int status, const Response* upstream) {
    head_lines_.clear();
    replaced_.count = 0;
    if (!chain_ || !(chain_->hooks() & kHookResponseHead)) return {};
    ResponseHead head(status, head_lines_, upstream, &replaced_);
    const auto& entries = chain_->entries();
    // Nearest the upstream first (filter.h).
    for (size_t i = next_filter_; i-- > 0;)
        if (entries[i].filter->hooks() & kHookResponseHead) entries[i].filter->on_response_head(*this, ctx(i), head);
    return head_lines_;
}

void Stream::run_log_filters(AccessLogEntry& e) {
    if (!chain_ || !(chain_->hooks() & kHookLog)) return;
    const auto& entries = chain_->entries();
    for (size_t i = 0; i < next_filter_; ++i)
        if (entries[i].filter->hooks() & kHookLog) entries[i].filter->on_log(*this, ctx(i), e);
}

void Stream::add_body_filter(Filter* f, bool transforms) {
    if (!chain_ || body_filter_count_ == kMaxBodyFilters) return;
    const auto& entries = chain_->entries();
    for (size_t i = 0; i < next_filter_; ++i) {
        if (entries[i].filter == f) {
            if (transforms) body_transforms_ |= static_cast<uint8_t>(1u << body_filter_count_);
            body_filters_[body_filter_count_++] = static_cast<uint8_t>(i);
            return;
        }
    }
}

void Stream::filter_body(std::string_view in, bool last, std::string& out) {
    // Each transforming filter reads what the one before it wrote, two buffers taking turns; a
    // reading filter sees the same bytes and writes nothing.
    // (the last transformer writes into `out`: the turns start from the parity of their count)
    std::string* dst = std::popcount(body_transforms_) % 2 ? &out : &body_scratch_;
    std::string_view cur = in;
    const auto& entries = chain_->entries();
    for (size_t k = 0; k < body_filter_count_; ++k) {
        size_t i = body_filters_[k];
        if (!(body_transforms_ & (1u << k))) {
            observe_scratch_.clear();
            entries[i].filter->on_body(*this, ctx(i), cur, last, observe_scratch_);
            continue;
        }
        dst->clear();
        entries[i].filter->on_body(*this, ctx(i), cur, last, *dst);
        cur = *dst;
        dst = dst == &out ? &body_scratch_ : &out;
    }
    if (body_transforms_ == 0) out.assign(in);
}

void Stream::observe_body(std::string_view data, bool last) {
    const auto& entries = chain_->entries();
    for (size_t k = 0; k < body_filter_count_; ++k) {
        size_t i = body_filters_[k];
        observe_scratch_.clear();
        entries[i].filter->on_body(*this, ctx(i), data, last, observe_scratch_);
    }
}

}  // namespace gw::http
