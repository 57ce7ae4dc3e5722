// tests/filter/log_test.cpp — where the log lines go and what the summary
// line carries: the [daemon] log_target/log_facility/syslog_socket keys,
// the syslog sink's RFC 3164 datagrams on a socket of the test's own (PRI,
// timestamp, tag, reconnect after the daemon made a new socket, stderr when
// there is none), the journal target without a journal, the bare JSON line
// on stderr, and the summary's recipients, Message-ID and queue ID.
// A real rsyslogd: tests/e2e/syslog_rsyslog.sh.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <filesystem>
#include <regex>

#include <gtest/gtest.h>
#include <spdlog/logger.h>

#include "conf/config.hpp"
#include "filter/core/log.hpp"
#include "filter/core/log_sinks.hpp"

namespace sigil::filter {
namespace {

// A Unix datagram socket bound at a fresh temporary path: the "syslog daemon".
struct Receiver {
  std::string path;
  int fd = -1;
  Receiver() {
    path = (std::filesystem::temp_directory_path() /
            ("sigil-log-test-" + std::to_string(::getpid()) + ".sock"))
               .string();
    bind_socket();
  }
  ~Receiver() {
    if (fd >= 0) ::close(fd);
    ::unlink(path.c_str());
  }
  void bind_socket() {
    ::unlink(path.c_str());
    fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un sa{};
    sa.sun_family = AF_UNIX;
    path.copy(sa.sun_path, sizeof(sa.sun_path) - 1);
    EXPECT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof(sa)), 0);
    timeval tv{2, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  }
  // The daemon restarts: a new socket at the same path.
  void rebind() {
    ::close(fd);
    bind_socket();
  }
  std::string next() {
    char buf[65536];
    ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
    return n < 0 ? std::string("<nothing>") : std::string(buf, static_cast<std::size_t>(n));
  }
};

std::shared_ptr<spdlog::logger> bare_logger(const char* name,
                                            std::shared_ptr<spdlog::sinks::sink> sink) {
  auto l = std::make_shared<spdlog::logger>(name, std::move(sink));
  l->set_pattern("%n: %v");
  l->set_level(spdlog::level::trace);
  return l;
}

TEST(SyslogSink, SendsRfc3164LinesWithFacilityMailAndTag) {
  Receiver r;
  auto l = bare_logger("smtp", log::make_syslog_sink(r.path, 2, "sigild"));
  const std::string pid = std::to_string(::getpid());
  const std::regex ts(R"(^<(\d+)>[A-Z][a-z]{2} [ 123]\d \d\d:\d\d:\d\d sigild\[(\d+)\]: (.*)$)");
  struct {
    spdlog::level::level_enum level;
    int pri;  // mail (2) * 8 + severity
  } cases[] = {{spdlog::level::info, 22}, {spdlog::level::warn, 20}, {spdlog::level::err, 19},
               {spdlog::level::critical, 18}, {spdlog::level::debug, 23}};
  for (auto c : cases) {
    l->log(c.level, "hello {}", c.pri);
    std::string got = r.next();
    std::smatch m;
    ASSERT_TRUE(std::regex_match(got, m, ts)) << got;
    EXPECT_EQ(m[1], std::to_string(c.pri)) << got;
    EXPECT_EQ(m[2], pid) << got;
    EXPECT_EQ(m[3], "smtp: hello " + std::to_string(c.pri)) << got;
  }
}

TEST(SyslogSink, FacilityLocal3) {
  Receiver r;
  auto l = bare_logger("msg", log::make_syslog_sink(r.path, 19, "sigild"));
  l->info("x");
  EXPECT_EQ(r.next().substr(0, 5), "<158>") << "local3 (19) * 8 + info (6)";
}

TEST(SyslogSink, ReconnectsWhenTheDaemonMadeANewSocket) {
  Receiver r;
  auto l = bare_logger("sigild", log::make_syslog_sink(r.path, 2, "sigild"));
  l->info("before");
  EXPECT_NE(r.next().find("sigild: before"), std::string::npos);
  r.rebind();
  l->info("after");
  EXPECT_NE(r.next().find("sigild: after"), std::string::npos);
}

TEST(SyslogSink, NoDaemonWritesTheLineToStderr) {
  auto l = bare_logger("smtp", log::make_syslog_sink("/nonexistent/sigil-test.sock", 2, "sigild"));
  testing::internal::CaptureStderr();
  l->warn("kept");
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(err, "sigild[" + std::to_string(::getpid()) + "]: smtp: kept\n");
}

constexpr const char* kListener = "[[listener]]\nname = \"a\"\naddress = \"127.0.0.1:10024\"\n";

conf::Config load(const std::string& daemon_keys) {
  auto c = conf::load_string("[daemon]\n" + daemon_keys + kListener, "t.toml");
  EXPECT_TRUE(c) << (c ? "" : c.error().message);
  return c ? std::move(c.value()) : conf::Config{};
}

std::string load_error(const std::string& daemon_keys) {
  auto c = conf::load_string("[daemon]\n" + daemon_keys + kListener, "t.toml");
  return c ? std::string("accepted") : c.error().message;
}

TEST(LogConfig, KeysAndDefaults) {
  auto d = load("").daemon;
  EXPECT_EQ(d.log_target, conf::LogTarget::Stderr);
  EXPECT_EQ(d.log_facility, 2);
  EXPECT_EQ(d.syslog_socket, "/dev/log");
  d = load("log_target = \"syslog\"\nlog_facility = \"local3\"\nsyslog_socket = \"/run/x.sock\"\n")
          .daemon;
  EXPECT_EQ(d.log_target, conf::LogTarget::Syslog);
  EXPECT_EQ(d.log_facility, 19);
  EXPECT_EQ(d.syslog_socket, "/run/x.sock");
  EXPECT_EQ(load("log_target = \"journal\"\n").daemon.log_target, conf::LogTarget::Journal);
  EXPECT_NE(load_error("log_target = \"file\"\n").find("t.toml:2:daemon.log_target: 'file': must be one of"),
            std::string::npos);
  EXPECT_NE(load_error("log_facility = \"kern\"\n").find("daemon.log_facility: 'kern'"),
            std::string::npos);
  EXPECT_NE(load_error("syslog_socket = \"dev/log\"\n").find("daemon.syslog_socket: must be an absolute"),
            std::string::npos);
}

// The summary line of a transaction with `n` recipients.
log::Summary summary_with(std::size_t n, const std::vector<std::pair<std::string, std::string>>& xf) {
  Envelope env;
  env.sender = "a@example.org";
  for (std::size_t i = 0; i < n; ++i)
    env.recipients.push_back({"r" + std::to_string(i) + "@example.net", {}});
  env.xforward = xf;
  ClientInfo c{"192.0.2.1", 2525, "mx.example.org", std::nullopt, false};
  return log::start_summary("ABCDEFGHJKLM", c, env, 100);
}

TEST(SummaryFields, RecipientsCappedWithTheCountBeyond) {
  auto s = summary_with(12, {});
  auto t = log::format_summary(s, false);
  EXPECT_NE(t.find(" from=<a@example.org> rcpts=12 rcpt=<r0@example.net>,<r1@example.net>,"
                   "<r2@example.net>,<r3@example.net>,<r4@example.net> rcpt_more=7 size=100 "),
            std::string::npos)
      << t;
  auto j = log::format_summary(s, true);
  EXPECT_NE(j.find(R"("rcpts":12,"rcpt":["r0@example.net","r1@example.net","r2@example.net","r3@example.net","r4@example.net"],"rcpt_more":7,)"),
            std::string::npos)
      << j;
  // Five or fewer: all listed, no rcpt_more in the text form, 0 in JSON.
  s = summary_with(2, {});
  t = log::format_summary(s, false);
  EXPECT_NE(t.find(" rcpts=2 rcpt=<r0@example.net>,<r1@example.net> size="), std::string::npos) << t;
  EXPECT_EQ(t.find("rcpt_more"), std::string::npos) << t;
  EXPECT_NE(log::format_summary(s, true).find(R"("rcpt_more":0,)"), std::string::npos);
}

TEST(SummaryFields, QueueIdFromXforwardIdent) {
  auto s = summary_with(1, {{"ADDR", "192.0.2.1"}, {"IDENT", "4Qx+2BAb"}});
  EXPECT_EQ(s.queue_id, "4Qx+Ab");  // xtext decoded
  EXPECT_NE(log::format_summary(s, false).find("id=ABCDEFGHJKLM queue_id=4Qx+Ab client="),
            std::string::npos);
  EXPECT_NE(log::format_summary(s, true).find(R"({"id":"ABCDEFGHJKLM","queue_id":"4Qx+Ab",)"),
            std::string::npos);
  // Postfix has none: the field is left out (text) or null (JSON).
  s = summary_with(1, {{"IDENT", "[UNAVAILABLE]"}});
  EXPECT_EQ(log::format_summary(s, false).find("queue_id"), std::string::npos);
  EXPECT_NE(log::format_summary(s, true).find(R"("queue_id":null,)"), std::string::npos);
  log::set_queue_id(s, "7B3C21F0A1");
  EXPECT_NE(log::format_summary(s, false).find(" queue_id=7B3C21F0A1 "), std::string::npos);
}

TEST(SummaryFields, MessageIdFromTheHeaderEscapedAndCapped) {
  HeaderIndex h(65536);
  const std::string head =
      "From: a@example.org\r\nMessage-ID:\r\n <CAB=x \"y\"@mail.example>\r\nSubject: s\r\n\r\n";
  h.feed(head);
  Envelope env;
  env.recipients.push_back({"b@example.net", {}});
  auto s = log::start_summary("ABCDEFGHJKLM", ClientInfo{}, env, 1, &h);
  EXPECT_EQ(s.message_id, "<CAB=x \"y\"@mail.example>");
  auto t = log::format_summary(s, false);
  EXPECT_NE(t.find(R"( message_id="<CAB=x \"y\"@mail.example>" size=1 )"), std::string::npos) << t;
  EXPECT_NE(log::format_summary(s, true).find(R"("message_id":"<CAB=x \"y\"@mail.example>",)"),
            std::string::npos);
  // A huge one is cut, and bytes that are not UTF-8 do not break the JSON.
  HeaderIndex big(65536);
  const std::string long_head =
      "Message-ID: <" + std::string(400, 'x') + "\xff@e>\r\n\r\n";
  big.feed(long_head);
  s = log::start_summary("ABCDEFGHJKLM", ClientInfo{}, env, 1, &big);
  EXPECT_EQ(s.message_id.size(), log::kSummaryValueCap);
  EXPECT_EQ(s.message_id.substr(log::kSummaryValueCap - 3), "...");
  s.message_id = "<\xff\xc3\xa9@e>";
  EXPECT_NE(log::format_summary(s, true).find("\"message_id\":\"<\\ufffd\xc3\xa9@e>\""),
            std::string::npos);
  // No header: no field (text), null (JSON).
  s = log::start_summary("ABCDEFGHJKLM", ClientInfo{}, env, 1, nullptr);
  EXPECT_EQ(log::format_summary(s, false).find("message_id"), std::string::npos);
  EXPECT_NE(log::format_summary(s, true).find(R"("message_id":null,)"), std::string::npos);
}

// With log_json the summary line on stderr is the bare object: no
// timestamp, level or logger name; the other loggers keep theirs.
TEST(LogTarget, StderrJsonSummaryIsTheBareObject) {
  log::close();
  conf::DaemonConfig d;
  d.log_json = true;
  log::init(d);
  auto j = log::format_summary(summary_with(1, {}), true);
  testing::internal::CaptureStderr();
  log::summary_logger().info("{}", j);
  log::main().info("started");
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(err.substr(0, err.find('\n') + 1), j + "\n");
  EXPECT_TRUE(std::regex_search(err, std::regex(R"(\n\d{4}-\d\d-\d\dT[0-9:.]+ info sigild: started\n$)")))
      << err;
  // A reload back to text puts the prefix back on the summary.
  d.log_json = false;
  log::init(d);
  testing::internal::CaptureStderr();
  log::summary_logger().info("id=X");
  err = testing::internal::GetCapturedStderr();
  EXPECT_TRUE(std::regex_match(err, std::regex(R"(\d{4}-\d\d-\d\dT[0-9:.]+ info msg: id=X\n)"))) << err;
  log::close();
}

// The journal cannot run here (no systemd as PID 1, no journald): the
// journal target is selected, and with no journal socket each line goes to
// stderr with the tag instead of being lost or crashing the daemon.
TEST(LogTarget, JournalWithoutAJournalFallsBackToStderr) {
  if (std::filesystem::exists("/run/systemd/journal/socket"))
    GTEST_SKIP() << "a journal runs on this machine: the fallback cannot be shown";
  log::close();
  conf::DaemonConfig d;
  d.log_target = conf::LogTarget::Journal;
  d.log_json = true;
  log::init(d);
  const std::string tag = "sigild[" + std::to_string(::getpid()) + "]: ";
  testing::internal::CaptureStderr();
  log::main().warn("no journal");
  log::summary_logger().info("{}", "{\"id\":\"X\"}");
  std::string err = testing::internal::GetCapturedStderr();
  EXPECT_EQ(err, tag + "sigild: no journal\n" + tag + "{\"id\":\"X\"}\n");
  log::close();
}

// A reload keeps the target it started with (and says so).
TEST(LogTarget, ReloadKeepsTheTarget) {
  Receiver r;
  log::close();
  conf::DaemonConfig d;
  d.log_target = conf::LogTarget::Syslog;
  d.syslog_socket = r.path;
  log::init(d);
  d.log_target = conf::LogTarget::Stderr;
  log::init(d);
  EXPECT_NE(r.next().find("sigild: reload: log_target, log_facility and syslog_socket take effect only on restart"),
            std::string::npos);
  log::smtp().info("still syslog");
  EXPECT_NE(r.next().find("]: smtp: still syslog"), std::string::npos);
  log::close();
}

}  // namespace
}  // namespace sigil::filter
