// keys/private_key.hpp — DKIM private keys: load, check, generate, publish.
//
// A PrivateKey is parsed once (at load or reload) and then only shared: the
// signer never parses PEM per message (DESIGN.md §7: parsing an RSA-2048 PEM
// costs about as much as the signature itself).
//
// Implements the key rules of RFC 6376 §3.3.3 and RFC 8301 §3.2 (RSA keys of
// at least 1024 bits; Sigil warns below 2048) and RFC 8463 (Ed25519, whose
// DNS record carries the raw 32-byte public key, not a SubjectPublicKeyInfo).
// A key file readable by group or others is refused: the private key is the
// domain's identity.
// Does not: read the signing table, sign, or do DNS (dkim/, dns/).
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "conf/result.hpp"

struct evp_pkey_st;

namespace sigil::keys {

enum class KeyType { Rsa, Ed25519 };

const char* to_string(KeyType t) noexcept;  // "rsa", "ed25519" (the k= tag)

class PrivateKey {
 public:
  KeyType type() const { return type_; }
  unsigned bits() const { return bits_; }  // RSA modulus size; 256 for Ed25519
  // True when the key is usable but below today's recommendation (RSA < 2048).
  bool weak() const { return type_ == KeyType::Rsa && bits_ < 2048; }
  const std::string& source() const { return source_; }
  evp_pkey_st* get() const { return pkey_.get(); }

  // The p= value of the DNS record: base64 of the SubjectPublicKeyInfo DER
  // (RSA, RFC 6376 §3.6.1) or of the raw 32-byte public key (Ed25519,
  // RFC 8463 §4).
  std::string public_key_base64() const;
  // "v=DKIM1; k=rsa; p=..." (RFC 6376 §3.6.1).
  std::string dns_record() const;

  // Signs a SHA-256 digest and returns the raw signature bytes:
  // RSASSA-PKCS1-v1_5 with the SHA-256 DigestInfo (RSA), or Ed25519 over the
  // 32 digest bytes (RFC 8463 §3: PureEdDSA of the SHA-256 hash).  The RSA
  // signing contexts (padding, digest) are prepared once and reused, one per
  // concurrent signer, so a message costs only the signature itself.
  // Thread-safe: several threads may sign with one key at once.
  // Failure (Internal): OpenSSL refused (message names the key's source).
  Result<std::string> sign_digest(const unsigned char* digest, std::size_t len) const;

 private:
  friend Result<std::shared_ptr<const PrivateKey>> parse_private_key(std::string_view pem,
                                                                     const std::string& source);
  KeyType type_ = KeyType::Rsa;
  unsigned bits_ = 0;
  std::string source_;
  std::shared_ptr<evp_pkey_st> pkey_;
  struct SignCache;
  std::shared_ptr<SignCache> cache_;
};

using KeyPtr = std::shared_ptr<const PrivateKey>;

// Parses a PEM private key (PKCS#8 or traditional RSA).  Failure (Config):
// not a PEM private key, an unsupported type (only RSA and Ed25519), or an
// RSA key under 1024 bits (RFC 8301).  `source` names the key in messages.
Result<KeyPtr> parse_private_key(std::string_view pem, const std::string& source);

// Reads and parses a key file.  Failure (Config): the file is missing or
// unreadable, is not a regular file, is readable or writable by group or
// others ("chmod 600 FILE"), is owned by neither root nor `daemon_uid`
// (key_owner.hpp: "chown USER FILE"), or any parse_private_key failure.
Result<KeyPtr> load_private_key(const std::string& path, uid_t daemon_uid);
// The same with the effective uid as the daemon user.
Result<KeyPtr> load_private_key(const std::string& path);

// Generates a new key as PEM (PKCS#8).  RSA: `bits` from 1024 to 8192.
// Failure (Config): bad size; (Internal): OpenSSL failed.
Result<std::string> generate_private_key(KeyType type, unsigned bits = 2048);

// The TXT record in zone-file form, split into strings of at most 255 bytes
// (RFC 1035 §3.3.14), e.g.
//   sel._domainkey.example.com. IN TXT ( "v=DKIM1; k=rsa; p=MIIB..." "..." )
std::string zone_file_record(std::string_view selector, std::string_view domain,
                             std::string_view record);

}  // namespace sigil::keys
