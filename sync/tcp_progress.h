// What the kernel knows of a TCP connection's progress, for the watchdog (net.cpp). Kept apart
// from net.cpp: <linux/tcp.h>, which has it, clashes with <netinet/tcp.h>, which Asio includes.
#pragma once

#include <cstdint>
#include <optional>

namespace bosai::sync {

struct TcpProgress {
  uint64_t acked = 0;        // bytes of ours the peer's TCP has acknowledged
  uint64_t outstanding = 0;  // bytes of ours in the kernel not acknowledged yet (about)
};
// TCP_INFO of socket FD, if the kernel says.
std::optional<TcpProgress> TcpProgressOf(int fd);

}  // namespace bosai::sync
