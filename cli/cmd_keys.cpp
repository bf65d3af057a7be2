// bosai keys: the municipality root and the enrollment of nodes (the key ceremony).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <iostream>
#include <sstream>

#include "cli/common.h"
#include "node/enroll.h"
#include "node/trust_bundle.h"

namespace bosai::cli {
namespace {

std::vector<std::string> SplitList(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  for (std::string item; std::getline(in, item, ',');) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

}  // namespace

void RegisterKeys(CLI::App& app, Globals& g) {
  auto* keys = app.add_subcommand("keys", "Municipality root and node enrollment");
  keys->require_subcommand(1);

  auto* root = keys->add_subcommand("root", "The municipality's root (kept offline)");
  root->require_subcommand(1);
  auto* root_init =
      root->add_subcommand("init", "Create root.key, root.crt and data.key in a directory");
  auto muni = std::make_shared<std::string>(), out = std::make_shared<std::string>();
  root_init->add_option("--municipality", *muni, "6-digit municipality code")->required();
  root_init->add_option("--out", *out, "Directory, on an offline medium")->required();
  root_init->callback([&g, muni, out] {
    Status st = node::CreateRootDir(*muni, *out);
    if (!st.ok()) return Fail(g, st);
    if (g.json) return PrintJson({{"root_dir", *out}, {"municipality", *muni}});
    std::cout << "created the root of " << *muni << " in " << *out
              << " (root.key, root.crt, data.key, status signer): keep it offline\n";
  });

  auto* nodecmd = keys->add_subcommand("node", "Enroll a node under the root");
  nodecmd->require_subcommand(1);
  auto* request = nodecmd->add_subcommand("request", "On the node: make its key and a request");
  auto node_id = std::make_shared<std::string>(), req_out = std::make_shared<std::string>();
  request->add_option("--node-id", *node_id, "Node id, e.g. 042021-shelter-03")->required();
  request->add_option("--out", *req_out, "Request file to take to the root")->required();
  request->callback([&g, node_id, req_out] {
    if (!MayWriteDataDir(g, "keys node request")) return;
    auto reused = node::WriteEnrollmentRequest(g.data_dir, *node_id, *req_out);
    if (!reused.ok()) return Fail(g, reused.status());
    std::ostream& say = SayWritten(*req_out);
    if (g.json) {
      return PrintJson({{"request", *req_out}, {"node_id", *node_id}, {"key_reused", *reused}},
                       say);
    }
    say << "wrote " << Written(*req_out) << "; the node key stays in " << g.data_dir << "/keys\n";
    if (*reused) {
      say << "(the key an earlier request made there: the root certifies a key as one node id "
             "only)\n";
    }
  });

  auto* issue = nodecmd->add_subcommand("issue", "At the root: certify a requested node key");
  auto o = std::make_shared<node::IssueOptions>();
  auto write = std::make_shared<std::string>(), read = std::make_shared<std::string>();
  issue->add_option("--root", o->root_dir, "Root directory (root.key, root.crt, data.key)")
      ->required();
  issue->add_option("--request", o->request_path, "Request file from the node")->required();
  issue->add_option("--issuer-code", o->issuer_code, "Issuer code for certificates, [A-Z0-9]{1,12}")
      ->required();
  auto* write_opt = issue->add_option(
      "--write", *write, "Write scopes, comma-separated (default: CODE and CODE/mynumber)");
  issue->add_option("--read", *read, "Read scopes, comma-separated (e.g. for a partner or hub)");
  issue->add_option("--out", o->out_path, "Enrollment file to take back to the node")->required();
  issue->callback([&g, o, write, read, write_opt] {
    if (write_opt->count()) o->write = SplitList(*write);
    o->read = SplitList(*read);
    if (Status st = node::IssueEnrollment(*o); !st.ok()) return Fail(g, st);
    std::ostream& say = SayWritten(o->out_path);
    if (g.json) return PrintJson({{"enrollment", o->out_path}}, say);
    say << "wrote " << Written(o->out_path) << "; on the node: bosai init --enrollment "
        << (o->out_path == "-" ? "FILE" : o->out_path) << "\n";
  });

  auto revoke_id = std::make_shared<std::string>(), revoke_root = std::make_shared<std::string>();
  auto* revoke = keys->add_subcommand(
      "revoke",
      "Refuse a node (a stolen laptop): with --root, in the next trust export for every node; "
      "without, on this node at once");
  revoke->add_option("node", *revoke_id, "Node id, e.g. 042021-shelter-03")->required();
  revoke->add_option("--root", *revoke_root, "Root directory: record it at the root");
  revoke->callback([&g, revoke_id, revoke_root] {
    Status valid = ValidateNodeId(*revoke_id);
    if (!valid.ok()) return Fail(g, valid);
    if (!revoke_root->empty()) {
      auto r = node::RevokeAtRoot(*revoke_root, *revoke_id);
      if (!r.ok()) return Fail(g, r.status());
      if (!r->issued_to_others.empty()) {
        // Revoked all the same (the root may have issued it before it kept copies), but a
        // mistyped id leaves the node it meant trusted: said, with the ids it did issue.
        std::cerr << fmt::format(
            "warning: this root issued no certificate to {}: is it mistyped? It issued to {}\n",
            *revoke_id, fmt::join(r->issued_to_others, ", "));
      }
      if (g.json) {
        return PrintJson({{"revoked", *revoke_id},
                          {"at", "root"},
                          {"already", r->already},
                          {"issued_by_this_root", r->issued_to_others.empty()}});
      }
      if (r->already) {
        std::cout << *revoke_id << " is revoked at the root already: nothing changed\n";
        return;
      }
      std::cout << "revoked " << *revoke_id
                << " at the root; distribute it with `bosai keys trust export`\n";
      return;
    }
    auto node = OpenNode(g);
    if (!node) return;
    auto trust = node->trust();
    if (!trust.ok()) return Fail(g, trust.status());
    if (*revoke_id == node->node_id()) return Fail(g, "a node cannot revoke itself");
    const bool already = (*trust)->revoked(*revoke_id);
    const bool met = already || (*trust)->Find(*revoke_id) != nullptr;
    if (!met) {
      std::cerr << "warning: this node holds no certificate of " << *revoke_id
                << " (it has not met it, or the id is mistyped); revoked all the same\n";
    }
    if (!already) {
      Status st = (*trust)->Revoke(*revoke_id, SystemClock::Get()->NowMillis());
      if (!st.ok()) return Fail(g, st);
    }
    if (g.json) {
      return PrintJson(
          {{"revoked", *revoke_id}, {"at", "node"}, {"already", already}, {"met", met}});
    }
    if (already) {
      std::cout << *revoke_id << " is revoked on this node already: nothing changed\n";
      return;
    }
    std::cout << "revoked " << *revoke_id << " on this node; its sessions are refused\n";
  });

  auto* trustcmd = keys->add_subcommand("trust", "Trust bundles: certificates and revocations");
  trustcmd->require_subcommand(1);
  auto te = std::make_shared<std::pair<std::string, std::string>>();
  auto* texp = trustcmd->add_subcommand(
      "export", "At the root: sign the issued certificates and revocations (status signer)");
  texp->add_option("--root", te->first, "Root directory")->required();
  texp->add_option("--out", te->second, "Trust bundle file")->required();
  texp->callback([&g, te] {
    auto r = node::ExportTrust(te->first, te->second);
    if (!r.ok()) return Fail(g, r.status());
    std::ostream& say = SayWritten(te->second);
    if (g.json) {
      return PrintJson({{"out", te->second},
                        {"seq", r->seq},
                        {"certificates", r->certificates},
                        {"revoked", r->revoked}},
                       say);
    }
    say << "wrote " << Written(te->second) << ": sequence " << r->seq << ", " << r->certificates
        << " certificates, " << r->revoked << " revoked\n";
  });
  auto ti = std::make_shared<std::string>();
  auto* timp = trustcmd->add_subcommand("import", "On a node: verify and apply a trust bundle");
  timp->add_option("file", *ti, "Trust bundle file")->required();
  timp->callback([&g, ti] {
    auto node = OpenNode(g);
    if (!node) return;
    auto r = node::ImportTrust(*node, *ti);
    if (!r.ok()) return Fail(g, r.status());
    if (g.json) {
      return PrintJson({{"municipality", r->municipality},
                        {"seq", r->seq},
                        {"certificates", r->certificates},
                        {"revoked", r->revoked},
                        {"self_revoked", r->self_revoked}});
    }
    std::cout << "applied the trust of " << r->municipality << " sequence " << r->seq << ": "
              << r->certificates << " certificates, " << r->revoked << " revoked\n";
    if (r->self_revoked) {
      std::cerr << "warning: this bundle revokes this node, " << node->node_id()
                << ": its peers refuse its sessions; enroll a new node for this machine\n";
    }
  });

  struct GrantArgs {
    std::string root, node_cert, read, out;
  };
  auto ga = std::make_shared<GrantArgs>();
  auto* grant = keys->add_subcommand(
      "grant", "At the root: give another municipality's node (partner, hub) read scope here");
  grant->add_option("--root", ga->root, "Root directory (root.key, root.crt)")->required();
  grant->add_option("--node-cert", ga->node_cert, "That node's keys/node.crt")->required();
  grant->add_option("--read", ga->read, "Read scopes, e.g. 042021,042021/mynumber")->required();
  grant->add_option("--out", ga->out, "Grant file to install there with `bosai keys add`")
      ->required();
  grant->callback([&g, ga] {
    Status st = node::IssueGrantFile(ga->root, ga->node_cert, SplitList(ga->read), ga->out);
    if (!st.ok()) return Fail(g, st);
    std::ostream& say = SayWritten(ga->out);
    if (g.json) return PrintJson({{"grant", ga->out}}, say);
    say << "wrote " << Written(ga->out) << "; install it on that node with `bosai keys add`\n";
  });

  auto add_path = std::make_shared<std::string>();
  auto* add = keys->add_subcommand(
      "add", "On a node: trust a partner municipality's root.crt, or install a read grant");
  add->add_option("file", *add_path, "root.crt of a partner municipality, or a grant file")
      ->required();
  add->callback([&g, add_path] {
    if (!MayWriteDataDir(g, "keys add")) return;
    auto what = node::InstallTrustFile(g.data_dir, *add_path);
    if (!what.ok()) return Fail(g, what.status());
    if (g.json) return PrintJson({{"installed", what->what}, {"already", what->already}});
    if (what->already) {
      std::cout << "the " << what->what << " is installed already: nothing changed\n";
      return;
    }
    std::cout << "installed the " << what->what << "; restart `bosai serve` to use it\n";
  });
}

}  // namespace bosai::cli
