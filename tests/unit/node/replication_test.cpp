// The daemon's config: what it accepts, and errors that name FILE:LINE:COLUMN.
#include "node/replication.h"

#include <gtest/gtest.h>

#include <asio.hpp>
#include <filesystem>
#include <fstream>

namespace bosai::node {
namespace {

class ServeConfigTest : public ::testing::Test {
 protected:
  std::string Write(const std::string& text) {
    std::ofstream(path_) << text;
    return path_;
  }
  void TearDown() override { std::filesystem::remove(path_); }
  std::string path_ = (std::filesystem::temp_directory_path() /
                       ("bosai-config-" + std::to_string(::getpid()) + ".toml"))
                          .string();
};

TEST_F(ServeConfigTest, ReadsNodeSyncAndPeers) {
  auto c = LoadServeConfig(Write(R"(
[node]
data_dir = "/srv/bosai"
[sync]
listen = "127.0.0.1:7400"
max_clock_offset_s = 90
window = 2
[[peers]]
id = "042021-shelter-03"
address = "127.0.0.1:7401"
[[peers]]
id = "042021-hub"
address = "[::1]:7402"
)"));
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->data_dir, "/srv/bosai");
  EXPECT_TRUE(c->sync_enabled);
  EXPECT_EQ(c->net.listen, "127.0.0.1:7400");
  EXPECT_EQ(c->net.max_offset_ms, 90000);
  EXPECT_EQ(c->net.window, 2u);
  ASSERT_EQ(c->net.peers.size(), 2u);
  EXPECT_EQ(c->net.peers[1].id, "042021-hub");
  EXPECT_EQ(c->net.status_path, "/srv/bosai/sync-status.json");
}

// The example config that ops/config ships (and the systemd unit points to) is read as it is.
TEST_F(ServeConfigTest, TheExampleConfigIsRead) {
  const std::string example = std::string(BOSAI_SOURCE_DIR) + "/ops/config/bosai.example.toml";
  auto c = LoadServeConfig(example);
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_TRUE(c->sync_enabled);
  EXPECT_EQ(c->net.listen, "127.0.0.1:7400");
  EXPECT_EQ(c->data_dir, std::string(BOSAI_SOURCE_DIR) + "/ops/config/bosai-data");
  ASSERT_EQ(c->net.peers.size(), 1u);
  EXPECT_EQ(c->net.peers[0].id, "042021-shelter-03");
}

TEST_F(ServeConfigTest, DataDirIsRelativeToTheConfigFile) {
  auto c = LoadServeConfig(Write("[node]\ndata_dir = \"data\"\n"));
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->data_dir, (std::filesystem::path(path_).parent_path() / "data").string());
  EXPECT_FALSE(c->sync_enabled);  // no [sync], no peers: nothing to serve
  // Named plainly, as logs and `serve --check` show it.
  const std::string folder = std::filesystem::path(path_).parent_path().string();
  c = LoadServeConfig(Write("[node]\ndata_dir = \".\"\n"));
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->data_dir, folder);
  c = LoadServeConfig(Write("[node]\ndata_dir = \"./a/../data/\"\n"));
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->data_dir, folder + "/data");
  c = LoadServeConfig(Write("[node]\ndata_dir = \"/\"\n"));
  ASSERT_TRUE(c.ok()) << c.status().message();
  EXPECT_EQ(c->data_dir, "/");
}

