// tests/filter/import_opendkim_test.cpp — the opendkim.conf parser and the
// converter to sigil.toml (filter/app/import_opendkim.hpp), without files:
// the table contents are passed in.  The result is loaded with conf::load_text
// where a test depends on Sigil accepting it.  tests/e2e/import_opendkim.sh
// runs the command on Debian's examples and signs with the result.
#include "filter/app/import_opendkim.hpp"

#include <gtest/gtest.h>

#include "conf/config.hpp"

using namespace sigil::filter;

namespace {

std::string convert(std::string_view conf, const OpendkimFiles& files = {}) {
  return convert_opendkim(parse_opendkim_conf(conf), files);
}

bool has(const std::string& out, std::string_view s) { return out.find(s) != std::string::npos; }

}  // namespace

TEST(ImportOpendkimParse, KeysValuesCommentsAndBlankLines) {
  auto s = parse_opendkim_conf(
      "# comment\n\nSyslog\t\tyes   # trailing\n  Canonicalization relaxed/simple\nMode\n");
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0].key, "Syslog");
  EXPECT_EQ(s[0].value, "yes");
  EXPECT_EQ(s[0].line, 3);
  EXPECT_EQ(s[1].key, "Canonicalization");
  EXPECT_EQ(s[1].value, "relaxed/simple");
  EXPECT_EQ(s[2].key, "Mode");
  EXPECT_EQ(s[2].value, "");
}

TEST(ImportOpendkimParse, ReferencedFilesAreTheFileDatasets) {
  auto s = parse_opendkim_conf(
      "KeyTable file:/etc/kt\nSigningTable refile:/etc/st\nInternalHosts /etc/hosts.int\n"
      "OversignHeaders csl:From\nKeyFile /etc/k.pem\nExternalIgnoreList refile:/etc/st\n");
  EXPECT_EQ(opendkim_referenced_files(s),
            (std::vector<std::string>{"/etc/kt", "/etc/st", "/etc/hosts.int"}));
}

TEST(ImportOpendkim, SingleKeySetupGivesOneKeyAndRule) {
  auto out = convert(
      "Domain example.com\nSelector s1\nKeyFile /k/ex.private\nCanonicalization relaxed\n"
      "Socket inet:8891@localhost\nOversignHeaders From\n");
  EXPECT_TRUE(has(out, "name = \"example.com-s1\"\nfile = \"/k/ex.private\"\n"
                       "domain = \"example.com\"\nselector = \"s1\"\n")) << out;
  EXPECT_TRUE(has(out, "match = [\"example.com\"]\nkeys = [\"example.com-s1\"]\n"
                       "canonicalization = \"relaxed/simple\"\n")) << out;
  EXPECT_TRUE(has(out, "oversign = [\"From\"]")) << out;
  EXPECT_TRUE(has(out, "mode = \"milter\"\naddress = \"127.0.0.1:8891\"")) << out;
  EXPECT_TRUE(has(out, "[[network]]\ncidrs = [\"127.0.0.1/32\"]\nbank = \"mynets\"")) << out;
  EXPECT_TRUE(has(out, "stages = [\"dkim-verify\"]")) << out;  // Mode defaults to sv
}

TEST(ImportOpendkim, DefaultsAreOpendkimsNotSigils) {
  auto out = convert("Domain a.example,b.example\nSelector s\nKeyFile /k\nSubDomains yes\n");
  EXPECT_TRUE(has(out, "canonicalization = \"simple/simple\"")) << out;
  EXPECT_TRUE(has(out, "oversign = []")) << out;
  EXPECT_TRUE(has(out, "headers = [\"From\", \"Reply-To\", \"Subject\"")) << out;  // §5.4.1
  EXPECT_FALSE(has(out, "\"Message-ID\"")) << out;  // not in OpenDKIM's default
  EXPECT_TRUE(has(out, "match = [\"a.example\"]")) << out;
  EXPECT_TRUE(has(out, "match = [\".b.example\"]")) << out;
  EXPECT_TRUE(has(out, "# not imported: SubDomains yes (applied")) << out;
}

