// Shared command-line helpers; see common.h.
#include "cli/common.h"

#include <fmt/format.h>
#include <unistd.h>

#include <iostream>

namespace bosai::cli {

void Fail(Globals& g, const Status& status) { Fail(g, status.message()); }

void Fail(Globals& g, const std::string& message) {
  std::cerr << "bosai: " << message << std::endl;
  g.exit_code = kExitFailure;
}

std::unique_ptr<node::Node> OpenNode(Globals& g) {
  auto node = node::Node::Open(g.data_dir);
  if (!node.ok()) {
    Fail(g, node.status());
    return nullptr;
  }
  if (!g.as.empty()) (*node)->set_operator(g.as);
  return std::move(node).value();
}

void PrintJson(const nlohmann::json& j) { std::cout << j.dump() << std::endl; }

Progress::Progress(std::string label) : label_(std::move(label)), tty_(::isatty(STDERR_FILENO)) {}

Progress::~Progress() {
  if (tty_ && last_percent_ >= 0) std::cerr << "\r\033[K" << std::flush;
}

void Progress::Update(double fraction, const std::string& detail) {
  if (!tty_) return;
  int percent = int(fraction * 100);
  if (percent == last_percent_) return;
  last_percent_ = percent;
  int filled = percent * 30 / 100;
  std::cerr << fmt::format("\r{} [{}{}] {:3d}% {}\033[K", label_, std::string(filled, '#'),
                           std::string(30 - filled, '.'), percent, detail)
            << std::flush;
}

}  // namespace bosai::cli
