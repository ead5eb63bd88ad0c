// `include:` - reading the main file and the files it includes into one top-level map.
//
// Merge rule: an included file's top-level keys are added to the including file's map.
// `listeners` and `routes` are lists that accumulate: the included items are appended after the
// items already there (the including file's own, then earlier includes'), in include order, and
// depth-first for nested includes. `upstreams` is a map that accumulates the same way: each file
// adds its upstreams, and an upstream defined in two files is an error naming both; so are the
// maps that modules declare mergeable (module::Descriptor::merge_keys, e.g. `rate_limits`).
// Any other key set in two files is an error naming both.
// Nodes keep their own file in their marks, so later errors point into the right file.
#include <glob.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <utility>

#include "core/config/config_sections.h"
#include "core/module/module.h"

namespace gw::config_detail {

namespace {

using yaml::MapEntry;
using yaml::Node;

constexpr int kMaxIncludeDepth = 8;

bool is_list_key(std::string_view key) { return key == "listeners" || key == "routes"; }
// What one entry of a mergeable map is called in errors; empty for another key.
std::string_view map_key_noun(std::string_view key) {
    return key == "upstreams" ? std::string_view("upstream") : module::merge_noun(key);
}

std::string dir_of(const std::string& file) {
    size_t slash = file.rfind('/');
    if (slash == std::string::npos) return "";
    if (slash == 0) return "/";
    return file.substr(0, slash);
}

std::string join(const std::string& dir, const std::string& path) {
    if (path.starts_with('/') || dir.empty()) return path;
    if (dir.ends_with('/')) return dir + path;
    return dir + "/" + path;
}

class Includer {
  public:
    Includer(std::vector<std::string>& files, Diagnostics& diags) : files_(files), diags_(diags) {}

    // `at` is the include naming the file (no file for the main one).
    std::optional<Node> load(const std::string& name, const Mark& at, int depth);

  private:
    struct Open {
        dev_t dev;
        ino_t ino;
        std::string name;
    };

    void include(const Node& value, const std::string& dir, Node& into, int depth);
    std::optional<std::vector<std::string>> expand(const std::string& pattern, const Mark& at);
    void merge(Node& into, Node&& from);

