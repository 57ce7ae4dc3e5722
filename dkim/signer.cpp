// dkim/signer.cpp — DKIM signing: streamed body canonicalization, header
// canonicalization and selection, the folded DKIM-Signature field and its
// RSA or Ed25519 signature (RFC 6376 §3.4, §3.5, §5; RFC 8463; SHA-256 only,
// RFC 8301).  The interface and what it leaves out are in signer.hpp.
// Does not: choose keys or who is signed (keys/, filter/), emit l=, or do I/O.
#include "dkim/signer.hpp"

#include <openssl/evp.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <cstring>
#include <map>

#include "conf/ascii.hpp"

namespace sigil::dkim {

namespace {

constexpr std::size_t kFlushAt = 64 * 1024;

bool is_wsp(char c) { return c == ' ' || c == '\t'; }

std::string base64(const unsigned char* p, std::size_t n) {
  std::string out(4 * ((n + 2) / 3), '\0');
  int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), p, static_cast<int>(n));
  out.resize(static_cast<std::size_t>(len));
  return out;
}

void free_md(evp_md_ctx_st* c) { EVP_MD_CTX_free(c); }

// The name of a field (up to the colon, trailing WSP removed).
std::string_view field_name(std::string_view field) {
  auto colon = field.find(':');
  auto n = field.substr(0, colon == std::string_view::npos ? field.size() : colon);
  while (!n.empty() && is_wsp(n.back())) n.remove_suffix(1);
  return n;
}

// dkim-quoted-printable (RFC 6376 §2.11) for the i= value.
std::string dkim_qp(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string o;
  for (unsigned char c : s) {
    if ((c >= 0x21 && c <= 0x3a) || c == 0x3c || (c >= 0x3e && c <= 0x7e)) {
      o += static_cast<char>(c);
    } else {
      o += '=';
      o += hex[c >> 4];
      o += hex[c & 15];
    }
  }
  return o;
}

}  // namespace

const char* algorithm(keys::KeyType t) noexcept {
  return t == keys::KeyType::Ed25519 ? "ed25519-sha256" : "rsa-sha256";
}

// ------------------------------------------------------------------ body

BodyHasher::BodyHasher(Canon canon) : canon_(canon), md_(EVP_MD_CTX_new(), free_md) {
  EVP_DigestInit_ex(md_.get(), EVP_sha256(), nullptr);
  out_.reserve(kFlushAt + 1024);
}

BodyHasher::~BodyHasher() = default;

void BodyHasher::flush() {
  if (out_.empty()) return;
  EVP_DigestUpdate(md_.get(), out_.data(), out_.size());
  hashed_ += out_.size();
  out_.clear();
}

void BodyHasher::emit(std::string_view s) {
  if (s.size() >= kFlushAt) {
    flush();
    EVP_DigestUpdate(md_.get(), s.data(), s.size());
    hashed_ += s.size();
    return;
  }
  out_.append(s);
  if (out_.size() >= kFlushAt) flush();
}

void BodyHasher::start_content() {
  if (content_) return;
  while (pending_empty_ > 0) {
    emit("\r\n");
    --pending_empty_;
  }
  content_ = true;
}

void BodyHasher::end_line() {
  if (content_) {
    emit("\r\n");
    any_line_ = true;
  } else {
    ++pending_empty_;
  }
  content_ = false;
  wsp_ = false;  // WSP at the end of a line is dropped (relaxed)
}

