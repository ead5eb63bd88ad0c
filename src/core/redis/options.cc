#include "core/redis/options.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/un.h>

#include "core/config/config.h"

namespace gw::redis {

Options options_for(const RedisConfig& rc) {
    Options o;
    if (rc.sockaddr.ss_family == AF_UNIX) {
        o.unix_path = reinterpret_cast<const sockaddr_un&>(rc.sockaddr).sun_path;
    } else {
        // Resolved when the config was loaded: hiredis gets a numeric address and never waits
        // for a resolver.
        char host[INET6_ADDRSTRLEN] = {};
        if (rc.sockaddr.ss_family == AF_INET6) {
            const auto& a = reinterpret_cast<const sockaddr_in6&>(rc.sockaddr);
            inet_ntop(AF_INET6, &a.sin6_addr, host, sizeof host);
            o.port = ntohs(a.sin6_port);
        } else {
            const auto& a = reinterpret_cast<const sockaddr_in&>(rc.sockaddr);
            inet_ntop(AF_INET, &a.sin_addr, host, sizeof host);
            o.port = ntohs(a.sin_port);
        }
        o.host = host;
    }
    o.connect_timeout = rc.connect_timeout;
    o.command_timeout = rc.timeout;
    o.pool = static_cast<int>(rc.pool);
    return o;
}

}  // namespace gw::redis
