// Stands in for the worker side (worker.cc, vars.cc) until it is built: no transports, no
// variables. Deleted by the branch that adds them.
#include "modules/tls/module.h"

namespace gw::tls {

std::unique_ptr<module::WorkerPart> make_worker(module::WorkerEnv& /*env*/) { return nullptr; }

std::span<const http::vars::Definition> variables() { return {}; }

}  // namespace gw::tls
