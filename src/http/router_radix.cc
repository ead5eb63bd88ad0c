#include "http/router_radix.h"

namespace gw::http {

void PrefixTree::insert(std::string_view prefix, int value) {
    size_t node = 0;
    size_t pos = 0;
    for (;;) {
        if (pos == prefix.size()) {
            nodes_[node].values.push_back(value);
            return;
        }
        std::string_view rest = prefix.substr(pos);
        unsigned char c = static_cast<unsigned char>(rest.front());
        int child = nodes_[node].child(c);
        if (child < 0) {  // a new leaf holding the rest of the prefix
            Node leaf;
            leaf.label = std::string(rest);
            leaf.values.push_back(value);
            nodes_.push_back(std::move(leaf));
            nodes_[node].first_bytes.push_back(static_cast<char>(c));
            nodes_[node].children.push_back(static_cast<int>(nodes_.size() - 1));
            return;
        }
        std::string_view label = nodes_[child].label;
        size_t common = 0;
        while (common < label.size() && common < rest.size() && label[common] == rest[common])
            ++common;
        if (common < label.size()) {
            // Split the edge: node -> mid (label[0, common)) -> child (label[common, end)).
            Node mid;
            mid.label = std::string(label.substr(0, common));
            mid.first_bytes.push_back(label[common]);
            mid.children.push_back(child);
            nodes_[child].label.erase(0, common);
            nodes_.push_back(std::move(mid));
            int mid_index = static_cast<int>(nodes_.size() - 1);
            Node& parent = nodes_[node];
            parent.children[parent.first_bytes.find(static_cast<char>(c))] = mid_index;
            child = mid_index;
        }
        node = static_cast<size_t>(child);
        pos += common;
    }
}

void PrefixTree::finish() {
    // Children are always appended after their parent, except a split's middle node, which is
    // appended after the child it adopts; so walk from the root explicitly.
    std::vector<int> stack{0};
    nodes_[0].up = -1;
    while (!stack.empty()) {
        int n = stack.back();
        stack.pop_back();
        int up_for_children = nodes_[n].values.empty() ? nodes_[n].up : n;
        for (int c : nodes_[n].children) {
            nodes_[c].up = up_for_children;
            stack.push_back(c);
        }
    }
}

}  // namespace gw::http
