// tests/dkim/corpus_test.cpp — the public DKIM corpus (tests/dkim/corpus,
// see its README.md) through Sigil's verifier.
//
// Every row of cases.tsv is one signature of one message.  The message is
// verified with keys served from the row's dns.tsv (NXDOMAIN and names not
// in the table: NotFound; ~~SERVFAIL~~, ~~TIMEOUT~~, ~~Query timed out~~:
// TempFail) and our result for that signature is compared with `expected`:
//   pass/fail/permerror/temperror/none  exactly;
//   (msg) X     the message-level result (pass: some signature passes;
//               fail/not pass: none does);
//   not pass    anything but pass;
//   ?           not asserted (counted apart).
// DomainKey-Signature rows (RFC 4870, historic) must give no result (none).
// Where we disagree the row must be in kExceptions below, with our result
// and the reason; an exception that no longer disagrees, or whose result is
// not what we give, fails the test too, so the table stays honest.
//
// The clock is the real one: verify_time (stalwart: 1667843664) is not
// simulated, so x= that had not yet passed then has passed now.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <sstream>

#include "conf/ascii.hpp"
#include "dkim/verifier.hpp"
#include "test_util.hpp"

using namespace sigil;
using dkim::AuthResult;
using dkim::KeyAnswer;
using dkim::KeyRequest;
using dkim::SignatureResult;

namespace {

const std::string kCorpus = std::string(SIGIL_SOURCE_DIR) + "/tests/dkim/corpus/";

std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

using test::DnsTable;
using test::load_dns;
using test::serve;

// The types of the message's signature fields, top first ("DKIM" or
// "DomainKey"), bare LF taken as CRLF.
std::vector<std::string> signature_fields(const std::string& msg) {
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < msg.size()) {
    auto eol = msg.find('\n', pos);
    if (eol == std::string::npos) eol = msg.size();
    std::string line = msg.substr(pos, eol - pos);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) break;
    auto colon = line.find(':');
    if (colon != std::string::npos && line[0] != ' ' && line[0] != '\t') {
      std::string name = line.substr(0, colon);
      while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.pop_back();
      name = ascii::lower(name);
      if (name == "dkim-signature") out.push_back("DKIM");
      if (name == "domainkey-signature") out.push_back("DomainKey");
    }
    pos = eol + 1;
  }
  return out;
}

struct Row {
  std::map<std::string, std::string> col;
  const std::string& operator[](const std::string& k) const {
    static const std::string empty;
    auto it = col.find(k);
    return it == col.end() ? empty : it->second;
  }
  std::string key() const { return col.at("file") + "#" + col.at("sig"); }
};

std::vector<Row> load_cases() {
  std::vector<Row> rows;
  std::istringstream in(slurp(kCorpus + "cases.tsv"));
  std::string line;
  std::vector<std::string> names;
  auto split = [](const std::string& l) {
    std::vector<std::string> v;
    std::size_t p = 0;
    for (;;) {
      auto t = l.find('\t', p);
      v.push_back(l.substr(p, t == std::string::npos ? std::string::npos : t - p));
      if (t == std::string::npos) break;
      p = t + 1;
    }
    return v;
  };
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    auto v = split(line);
    if (names.empty()) {
      names = v;
      continue;
    }
    Row r;
    for (std::size_t i = 0; i < names.size() && i < v.size(); ++i) r.col[names[i]] = v[i];
    rows.push_back(std::move(r));
  }
  return rows;
}

// Where we differ from `expected`: our result and why.  Keyed by
// "file#sig".  Grouped by reason; the observed columns (dkimpy, Mail::DKIM,
// OpenDKIM, go-msgauth) and observed-details.tsv were read for each.
struct Exception {
  const char* result;  // what we give
  const char* why;
};

const char* const kSha1 =
    "rsa-sha1: RFC 8301 §3.1 (verifiers MUST NOT consider rsa-sha1 signatures valid); it "
    "verifies cryptographically (Mail::DKIM, OpenDKIM pass; go-msgauth refuses sha1 too), so "
    "`policy`";
const char* const kSha1Small =
    "rsa-sha1 with a 512-bit key: RFC 8301 §3.1 and §3.2 (keys under 1024 bits MUST NOT be "
    "accepted); it verifies cryptographically (Mail::DKIM, OpenDKIM pass; go-msgauth refuses the "
    "key), so `policy`";
const char* const kDraft00 =
    "pre-RFC draft-00 signature without v=: RFC 6376 §3.5 makes v= REQUIRED (dkimpy, OpenDKIM, "
    "go-msgauth permerror; upstream Mail::DKIM skips these tests)";
