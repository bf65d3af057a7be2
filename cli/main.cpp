// The bosai executable: global options and the command groups (DESIGN §8).
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <google/protobuf/stubs/logging.h>

#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "cli/common.h"

namespace {

// An operator's name (--as) is recorded with every change they make; a login name is shorter.
constexpr size_t kMaxOperatorName = 64;

// The command a failed parse had reached ("bosai resident search"), and the app that parses it.
const CLI::App& Reached(const CLI::App& app, std::string* path) {
  *path = "bosai";
  const CLI::App* at = &app;
  for (auto subs = at->get_subcommands(); !subs.empty(); subs = at->get_subcommands()) {
    at = subs.front();
    *path += " " + at->get_name();
  }
  return *at;
}

// A command line that cannot be parsed: one line on stderr that says what is wrong and where to
// read more, and exit code 2. --help (and --help-all) print help as usual.
int UsageError(const CLI::App& app, const CLI::ParseError& e) {
  if (e.get_exit_code() == 0) return app.exit(e);  // help was asked for
  std::string path;
  const CLI::App& at = Reached(app, &path);
  std::string what = e.what();
  if (!at.get_subcommands({}).empty() && at.get_subcommands().empty()) {
    // A command group without its command, or with one it does not have. (Arguments that no
    // command takes fall through to the app.)
    std::vector<std::string> names;
    for (const CLI::App* sub : at.get_subcommands({})) names.push_back(sub->get_name());
    std::vector<std::string> rest = at.remaining();
    if (rest.empty()) rest = app.remaining();
    std::string group = path == "bosai" ? "" : path.substr(6) + " ";  // "resident "
    if (!rest.empty() && rest.front().rfind('-', 0) != 0) {
      what = fmt::format("unknown command \"{}{}\"; the commands are {}", group, rest.front(),
                         fmt::join(names, ", "));
    } else {
      what = fmt::format("give a command: {}", fmt::join(names, ", "));
    }
  }
  std::cerr << "bosai: " << what << "; see " << path << " --help" << std::endl;
  return bosai::cli::kExitUsage;
}

// Protobuf's own log lines: a message from a file, a bundle or a peer that does not parse
// (a string field that is not UTF-8, say) is reported by the caller, who knows which file,
// frame or block it was; protobuf's line on stderr beside it ("[libprotobuf ERROR ...]")
// would only confuse the officer reading it, or break the daemon's logfmt. A fatal one is
// still said before protobuf aborts.
void ProtobufLog(google::protobuf::LogLevel level, const char* file, int line,
                 const std::string& message) {
  if (level == google::protobuf::LOGLEVEL_FATAL) {
    std::cerr << fmt::format("bosai: internal error: protobuf ({}:{}): {}", file, line, message)
              << std::endl;
  }
}

}  // namespace

int main(int argc, char** argv) {
  using namespace bosai::cli;
  google::protobuf::SetLogHandler(&ProtobufLog);
  CLI::App app{
      "bosai: disaster-mode municipal data node. Keeps the resident register and victim records\n"
      "available offline, replicates them between nodes, and issues verifiable certificates.",
      "bosai"};  // not argv[0]: help shows `bosai`, however the binary was reached
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
  app.add_flag("--read-only", g.read_only,
               "Open the data dir without writing to it (a copy being checked; also chosen "
               "when the data dir cannot be written): commands that would change it fail");
  app.add_option("--as", g.as, "Operator recorded as the author of changes (default: the OS user)")
      ->check([](const std::string& v) {
        for (char c : v) {
          if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '_' && c != '-') {
            return std::string("operator names use A-Z, a-z, 0-9, '.', '_' and '-'");
          }
        }
        if (v.size() > kMaxOperatorName) {
          return fmt::format("an operator name has at most {} characters", kMaxOperatorName);
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
  RegisterBackup(app, g);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return UsageError(app, e);
  } catch (const std::exception& e) {
    std::cerr << "bosai: internal error: " << e.what() << std::endl;
    return 70;
  }
  return g.exit_code;
}
