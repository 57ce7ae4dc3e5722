// tests/dns/fake_dns.hpp — a fake DNS server on 127.0.0.1 or ::1 (UDP and
// TCP on one port chosen at run time), for what a real server will not do on
// demand: never answer, truncate, spoof IDs, questions and source ports,
// answer with garbage (DESIGN.md §7: dnsmasq cannot simulate a timeout).
// Shared by dns_resolver_test and the dkim-verify stage test.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <ldns/ldns.h>

namespace sigil::test {

class FakeDns {
 public:
  enum class Kind {
    Txt,              // answer the rule's TXT records
    NxDomain,         // NXDOMAIN (with an SOA if soa_min > 0)
    NoData,           // NOERROR, no answer (with an SOA if soa_min > 0)
    ServFail,
    Refused,
    Silent,           // never answer
    Truncate,         // TC=1 over UDP, the full answer over TCP
    TruncateTcpFail,  // TC=1 over UDP, TCP connection closed at once
    SpoofId,          // first a reply with a wrong ID, then the right one
    SpoofQuestion,    // first a reply for another name, then the right one
    SpoofSource,      // first the right reply from another port, then the real one
    Garbage,          // right ID, unparsable rest
    NotImp,           // rcode NOTIMP
  };
  struct Rule {
    Rule(Kind k = Kind::Txt, std::vector<std::vector<std::string>> t = {{"hello"}},
         std::uint32_t ttl_ = 60, std::uint32_t soa = 0, std::string cn = "")
        : kind(k), txt(std::move(t)), ttl(ttl_), soa_min(soa), cname(std::move(cn)) {}
    Kind kind;
    std::vector<std::vector<std::string>> txt;  // records of character-strings
    std::uint32_t ttl;
    std::uint32_t soa_min;  // 0: no SOA in the authority section
    std::string cname;      // if set: answer "qname CNAME cname" and the TXT at cname
  };

