// bosai conflicts: list, show and resolve concurrent writes kept for review (DESIGN §4).
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "cli/common.h"
#include "node/records.h"
#include "node/resident.h"
#include "storage/hlc.h"

namespace bosai::cli {
namespace {

void AddFilterOptions(CLI::App* cmd, node::ConflictFilter& filter, const std::string& what) {
  cmd->add_option("--record", filter.record, what + " of this resident or household (its id)");
  cmd->add_option("--field", filter.field, what + " of this field (address, phone, ...)");
}

// For an id that names no open conflict.
std::string NotOpen(const std::string& id) {
  return fmt::format(
      "no open conflict {}: settled already, or mistyped (bosai conflicts list lists those open)",
      id);
}

// Who wrote a version, and when (this machine's local time, as a clerk reads it).
std::string WrittenBy(const FieldVersion& v) {
  return fmt::format("by {}:{}, {:%Y-%m-%d %H:%M:%S}", v.dot.incarnation, v.dot.seq,
                     fmt::localtime(std::time_t(HlcMillis(v.hlc) / 1000)));
}

// For an id that names no open conflict, to settle: who settled it, when the op-log says.
std::string NotOpenToSettle(node::Node& node, const std::string& id) {
  auto settled = node.store().FindSettlement(id);
  if (!settled.ok() || !*settled) return NotOpen(id);
  const Store::Settlement& s = **settled;
  return fmt::format(
      "conflict {} is settled already: {} {} {} \"{}\" ({}; {}) (bosai conflicts show {})", id,
      node::EntityName(s.entity), s.key, node::FieldName(s.entity, s.field),
      node::RenderField(s.entity, s.field, s.settled.value, node.data_key(), false),
      WrittenBy(s.settled), s.author, id);
}

// For an error partway through several resolutions: what was settled before it.
std::string Settled(const std::vector<std::string>& resolved) {
  if (resolved.empty()) return "nothing was resolved";
  return fmt::format("{} resolved before it: {}", Counted(resolved.size(), "conflict"),
                     fmt::join(resolved, ", "));
}

}  // namespace

void RegisterConflicts(CLI::App& app, Globals& g) {
  auto* cmd =
      app.add_subcommand("conflicts", "Concurrent writes of different values, kept for review");
  cmd->require_subcommand(1);

  auto list_filter = std::make_shared<node::ConflictFilter>();
  auto* list_cmd = cmd->add_subcommand(
      "list",
      "List open conflicts, My Numbers held by more than one resident, and households without "
      "exactly one 世帯主");
  AddFilterOptions(list_cmd, *list_filter, "List only the conflicts");
  list_cmd->callback([&g, list_filter] {
    auto node = OpenNode(g);
    if (!node) return;
    auto list = node::FindConflicts(*node, *list_filter);
    if (!list.ok()) return Fail(g, list.status());
    // The register's other problems are listed with every conflict, not with those chosen.
    const bool filtered = !list_filter->record.empty() || !list_filter->field.empty();
    std::vector<node::SharedMyNumber> shared;
    std::vector<node::HouseholdHeadProblem> heads;
    if (!filtered) {
      auto s = node::SharedMyNumbers(*node);
      if (!s.ok()) return Fail(g, s.status());
      shared = std::move(*s);
      auto h = node::HouseholdHeadProblems(*node);
      if (!h.ok()) return Fail(g, h.status());
      heads = std::move(*h);
    }
    if (g.json) {
      nlohmann::json arr = nlohmann::json::array(), numbers = nlohmann::json::array(),
                     households = nlohmann::json::array();
      for (const auto& c : *list) arr.push_back(ConflictJson(*node, c));
      if (filtered) return PrintJson({{"conflicts", arr}});
      for (const auto& s : shared) {
        numbers.push_back({{"my_number", s.my_number}, {"residents", s.residents}});
      }
      for (const auto& h : heads) households.push_back(node::HouseholdHeadJson(h));
      return PrintJson(
          {{"conflicts", arr}, {"shared_my_numbers", numbers}, {"household_heads", households}});
    }
    for (const auto& c : *list) {
      auto j = ConflictJson(*node, c);
      std::cout << fmt::format("{}  {} {} {}: shown \"{}\", other \"{}\"\n", c.id,
                               j["entity"].get<std::string>(), c.key, j["field"].get<std::string>(),
                               j["shown"].get<std::string>(), j["other"].get<std::string>());
    }
    for (const auto& s : shared) {
      std::cout << fmt::format("My Number {} held by {} residents: {}\n", s.my_number,
                               s.residents.size(), fmt::join(s.residents, ", "));
    }
    if (!shared.empty()) {
      std::cerr << "(correct the My Number of all but one: bosai resident edit ID --set "
                   "my_number=...)\n";
    }
    for (const auto& h : heads) std::cout << h.Describe() << "\n";
    if (!heads.empty()) {
      std::cerr << "(make one resident of each 世帯主, the others not: bosai resident edit ID "
                   "--set relationship=...; bosai resident search --household ID lists them)\n";
    }
    if (list->empty() && shared.empty() && heads.empty()) {
      std::cerr << (filtered ? "no conflicts of that record or field\n" : "no conflicts\n");
    }
    if (list->size() > 1 && !filtered) {
      std::cerr << "(settle several at once: bosai conflicts resolve --all [--record ID] [--field "
                   "NAME] --keep shown|other)\n";
    }
  });

  auto* show = cmd->add_subcommand("show", "Show one conflict, open or settled");
  auto id = std::make_shared<std::string>();
  show->add_option("id", *id, "Conflict id")->required();
  show->callback([&g, id] {
    auto node = OpenNode(g);
    if (!node) return;
    auto c = node->store().GetConflict(*id);
    if (!c.ok()) return Fail(g, c.status());
    if (!*c) {  // settled, perhaps: by whom, when, to what
      auto settled = node->store().FindSettlement(*id);
      if (!settled.ok()) return Fail(g, settled.status());
      if (!*settled) return Fail(g, NotOpen(*id));
      const Store::Settlement& s = **settled;
      auto j = SettlementJson(*node, *id, s);
      if (g.json) return PrintJson(j);
      const std::string set_aside =
          s.other_held
              ? fmt::format("\"{}\" ({})", j["other"].get<std::string>(), WrittenBy(s.other))
              : fmt::format("(by {}:{}, not held here yet)", s.other.dot.incarnation,
                            s.other.dot.seq);
      std::cout << fmt::format(
          "conflict {} is settled\n  record:  {} {}\n  field:   {}\n  set aside: {}\n"
          "  settled:   \"{}\" ({}; {})\n",
          *id, j["entity"].get<std::string>(), s.key, j["field"].get<std::string>(), set_aside,
          j["settled"].get<std::string>(), WrittenBy(s.settled), s.author);
      return;
    }
    auto j = ConflictJson(*node, **c);
    if (g.json) return PrintJson(j);
    std::cout << fmt::format(
        "conflict {}\n  record: {} {}\n  field:  {}\n  shown:  \"{}\" ({})\n  other:  \"{}\" "
        "({})\n",
        *id, j["entity"].get<std::string>(), (*c)->key, j["field"].get<std::string>(),
        j["shown"].get<std::string>(), WrittenBy((*c)->shown), j["other"].get<std::string>(),
        WrittenBy((*c)->other));
  });

  auto* resolve = cmd->add_subcommand(
      "resolve",
      "Settle conflicts with ordinary writes naming both values: one, several by id, or --all "
      "(of a record, of a field) keeping the value shown or the other");
  struct ResolveArgs {
    std::vector<std::string> ids;
    bool all = false;
    node::ConflictFilter filter;
    std::string keep, value;
  };
  auto ra = std::make_shared<ResolveArgs>();
  auto* ids_opt = resolve->add_option("ids", ra->ids, "Conflict ids");
  auto* all_opt =
      resolve->add_flag("--all", ra->all, "Every open conflict (with --record, --field: those)");
  ids_opt->excludes(all_opt);
  AddFilterOptions(resolve, ra->filter, "With --all: only the conflicts");
  auto* keep_opt = resolve->add_option("--keep", ra->keep, "shown or other")
                       ->check(CLI::IsMember({"shown", "other"}));
  auto* value_opt =
      resolve->add_option("--value", ra->value, "A new value for the field (one conflict)");
  keep_opt->excludes(value_opt);
  value_opt->excludes(all_opt);
  resolve->callback([&g, ra, keep_opt, value_opt] {
    if (!keep_opt->count() && !value_opt->count()) BadUsage("give --keep shown|other or --value V");
    if (!ra->all && (!ra->filter.record.empty() || !ra->filter.field.empty())) {
      BadUsage("--record and --field choose conflicts with --all");
    }
    if (ra->ids.empty() && !ra->all) {
      BadUsage("give a conflict id (bosai conflicts list), or --all");
    }
    if (value_opt->count() && ra->ids.size() > 1) {
      BadUsage("--value settles one conflict; give several the value shown or the other (--keep)");
    }
    auto node = OpenNode(g);
    if (!node) return;
    std::vector<std::string> ids = ra->ids;
    if (ra->all) {
      auto list = node::FindConflicts(*node, ra->filter);
      if (!list.ok()) return Fail(g, list.status());
      for (const Conflict& c : *list) ids.push_back(c.id);
    }
    node::ConflictsResolved done;
    if (ra->all || ids.size() > 1) {  // several, each kept as shown or the other
      Status st = node::ResolveConflicts(*node, ids, ra->keep == "shown", &done);
      if (!g.json) {
        for (const auto& id : done.resolved) std::cout << "resolved " << id << "\n";
      }
      if (!st.ok()) return Fail(g, st.WithNote(Settled(done.resolved)));
      if (g.json) {
        return PrintJson({{"resolved", done.resolved},
                          {"not_open", done.not_open},
                          {"households_without_head", done.headless}});
      }
      if (ids.empty()) {
        std::cerr << "no open conflicts"
                  << (ra->filter.record.empty() && ra->filter.field.empty()
                          ? ""
                          : " of that record or field")
                  << ": nothing resolved\n";
        return;
      }
      std::cout << fmt::format("resolved {}{}\n", Counted(done.resolved.size(), "conflict"),
                               done.not_open.empty()
                                   ? ""
                                   : fmt::format(" ({} no longer open: {})", done.not_open.size(),
                                                 fmt::join(done.not_open, ", ")));
      SayHeadless(done.headless);
      return;
    }
    auto c = node->store().GetConflict(ids.front());
    if (!c.ok()) return Fail(g, c.status());
    if (!*c) return Fail(g, NotOpenToSettle(*node, ids.front()));
    const Conflict& conflict = **c;
    std::string chosen;
    if (value_opt->count()) {
      auto parsed = node::ParseField(conflict.entity, conflict.field, ra->value, node->data_key(),
                                     node->municipality());
      if (!parsed.ok()) return Fail(g, parsed.status());
      chosen = *parsed;
    } else {
      chosen = ra->keep == "shown" ? conflict.shown.value : conflict.other.value;
    }
    std::vector<std::string> headless;
    Status st = node::ResolveConflict(*node, conflict, chosen, &headless);
    if (!st.ok()) return Fail(g, st);
    if (g.json)
      return PrintJson({{"resolved", conflict.id}, {"households_without_head", headless}});
    std::cout << "resolved " << conflict.id << "\n";
    SayHeadless(headless);
  });
}

}  // namespace bosai::cli
