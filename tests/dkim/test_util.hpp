// tests/dkim/test_util.hpp — helpers shared by the DKIM tests and tools
// (header-only):
//  - Msg / split(): a CRLF message split into header fields and body, as the
//    store indexes it (signer_test.cpp, verifier_test.cpp);
//  - DnsTable / parse_dns() / load_dns() / serve(): a corpus dns.tsv
//    (tests/dkim/corpus/README.md, "DNS tables") and the key answers served
//    from it (corpus_test.cpp, verifier_test.cpp, dkim_verify_tool.cpp).
#pragma once

#include <algorithm>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "conf/ascii.hpp"
#include "dkim/signer.hpp"  // dkim::FieldList
#include "dkim/verifier.hpp"

namespace sigil::test {

// A message split as the store indexes it.
struct Msg {
  std::vector<std::string> fields;  // with CRLF
  std::string body;
  dkim::FieldList list() const { return {fields.begin(), fields.end()}; }
};

inline Msg split(const std::string& m) {
  Msg r;
  std::size_t pos = 0;
  while (pos < m.size()) {
    auto eol = m.find("\r\n", pos);
    if (eol == std::string::npos) eol = m.size();
    if (eol == pos) {
      r.body = m.substr(pos + 2);
      return r;
    }
    std::string line = m.substr(pos, std::min(eol + 2, m.size()) - pos);
    if ((m[pos] == ' ' || m[pos] == '\t') && !r.fields.empty()) r.fields.back() += line;
    else r.fields.push_back(line);
    pos = eol + 2;
  }
  return r;
}

// A dns.tsv of the corpus: lower-cased name -> TXT values (special values
// kept as is).
using DnsTable = std::multimap<std::string, std::string>;

// NAME<TAB>VALUE lines; `#` comments, empty lines and lines without a tab
// are skipped, a CR before the LF is dropped.
inline DnsTable parse_dns(const std::string& text) {
  DnsTable t;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    auto tab = line.find('\t');
    if (tab == std::string::npos) continue;
    t.emplace(ascii::lower(line.substr(0, tab)), line.substr(tab + 1));
  }
  return t;
}

// The table in the file at `path` (empty if it cannot be read).
inline DnsTable load_dns(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_dns(ss.str());
}

// Serves a key request the way the corpus README says: a name not in the
// table or NXDOMAIN: NotFound ("NXDOMAIN"); ~~SERVFAIL~~, ~~TIMEOUT~~,
// ~~Query timed out~~: TempFail (the text between the ~~); `""`: an empty
// TXT record; anything else: the record as is.
inline dkim::KeyAnswer serve(const DnsTable& t, const dkim::KeyRequest& k) {
  using dkim::KeyAnswer;
  KeyAnswer a;
  auto [b, e] = t.equal_range(k.qname());
  if (b == e) return KeyAnswer{KeyAnswer::Kind::NotFound, {}, "NXDOMAIN"};
  for (auto it = b; it != e; ++it) {
    const std::string& v = it->second;
    if (v == "NXDOMAIN") return KeyAnswer{KeyAnswer::Kind::NotFound, {}, "NXDOMAIN"};
    if (v == "~~SERVFAIL~~" || v == "~~TIMEOUT~~" || v == "~~Query timed out~~")
      return KeyAnswer{KeyAnswer::Kind::TempFail, {}, v.substr(2, v.size() - 4)};
    a.records.push_back(v == "\"\"" ? std::string() : v);
  }
  a.kind = KeyAnswer::Kind::Ok;
  return a;
}

}  // namespace sigil::test