void BodyHasher::update(std::string_view chunk) {
  // The state machine works byte by byte for relaxed and run by run (memchr
  // for CR) for simple, the common fast case.
  std::size_t i = 0;
  const std::size_t n = chunk.size();
  if (canon_ == Canon::Simple) {
    while (i < n) {
      if (cr_) {
        cr_ = false;
        if (chunk[i] == '\n') {
          ++i;
          end_line();
          continue;
        }
        start_content();
        emit("\r");
      }
      const void* p = std::memchr(chunk.data() + i, '\r', n - i);
      std::size_t j = p ? static_cast<std::size_t>(static_cast<const char*>(p) - chunk.data()) : n;
      if (j > i) {
        start_content();
        emit(chunk.substr(i, j - i));
      }
      if (j < n) cr_ = true;
      i = j + 1;
    }
    return;
  }
  // Relaxed (§3.4.4): WSP runs become one SP, WSP at line end goes.
  std::size_t run = i;  // start of a run of plain content bytes not yet written
  auto write_run = [&](std::size_t end) {
    if (end > run) emit(chunk.substr(run, end - run));
  };
  for (; i < n; ++i) {
    char c = chunk[i];
    if (cr_) {
      cr_ = false;
      if (c == '\n') {
        end_line();
        run = i + 1;
        continue;
      }
      // A bare CR is content.
      bool had_wsp = wsp_;
      start_content();
      if (had_wsp) emit(" ");
      wsp_ = false;
      emit("\r");
      run = i;
    }
    if (c == '\r') {
      write_run(i);
      cr_ = true;
      run = i + 1;
    } else if (is_wsp(c)) {
      write_run(i);
      wsp_ = true;
      run = i + 1;
    } else {
      if (wsp_ || !content_) {
        // First byte of a new run: settle what precedes it.
        bool had_wsp = wsp_;
        start_content();
        if (had_wsp) emit(" ");
        wsp_ = false;
        run = i;
      }
    }
  }
  write_run(n);
}

std::string BodyHasher::finish() {
  if (cr_) {
    // A CR at the very end, without LF: content.
    cr_ = false;
    bool had_wsp = wsp_;
    start_content();
    if (had_wsp) emit(" ");
    wsp_ = false;
    emit("\r");
  }
  if (content_) {  // no CRLF after the last line: one is added
    emit("\r\n");
    any_line_ = true;
  }
  if (!any_line_ && canon_ == Canon::Simple) emit("\r\n");  // an empty body is one CRLF
  flush();
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  EVP_DigestFinal_ex(md_.get(), md, &len);
  return base64(md, len);
}

// --------------------------------------------------------------- headers

std::string canon_header(std::string_view field, Canon canon) {
  if (canon == Canon::Simple) {
    std::string o(field);
    if (o.size() < 2 || o.compare(o.size() - 2, 2, "\r\n") != 0) o += "\r\n";
    return o;
  }
  if (field.size() >= 2 && field.substr(field.size() - 2) == "\r\n") field.remove_suffix(2);
  auto colon = field.find(':');
  std::string o = ascii::lower(field_name(field));
  o += ':';
  if (colon == std::string_view::npos) return o + "\r\n";
  std::string_view v = field.substr(colon + 1);
  bool wsp = false, started = false;
  for (char c : v) {
    if (c == '\r' || c == '\n') continue;  // unfold
    if (is_wsp(c)) {
      wsp = true;
      continue;
    }
    if (wsp && started) o += ' ';
    wsp = false;
    started = true;
    o += c;
  }
  o += "\r\n";
  return o;
}

std::vector<std::string> signed_header_names(const SignatureSpec& spec, const FieldList& fields) {
  std::map<std::string, std::size_t> count;
  for (auto f : fields) ++count[ascii::lower(field_name(f))];
  std::vector<std::string> out;
  std::vector<std::string> seen;
  for (const auto& h : spec.headers) {
    auto l = ascii::lower(h);
    if (std::find(seen.begin(), seen.end(), l) != seen.end()) continue;
    seen.push_back(l);
    auto it = count.find(l);
    if (it == count.end()) continue;
    for (std::size_t k = 0; k < it->second; ++k) out.push_back(h);
  }
  std::vector<std::string> over_seen;
  for (const auto& h : spec.oversign) {
    auto l = ascii::lower(h);
    if (std::find(over_seen.begin(), over_seen.end(), l) != over_seen.end()) continue;
    over_seen.push_back(l);
    out.push_back(h);
  }
  return out;
}

std::string header_hash_input(const FieldList& fields, const std::vector<std::string>& names,
                              std::string_view signature_field_without_b, Canon canon) {
  std::map<std::string, std::vector<std::size_t>> where;  // name -> indexes, top first
  for (std::size_t i = 0; i < fields.size(); ++i)
    where[ascii::lower(field_name(fields[i]))].push_back(i);
  std::map<std::string, std::size_t> used;
  std::string in;
  for (const auto& n : names) {
    auto l = ascii::lower(n);
    auto it = where.find(l);
    std::size_t& u = used[l];
    if (it == where.end() || u >= it->second.size()) continue;  // signs the absence
    in += canon_header(fields[it->second[it->second.size() - 1 - u]], canon);
    ++u;
  }
  auto sig = canon_header(signature_field_without_b, canon);
  sig.resize(sig.size() - 2);  // no CRLF after the signature field itself
  in += sig;
  return in;
}

