#include "core/config/yaml.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#include <cerrno>
#include <cstring>
#include <unordered_map>
#include <utility>

namespace gw::yaml {

namespace {

constexpr int kMaxDepth = 256;               // bounds the recursion below; no config nests this deep
constexpr size_t kMaxAliasNodes = 100000;    // nodes made by expanding aliases ("billion laughs")
constexpr off_t kMaxFileSize = 16 << 20;     // a config is small; this catches a wrong include
constexpr std::string_view kCoreTagPrefix = "tag:yaml.org,2002:";

// Owns one libyaml event.
struct Event {
    yaml_event_t ev{};
    bool valid = false;

    Event() = default;
    Event(const Event&) = delete;
    Event& operator=(const Event&) = delete;
    ~Event() { reset(); }
    void reset() {
        if (valid) yaml_event_delete(&ev);
        valid = false;
    }
};

Node make_node(Node::Kind kind, Mark mark) {
    Node n;
    n.kind = kind;
    n.mark = std::move(mark);
    return n;
}

bool is_null_text(std::string_view s) {
    return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}

size_t count_nodes(const Node& n) {
    size_t total = 1;
    for (const Node& item : n.items) total += count_nodes(item);
    for (const MapEntry& e : n.entries) total += count_nodes(e.key) + count_nodes(e.value);
    return total;
}

std::string short_tag(std::string_view tag) {
    if (tag.starts_with(kCoreTagPrefix)) return "!!" + std::string(tag.substr(kCoreTagPrefix.size()));
    return std::string(tag);
}

std::string_view as_view(const yaml_char_t* s) {
    return s ? std::string_view(reinterpret_cast<const char*>(s)) : std::string_view();
}

class Builder {
  public:
    Builder(std::string_view text, std::shared_ptr<const std::string> file, Diagnostics& diags)
        : text_(text), file_(std::move(file)), diags_(diags) {
        ok_ = yaml_parser_initialize(&parser_) != 0;
        if (ok_) {
            yaml_parser_set_input_string(&parser_, reinterpret_cast<const unsigned char*>(text.data()),
                                         text.size());
        }
    }
    ~Builder() {
        if (ok_) yaml_parser_delete(&parser_);
    }
    Builder(const Builder&) = delete;
    Builder& operator=(const Builder&) = delete;

    std::optional<Node> run();

  private:
    Mark mark(const yaml_mark_t& m) const {
        return Mark{file_, static_cast<int>(m.line) + 1, static_cast<int>(m.column) + 1};
    }
    Mark mark_at_offset(size_t offset) const;
    bool next(Event& e);
    void report_syntax_error();
    std::optional<Node> node(Event& e, int depth);
    std::optional<Node> scalar(const yaml_event_t& ev);
    std::optional<Node> sequence(const yaml_event_t& ev, int depth);
    std::optional<Node> mapping(const yaml_event_t& ev, int depth);
    Node alias(const yaml_event_t& ev);
    void check_tag(const yaml_char_t* tag, const yaml_mark_t& at, std::string_view own_kind);
    void anchor(const yaml_char_t* name, const Node& n);

