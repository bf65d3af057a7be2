// The resident register (住民基本台帳) on a node: import of register CSV files with validation
// and three-way update, lookup, search and count (DESIGN §3, §8). Records: Resident and Household,
// keyed "<municipality code>:<code>". Not thread-safe: works on one Node.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "bosai/v1/records.pb.h"
#include "node/csv.h"
#include "node/node.h"

namespace bosai::node {

// The index values of residents: folded kana (prefix search), folded name, birth date,
// household, keyed hash of My Number.
Indexer ResidentIndexer();
// The number of ResidentIndexer's rules, SearchFold's among them: one more whenever they change,
// so that stores made before are indexed again when next opened to write (Store::RefreshIndex).
// 2: variation selectors dropped, more variant kanji folded (𠮷→吉, 嶋→島, ...).
// 3: readings held in KanaIndexForm.
// 4: half-width sound marks joined as WideKatakana joins them (ﾜﾞ→ヷ; ｯﾞ stays ッ).
constexpr uint32_t kResidentIndexerVersion = 4;
constexpr uint32_t kCompactKanaIndexerVersion = 3;

// "042021:123", or "123" for this node's municipality.
Result<std::string> ResidentKey(const Node& node, std::string_view id);

// The columns a register file may have, each with its Japanese names, and the columns that
// hold a part of one: text for `resident import --help`.
std::string RegisterColumnsHelp();

struct ImportOptions {
  std::string path;
  Encoding encoding = Encoding::kAuto;
  std::optional<std::string>
      rejects_path;  // --skip-invalid: import valid rows, write the rest here
  // Called now and then with (bytes done, bytes total) of the current pass (1 or 2). When the
  // passes overlap (any import without --skip-invalid), only pass 2 reports.
  using Progress = std::function<void(int pass, uint64_t done, uint64_t total)>;
  Progress progress;
  // When set (by a signal handler), the import stops at the next row: Cancelled, with what the
  // store kept said as for any failure.
  const std::atomic<bool>* cancel = nullptr;
  // Checks the file as an import does first (every row, and My Numbers against the store), and
  // writes nothing: the report's problems, or none.
  bool check_only = false;
  // Imports the file in one transaction that is rolled back at the end: the report says what
  // the import would do (rows new or changed, ops, conflicts), and nothing is kept. Holds the
  // store's write lock while it runs. Not with rejects_path or check_only.
  bool dry_run = false;
};

struct ImportReport {
  Encoding encoding = Encoding::kUtf8;
  uint64_t rows = 0;      // data rows in the file
  uint64_t imported = 0;  // valid rows (new, changed or unchanged)
  uint64_t changed = 0;   // rows that produced ops (new or changed)
  uint64_t rejected = 0;  // rows skipped with --skip-invalid
  uint64_t ops = 0;
  // Fields that both the register and a node changed since the register's last import: the
  // register's value is shown, the node's kept as a conflict (bosai conflicts list).
  uint64_t conflicts = 0;
  // The first 100 of them: KEY FIELD: the register's "R", the node's "N" (My Number masked).
  std::vector<std::string> conflicts_listed;
  std::vector<std::string> warnings;
  std::vector<std::string> problems;  // FILE:LINE:COLUMN: field: reason (first 100)
  uint64_t problem_count = 0;
};

// Validates the whole file, then (if it is clean, or with rejects_path) writes it. A file with
// problems and no rejects_path changes nothing and returns the report with problems filled in.
Result<ImportReport> ImportResidents(Node& node, const ImportOptions& options);

struct ExportOptions {
  std::string path;
  Encoding encoding = Encoding::kUtf8;  // or kCp932 (with CRLF), for Excel on Windows
  bool bom = false;                     // UTF-8 after a byte order mark, as Excel reads it
  // My Number in full; else the file has no my_number column (not even masked numbers: read
  // back, it leaves every My Number as it is, where an empty column would clear them).
  bool reveal_my_number = false;
  std::function<void(uint64_t done, uint64_t total)> progress;  // residents written, of all
};

struct ExportReport {
  uint64_t residents = 0;
  uint64_t my_numbers_left_out = 0;  // residents with a My Number, written without it
  // Characters a CP932 file holds in CP932's form (Cp932Form): it reads back with that form.
  std::vector<Substitution> substitutions;
};

// Writes the residents held to a register CSV in the canonical layout (DESIGN §8), from one
// snapshot, in the order the node first held them (a register's own order: the store's records
// are read in sequence, not looked up by key), with a last column, each resident's status
// (住民/転出/死亡): a file that `resident import` reads back into the same residents. The file
// appears whole or not at all (a pipe or a terminal has the residents before an error); an
// error says which.
Result<ExportReport> ExportResidents(Node& node, const ExportOptions& options);

struct ResidentRecord {
  std::string key;
  v1::Resident resident;
};

Result<std::optional<ResidentRecord>> GetResident(Node& node, std::string_view key);
// Whether the store holds the household `key` ("042021:<household code>").
Result<bool> HasHousehold(Node& node, std::string_view key);

struct ResidentQuery {
  std::optional<std::string> kana;       // prefix of the folded reading
  std::optional<std::string> name;       // part of the folded name
  std::optional<std::string> birth;      // a date, ISO or 和暦
  std::optional<std::string> my_number;  // exact
  // The members of a household, 世帯主 first, then the eldest, then those who moved out or died:
  // its id ("042021:<code>") or its household code.
  std::optional<std::string> household;
  uint32_t limit = 50;  // 1 to kMaxSearchLimit
};
inline constexpr uint32_t kMaxSearchLimit = 10000;
Result<std::vector<ResidentRecord>> SearchResidents(Node& node, const ResidentQuery& query);
Result<uint64_t> CountResidents(Node& node);

// Residents who hold the same My Number: a semantic conflict (DESIGN §4) that no node can
// prevent (two nodes cut off from each other each gave it to another resident; each import and
// edit refuses one already held there), found in the state the nodes share, so that every node
// holding the same state finds the same. Settled by correcting (or clearing) the My Number of
// all but one: `resident edit ID --set my_number=...`. Only a node that reads My Number finds
// them.
struct SharedMyNumber {
  std::string my_number;               // masked (********3214) unless reveal
  std::vector<std::string> residents;  // their ids, in order
};
// Every My Number held by more than one resident, by their first id; when SEALED is given (a
// resident's My Number as its record holds it), that one only, if it is shared.
Result<std::vector<SharedMyNumber>> SharedMyNumbers(
    Node& node, bool reveal = false, std::optional<std::string_view> sealed = std::nullopt);

// A household's 世帯主 is one of its residents (status 住民) whose relationship is 世帯主, and its
// record names them (Household.head). One who moved out or died keeps that relationship in the
// record kept of them, as a 除票 does, but no longer heads the household.
bool HeadsHousehold(const v1::Resident& r);

// A household whose residents have no 世帯主 or more than one, or whose record names another:
// what no edit or import can prevent (the 世帯主 died or moved out, and the household needs a new
// one; two nodes cut off from each other each made another member 世帯主), found in the state the
// nodes share, so that every node holding the same state finds the same. Settled by an edit of the
// members' relationship (`resident edit ID --set relationship=世帯主`). A household where nobody
// lives any more has no problem.
struct HouseholdHeadProblem {
  std::string household;           // its id
  std::vector<std::string> heads;  // its residents who are 世帯主, in order
  std::string named;  // the resident its record names as head (its last 世帯主), or ""
  std::string Describe() const;  // one line for a clerk
};
// As `conflicts list --json` and `resident search --household --json` print it.
nlohmann::json HouseholdHeadJson(const HouseholdHeadProblem& p);
// Every such household, in order of their ids.
Result<std::vector<HouseholdHeadProblem>> HouseholdHeadProblems(Node& node);
// The household HOUSEHOLD's (its id or code), if it has one: what HouseholdHeadProblems finds of
// it.
Result<std::optional<HouseholdHeadProblem>> HouseholdHeadProblemOf(Node& node,
                                                                   std::string_view household);

// The fields an edit may set, by name, in the record's order (all but the computed flags).
std::vector<std::string> EditableResidentFields();
// Sets fields from text ("name", "address", ...) as an edit on this node. An edit that makes a
// resident 世帯主 is refused while another resident of the household is; one that ends a
// resident's being 世帯主 (another relationship or household, moved out or died) leaves the
// household without one until a member is made 世帯主 (its record names the last one until
// then): those where someone still lives are added to HEADLESS. An edit of a 世帯主's address or
// postal code writes the household's too (a household's address is its 世帯主's, as an import
// writes it). Each field may be given once; one that holds its value already is not written,
// and is added to UNCHANGED (an edit where all are writes nothing).
Status UpdateResident(Node& node, std::string_view key,
                      const std::vector<std::pair<std::string, std::string>>& assignments,
                      std::vector<std::string>* headless = nullptr,
                      std::vector<std::string>* unchanged = nullptr);

// Settles CONFLICT with VALUE (the shown or the other version's, or a new one parsed by
// ParseField): an ordinary write naming both dots, held to an edit's rules: a My Number another
// resident holds is refused, and a resident's relationship, household, status or address moves
// the household's 世帯主 or address as an edit does, settling the household's conflict on that
// field too (HEADLESS as for UpdateResident). A conflict on a household's address or postal code
// is settled through its 世帯主's on the same field, when there is one, so both settle.
Status ResolveConflict(Node& node, const Conflict& conflict, const std::string& value,
                       std::vector<std::string>* headless = nullptr);

// Which conflicts a listing shows or a settlement of several settles: of one record, of one
// field (empty: every one).
struct ConflictFilter {
  std::string record;  // a resident's or household's id, or its code alone
  std::string field;   // a field's name: address, phone, head, ...
};
// The open conflicts FILTER chooses, in (entity, key, field, id) order; a record id that is no
// id, or a field no record has (naming those they have), is refused rather than matching none.
Result<std::vector<Conflict>> FindConflicts(Node& node, const ConflictFilter& filter);

// Settles each conflict of IDS in turn, keeping its shown value (KEEP_SHOWN) or the other, as
// ResolveConflict does. Each is looked up anew: settling one may settle another (a 世帯主's
// address settles the household's), which is then `not_open`, as is an id given twice. On an
// error the ones settled before it stay settled (`resolved` says which).
struct ConflictsResolved {
  std::vector<std::string> resolved;
  std::vector<std::string> not_open;
  std::vector<std::string> headless;  // households left without a 世帯主 (UpdateResident)
};
Status ResolveConflicts(Node& node, const std::vector<std::string>& ids, bool keep_shown,
                        ConflictsResolved* out);

// JSON of a resident for --json and the API. My Number is masked unless reveal.
nlohmann::json ResidentJson(const Node& node, const ResidentRecord& r, bool reveal_my_number);

}  // namespace bosai::node
