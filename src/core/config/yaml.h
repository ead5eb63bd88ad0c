// A YAML document as a plain tree, built with libyaml's event API. Every node keeps the place it
// was written so that the schema layer can point at it. Only the subset a config needs is kept:
// one document, core tags only, aliases expanded, duplicate keys rejected.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/config/diagnostics.h"

namespace gw::yaml {

struct MapEntry;

struct Node {
    enum class Kind { Null, Scalar, Sequence, Map };

    Kind kind = Kind::Null;
    Mark mark;
    std::string text;     // Scalar (and Null: "", "~", "null" as written)
    bool plain = false;   // Scalar: unquoted; `on` and `"on"` may mean different things
    std::vector<Node> items;         // Sequence
    std::vector<MapEntry> entries;   // Map, in file order, keys unique

    bool is_null() const { return kind == Kind::Null; }
    bool is_scalar() const { return kind == Kind::Scalar; }
    bool is_sequence() const { return kind == Kind::Sequence; }
    bool is_map() const { return kind == Kind::Map; }

    // Map lookup by key text; nullptr when absent or not a map.
    const Node* find(std::string_view key) const;
};

struct MapEntry {
    Node key;    // always a Scalar (or Null: `~: x`), its text is the key
    Node value;
};

// "a map", "a sequence", "null", or the scalar quoted (shortened when long) - for messages.
std::string describe(const Node& node);

// Parses `text`; `file` names it in marks. Syntax errors stop the parse (libyaml cannot resume)
// and return nullopt; semantic problems (duplicate keys, bad tags, unknown anchors) are reported
// and the rest of the document is still returned so that more errors can be found in it.
// An empty document is a Null node at 1:1.
std::optional<Node> parse(std::string_view text, std::shared_ptr<const std::string> file,
                          Diagnostics& diags);

// Reads and parses a file. `name` is how marks name it. A file that cannot be read is reported
// at `at` (the include that names it), or at the file itself when `at` has no file.
std::optional<Node> parse_file(const std::string& name, const Mark& at, Diagnostics& diags);

}  // namespace gw::yaml
