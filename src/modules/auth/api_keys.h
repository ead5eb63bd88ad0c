// An API-key provider in one worker: a key is looked up by its SHA-256 (the file holds digests
// only), and its consumer is the request's identity.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "http/identity.h"
#include "modules/auth/config.h"

namespace gw::auth {

class ApiKeysRuntime {
  public:
    explicit ApiKeysRuntime(const ApiKeysProvider& provider);
    const ApiKeysProvider& provider() const { return p_; }

    // The consumer whose key this is, or null.
    const http::Identity* check(std::string_view key) const;

  private:
    class KeyIdentity final : public http::Identity {
      public:
        KeyIdentity(std::string_view consumer, std::string_view provider) : consumer_(consumer), provider_(provider) {}
        std::string_view consumer() const override { return consumer_; }
        std::string_view provider() const override { return provider_; }
        std::string_view method() const override { return "api_key"; }

      private:
        std::string_view consumer_, provider_;
    };

    const ApiKeysProvider& p_;
    std::map<std::string_view, std::unique_ptr<KeyIdentity>> consumers_;
    std::unordered_map<std::string_view, const KeyIdentity*> by_digest_;  // views into p_.digests
};

}  // namespace gw::auth