TEST_F(ServeConfigTest, ErrorsNameFileLineAndColumn) {
  struct Case {
    std::string text, expect;
  };
  for (const Case& k : std::vector<Case>{
           {"[node]\ndata_dir = \"d\"\n[sync]\nlisten = \"127.0.0.1\"\n", ":4:10: listen:"},
           {"[node]\ndata_dir = \"d\"\n[sync]\nwindow = 9\n", ":4:10: window must be 1 to 4"},
           // The daemon binds an address, not a name: refused here, not when it starts.
           {"[node]\ndata_dir = \"d\"\n[sync]\nlisten = \"localhost:7400\"\n",
            ":4:10: listen: address 'localhost:7400': a listener needs an IP address of this "
            "machine"},
           {"[node]\ndata_dir = \"d\"\n[[peers]]\nid = \"nope\"\naddress = \"h:1\"\n", ":4:6: id:"},
           {"[node]\ndata_dir = \"d\"\n[[peers]]\nid = \"042021-a\"\n",
            ":3:1: address is required"},
           {"[node]\ndata_dir = \"d\"\n[sink]\n", ":3:1: unknown section [sink]"},
           {"[node]\ndata_dir = \n", ":2:"},
           {"[sync]\nlisten = \"127.0.0.1:1\"\n", "a [node] section with data_dir is required"},
           {"[node]\ndata_dir = \"d\"\n[sync]\nstall_s = -1\n", ":4:11: stall_s must be"},
           // A misspelt setting is named, not left out for its default.
           {"[node]\ndata_dir = \"d\"\n[sync]\nlisten = \"127.0.0.1:1\"\nheartbeat = 5\n",
            ":5:1: unknown key heartbeat in [sync] (known: listen, max_clock_offset_s, "
            "heartbeat_s, stall_s, backoff_max_s, window)"},
           {"[node]\ndata_dir = \"d\"\ndatadir = \"e\"\n",
            ":3:1: unknown key datadir in [node] (known: data_dir)"},
           {"[node]\ndata_dir = \"d\"\n[[peers]]\nid = \"042021-a\"\naddress = \"h:1\"\n"
            "adress = \"h:2\"\n",
            ":6:1: unknown key adress in [[peers]] (known: id, address)"},
       }) {
    auto c = LoadServeConfig(Write(k.text));
    ASSERT_FALSE(c.ok()) << k.text;
    EXPECT_NE(c.status().message().find(k.expect), std::string::npos)
        << c.status().message() << " should contain " << k.expect;
    EXPECT_EQ(c.status().message().rfind(path_, 0), 0u) << c.status().message();
  }
  // A config that is not there, or a directory named for it.
  const std::string folder = std::filesystem::path(path_).parent_path().string();
  auto missing = LoadServeConfig(folder + "/bosia.toml");
  EXPECT_EQ(missing.status().message(), folder + "/bosia.toml: No such file or directory");
  auto directory = LoadServeConfig(folder);
  EXPECT_EQ(directory.status().message(), folder + ": is a directory, not a file");
  // A large file named for one (the binary, a database) is no config, said before it is parsed.
  auto big = LoadServeConfig(Write("# " + std::string(1u << 20, 'x') + "\n"));
  EXPECT_EQ(big.status().message(),
            path_ +
                ": not a config (over 1048576 bytes; a config is a few hundred, see "
                "ops/config/bosai.example.toml)");
}

// A listener's address probed as the daemon would bind it: a port taken is Busy (the check
// warns), an address that is not this machine's is refused, a free one passes and stays free.
TEST(ListenProbe, NamesATakenPortAndAnAddressNotOfThisMachine) {
  asio::io_context io;
  asio::ip::tcp::acceptor taken(io,
                                asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  const std::string address = "127.0.0.1:" + std::to_string(taken.local_endpoint().port());
  Status busy = sync::ProbeListen(address);
  EXPECT_EQ(busy.code(), Status::Code::kBusy) << busy.message();
  EXPECT_NE(busy.message().find("cannot listen on " + address), std::string::npos)
      << busy.message();
  taken.close();
  EXPECT_TRUE(sync::ProbeListen(address).ok());
  EXPECT_TRUE(sync::ProbeListen(address).ok());            // the probe left it free
  Status elsewhere = sync::ProbeListen("192.0.2.1:7400");  // TEST-NET-1: no machine's own
  EXPECT_EQ(elsewhere.code(), Status::Code::kInvalidArgument) << elsewhere.message();
  EXPECT_NE(elsewhere.message().find("not an address of this machine"), std::string::npos)
      << elsewhere.message();
  EXPECT_EQ(sync::ProbeListen("localhost:1").message(),
            "address 'localhost:1': a listener needs an IP address of this machine (such as "
            "127.0.0.1, or 0.0.0.0 for all), not a host name");
  EXPECT_EQ(sync::CheckListenAddress("192.168.1.300:7400").message(),
            "address '192.168.1.300:7400': 192.168.1.300 is not an IP address: a listener needs "
            "an IP address of this machine (such as 127.0.0.1, or 0.0.0.0 for all)");
  EXPECT_TRUE(sync::CheckListenAddress("[::1]:7400").ok());
}

}  // namespace
}  // namespace bosai::node