TEST(ImportOpendkim, FileTablesOrderedAsOpendkimLooksUp) {
  OpendkimFiles f = {
      {"/kt", "k1 example.com:s1:/k/1.pem\n# comment\nk2\texample.net:s2:/k/2.pem\n"
              "k3 sub.example.com:s3:/k/3.pem\n"},
      {"/st", "example.com k1\n.example.com k3\nceo@example.com k2\n"}};
  auto out = convert("KeyTable file:/kt\nSigningTable file:/st\n", f);
  auto ceo = out.find("match = [\"ceo@example.com\"]");
  auto dom = out.find("match = [\"example.com\"]");
  auto sub = out.find("match = [\".example.com\"]");
  ASSERT_NE(ceo, std::string::npos) << out;
  EXPECT_LT(ceo, dom);
  EXPECT_LT(dom, sub);
  EXPECT_TRUE(has(out, "name = \"k2\"\nfile = \"/k/2.pem\"\ndomain = \"example.net\"\n"
                       "selector = \"s2\"")) << out;
}

TEST(ImportOpendkim, RefileWildcardsBecomeMatchForms) {
  OpendkimFiles f = {{"/kt", "k1 example.com:s1:/k/1.pem\n"},
                     {"/st", "*@example.com k1\n*@*.example.org k1\n*.example.net k1\n"
                             "j*@example.com k1\n* k1\n"}};
  auto out = convert("KeyTable /kt\nSigningTable refile:/st\n", f);
  EXPECT_TRUE(has(out, "match = [\"example.com\"]")) << out;
  EXPECT_TRUE(has(out, "match = [\".example.org\"]")) << out;
  EXPECT_TRUE(has(out, "match = [\".example.net\"]")) << out;
  EXPECT_TRUE(has(out, "match = [\".\"]")) << out;
  EXPECT_TRUE(has(out, "# not imported: SigningTable entry j*@example.com k1 (no Sigil match")) << out;
  EXPECT_TRUE(has(out, "# note: OpenDKIM's *.example.net leaves out example.net")) << out;
  EXPECT_LT(out.find("[\"example.com\"]"), out.find("match = [\".\"]"));
}

TEST(ImportOpendkim, MultipleSignaturesMergeOneRule) {
  OpendkimFiles f = {{"/kt", "r example.com:r:/k/r.pem\ne example.com:e:/k/e.pem\n"},
                     {"/st", "example.com r\nexample.com e\n"}};
  auto multi = convert("KeyTable /kt\nSigningTable /st\nMultipleSignatures yes\n", f);
  EXPECT_TRUE(has(multi, "keys = [\"r\", \"e\"]")) << multi;
  auto single = convert("KeyTable /kt\nSigningTable /st\n", f);
  EXPECT_TRUE(has(single, "keys = [\"r\"]")) << single;
  EXPECT_TRUE(has(single, "# not imported: SigningTable example.com e (an earlier line wins")) << single;
}

TEST(ImportOpendkim, UnknownKeysInSigningTableAndBadDomainsAreListed) {
  OpendkimFiles f = {{"/kt", "lo localhost:s:/k/l.pem\nbad\n"}, {"/st", "localhost lo\n"}};
  auto out = convert("KeyTable /kt\nSigningTable /st\n", f);
  EXPECT_FALSE(has(out, "[[key]]")) << out;
  EXPECT_FALSE(has(out, "[[signing]]")) << out;
  EXPECT_TRUE(has(out, "# not imported: KeyTable entry lo localhost:s:/k/l.pem")) << out;
  EXPECT_TRUE(has(out, "# not imported: KeyTable entry bad (not NAME")) << out;
  EXPECT_TRUE(has(out, "# not imported: SigningTable localhost lo (no imported KeyTable")) << out;
}