  // Binds UDP and TCP on the same free port of 127.0.0.1 (or ::1).
  explicit FakeDns(bool v6 = false) : v6_(v6) {
    int family = v6 ? AF_INET6 : AF_INET;
    for (int tries = 0; tries < 20 && port_ == 0; ++tries) {
      udp_ = socket(family, SOCK_DGRAM, 0);
      sockaddr_storage ss{};
      socklen_t len = v6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
      if (v6) {
        auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
      } else {
        auto* a = reinterpret_cast<sockaddr_in*>(&ss);
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      }
      if (bind(udp_, reinterpret_cast<sockaddr*>(&ss), len) != 0) std::abort();
      getsockname(udp_, reinterpret_cast<sockaddr*>(&ss), &len);
      tcp_ = socket(family, SOCK_STREAM, 0);
      int one = 1;
      setsockopt(tcp_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      if (bind(tcp_, reinterpret_cast<sockaddr*>(&ss), len) == 0 && listen(tcp_, 16) == 0) {
        port_ = port_of(ss);
      } else {
        close(udp_);
        close(tcp_);
      }
    }
    if (port_ == 0) std::abort();
    spoof_ = socket(family, SOCK_DGRAM, 0);
    thread_ = std::thread([this] { loop(); });
  }
  ~FakeDns() {
    stop_ = true;
    thread_.join();
    close(udp_);
    close(tcp_);
    close(spoof_);
  }

  std::uint16_t port() const { return port_; }
  std::string address() const {
    return (v6_ ? "[::1]:" : "127.0.0.1:") + std::to_string(port_);
  }
  void set(const std::string& name, Rule r) {
    std::lock_guard l(mu_);
    rules_[name] = std::move(r);
  }
  void set_default(Rule r) {
    std::lock_guard l(mu_);
    default_ = std::move(r);
  }

  std::atomic<int> udp_queries{0}, tcp_queries{0};

  // (query ID, client port) of every UDP query received.
  std::vector<std::pair<std::uint16_t, std::uint16_t>> seen() {
    std::lock_guard l(mu_);
    return seen_;
  }

 private:
  static std::uint16_t port_of(const sockaddr_storage& ss) {
    return ntohs(ss.ss_family == AF_INET6 ? reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_port
                                          : reinterpret_cast<const sockaddr_in*>(&ss)->sin_port);
  }

  Rule rule_for(const std::string& name) {
    std::lock_guard l(mu_);
    auto it = rules_.find(name);
    return it == rules_.end() ? default_ : it->second;
  }

  static std::vector<std::uint8_t> wire(ldns_pkt* p) {
    std::uint8_t* w = nullptr;
    std::size_t n = 0;
    if (ldns_pkt2wire(&w, p, &n) != LDNS_STATUS_OK) std::abort();
    std::vector<std::uint8_t> out(w, w + n);
    std::free(w);
    return out;
  }

  static void push(ldns_pkt* p, ldns_pkt_section s, const std::string& text) {
    ldns_rr* rr = nullptr;
    ldns_status st = s == LDNS_SECTION_QUESTION
                         ? ldns_rr_new_question_frm_str(&rr, text.c_str(), nullptr, nullptr)
                         : ldns_rr_new_frm_str(&rr, text.c_str(), 0, nullptr, nullptr);
    if (st != LDNS_STATUS_OK) {
      fprintf(stderr, "fake DNS: cannot build RR '%s': %s\n", text.c_str(),
              ldns_get_errorstr_by_id(st));
      std::abort();
    }
    ldns_pkt_push_rr(p, s, rr);
  }

  // The reply to `q` for `qname` (text with trailing dot), per rule.
  static std::vector<std::uint8_t> reply(const ldns_pkt* q, const std::string& qname,
                                         const Rule& r, bool truncated, std::uint16_t id,
                                         const std::string& answer_name) {
    ldns_pkt* p = ldns_pkt_new();
    ldns_pkt_set_id(p, id);
    ldns_pkt_set_qr(p, true);
    ldns_pkt_set_rd(p, ldns_pkt_rd(q));
    ldns_pkt_set_ra(p, true);
    push(p, LDNS_SECTION_QUESTION, answer_name + " IN TXT");
    switch (r.kind) {
      case Kind::NxDomain: ldns_pkt_set_rcode(p, LDNS_RCODE_NXDOMAIN); break;
      case Kind::ServFail: ldns_pkt_set_rcode(p, LDNS_RCODE_SERVFAIL); break;
      case Kind::Refused: ldns_pkt_set_rcode(p, LDNS_RCODE_REFUSED); break;
      case Kind::NotImp: ldns_pkt_set_rcode(p, LDNS_RCODE_NOTIMPL); break;
      default: break;
    }
    bool answers = r.kind != Kind::NxDomain && r.kind != Kind::NoData &&
                   r.kind != Kind::ServFail && r.kind != Kind::Refused &&
                   r.kind != Kind::NotImp;
    if (truncated) {
      ldns_pkt_set_tc(p, true);
    } else if (answers) {
      std::string owner = qname;
      if (!r.cname.empty()) {
        push(p, LDNS_SECTION_ANSWER, qname + " " + std::to_string(r.ttl) + " IN CNAME " + r.cname);
        owner = r.cname;
      }
      for (const auto& rec : r.txt) {
        std::string t = owner + " " + std::to_string(r.ttl) + " IN TXT";
        for (const auto& s : rec) t += " \"" + s + "\"";
        push(p, LDNS_SECTION_ANSWER, t);
      }
    }
    if (r.soa_min > 0)
      push(p, LDNS_SECTION_AUTHORITY,
           "example. 3600 IN SOA ns.example. host.example. 1 3600 600 86400 " +
               std::to_string(r.soa_min));
    auto out = wire(p);
    ldns_pkt_free(p);
    (void)q;
    return out;
  }

  void send(int fd, const std::vector<std::uint8_t>& w, const sockaddr_storage& to) {
    sendto(fd, w.data(), w.size(), 0, reinterpret_cast<const sockaddr*>(&to),
           to.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in));
  }

