// filter/milter/milter_protocol.hpp — the Sendmail milter wire protocol (version 6):
// packet framing, decoding of the MTA's commands and encoding of replies.
//
// A packet is a 32-bit big-endian length (counting the command byte), one
// command byte, then the data.  Strings are NUL-terminated.  The MTA sends
// commands (SMFIC_*, upper case and 'D'/'O'); the filter answers with
// replies (SMFIR_*).  Version 6 adds option negotiation of "no reply" steps
// (SMFIP_NR_*), SMFIC_DATA, SMFIC_QUIT_NC, SMFIR_SKIP and macro lists.
// The constants follow libmilter's mfdef.h / mfapi.h; the layout of each
// command is described at its decoder.
//
// Pure and synchronous: no I/O, no policy (milter_session.cpp decides).
// Every decoder treats its input as untrusted: a short or malformed packet
// is an error value, never a crash.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "conf/result.hpp"

namespace sigil::filter::milter {

// Commands (MTA → filter).
inline constexpr char kAbort = 'A', kBody = 'B', kConnect = 'C', kMacro = 'D', kBodyEob = 'E',
                      kHelo = 'H', kQuitNc = 'K', kHeader = 'L', kMail = 'M', kEoh = 'N',
                      kOptneg = 'O', kQuit = 'Q', kRcpt = 'R', kData = 'T', kUnknown = 'U';
// Replies (filter → MTA).
inline constexpr char kAddRcpt = '+', kDelRcpt = '-', kAddRcptPar = '2', kShutdown = '4',
                      kAccept = 'a', kReplBody = 'b', kContinue = 'c', kDiscard = 'd',
                      kChgFrom = 'e', kConnFail = 'f', kAddHeader = 'h', kInsHeader = 'i',
                      kSetSymList = 'l', kChgHeader = 'm', kProgress = 'p', kQuarantine = 'q',
                      kReject = 'r', kSkip = 's', kTempfail = 't', kReplyCode = 'y';

// Actions the filter may take (SMFIF_*), offered by the MTA in OPTNEG.
inline constexpr std::uint32_t kAddHdrs = 0x01, kChgBody = 0x02, kAddRcptAct = 0x04,
                               kDelRcptAct = 0x08, kChgHdrs = 0x10, kQuarantineAct = 0x20,
                               kChgFromAct = 0x40, kAddRcptParAct = 0x80, kSetSymListAct = 0x100;

// Protocol flags (SMFIP_*): steps not to send, or not to answer.
inline constexpr std::uint32_t kNoConnect = 0x1, kNoHelo = 0x2, kNoMail = 0x4, kNoRcpt = 0x8,
                               kNoBody = 0x10, kNoHdrs = 0x20, kNoEoh = 0x40, kNrHdr = 0x80,
                               kNoUnknown = 0x100, kNoData = 0x200, kSkipFlag = 0x400,
                               kRcptRej = 0x800, kNrConn = 0x1000, kNrHelo = 0x2000,
                               kNrMail = 0x4000, kNrRcpt = 0x8000, kNrData = 0x10000,
                               kNrUnkn = 0x20000, kNrEoh = 0x40000, kNrBody = 0x80000,
                               kHdrLeadSpc = 0x100000;

inline constexpr std::uint32_t kVersion = 6;
// The largest packet accepted from the MTA.  libmilter's MILTER_CHUNK_SIZE
// is 65535 for body chunks; a header field may be longer, up to the
// configured header limit, so the session passes its own maximum.
inline constexpr std::uint32_t kMinMaxPacket = 65536 + 16;

struct Packet {
  char cmd = 0;
  std::string_view data;  // view into the framer's buffer, valid until next()
};

// Splits a byte stream into packets.
class Framer {
 public:
  explicit Framer(std::uint32_t max_packet) : max_(max_packet) {}
  void feed(std::string_view bytes);
  // The next complete packet, or nullopt when more bytes are needed.
  // Failure (Protocol): zero length, or longer than max_packet; the
  // connection must be closed (the stream cannot be resynchronised).
  Result<std::optional<Packet>> next();
  std::size_t buffered() const { return buf_.size() - pos_; }

 private:
  std::uint32_t max_;
  std::string buf_;
  std::size_t pos_ = 0;
};

// One reply packet.
std::string encode(char cmd, std::string_view data = {});

struct Optneg {
  std::uint32_t version = 0;
  std::uint32_t actions = 0;
  std::uint32_t protocol = 0;
};
// OPTNEG: version, actions, protocol flags (three 32-bit values).
// Failure (Protocol): fewer than 12 bytes.
Result<Optneg> decode_optneg(std::string_view d);
// The reply; version 6 may append, per protocol stage (SMFIM_*: 0 connect,
// 1 helo, 2 mail, 3 rcpt, 4 data, 5 end of message, 6 end of headers), the
// macros wanted there (space-separated names; "" for none).
std::string encode_optneg(const Optneg& o,
                          const std::vector<std::pair<std::uint32_t, std::string>>& macros = {});

struct ConnectInfo {
  std::string hostname;  // the MTA's name for the client ("unknown" when none)
  char family = 'U';     // '4', '6', 'L' (Unix socket) or 'U' (unknown)
  std::uint16_t port = 0;
  std::string address;  // numeric, for '4' and '6'; path for 'L'
};
// CONNECT: hostname\0 family [port(16) address\0].  Failure: malformed.
Result<ConnectInfo> decode_connect(std::string_view d);

// The NUL-separated strings of a packet (HELO, MAIL, RCPT, UNKNOWN, HEADER).
// A final string without NUL is accepted.  Empty input gives no strings.
std::vector<std::string_view> split_strings(std::string_view d);

// MACRO: the command letter the macros belong to, then name\0value\0 pairs.
// Names are normalised without braces ("{auth_authen}" → "auth_authen").
struct Macros {
  char for_cmd = 0;
  std::vector<std::pair<std::string, std::string>> values;
};
Result<Macros> decode_macros(std::string_view d);

struct HeaderCmd {
  std::string_view name;
  std::string_view value;
};
// HEADER: name\0value\0.  Failure: no NUL after the name, or an empty name.
Result<HeaderCmd> decode_header(std::string_view d);

// Replies carrying data.
std::string reply_code(int code, std::string_view enhanced, std::string_view text);
std::string add_header(std::string_view name, std::string_view value);
std::string insert_header(std::uint32_t index, std::string_view name, std::string_view value);
// Change the index'th (1-based) field of that name; an empty value deletes it.
std::string change_header(std::uint32_t index, std::string_view name, std::string_view value);
std::string quarantine(std::string_view reason);
std::string del_rcpt(std::string_view addr);

// A complete header field as Sigil records it ("Name: value\r\n", folded
// lines ending in CRLF) split for an add/insert reply: the name, and the
// value after the colon with its line ends as LF (the milter convention:
// the MTA writes its own line ends) and without the final line end.
// When the MTA did not negotiate SMFIP_HDR_LEADSPC, one leading space is
// dropped (the MTA puts "name: " itself).
std::pair<std::string, std::string> split_field(std::string_view field, bool leadspc);

}  // namespace sigil::filter::milter
