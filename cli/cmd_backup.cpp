// bosai backup and bosai restore: the node's store as of one moment, and back under a new epoch.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <unistd.h>

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "cli/common.h"
#include "node/backup.h"
#include "storage/sealed_file.h"

namespace bosai::cli {

namespace {

// The passphrase on FILE's first line ("": none given). "-" is standard input: typed at a
// prompt when it is a terminal, not shown, and twice to seal.
Result<std::string> Passphrase(const std::string& file, bool for_sealing) {
  if (file.empty()) return std::string();
  if (file != "-" || !::isatty(STDIN_FILENO)) return ReadPassphrase(file, for_sealing);
  BOSAI_ASSIGN_OR_RETURN(std::string typed, PromptHidden("passphrase: "));
  BOSAI_ASSIGN_OR_RETURN(typed,
                         CheckPassphrase(std::move(typed), for_sealing, "the passphrase typed"));
  if (for_sealing) {
    BOSAI_ASSIGN_OR_RETURN(std::string again, PromptHidden("the same passphrase again: "));
    if (again != typed) return Status::Invalid("the two passphrases typed differ");
  }
  return typed;
}

void RestoreLost(Globals& g, const std::string& file, const std::string& passphrase) {
  auto node = OpenNode(g);
  if (!node) return;
  auto r = node::RestoreLostNode(*node, file, passphrase);
  if (!r.ok()) return Fail(g, r.status());
  std::vector<std::string> left_out;
  for (const StreamId& s : r->left_out) left_out.push_back(s.incarnation + " " + s.scope);
  if (g.json) {
    return PrintJson({{"restored", file},
                      {"lost_node", r->node_id},
                      {"incarnation", r->incarnation},
                      {"blocks", r->blocks},
                      {"ops", r->ops},
                      {"held", r->held},
                      {"left_out", left_out}});
  }
  if (!left_out.empty()) {
    std::cerr << fmt::format(
        "left out (this node may not read them, or cannot verify who wrote them): {}\n",
        fmt::join(left_out, ", "));
  }
  if (r->held > 0) {
    std::cerr << fmt::format(
        "{} blocks are held for their clock, beyond the maximum offset (`bosai sync status`)\n",
        r->held);
  }
  if (r->ops == 0 && r->held == 0) {
    std::cout << fmt::format(
        "took in nothing from {}, the backup of lost node {}: this node held all {} already\n",
        file, r->incarnation, left_out.empty() ? "of it" : "it may take of it");
    return;
  }
  std::cout << fmt::format(
      "took in {} ops from {}, the backup of lost node {}: this node sends them on to its peers "
      "at the next sync\n",
      r->ops, file, r->incarnation);
}

}  // namespace

void RegisterBackup(CLI::App& app, Globals& g) {
  auto out = std::make_shared<std::string>();
  auto sealing = std::make_shared<std::string>();
  auto* backup = app.add_subcommand(
      "backup", "Write the node's store as of now to a new file (keep it as safe as the data dir)");
  backup->footer(
      "The node may go on working meanwhile. The file holds residents' names and addresses (My "
      "Number sealed), not the node's keys. With --passphrase-file it is sealed (Argon2id, "
      "XChaCha20-Poly1305): whoever finds it without the passphrase reads nothing; restore needs "
      "the same passphrase.");
  backup->add_option("--out", *out, "The backup file (must not exist)")->required();
  backup->add_option("--passphrase-file", *sealing,
                     "Seal the backup with the passphrase on this file's first line (12 "
                     "characters or more; - to type it)");
  backup->callback([&g, out, sealing] {
    auto passphrase = Passphrase(*sealing, true);
    if (!passphrase.ok()) return Fail(g, passphrase.status());
    auto node = OpenNode(g);
    if (!node) return;
    Progress progress("backup");
    auto r = node::BackupNode(
        *node, *out, [&](double f) { progress.Update(f); }, *passphrase);
    progress.Clear();
    if (!r.ok()) return Fail(g, r.status());
    if (g.json) {
      return PrintJson({{"out", *out},
                        {"bytes", r->bytes},
                        {"ops", r->ops},
                        {"node", node->incarnation()},
                        {"sealed", r->sealed}});
    }
    std::cout << fmt::format(
        "wrote {}: {} as of now ({} ops, {} bytes{}); `bosai restore {}{}` puts the node back to "
        "it, under a new epoch\n",
        *out, node->incarnation(), r->ops, r->bytes, r->sealed ? ", sealed" : "", *out,
        r->sealed ? " --passphrase-file " + *sealing : "");
    if (!r->sealed) {
      std::cerr << "(not sealed: whoever has the file reads residents' names and addresses; "
                   "--passphrase-file seals it)\n";
    }
  });

  auto file = std::make_shared<std::string>();
  auto lost = std::make_shared<bool>(false);
  auto* restore = app.add_subcommand(
      "restore", "Put the node back as a backup had it, under a new epoch (stop the daemon first)");
  restore->footer(
      "Its writes from then on go to new streams (node#epoch), so none takes a number its peers "
      "hold; those it made after the backup come back from its peers at the next sync.\n"
      "--from-lost-node: the backup is of another node, lost with its key (a broken laptop; take "
      "a stolen one's in before revoking it: a revoked node's writes are refused). This node keeps "
      "its own store and takes in the writes the backup holds that it "
      "lacks, verified by the lost node's certificate, and sends them on at its next syncs; the "
      "daemon may run meanwhile.");
  restore
      ->add_option("file", *file,
                   "A backup made by `bosai backup` of this node (with --from-lost-node, of "
                   "the lost node)")
      ->required();
  restore->add_flag("--from-lost-node", *lost,
                    "Take in the writes of another node's backup (that node is lost)");
  auto opening = std::make_shared<std::string>();
  restore->add_option("--passphrase-file", *opening,
                      "The passphrase a sealed backup was sealed with, on this file's first line "
                      "(- to type it)");
  restore->callback([&g, file, lost, opening] {
    if (g.read_only) return Fail(g, "restore writes the store: --read-only refuses it");
    auto passphrase = Passphrase(*opening, false);
    if (!passphrase.ok()) return Fail(g, passphrase.status());
    if (*lost) return RestoreLost(g, *file, *passphrase);
    auto r = node::RestoreNode(g.data_dir, *file, *passphrase);
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
