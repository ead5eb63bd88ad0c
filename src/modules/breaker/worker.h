// The breaker module's part of a worker: the table of shared breakers, which the proxy finds in
// the worker's services (it drives the breakers of its upstream servers), and the refresh of
// their gauges before /metrics is rendered.
#pragma once

#include <functional>
#include <utility>

#include "core/module/module.h"
#include "modules/breaker/breaker.h"

namespace gw::breaker {

class WorkerBreakers final : public module::WorkerPart {
  public:
    explicit WorkerBreakers(shm::Zone& zone) : table_(zone) {}

    Table& table() { return table_; }
    // Whoever keeps the breakers' gauges (the proxy: it holds the breakers of its servers)
    // asks to be called before /metrics is rendered; an empty function withdraws.
    void on_refresh(std::function<void()> fn) { refresh_ = std::move(fn); }

    void refresh_metrics() override {
        if (refresh_) refresh_();
    }

  private:
    Table table_;
    std::function<void()> refresh_;
};

}  // namespace gw::breaker
