// tests/filter/app_test.cpp — sigild's start-up choices in filter/app: which
// configuration file without -c (config_path), who it runs as (privileges:
// root without [daemon] user is refused unless allow_root; an unknown user
// or group), and what the daemon user must be able to write and read
// (daemon_access).  The privilege drop itself runs in e2e.privilege_drop
// (it needs root and a real user).
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "filter/app/config_path.hpp"
#include "filter/app/daemon_access.hpp"
#include "filter/app/privileges.hpp"

namespace sigil::filter {
namespace {

namespace fs = std::filesystem;

fs::path temp_dir(const std::string& name) {
  auto d = fs::temp_directory_path() / ("sigil-app-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(d);
  fs::create_directories(d);
  return d;
}

TEST(ConfigPath, DefaultIsTheCompiledInPath) {
  EXPECT_STREQ(default_config_path(), SIGIL_DEFAULT_CONFIG);
}

TEST(ConfigPath, NamedFileWins) {
  auto c = choose_config("/some/where.toml", "/etc/whatever.toml");
  EXPECT_EQ(c.path, "/some/where.toml");
  EXPECT_EQ(c.why, "/some/where.toml");
}

TEST(ConfigPath, DefaultPathWhenItExistsElseEmbedded) {
  auto d = temp_dir("cfg");
  auto file = (d / "sigil.toml").string();
  auto absent = choose_config("", file);
  EXPECT_EQ(absent.path, "");
  EXPECT_EQ(absent.why, "the embedded default (" + file + " does not exist)");
  std::ofstream(file) << "# empty\n";
  auto present = choose_config("", file);
  EXPECT_EQ(present.path, file);
  EXPECT_EQ(present.why, file + " (the default path)");
  // Present but unreadable is still chosen: the loader says why it fails.
  ::chmod(file.c_str(), 0);
  EXPECT_EQ(choose_config("", file).path, file);
  fs::remove_all(d);
}

TEST(RunAs, RootWithoutUserIsRefusedUnlessAllowRoot) {
  conf::DaemonConfig d;
  auto r = resolve_run_as(d);
  if (::geteuid() != 0) {
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_FALSE(r->drop);
    EXPECT_EQ(r->uid, ::geteuid());
    return;
  }
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("allow_root = true"), std::string::npos) << r.error().message;
  d.allow_root = true;
  auto ok = resolve_run_as(d);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_FALSE(ok->drop);
  EXPECT_EQ(ok->uid, 0u);
}

TEST(RunAs, UnknownUserOrGroupIsRefused) {
  conf::DaemonConfig d;
  d.user = "no-such-user-sigil-test";
  auto r = resolve_run_as(d);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("daemon.user no-such-user-sigil-test: no such user"),
            std::string::npos)
      << r.error().message;
  d.user = "root";
  d.group = "no-such-group-sigil-test";
  auto g = resolve_run_as(d);
  ASSERT_FALSE(g);
  EXPECT_NE(g.error().message.find("no such group"), std::string::npos) << g.error().message;
}

TEST(RunAs, NotRootAndAnotherUserIsRefused) {
  if (::geteuid() == 0) GTEST_SKIP() << "runs as root; e2e.privilege_drop covers that case";
  conf::DaemonConfig d;
  d.user = "root";
  auto r = resolve_run_as(d);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("not root"), std::string::npos) << r.error().message;
}

TEST(DaemonAccess, NamesTheDirectoryItCannotWrite) {
  auto d = temp_dir("dirs");
  conf::Config cfg;
  cfg.daemon.spool_dir = (d / "spool").string();  // absent: its parent is checked
  cfg.forward.target.kind = conf::ForwardTarget::Kind::Maildir;
  cfg.forward.target.path = (d / "file" / "Maildir").string();
  std::ofstream(d / "file") << "x";
  auto problems = unwritable_dirs(cfg);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0], "forward.target " + cfg.forward.target.path + ": its parent " +
                             (d / "file").string() + " is not a directory");
  cfg.forward.target.kind = conf::ForwardTarget::Kind::Smtp;
  EXPECT_TRUE(unwritable_dirs(cfg).empty());
  if (::geteuid() != 0) {  // root writes anywhere
    ::chmod(d.c_str(), 0500);
    auto ro = unwritable_dirs(cfg);
    ASSERT_EQ(ro.size(), 1u);
    EXPECT_NE(ro[0].find("daemon.spool_dir"), std::string::npos) << ro[0];
    EXPECT_NE(ro[0].find("is not writable"), std::string::npos) << ro[0];
    ::chmod(d.c_str(), 0700);
  }
  fs::remove_all(d);
}

TEST(DaemonAccess, NamesTheKeyItCannotRead) {
  conf::Config cfg;
  cfg.keys.push_back({"k", "/nonexistent/sigil/k.pem", "example.com", "s", ""});
  auto problems = unreadable_keys(cfg);
  ASSERT_EQ(problems.size(), 1u);
  EXPECT_EQ(problems[0], "key k (/nonexistent/sigil/k.pem): No such file or directory");
}

}  // namespace
}  // namespace sigil::filter
