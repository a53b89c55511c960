// Subcommands of the `tessera` command line. Each Add* registers its options
// on `app` and returns a callback-set subcommand; handlers return the process
// exit code through `exit_code`.
#pragma once

#include "CLI/CLI.hpp"

namespace tessera::cli {

void AddModelCommands(CLI::App& app, int& exit_code);
void AddGenerateCommand(CLI::App& app, int& exit_code);
void AddPlanCommand(CLI::App& app, int& exit_code);
// Cluster subcommands: they talk to a tessera-coordinator.
void AddSubmitCommand(CLI::App& app, int& exit_code);
void AddStatusCommand(CLI::App& app, int& exit_code);
// `tessera admin ...`: the coordinator's admin socket.
void AddAdminCommand(CLI::App& app, int& exit_code);
// `tessera keygen`: CURVE key files for authentication.
void AddKeygenCommand(CLI::App& app, int& exit_code);

}  // namespace tessera::cli
