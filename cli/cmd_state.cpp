// bosai state hash and bosai doctor: convergence digest and integrity check.
#include <fmt/format.h>

#include <filesystem>
#include <iostream>

#include "cli/common.h"

namespace bosai::cli {

void RegisterState(CLI::App& app, Globals& g) {
  auto* state = app.add_subcommand("state", "Replicated state");
  state->require_subcommand(1);
  state
      ->add_subcommand("hash",
                       "SHA-256 of the replicated state: equal on nodes with equal knowledge")
      ->callback([&g] {
        auto node = OpenNode(g);
        if (!node) return;
        auto h = node->store().StateHash();
        if (!h.ok()) return Fail(g, h.status());
        if (g.json) return PrintJson({{"state_hash", *h}});
        std::cout << *h << "\n";
      });
  state
      ->add_subcommand("dump",
                       "The rows the state hash reads, one per line, in its order: where two nodes "
                       "with different hashes differ (records: entity, key, body in hex; then "
                       "siblings and events)")
      ->callback([&g] {
        auto node = OpenNode(g);
        if (!node) return;
        // With --json, one document written as it goes: {"rows":[{"section","columns"},...]}.
        bool first = true;
        if (g.json) std::cout << "{\"rows\":[";
        Status st = node->store().DumpState([&g, &first](const Store::StateRow& row) {
          if (g.json) {
            std::cout << (first ? "" : ",\n")
                      << nlohmann::json{{"section", row.section}, {"columns", row.columns}}.dump();
            first = false;
          } else {
            std::cout << row.section;
            for (const std::string& c : row.columns) std::cout << ' ' << c;
            std::cout << '\n';
          }
          return std::cout ? Status::Ok() : Status::IoError("cannot write the dump");
        });
        if (g.json) std::cout << "]}\n";
        if (!st.ok()) return Fail(g, st);
      });
}

namespace {

// A store too damaged to open or to check: what SQLite finds in the file, and the way back.
void DamagedStore(Globals& g, const Status& failure) {
  const std::string path = (std::filesystem::path(g.data_dir) / "bosai.db").string();
  constexpr int kMaxProblems = 20;
  std::vector<std::string> problems = {failure.message()};
  auto found = Db::CheckFile(path, kMaxProblems);
  if (!found.ok()) {
    problems.push_back(found.status().message());
  } else {
    for (const auto& p : *found) problems.push_back("sqlite: " + p);
  }
  g.exit_code = kExitFailure;
  if (g.json) {
    PrintJson({{"ok", false}, {"problems", problems}, {"warnings", nlohmann::json::array()}});
    return;
  }
  for (const auto& p : problems) std::cout << "problem: " << p << "\n";
  std::cout << "DAMAGED: the store cannot be read; the README's \"A damaged store\" says how to "
               "rebuild the node from its peers\n";
}

}  // namespace

void RegisterDoctor(CLI::App& app, Globals& g) {
  app.add_subcommand("doctor", "Integrity check: database, op-log gaps and signatures, replay")
      ->callback([&g] {
        auto opened = TryOpenNode(g, /*warn_clock=*/false);
        if (IsDamagedFile(opened.status())) return DamagedStore(g, opened.status());
        if (!opened.ok()) return Fail(g, opened.status());
        std::unique_ptr<node::Node> node = std::move(opened).value();
        Progress bar("doctor");
        auto report = node->Doctor([&bar](double fraction, std::string_view step) {
          bar.Update(fraction, std::string(step));
        });
        bar.Clear();
        if (IsDamagedFile(report.status())) return DamagedStore(g, report.status());
        if (!report.ok()) return Fail(g, report.status());
        const std::vector<std::string>& warnings = report->warnings;
        if (g.json) {
          PrintJson({{"ok", report->ok()},
                     {"problems", report->problems},
                     {"warnings", warnings},
                     {"blocks", report->blocks},
                     {"ops", report->ops},
                     {"records", report->records}});
        } else {
          for (const auto& w : warnings) std::cout << "warning: " << w << "\n";
          for (const auto& p : report->problems) std::cout << "problem: " << p << "\n";
          std::cout << fmt::format("{}: {}, {}, {}\n", report->ok() ? "ok" : "DAMAGED",
                                   Counted(report->blocks, "block"), Counted(report->ops, "op"),
                                   Counted(report->records, "record"));
        }
        if (!report->ok()) g.exit_code = kExitFailure;
      });
}

}  // namespace bosai::cli
