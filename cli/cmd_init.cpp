// bosai init: create a node's data dir with its identity and keys.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "cli/common.h"
#include "node/enroll.h"

namespace bosai::cli {

void RegisterInit(CLI::App& app, Globals& g) {
  auto* cmd = app.add_subcommand("init", "Create a node: data dir, node key, epoch, keys");
  auto opts = std::make_shared<node::InitOptions>();
  cmd->add_option("--node-id", opts->node_id,
                  "Node id, <municipality code>-<name>, e.g. 042021-honcho");
  cmd->add_option("--municipality", opts->municipality,
                  "6-digit 全国地方公共団体コード, e.g. 042021");
  auto* enroll = cmd->add_option("--enrollment", opts->enrollment,
                                 "Enrollment issued by the root for this node's requested key");
  auto* root_key =
      cmd->add_option("--root-key", opts->root_key,
                      "root.key of the municipality: enroll in one step (drills, demos)");
  enroll->excludes(root_key);
  cmd->callback([&g, opts] {
    if (!MayWriteDataDir(g, "init")) return;
    opts->data_dir = g.data_dir;
    if (opts->enrollment.empty() && (opts->node_id.empty() || opts->municipality.empty())) {
      BadUsage("init needs --node-id and --municipality (or --enrollment)");
    }
    // What the directory held before (but a key `keys node request` made for this node): a
    // node made among other files (a home directory) is said, once.
    std::vector<std::string> others;
    std::error_code ec;
    for (std::filesystem::directory_iterator it(g.data_dir, ec), end; !ec && it != end;
         it.increment(ec)) {
      const std::string name = it->path().filename().string();
      if (name != "keys" && name != "bosai.toml") others.push_back(name);
    }
    std::sort(others.begin(), others.end());
    auto node = node::Node::Init(*opts);
    if (!node.ok()) return Fail(g, node.status());
    if (auto w = node::DataDirExposure(g.data_dir)) std::cerr << "bosai: warning: " << *w << "\n";
    if (!others.empty()) {
      std::cerr << fmt::format(
          "bosai: warning: {} held other files ({}{}): the node's are beside them; a data dir of "
          "its own is easier to protect and to back up\n",
          g.data_dir,
          fmt::join(others.begin(), others.begin() + std::min<size_t>(others.size(), 3), ", "),
          others.size() > 3 ? fmt::format(" and {} more", others.size() - 3) : "");
    }
    if (g.json) {
      PrintJson({{"node_id", (*node)->node_id()},
                 {"municipality", (*node)->municipality()},
                 {"incarnation", (*node)->incarnation()},
                 {"data_dir", g.data_dir},
                 {"development_root", (*node)->development_root()},
                 {"issuer_code", (*node)->issuer_code()},
                 {"my_number_readable", (*node)->data_key() != nullptr}});
      return;
    }
    std::cout << "initialized " << (*node)->incarnation() << " in " << g.data_dir << "\n";
    if ((*node)->development_root()) {
      std::cout << "note: created a development root and data key in " << g.data_dir
                << "/keys; use an enrollment from the municipality's root for real work\n";
    } else if (!(*node)->data_key()) {
      std::cout << "note: enrolled without the data key: this node cannot read My Number\n";
    }
  });
}

}  // namespace bosai::cli