    std::string_view text_;
    std::shared_ptr<const std::string> file_;
    Diagnostics& diags_;
    yaml_parser_t parser_{};
    bool ok_ = false;
    std::unordered_map<std::string, Node> anchors_;
    size_t alias_nodes_ = 0;
};

std::optional<Node> Builder::run() {
    if (!ok_) {
        diags_.error(Mark{file_, 1, 1}, "out of memory");
        return std::nullopt;
    }
    Event e;
    if (!next(e)) return std::nullopt;  // STREAM-START
    if (!next(e)) return std::nullopt;
    if (e.ev.type == YAML_STREAM_END_EVENT) return make_node(Node::Kind::Null, Mark{file_, 1, 1});

    // e is DOCUMENT-START.
    Event body;
    if (!next(body)) return std::nullopt;
    std::optional<Node> root = node(body, 0);
    if (!root) return std::nullopt;

    Event end;  // DOCUMENT-END
    if (!next(end)) return std::nullopt;
    Event after;
    if (!next(after)) return std::nullopt;
    if (after.ev.type == YAML_DOCUMENT_START_EVENT) {
        // A second document would be silently ignored by most loaders; say so instead.
        diags_.error(mark(after.ev.start_mark), "only one YAML document is allowed in a file");
    }
    return root;
}

Mark Builder::mark_at_offset(size_t offset) const {
    int line = 1;
    size_t line_start = 0;
    for (size_t i = 0; i < offset && i < text_.size(); i++) {
        if (text_[i] == '\n') {
            line++;
            line_start = i + 1;
        }
    }
    return Mark{file_, line, static_cast<int>(offset - line_start) + 1};
}

bool Builder::next(Event& e) {
    e.reset();
    if (!yaml_parser_parse(&parser_, &e.ev)) {
        report_syntax_error();
        return false;
    }
    e.valid = true;
    return true;
}

void Builder::report_syntax_error() {
    if (parser_.error == YAML_MEMORY_ERROR) {
        diags_.error(Mark{file_, 1, 1}, "out of memory");
        return;
    }
    std::string msg = parser_.problem ? parser_.problem : "YAML syntax error";
    Mark at;
    if (parser_.error == YAML_READER_ERROR) {
        // Reader errors (bad encoding) carry a byte offset rather than a mark.
        at = mark_at_offset(parser_.problem_offset);
        if (parser_.problem_value != -1) {
            char buf[32];
            snprintf(buf, sizeof buf, " (byte 0x%02x)", parser_.problem_value & 0xff);
            msg += buf;
        }
    } else {
        at = mark(parser_.problem_mark);
    }
    if (parser_.context) {
        Mark ctx = mark(parser_.context_mark);
        msg += " (";
        msg += parser_.context;
        msg += " at " + std::to_string(ctx.line) + ":" + std::to_string(ctx.col) + ")";
    }
    diags_.error(at, std::move(msg));
}

std::optional<Node> Builder::node(Event& e, int depth) {
    const yaml_event_t& ev = e.ev;
    if (depth > kMaxDepth) {
        diags_.error(mark(ev.start_mark),
                     "nesting too deep (more than " + std::to_string(kMaxDepth) + " levels)");
        return std::nullopt;
    }
    switch (ev.type) {
        case YAML_ALIAS_EVENT: return alias(ev);
        case YAML_SCALAR_EVENT: return scalar(ev);
        case YAML_SEQUENCE_START_EVENT: return sequence(ev, depth);
        case YAML_MAPPING_START_EVENT: return mapping(ev, depth);
        default:
            diags_.error(mark(ev.start_mark), "unexpected YAML event");
            return std::nullopt;
    }
}

// Only the core schema's tags: anything else would need a meaning this loader does not have.
void Builder::check_tag(const yaml_char_t* tag, const yaml_mark_t& at, std::string_view own_kind) {
    std::string_view t = as_view(tag);
    if (t.empty() || t == "!") return;  // untagged, or the non-specific tag
    if (t.starts_with(kCoreTagPrefix)) {
        std::string_view kind = t.substr(kCoreTagPrefix.size());
        bool scalar_kind = kind == "str" || kind == "int" || kind == "bool" || kind == "float" ||
                           kind == "null";
        if (own_kind == "scalar" ? scalar_kind : kind == own_kind) return;
    }
    diags_.error(mark(at), "unsupported tag \"" + short_tag(t) + "\"");
}

void Builder::anchor(const yaml_char_t* name, const Node& n) {
    if (name) anchors_[std::string(as_view(name))] = n;
}

Node Builder::alias(const yaml_event_t& ev) {
    std::string name(as_view(ev.data.alias.anchor));
    Node null = make_node(Node::Kind::Null, mark(ev.start_mark));
    auto it = anchors_.find(name);
    if (it == anchors_.end()) {
        diags_.error(null.mark, "unknown anchor \"" + name + "\"");
        return null;
    }
    size_t n = count_nodes(it->second);
    if (alias_nodes_ <= kMaxAliasNodes && alias_nodes_ + n > kMaxAliasNodes) {
        diags_.error(null.mark, "aliases expand to too many nodes (more than " +
                                    std::to_string(kMaxAliasNodes) + ")");
    }
    alias_nodes_ += n;
    if (alias_nodes_ > kMaxAliasNodes) return null;
    return it->second;  // a copy: the tree has no sharing, so callers may consume nodes freely
}

std::optional<Node> Builder::scalar(const yaml_event_t& ev) {
    const auto& s = ev.data.scalar;
    Node n = make_node(Node::Kind::Scalar, mark(ev.start_mark));
    n.text.assign(reinterpret_cast<const char*>(s.value), s.length);
    n.plain = s.style == YAML_PLAIN_SCALAR_STYLE;
    check_tag(s.tag, ev.start_mark, "scalar");
    std::string_view tag = as_view(s.tag);
    if (tag == YAML_STR_TAG || tag == "!") {
        n.plain = false;  // an explicit string: `!!str on` is the text "on", never a bool
    } else if (tag == YAML_NULL_TAG || (tag.empty() && n.plain && is_null_text(n.text))) {
        n.kind = Node::Kind::Null;
    }
    anchor(s.anchor, n);
    return n;
}

std::optional<Node> Builder::sequence(const yaml_event_t& ev, int depth) {
    Node n = make_node(Node::Kind::Sequence, mark(ev.start_mark));
    check_tag(ev.data.sequence_start.tag, ev.start_mark, "seq");
    for (;;) {
        Event child;
        if (!next(child)) return std::nullopt;
        if (child.ev.type == YAML_SEQUENCE_END_EVENT) break;
        std::optional<Node> item = node(child, depth + 1);
        if (!item) return std::nullopt;
        n.items.push_back(std::move(*item));
    }
    anchor(ev.data.sequence_start.anchor, n);
    return n;
}

std::optional<Node> Builder::mapping(const yaml_event_t& ev, int depth) {
    Node n = make_node(Node::Kind::Map, mark(ev.start_mark));
    check_tag(ev.data.mapping_start.tag, ev.start_mark, "map");
    std::unordered_map<std::string, size_t> seen;  // key -> index in n.entries
    for (;;) {
        Event k;
        if (!next(k)) return std::nullopt;
        if (k.ev.type == YAML_MAPPING_END_EVENT) break;
        std::optional<Node> key = node(k, depth + 1);
        if (!key) return std::nullopt;
        Event v;
        if (!next(v)) return std::nullopt;
        std::optional<Node> value = node(v, depth + 1);
        if (!value) return std::nullopt;

        if (key->is_map() || key->is_sequence()) {
            diags_.error(key->mark, "a map key must be a scalar, got " + describe(*key));
            continue;
        }
        auto [it, inserted] = seen.emplace(key->text, n.entries.size());
        if (!inserted) {
            // Keep the first: the error is reported, and later checks see one consistent value.
            diags_.error(key->mark, "duplicate key \"" + key->text + "\" (first at " +
                                        n.entries[it->second].key.mark.str() + ")");
            continue;
        }
        n.entries.push_back(MapEntry{std::move(*key), std::move(*value)});
    }
    anchor(ev.data.mapping_start.anchor, n);
    return n;
}

}  // namespace

const Node* Node::find(std::string_view key) const {
    for (const MapEntry& e : entries) {
        if (e.key.text == key) return &e.value;
    }
    return nullptr;
}

std::string describe(const Node& node) {
    switch (node.kind) {
        case Node::Kind::Null: return "null";
        case Node::Kind::Sequence: return "a sequence";
        case Node::Kind::Map: return "a map";
        case Node::Kind::Scalar: break;
    }
    constexpr size_t kMax = 40;
    std::string s = "\"";
    for (char c : node.text.substr(0, kMax)) {
        // Keep the message on one line and printable whatever the value holds.
        if (c == '\n') s += "\\n";
        else if (c == '"' || c == '\\') s += std::string("\\") + c;
        else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) s += '?';
        else s += c;
    }
    if (node.text.size() > kMax) s += "...";
    s += '"';
    return s;
}

