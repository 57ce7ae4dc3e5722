// tests/fuzz/fuzz_auth_results.cpp — the Authentication-Results writer and
// the authserv-id check (dkim/auth_results).  The results are built as the
// verifier builds them: from DKIM-Signature fields read by parse_signature
// (the fuzzer's), with a result, a reason and key facts it chooses.
// Properties: the field is ASCII, ends in CRLF, every other line end is a
// fold (CRLF then WSP) and no CR or LF stands alone; it claims our
// authserv-id; an arbitrary field checked with claims_authserv_id does not
// crash.  Not asserted: lines of at most 998 octets (a known open defect).
#include <fuzzer/FuzzedDataProvider.h>

#include <string>
#include <vector>

#include "dkim/signature_parse.hpp"
#include "dkim/verifier.hpp"
#include "fuzz_check.hpp"

using namespace sigil::dkim;

namespace {

bool folded_ascii(const std::string& f) {
  if (!f.ends_with("\r\n")) return false;
  for (std::size_t i = 0; i + 2 < f.size(); ++i) {
    auto u = static_cast<unsigned char>(f[i]);
    if (u >= 0x80 || u == 0x7f) return false;
    if (f[i] == '\r' && (f[i + 1] != '\n' || (f[i + 2] != ' ' && f[i + 2] != '\t'))) return false;
    if (f[i] == '\n' && f[i - 1] != '\r') return false;
    if (u < 0x20 && f[i] != '\r' && f[i] != '\n' && f[i] != '\t') return false;
  }
  return true;
}

SignatureResult result_of(const std::vector<detail::ParsedSig>& sigs, std::size_t i,
                          FuzzedDataProvider& in) {
  const detail::ParsedSig& p = sigs[i];
  SignatureResult r;
  r.domain = p.domain;
  r.selector = p.selector;
  r.algorithm = p.algorithm;
  r.identity = p.identity;
  r.b_prefix = detail::b_prefix(sigs, i);
  r.body_length = p.l;
  r.result = static_cast<AuthResult>(in.ConsumeIntegralInRange<int>(0, 6));
  r.reason = p.ok ? in.ConsumeRandomLengthString(300) : p.error;
  r.key_bits = in.ConsumeBool() ? in.ConsumeIntegralInRange<unsigned>(512, 16384) : 0;
  r.key_testing = in.ConsumeBool();
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  FuzzedDataProvider in(data, size);
  // A token, as conf/ allows for [dkim_verify] authserv_id.
  std::string id = in.ConsumeBool() ? "mx.example.org" : "Sigil-1";
  const std::string other = in.ConsumeRandomLengthString(200);
  FUZZ_CHECK(!claims_authserv_id(other, id) || other.find(':') != std::string::npos);

  std::vector<detail::ParsedSig> sigs;
  const int n = in.ConsumeIntegralInRange(0, 4);
  for (int k = 0; k < n; ++k)
    sigs.push_back(detail::parse_signature("DKIM-Signature: " + in.ConsumeRandomLengthString(400)));
  std::vector<SignatureResult> results;
  for (std::size_t i = 0; i < sigs.size(); ++i) results.push_back(result_of(sigs, i, in));

  const std::string ar = authentication_results(id, results);
  FUZZ_CHECK(ar.starts_with("Authentication-Results: "));
  FUZZ_CHECK(folded_ascii(ar));
  FUZZ_CHECK(claims_authserv_id(ar, id));
  return 0;
}
