// Services of a worker: objects that one part provides and other parts look up by type - the
// core's clients (Redis, outbound HTTP) that any module may use, and what a module shares with
// the core (the breaker and health tables the proxy reads). Filled and looked up while the
// worker starts (modules' make_worker, the server), never per request.
#pragma once

#include <type_traits>
#include <utility>
#include <vector>

namespace gw::redis {
class Client;
}
namespace gw::httpc {
class Client;
}

namespace gw::services {

class Registry {
  public:
    // Makes `service` the one of type T (nullptr withdraws it). It must outlive its users.
    template <class T>
    void provide(T* service) {
        set(id<T>(), const_cast<std::remove_cv_t<T>*>(service));
    }
    // The service of type T, or nullptr.
    template <class T>
    T* find() const {
        return static_cast<T*>(get(id<T>()));
    }

    // The core's shared clients; nullptr when the configuration needs none.
    redis::Client* redis();
    httpc::Client* http();

  private:
    using Id = const void*;
    // One address per type (its static's), the same in every file: a type's id, without RTTI.
    template <class T>
    static Id id() {
        return tag<std::remove_cv_t<T>>();
    }
    template <class T>
    static Id tag() {
        static const char t = 0;
        return &t;
    }
    void set(Id id, void* service);
    void* get(Id id) const;

    std::vector<std::pair<Id, void*>> entries_;  // a handful: a linear search is the fastest
};

}  // namespace gw::services
