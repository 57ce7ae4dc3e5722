// tests/fuzz/fuzz_key_record.cpp — DKIM key records as DNS hands them over,
// read by both sides: the verifier's choice and rewriting of the record
// (dkim/key_record, use_key_answer) and the signer's "does the published
// record match this key" (dkim/key_publication, check_publication), against
// an RSA and an Ed25519 key made once.  The input is up to 4 TXT records,
// one per line; "$P" in a record stands for the key's own p= value, so
// matching records are within the fuzzer's reach.
// Properties: a record check_publication says matches is one the verifier
// takes (use_key_answer Ok, or TooLong for the library's 1 KiB buffer) and
// hands the library this key's p=; every verdict has its words.
#include <fuzzer/FuzzedDataProvider.h>

#include <string>
#include <vector>

#include "dkim/key_publication.hpp"
#include "dkim/key_record.hpp"
#include "fuzz_check.hpp"
#include "keys/private_key.hpp"

using namespace sigil;

namespace {

keys::KeyPtr make_key(keys::KeyType type) {
  auto pem = keys::generate_private_key(type, 2048);
  FUZZ_CHECK(pem.ok());
  auto key = keys::parse_private_key(*pem, "fuzz");
  FUZZ_CHECK(key.ok());
  return *key;
}

std::string with_key(std::string record, const std::string& p) {
  for (auto at = record.find("$P"); at != std::string::npos; at = record.find("$P", at + p.size()))
    record.replace(at, 2, p);
  return record;
}

void check(const keys::PrivateKey& key, const std::vector<std::string>& lines) {
  dkim::KeyAnswer a{dkim::KeyAnswer::Kind::Ok, {}, ""};
  for (const auto& l : lines) a.records.push_back(with_key(l, key.public_key_base64()));
  const auto pub = dkim::check_publication(key, a);
  FUZZ_CHECK(!pub.text().empty());
  const auto use = dkim::detail::use_key_answer(a, 1024);
  if (!pub.matches()) return;
  using Kind = dkim::detail::KeyUse::Kind;
  FUZZ_CHECK(use.kind == Kind::Ok || use.kind == Kind::TooLong);
  if (use.kind == Kind::Ok)
    FUZZ_CHECK(use.record.find("p=" + key.public_key_base64()) != std::string::npos);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const keys::KeyPtr rsa = make_key(keys::KeyType::Rsa);
  static const keys::KeyPtr ed = make_key(keys::KeyType::Ed25519);
  FuzzedDataProvider in(data, size);
  std::vector<std::string> lines;
  std::string text = in.ConsumeRemainingBytesAsString();
  for (std::size_t start = 0; start <= text.size() && lines.size() < 4;) {
    auto nl = text.find('\n', start);
    lines.push_back(text.substr(start, nl == std::string::npos ? std::string::npos : nl - start));
    if (nl == std::string::npos) break;
    start = nl + 1;
  }
  check(*rsa, lines);
  check(*ed, lines);
  return 0;
}
