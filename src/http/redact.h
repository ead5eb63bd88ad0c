// Redaction: what the logs never write in clear. One set of functions for the access log and the
// error log, configured by `logs.redact` (gateway.conf(5)).
//
// Query parameters: a parameter whose name, percent-decoded and compared case-insensitively, is
// in LogsConfig::redact_query keeps its name and has its value written as REDACTED. Parameters
// are separated by `&` and, as some frameworks also split on it, `;`; a secret value is redacted
// up to the next `&`. Headers: a logged header named in redact_headers (Authorization, Cookie,
// Set-Cookie and Proxy-Authorization always) is written as REDACTED; a Referer is a URL, so its
// query is redacted like a request target's.
#pragma once

#include <string>
#include <string_view>

#include "core/config/config.h"
#include "core/text_writer.h"

namespace gw::http {

inline constexpr std::string_view kRedacted = "REDACTED";

// True when `name` (raw, as in the query) is a secret parameter's name.
bool is_secret_query_param(std::string_view name, const LogsConfig& logs);

// Appends `target` (a request target or any URL) with secret query values redacted.
// (Out: std::string or TextWriter, as for the functions below.)
template <class Out>
void append_redacted_target(Out& out, std::string_view target, const LogsConfig& logs);

// Appends `query` (what follows a target's '?') with secret values redacted.
template <class Out>
void append_redacted_query(Out& out, std::string_view query, const LogsConfig& logs);

// Appends the value of header `name` as it may be logged (see above).
template <class Out>
void append_redacted_header(Out& out, std::string_view name, std::string_view value, const LogsConfig& logs);

extern template void append_redacted_target(std::string&, std::string_view, const LogsConfig&);
extern template void append_redacted_target(TextWriter&, std::string_view, const LogsConfig&);
extern template void append_redacted_query(std::string&, std::string_view, const LogsConfig&);
extern template void append_redacted_query(TextWriter&, std::string_view, const LogsConfig&);
extern template void append_redacted_header(std::string&, std::string_view, std::string_view, const LogsConfig&);
extern template void append_redacted_header(TextWriter&, std::string_view, std::string_view, const LogsConfig&);

// A request target for an error log line: redacted, escaped as log text (\xHH), its first
// kErrorLogTargetMax bytes. The view is valid until the next call (one buffer per process).
inline constexpr size_t kErrorLogTargetMax = 512;
std::string_view error_log_target(std::string_view target, const LogsConfig& logs);

}  // namespace gw::http
