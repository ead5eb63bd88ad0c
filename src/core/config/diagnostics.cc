#include "core/config/diagnostics.h"

#include <algorithm>
#include <filesystem>
#include <limits>
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

void Diagnostics::sort(const std::vector<std::string>& files) {
    // A mark names its file as it was opened (relative if the main file was given so); `files`
    // has absolute, normalised paths.
    std::vector<std::string> others;  // files not in `files`, in the order first met
    auto rank = [&](const Mark& m) -> size_t {
        if (!m.file) return std::numeric_limits<size_t>::max();
        std::string name = *m.file;
        if (!name.starts_with('/')) {
            std::error_code ec;
            std::filesystem::path p = std::filesystem::absolute(name, ec);
            if (!ec) name = p.lexically_normal().string();
        }
        auto known = std::find(files.begin(), files.end(), name);
        if (known != files.end()) return static_cast<size_t>(known - files.begin());
        auto other = std::find(others.begin(), others.end(), name);
        if (other == others.end()) other = others.insert(others.end(), name);
        return files.size() + static_cast<size_t>(other - others.begin());
    };
    struct Keyed {
        size_t file;
        int line;
        int col;
        Diagnostic d;
    };
    std::vector<Keyed> keyed;
    keyed.reserve(items_.size());
    for (Diagnostic& d : items_) {
        size_t file = rank(d.mark);
        keyed.push_back({file, d.mark.line, d.mark.col, std::move(d)});
    }
    std::stable_sort(keyed.begin(), keyed.end(), [](const Keyed& a, const Keyed& b) {
        if (a.file != b.file) return a.file < b.file;
        if (a.line != b.line) return a.line < b.line;
        return a.col < b.col;
    });
    for (size_t i = 0; i < keyed.size(); i++) items_[i] = std::move(keyed[i].d);
}

}  // namespace gw
