// Who a request is, once a filter has authenticated it (the auth module: a JWT's subject, an API
// key's consumer, a basic-auth user; an external authorizer's answer). The core names no module:
// the Stream keeps a pointer to this interface, which rate limits (`key: consumer`,
// `key: claim:NAME`) and the $consumer variable read. The object belongs to the filter that set
// it and lives until the stream ends.
#pragma once

#include <string_view>

namespace gw::http {

class Identity {
  public:
    // The consumer's name: never empty for an authenticated request.
    virtual std::string_view consumer() const = 0;
    // The provider that authenticated it (its configured name), and its kind ("jwt", "api_key",
    // "basic", "external").
    virtual std::string_view provider() const = 0;
    virtual std::string_view method() const = 0;
    // A claim of the token by name (as text: a string as is, a number as written, an array's
    // items joined with ","), or empty when there is none or the method has no claims. Only
    // the claims the configuration names are kept.
    virtual std::string_view claim(std::string_view /*name*/) const { return {}; }

  protected:
    ~Identity() = default;
};

}  // namespace gw::http
