// TcpProgressOf through TCP_INFO; see tcp_progress.h.
#include "sync/tcp_progress.h"

#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cstddef>

namespace bosai::sync {

std::optional<TcpProgress> TcpProgressOf(int fd) {
  tcp_info info{};
  socklen_t len = sizeof(info);
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0 ||
      len < offsetof(tcp_info, tcpi_notsent_bytes) + sizeof(info.tcpi_notsent_bytes)) {
    return std::nullopt;  // an older kernel: the watchdog goes by what is received alone
  }
  return TcpProgress{info.tcpi_bytes_acked, uint64_t(info.tcpi_notsent_bytes) +
                                                uint64_t(info.tcpi_unacked) * info.tcpi_snd_mss};
}

}  // namespace bosai::sync