std::optional<Node> parse(std::string_view text, std::shared_ptr<const std::string> file,
                          Diagnostics& diags) {
    Builder b(text, std::move(file), diags);
    return b.run();
}

std::optional<Node> parse_file(const std::string& name, const Mark& at, Diagnostics& diags) {
    auto file = std::make_shared<const std::string>(name);
    auto fail = [&](const std::string& why) -> std::optional<Node> {
        if (at.file) diags.error(at, "cannot read \"" + name + "\": " + why);
        else diags.error(Mark{file, 0, 0}, "cannot read: " + why);
        return std::nullopt;
    };

    int fd = open(name.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return fail(strerror(errno));
    std::string text;
    struct stat st{};
    std::string error;
    if (fstat(fd, &st) < 0) {
        error = strerror(errno);
    } else if (S_ISDIR(st.st_mode)) {
        error = "is a directory";
    } else if (!S_ISREG(st.st_mode)) {
        error = "not a regular file";
    } else if (st.st_size > kMaxFileSize) {
        error = "file too large";
    } else {
        text.resize(static_cast<size_t>(st.st_size));
        size_t done = 0;
        while (done < text.size()) {
            ssize_t n = read(fd, text.data() + done, text.size() - done);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) {
                error = strerror(errno);
                break;
            }
            if (n == 0) break;  // shrank while reading: parse what is there
            done += static_cast<size_t>(n);
        }
        text.resize(done);
    }
    close(fd);
    if (!error.empty()) return fail(error);
    return parse(text, std::move(file), diags);
}

}  // namespace gw::yaml
