// bosai state hash and bosai doctor: convergence digest and integrity check.
#include <fmt/format.h>

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

void RegisterDoctor(CLI::App& app, Globals& g) {
  app.add_subcommand("doctor", "Integrity check: database, op-log gaps and signatures, replay")
      ->callback([&g] {
        auto node = OpenNode(g, /*warn_clock=*/false);
        if (!node) return;
        Progress bar("doctor");
        auto report = node->Doctor([&bar](double fraction, std::string_view step) {
          bar.Update(fraction, std::string(step));
        });
        bar.Clear();
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
          std::cout << fmt::format("{}: {} blocks, {} ops, {} records\n",
                                   report->ok() ? "ok" : "DAMAGED", report->blocks, report->ops,
                                   report->records);
        }
        if (!report->ok()) g.exit_code = kExitFailure;
      });
}

}  // namespace bosai::cli
