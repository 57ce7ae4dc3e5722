// keys/private_key.cpp — DKIM private keys: loading with the key rules of
// RFC 6376 §3.3.3 and RFC 8301 §3.2, generation, the digest signature, and
// the published public key record (RFC 8463 for Ed25519); see
// private_key.hpp.
// Does not: read the signing table, build DKIM-Signature fields (dkim/), or
// do DNS.
#include "keys/private_key.hpp"

#include "keys/key_owner.hpp"

#include <openssl/rsa.h>

#include <mutex>
#include <vector>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

namespace sigil::keys {

namespace {

std::string openssl_error() {
  unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

std::string base64(const unsigned char* p, std::size_t n) {
  std::string out(4 * ((n + 2) / 3) + 1, '\0');
  int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), p,
                            static_cast<int>(n));
  out.resize(static_cast<std::size_t>(len));
  return out;
}

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct CtxFree {
  void operator()(EVP_PKEY_CTX* c) const { EVP_PKEY_CTX_free(c); }
};

}  // namespace

struct PrivateKey::SignCache {
  std::mutex m;
  // Prepared RSA contexts not in use.  Each signing thread takes one (or
  // prepares a new one) and gives it back, so threads never share a context
  // and never wait for each other's signature.
  std::vector<std::unique_ptr<EVP_PKEY_CTX, CtxFree>> rsa;
};

Result<std::string> PrivateKey::sign_digest(const unsigned char* digest, std::size_t len) const {
  auto fail = [&](const char* what) {
    return make_error(ErrorKind::Internal, source_ + ": " + what + ": " + openssl_error());
  };
  std::string sig(static_cast<std::size_t>(EVP_PKEY_get_size(pkey_.get())), '\0');
  std::size_t siglen = sig.size();
  auto* out = reinterpret_cast<unsigned char*>(sig.data());
  if (type_ == KeyType::Rsa) {
    std::unique_ptr<EVP_PKEY_CTX, CtxFree> ctx;
    {
      std::lock_guard lock(cache_->m);
      if (!cache_->rsa.empty()) {
        ctx = std::move(cache_->rsa.back());
        cache_->rsa.pop_back();
      }
    }
    if (!ctx) {
      ctx.reset(EVP_PKEY_CTX_new(pkey_.get(), nullptr));
      if (!ctx || EVP_PKEY_sign_init(ctx.get()) != 1 ||
          EVP_PKEY_CTX_set_rsa_padding(ctx.get(), RSA_PKCS1_PADDING) != 1 ||
          EVP_PKEY_CTX_set_signature_md(ctx.get(), EVP_sha256()) != 1)
        return fail("RSA signing setup failed");
    }
    if (EVP_PKEY_sign(ctx.get(), out, &siglen, digest, len) != 1)
      return fail("RSA signing failed");  // the context is dropped, not reused
    std::lock_guard lock(cache_->m);
    cache_->rsa.push_back(std::move(ctx));
  } else {
    std::unique_ptr<EVP_MD_CTX, void (*)(EVP_MD_CTX*)> md(EVP_MD_CTX_new(), EVP_MD_CTX_free);
    if (!md || EVP_DigestSignInit(md.get(), nullptr, nullptr, nullptr, pkey_.get()) != 1 ||
        EVP_DigestSign(md.get(), out, &siglen, digest, len) != 1)
      return fail("Ed25519 signing failed");
  }
  sig.resize(siglen);
  return sig;
}

const char* to_string(KeyType t) noexcept { return t == KeyType::Rsa ? "rsa" : "ed25519"; }

Result<KeyPtr> parse_private_key(std::string_view pem, const std::string& source) {
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return make_error(ErrorKind::Internal, source + ": out of memory");
  // An empty passphrase callback: an encrypted key fails instead of prompting.
  EVP_PKEY* raw = PEM_read_bio_PrivateKey(bio.get(), nullptr,
                                          [](char*, int, int, void*) { return 0; }, nullptr);
  if (!raw)
    return make_error(ErrorKind::Config,
                      source + ": not a PEM private key (unencrypted PKCS#8 or RSA): " +
                          openssl_error());
  auto key = std::make_shared<PrivateKey>();
  key->pkey_ = std::shared_ptr<EVP_PKEY>(raw, EVP_PKEY_free);
  key->cache_ = std::make_shared<PrivateKey::SignCache>();
  key->source_ = source;
  switch (EVP_PKEY_get_base_id(raw)) {
    case EVP_PKEY_RSA:
      key->type_ = KeyType::Rsa;
      key->bits_ = static_cast<unsigned>(EVP_PKEY_get_bits(raw));
      if (key->bits_ < 1024)
        return make_error(ErrorKind::Config,
                          source + ": RSA key of " + std::to_string(key->bits_) +
                              " bits; RFC 8301 requires at least 1024 (2048 recommended)");
      break;
    case EVP_PKEY_ED25519:
      key->type_ = KeyType::Ed25519;
      key->bits_ = 256;
      break;
    default:
      return make_error(ErrorKind::Config,
                        source + ": unsupported key type (DKIM uses RSA or Ed25519)");
  }
  return KeyPtr(std::move(key));
}

