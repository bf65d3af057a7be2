// Shared pieces of the bosai command line: global options, opening the node, printing errors
// and progress. The cli layer only parses arguments, calls node/, and prints.
#pragma once

#include <CLI/CLI.hpp>
#include <atomic>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "node/node.h"

namespace bosai::cli {

struct Globals {
  std::string data_dir;
  bool json = false;
  std::string as;          // --as USER: the operator the audit trail names
  bool read_only = false;  // --read-only: open the store without writing to it
  int exit_code = 0;
};

// Exit codes: 0 success, 1 failure (reason on stderr), 2 usage error.
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;  // the command line cannot be parsed

// A command line the parser takes but that is still wrong (neither of two options that one of is
// needed, a malformed FIELD=VALUE): thrown from a command's callback before it opens the data
// dir, it is reported as a line that cannot be parsed is, naming the command's --help, with
// exit code 2.
[[noreturn]] void BadUsage(const std::string& what);

// Prints "bosai: <message>" and records the failure.
void Fail(Globals& g, const Status& status);
void Fail(Globals& g, const std::string& message);

// False, after reporting it, when --read-only forbids COMMAND, which writes the data dir itself
// (not through its store, which refuses writes on its own).
bool MayWriteDataDir(Globals& g, std::string_view command);

// Opens the node of --data-dir, or reports why not (nullptr). Warns on stderr when the machine's
// clock is behind the node's (Node::ClockWarning), unless the command reports that itself.
std::unique_ptr<node::Node> OpenNode(Globals& g, bool warn_clock = true);
// OpenNode's open and warnings, its failure returned rather than reported.
Result<std::unique_ptr<node::Node>> TryOpenNode(Globals& g, bool warn_clock = true);

// The JSON document on stdout, or on OUT.
void PrintJson(const nlohmann::json& j, std::ostream& out = std::cout);

// A line typed at the terminal on standard input after PROMPT (on stderr), not shown as it is
// typed.
Result<std::string> PromptHidden(std::string_view prompt);

// Where a command that wrote its file to PATH says what it wrote: standard error when PATH is
// standard output ("-", /dev/stdout, or the file stdout is), so that the file stays whole there;
// standard output otherwise.
std::ostream& SayWritten(const std::string& path);
// PATH as a command says it wrote it: "- (standard output)" for "-".
std::string Written(const std::string& path);

// A conflict as `conflicts list --json` and `resident show --json` print it.
nlohmann::json ConflictJson(const node::Node& node, const Conflict& c);
// A conflict no longer open, and the write that settled it (conflicts show).
nlohmann::json SettlementJson(const node::Node& node, const std::string& id,
                              const Store::Settlement& s);

// Says on stderr, for each household an edit or a resolution left without a 世帯主 where someone
// still lives, that it needs one and how to give it one.
void SayHeadless(const std::vector<std::string>& households);

// The check of an option that takes a whole number from LO to HI: its error says which of the two
// a value is not ("abc" is not a whole number; 0 is not from 1 to 10000), where CLI11's own range
// check calls both out of range.
CLI::Validator WholeNumber(uint64_t lo, uint64_t hi);

// "1 row", "2 rows": N and NOUN, in the plural unless N is 1.
std::string Counted(uint64_t n, std::string_view noun);

// A progress bar on stderr when it is a terminal; silent otherwise.
class Progress {
 public:
  explicit Progress(std::string label);
  ~Progress();
  void Update(double fraction, const std::string& detail = "");
  // Erases the bar, before the outcome is printed in its place.
  void Clear();

 private:
  std::string label_;
  bool tty_;
  int last_percent_ = -1;
  std::string last_detail_;
};

// While one lives, SIGINT (Ctrl-C) and SIGTERM set flag() instead of ending the process, so
// that long work stops at its next step and says what it kept; a second signal ends it at once.
class Interruptible {
 public:
  Interruptible();
  ~Interruptible();
  Interruptible(const Interruptible&) = delete;
  Interruptible& operator=(const Interruptible&) = delete;
  const std::atomic<bool>* flag() const;
  // The exit code for work that stopped on the signal: 128 + its number.
  int exit_code() const;
};

void RegisterInit(CLI::App& app, Globals& g);
void RegisterGen(CLI::App& app, Globals& g);
void RegisterResident(CLI::App& app, Globals& g);
void RegisterConflicts(CLI::App& app, Globals& g);
void RegisterState(CLI::App& app, Globals& g);
void RegisterDoctor(CLI::App& app, Globals& g);
void RegisterKeys(CLI::App& app, Globals& g);
void RegisterServe(CLI::App& app, Globals& g);
void RegisterSync(CLI::App& app, Globals& g);
void RegisterBackup(CLI::App& app, Globals& g);

}  // namespace bosai::cli