const char* const kDraft01 =
    "pre-RFC draft (ietf-01) signature without v=: RFC 6376 §3.5 makes v= REQUIRED; dkimpy, "
    "OpenDKIM and go-msgauth say permerror too (Mail::DKIM still reads the draft)";
const char* const kV05 =
    "draft v=0.5 signature: RFC 6376 §3.5 defines v=1 only (dkimpy permerror; OpenDKIM's filter "
    "accepts 0.5 with DKIM_LIBFLAGS_ACCEPTV05, which Sigil does not set); rsa-sha1 as well";
const char* const kG =
    "g= (RFC 4871 key granularity) was removed by RFC 6376 and is ignored (dkimpy, OpenDKIM "
    "pass); the signature is rsa-sha1 with a 512-bit key, hence `policy` (RFC 8301)";
const char* const kDnsTemp =
    "DNS timeout/SERVFAIL is temporary: RFC 6376 §6.1.2 (TEMPFAIL, key unavailable), as "
    "dkimpy, OpenDKIM and go-msgauth say; Mail::DKIM's `invalid` lumps it with permanent errors";
const char* const kClock =
    "verify_time is in the past and x= has passed: upstream verifies at t=1667843664, we use the "
    "real clock (x= expired 2022-11-08; go-msgauth, OpenDKIM at real time: permerror too)";
const char* const kSigLimit =
    "rspamd's own limit on the number of signatures (policy, not RFC; the junk ones count): "
    "Sigil verifies up to max_signatures = 8, so the 6th, good signature passes (dkimpy, "
    "Mail::DKIM pass it too)";
const char* const kKeyBuffer =
    "8192-bit key: libopendkim copies the key record into a 1 KiB buffer (dkim_get_key), so the "
    "key cannot be handed over: permerror \"key record too long\" (RFC 8301 §3.2 only requires "
    "1024..4096 bits; OpenDKIM also permerror)";

