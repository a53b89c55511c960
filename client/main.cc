// tessera: the command line of the tessera inference cluster.
#include <iostream>

#include "CLI/CLI.hpp"
#include "client/cli.h"
#include "glog/logging.h"

int main(int argc, char** argv) {
  FLAGS_logtostderr = true;
  FLAGS_minloglevel = 1;  // warnings and errors unless --verbose
  google::InitGoogleLogging(argv[0]);

  CLI::App app{"tessera: inference cluster for large transformer language models"};
  app.require_subcommand(1);
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "Log progress (model loading, kernel choice) to stderr");
  app.parse_complete_callback([&] { FLAGS_minloglevel = verbose ? 0 : 1; });
  int exit_code = 0;
  tessera::cli::AddModelCommands(app, exit_code);
  tessera::cli::AddGenerateCommand(app, exit_code);
  tessera::cli::AddPlanCommand(app, exit_code);
  tessera::cli::AddSubmitCommand(app, exit_code);
  tessera::cli::AddStatusCommand(app, exit_code);
  tessera::cli::AddAdminCommand(app, exit_code);
  tessera::cli::AddKeygenCommand(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every usage error exits 2.
    const int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  return exit_code;
}
