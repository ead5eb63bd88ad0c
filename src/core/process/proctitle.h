// Process titles as `ps` shows them ("gatewayd: worker process (generation 3)"), by overwriting
// the argv area, as nginx does: the environment that follows argv is moved to the heap first so
// the title may use its space.
#pragma once

#include <string>

namespace gw::process {

void init_proctitle(int argc, char** argv);
void set_proctitle(const std::string& title);
const std::string& original_command_line();  // argv joined by spaces, captured at init

}  // namespace gw::process