const std::map<std::string, Exception> kExceptions = {
    // --- Mail::DKIM: RFC 8301 (rsa-sha1, keys under 1024 bits).
    {"mail-dkim/corpus/good_83176.txt#0", {"policy", kSha1}},
    {"mail-dkim/corpus/multiple_2.txt#1", {"policy", kSha1}},
    {"mail-dkim/corpus/good_1878523.txt#0", {"policy", kSha1Small}},
    {"mail-dkim/corpus/good_qp_1.txt#0", {"policy", kSha1Small}},
    {"mail-dkim/corpus/good_qp_2.txt#0", {"policy", kSha1Small}},
    {"mail-dkim/corpus/good_qp_3.txt#0", {"policy", kSha1Small}},
    {"mail-dkim/corpus/good_rfc4871_3.txt#0", {"policy", kSha1Small}},
    {"mail-dkim/corpus/good_rfc4871_4.txt#0", {"policy", kSha1Small}},
    {"mail-dkim/corpus/goodkey_1.txt#0", {"policy", kSha1Small}},
    {"mail-dkim/corpus/goodkey_2.txt#0", {"policy", kSha1Small}},
    {"mail-dkim/corpus/goodkey_3.txt#0", {"policy", kSha1Small}},
    {"mail-dkim/corpus/goodkey_4.txt#0", {"policy", kSha1Small}},
    // --- Mail::DKIM: g=, removed by RFC 6376.
    {"mail-dkim/corpus/badkey_8.txt#0", {"policy", kG}},
    {"mail-dkim/corpus/badkey_9.txt#0", {"policy", kG}},
    {"mail-dkim/corpus/badkey_12.txt#0", {"policy", kG}},
    {"mail-dkim/corpus/badkey_13.txt#0", {"policy", kG}},
    // --- Mail::DKIM: pre-RFC drafts.
    {"mail-dkim/corpus/good_ietf00_1.txt#0", {"permerror", kDraft00}},
    {"mail-dkim/corpus/good_ietf00_2.txt#0", {"permerror", kDraft00}},
    {"mail-dkim/corpus/good_ietf00_3.txt#0", {"permerror", kDraft00}},
    {"mail-dkim/corpus/good_ietf00_4.txt#0", {"permerror", kDraft00}},
    {"mail-dkim/corpus/good_ietf00_5.txt#0", {"permerror", kDraft00}},
    {"mail-dkim/corpus/bad_1.txt#0", {"permerror", kDraft01}},
    {"mail-dkim/corpus/bad_ietf01_1.txt#0", {"permerror", kDraft01}},
    {"mail-dkim/corpus/bad_ietf01_2.txt#0", {"permerror", kDraft01}},
    {"mail-dkim/corpus/bad_ietf01_3.txt#0", {"permerror", kDraft01}},
    {"mail-dkim/corpus/good_ietf01_1.txt#0", {"permerror", kDraft01}},
    {"mail-dkim/corpus/good_ietf01_2.txt#0", {"permerror", kDraft01}},
    {"mail-dkim/corpus/mine_ietf01_1.txt#0", {"permerror", kDraft01}},
    {"mail-dkim/corpus/mine_ietf01_2.txt#0", {"permerror", kDraft01}},
    {"mail-dkim/corpus/mine_ietf01_3.txt#0", {"permerror", kDraft01}},
    {"mail-dkim/corpus/mine_ietf01_4.txt#0", {"permerror", kDraft01}},
    {"mail-dkim/corpus/multiple_1.txt#0", {"permerror", kDraft01}},
    {"mail-dkim/corpus/multiple_1.txt#1", {"permerror", kDraft01}},
    {"mail-dkim/corpus/multiple_1.txt#2", {"permerror", kDraft01}},
    {"mail-dkim/corpus/multiple_1.txt#3", {"permerror", kDraft01}},
    {"mail-dkim/corpus/mine_ietf05_1.txt#0", {"permerror", kV05}},
    {"mail-dkim/corpus/no_body_1.txt#0", {"permerror", kV05}},
    {"mail-dkim/corpus/no_body_2.txt#0", {"permerror", kV05}},
    {"mail-dkim/corpus/no_body_3.txt#0", {"permerror", kV05}},
    // --- Mail::DKIM: DNS errors, expiry.
    {"mail-dkim/corpus/badkey_14.txt#0", {"temperror", kDnsTemp}},
    {"mail-dkim/corpus/badkey_15.txt#0", {"temperror", kDnsTemp}},
    // --- stalwart: the clock.
    {"stalwart-mail-auth/005.eml#0", {"permerror", kClock}},
    // --- rspamd: its own limits.
    {"rspamd/dkim_many_sigs.eml#0", {"permerror", kSigLimit}},
    {"rspamd/dkim_many_sigs.eml#1", {"permerror", kSigLimit}},
    {"rspamd/dkim_many_sigs.eml#2", {"permerror", kSigLimit}},
    {"rspamd/dkim_many_sigs.eml#3", {"permerror", kSigLimit}},
    {"rspamd/dkim_many_sigs.eml#4", {"permerror", kSigLimit}},
    {"rspamd/dkim_many_sigs.eml#5", {"pass", kSigLimit}},
    {"rspamd/dkim_key_wide_ok.eml#0", {"permerror", kKeyBuffer}},
};

AuthResult parse_result(const std::string& s) {
  if (s == "pass") return AuthResult::Pass;
  if (s == "fail") return AuthResult::Fail;
  if (s == "policy") return AuthResult::Policy;
  if (s == "neutral") return AuthResult::Neutral;
  if (s == "temperror") return AuthResult::TempError;
  if (s == "permerror") return AuthResult::PermError;
  return AuthResult::None;
}

struct Tally {
  int agree = 0, exceptions = 0, unasserted = 0, domainkey = 0, skipped = 0;
};

}  // namespace

