// tests/dkim/dkim_sign_tool.cpp — signs a message with Sigil's DKIM signer,
// for the interop tests (tests/interop) and by hand.
//
//   dkim_sign_tool [--time UNIX] --sig 'key=FILE,d=DOMAIN,s=SELECTOR[,c=H/B]
//       [,h=From:To][,o=From:Subject][,i=@d][,x=SECONDS]' [--sig ...]
//       < message > signed
//
// The message may use LF or CRLF (a missing final line end is added, as SMTP
// transport does); the output is CRLF with one DKIM-Signature
// per --sig prepended (the last --sig on top, as each signer adds its field
// at the top).  h= defaults to the built-in signed header set, o= to the
// built-in oversigned set (give "o=" empty for none).  Exit 0 ok, 1 error,
// 2 usage.
#include <ctime>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include "dkim/signer.hpp"
#include "keys/private_key.hpp"

using namespace sigil;

namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  std::istringstream in(s);
  while (std::getline(in, cur, sep))
    if (!cur.empty()) out.push_back(cur);
  return out;
}

int usage(const std::string& why) {
  std::cerr << "dkim_sign_tool: " << why
            << "\nusage: dkim_sign_tool [--time UNIX] --sig 'key=FILE,d=D,s=S[,c=H/B][,h=A:B]"
               "[,o=A:B][,i=@d][,x=SECONDS]' ... < msg\n";
  return 2;
}

conf::Canon canon(const std::string& s, bool& ok) {
  if (s == "simple") return conf::Canon::Simple;
  if (s != "relaxed") ok = false;
  return conf::Canon::Relaxed;
}

}  // namespace

int main(int argc, char** argv) {
  std::int64_t now = std::time(nullptr);
  std::vector<std::string> sigs;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--time" && i + 1 < argc) now = std::stoll(argv[++i]);
    else if (a == "--sig" && i + 1 < argc) sigs.push_back(argv[++i]);
    else return usage("unknown argument '" + a + "'");
  }
  if (sigs.empty()) return usage("no --sig");

  std::string raw((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  std::string msg;
  msg.reserve(raw.size() + raw.size() / 32);
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '\n' && (i == 0 || raw[i - 1] != '\r')) msg += '\r';
    msg += raw[i];
  }
  // SMTP always ends the data with CRLF (the final "." line follows one):
  // a message whose last line lacks it is sent, and so signed, with it.
  if (!msg.empty() && (msg.size() < 2 || msg.compare(msg.size() - 2, 2, "\r\n") != 0)) msg += "\r\n";
  // Header fields and body, as filter/message_store indexes them.
  std::vector<std::string> fields;
  std::size_t pos = 0, body = msg.size();
  while (pos < msg.size()) {
    auto eol = msg.find("\r\n", pos);
    if (eol == std::string::npos) eol = msg.size();
    if (eol == pos) {
      body = pos + 2;
      break;
    }
    bool cont = msg[pos] == ' ' || msg[pos] == '\t';
    std::string line = msg.substr(pos, std::min(eol + 2, msg.size()) - pos);
    if (cont && !fields.empty()) fields.back() += line;
    else fields.push_back(line);
    pos = eol + 2;
  }
  if (body > msg.size()) body = msg.size();

  std::vector<std::string> added;  // signature fields made so far, top first
  for (const auto& s : sigs) {
    dkim::SignatureSpec spec;
    spec.timestamp = now;
    spec.headers = conf::default_signed_headers();
    spec.oversign = conf::default_oversigned_headers();
    std::string keyfile;
    for (const auto& kv : split(s, ',')) {
      auto eq = kv.find('=');
      if (eq == std::string::npos) return usage("bad --sig item '" + kv + "'");
      auto k = kv.substr(0, eq), v = kv.substr(eq + 1);
      bool ok = true;
      if (k == "key") keyfile = v;
      else if (k == "d") spec.domain = v;
      else if (k == "s") spec.selector = v;
      else if (k == "i") spec.identity = v;
      else if (k == "x") spec.expire_after = std::stoll(v);
      else if (k == "h") spec.headers = split(v, ':');
      else if (k == "o") spec.oversign = split(v, ':');
      else if (k == "c") {
        auto slash = v.find('/');
        spec.header_canon = canon(v.substr(0, slash), ok);
        spec.body_canon = slash == std::string::npos ? conf::Canon::Simple : canon(v.substr(slash + 1), ok);
      } else return usage("unknown --sig item '" + k + "'");
      if (!ok) return usage("bad canonicalization '" + v + "'");
    }
    if (keyfile.empty() || spec.domain.empty() || spec.selector.empty())
      return usage("--sig needs key=, d= and s=");
    auto key = keys::load_private_key(keyfile);
    if (!key) {
      std::cerr << "dkim_sign_tool: " << key.error().message << "\n";
      return 1;
    }
    spec.key = *key;
    dkim::BodyHasher bh(spec.body_canon);
    bh.update(std::string_view(msg).substr(body));
    // Each signature covers the fields the previous ones added (they are on
    // top of the message as it will be sent).
    dkim::FieldList fl;
    for (const auto& f : added) fl.push_back(f);
    for (const auto& f : fields) fl.push_back(f);
    auto sig = dkim::sign(spec, fl, bh.finish());
    if (!sig) {
      std::cerr << "dkim_sign_tool: " << sig.error().message << "\n";
      return 1;
    }
    added.insert(added.begin(), *sig);
  }
  for (const auto& f : added) std::cout << f;
  std::cout << msg;
  return 0;
}
