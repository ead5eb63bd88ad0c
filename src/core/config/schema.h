// A small typed-reader layer over yaml::Node, so that each config section reads as a list of
// keys with their types and ranges. Every reader reports a bad value (at the value's mark,
// naming its path, e.g. "http.max_uri_size") and leaves the output untouched, so that defaults
// stay in place and validation goes on after an error.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/config/diagnostics.h"
#include "core/config/yaml.h"
#include "core/net/ip.h"

namespace gw::schema {

using yaml::Node;

template <class T>
struct Range {
    T min;
    T max;
};

template <class E>
struct EnumValue {
    std::string_view name;
    E value;
};

// "a.b", or "b" at the top level; "a[3]" for the items of a sequence.
std::string join_path(std::string_view base, std::string_view key);
std::string index_path(std::string_view base, size_t index);

// Reports "PATH: MESSAGE" (or just MESSAGE when the path is empty) at `at`.
void report(Diagnostics& diags, const Mark& at, std::string_view path, std::string_view message);

// Edit distance, for "did you mean" suggestions.
size_t levenshtein(std::string_view a, std::string_view b);

// The closest of `candidates` to `word`, if it is close enough to be a likely typo
// (distance <= max(1, len/3)); empty otherwise.
std::string_view suggest(std::string_view word, const std::vector<std::string>& candidates);

// Checks the kind of a node: "PATH: expected a map, got a sequence".
bool expect_map(const Node& node, std::string_view path, Diagnostics& diags);
bool expect_sequence(const Node& node, std::string_view path, Diagnostics& diags);

// Scalar readers. Each returns nullopt after reporting why the node does not fit.
std::optional<std::string> read_string(const Node& node, std::string_view path, Diagnostics& diags);
// true/false, on/off, yes/no; quoted or not, any case.
std::optional<bool> read_bool(const Node& node, std::string_view path, Diagnostics& diags);
// A plain (unquoted) decimal integer within `range`.
std::optional<int64_t> read_int(const Node& node, std::string_view path, Range<int64_t> range,
                                Diagnostics& diags);
// parse_duration() syntax, in milliseconds, within `range`.
std::optional<int64_t> read_duration(const Node& node, std::string_view path, Range<int64_t> range,
                                     Diagnostics& diags);
// parse_size() syntax, in bytes, within `range`.
std::optional<uint64_t> read_size(const Node& node, std::string_view path, Range<uint64_t> range,
                                  Diagnostics& diags);

// An address or network ("10.0.0.0/8", "2001:db8::1"): net::parse_cidr's syntax and errors.
std::optional<net::Cidr> read_cidr(const Node& node, std::string_view path, Diagnostics& diags);

// A share, 0..1: a decimal ("0.2") or a percentage ("20%"), read exactly ("20%" == 0.2).
std::optional<double> read_ratio(const Node& node, std::string_view path, Diagnostics& diags);

// One of a fixed set of words: "PATH: unknown value "x" (expected a, b or c)".
void report_bad_enum(const Node& node, std::string_view path,
                     const std::vector<std::string_view>& names, Diagnostics& diags);

template <class E>
std::optional<E> read_enum(const Node& node, std::string_view path,
                           std::initializer_list<EnumValue<E>> values, Diagnostics& diags) {
    std::optional<std::string> text = read_string(node, path, diags);
    if (!text) return std::nullopt;
    std::vector<std::string_view> names;
    for (const EnumValue<E>& v : values) {
        if (v.name == *text) return v.value;
        names.push_back(v.name);
    }
    report_bad_enum(node, path, names, diags);
    return std::nullopt;
}

// A sequence, or (when `allow_single`) a lone scalar standing for a one-item list
// (`methods: GET`). Returns the item nodes; reports and returns nullopt on a wrong kind.
std::optional<std::vector<const Node*>> read_list(const Node& node, std::string_view path,
                                                  bool allow_single, Diagnostics& diags);

// Reads the keys of one map. Each get_*() takes one key: the key becomes "known", and its value,
// if present, is read into `out`. Keys present in the map but never asked for are reported by
// finish() (or the destructor) as unknown, with a suggestion among the known ones.
// get_*() return true when a valid value was stored.
class MapReader {
  public:
    // `node` must outlive the reader. A node that is not a map is reported ("PATH: expected a
    // map, got ...") and read as an empty map, so that callers need no special path.
    MapReader(const Node& node, std::string path, Diagnostics& diags);
    MapReader(MapReader&& other) noexcept;
    MapReader(const MapReader&) = delete;
    MapReader& operator=(const MapReader&) = delete;
    MapReader& operator=(MapReader&&) = delete;
    ~MapReader();

    bool valid() const { return valid_; }  // the node was a map
    const Mark& mark() const { return node_->mark; }
    const std::string& path() const { return path_; }
    std::string path(std::string_view key) const { return join_path(path_, key); }
    Diagnostics& diags() const { return *diags_; }

    // The value of `key` (nullptr if absent); the key becomes known and used.
    const Node* take(std::string_view key);
    // The key node itself (for marks), without taking it.
    const Node* key_node(std::string_view key) const;
    // Reports "PATH: missing required key "key"" at the map when absent; takes the key.
    bool require(std::string_view key);

    bool get_string(std::string_view key, std::string& out);
    bool get_bool(std::string_view key, bool& out);
    bool get_duration(std::string_view key, int64_t& out, Range<int64_t> range);
    bool get_size(std::string_view key, uint64_t& out, Range<uint64_t> range);

    template <class Int>
    bool get_int(std::string_view key, Int& out, Range<int64_t> range) {
        const Node* v = take(key);
        if (!v) return false;
        std::optional<int64_t> n = read_int(*v, path(key), range, *diags_);
        if (n) out = static_cast<Int>(*n);
        return n.has_value();
    }

    template <class E>
    bool get_enum(std::string_view key, E& out, std::initializer_list<EnumValue<E>> values) {
        const Node* v = take(key);
        if (!v) return false;
        std::optional<E> e = read_enum(*v, path(key), values, *diags_);
        if (e) out = *e;
        return e.has_value();
    }

    // A sub-map reader (nullopt when absent; a wrong kind is reported by the sub-reader).
    std::optional<MapReader> get_map(std::string_view key);
    // The items of a list (see read_list); nullopt when absent or of a wrong kind.
    std::optional<std::vector<const Node*>> get_list(std::string_view key, bool allow_single = false);

    // Reports the keys that were never asked for. Idempotent.
    void finish();

  private:
    const Node* node_;
    std::string path_;
    Diagnostics* diags_;
    bool valid_ = false;
    bool finished_ = false;
    std::vector<bool> used_;            // parallel to node_->entries
    std::vector<std::string> known_;    // every key asked for, for suggestions
};

}  // namespace gw::schema
