#include "core/config/schema.h"

#include <algorithm>
#include <charconv>
#include <utility>

#include "core/config/config.h"

namespace gw::schema {

namespace {

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return out;
}

bool all_digits(std::string_view s) {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Scalars are the only kinds that can hold a string, a number or a word.
bool expect_scalar(const Node& node, std::string_view path, std::string_view what,
                   Diagnostics& diags) {
    if (node.is_scalar()) return true;
    report(diags, node.mark, path, "expected " + std::string(what) + ", got " + yaml::describe(node));
    return false;
}

}  // namespace

std::string join_path(std::string_view base, std::string_view key) {
    if (base.empty()) return std::string(key);
    std::string out(base);
    out += '.';
    out += key;
    return out;
}

std::string index_path(std::string_view base, size_t index) {
    return std::string(base) + "[" + std::to_string(index) + "]";
}

void report(Diagnostics& diags, const Mark& at, std::string_view path, std::string_view message) {
    std::string msg;
    if (!path.empty()) {
        msg = path;
        msg += ": ";
    }
    msg += message;
    diags.error(at, std::move(msg));
}

size_t levenshtein(std::string_view a, std::string_view b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); j++) row[j] = j;
    for (size_t i = 1; i <= a.size(); i++) {
        size_t diag = row[0];  // row[i-1][j-1]
        row[0] = i;
        for (size_t j = 1; j <= b.size(); j++) {
            size_t up = row[j];
            size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + cost});
            diag = up;
        }
    }
    return row[b.size()];
}

std::string_view suggest(std::string_view word, const std::vector<std::string>& candidates) {
    size_t limit = std::max<size_t>(1, word.size() / 3);
    std::string_view best;
    size_t best_distance = limit + 1;
    for (const std::string& c : candidates) {
        size_t d = levenshtein(word, c);
        if (d < best_distance) {  // strict: the first of equally close candidates wins
            best = c;
            best_distance = d;
        }
    }
    return best;
}

bool expect_map(const Node& node, std::string_view path, Diagnostics& diags) {
    if (node.is_map()) return true;
    report(diags, node.mark, path, "expected a map, got " + yaml::describe(node));
    return false;
}

bool expect_sequence(const Node& node, std::string_view path, Diagnostics& diags) {
    if (node.is_sequence()) return true;
    report(diags, node.mark, path, "expected a sequence, got " + yaml::describe(node));
    return false;
}

std::optional<std::string> read_string(const Node& node, std::string_view path, Diagnostics& diags) {
    if (!expect_scalar(node, path, "a string", diags)) return std::nullopt;
    return node.text;
}

std::optional<bool> read_bool(const Node& node, std::string_view path, Diagnostics& diags) {
    if (!expect_scalar(node, path, "a boolean", diags)) return std::nullopt;
    std::string t = lower(node.text);
    if (t == "true" || t == "on" || t == "yes") return true;
    if (t == "false" || t == "off" || t == "no") return false;
    report(diags, node.mark, path,
           "expected a boolean (true/false, on/off, yes/no), got " + yaml::describe(node));
    return std::nullopt;
}

std::optional<int64_t> read_int(const Node& node, std::string_view path, Range<int64_t> range,
                                Diagnostics& diags) {
    if (!expect_scalar(node, path, "an integer", diags)) return std::nullopt;
    std::string_view t = node.text;
    std::string_view digits = t.starts_with('-') ? t.substr(1) : t;
    // Quoted numbers are strings in YAML; accepting them would hide a type mistake.
    if (!all_digits(digits)) {
        report(diags, node.mark, path, "expected an integer, got " + yaml::describe(node));
        return std::nullopt;
    }
    if (!node.plain) {
        report(diags, node.mark, path,
               "expected an integer, got the string " + yaml::describe(node) + " (remove the quotes)");
        return std::nullopt;
    }
    int64_t value = 0;
    auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), value);
    if (ec != std::errc() || end != t.data() + t.size() || value < range.min || value > range.max) {
        report(diags, node.mark, path,
               std::string(t) + " is out of range (" + std::to_string(range.min) + ".." +
                   std::to_string(range.max) + ")");
        return std::nullopt;
    }
    return value;
}

