// bosai init: create a node's data dir with its identity and keys.
#include <iostream>

#include "cli/common.h"

namespace bosai::cli {

void RegisterInit(CLI::App& app, Globals& g) {
  auto* cmd = app.add_subcommand("init", "Create a node: data dir, node key, epoch, keys");
  auto opts = std::make_shared<node::InitOptions>();
  cmd->add_option("--node-id", opts->node_id,
                  "Node id, <municipality code>-<name>, e.g. 042021-honcho")
      ->required();
  cmd->add_option("--municipality", opts->municipality,
                  "6-digit 全国地方公共団体コード, e.g. 042021")
      ->required();
  cmd->callback([&g, opts] {
    opts->data_dir = g.data_dir;
    auto node = node::Node::Init(*opts);
    if (!node.ok()) return Fail(g, node.status());
    if (g.json) {
      PrintJson({{"node_id", (*node)->node_id()},
                 {"municipality", (*node)->municipality()},
                 {"incarnation", (*node)->incarnation()},
                 {"data_dir", g.data_dir},
                 {"development_root", (*node)->development_root()}});
      return;
    }
    std::cout << "initialized " << (*node)->incarnation() << " in " << g.data_dir << "\n"
              << "note: created a development root and data key in " << g.data_dir
              << "/keys; use an enrollment from the municipality's root for real work\n";
  });
}

}  // namespace bosai::cli