Result<KeyPtr> load_private_key(const std::string& path) {
  return load_private_key(path, ::geteuid());
}

Result<KeyPtr> load_private_key(const std::string& path, uid_t daemon_uid) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  struct stat st {};
  if (fd < 0) {
    int err = errno;
    // Not ours to read: say whose it is when that is the reason.
    if (err == EACCES && ::stat(path.c_str(), &st) == 0)
      if (auto owner = check_key_owner(path, st.st_uid, daemon_uid); !owner) return owner.error();
    return make_error(ErrorKind::Config, path + ": " + std::strerror(err));
  }
  std::string text;
  bool ok = ::fstat(fd, &st) == 0;
  if (ok && !S_ISREG(st.st_mode)) {
    ::close(fd);
    return make_error(ErrorKind::Config, path + ": not a regular file");
  }
  if (ok && (st.st_mode & 077) != 0) {
    ::close(fd);
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return make_error(ErrorKind::Config, path + ": private key is accessible by group or others"
                                                " (mode " + mode + "); run: chmod 600 " + path);
  }
  if (ok) {
    if (auto owner = check_key_owner(path, st.st_uid, daemon_uid); !owner) {
      ::close(fd);
      return owner.error();
    }
  }
  if (ok && st.st_size > 64 * 1024) {
    ::close(fd);
    return make_error(ErrorKind::Config, path + ": too large for a private key");
  }
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ok = false;
      break;
    }
    if (n == 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  int err = errno;
  ::close(fd);
  if (!ok) return make_error(ErrorKind::Config, path + ": " + std::strerror(err));
  auto key = parse_private_key(text, path);
  OPENSSL_cleanse(text.data(), text.size());
  return key;
}

std::string PrivateKey::public_key_base64() const {
  if (type_ == KeyType::Ed25519) {
    unsigned char raw[32];
    std::size_t len = sizeof raw;
    if (EVP_PKEY_get_raw_public_key(pkey_.get(), raw, &len) != 1) return {};
    return base64(raw, len);
  }
  unsigned char* der = nullptr;
  int len = i2d_PUBKEY(pkey_.get(), &der);
  if (len <= 0) return {};
  std::string out = base64(der, static_cast<std::size_t>(len));
  OPENSSL_free(der);
  return out;
}

std::string PrivateKey::dns_record() const {
  return std::string("v=DKIM1; k=") + to_string(type_) + "; p=" + public_key_base64();
}

Result<std::string> generate_private_key(KeyType type, unsigned bits) {
  if (type == KeyType::Rsa && (bits < 1024 || bits > 8192))
    return make_error(ErrorKind::Config,
                      "RSA key size " + std::to_string(bits) + " out of range (1024..8192)");
  std::unique_ptr<EVP_PKEY_CTX, CtxFree> ctx(
      EVP_PKEY_CTX_new_id(type == KeyType::Rsa ? EVP_PKEY_RSA : EVP_PKEY_ED25519, nullptr));
  if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1)
    return make_error(ErrorKind::Internal, "key generation: " + openssl_error());
  if (type == KeyType::Rsa &&
      EVP_PKEY_CTX_set_rsa_keygen_bits(ctx.get(), static_cast<int>(bits)) != 1)
    return make_error(ErrorKind::Internal, "key generation: " + openssl_error());
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_keygen(ctx.get(), &raw) != 1)
    return make_error(ErrorKind::Internal, "key generation: " + openssl_error());
  std::shared_ptr<EVP_PKEY> key(raw, EVP_PKEY_free);
  std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr,
                                       nullptr) != 1)
    return make_error(ErrorKind::Internal, "key generation: " + openssl_error());
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(n));
}

std::string zone_file_record(std::string_view selector, std::string_view domain,
                             std::string_view record) {
  std::string out;
  out.append(selector).append("._domainkey.").append(domain);
  if (out.empty() || out.back() != '.') out += '.';
  out += " IN TXT (";
  for (std::size_t i = 0; i < record.size(); i += 255) {
    out += " \"";
    out.append(record.substr(i, 255));
    out += '"';
  }
  out += " )";
  return out;
}

}  // namespace sigil::keys