std::optional<int64_t> read_duration(const Node& node, std::string_view path, Range<int64_t> range,
                                     Diagnostics& diags) {
    if (!expect_scalar(node, path, "a duration", diags)) return std::nullopt;
    std::optional<Millis> ms = parse_duration(node.text);
    if (!ms) {
        report(diags, node.mark, path,
               "bad duration \"" + node.text + "\" (use a unit: ms, s, m, h, d)");
        return std::nullopt;
    }
    if (*ms < range.min || *ms > range.max) {
        report(diags, node.mark, path,
               node.text + " is out of range (" + format_duration(range.min) + ".." +
                   format_duration(range.max) + ")");
        return std::nullopt;
    }
    return *ms;
}

std::optional<uint64_t> read_size(const Node& node, std::string_view path, Range<uint64_t> range,
                                  Diagnostics& diags) {
    if (!expect_scalar(node, path, "a size", diags)) return std::nullopt;
    std::optional<uint64_t> bytes = parse_size(node.text);
    if (!bytes) {
        report(diags, node.mark, path,
               "bad size \"" + node.text + "\" (a number of bytes, optionally with k, m or g)");
        return std::nullopt;
    }
    if (*bytes < range.min || *bytes > range.max) {
        report(diags, node.mark, path,
               node.text + " is out of range (" + format_size(range.min) + ".." +
                   format_size(range.max) + ")");
        return std::nullopt;
    }
    return *bytes;
}

// A share: "0.2" or "20%", 0..1. Read as the exact decimal (the point shifted for '%') so that
// "20%" and "0.2" are the same double.
std::optional<double> read_ratio(const Node& v, std::string_view path, Diagnostics& diags) {
    std::string bad = "bad ratio " + yaml::describe(v) + " (write a share as 0.2 or 20%)";
    if (!v.is_scalar()) {
        report(diags, v.mark, path, "expected a ratio (0.2 or 20%), got " + yaml::describe(v));
        return std::nullopt;
    }
    std::string_view t = v.text;
    bool percent = t.ends_with('%');
    if (percent) t.remove_suffix(1);
    size_t dot = t.find('.');
    std::string_view whole = t.substr(0, dot);
    std::string_view fraction = dot == std::string_view::npos ? "" : t.substr(dot + 1);
    auto digits = [](std::string_view d) {
        return std::all_of(d.begin(), d.end(), [](char c) { return c >= '0' && c <= '9'; });
    };
    if (whole.empty() || !digits(whole) || !digits(fraction) ||
        (dot != std::string_view::npos && fraction.empty())) {
        report(diags, v.mark, path, bad);
        return std::nullopt;
    }
    std::string all = std::string(whole) + std::string(fraction);
    ptrdiff_t point = static_cast<ptrdiff_t>(whole.size()) - (percent ? 2 : 0);
    std::string decimal = point <= 0 ? "0." + std::string(static_cast<size_t>(-point), '0') + all
                                     : all.substr(0, static_cast<size_t>(point)) + "." +
                                           all.substr(static_cast<size_t>(point));
    double value = 0;
    auto [end, ec] = std::from_chars(decimal.data(), decimal.data() + decimal.size(), value,
                                     std::chars_format::fixed);
    if (ec != std::errc() || end != decimal.data() + decimal.size() || value > 1) {
        report(diags, v.mark, path, v.text + " is out of range (0..1, or 0%..100%)");
        return std::nullopt;
    }
    return value;
}

void report_bad_enum(const Node& node, std::string_view path,
                     const std::vector<std::string_view>& names, Diagnostics& diags) {
    std::string expected;
    for (size_t i = 0; i < names.size(); i++) {
        if (i > 0) expected += i + 1 == names.size() ? " or " : ", ";
        expected += names[i];
    }
    report(diags, node.mark, path,
           "unknown value " + yaml::describe(node) + " (expected " + expected + ")");
}

std::optional<std::vector<const Node*>> read_list(const Node& node, std::string_view path,
                                                  bool allow_single, Diagnostics& diags) {
    std::vector<const Node*> items;
    if (allow_single && node.is_scalar()) {
        items.push_back(&node);
        return items;
    }
    if (!expect_sequence(node, path, diags)) return std::nullopt;
    for (const Node& item : node.items) items.push_back(&item);
    return items;
}