TEST(ImportOpendkim, HeadersReplaceOrDeltaAndAlwaysHoldFromAndOversigned) {
  auto rep = convert("Domain e.com\nSelector s\nKeyFile /k\nSignHeaders To,Subject\n"
                     "OversignHeaders Reply-To\n");
  EXPECT_TRUE(has(rep, "headers = [\"To\", \"Subject\", \"From\", \"Reply-To\"]")) << rep;
  auto delta = convert("Domain e.com\nSelector s\nKeyFile /k\nSignHeaders csl:*,+X-Tag,-Resent-Sender\n");
  EXPECT_TRUE(has(delta, "\"List-Archive\", \"X-Tag\"]")) << delta;
  EXPECT_FALSE(has(delta, "\"Resent-Sender\"")) << delta;
  EXPECT_TRUE(has(delta, "\"Resent-From\", \"Resent-To\"")) << delta;
}

TEST(ImportOpendkim, InternalHostsSocketModeAndMinimumKeyBits) {
  OpendkimFiles f = {{"/ih", "10.0.0.0/8\nmail.example.com\n::1\n!10.1.2.3\n"}};
  auto out = convert("InternalHosts file:/ih\nSocket local:/run/opendkim/opendkim.sock\n"
                     "Mode s\nMinimumKeyBits 2048\n", f);
  EXPECT_TRUE(has(out, "cidrs = [\"10.0.0.0/8\", \"::1/128\"]")) << out;
  EXPECT_TRUE(has(out, "# not imported: InternalHosts entry mail.example.com")) << out;
  EXPECT_TRUE(has(out, "# not imported: InternalHosts entry !10.1.2.3")) << out;
  EXPECT_TRUE(has(out, "address = \"unix:/run/opendkim/opendkim.sock\"")) << out;
  EXPECT_TRUE(has(out, "[bank.default]\nstages = []")) << out;  // Mode s: no verifying
  EXPECT_TRUE(has(out, "[dkim_verify]\nmin_key_bits = 2048")) << out;
  auto v6 = convert("Socket inet6:8891@[::1]\nMode v\n");
  EXPECT_TRUE(has(v6, "address = \"[::1]:8891\"")) << v6;
  EXPECT_FALSE(has(v6, "[bank.mynets]")) << v6;
  EXPECT_TRUE(has(convert("Socket inet:12345\n"), "address = \"0.0.0.0:12345\""));
  auto sample = convert("Socket inet:port@localhost\n");  // Debian's sample's placeholder
  EXPECT_TRUE(has(sample, "address = \"127.0.0.1:8891\"")) << sample;
  EXPECT_TRUE(has(sample, "# not imported: Socket inet:port@localhost (the port")) << sample;
}

TEST(ImportOpendkim, NothingIsDroppedSilently) {
  auto out = convert("Syslog yes\nUserID opendkim\nFrobnicate 3\nExternalIgnoreList refile:/x\n"
                     "SigningTable ldap://x\n");
  EXPECT_TRUE(has(out, "# not imported: Syslog yes (")) << out;
  EXPECT_TRUE(has(out, "# not imported: UserID opendkim (")) << out;
  EXPECT_TRUE(has(out, "# not imported: Frobnicate 3 (no Sigil equivalent)")) << out;
  EXPECT_TRUE(has(out, "# not imported: ExternalIgnoreList refile:/x (")) << out;
  EXPECT_TRUE(has(out, "# not imported: SigningTable ldap://x (")) << out;
}

TEST(ImportOpendkim, OutputLoadsWithoutKeys) {
  OpendkimFiles f = {{"/kt", "k1 example.com:s1:/k/1.pem\nk2 example.net:s2:/k/2.pem\n"},
                     {"/st", "*@example.com k1\n*@example.net k2\n*@*.example.net k2\n"},
                     {"/ih", "127.0.0.1\n192.0.2.0/24\n"}};
  auto out = convert("KeyTable file:/kt\nSigningTable refile:/st\nInternalHosts /ih\n"
                     "Canonicalization relaxed/relaxed\nOversignHeaders From\n"
                     "Socket inet:8891@127.0.0.1\nMinimumKeyBits 1024\nSyslog yes\n", f);
  auto cfg = sigil::conf::load_string(out, "imported.toml");
  ASSERT_TRUE(cfg) << cfg.error().message << "\n" << out;
  EXPECT_EQ(cfg->keys.size(), 2u);
  EXPECT_EQ(cfg->signing.size(), 3u);
}
