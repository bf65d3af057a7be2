// bosai serve and bosai sync: the daemon, and the operator's replication commands (DESIGN §5, §8).
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <iostream>
#include <memory>

#include "cli/common.h"
#include "node/replication.h"

namespace bosai::cli {
namespace {

std::string Ago(int64_t then_ms) {
  if (then_ms <= 0) return "never";
  int64_t s = (SystemClock::Get()->NowMillis() - then_ms) / 1000;
  if (s < 120) return fmt::format("{} s ago", s);
  if (s < 7200) return fmt::format("{} min ago", s / 60);
  return fmt::format("{} h ago", s / 3600);
}

}  // namespace

void RegisterServe(CLI::App& app, Globals& g) {
  auto* serve = app.add_subcommand(
      "serve", "Run the node daemon: sync listener and peers (see ops/config/bosai.example.toml)");
  auto config = std::make_shared<std::string>();
  auto check = std::make_shared<bool>(false);
  serve->add_option("--config", *config, "Config file (TOML)")->required();
  serve->add_flag("--check", *check,
                  "Check the config and the data dir it names, print what would be served, and "
                  "exit (0 when both are fit to serve; a listener's port taken now is a warning)");
  serve->callback([&g, config, check] {
    auto c = node::LoadServeConfig(*config);
    if (!c.ok()) return Fail(g, c.status());
    if (*check) {
      auto checked = node::CheckServe(*c);
      if (!checked.ok()) return Fail(g, checked.status());
      if (g.json) {
        nlohmann::json warnings = nlohmann::json::array();
        for (const auto& w : checked->warnings) {
          warnings.push_back({{"kind", w.kind}, {"message", w.message}});
        }
        return PrintJson({{"config", *config},
                          {"ok", true},
                          {"serves", checked->serves},
                          {"warnings", std::move(warnings)}});
      }
      std::cout << *config << ": ok\n";
      for (const auto& line : checked->serves) std::cout << "  " << line << "\n";
      for (const auto& w : checked->warnings) std::cout << "  warning: " << w.message << "\n";
      return;
    }
    Status st = node::Serve(*c);
    if (!st.ok()) Fail(g, st);
  });
}

void RegisterSync(CLI::App& app, Globals& g) {
  auto* sync = app.add_subcommand("sync", "Replication with other nodes: sessions and bundles");
  sync->require_subcommand(1);

  struct NowArgs {
    std::string address;
    std::string peer;
  };
  auto now_args = std::make_shared<NowArgs>();
  auto* now = sync->add_subcommand(
      "now", "One session with a node, both directions; exits 0 when both are caught up");
  now->add_option("address", now_args->address, "HOST:PORT of the peer's sync listener")
      ->required();
  now->add_option("--peer", now_args->peer,
                  "Node id the peer's certificate must carry (default: any node the trust allows)");
  now->callback([&g, now_args] {
    auto node = OpenNode(g);
    if (!node) return;
    Progress progress("sync");
    auto r = node::SyncNow(*node, now_args->address, now_args->peer,
                           [&](double f) { progress.Update(f); });
    progress.Clear();
    if (!r.ok()) return Fail(g, r.status());
    const sync::PeerStatus& s = r->status;
    if (g.json) {
      return PrintJson({{"peer", r->peer},
                        {"caught_up", true},
                        {"blocks_sent", s.blocks_sent},
                        {"blocks_received", s.blocks_received},
                        {"ops_received", s.ops_received},
                        {"blocks_held", s.blocks_held},
                        {"bytes_sent", s.bytes_sent},
                        {"bytes_received", s.bytes_received},
                        {"frames_sent", s.frames_sent},
                        {"frames_received", s.frames_received},
                        {"forked", s.forked}});
    }
    std::cout << fmt::format("caught up with {}: sent {}, received {} ({}), {} / {} bytes out/in\n",
                             r->peer, Counted(s.blocks_sent, "block"),
                             Counted(s.blocks_received, "block"), Counted(s.ops_received, "op"),
                             s.bytes_sent, s.bytes_received);
    if (s.blocks_held > 0) {
      std::cout << fmt::format(
          "warning: {} held: stamped beyond the maximum clock offset (`bosai sync status`)\n",
          Counted(s.blocks_held, "block"));
    }
    for (const auto& f : s.forked) std::cerr << "warning: not sent: " << f << "\n";
  });

  sync->add_subcommand("status", "Per peer: state, last contact, lag, bytes; held blocks")
      ->callback([&g] {
        auto node = OpenNode(g);
        if (!node) return;
        auto s = node::SyncStatus(*node);
        if (!s.ok()) return Fail(g, s.status());
        if (g.json) return PrintJson(*s);
        const auto& j = *s;
        std::cout << fmt::format(
            "node {} ({}): {} in {}; daemon {}\n", j["node"].get<std::string>(),
            j["incarnation"].get<std::string>(), Counted(j["ops"].get<uint64_t>(), "op"),
            Counted(j["streams"].get<uint64_t>(), "stream"), j["daemon"].get<std::string>());
        for (const auto& p : j["peers"]) {
          std::cout << fmt::format(
              "  {:<24} {:<3} {:<10} last contact {:<12} lag {}, sent {} B, received {} B{}\n",
              p.value("peer", ""), p.value("direction", ""), p.value("state", ""),
              Ago(p.value("last_contact_ms", int64_t{0})),
              Counted(p.value("lag_ops", uint64_t{0}), "op"), p.value("bytes_sent", uint64_t{0}),
              p.value("bytes_received", uint64_t{0}),
              p.value("last_error", std::string()).empty()
                  ? ""
                  : "  error: " + p.value("last_error", std::string()));
          for (const auto& f : p.value("forked", nlohmann::json::array())) {
            std::cout << "    not sent: " << f.get<std::string>() << "\n";
          }
        }
        for (const auto& h : j["held"]) {
          std::cout << fmt::format(
              "  HELD {} ({}) of {}: stamped {} s ahead of this clock; `bosai sync "
              "accept-skew {}` applies them\n",
              Counted(h["blocks"].get<uint64_t>(), "block"),
              Counted(h["ops"].get<uint64_t>(), "op"), h["incarnation"].get<std::string>(),
              h["ahead_ms"].get<int64_t>() / 1000, h["incarnation"].get<std::string>());
        }
      });

  auto vector_out = std::make_shared<std::string>();
  auto* vector = sync->add_subcommand(
      "vector", "Write what this node holds, for another node to export a bundle against");
  vector->add_option("--out", *vector_out, "Vector file (JSON; -: standard output)")->required();
  vector->callback([&g, vector_out] {
    auto node = OpenNode(g);
    if (!node) return;
    auto vv = node::WriteVectorFile(*node, *vector_out);
    if (!vv.ok()) return Fail(g, vv.status());
    const uint64_t ops = OpsIn(*vv);
    std::ostream& say = SayWritten(*vector_out);
    if (g.json) {
      return PrintJson({{"out", *vector_out}, {"streams", vv->size()}, {"ops", ops}}, say);
    }
    say << fmt::format(
        "wrote {}: {} holds {} in {}; `bosai sync export --vector` on the other node writes the "
        "bundle this node lacks\n",
        Written(*vector_out), node->node_id(), Counted(ops, "op"), Counted(vv->size(), "stream"));
  });

  struct ExportArgs {
    std::string for_node, vector, out;
  };
  auto ex = std::make_shared<ExportArgs>();
  auto* exp = sync->add_subcommand(
      "export", "Write the blocks another node lacks into a signed bundle (USB stick, mail)");
  auto* for_opt = exp->add_option("--for", ex->for_node, "Node the bundle is for");
  auto* vec_opt = exp->add_option("--vector", ex->vector,
                                  "Vector file written by that node (-: standard input)");
  for_opt->excludes(vec_opt);
  exp->add_option("--out", ex->out, "Bundle file (-: standard output)")->required();
  exp->callback([&g, ex] {
    if (ex->for_node.empty() == ex->vector.empty()) {
      BadUsage("give --for NODE_ID or --vector FILE");
    }
    auto node = OpenNode(g);
    if (!node) return;
    auto r = node::ExportFor(*node, ex->for_node, ex->vector, ex->out);
    if (!r.ok()) return Fail(g, r.status());
    std::ostream& say = SayWritten(ex->out);
    if (g.json) {
      return PrintJson(
          {{"out", ex->out}, {"blocks", r->blocks}, {"ops", r->ops}, {"bytes", r->bytes}}, say);
    }
    say << fmt::format("wrote {}: {}, {}, {} bytes\n", Written(ex->out),
                       Counted(r->blocks, "block"), Counted(r->ops, "op"), r->bytes);
  });

  auto import_paths = std::make_shared<std::vector<std::string>>();
  auto* imp = sync->add_subcommand(
      "import",
      "Verify bundles and apply their blocks (several: those a USB stick brings from shelters, "
      "each on its own; one that fails leaves the others applied)");
  imp->add_option("files", *import_paths, "Bundle files (-: standard input)")->required();
  imp->callback([&g, import_paths] {
    auto node = OpenNode(g);
    if (!node) return;
    const bool several = import_paths->size() > 1;
    nlohmann::json bundles = nlohmann::json::array();
    sync::ImportResult total;
    std::vector<std::string> failed;
    for (const std::string& path : *import_paths) {
      auto r = node::ImportFile(*node, path);
      if (!r.ok()) {
        // Said at once, as it comes (the next bundles are still imported).
        Fail(g, r.status());
        bundles.push_back({{"file", path}, {"error", r.status().message()}});
        failed.push_back(path);
        continue;
      }
      bundles.push_back({{"file", path},
                         {"exporter", r->exporter},
                         {"blocks", r->blocks},
                         {"ops", r->ops},
                         {"held", r->held}});
      total.exporter = r->exporter;
      total.blocks += r->blocks;
      total.ops += r->ops;
      total.held += r->held;
      if (g.json) continue;
      std::cout << fmt::format("imported from {}{}: {}, {}\n", r->exporter,
                               several ? " (" + path + ")" : "", Counted(r->blocks, "block"),
                               Counted(r->ops, "new op"));
      if (r->held > 0) {
        std::cout << fmt::format("warning: {} held: stamped beyond the maximum clock offset\n",
                                 Counted(r->held, "block"));
      }
    }
    if (several && !failed.empty()) {
      std::cerr << fmt::format("bosai: {} of {} not imported: {}\n", failed.size(),
                               Counted(import_paths->size(), "bundle"), fmt::join(failed, ", "));
    }
    if (g.json && (several || failed.empty())) {  // a single one that failed said why alone
      nlohmann::json j = {{"bundles", std::move(bundles)},
                          {"blocks", total.blocks},
                          {"ops", total.ops},
                          {"held", total.held}};
      if (!several && failed.empty()) j["exporter"] = total.exporter;
      PrintJson(j);
    }
  });

  auto skew_inc = std::make_shared<std::string>();
  auto* skew = sync->add_subcommand("accept-skew",
                                    "Accept an origin's clock skew and apply its held blocks");
  skew->add_option("incarnation", *skew_inc, "Origin incarnation, e.g. 042021-shelter-03#1")
      ->required();
  skew->callback([&g, skew_inc] {
    auto node = OpenNode(g);
    if (!node) return;
    auto r = node::AcceptSkew(*node, *skew_inc);
    if (!r.ok()) return Fail(g, r.status());
    if (g.json) return PrintJson({{"incarnation", *skew_inc}, {"applied_blocks", *r}});
    std::cout << fmt::format("accepted the clock of {}: applied {}\n", *skew_inc,
                             Counted(*r, "held block"));
  });
}

}  // namespace bosai::cli