TEST(DkimCorpus, EveryCaseAgreesOrIsAnExplainedException) {
  auto rows = load_cases();
  ASSERT_GT(rows.size(), 100u) << "cases.tsv missing or short";
  auto lib = dkim::VerifierLib::create({});
  ASSERT_TRUE(lib) << lib.error().message;

  std::map<std::string, DnsTable> tables;
  std::map<std::string, std::vector<SignatureResult>> results;  // by file
  std::map<std::string, std::vector<std::string>> fields;       // by file
  std::map<std::string, Tally> tally;                           // by corpus
  std::set<std::string> exceptions_used;
  std::ostringstream report;

  for (const auto& row : rows) {
    const std::string& file = row["file"];
    const std::string& type = row["type"];
    const std::string& corpus = row["corpus"];
    auto& t = tally[corpus];
    const std::string dns_path = kCorpus + row["dns"];
    if (!std::filesystem::exists(dns_path) || !std::filesystem::exists(kCorpus + file)) {
      ++t.skipped;
      continue;
    }
    if (!tables.count(row["dns"])) tables[row["dns"]] = load_dns(dns_path);
    const DnsTable& table = tables[row["dns"]];
    // One verification per (file, table).
    const std::string vkey = file + "|" + row["dns"];
    if (!results.count(vkey)) {
      std::string msg = slurp(kCorpus + file);
      fields[vkey] = signature_fields(msg);
      results[vkey] = dkim::verify_message(
          *lib, msg, [&](const KeyRequest& k) { return serve(table, k); });
      std::size_t dkim_fields = 0;
      for (const auto& f : fields[vkey]) dkim_fields += f == "DKIM";
      EXPECT_EQ(results[vkey].size(), dkim_fields)
          << file << ": one result per DKIM-Signature field (default max_signatures)";
    }
    const auto& rs = results[vkey];
    const auto& fs = fields[vkey];

    // Our result for this row's signature (None: no result for it).
    AuthResult ours = AuthResult::None;
    std::string our_reason;
    if (row["sig"] != "-") {
      std::size_t k = std::stoul(row["sig"]);
      ASSERT_LT(k, fs.size()) << row.key();
      std::size_t idx = 0;
      for (std::size_t j = 0; j < k; ++j) idx += fs[j] == "DKIM";
      if (fs[k] == "DKIM" && idx < rs.size()) {
        ours = rs[idx].result;
        our_reason = rs[idx].reason;
      }
    } else {
      EXPECT_TRUE(rs.empty()) << file << ": unsigned, want no results";
    }
    bool msg_pass = std::any_of(rs.begin(), rs.end(),
                                [](const SignatureResult& r) { return r.result == AuthResult::Pass; });

    if (type == "DomainKey") {
      EXPECT_EQ(ours, AuthResult::None) << row.key() << ": DomainKey signatures are not ours";
      ++t.domainkey;
      continue;
    }
    if (type != "DKIM" && row["sig"] != "-") continue;

    std::string expected = row["expected"];
    bool asserted = true, agree = false;
    if (expected == "?") {
      asserted = false;
    } else if (expected.rfind("(msg) ", 0) == 0) {
      std::string m = expected.substr(6);
      agree = m == "pass" ? msg_pass : !msg_pass;
    } else if (expected == "not pass") {
      agree = ours != AuthResult::Pass;
    } else {
      agree = ours == parse_result(expected);
    }
    std::string line = row.key() + ": ours " + dkim::to_string(ours) +
                       (our_reason.empty() ? "" : " (" + our_reason + ")") + ", expected " +
                       expected + "; dkimpy " + row["dkimpy"] + ", Mail::DKIM " +
                       row["mail_dkim"] + ", OpenDKIM " + row["opendkim"];
    auto ex = kExceptions.find(row.key());
    if (!asserted) {
      ++t.unasserted;
      EXPECT_EQ(ex, kExceptions.end()) << row.key() << ": unasserted rows need no exception";
      report << "  unasserted  " << line << "\n";
      continue;
    }
    if (agree) {
      ++t.agree;
      report << "  agree       " << line << "\n";
      EXPECT_EQ(ex, kExceptions.end())
          << row.key() << ": listed as an exception but now agrees (" << line
          << "); remove it from kExceptions";
      continue;
    }
    ++t.exceptions;
    report << "  exception   " << line << "\n";
    if (ex == kExceptions.end()) {
      ADD_FAILURE() << "disagreement not in kExceptions: " << line;
      continue;
    }
    exceptions_used.insert(row.key());
    EXPECT_EQ(dkim::to_string(ours), std::string(ex->second.result))
        << row.key() << ": kExceptions says we give " << ex->second.result << " (" << line << ")";
  }
  for (const auto& [k, e] : kExceptions)
    EXPECT_TRUE(exceptions_used.count(k)) << "kExceptions entry matches no disagreeing row: " << k;

  std::cout << "DKIM corpus summary (agree / exceptions / unasserted / DomainKey→none / skipped):\n";
  Tally total;
  for (const auto& [c, t] : tally) {
    std::cout << "  " << c << ": " << t.agree << " / " << t.exceptions << " / " << t.unasserted
              << " / " << t.domainkey << " / " << t.skipped << "\n";
    total.agree += t.agree;
    total.exceptions += t.exceptions;
    total.unasserted += t.unasserted;
    total.domainkey += t.domainkey;
    total.skipped += t.skipped;
  }
  std::cout << "  total: " << total.agree << " / " << total.exceptions << " / " << total.unasserted
            << " / " << total.domainkey << " / " << total.skipped << "\n";
  if (std::getenv("SIGIL_CORPUS_REPORT")) std::cout << report.str();
}
