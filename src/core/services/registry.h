// The services of one process (a worker), which modules look up instead of owning them:
//   - the clients of shared backends: the Redis client of the configuration's `redis:` section
//     and the outbound HTTP client, made on first use, on the process's event loop;
//   - objects a module provides for others (provide<T>() / find<T>()), found by their type.
//
// One registry per process, made before the modules and destroyed after them: a module may keep
// what it found for its whole life, and cancels what it has in flight before it goes. This
// header stays small and free of the services' own headers: modules include it everywhere.
#pragma once

#include <memory>
#include <type_traits>
#include <utility>
#include <vector>

namespace gw {
struct Config;
}
namespace gw::event {
class Loop;
}
namespace gw::redis {
class Client;
}
namespace gw::httpc {
class Client;
}

namespace gw::services {

class Registry {
  public:
    // `loop` and `config` (the process's generation) outlive the registry.
    Registry(event::Loop& loop, const Config& config);
    ~Registry();
    Registry(const Registry&) = delete;
    Registry& operator=(const Registry&) = delete;

    // The process's Redis client for `redis:`, made and connecting on the first call; nullptr
    // when the configuration has no `redis:` section. Its users add their scripts and state
    // listeners (and remove the listeners when they go).
    redis::Client* redis();
    // The outbound HTTP/1.1 client (http/client/client.h), made on the first call.
    httpc::Client& http();

    // Makes `object` (owned by the caller, which outlives its users or provides nullptr before
    // it goes) what find<T>() returns; a second provide<T>() replaces the first.
    template <class T>
    void provide(T* object) {
        set(type_id<T>(), const_cast<void*>(static_cast<const void*>(object)));
    }
    // The object provided for T, or nullptr.
    template <class T>
    T* find() const {
        return static_cast<T*>(get(type_id<T>()));
    }

  private:
    // One address per type, the same in every file of the program (an inline variable): a type
    // id without RTTI, and without a list of types known here.
    using TypeId = const void*;
    template <class T>
    struct Tag {
        static constexpr char id = 0;
    };
    template <class T>
    static TypeId type_id() {
        return &Tag<std::remove_cv_t<T>>::id;
    }
    void set(TypeId id, void* object);
    void* get(TypeId id) const;

    event::Loop& loop_;
    const Config& config_;
    std::vector<std::pair<TypeId, void*>> provided_;  // a few entries: a linear search is fastest
    std::unique_ptr<httpc::Client> http_;
    std::unique_ptr<redis::Client> redis_;
};

}  // namespace gw::services
