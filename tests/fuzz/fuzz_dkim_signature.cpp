// tests/fuzz/fuzz_dkim_signature.cpp — DKIM-Signature tag parsing
// (dkim/signature_parse): the whole field through parse_signature, its
// value through parse_tag_list.
// Properties: a usable signature has a domain, a selector and the key name
// made of them; its b= holds no white space; a tag list that parsed has no
// duplicate names; a header.b prefix is a prefix of b= and at least 8
// characters when b= is.
#include <set>
#include <string>
#include <vector>

#include "dkim/signature_parse.hpp"
#include "fuzz_check.hpp"

using namespace sigil::dkim::detail;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view in = sigil::fuzz::as_text(data, size);
  const std::string field = "DKIM-Signature: " + std::string(in);
  const ParsedSig sig = parse_signature(field);
  if (sig.ok) {
    FUZZ_CHECK(!sig.domain.empty() && !sig.selector.empty());
    FUZZ_CHECK(sig.qname == key_qname(sig.selector, sig.domain));
    FUZZ_CHECK(sig.b.find_first_of(" \t\r\n") == std::string::npos);
  } else {
    FUZZ_CHECK(!sig.error.empty());
  }
  TagList tags;
  std::string error;
  if (parse_tag_list(in, tags, error)) {
    std::set<std::string> names;
    for (const auto& [n, v] : tags.tags) FUZZ_CHECK(names.insert(n).second);
  }
  // The same field twice, and once with another b=: the prefixes tell them apart.
  const std::vector<ParsedSig> sigs = {sig, sig, parse_signature(field + "; b=x")};
  for (std::size_t i = 0; i < sigs.size(); ++i) {
    const std::string p = b_prefix(sigs, i);
    FUZZ_CHECK(sigs[i].b.starts_with(p));
    FUZZ_CHECK(p.size() >= 8 || p == sigs[i].b);
  }
  return 0;
}
