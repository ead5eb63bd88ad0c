#include "http/filter.h"

#include "http/parser.h"
#include "http/stream.h"

namespace gw::http {

void ResponseHead::add(std::string_view name, std::string_view value) {
    extra_.append(name);
    extra_ += ": ";
    extra_.append(value);
    extra_ += "\r\n";
}

std::string_view ResponseHead::upstream_header(std::string_view name) const {
    return upstream_ ? upstream_->header(name) : std::string_view();
}

bool ResponseHead::replace(std::string_view name) {
    if (!replaced_ || replaced_->count == Replaced::kMax) return false;
    for (size_t i = 0; i < replaced_->count; ++i)
        if (replaced_->names[i] == name) return true;
    replaced_->names[replaced_->count++] = name;
    return true;
}

bool FilterChain::add(Filter* f) {
    size_t align = f->ctx_align() ? f->ctx_align() : 1;
    size_t offset = (arena_used_ + align - 1) / align * align;
    if (align > alignof(std::max_align_t) || offset + f->ctx_size() > kArenaSize) return false;
    entries_.push_back({f, static_cast<uint16_t>(offset)});
    arena_used_ = offset + f->ctx_size();
    hooks_ |= f->hooks();
    for (std::string_view n : f->response_field_names()) field_names_.push_back(n);
    for (std::string_view n : f->request_field_names()) request_field_names_.push_back(n);
    return true;
}

void ResumeHandle::resume() {
    if (stream_) stream_->resume_from_handle(serial_);
}

void ResumeHandle::respond(int status, std::string_view content_type, std::string_view body) {
    if (stream_) stream_->respond_from_handle(serial_, status, content_type, body, false);
}

void ResumeHandle::respond_error(int status, std::string_view message) {
    if (stream_) stream_->respond_from_handle(serial_, status, {}, message, true);
}

void ResumeHandle::answer() {
    if (stream_) stream_->answer_from_handle(serial_);
}

bool ResumeHandle::stale() const { return !stream_ || stream_->serial() != serial_; }

}  // namespace gw::http
