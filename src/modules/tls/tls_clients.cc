#include "modules/tls/tls_clients.h"

#include <ctime>

#include "core/config/config.h"
#include "core/config/diagnostics.h"
#include "core/module/module.h"
#include "modules/tls/certs.h"
#include "modules/tls/config.h"
#include "modules/tls/upstream_config.h"
#include "modules/tls/upstream_transport.h"

namespace gw::tls {

namespace {

// A URL's client: owns the `tls:` settings its context refers to, and the context.
class UrlTlsFactory final : public http::UpstreamTransportFactory {
  public:
    http::ClientTransport* open(int fd, size_t server) override { return inner_->open(fd, server); }
    void close(http::ClientTransport* t) override { inner_->close(t); }

    UpstreamTls settings;
    std::unique_ptr<UpstreamTlsFactory> inner_;
};

class TlsClientsMaker final : public httpc::TlsClients {
  public:
    std::unique_ptr<http::UpstreamTransportFactory> for_url(std::string_view address, const std::string& ca_file,
                                                            std::string& error) override {
        auto f = std::make_unique<UrlTlsFactory>();
        if (!ca_file.empty()) {
            // The listeners' loader of client CAs: the same checks and messages.
            ClientAuth loaded;
            loaded.ca_path = ca_file;
            Diagnostics diags;
            if (!load_client_ca(loaded, "https", Mark{}, Mark{}, time(nullptr), diags)) {
                error = diags.all().empty() ? "CA file " + ca_file + " cannot be used" : diags.all().front().message;
                return nullptr;
            }
            f->settings.ca_path = ca_file;
            f->settings.ca = std::move(loaded.store);
        }
        f->inner_ = UpstreamTlsFactory::make(f->settings, {server_identity(f->settings, address)}, error);
        if (!f->inner_) return nullptr;
        return f;
    }

    std::unique_ptr<http::UpstreamTransportFactory> for_upstream(const Config& config, size_t upstream,
                                                                 std::string& error) override {
        error.clear();
        const module::Descriptor* self = module::find("tls");
        const Settings* settings = self ? module::find_part<Settings>(config, *self) : nullptr;
        const UpstreamTls* t = settings ? settings->upstream(upstream) : nullptr;
        if (!t || upstream >= config.upstreams.size()) return nullptr;
        return UpstreamTlsFactory::make(*t, config.upstreams[upstream], error);
    }
};

}  // namespace

httpc::TlsClients& tls_clients() {
    static TlsClientsMaker maker;
    return maker;
}

}  // namespace gw::tls
