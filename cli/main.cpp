// The bosai executable: global options and the command groups (DESIGN §8).
#include <cstdlib>
#include <iostream>

#include "cli/common.h"

int main(int argc, char** argv) {
  using namespace bosai::cli;
  CLI::App app{
      "bosai: disaster-mode municipal data node. Keeps the resident register and victim records\n"
      "available offline, replicates them between nodes, and issues verifiable certificates."};
  app.require_subcommand(1);
  // Global options may also follow the command (`bosai resident count --json`): subcommands,
  // which inherit this, hand the options they do not know to the app.
  app.fallthrough();
  app.set_help_all_flag("--help-all", "Show help for every command");
  Globals g;
  const char* env_dir = std::getenv("BOSAI_DATA_DIR");
  g.data_dir = env_dir && *env_dir ? env_dir : "./bosai-data";
  app.add_option("--data-dir", g.data_dir,
                 "Data directory (env BOSAI_DATA_DIR; default ./bosai-data)");
  app.add_flag("--json", g.json, "Machine-readable output: one JSON document on stdout");
  app.add_option("--as", g.as, "Operator recorded as the author of changes (default: the OS user)")
      ->check([](const std::string& v) {
        for (char c : v) {
          if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
            return std::string("operator names use a-z, 0-9, '.', '_' and '-'");
          }
        }
        return v.empty() ? std::string("empty operator name") : std::string();
      });

  RegisterInit(app, g);
  RegisterKeys(app, g);
  RegisterGen(app, g);
  RegisterResident(app, g);
  RegisterConflicts(app, g);
  RegisterState(app, g);
  RegisterDoctor(app, g);
  RegisterServe(app, g);
  RegisterSync(app, g);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const std::exception& e) {
    std::cerr << "bosai: internal error: " << e.what() << std::endl;
    return 70;
  }
  return g.exit_code;
}
