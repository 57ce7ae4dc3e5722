// Unit tests of filter/core/quarantine.*: ids, the file format round trip,
// refusal of files that are not ours.  e2e.quarantine runs it in sigild and
// the `sigil quarantine` commands.
#include "filter/core/quarantine.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <memory>
#include <set>

using namespace sigil;
using namespace sigil::filter;

namespace {

std::string temp_dir() {
  char tmpl[] = "/tmp/sigil-qtest.XXXXXX";
  const char* d = ::mkdtemp(tmpl);
  EXPECT_NE(d, nullptr);
  return d ? d : "";
}

std::unique_ptr<MessageStore> stored(std::string_view msg) {
  auto s = std::make_unique<MessageStore>(1 << 20, "/tmp", 1 << 20);
  EXPECT_TRUE(s->append(msg).ok());
  EXPECT_TRUE(s->finish().ok());
  return s;
}

}  // namespace

TEST(Quarantine, IdsAreRandomBase32Of80Bits) {
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i) {
    auto id = quarantine::new_id();
    EXPECT_TRUE(quarantine::valid_id(id)) << id;
    EXPECT_EQ(id.size(), 16u);
    seen.insert(id);
  }
  EXPECT_EQ(seen.size(), 1000u);
  EXPECT_FALSE(quarantine::valid_id("../../etc/passwd"));
  EXPECT_FALSE(quarantine::valid_id("AAAAAAAAAAAAAAAA"));  // upper case is not ours
  EXPECT_FALSE(quarantine::valid_id("aaaaaaaaaaaaaaa"));   // 15
  EXPECT_FALSE(quarantine::valid_id("aaaaaaaaaaaaaaa1"));  // 1 is not base32
}

TEST(Quarantine, RoundTripPlainAndGzip) {
  for (bool gz : {false, true}) {
    conf::QuarantineConfig cfg;
    cfg.dir = temp_dir() + "/q";  // created by store
    cfg.compress = gz;
    const std::string msg = "Subject: hi\r\n\r\nbody\r\n.\r\nmore\r\n";
    auto store = stored(msg);
    quarantine::Entry e;
    e.id = quarantine::new_id();
    e.log_id = "LOG1";
    e.category = "virus (av: Eicar\r\nInjected: yes) action=discard";
    e.envelope.sender = "";  // the null sender survives
    e.envelope.mail_params = {{"RET", "HDRS", true}};
    e.envelope.recipients = {{"a@example.com", {{"NOTIFY", "NEVER", true}}}, {"b@example.com", {}}};
    e.envelope.smtputf8 = true;
    e.edits.remove = {0, 7};
    e.edits.prepend = {"Authentication-Results: mx.example;\r\n\tdkim=fail reason=\"a\\\"b\"\r\n",
                       "X-Second: 1\r\n"};
    ASSERT_TRUE(quarantine::store(cfg, e, *store).ok());
    struct stat st {};
    ASSERT_EQ(::stat((cfg.dir + "/" + e.id + (gz ? ".gz" : "")).c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    std::string back;
    auto r = quarantine::read(cfg.dir, e.id, &back);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(back, msg);
    EXPECT_EQ(r->id, e.id);
    EXPECT_EQ(r->log_id, "LOG1");
    EXPECT_EQ(r->category, "virus (av: Eicar??Injected: yes) action=discard");  // one line
    EXPECT_EQ(r->envelope.sender, "");
    ASSERT_EQ(r->envelope.mail_params.size(), 1u);
    EXPECT_EQ(r->envelope.mail_params[0].key, "RET");
    ASSERT_EQ(r->envelope.recipients.size(), 2u);
    EXPECT_EQ(r->envelope.recipients[0].address, "a@example.com");
    ASSERT_EQ(r->envelope.recipients[0].params.size(), 1u);
    EXPECT_EQ(r->envelope.recipients[0].params[0].value, "NEVER");
    EXPECT_TRUE(r->envelope.recipients[1].params.empty());
    EXPECT_TRUE(r->envelope.smtputf8);
    EXPECT_EQ(r->size, msg.size());
    EXPECT_EQ(r->edits.remove, e.edits.remove);
    EXPECT_EQ(r->edits.prepend, e.edits.prepend);  // CR, LF, TAB and '\\' survive
    auto all = quarantine::list(cfg.dir);
    ASSERT_TRUE(all.ok());
    ASSERT_EQ(all->size(), 1u);
    EXPECT_EQ((*all)[0].id, e.id);
  }
}

TEST(Quarantine, ForeignFilesAreRefusedAndSkipped) {
  std::string dir = temp_dir();
  std::string id = quarantine::new_id();
  std::ofstream(dir + "/" + id) << "From: someone\r\n\r\nnot ours\r\n";
  std::ofstream(dir + "/README") << "x";
  auto r = quarantine::read(dir, id);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("not a Sigil quarantine file"), std::string::npos);
  auto all = quarantine::list(dir);
  ASSERT_TRUE(all.ok());
  EXPECT_TRUE(all->empty());
  EXPECT_FALSE(quarantine::read(dir, quarantine::new_id()).ok());  // absent
  EXPECT_FALSE(quarantine::list(dir + "/missing").ok());
}

TEST(Quarantine, StoreFailsCleanlyWhenTheDirCannotBeMade) {
  std::string dir = temp_dir();
  std::ofstream(dir + "/file") << "x";
  conf::QuarantineConfig cfg;
  cfg.dir = dir + "/file/q";
  auto store = stored("Subject: x\r\n\r\nx\r\n");
  quarantine::Entry e;
  e.id = quarantine::new_id();
  auto st = quarantine::store(cfg, e, *store);
  ASSERT_FALSE(st.ok());
  EXPECT_EQ(st.error().kind, ErrorKind::Io);
  EXPECT_NE(st.error().message.find("cannot create " + cfg.dir), std::string::npos);
}
