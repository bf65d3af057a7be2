// bosai conflicts: list, show and resolve concurrent writes kept for review (DESIGN §4).
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <iostream>

#include "cli/common.h"
#include "node/records.h"
#include "node/resident.h"
#include "storage/hlc.h"

namespace bosai::cli {
void RegisterConflicts(CLI::App& app, Globals& g) {
  auto* cmd =
      app.add_subcommand("conflicts", "Concurrent writes of different values, kept for review");
  cmd->require_subcommand(1);

  cmd->add_subcommand(
         "list",
         "List open conflicts, My Numbers held by more than one resident, and households without "
         "exactly one 世帯主")
      ->callback([&g] {
        auto node = OpenNode(g);
        if (!node) return;
        auto list = node->store().ListConflicts();
        if (!list.ok()) return Fail(g, list.status());
        auto shared = node::SharedMyNumbers(*node);
        if (!shared.ok()) return Fail(g, shared.status());
        auto heads = node::HouseholdHeadProblems(*node);
        if (!heads.ok()) return Fail(g, heads.status());
        if (g.json) {
          nlohmann::json arr = nlohmann::json::array(), numbers = nlohmann::json::array(),
                         households = nlohmann::json::array();
          for (const auto& c : *list) arr.push_back(ConflictJson(*node, c));
          for (const auto& s : *shared) {
            numbers.push_back({{"my_number", s.my_number}, {"residents", s.residents}});
          }
          for (const auto& h : *heads) households.push_back(node::HouseholdHeadJson(h));
          return PrintJson({{"conflicts", arr},
                            {"shared_my_numbers", numbers},
                            {"household_heads", households}});
        }
        for (const auto& c : *list) {
          auto j = ConflictJson(*node, c);
          std::cout << fmt::format("{}  {} {} {}: shown \"{}\", other \"{}\"\n", c.id,
                                   j["entity"].get<std::string>(), c.key,
                                   j["field"].get<std::string>(), j["shown"].get<std::string>(),
                                   j["other"].get<std::string>());
        }
        for (const auto& s : *shared) {
          std::cout << fmt::format("My Number {} held by {} residents: {}\n", s.my_number,
                                   s.residents.size(), fmt::join(s.residents, ", "));
        }
        if (!shared->empty()) {
          std::cerr << "(correct the My Number of all but one: bosai resident edit ID --set "
                       "my_number=...)\n";
        }
        for (const auto& h : *heads) std::cout << h.Describe() << "\n";
        if (!heads->empty()) {
          std::cerr << "(make one resident of each 世帯主, the others not: bosai resident edit ID "
                       "--set relationship=...; bosai resident search --household ID lists them)\n";
        }
        if (list->empty() && shared->empty() && heads->empty()) std::cerr << "no conflicts\n";
      });

  auto* show = cmd->add_subcommand("show", "Show one conflict");
  auto id = std::make_shared<std::string>();
  show->add_option("id", *id, "Conflict id")->required();
  show->callback([&g, id] {
    auto node = OpenNode(g);
    if (!node) return;
    auto c = node->store().GetConflict(*id);
    if (!c.ok()) return Fail(g, c.status());
    if (!*c) return Fail(g, "no open conflict " + *id);
    auto j = ConflictJson(*node, **c);
    if (g.json) return PrintJson(j);
    // Who wrote each value, and when (this machine's local time, as a clerk reads it).
    auto by = [&j](const char* version, const FieldVersion& v) {
      return fmt::format("by {}, {:%Y-%m-%d %H:%M:%S}", j[version]["by"].get<std::string>(),
                         fmt::localtime(std::time_t(HlcMillis(v.hlc) / 1000)));
    };
    std::cout << fmt::format(
        "conflict {}\n  record: {} {}\n  field:  {}\n  shown:  \"{}\" ({})\n  other:  \"{}\" "
        "({})\n",
        *id, j["entity"].get<std::string>(), (*c)->key, j["field"].get<std::string>(),
        j["shown"].get<std::string>(), by("shown_version", (*c)->shown),
        j["other"].get<std::string>(), by("other_version", (*c)->other));
  });

  auto* resolve =
      cmd->add_subcommand("resolve", "Settle a conflict with an ordinary write naming both values");
  auto rid = std::make_shared<std::string>();
  auto keep = std::make_shared<std::string>();
  auto value = std::make_shared<std::string>();
  resolve->add_option("id", *rid, "Conflict id")->required();
  auto* keep_opt = resolve->add_option("--keep", *keep, "shown or other")
                       ->check(CLI::IsMember({"shown", "other"}));
  auto* value_opt = resolve->add_option("--value", *value, "A new value for the field");
  keep_opt->excludes(value_opt);
  resolve->callback([&g, rid, keep, value, keep_opt, value_opt] {
    if (!keep_opt->count() && !value_opt->count()) BadUsage("give --keep shown|other or --value V");
    auto node = OpenNode(g);
    if (!node) return;
    auto c = node->store().GetConflict(*rid);
    if (!c.ok()) return Fail(g, c.status());
    if (!*c) return Fail(g, "no open conflict " + *rid);
    const Conflict& conflict = **c;
    std::string chosen;
    if (value_opt->count()) {
      auto parsed = node::ParseField(conflict.entity, conflict.field, *value, node->data_key(),
                                     node->municipality());
      if (!parsed.ok()) return Fail(g, parsed.status());
      chosen = *parsed;
    } else {
      chosen = *keep == "shown" ? conflict.shown.value : conflict.other.value;
    }
    std::vector<std::string> headless;
    Status st = node::ResolveConflict(*node, conflict, chosen, &headless);
    if (!st.ok()) return Fail(g, st);
    if (g.json) return PrintJson({{"resolved", *rid}, {"households_without_head", headless}});
    std::cout << "resolved " << *rid << "\n";
    SayHeadless(headless);
  });
}

}  // namespace bosai::cli
