#include "core/config/diagnostics.h"

#include <utility>

namespace gw {

const std::string& Mark::file_name() const {
    static const std::string empty;
    return file ? *file : empty;
}

std::string Mark::str() const {
    if (!file) return {};
    // A mark without a line is a whole file (e.g. one that cannot be read).
    if (line <= 0) return *file;
    return *file + ':' + std::to_string(line) + ':' + std::to_string(col);
}

std::string Diagnostic::str() const {
    std::string out;
    if (mark.file) {
        out = mark.str();
        out += ": ";
    }
    // Errors are the common case and stay unprefixed; warnings say so.
    if (severity == Severity::Warning) out += "warning: ";
    out += message;
    return out;
}

void Diagnostics::error(const Mark& mark, std::string message) {
    items_.push_back(Diagnostic{Diagnostic::Severity::Error, mark, std::move(message)});
    errors_++;
}

void Diagnostics::warning(const Mark& mark, std::string message) {
    items_.push_back(Diagnostic{Diagnostic::Severity::Warning, mark, std::move(message)});
}

}  // namespace gw
