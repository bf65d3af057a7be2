// bosai resident: import, show, search, count and edit residents of the register.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <iostream>

#include "cli/common.h"
#include "node/dates.h"
#include "node/records.h"
#include "node/resident.h"
#include "node/text.h"
#include "storage/files.h"

namespace bosai::cli {
namespace {

void PrintResidentPlain(const nlohmann::json& j) {
  for (const char* k :
       {"id", "name", "name_kana", "birth_date", "sex", "household", "relationship", "postal_code",
        "address", "phone", "my_number", "resident_since", "status"}) {
    const auto& v = j[k];
    std::cout << fmt::format("{:<15} {}\n", std::string(k) + ":",
                             v.is_null() ? "" : v.get<std::string>());
  }
  if (j["private_use_name"].get<bool>()) {
    std::cout << "note: the name holds private-use characters (外字)\n";
  }
  for (const auto& c : j["conflicts"]) {
    std::cout << fmt::format("conflict:       {} also \"{}\" (bosai conflicts show {})\n",
                             c["field"].get<std::string>(), c["other"].get<std::string>(),
                             c["id"].get<std::string>());
  }
  for (const auto& other : j["my_number_shared_with"]) {
    std::cout << fmt::format("conflict:       my_number also held by {}\n",
                             other.get<std::string>());
  }
}

void Import(Globals& g, const std::string& file, const std::string& encoding,
            const std::string& rejects, bool check, bool dry_run) {
  auto node = OpenNode(g);
  if (!node) return;
  auto enc = node::ParseEncoding(encoding);
  if (!enc.ok()) return Fail(g, enc.status());
  node::ImportOptions opts;
  opts.path = file;
  const std::string named = InputName(file);  // in what it says
  opts.encoding = *enc;
  if (!rejects.empty()) opts.rejects_path = rejects;
  opts.check_only = check;
  opts.dry_run = dry_run;
  Progress progress(check ? "checking" : "importing");
  opts.progress = [&](int pass, uint64_t done, uint64_t total) {
    double f = total ? double(done) / double(total) : 1.0;
    if (check) return progress.Update(f);
    progress.Update(pass == 1 ? f * 0.3 : 0.3 + f * 0.7, pass == 1 ? "checking" : "writing");
  };
  Interruptible interrupt;
  opts.cancel = interrupt.flag();
  auto report = node::ImportResidents(*node, opts);
  progress.Clear();
  if (!report.ok()) {
    Fail(g, report.status());
    if (report.status().code() == Status::Code::kCancelled) g.exit_code = interrupt.exit_code();
    return;
  }
  const node::ImportReport& r = *report;
  for (const auto& w : r.warnings) std::cerr << "warning: " << w << "\n";
  bool refused = r.problem_count > 0 && rejects.empty();
  if (g.json && check) {
    PrintJson({{"file", named},
               {"encoding", node::EncodingName(r.encoding)},
               {"rows", r.rows},
               {"checked", true},
               {"warnings", r.warnings},
               {"problems", r.problems},
               {"problem_count", r.problem_count}});
  } else if (g.json) {
    PrintJson({{"file", named},
               {"encoding", node::EncodingName(r.encoding)},
               {"rows", r.rows},
               {"imported", refused ? 0 : r.imported},
               {"changed", refused ? 0 : r.changed},
               {"rejected", r.rejected},
               {"ops", r.ops},
               {"conflicts", refused ? 0 : r.conflicts},
               {"conflicts_listed", refused ? std::vector<std::string>() : r.conflicts_listed},
               {"dry_run", dry_run},
               {"warnings", r.warnings},
               {"problems", r.problems},
               {"problem_count", r.problem_count}});
  }
  if (refused) {
    for (const auto& p : r.problems) std::cerr << p << "\n";
    if (r.problem_count > r.problems.size()) {
      std::cerr << fmt::format("... and {}\n",
                               Counted(r.problem_count - r.problems.size(), "more problem"));
    }
    g.exit_code = kExitFailure;
    const std::string found = fmt::format("{} in {} of {}", Counted(r.problem_count, "problem"),
                                          Counted(r.rejected, "row"), named);
    if (check) {
      std::cerr << fmt::format("bosai: {} (checked only)\n", found);
      return;
    }
    std::cerr << fmt::format(
        "bosai: {}; nothing imported (fix the file, or use --skip-invalid REJECTS.csv)\n", found);
    return;
  }
  if (check) {
    std::cerr << fmt::format("checked {} of {}: no problems; nothing was imported\n",
                             Counted(r.rows, "row"), named);
    return;
  }
  auto list_conflicts = [&r] {
    for (const auto& c : r.conflicts_listed) std::cerr << "  " << c << "\n";
    if (r.conflicts > r.conflicts_listed.size()) {
      std::cerr << fmt::format("  ... and {} more\n", r.conflicts - r.conflicts_listed.size());
    }
  };
  if (dry_run) {
    std::cerr << fmt::format(
        "dry run: would import {} ({} new or changed, {}){}; nothing was imported\n",
        Counted(r.imported, "row"), r.changed, Counted(r.ops, "op"),
        r.conflicts == 0
            ? ""
            : fmt::format(", {} changed both by this register and on a node kept as conflicts",
                          Counted(r.conflicts, "field")));
    list_conflicts();
    return;
  }
  std::cerr << fmt::format("imported {}, rejected {} ({} new or changed, {})\n", r.imported,
                           r.rejected, r.changed, Counted(r.ops, "op"));
  if (r.conflicts > 0) {
    std::cerr << fmt::format(
        "{} changed both by this register and on a node since its last import: the register's "
        "value is shown, the node's kept as a conflict (bosai conflicts list)\n",
        Counted(r.conflicts, "field"));
    list_conflicts();
  }
}

}  // namespace

void RegisterResident(CLI::App& app, Globals& g) {
  auto* res = app.add_subcommand("resident", "The resident register (住民基本台帳)");
  res->require_subcommand(1);

  auto* imp = res->add_subcommand(
      "import", "Import a register CSV (checked first: with an invalid row, nothing is imported)");
  auto file = std::make_shared<std::string>();
  auto encoding = std::make_shared<std::string>("auto");
  auto rejects = std::make_shared<std::string>();
  imp->add_option("file", *file,
                  "CSV (or tab-separated) file in the canonical layout (-: standard input)")
      ->required();
  imp->footer(node::RegisterColumnsHelp());
  imp->add_option("--encoding", *encoding,
                  "auto (a byte order mark, else the file's first Japanese text), utf-8, cp932 or "
                  "utf-16")
      ->capture_default_str();
  auto* skip =
      imp->add_option("--skip-invalid", *rejects,
                      "Import the valid rows; write the others with their reasons to this CSV "
                      "(readable by its owner alone: it may hold My Numbers)");
  auto check = std::make_shared<bool>(false);
  auto* check_flag = imp->add_flag("--check", *check,
                                   "Check the file as an import would (every row, and My Numbers "
                                   "against the store), and import nothing")
                         ->excludes(skip);
  auto dry_run = std::make_shared<bool>(false);
  imp->add_flag("--dry-run", *dry_run,
                "Import in a transaction rolled back at the end: say how many residents would "
                "change and how many fields would become conflicts, and keep nothing")
      ->excludes(skip)
      ->excludes(check_flag);
  imp->callback([&g, file, encoding, rejects, check, dry_run] {
    Import(g, *file, *encoding, *rejects, *check, *dry_run);
  });

  auto* show = res->add_subcommand("show", "Show one resident");
  auto id = std::make_shared<std::string>();
  auto reveal = std::make_shared<bool>(false);
  show->add_option("id", *id, "Resident id: <municipality>:<resident code>, or the code alone")
      ->required();
  show->add_flag("--reveal-my-number", *reveal, "Show My Number in full");
  show->callback([&g, id, reveal] {
    auto node = OpenNode(g);
    if (!node) return;
    auto key = node::ResidentKey(*node, *id);
    if (!key.ok()) return Fail(g, key.status());
    auto r = node::GetResident(*node, *key);
    if (!r.ok()) return Fail(g, r.status());
    if (!*r) {
      auto household = node::HasHousehold(*node, *key);
      if (household.ok() && *household) {
        return Fail(g, fmt::format("no resident {0}: {0} is a household; its members: bosai "
                                   "resident search --household {0}",
                                   *key));
      }
      return Fail(g, "no resident " + *key);
    }
    nlohmann::json j = node::ResidentJson(*node, **r, *reveal);
    auto conflicts = node->store().ListConflicts(v1::ENTITY_RESIDENT, *key);
    if (!conflicts.ok()) return Fail(g, conflicts.status());
    j["conflicts"] = nlohmann::json::array();
    for (const auto& c : *conflicts) j["conflicts"].push_back(ConflictJson(*node, c));
    auto shared = node::SharedMyNumbers(*node, false, (*r)->resident.my_number());
    if (!shared.ok()) return Fail(g, shared.status());
    j["my_number_shared_with"] = nlohmann::json::array();
    for (const auto& s : *shared) {
      for (const auto& other : s.residents) {
        if (other != *key) j["my_number_shared_with"].push_back(other);
      }
    }
    if (g.json) return PrintJson(j);
    PrintResidentPlain(j);
  });

  auto* search = res->add_subcommand(
      "search", "Find residents by reading, name, birth date, My Number or household");
  auto q = std::make_shared<node::ResidentQuery>();
  // Each criterion is set when given, even empty: the search then refuses it as empty.
  search->add_option("--kana", q->kana, "Reading prefix (hiragana or katakana, spaces ignored)");
  search->add_option("--name", q->name,
                     "Part of the name (variant kanji folded: 髙/高, 邉/辺, ...)");
  search->add_option("--birth", q->birth, "Birth date, ISO or 和暦 (S50.4.1)");
  search->add_option("--my-number", q->my_number, "My Number, exact");
  search->add_option(
      "--household", q->household,
      "Members of a household (its id or code), 世帯主 first, then by age, then those "
      "who moved out or died");
  search->add_option("--limit", q->limit, "At most this many results")
      ->capture_default_str()
      ->check(WholeNumber(1, node::kMaxSearchLimit));
  search->callback([&g, q] {
    if (!q->kana && !q->name && !q->birth && !q->my_number && !q->household) {
      BadUsage("give at least one of --kana, --name, --birth, --my-number, --household");
    }
    auto node = OpenNode(g);
    if (!node) return;
    auto found = node::SearchResidents(*node, *q);
    if (!found.ok()) return Fail(g, found.status());
    // A household's listing says whether it lacks its one 世帯主, as conflicts list would.
    std::optional<node::HouseholdHeadProblem> problem;
    if (q->household) {
      auto judged = node::HouseholdHeadProblemOf(*node, *q->household);
      if (!judged.ok()) return Fail(g, judged.status());
      problem = *judged;
    }
    if (g.json) {
      nlohmann::json list = nlohmann::json::array();
      for (const auto& r : *found) list.push_back(node::ResidentJson(*node, r, false));
      nlohmann::json out = {{"residents", list}};
      if (q->household) {
        out["household_heads"] = nlohmann::json::array();
        if (problem) {
          out["household_heads"].push_back(node::HouseholdHeadJson(*problem));
        }
      }
      return PrintJson(out);
    }
    if (problem) std::cerr << problem->Describe() << "\n";
    for (const auto& r : *found) {
      const auto& x = r.resident;
      // One who moved out or died: 世帯主（死亡）, so that a household's listing says who lives
      // there.
      const std::string status = x.status() == v1::RESIDENT_STATUS_RESIDENT
                                     ? ""
                                     : "（" + node::ResidentStatusText(x.status()) + "）";
      std::cout << fmt::format("{}  {}  {}  {}  {}{}  {}\n", r.key, x.name(), x.name_kana(),
                               node::FormatDate(x.birth_date()), x.relationship(), status,
                               x.address());
    }
    if (!found->empty()) return;
    std::cerr << "no residents found";
    // A resident's id given for a household's, as `resident show` names the other way round.
    if (q->household) {
      auto key = node::ResidentKey(*node, *q->household);  // a household's reads the same
      auto household = key.ok() ? node::HasHousehold(*node, *key) : Result<bool>(true);
      auto resident = household.ok() && !*household
                          ? node::GetResident(*node, *key)
                          : Result<std::optional<node::ResidentRecord>>(std::nullopt);
      if (resident.ok() && *resident) {
        std::cerr << fmt::format(
            ": {} is a resident, not a household; its household: bosai resident search "
            "--household {}",
            *key, (*resident)->resident.household());
      } else if (household.ok() && !*household) {
        std::cerr << fmt::format(": this node holds no household {}", *key);
      }
    }
    std::cerr << "\n";
  });

  auto* exp = res->add_subcommand(
      "export", "Write the residents held to a register CSV in the canonical layout");
  auto out = std::make_shared<std::string>();
  auto out_encoding = std::make_shared<std::string>("utf-8");
  auto reveal_all = std::make_shared<bool>(false);
  auto bom = std::make_shared<bool>(false);
  exp->add_option("--out", *out, "The CSV file to write (-: standard output)")->required();
  exp->add_option("--encoding", *out_encoding, "utf-8 (LF), or cp932 (CRLF) for Excel on Windows")
      ->capture_default_str();
  exp->add_flag("--bom", *bom,
                "Begin a UTF-8 file with a byte order mark, which Excel needs to read it as UTF-8");
  exp->add_flag("--reveal-my-number", *reveal_all,
                "Write My Number in full (else the file has no my_number column, and reading "
                "it back leaves My Numbers as they are); the file is then readable by its owner "
                "alone");
  exp->callback([&g, out, out_encoding, reveal_all, bom] {
    auto enc = node::ParseEncoding(*out_encoding);
    if (!enc.ok() || *enc == node::Encoding::kAuto || *enc == node::Encoding::kUtf16) {
      BadUsage(fmt::format("--encoding {}: write utf-8 or cp932", *out_encoding));
    }
    if (*bom && *enc != node::Encoding::kUtf8) {
      BadUsage("--bom is for UTF-8 (CP932 has no byte order mark)");
    }
    auto node = OpenNode(g);
    if (!node) return;
    Progress progress("exporting");
    node::ExportOptions o;
    o.path = *out;
    o.encoding = *enc;
    o.reveal_my_number = *reveal_all;
    o.bom = *bom;
    o.progress = [&](uint64_t done, uint64_t total) {
      progress.Update(total ? double(done) / double(total) : 1.0);
    };
    auto r = node::ExportResidents(*node, o);
    progress.Clear();
    if (!r.ok()) return Fail(g, r.status());
    auto code_point = [](char32_t ch) { return fmt::format("U+{:04X}", uint32_t(ch)); };
    auto character = [](char32_t ch) {
      std::string s;
      node::AppendUtf8(s, int32_t(ch));
      return s;
    };
    if (g.json) {
      nlohmann::json forms = nlohmann::json::array();
      for (const node::Substitution& f : r->substitutions) {
        forms.push_back(
            {{"from", code_point(f.from)}, {"to", code_point(f.to)}, {"count", f.count}});
      }
      return PrintJson({{"file", *out},
                        {"encoding", node::EncodingName(*enc)},
                        {"residents", r->residents},
                        {"my_numbers_left_out", r->my_numbers_left_out},
                        {"cp932_forms", forms}},
                       SayWritten(*out));
    }
    std::cerr << fmt::format("exported {} to {}", Counted(r->residents, "resident"), Written(*out));
    if (r->my_numbers_left_out > 0) {
      std::cerr << fmt::format(" ({} left out; --reveal-my-number writes them)",
                               Counted(r->my_numbers_left_out, "My Number"));
    }
    std::cerr << "\n";
    if (!r->substitutions.empty()) {
      uint64_t total = 0;
      for (const node::Substitution& f : r->substitutions) total += f.count;
      std::cerr << fmt::format(
          "{} written in the form CP932 holds, as the file reads back and as Windows shows it:\n",
          Counted(total, "character"));
      for (const node::Substitution& f : r->substitutions) {
        std::cerr << fmt::format("  {} ({}) as {} ({}): {}\n", character(f.from),
                                 code_point(f.from), character(f.to), code_point(f.to), f.count);
      }
    }
  });

  auto* count = res->add_subcommand("count", "Number of residents held");
  count->callback([&g] {
    auto node = OpenNode(g);
    if (!node) return;
    auto n = node::CountResidents(*node);
    if (!n.ok()) return Fail(g, n.status());
    if (g.json) return PrintJson({{"count", *n}});
    std::cout << *n << "\n";
  });

  auto* edit = res->add_subcommand("edit", "Correct fields of a resident on this node");
  auto eid = std::make_shared<std::string>();
  auto sets = std::make_shared<std::vector<std::string>>();
  edit->add_option("id", *eid, "Resident id")->required();
  edit->add_option("--set", *sets,
                   fmt::format("FIELD=VALUE (repeatable), e.g. address=石巻市中央1丁目1番1号. "
                               "Fields: {} (sex 男/女, status 住民/転出/死亡); checked as an "
                               "import checks them",
                               fmt::join(node::EditableResidentFields(), ", ")))
      ->required();
  edit->callback([&g, eid, sets] {
    std::vector<std::pair<std::string, std::string>> assignments;
    for (const auto& s : *sets) {
      auto eq = s.find('=');
      if (eq == std::string::npos || eq == 0) {
        BadUsage("--set takes FIELD=VALUE, got \"" + s + "\"");
      }
      assignments.emplace_back(s.substr(0, eq), s.substr(eq + 1));
    }
    auto node = OpenNode(g);
    if (!node) return;
    auto key = node::ResidentKey(*node, *eid);
    if (!key.ok()) return Fail(g, key.status());
    std::vector<std::string> headless, unchanged;
    Status st = node::UpdateResident(*node, *key, assignments, &headless, &unchanged);
    if (!st.ok()) return Fail(g, st);
    std::vector<std::string> updated;
    for (const auto& a : assignments) {
      if (std::find(unchanged.begin(), unchanged.end(), a.first) == unchanged.end()) {
        updated.push_back(a.first);
      }
    }
    if (g.json) {
      return PrintJson({{"id", *key},
                        {"updated", updated},
                        {"unchanged", unchanged},
                        {"households_without_head", headless}});
    }
    if (updated.empty()) {
      std::cout << fmt::format("{} holds these values already: nothing written\n", *key);
    } else if (unchanged.empty()) {
      std::cout << "updated " << *key << "\n";
    } else {
      std::cout << fmt::format("updated {} ({} held {} value already)\n", *key,
                               fmt::join(unchanged, ", "), unchanged.size() == 1 ? "its" : "their");
    }
    SayHeadless(headless);
  });
}

}  // namespace bosai::cli