  void on_udp() {
    std::uint8_t buf[4096];
    sockaddr_storage from{};
    socklen_t fl = sizeof from;
    ssize_t n = recvfrom(udp_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &fl);
    if (n <= 0) return;
    ++udp_queries;
    ldns_pkt* q = nullptr;
    if (ldns_wire2pkt(&q, buf, static_cast<std::size_t>(n)) != LDNS_STATUS_OK) return;
    char* qn = ldns_rdf2str(ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_question(q), 0)));
    std::string qname = qn;
    std::free(qn);
    std::string key = qname.substr(0, qname.size() - 1);
    Rule r = rule_for(key);
    std::uint16_t id = ldns_pkt_id(q);
    {
      std::lock_guard l(mu_);
      seen_.emplace_back(id, port_of(from));
    }
    switch (r.kind) {
      case Kind::Silent: break;
      case Kind::Truncate:
      case Kind::TruncateTcpFail: send(udp_, reply(q, qname, r, true, id, qname), from); break;
      case Kind::SpoofId: {
        Rule s = r;
        s.txt = {{"spoofed"}};
        send(udp_, reply(q, qname, s, false, static_cast<std::uint16_t>(id ^ 0x5a5a), qname),
             from);
        send(udp_, reply(q, qname, r, false, id, qname), from);
        break;
      }
      case Kind::SpoofQuestion: {
        Rule s = r;
        s.txt = {{"spoofed"}};
        send(udp_, reply(q, "other.example.", s, false, id, "other.example."), from);
        send(udp_, reply(q, qname, r, false, id, qname), from);
        break;
      }
      case Kind::SpoofSource: {
        Rule s = r;
        s.txt = {{"spoofed"}};
        send(spoof_, reply(q, qname, s, false, id, qname), from);
        std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the spoof arrives first
        send(udp_, reply(q, qname, r, false, id, qname), from);
        break;
      }
      case Kind::Garbage: {
        std::vector<std::uint8_t> g = {buf[0], buf[1], 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0, 7};
        send(udp_, g, from);
        break;
      }
      default: {
        auto w = reply(q, qname, r, false, id, qname);
        if (w.size() > 512) w = reply(q, qname, r, true, id, qname);  // RFC 1035 §4.2.1
        send(udp_, w, from);
      }
    }
    ldns_pkt_free(q);
  }

  void on_tcp() {
    int c = accept(tcp_, nullptr, nullptr);
    if (c < 0) return;
    ++tcp_queries;
    timeval tv{2, 0};
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::uint8_t len[2];
    std::vector<std::uint8_t> msg;
    if (recv(c, len, 2, MSG_WAITALL) == 2) {
      msg.resize(static_cast<std::size_t>(len[0]) << 8 | len[1]);
      if (recv(c, msg.data(), msg.size(), MSG_WAITALL) != static_cast<ssize_t>(msg.size()))
        msg.clear();
    }
    ldns_pkt* q = nullptr;
    if (!msg.empty() && ldns_wire2pkt(&q, msg.data(), msg.size()) == LDNS_STATUS_OK) {
      char* qn = ldns_rdf2str(ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_question(q), 0)));
      std::string qname = qn;
      std::free(qn);
      Rule r = rule_for(qname.substr(0, qname.size() - 1));
      if (r.kind != Kind::TruncateTcpFail) {
        auto w = reply(q, qname, r, false, ldns_pkt_id(q), qname);
        std::vector<std::uint8_t> out = {static_cast<std::uint8_t>(w.size() >> 8),
                                         static_cast<std::uint8_t>(w.size() & 0xff)};
        out.insert(out.end(), w.begin(), w.end());
        (void)::send(c, out.data(), out.size(), MSG_NOSIGNAL);
      }
      ldns_pkt_free(q);
    }
    close(c);
  }

  void loop() {
    while (!stop_) {
      pollfd fds[2] = {{udp_, POLLIN, 0}, {tcp_, POLLIN, 0}};
      if (poll(fds, 2, 20) <= 0) continue;
      if (fds[0].revents & POLLIN) on_udp();
      if (fds[1].revents & POLLIN) on_tcp();
    }
  }

  bool v6_ = false;
  int udp_ = -1, tcp_ = -1, spoof_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::mutex mu_;
  std::map<std::string, Rule> rules_;
  Rule default_;
  std::vector<std::pair<std::uint16_t, std::uint16_t>> seen_;
  std::thread thread_;
};

}  // namespace sigil::test
