// bosai backup and bosai restore: the node's store as of one moment, and back under a new epoch.
#include <fmt/format.h>

#include <iostream>
#include <memory>

#include "cli/common.h"
#include "node/backup.h"

namespace bosai::cli {

void RegisterBackup(CLI::App& app, Globals& g) {
  auto out = std::make_shared<std::string>();
  auto* backup = app.add_subcommand(
      "backup", "Write the node's store as of now to a new file (keep it as safe as the data dir)");
  backup->footer(
      "The node may go on working meanwhile. The file holds residents' names and addresses (My "
      "Number sealed), not the node's keys.");
  backup->add_option("--out", *out, "The backup file (must not exist)")->required();
  backup->callback([&g, out] {
    auto node = OpenNode(g);
    if (!node) return;
    Progress progress("backup");
    auto r = node::BackupNode(*node, *out, [&](double f) { progress.Update(f); });
    progress.Clear();
    if (!r.ok()) return Fail(g, r.status());
    if (g.json) {
      return PrintJson(
          {{"out", *out}, {"bytes", r->bytes}, {"ops", r->ops}, {"node", node->incarnation()}});
    }
    std::cout << fmt::format(
        "wrote {}: {} as of now ({} ops, {} bytes); `bosai restore {}` puts "
        "the node back to it, under a new epoch\n",
        *out, node->incarnation(), r->ops, r->bytes, *out);
  });

  auto file = std::make_shared<std::string>();
  auto* restore = app.add_subcommand(
      "restore", "Put the node back as a backup had it, under a new epoch (stop the daemon first)");
  restore->footer(
      "Its writes from then on go to new streams (node#epoch), so none takes a number its peers "
      "hold; those it made after the backup come back from its peers at the next sync.");
  restore->add_option("file", *file, "A backup made by `bosai backup` of this node")->required();
  restore->callback([&g, file] {
    if (g.read_only) return Fail(g, "restore writes the store: --read-only refuses it");
    auto r = node::RestoreNode(g.data_dir, *file);
    if (!r.ok()) return Fail(g, r.status());
    if (g.json) {
      return PrintJson({{"restored", *file},
                        {"incarnation", r->incarnation},
                        {"backup_epoch", r->backup_epoch},
                        {"ops", r->ops},
                        {"set_aside", r->set_aside}});
    }
    if (!r->set_aside.empty()) {
      std::cerr << "the database that could not be opened is kept as " << r->set_aside << "\n";
    }
    std::cout << fmt::format(
        "restored {} into {} as {} ({} ops): writes from now on go to the new epoch; `bosai sync "
        "now` (or the daemon) brings back from the peers what the node wrote after the backup\n",
        *file, g.data_dir, r->incarnation, r->ops);
  });
}

}  // namespace bosai::cli
