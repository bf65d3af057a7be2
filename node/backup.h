// Backups of a node's store, and restores under a new epoch (DESIGN §3, §8).
//
// A backup is the node's database as of one moment, in one file readable by its owner only
// (SQLite's online backup: the node goes on writing and serving meanwhile). It holds residents'
// names and addresses, and My Numbers sealed: keep it as carefully as the data dir, or seal it
// with a passphrase (storage/sealed_file.h) for a USB stick or another site. The node's
// keys are not in it: it is restored into the data dir of the same node, whose keys are there.
//
// A restore puts the node back as the backup had it, under a new epoch. The node's writes from
// then on go to new streams (`node#epoch`), so they never take numbers its peers hold for the
// writes it made after the backup (a data dir put back from a copy under its old epoch would:
// sync refuses it then); those writes come back from its peers, in the old streams.
//
// A node that is lost (a laptop broken or gone) cannot be restored: its key went with it. Another
// node takes in the writes its backup holds (RestoreLostNode) and sends them on to the peers: the
// writes it made offline and never synced survive, signed by the lost node as they were.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "node/node.h"

namespace bosai::node {

struct BackupResult {
  uint64_t bytes = 0;
  uint64_t ops = 0;     // op-log entries the backup holds
  bool sealed = false;  // with a passphrase
};
// Writes the backup of NODE to OUT_PATH, a file that must not exist (written whole or not at
// all). PROGRESS gets the fraction copied. With a PASSPHRASE the file is sealed
// (storage/sealed_file.h): the database is copied beside the store first, then sealed to
// OUT_PATH, so that it is never in the clear where the backup goes (a USB stick).
Result<BackupResult> BackupNode(Node& node, const std::string& out_path,
                                const std::function<void(double)>& progress,
                                const std::string& passphrase = "");

struct RestoreResult {
  int64_t backup_epoch = 0;  // the epoch the node had when the backup was made
  std::string incarnation;   // the node's new incarnation
  uint64_t ops = 0;          // op-log entries the node holds now
  std::string set_aside;     // where a database that could not be opened was moved, if any
};
// Restores BACKUP_PATH into DATA_DIR under a new epoch: above both the backup's and the data
// dir's (when the data dir's database cannot be read, the clock's seconds since 1970, above any
// epoch an earlier restore can have taken). Refused, changing nothing, when the file is not a sound
// bosai backup, is another node's, was made by a newer bosai, or when a daemon runs on the data
// dir. A database in the data dir that cannot be opened is moved aside (`bosai.db.damaged-<time>`),
// not deleted.
// A sealed backup is opened with PASSPHRASE (refused without it, or with another one).
Result<RestoreResult> RestoreNode(const std::string& data_dir, const std::string& backup_path,
                                  const std::string& passphrase = "");

struct LostNodeResult {
  std::string node_id;             // the lost node's
  std::string incarnation;         // its incarnation when the backup was made
  uint64_t blocks = 0;             // blocks taken from the backup (this node lacked them)
  uint64_t ops = 0;                // op-log entries they added
  uint64_t held = 0;               // blocks held for their clock (`bosai sync status`)
  std::vector<StreamId> left_out;  // streams this node may not read, or cannot verify
};
// Takes into NODE the writes a lost node's backup holds that NODE lacks (its own, and what it had
// received from others), as a bundle would bring them: each block verified against its origin's
// certificate (those the backup holds are admitted, checked against this node's roots and
// revocations) and applied in one transaction. NODE keeps its own incarnation and relays them
// with the lost node's certificate at its next syncs. Streams this node may not read, or whose
// origin it cannot verify, are left out and named. Refused, changing nothing, for a file that is
// not a sound bosai backup, for a backup of NODE itself (restore puts it back), and for a node
// whose certificate this node cannot verify (revoked, another municipality's).
Result<LostNodeResult> RestoreLostNode(Node& node, const std::string& backup_path,
                                       const std::string& passphrase = "");

}  // namespace bosai::node
