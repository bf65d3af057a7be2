// Shared command-line helpers; see common.h.
#include "cli/common.h"

#include <fmt/chrono.h>
#include <fmt/format.h>
#include <signal.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <charconv>
#include <iostream>

#include "node/records.h"
#include "storage/hlc.h"

namespace bosai::cli {

void Fail(Globals& g, const Status& status) {
  if (IsDamagedFile(status)) {
    return Fail(g, status
                       .WithNote("the store is damaged: `bosai doctor` lists what SQLite "
                                 "finds in it, and the README's \"A damaged store\" says how "
                                 "to rebuild the node from its peers")
                       .message());
  }
  Fail(g, status.message());
}

void Fail(Globals& g, const std::string& message) {
  std::cerr << "bosai: " << message << std::endl;
  g.exit_code = kExitFailure;
}

void BadUsage(const std::string& what) { throw CLI::ValidationError(what); }

bool MayWriteDataDir(Globals& g, std::string_view command) {
  if (!g.read_only) return true;
  Fail(g, fmt::format("{} writes the data dir, and --read-only was given", command));
  return false;
}

Result<std::unique_ptr<node::Node>> TryOpenNode(Globals& g, bool warn_clock) {
  BOSAI_ASSIGN_OR_RETURN(auto node, node::Node::Open(g.data_dir, {.read_only = g.read_only,
                                                                  .alone_if_disk_full = true}));
  if (auto w = node->DiskFullWarning()) std::cerr << "bosai: warning: " << *w << std::endl;
  if (!g.as.empty()) node->set_operator(g.as);
  if (warn_clock) {
    if (auto w = node->ClockWarning()) std::cerr << "bosai: warning: " << *w << std::endl;
  }
  return node;
}

std::unique_ptr<node::Node> OpenNode(Globals& g, bool warn_clock) {
  auto node = TryOpenNode(g, warn_clock);
  if (!node.ok()) {
    Fail(g, node.status());
    return nullptr;
  }
  return std::move(node).value();
}

namespace {

// A version of a field of ENTITY: its value as shown, who wrote it and when. The HLC as a string:
// a JSON number past 2^53 loses digits in JavaScript.
nlohmann::json VersionJson(const node::Node& node, uint32_t entity, uint32_t field,
                           const FieldVersion& v) {
  const int64_t ms = HlcMillis(v.hlc);
  return nlohmann::json{
      {"value", node::RenderField(entity, field, v.value, node.data_key(), false)},
      {"by", fmt::format("{}:{}", v.dot.incarnation, v.dot.seq)},
      {"hlc", std::to_string(v.hlc)},
      {"written_at",
       fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03}Z", fmt::gmtime(std::time_t(ms / 1000)), ms % 1000)}};
}

}  // namespace

nlohmann::json ConflictJson(const node::Node& node, const Conflict& c) {
  auto render = [&](const FieldVersion& v) {
    return node::RenderField(c.entity, c.field, v.value, node.data_key(), false);
  };
  auto version = [&](const FieldVersion& v) { return VersionJson(node, c.entity, c.field, v); };
  return {{"id", c.id},
          {"entity", node::EntityName(c.entity)},
          {"key", c.key},
          {"field", node::FieldName(c.entity, c.field)},
          {"shown", render(c.shown)},
          {"other", render(c.other)},
          {"shown_version", version(c.shown)},
          {"other_version", version(c.other)}};
}

nlohmann::json SettlementJson(const node::Node& node, const std::string& id,
                              const Store::Settlement& s) {
  auto version = [&](const FieldVersion& v) { return VersionJson(node, s.entity, s.field, v); };
  nlohmann::json settled = version(s.settled);
  settled["author"] = s.author;
  nlohmann::json j = {{"id", id},
                      {"entity", node::EntityName(s.entity)},
                      {"key", s.key},
                      {"field", node::FieldName(s.entity, s.field)},
                      {"settled", settled["value"]},
                      {"settled_version", settled}};
  if (s.other_held) {  // else its value and time are not known here yet
    j["other"] = version(s.other)["value"];
    j["other_version"] = version(s.other);
  }
  return j;
}

void PrintJson(const nlohmann::json& j, std::ostream& out) { out << j.dump() << std::endl; }

std::ostream& SayWritten(const std::string& path) {
  struct stat file {
  }, out{};
  const bool same = path == "-" || (::stat(path.c_str(), &file) == 0 && ::fstat(1, &out) == 0 &&
                                    file.st_dev == out.st_dev && file.st_ino == out.st_ino);
  return same ? std::cerr : std::cout;
}

std::string Written(const std::string& path) { return path == "-" ? "- (standard output)" : path; }

void SayHeadless(const std::vector<std::string>& households) {
  for (const std::string& h : households) {
    std::cerr << fmt::format(
        "household {0} has no 世帯主 now: make one of its residents 世帯主 (bosai resident search "
        "--household {0} lists them; bosai resident edit ID --set relationship=世帯主)\n",
        h);
  }
}

CLI::Validator WholeNumber(uint64_t lo, uint64_t hi) {
  return CLI::Validator(
      [lo, hi](std::string& text) {
        uint64_t v = 0;
        auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
        if (text.empty() || end != text.data() + text.size() ||
            (ec != std::errc() && ec != std::errc::result_out_of_range)) {
          return fmt::format("\"{}\" is not a whole number", text);
        }
        if (ec == std::errc::result_out_of_range || v < lo || v > hi) {
          return fmt::format("{} is not from {} to {}", text, lo, hi);
        }
        return std::string();
      },
      fmt::format("{}..{}", lo, hi));
}

std::string Counted(uint64_t n, std::string_view noun) {
  return fmt::format("{} {}{}", n, noun, n == 1 ? "" : "s");
}

Result<std::string> PromptHidden(std::string_view prompt) {
  termios before{};
  if (::tcgetattr(STDIN_FILENO, &before) != 0) {
    return Status::Invalid("standard input is not a terminal to type on");
  }
  termios hidden = before;
  hidden.c_lflag &= ~tcflag_t(ECHO);
  std::cerr << prompt << std::flush;
  ::tcsetattr(STDIN_FILENO, TCSANOW, &hidden);
  std::string line;
  const bool read = bool(std::getline(std::cin, line));
  ::tcsetattr(STDIN_FILENO, TCSANOW, &before);
  std::cerr << "\n";
  if (!read) return Status::Invalid("nothing was typed (end of input)");
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

Progress::Progress(std::string label) : label_(std::move(label)), tty_(::isatty(STDERR_FILENO)) {}

Progress::~Progress() { Clear(); }

void Progress::Clear() {
  if (tty_ && last_percent_ >= 0) std::cerr << "\r\033[K" << std::flush;
  last_percent_ = -1;
}

void Progress::Update(double fraction, const std::string& detail) {
  if (!tty_) return;
  int percent = int(fraction * 100);
  if (percent == last_percent_ && detail == last_detail_) return;
  last_percent_ = percent;
  last_detail_ = detail;
  int filled = percent * 30 / 100;
  std::cerr << fmt::format("\r{} [{}{}] {:3d}% {}\033[K", label_, std::string(filled, '#'),
                           std::string(30 - filled, '.'), percent, detail)
            << std::flush;
}

namespace {

std::atomic<bool> interrupted{false};
std::atomic<int> interrupt_signal{0};
struct sigaction saved_int, saved_term;

void OnInterrupt(int sig) {  // async-signal-safe: lock-free atomics only
  interrupt_signal.store(sig);
  interrupted.store(true);
}

}  // namespace

Interruptible::Interruptible() {
  struct sigaction sa {};
  sa.sa_handler = OnInterrupt;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESETHAND;  // the second signal takes its default action
  ::sigaction(SIGINT, &sa, &saved_int);
  ::sigaction(SIGTERM, &sa, &saved_term);
}

Interruptible::~Interruptible() {
  ::sigaction(SIGINT, &saved_int, nullptr);
  ::sigaction(SIGTERM, &saved_term, nullptr);
}

const std::atomic<bool>* Interruptible::flag() const { return &interrupted; }

int Interruptible::exit_code() const { return 128 + interrupt_signal.load(); }

}  // namespace bosai::cli
