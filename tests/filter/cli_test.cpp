// tests/filter/cli_test.cpp — the executables as an admin runs them
// (`sigil check-config`, `sigild -c` with a broken file), and the summary
// log line in both its forms.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <thread>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "filter/core/log.hpp"
#include "filter/test_peer.hpp"

namespace sigil::filter {
namespace {

struct Run {
  int status = -1;
  std::string output;  // stdout and stderr together
};

Run run(const std::string& cmd) {
  Run r;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) r.output.append(buf, n);
  int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

std::string temp_file(const std::string& name, const std::string& content) {
  auto p = std::filesystem::temp_directory_path() /
           ("sigil-cli-" + std::to_string(::getpid()) + "-" + name);
  std::ofstream(p) << content;
  return p.string();
}

TEST(Cli, CheckConfigAcceptsEverySample) {
  for (auto f : {"conf/sigil.toml", "conf/examples/signing-relay.toml",
                 "conf/examples/inbound-verify.toml", "conf/examples/scanning-gateway.toml"}) {
    // --no-keys: the samples name key files under /etc/sigil that a build
    // machine does not have (the keys themselves are checked elsewhere).
    auto r = run(std::string(SIGIL_PATH) + " check-config --no-keys " + SIGIL_SOURCE_DIR + "/" + f);
    EXPECT_EQ(r.status, 0) << f << ": " << r.output;
    EXPECT_NE(r.output.find(": OK"), std::string::npos) << r.output;
  }
}

// Without -c sigild reads the default path when it exists, else the
// embedded default, and its first log line says which; check-config
// without FILE checks the same one.  (Which of the two applies depends on
// this machine: the test asserts the line for the case at hand.)
TEST(Cli, WithoutAFileTheDefaultPathOrTheEmbeddedDefault) {
  std::string def = SIGIL_DEFAULT_CONFIG;
  bool exists = std::filesystem::exists(std::filesystem::symlink_status(def));
  std::string want = exists ? def + " (the default path)"
                            : "the embedded default (" + def + " does not exist)";
  // As root the embedded default (no [daemon] user) is refused right after
  // that line; otherwise `timeout` ends a sigild that started.
  auto r = run("timeout -s TERM 5 " + std::string(SIGILD_PATH));
  EXPECT_NE(r.output.find("info sigild: configuration: " + want), std::string::npos) << r.output;
  // As another user the embedded default's directories (/var/lib/sigil)
  // are not writable: check-config says so instead of OK.
  auto c = run(std::string(SIGIL_PATH) + " check-config --no-keys");
  if (::geteuid() == 0 || exists) {
    EXPECT_NE(c.output.find((exists ? def : std::string("the embedded default")) + ": OK"),
            std::string::npos)
      << c.output;
  }
  auto named = run(std::string(SIGILD_PATH) + " -c /nonexistent/sigil.toml");
  EXPECT_EQ(named.status, 1) << named.output;
  EXPECT_NE(named.output.find("/nonexistent/sigil.toml"), std::string::npos) << named.output;
}

TEST(Cli, CheckConfigNamesFileLineAndKey) {
  auto path = temp_file("bad.toml",
                        "[smtp]\nhostname = \"x\"\nmax_recipients = 0\n"
                        "[forward]\ntarget = \"smtp:[127.0.0.1]:10025\"\ntypo_key = 1\n"
                        "[[listener]]\nname = \"a\"\naddress = \"127.0.0.1:10024\"\n");
  auto r = run(std::string(SIGIL_PATH) + " check-config " + path);
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find(path + ":3:smtp.max_recipients:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(path + ":6:forward.typo_key: unknown key"), std::string::npos)
      << r.output;
  std::filesystem::remove(path);
}

TEST(Cli, CheckConfigRefusesStagesThisBuildLacks) {
  auto path = temp_file("stage.toml",
                        "[[listener]]\nname = \"a\"\naddress = \"127.0.0.1:10024\"\n"
                        "[bank.default]\nstages = [\"spam\"]\n");
  auto r = run(std::string(SIGIL_PATH) + " check-config " + path);
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("spam"), std::string::npos) << r.output;
  std::filesystem::remove(path);
}

TEST(Cli, SigildRefusesToStartOnABadFile) {
  auto path = temp_file("bad2.toml", "[daemon]\nlog_level = \"loud\"\n");
  auto r = run(std::string(SIGILD_PATH) + " -c " + path);
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find(path + ":2:daemon.log_level:"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("not starting"), std::string::npos) << r.output;
  std::filesystem::remove(path);
  auto u = run(std::string(SIGILD_PATH) + " --bogus");
  EXPECT_EQ(u.status, 2) << u.output;
}

TEST(Cli, ShowDefaultIsTheShippedFile) {
  auto r = run(std::string(SIGIL_PATH) + " show-default");
  EXPECT_EQ(r.status, 0);
  std::ifstream in(std::string(SIGIL_SOURCE_DIR) + "/conf/sigil.toml");
  std::string want((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(r.output, want);
}

TEST(Cli, KeysGenerateWritesAPrivateKeyAndPrintsItsRecord) {
  auto dir = std::filesystem::temp_directory_path() /
             ("sigil-cli-keys-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto rsa = (dir / "rsa.pem").string();
  auto r = run(std::string(SIGIL_PATH) + " keys generate --selector s2026 --domain example.com" +
               " --out " + rsa + " 2>/dev/null");
  ASSERT_EQ(r.status, 0) << r.output;
  struct stat st {};
  ASSERT_EQ(::stat(rsa.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(r.output.rfind("s2026._domainkey.example.com. IN TXT ( \"v=DKIM1; k=rsa; p=", 0), 0u)
      << r.output;
  // The published key is the file's public key (openssl as the oracle), and
  // RSA defaults to 2048 bits.
  auto p = run("openssl pkey -in " + rsa + " -pubout -outform DER | base64 -w0");
  std::string joined;  // the zone-file strings put back together
  for (std::size_t a = 0; (a = r.output.find('"', a)) != std::string::npos;) {
    auto b = r.output.find('"', a + 1);
    joined += r.output.substr(a + 1, b - a - 1);
    a = b + 1;
  }
  EXPECT_EQ(joined, "v=DKIM1; k=rsa; p=" + p.output);
  auto bits = run("openssl pkey -in " + rsa + " -text -noout | head -1");
  EXPECT_NE(bits.output.find("2048 bit"), std::string::npos) << bits.output;
  // Never overwrites a key that may be published already.
  auto again = run(std::string(SIGIL_PATH) + " keys generate --selector s --domain example.com" +
                   " --out " + rsa);
  EXPECT_EQ(again.status, 1) << again.output;
  EXPECT_NE(again.output.find("File exists"), std::string::npos) << again.output;
  auto ed = run(std::string(SIGIL_PATH) + " keys generate --selector e --domain example.com" +
                " --type ed25519 --out " + (dir / "ed.pem").string() + " 2>/dev/null");
  EXPECT_EQ(ed.status, 0) << ed.output;
  EXPECT_NE(ed.output.find("k=ed25519; p="), std::string::npos) << ed.output;
  auto bad = run(std::string(SIGIL_PATH) + " keys generate --selector e --domain example.com" +
                 " --type dsa --out " + (dir / "x.pem").string());
  EXPECT_EQ(bad.status, 2) << bad.output;
  auto small = run(std::string(SIGIL_PATH) + " keys generate --selector e --domain example.com" +
                   " --bits 512 --out " + (dir / "y.pem").string());
  EXPECT_EQ(small.status, 1) << small.output;
  EXPECT_FALSE(std::filesystem::exists(dir / "y.pem"));
  std::filesystem::remove_all(dir);
}

// check-config loads the keys a dkim-sign bank needs: a missing file or a
// file readable by others is named in the error; with good keys it passes
// and `keys show` prints the record of each.
TEST(Cli, CheckConfigLoadsSigningKeys) {
  auto dir = std::filesystem::temp_directory_path() /
             ("sigil-cli-sign-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto key = (dir / "k.pem").string();
  ASSERT_EQ(run(std::string(SIGIL_PATH) + " keys generate --selector s1 --domain example.com" +
                " --out " + key + " 2>/dev/null")
                .status,
            0);
  auto cfg = temp_file("sign.toml", "[daemon]\nallow_root = true\n"
                                    "[[listener]]\nname = \"a\"\naddress = \"127.0.0.1:10024\"\n"
                                    "bank = \"out\"\n[bank.out]\nstages = [\"dkim-sign\"]\n"
                                    "originating = true\n[[key]]\nname = \"k\"\nfile = \"" +
                                        key +
                                        "\"\ndomain = \"example.com\"\nselector = \"s1\"\n"
                                        "[[signing]]\nmatch = [\"example.com\"]\nkeys = [\"k\"]\n");
  auto ok = run(std::string(SIGIL_PATH) + " check-config " + cfg);
  EXPECT_EQ(ok.status, 0) << ok.output;
  auto show = run(std::string(SIGIL_PATH) + " keys show " + cfg);
  EXPECT_EQ(show.status, 0) << show.output;
  EXPECT_NE(show.output.find("s1._domainkey.example.com. IN TXT ( \"v=DKIM1; k=rsa; p="),
            std::string::npos)
      << show.output;

  ::chmod(key.c_str(), 0644);
  auto loose = run(std::string(SIGIL_PATH) + " check-config " + cfg);
  EXPECT_EQ(loose.status, 1) << loose.output;
  EXPECT_NE(loose.output.find("chmod 600 " + key), std::string::npos) << loose.output;
  auto sigild = run(std::string(SIGILD_PATH) + " -c " + cfg);
  EXPECT_EQ(sigild.status, 1) << sigild.output;
  EXPECT_NE(sigild.output.find(key), std::string::npos) << sigild.output;

  std::filesystem::remove(key);
  auto missing = run(std::string(SIGIL_PATH) + " check-config " + cfg);
  EXPECT_EQ(missing.status, 1) << missing.output;
  EXPECT_NE(missing.output.find(key), std::string::npos) << missing.output;
  EXPECT_EQ(run(std::string(SIGIL_PATH) + " check-config --no-keys " + cfg).status, 0);
  std::filesystem::remove(cfg);
  std::filesystem::remove_all(dir);
}

int connect_to(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  sa.sin_port = htons(port);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

// With its file descriptors exhausted, sigild must neither spin on accept()
// nor flood the log, and must recover when descriptors free up.
TEST(Cli, SigildSurvivesRunningOutOfFileDescriptors) {
  auto port = test::free_port();
  auto cfg = temp_file("fd.toml", "[daemon]\nallow_root = true\n[[listener]]\nname = \"a\"\naddress = \"127.0.0.1:" +
                                      std::to_string(port) +
                                      "\"\n[forward]\ntarget = \"smtp:[127.0.0.1]:9\"\n");
  auto log = temp_file("fd.log", "");
  pid_t pid = ::fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    rlimit rl{24, 24};
    ::setrlimit(RLIMIT_NOFILE, &rl);
    int lfd = ::open(log.c_str(), O_WRONLY | O_TRUNC);
    ::dup2(lfd, 2);
    ::execl(SIGILD_PATH, SIGILD_PATH, "-c", cfg.c_str(), static_cast<char*>(nullptr));
    ::_exit(127);
  }
  std::vector<int> fds;
  for (int i = 0; i < 100 && fds.empty(); ++i) {  // wait for the listener (<= 5 s)
    int fd = connect_to(port);
    if (fd >= 0) fds.push_back(fd);
    else std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_FALSE(fds.empty()) << "sigild did not start";
  for (int i = 0; i < 40; ++i) {
    int fd = connect_to(port);  // lands in the backlog once sigild is out of fds
    if (fd >= 0) fds.push_back(fd);
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(1500));
  for (int fd : fds) ::close(fd);
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  // Recovered: a new client is greeted.
  test::SmtpClient c(port);
  auto r = c.read(std::chrono::seconds(5));
  EXPECT_EQ(r.code, 220) << r.text();
  c.close();
  ::kill(pid, SIGTERM);
  int st = 0;
  for (int i = 0; i < 100 && ::waitpid(pid, &st, WNOHANG) == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  if (::waitpid(pid, &st, WNOHANG) == 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &st, 0);
    ADD_FAILURE() << "sigild did not exit on SIGTERM";
  }
  std::ifstream in(log);
  std::string text((std::istreambuf_iterator<char>(in)), {});
  std::size_t warnings = 0;
  for (std::size_t p = 0; (p = text.find("pausing new connections", p)) != std::string::npos; ++p)
    ++warnings;
  EXPECT_GE(warnings, 1u) << "the fd limit was never reached?\n" << text.substr(0, 2000);
  EXPECT_LE(warnings, 2u) << text.substr(0, 2000);
  std::filesystem::remove(cfg);
  std::filesystem::remove(log);
}

TEST(SummaryLine, TextForm) {
  log::Summary s;
  s.id = "ABCDEFGHJKLM";
  s.client = "[192.0.2.1]:2525";
  s.helo = "mx.example.org";
  s.from = "a@example.org";
  s.rcpts = 3;
  s.size = 5120;
  s.bank = "default+mynets";
  s.stages = {{"dkim-verify", "continue", std::chrono::microseconds(1500)},
              {"dkim-sign", "continue", std::chrono::microseconds(950)}};
  s.action = log::SummaryAction::Relayed;
  s.backend = "250 2.0.0 Ok: queued as 4XyZ";
  s.time = std::chrono::microseconds(3210);
  auto line = log::format_summary(s, false);
  for (auto want : {"id=ABCDEFGHJKLM", "client=[192.0.2.1]:2525", "helo=mx.example.org",
                    "from=<a@example.org>", "rcpts=3", "size=5120", "bank=default+mynets",
                    "dkim-verify", "dkim-sign", "action=relayed",
                    "backend=\"250 2.0.0 Ok: queued as 4XyZ\"", "time=3.210ms"})
    EXPECT_NE(line.find(want), std::string::npos) << "want " << want << " in " << line;
  EXPECT_EQ(line.find('\n'), std::string::npos);
}

TEST(SummaryLine, JsonFormEscapesAndKeepsFields) {
  log::Summary s;
  s.id = "ABCDEFGHJKLM";
  s.client = "[192.0.2.1]:2525";
  s.helo = "evil\"\r\nhelo";  // hostile values must not break the line
  s.from = "a\\b@example.org";
  s.rcpts = 1;
  s.stages = {{"spam", "timeout", std::chrono::microseconds(2000)}};
  s.action = log::SummaryAction::TempFail;
  s.backend = "451 4.4.1 down";
  auto j = log::format_summary(s, true);
  EXPECT_EQ(j.front(), '{');
  EXPECT_EQ(j.back(), '}');
  EXPECT_EQ(j.find('\n'), std::string::npos);
  EXPECT_EQ(j.find('\r'), std::string::npos);
  EXPECT_NE(j.find(R"("helo":"evil\"\r\nhelo")"), std::string::npos) << j;
  EXPECT_NE(j.find(R"("from":"a\\b@example.org")"), std::string::npos) << j;
  EXPECT_NE(j.find(R"("stages":[{"name":"spam","outcome":"timeout","ms":2.000}])"),
            std::string::npos)
      << j;
  EXPECT_NE(j.find(R"("action":"tempfail")"), std::string::npos) << j;
  // The text form of the same hostile value stays on one line too.
  auto t = log::format_summary(s, false);
  EXPECT_EQ(t.find('\n'), std::string::npos) << t;
  EXPECT_EQ(t.find('\r'), std::string::npos) << t;
}

// A peer-supplied value cannot forge a field of the text form: one with a
// space or a quote is quoted, its quotes escaped.
TEST(SummaryLine, TextFormQuotesPeerValues) {
  log::Summary s;
  s.id = "ABCDEFGHJKLM";
  s.client = "[192.0.2.1]:2525";
  s.helo = "mx action=relayed";
  s.from = "\"x> action=relayed\"@evil";
  s.action = log::SummaryAction::Reject;
  s.backend = "554 5.7.1 no";
  s.notes = {{"dkim", "fail x=\"y\""}};
  auto t = log::format_summary(s, false);
  EXPECT_NE(t.find(R"(from="<\"x> action=relayed\"@evil>")"), std::string::npos) << t;
  EXPECT_NE(t.find(R"(helo="mx action=relayed")"), std::string::npos) << t;
  EXPECT_NE(t.find(R"(dkim="fail x=\"y\"")"), std::string::npos) << t;
  // Exactly one action field, outside any quotes: the real one.
  std::size_t unquoted = 0;
  bool in_quotes = false;
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (t[i] == '\\') { ++i; continue; }
    if (t[i] == '"') in_quotes = !in_quotes;
    else if (!in_quotes && t.compare(i, 8, " action=") == 0) ++unquoted;
  }
  EXPECT_EQ(unquoted, 1u) << t;
  EXPECT_NE(t.find(" action=reject "), std::string::npos) << t;
  // A plain address stays in its usual form.
  s.from = "a@example.org";
  EXPECT_NE(log::format_summary(s, false).find(" from=<a@example.org> "), std::string::npos);
}

}  // namespace
}  // namespace sigil::filter
