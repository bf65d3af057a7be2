// bosai gen residents: write a synthetic register CSV.
#include <fmt/format.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>

#include "cli/common.h"
#include "node/gen.h"

namespace bosai::cli {

void RegisterGen(CLI::App& app, Globals& g) {
  auto* gen = app.add_subcommand("gen", "Generate synthetic data for drills and tests");
  gen->require_subcommand(1);
  auto* res =
      gen->add_subcommand("residents", "Synthetic resident register in the canonical CSV layout");
  auto opts = std::make_shared<node::GenOptions>();
  auto out = std::make_shared<std::string>();
  res->add_option("--municipality", opts->municipality, "6-digit municipality code")->required();
  res->add_option("--count", opts->count, "Number of residents")
      ->required()
      ->check(WholeNumber(1, node::kMaxGenCount));
  res->add_option("--seed", opts->seed, "Seed: the same seed gives the same file")
      ->capture_default_str()
      ->check(WholeNumber(0, UINT64_MAX));
  res->add_option("--out", *out, "Output file (default, or -: standard output)");
  res->callback([&g, opts, out] {
    // Before the file is opened: a bad option leaves an existing file as it was.
    if (Status ok = node::CheckGenOptions(*opts); !ok.ok()) return Fail(g, ok);
    std::FILE* f = stdout;
    if (*out == "-") out->clear();
    const std::string name = out->empty() ? "standard output" : *out;
    if (!out->empty()) {
      f = std::fopen(out->c_str(), "wb");
      if (!f) return Fail(g, fmt::format("{}: cannot write: {}", name, std::strerror(errno)));
    }
    Status st = node::GenerateResidents(*opts, f).WithContext(name);
    if (f != stdout && std::fclose(f) != 0 && st.ok()) {
      st = Status::IoError(fmt::format("{}: write failed: {}", name, std::strerror(errno)));
    }
    if (!st.ok()) return Fail(g, st);
    if (g.json && !out->empty()) PrintJson({{"rows", opts->count}, {"out", *out}});
  });
}

}  // namespace bosai::cli
