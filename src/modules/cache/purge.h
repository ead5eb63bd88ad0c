// The cache's admin endpoint, on admin listeners (behind admin_auth when it is configured):
//
//   DELETE /cache/ZONE?key=KEY       removes the object of that key (every variant of it)
//   DELETE /cache/ZONE?prefix=TEXT   removes every object whose key starts with TEXT
//   GET    /cache/ZONE               the zone's objects, bytes and evictions
//
// KEY and TEXT are percent-encoded key texts: a route's key parts joined by one space, e.g.
// "GET shop.example.com /catalog/item 1 id=7" for [method, host, path, query]. Answers JSON.
#pragma once

#include <string>
#include <string_view>

#include "core/config/config.h"
#include "http/filter.h"
#include "modules/cache/runtime.h"

namespace gw::cache {

class PurgeFilter final : public http::Filter {
  public:
    PurgeFilter(const Config& config, Runtime& rt);
    http::FilterStatus on_request(http::Stream& s, void* ctx) override;

  private:
    const Config& config_;
    Runtime& rt_;
    std::string body_;
};

}  // namespace gw::cache