// ------------------------------------------------------------------ sign

namespace {

// Appends `item` to the field being built, folding before it when the line
// would pass 78 characters (RFC 5322 §2.1.1).
struct Folder {
  std::string text;
  std::size_t line_start = 0;
  void add(std::string_view item, std::string_view sep) {
    if (text.size() - line_start + sep.size() + item.size() > 78 && text.size() > line_start) {
      // Fold: the separator's trailing space becomes the fold.
      auto s = sep;
      while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
      text += s;
      text += "\r\n\t";
      line_start = text.size() - 1;
    } else {
      text += sep;
    }
    text += item;
  }
};

}  // namespace

Result<std::string> sign_hash_input(const keys::PrivateKey& key, std::string_view input) {
  unsigned char digest[32];
  unsigned dlen = 0;
  if (EVP_Digest(input.data(), input.size(), digest, &dlen, EVP_sha256(), nullptr) != 1)
    return make_error(ErrorKind::Internal, "SHA-256 failed");
  auto sig = key.sign_digest(digest, dlen);
  if (!sig) return make_error(ErrorKind::Internal, "key unavailable: " + sig.error().message);
  return base64(reinterpret_cast<const unsigned char*>(sig->data()), sig->size());
}

Result<Prepared> prepare(const SignatureSpec& spec, const FieldList& fields,
                         std::string_view body_hash) {
  if (!spec.key) return make_error(ErrorKind::Internal, "key unavailable: no key");
  auto names = signed_header_names(spec, fields);

  Folder f;
  f.text = "DKIM-Signature: v=1; a=";
  f.text += algorithm(spec.key->type());
  f.add(std::string("c=") + (spec.header_canon == Canon::Simple ? "simple" : "relaxed") + "/" +
            (spec.body_canon == Canon::Simple ? "simple" : "relaxed"),
        "; ");
  f.add("d=" + spec.domain, "; ");
  f.add("s=" + spec.selector, "; ");
  f.add("t=" + std::to_string(spec.timestamp), "; ");
  if (spec.expire_after > 0) f.add("x=" + std::to_string(spec.timestamp + spec.expire_after), "; ");
  if (!spec.identity.empty()) f.add("i=" + dkim_qp(spec.identity), "; ");
  for (std::size_t i = 0; i < names.size(); ++i)
    f.add((i == 0 ? "h=" : "") + names[i], i == 0 ? "; " : ":");
  f.add("bh=" + std::string(body_hash), "; ");
  f.add("b=", "; ");

  Prepared p;
  p.key = spec.key;
  std::string input = header_hash_input(fields, names, f.text, spec.header_canon);
  unsigned dlen = 0;
  if (EVP_Digest(input.data(), input.size(), p.digest.data(), &dlen, EVP_sha256(), nullptr) != 1)
    return make_error(ErrorKind::Internal, "SHA-256 failed");
  p.field = std::move(f.text);
  return p;
}

std::string finish(const Prepared& p, std::string_view raw_signature) {
  // b= is last; its value is folded inside (verifiers delete the whole
  // value, FWS included, before hashing: §3.5, §3.7).
  std::string bv = base64(reinterpret_cast<const unsigned char*>(raw_signature.data()),
                          raw_signature.size());
  std::string out = p.field;
  std::size_t col = out.size() - out.rfind('\n');
  std::size_t pos = 0;
  while (pos < bv.size()) {
    std::size_t room = col >= 76 ? 1 : 77 - col;
    if (room < 8) {
      out += "\r\n\t";
      col = 1;
      room = 76;
    }
    auto part = std::string_view(bv).substr(pos, room);
    out += part;
    col += part.size();
    pos += part.size();
  }
  out += "\r\n";
  return out;
}

Result<std::string> sign(const SignatureSpec& spec, const FieldList& fields,
                         std::string_view body_hash) {
  auto p = prepare(spec, fields, body_hash);
  if (!p) return p.error();
  auto sig = p->key->sign_digest(p->digest.data(), p->digest.size());
  if (!sig) return make_error(ErrorKind::Internal, "key unavailable: " + sig.error().message);
  return finish(*p, *sig);
}

}  // namespace sigil::dkim
