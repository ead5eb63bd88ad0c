#include "modules/auth/api_keys.h"

#include <openssl/evp.h>

namespace gw::auth {

ApiKeysRuntime::ApiKeysRuntime(const ApiKeysProvider& provider) : p_(provider) {
    for (const auto& [digest, consumer] : p_.digests) {
        auto& id = consumers_[consumer];
        if (!id) id = std::make_unique<KeyIdentity>(consumer, p_.name);
        by_digest_.emplace(digest, id.get());
    }
}

const http::Identity* ApiKeysRuntime::check(std::string_view key) const {
    // The digest, not the key, is compared: a lookup's timing tells nothing about a stored key.
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (EVP_Digest(key.data(), key.size(), md, &len, EVP_sha256(), nullptr) != 1) return nullptr;
    auto it = by_digest_.find(std::string_view(reinterpret_cast<const char*>(md), len));
    return it == by_digest_.end() ? nullptr : it->second;
}

}  // namespace gw::auth