    std::vector<std::string>& files_;
    Diagnostics& diags_;
    std::vector<Open> chain_;  // the files being read, outermost first, to catch cycles
};

std::optional<Node> Includer::load(const std::string& name, const Mark& at, int depth) {
    struct stat st{};
    bool known = stat(name.c_str(), &st) == 0;  // if not, parse_file reports why
    if (known) {
        auto same = [&](const Open& o) { return o.dev == st.st_dev && o.ino == st.st_ino; };
        if (std::any_of(chain_.begin(), chain_.end(), same)) {
            std::string cycle;
            for (const Open& o : chain_) cycle += o.name + " -> ";
            diags_.error(at, "include cycle: " + cycle + name);
            return std::nullopt;
        }
        files_.push_back(absolute_path(name));
    }

    std::optional<Node> root = yaml::parse_file(name, at, diags_);
    if (!root) return std::nullopt;
    if (root->is_null()) {
        root->kind = Node::Kind::Map;  // an empty (or all-comments) file sets nothing
    } else if (!root->is_map()) {
        diags_.error(root->mark, "expected a map of top-level keys, got " + yaml::describe(*root));
        return std::nullopt;
    }

    // `include` is handled here, not by the schema: take it out of the map.
    auto inc = std::find_if(root->entries.begin(), root->entries.end(),
                            [](const MapEntry& e) { return e.key.text == "include"; });
    if (inc == root->entries.end()) return root;
    Node value = std::move(inc->value);
    root->entries.erase(inc);

    chain_.push_back(Open{st.st_dev, st.st_ino, name});
    include(value, dir_of(name), *root, depth);
    chain_.pop_back();
    return root;
}

void Includer::include(const Node& value, const std::string& dir, Node& into, int depth) {
    std::optional<std::vector<const Node*>> items = schema::read_list(value, "include", true, diags_);
    if (!items) return;
    for (const Node* item : *items) {
        std::optional<std::string> pattern = schema::read_string(*item, "include", diags_);
        if (!pattern) continue;
        if (pattern->empty()) {
            diags_.error(item->mark, "include: empty path");
            continue;
        }
        std::optional<std::vector<std::string>> names = expand(join(dir, *pattern), item->mark);
        if (!names) continue;
        for (const std::string& name : *names) {
            if (depth + 1 > kMaxIncludeDepth) {
                diags_.error(item->mark, "includes nested too deeply (more than " +
                                             std::to_string(kMaxIncludeDepth) + " levels)");
                return;
            }
            std::optional<Node> sub = load(name, item->mark, depth + 1);
            if (sub) merge(into, std::move(*sub));
        }
    }
}

// A pattern with wildcards may match nothing (an empty conf.d/ is normal); a literal path is
// returned as is, so that a missing file is reported by the read.
std::optional<std::vector<std::string>> Includer::expand(const std::string& pattern, const Mark& at) {
    if (pattern.find_first_of("*?[") == std::string::npos) return std::vector<std::string>{pattern};
    glob_t g{};
    int rc = glob(pattern.c_str(), 0, nullptr, &g);
    std::vector<std::string> names;
    if (rc == 0) {
        for (size_t i = 0; i < g.gl_pathc; i++) names.emplace_back(g.gl_pathv[i]);
    }
    globfree(&g);
    if (rc != 0 && rc != GLOB_NOMATCH) {
        diags_.error(at, "include \"" + pattern + "\": " +
                             (rc == GLOB_NOSPACE ? "out of memory" : "cannot read a directory"));
        return std::nullopt;
    }
    std::sort(names.begin(), names.end());  // byte order, whatever the locale's collation
    return names;
}

void Includer::merge(Node& into, Node&& from) {
    for (MapEntry& e : from.entries) {
        auto it = std::find_if(into.entries.begin(), into.entries.end(),
                               [&](const MapEntry& x) { return x.key.text == e.key.text; });
        if (it == into.entries.end()) {
            into.entries.push_back(std::move(e));
            continue;
        }
        if (is_list_key(e.key.text)) {
            if (!schema::expect_sequence(e.value, e.key.text, diags_)) continue;
            // A non-list already there is reported by the schema; these items are then moot.
            if (!it->value.is_sequence()) continue;
            for (Node& item : e.value.items) it->value.items.push_back(std::move(item));
            continue;
        }
        if (std::string_view what = map_key_noun(e.key.text); !what.empty()) {
            if (!schema::expect_map(e.value, e.key.text, diags_)) continue;
            if (!it->value.is_map()) continue;  // reported by the schema, as above
            for (MapEntry& entry : e.value.entries) {
                auto first = std::find_if(it->value.entries.begin(), it->value.entries.end(),
                                          [&](const MapEntry& x) { return x.key.text == entry.key.text; });
                if (first != it->value.entries.end()) {
                    diags_.error(entry.key.mark, "duplicate " + std::string(what) + " \"" + entry.key.text +
                                                     "\" (first defined at " + first->key.mark.str() + ")");
                    continue;
                }
                it->value.entries.push_back(std::move(entry));
            }
            continue;
        }
        diags_.error(e.key.mark,
                     "duplicate key \"" + e.key.text + "\" (first at " + it->key.mark.str() + ")");
    }
}

}  // namespace

std::optional<yaml::Node> load_tree(const std::string& path, std::vector<std::string>& files,
                                    Diagnostics& diags) {
    Includer includer(files, diags);
    return includer.load(path, Mark{}, 0);
}

std::string absolute_path(std::string_view path) {
    std::filesystem::path p(path);
    if (p.is_relative()) {
        char buf[4096];
        if (getcwd(buf, sizeof buf)) p = std::filesystem::path(buf) / p;
    }
    std::string s = p.lexically_normal().string();
    while (s.size() > 1 && s.ends_with('/')) s.pop_back();
    return s;
}

std::string resolve_path(std::string_view prefix, std::string_view path) {
    if (path.starts_with('/')) return std::string(path);
    std::string s = (std::filesystem::path(prefix) / path).lexically_normal().string();
    while (s.size() > 1 && s.ends_with('/')) s.pop_back();
    return s;
}

}  // namespace gw::config_detail
