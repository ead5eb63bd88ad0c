#include "modules/auth/files.h"

#include "core/config/schema.h"
#include "core/config/yaml.h"
#include "core/small_file.h"

namespace gw::auth {

namespace {

constexpr uint64_t kMaxFileBytes = 16ull << 20;

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool read_file(const std::string& path, const Mark& at, std::string_view key_path, std::string& out,
               Diagnostics& diags) {
    std::string why;
    if (read_small_file(path, kMaxFileBytes, out, why)) return true;
    schema::report(diags, at, key_path, "cannot read \"" + path + "\": " + why);
    return false;
}

Mark line_mark(const std::shared_ptr<const std::string>& file, size_t line, size_t column) {
    Mark m;
    m.file = file;
    m.line = static_cast<int>(line);
    m.col = static_cast<int>(column);
    return m;
}

}  // namespace

bool read_keys_file(const std::string& path, const Mark& at, std::string_view key_path,
                    std::map<std::string, std::string, std::less<>>& digests, Diagnostics& diags) {
    std::string text;
    if (!read_file(path, at, key_path, text, diags)) return false;
    size_t errors = diags.error_count();
    std::optional<yaml::Node> doc = yaml::parse(text, std::make_shared<const std::string>(path), diags);
    if (!doc) return false;
    if (doc->is_null()) return diags.error_count() == errors;  // an empty file: no keys
    if (!schema::expect_map(*doc, "", diags)) return false;
    for (const yaml::MapEntry& e : doc->entries) {
        const std::string& consumer = e.key.text;
        if (consumer.empty() || consumer.size() > 128 ||
            consumer.find_first_of(std::string_view("\"\\\r\n\t\0", 6)) != std::string::npos) {
            schema::report(diags, e.key.mark, "", "bad consumer name (1..128 characters, no quotes, backslashes or control characters)");
            continue;
        }
        auto items = schema::read_list(e.value, consumer, true, diags);
        if (!items) continue;
        for (const yaml::Node* item : *items) {
            auto s = schema::read_string(*item, consumer, diags);
            if (!s) continue;
            std::string_view v = *s;
            // Never quote the value back: a key written by mistake instead of its digest is a secret.
            if (!v.starts_with("sha256:") || v.size() != 7 + 64) {
                schema::report(diags, item->mark, consumer,
                               "expected \"sha256:\" and the 64 hex digits of the key's SHA-256 (the key itself never goes in this file)");
                continue;
            }
            std::string digest(32, '\0');
            bool ok = true;
            for (size_t i = 0; i < 32 && ok; ++i) {
                int hi = hex_value(v[7 + 2 * i]), lo = hex_value(v[8 + 2 * i]);
                ok = hi >= 0 && lo >= 0;
                digest[i] = static_cast<char>(hi << 4 | lo);
            }
            if (!ok) {
                schema::report(diags, item->mark, consumer, "the digest is not hex");
                continue;
            }
            auto [it, inserted] = digests.emplace(std::move(digest), consumer);
            if (!inserted && it->second != consumer)
                schema::report(diags, item->mark, consumer,
                               "this digest is also listed for consumer \"" + it->second + "\"");
            else if (!inserted)
                diags.warning(item->mark, consumer + ": the same digest is listed twice");
        }
    }
    return diags.error_count() == errors;
}

bool read_htpasswd(const std::string& path, const Mark& at, std::string_view key_path,
                   std::map<std::string, std::string, std::less<>>& users, Diagnostics& diags) {
    std::string text;
    if (!read_file(path, at, key_path, text, diags)) return false;
    auto file = std::make_shared<const std::string>(path);
    size_t errors = diags.error_count();
    std::string_view rest = text;
    for (size_t line = 1; !rest.empty(); ++line) {
        size_t nl = rest.find('\n');
        std::string_view l = rest.substr(0, nl);
        rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
        if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
        size_t start = l.find_first_not_of(" \t");
        if (start == std::string_view::npos || l[start] == '#') continue;
        size_t colon = l.find(':');
        if (colon == std::string_view::npos || colon == 0) {
            diags.error(line_mark(file, line, 1), "expected \"user:hash\"");
            continue;
        }
        std::string_view user = l.substr(0, colon), hash = l.substr(colon + 1);
        // A trailing ":comment" field, as Apache allows, is not part of the hash.
        if (size_t c = hash.find(':'); c != std::string_view::npos) hash = hash.substr(0, c);
        bool sound = hash.starts_with("$2a$") || hash.starts_with("$2b$") || hash.starts_with("$2y$") ||
                     hash.starts_with("$6$") || hash.starts_with("$5$") || hash.starts_with("$y$");
        if (!sound) {
            diags.error(line_mark(file, line, colon + 2),
                        "user \"" + std::string(user) +
                            "\": the password hash is not bcrypt, sha512-crypt, sha256-crypt or yescrypt "
                            "(older formats are refused: htpasswd -B makes bcrypt)");
            continue;
        }
        if (!users.emplace(std::string(user), std::string(hash)).second)
            diags.error(line_mark(file, line, 1), "user \"" + std::string(user) + "\" is listed twice");
    }
    return diags.error_count() == errors;
}

bool read_secret_file(const std::string& path, const Mark& at, std::string_view key_path, size_t minimum,
                      std::string& secret, Diagnostics& diags) {
    if (!read_file(path, at, key_path, secret, diags)) return false;
    if (!secret.empty() && secret.back() == '\n') secret.pop_back();
    if (!secret.empty() && secret.back() == '\r') secret.pop_back();
    if (secret.size() < minimum) {
        schema::report(diags, at, key_path,
                       "the secret in \"" + path + "\" is " + std::to_string(secret.size()) + " bytes; at least " +
                           std::to_string(minimum) + " are required");
        secret.clear();
        return false;
    }
    return true;
}

}  // namespace gw::auth