MapReader::MapReader(const Node& node, std::string path, Diagnostics& diags)
    : node_(&node), path_(std::move(path)), diags_(&diags) {
    valid_ = expect_map(node, path_, diags);
    used_.assign(valid_ ? node.entries.size() : 0, false);
}

MapReader::MapReader(MapReader&& other) noexcept
    : node_(other.node_),
      path_(std::move(other.path_)),
      diags_(other.diags_),
      valid_(other.valid_),
      finished_(other.finished_),
      used_(std::move(other.used_)),
      known_(std::move(other.known_)) {
    other.finished_ = true;  // the moved-from reader must not report anything
}

MapReader::~MapReader() { finish(); }

const Node* MapReader::take(std::string_view key) {
    if (std::find(known_.begin(), known_.end(), key) == known_.end()) known_.emplace_back(key);
    if (!valid_) return nullptr;
    for (size_t i = 0; i < node_->entries.size(); i++) {
        if (node_->entries[i].key.text == key) {
            used_[i] = true;
            return &node_->entries[i].value;
        }
    }
    return nullptr;
}

const Node* MapReader::key_node(std::string_view key) const {
    if (!valid_) return nullptr;
    for (const yaml::MapEntry& e : node_->entries) {
        if (e.key.text == key) return &e.key;
    }
    return nullptr;
}

bool MapReader::require(std::string_view key) {
    if (take(key)) return true;
    // A non-map was already reported; do not pile a "missing" on top of it.
    if (valid_) report(*diags_, node_->mark, path_, "missing required key \"" + std::string(key) + "\"");
    return false;
}

bool MapReader::get_string(std::string_view key, std::string& out) {
    const Node* v = take(key);
    if (!v) return false;
    std::optional<std::string> s = read_string(*v, path(key), *diags_);
    if (s) out = std::move(*s);
    return s.has_value();
}

bool MapReader::get_bool(std::string_view key, bool& out) {
    const Node* v = take(key);
    if (!v) return false;
    std::optional<bool> b = read_bool(*v, path(key), *diags_);
    if (b) out = *b;
    return b.has_value();
}

bool MapReader::get_duration(std::string_view key, int64_t& out, Range<int64_t> range) {
    const Node* v = take(key);
    if (!v) return false;
    std::optional<int64_t> d = read_duration(*v, path(key), range, *diags_);
    if (d) out = *d;
    return d.has_value();
}

bool MapReader::get_size(std::string_view key, uint64_t& out, Range<uint64_t> range) {
    const Node* v = take(key);
    if (!v) return false;
    std::optional<uint64_t> s = read_size(*v, path(key), range, *diags_);
    if (s) out = *s;
    return s.has_value();
}

std::optional<MapReader> MapReader::get_map(std::string_view key) {
    const Node* v = take(key);
    if (!v) return std::nullopt;
    return MapReader(*v, path(key), *diags_);
}

std::optional<std::vector<const Node*>> MapReader::get_list(std::string_view key, bool allow_single) {
    const Node* v = take(key);
    if (!v) return std::nullopt;
    return read_list(*v, path(key), allow_single, *diags_);
}

void MapReader::finish() {
    if (finished_) return;
    finished_ = true;
    for (size_t i = 0; i < used_.size(); i++) {
        if (used_[i]) continue;
        const Node& key = node_->entries[i].key;
        std::string msg = "unknown key \"" + key.text + "\"";
        std::string_view hint = suggest(key.text, known_);
        if (!hint.empty()) msg += " (did you mean \"" + std::string(hint) + "\"?)";
        diags_->error(key.mark, std::move(msg));
    }
}

std::optional<net::Cidr> read_cidr(const Node& node, std::string_view path, Diagnostics& diags) {
    std::optional<std::string> text = read_string(node, path, diags);
    if (!text) return std::nullopt;
    net::Cidr cidr;
    std::string error;
    if (!net::parse_cidr(*text, cidr, error)) {
        report(diags, node.mark, path, error);
        return std::nullopt;
    }
    return cidr;
}

}  // namespace gw::schema
