// tests/dkim/dkim_verify_tool.cpp — verifies the DKIM signatures of message
// files with Sigil's verifier (dkim/verifier.hpp), keys fetched through
// Sigil's resolver (dns/resolver.hpp) from a given DNS server, or served from
// a corpus table.  For interop tests (tests/interop) and by hand.
//
//   dkim_verify_tool (--dns IP:PORT | --table DNS.TSV) [options] FILE...
//     --tsv                 FILE<TAB>INDEX<TAB>d<TAB>s<TAB>a<TAB>RESULT<TAB>REASON
//                           (tests/interop/harness.py's format; nothing for an
//                           unsigned file) instead of the default
//                           "FILE: RESULT d= s= a= [reason]" (or "FILE: none")
//     --ar AUTHSERV-ID      also print each message's Authentication-Results
//     --min-key-bits N      VerifyOptions::min_key_bits (default 1024)
//     --accept-partial-body VerifyOptions::accept_partial_body
//     --max-signatures N    VerifyOptions::max_signatures (default 8)
// A dns.tsv table is the corpus format (tests/dkim/corpus/README.md).
// Exit status: 0 when every file was read (whatever the results), 1 when a
// file could not be read, 2 on a usage error.
// Does not: take a message on stdin, or use the system resolver.
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "dkim/verifier.hpp"
#include "dns/resolver.hpp"
#include "filter/stages/dkim_verify_stage.hpp"
#include "test_util.hpp"

namespace asio = boost::asio;
using namespace sigil;

namespace {

int usage(const char* why) {
  std::fprintf(stderr,
               "dkim_verify_tool: %s\n"
               "usage: dkim_verify_tool (--dns IP:PORT | --table DNS.TSV) [--tsv] [--ar ID]\n"
               "         [--min-key-bits N] [--accept-partial-body] [--max-signatures N] FILE...\n",
               why);
  return 2;
}

std::optional<std::string> slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

using test::DnsTable;

// The header fields (with their line ends made CRLF) and the body.
struct Split {
  std::vector<std::string> fields;
  std::string body;
};

Split split_message(const std::string& raw) {
  std::string m;
  m.reserve(raw.size() + raw.size() / 32);
  for (std::size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] == '\n' && (i == 0 || raw[i - 1] != '\r')) m += '\r';
    m += raw[i];
  }
  Split s;
  std::size_t pos = 0;
  while (pos < m.size()) {
    auto eol = m.find("\r\n", pos);
    std::size_t end = eol == std::string::npos ? m.size() : eol + 2;
    if (eol == pos) {
      s.body = m.substr(end);
      return s;
    }
    std::string line = m.substr(pos, end - pos);
    if (!s.fields.empty() && (line[0] == ' ' || line[0] == '\t')) s.fields.back() += line;
    else s.fields.push_back(line);
    pos = end;
  }
  return s;
}

std::string clean(std::string s) {
  for (auto& c : s)
    if (c == '\t' || c == '\r' || c == '\n') c = ' ';
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  std::optional<conf::DnsServer> server;
  std::optional<DnsTable> table;
  bool tsv = false;
  std::string ar_id;
  dkim::VerifyOptions opts;
  std::vector<std::string> files;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::optional<std::string> {
      if (i + 1 >= argc) return std::nullopt;
      return std::string(argv[++i]);
    };
    if (a == "--dns") {
      auto v = value();
      if (!v) return usage("--dns needs IP:PORT");
      auto s = conf::parse_dns_server(*v);
      if (!s) return usage(("--dns: " + s.error().message).c_str());
      server = *s;
    } else if (a == "--table") {
      auto v = value();
      if (!v) return usage("--table needs a file");
      auto text = slurp(*v);
      if (!text) return usage(("cannot read " + *v).c_str());
      table = test::parse_dns(*text);
    } else if (a == "--tsv") {
      tsv = true;
    } else if (a == "--ar") {
      auto v = value();
      if (!v) return usage("--ar needs an authserv-id");
      ar_id = *v;
    } else if (a == "--min-key-bits" || a == "--max-signatures") {
      auto v = value();
      if (!v || v->empty() || v->find_first_not_of("0123456789") != std::string::npos)
        return usage((a + " needs a number").c_str());
      if (a == "--min-key-bits") opts.min_key_bits = static_cast<unsigned>(std::stoul(*v));
      else opts.max_signatures = std::stoul(*v);
    } else if (a == "--accept-partial-body") {
      opts.accept_partial_body = true;
    } else if (!a.empty() && a[0] == '-') {
      return usage(("unknown option " + a).c_str());
    } else {
      files.push_back(a);
    }
  }
  if (server.has_value() == table.has_value()) return usage("give exactly one of --dns, --table");
  if (files.empty()) return usage("no FILE");
  auto lib = dkim::VerifierLib::create(opts);
  if (!lib) {
    std::fprintf(stderr, "dkim_verify_tool: %s\n", lib.error().message.c_str());
    return 1;
  }

  asio::io_context io;
  conf::DnsConfig cfg;
  if (server) cfg.servers = {*server};
  cfg.timeout = std::chrono::milliseconds(1000);
  // /dev/null as resolv.conf: only --dns is ever asked.
  dns::Resolver resolver(io.get_executor(), cfg, "/dev/null");

  int status = 0;
  for (const auto& file : files) {
    auto raw = slurp(file);
    if (!raw) {
      std::fprintf(stderr, "dkim_verify_tool: cannot read %s\n", file.c_str());
      status = 1;
      continue;
    }
    Split msg = split_message(*raw);
    dkim::Verification v(*lib, file);
    for (const auto& f : msg.fields) v.header(f);
    auto keys = v.end_of_headers();
    std::vector<dkim::KeyAnswer> answers(keys.size());
    if (table) {
      for (std::size_t k = 0; k < keys.size(); ++k) answers[k] = test::serve(*table, keys[k]);
    } else {
      // All keys of the message at once, as the stage does.
      for (std::size_t k = 0; k < keys.size(); ++k) {
        asio::co_spawn(
            io,
            [&, k]() -> asio::awaitable<void> {
              answers[k] = filter::key_answer(co_await resolver.txt(keys[k].qname()));
            },
            asio::detached);
      }
      io.run();
      io.restart();
    }
    for (std::size_t k = 0; k < keys.size(); ++k) v.provide_key(keys[k], answers[k]);
    v.body(msg.body);
    auto results = v.finish();
    if (results.empty() && !tsv) std::cout << file << ": none\n";
    for (std::size_t k = 0; k < results.size(); ++k) {
      const auto& r = results[k];
      if (tsv) {
        std::string detail = clean(r.reason);
        if (r.key_bits)
          detail += (detail.empty() ? "" : " ") + std::string("(") + std::to_string(r.key_bits) + "-bit key)";
        std::cout << file << '\t' << k << '\t' << clean(r.domain) << '\t' << clean(r.selector) << '\t'
                  << clean(r.algorithm) << '\t' << dkim::to_string(r.result) << '\t' << detail << '\n';
      } else {
        std::cout << file << ": " << dkim::to_string(r.result) << " d=" << r.domain
                  << " s=" << r.selector << " a=" << r.algorithm
                  << (r.reason.empty() ? "" : " " + r.reason) << '\n';
      }
    }
    if (v.ignored_signatures() && !tsv)
      std::cout << file << ": " << v.ignored_signatures() << " more signature(s) not verified\n";
    if (!ar_id.empty()) std::cout << dkim::authentication_results(ar_id, results);
  }
  return status;
}
