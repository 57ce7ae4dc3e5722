// dkim/key_record.cpp — see key_record.hpp.
#include "dkim/key_record.hpp"

#include <openssl/decoder.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <cstring>
#include <string_view>
#include <vector>

#include "conf/ascii.hpp"
#include "dkim/signature_parse.hpp"

namespace sigil::dkim::detail {

namespace {

std::string base64(const unsigned char* p, std::size_t n) {
  std::string out(4 * ((n + 2) / 3), '\0');
  int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), p, static_cast<int>(n));
  out.resize(static_cast<std::size_t>(len < 0 ? 0 : len));
  return out;
}

bool unbase64(std::string_view s, std::string& out) {
  if (s.empty() || s.size() % 4 != 0) return false;
  out.assign(s.size() / 4 * 3, '\0');
  int len = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                            reinterpret_cast<const unsigned char*>(s.data()),
                            static_cast<int>(s.size()));
  if (len < 0) return false;
  std::size_t pad = 0;
  if (s.back() == '=') ++pad;
  if (s.size() >= 2 && s[s.size() - 2] == '=') ++pad;
  out.resize(static_cast<std::size_t>(len) - pad);
  return true;
}

// p= given as a PKCS#1 RSAPublicKey instead of a SubjectPublicKeyInfo: RFC
// 6376's text names RSAPublicKey while signers publish SPKI, and some
// verifiers (dkimpy, go-msgauth) accept both; libopendkim reads SPKI only.
// Returns the SPKI form, base64, or "" when `der` is not a PKCS#1 RSA key.
std::string pkcs1_to_spki(const std::string& der) {
  EVP_PKEY* pkey = nullptr;
  OSSL_DECODER_CTX* dctx = OSSL_DECODER_CTX_new_for_pkey(
      &pkey, "DER", "type-specific", "RSA", EVP_PKEY_PUBLIC_KEY, nullptr, nullptr);
  if (dctx == nullptr) return {};
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  std::size_t len = der.size();
  int ok = OSSL_DECODER_from_data(dctx, &p, &len);
  OSSL_DECODER_CTX_free(dctx);
  if (ok != 1 || pkey == nullptr || len != 0) {
    EVP_PKEY_free(pkey);
    return {};
  }
  unsigned char* spki = nullptr;
  int n = i2d_PUBKEY(pkey, &spki);
  EVP_PKEY_free(pkey);
  if (n <= 0) return {};
  std::string out = base64(spki, static_cast<std::size_t>(n));
  OPENSSL_free(spki);
  return out;
}

// True when `der` opens like a PKCS#1 RSAPublicKey (SEQUENCE { INTEGER ...)
// rather than a SubjectPublicKeyInfo (SEQUENCE { SEQUENCE ...): a look at
// the first tags only, so the key is not decoded twice per message.
bool looks_pkcs1(const std::string& der) {
  if (der.size() < 4 || static_cast<unsigned char>(der[0]) != 0x30) return false;
  auto len = static_cast<unsigned char>(der[1]);
  std::size_t pos = 2;
  if (len & 0x80) pos += len & 0x7f;
  return pos < der.size() && static_cast<unsigned char>(der[pos]) == 0x02;
}

}  // namespace

// Picks the key record among the TXT records (RFC 6376 §6.1.2 lets the
// verifier choose): the first that parses as a tag list and starts with
// v=DKIM1 or has p=.  The record handed to libopendkim is rebuilt from the
// tags it uses (v, k, h, s, t, p; FWS removed; unknown tags, which verifiers
// ignore anyway, dropped) so that more keys fit its 1 KiB buffer.
KeyUse use_key_answer(const KeyAnswer& a, std::size_t buflen) {
  KeyUse u;
  switch (a.kind) {
    case KeyAnswer::Kind::NotFound:
      u.kind = KeyUse::Kind::NotFound;
      u.reason = a.reason.empty() ? "no key record" : "no key record: " + a.reason;
      return u;
    case KeyAnswer::Kind::TempFail:
      u.kind = KeyUse::Kind::TempFail;
      u.reason = a.reason.empty() ? "key lookup failed" : "key lookup failed: " + a.reason;
      return u;
    case KeyAnswer::Kind::PermFail:
      u.kind = KeyUse::Kind::PermFail;
      u.reason = a.reason.empty() ? "key lookup failed" : "key lookup failed: " + a.reason;
      return u;
    case KeyAnswer::Kind::Ok:
      break;
  }
  const TagList* chosen = nullptr;
  std::vector<TagList> parsed(a.records.size());
  std::size_t index = 0;
  bool malformed = false;
  for (std::size_t i = 0; i < a.records.size(); ++i) {
    std::string err;
    if (!parse_tag_list(a.records[i], parsed[i], err)) {
      malformed = true;
      continue;
    }
    const auto& tags = parsed[i].tags;
    bool v1 = !tags.empty() && tags.front().first == "v" && tags.front().second == "DKIM1";
    if (v1 || parsed[i].find("p")) {
      chosen = &parsed[i];
      index = i;
      break;
    }
  }
  if (chosen == nullptr) {
    u.kind = KeyUse::Kind::NoRecord;
    u.reason = malformed ? "malformed key record" : "no DKIM key record";
    return u;
  }
  if (a.records.size() > 1)
    u.note = std::to_string(a.records.size()) + " TXT records, used #" + std::to_string(index + 1);
  std::string rec;
  auto add = [&](const char* name) {
    if (auto v = chosen->find(name)) {
      std::string val = strip_fws(*v);
      if (std::strcmp(name, "p") == 0) {
        auto k = chosen->find("k");
        std::string der;
        if ((k == nullptr || ascii::lower(strip_fws(*k)) == "rsa") && unbase64(val, der) &&
            looks_pkcs1(der)) {
          std::string spki = pkcs1_to_spki(der);
          if (!spki.empty()) {
            val = spki;
            u.note += std::string(u.note.empty() ? "" : "; ") + "p= in PKCS#1 form";
          }
        }
      }
      if (!rec.empty()) rec += ';';
      rec += name;
      rec += '=';
      rec += val;
    }
  };
  for (const char* n : {"v", "k", "h", "s", "t", "p"}) add(n);
  if (rec.size() + 1 > buflen) {
    u.kind = KeyUse::Kind::TooLong;
    u.reason = "key record too long (" + std::to_string(rec.size()) + " bytes)";
    return u;
  }
  u.kind = KeyUse::Kind::Ok;
  u.record = std::move(rec);
  return u;
}

}  // namespace sigil::dkim::detail
