// The path_prefix index of one host tier: a radix tree (a trie over bytes whose single-child
// chains are compressed into one edge label). A lookup walks the path once, so it costs
// O(path length) whatever the number of prefixes, and yields the matching prefixes longest first.
#pragma once

#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace gw::http {

class PrefixTree {
  public:
    PrefixTree() : nodes_(1) {}

    // Adds `value` under `prefix` (the empty prefix matches every path). Values under the same prefix keep insertion order.
    void insert(std::string_view prefix, int value);

    // Links every node to its nearest ancestor with values; call once after the last insert().
    void finish();

    bool empty() const { return nodes_.size() == 1; }
    size_t node_count() const { return nodes_.size(); }

    // Calls accept(value) for the values whose prefix starts `path`, longest prefix first and in
    // insertion order for one prefix, until it returns true; returns that value, or -1.
    // Does not allocate.
    template <typename Accept>
    int find(std::string_view path, Accept&& accept) const {
        int deepest = nodes_[0].values.empty() ? -1 : 0;  // the empty prefix matches any path
        size_t node = 0;
        size_t pos = 0;
        while (pos < path.size()) {
            int child = nodes_[node].child(static_cast<unsigned char>(path[pos]));
            if (child < 0) break;
            const std::string& label = nodes_[child].label;
            if (path.size() - pos < label.size() ||
                std::memcmp(path.data() + pos, label.data(), label.size()) != 0)
                break;
            pos += label.size();
            node = static_cast<size_t>(child);
            if (!nodes_[node].values.empty()) deepest = child;
        }
        for (int n = deepest; n >= 0; n = nodes_[n].up)
            for (int v : nodes_[n].values)
                if (accept(v)) return v;
        return -1;
    }

  private:
    struct Node {
        std::string label;        // the bytes on the edge into this node (empty for the root)
        std::string first_bytes;  // first byte of each child's label, parallel to `children`
        std::vector<int> children;
        std::vector<int> values;  // whose prefix ends exactly here
        int up = -1;              // nearest proper ancestor with values, or -1

        int child(unsigned char c) const {
            const void* hit = std::memchr(first_bytes.data(), c, first_bytes.size());
            if (!hit) return -1;
            return children[static_cast<const char*>(hit) - first_bytes.data()];
        }
    };

    std::vector<Node> nodes_;  // nodes_[0] is the root
};

}  // namespace gw::http
