// conf/config.hpp — Sigil's typed configuration.
//
// Parses TOML (toml++) into plain structs and validates every key: an unknown
// key, a value of the wrong type or out of range is an error naming
// file:line:key, and the daemon refuses to start.  Defaults live in the struct
// initialisers below and match conf/sigil.toml.
//
// Does not: open sockets, read keys, or know which stages exist in this build
// (filter/ checks that); it only knows the stage *names* of the design.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "conf/result.hpp"

namespace sigil::conf {

using Seconds = std::chrono::seconds;

// Stage names of the design (DESIGN.md §4), in phase order: the one list
// conf/ checks stage names against (bank stages and skip_stages, recipient
// bypass); filter/'s built-in stages are to be these.
inline constexpr std::array<std::string_view, 5> kStageNames = {
    "dkim-verify", "decode", "av", "spam", "dkim-sign"};

// Where the loggers write (filter/core/log_sinks.hpp).  Fixed at start: a
// reload that changes log_target, log_facility or syslog_socket is logged
// and takes effect on restart.
enum class LogTarget { Stderr, Syslog, Journal };

struct DaemonConfig {
  std::string log_level = "info";
  bool log_json = false;
  // Started as root: the user (and group; empty: the user's primary group)
  // sigild drops to after binding its listeners and loading its keys.  As
  // root with no user it refuses to run unless allow_root
  // (filter/app/privileges.hpp).  A key file may be owned by root or this user.
  std::string user;
  std::string group;
  bool allow_root = false;
  LogTarget log_target = LogTarget::Stderr;
  int log_facility = 2;  // syslog facility number (RFC 5424 §6.2.1): 2 = mail
  std::string syslog_socket = "/dev/log";  // log_target = syslog: the local datagram socket
  Seconds drain_timeout{30};
  std::string spool_dir = "/var/tmp";
  std::size_t memory_threshold = 256 * 1024;
  // Threads for private-key operations (DKIM signatures), so the event loop
  // never waits for one and signatures use every core.  Unset: one per CPU.
  // 0: sign on the event-loop thread.  Fixed at start (a reload keeps it).
  std::optional<std::size_t> crypto_threads;
};

struct SmtpConfig {
  std::string hostname = "localhost";
  std::uint64_t max_message_size = 50ull * 1024 * 1024;
  std::size_t max_recipients = 1000;
  std::size_t max_line_length = 4096;
  std::size_t max_header_size = 1024 * 1024;
  unsigned max_errors = 20;
  // NOOP, RSET, VRFY and HELP a session may send before each further one
  // counts as a bad command (Postfix's smtpd_junk_command_limit); the count
  // starts again after each message that went through the pipeline.
  unsigned max_junk_commands = 100;
  std::size_t max_sessions = 1000;  // concurrent client connections, all listeners
  // Concurrent connections from one client address (all listeners); 0: no
  // limit.  Unset: max(1, max_sessions / 4).  A listener's xforward_hosts
  // (its MTA), Unix-socket peers and milter listeners are exempt.
  std::size_t max_sessions_per_client = 250;
  Seconds command_timeout{300};
  Seconds idle_timeout{300};
  // The whole DATA phase of one message, from the 354 to the final dot
  // (command_timeout still bounds each read inside it).
  Seconds data_timeout{600};
};

struct ForwardTarget {
  enum class Kind { Smtp, Lmtp, LmtpUnix, Maildir };
  Kind kind = Kind::Maildir;
  std::string host;        // Smtp, Lmtp
  std::uint16_t port = 0;  // Smtp, Lmtp
  std::string path;        // LmtpUnix: socket path; Maildir: directory
  std::string text;        // as written, for logs
};

// Parses "smtp:[host]:port", "lmtp:[host]:port", "lmtp:unix:/path", "maildir:/dir".
Result<ForwardTarget> parse_forward_target(std::string_view s);

struct ForwardConfig {
  ForwardTarget target{ForwardTarget::Kind::Maildir, "", 0, "/var/lib/sigil/Maildir",
                       "maildir:/var/lib/sigil/Maildir"};
  Seconds connect_timeout{30};
  Seconds reply_timeout{600};
  bool xforward = true;
  std::size_t max_idle_connections = 20;
  Seconds idle_connection_time{10};
};

struct ListenAddress {
  enum class Kind { Tcp, Unix };
  Kind kind = Kind::Tcp;
  std::string host;  // numeric IPv4 or IPv6 (without brackets)
  std::uint16_t port = 0;
  std::string path;
  std::string text;
};

// Parses "127.0.0.1:10024", "[::1]:10024", "unix:/path".
Result<ListenAddress> parse_listen_address(std::string_view s);

struct Cidr {
  std::array<std::uint8_t, 16> addr{};  // IPv4 stored as v4-mapped IPv6
  unsigned prefix = 0;                  // 0..128 (v4 prefixes + 96)
  bool contains(const std::array<std::uint8_t, 16>& ip) const noexcept;
};

Result<Cidr> parse_cidr(std::string_view s);
// Parses a numeric IPv4/IPv6 address into the v4-mapped form.
std::optional<std::array<std::uint8_t, 16>> parse_ip(std::string_view s);
// Some CIDR of `cidrs` contains `ip` (false for no address).
bool cidrs_contain(const std::vector<Cidr>& cidrs,
                   const std::optional<std::array<std::uint8_t, 16>>& ip) noexcept;
// Loopback only: 127.0.0.0/8 and ::1/128.
std::vector<Cidr> default_xforward_hosts();

// How the MTA talks to a listener (docs/postfix.md "Postfix integration"):
// after-queue content filter (SMTP/LMTP, the default), before-queue SMTP
// proxy (Postfix smtpd_proxy_filter: the client waits on the line), or
// milter (Postfix smtpd_milters / non_smtpd_milters).
enum class ListenerMode { AfterQueue, Proxy, Milter };
const char* to_string(ListenerMode m) noexcept;

struct ListenerConfig {
  std::string name;
  ListenAddress address;
  std::string bank = "default";
  // Peers whose XFORWARD is believed (Postfix's
  // smtpd_authorized_xforward_hosts): their MTA.  Others are not offered
  // XFORWARD and get 550 5.7.0 for it.  Empty: XFORWARD is off.  A Unix-socket
  // listener trusts every peer unless empty (its unix_mode decides who
  // connects).  Set from xforward_hosts (or accept_xforward = false: empty).
  std::vector<Cidr> xforward_hosts = default_xforward_hosts();
  // mode = "milter" on TCP: the MTAs that may connect (their macros, the
  // client address and {auth_authen} among them, are believed).  Others are
  // disconnected at once.  Loopback by default; a Unix socket's unix_mode
  // decides instead.
  std::vector<Cidr> milter_hosts = default_xforward_hosts();
  std::optional<unsigned> unix_mode;  // permissions of a Unix socket
  ListenerMode mode = ListenerMode::AfterQueue;
  // Proxy and milter: how long the MTA waits for our verdict once the data
  // is in (Postfix smtpd_proxy_timeout, 100 s; milter_content_timeout, 300 s).
  Seconds peer_timeout{100};
  // Every stage of one message together, from the end of the data: each
  // stage's deadline is cut to what is left.  Proxy and milter default to
  // peer_timeout - 10 s and must stay below peer_timeout; after-queue has
  // none unless set.
  std::optional<Seconds> budget;
  // Milter: the bank overlaid when the client authenticated (SASL, the
  // {auth_authen} macro), e.g. one with originating = true.  Empty: none.
  std::string auth_bank;
  // Milter: a quarantined message is put on hold in the MTA's queue
  // (SMFIR_QUARANTINE, released with `postsuper -H`): "hold"; or stored in
  // [quarantine] dir like the other modes: "store".
  bool milter_hold = true;
};

// ------------------------------------------------------------ DKIM signing
// [[key]]: one private key and where it is published (d= and s=).
struct KeyConfig {
  std::string name;      // unique; [[signing]] rules refer to it
  std::string file;      // PEM private key, mode 0600 (keys/ checks)
  std::string domain;    // d=, lower-cased
  std::string selector;  // s=
  // The [[key]] (same domain) that takes over once its DNS record is
  // published and matches its private key (filter/app/key_watch.hpp); ""
  // for none.  Chains (a -> b -> c) are allowed, cycles are not.
  std::string successor;
};

// [dkim_sign]: settings of the signing side that are not per key or rule.
struct DkimSignConfig {
  // How often sigild looks up the records of successor keys (besides at
  // start and after each reload).
  Seconds key_check_interval{3600};
};

enum class Canon { Simple, Relaxed };

// Options of one signature; unset values fall back to the rule's, then to
// the built-in defaults below (RFC 6376 §3.5 tags c=, h=, x=, i=).
struct SignatureOptions {
  std::optional<Canon> header_canon;         // default Relaxed
  std::optional<Canon> body_canon;           // default Relaxed
  std::optional<std::vector<std::string>> headers;   // h= candidates; default kDefaultSignedHeaders
  std::optional<std::vector<std::string>> oversign;  // names also signed once more than present
  std::optional<Seconds> expire;             // x= = t= + expire; 0 = no x=
  std::optional<std::string> identity;       // i=, "@domain" or "user@domain" within d=; "" = none
  std::optional<bool> sign_if_signed;        // sign when a DKIM-Signature with this d= is there
};

// Built-in defaults (docs/signing.md "DKIM signing" explains the choice).
inline const std::vector<std::string>& default_signed_headers() {
  static const std::vector<std::string> v = {
      "From", "To", "Cc", "Subject", "Date", "Message-ID", "Reply-To", "In-Reply-To",
      "References", "MIME-Version", "Content-Type", "Content-Transfer-Encoding",
      "List-Id", "List-Help", "List-Unsubscribe", "List-Unsubscribe-Post", "List-Subscribe",
      "List-Post", "List-Owner", "List-Archive"};
  return v;
}
inline const std::vector<std::string>& default_oversigned_headers() {
  static const std::vector<std::string> v = {"From", "Subject", "Date", "To", "Cc"};
  return v;
}

struct SignatureConfig {
  std::string key;  // a [[key]] name
  SignatureOptions options;
};

// [[signing]]: the first rule whose `match` matches the author address (From),
// else the Sender address, else the envelope sender, decides.
// Patterns: "user@example.com" (exact address), "example.com" (that domain),
// ".example.com" (the domain and its subdomains), "." (anything).
// The loader stores patterns lower-cased (addresses match case-insensitively).
struct SigningRule {
  std::vector<std::string> match;
  std::vector<SignatureConfig> signatures;  // from `keys = [...]` and [[signing.signature]]
  SignatureOptions options;                 // rule-level defaults
};

// The options of one signature with every value set: the signature's own,
// else the rule's, else the built-in default (c=relaxed/relaxed,
// h=default_signed_headers(), no x=, no i=, sign_if_signed = true).  An
// oversign list given at neither level defaults to default_oversigned_headers()
// restricted to the names in the resolved h= list.  Never fails: load_*
// has already validated the values.
SignatureOptions resolve_options(const SignatureOptions& signature,
                                 const SignatureOptions& rule);

// ------------------------------------------------- content categories
// What the checking stages find, in priority order: the worst
// finding of a message decides its destiny (Amavis's ccat order).
enum class Category { Clean = 0, BadHeader, Spammy, Spam, Unchecked, Banned, Virus };
inline constexpr std::array<std::string_view, 7> kCategoryNames = {
    "clean", "bad-header", "spammy", "spam", "unchecked", "banned", "virus"};
const char* to_string(Category c) noexcept;

// What happens to a message of a category.  Reject is meant for
// before-queue use; bounce does not deliver either, and sends the sender a
// DSN (RFC 3464) unless filter/dsn.hpp's backscatter guards suppress it.
enum class Destiny { Pass, Discard, Reject, TempFail, Bounce };
const char* to_string(Destiny d) noexcept;

// The spam stage's levels (Amavis's $sa_tag_level_deflt, ...), compared
// with spamd's score plus score_offset.  One set per policy; a [[recipient]]
// rule's levels replace the policy's for its recipients (Amavis's
// @spam_tag_level_maps).
struct SpamLevels {
  double tag_level = -999;    // X-Spam-* headers at or above (-999: always)
  double tag2_level = 6.2;    // spammy: X-Spam-Flag: YES and the subject tag
  double kill_level = 6.9;    // spam: the destiny of category spam applies
  std::string subject_tag = "***Spam*** ";  // prepended to Subject at tag2; "" = none
  double score_offset = 0;    // added to spamd's score (e.g. -5 for a whitelisted bank)
};

// A bank's spam settings: only those it names override the banks below.
struct SpamBankConfig {
  std::optional<double> tag_level, tag2_level, kill_level, score_offset;
  std::optional<std::string> subject_tag;
};

// A bank is an overlay: only the settings it names replace those below it.
struct BankConfig {
  std::string name;
  std::optional<std::vector<std::string>> stages;
  std::optional<bool> originating;
  // Stages removed from the list below this bank (e.g. a DKIM-whitelisted
  // sender's bank skips "spam"); applied after `stages`.
  std::optional<std::vector<std::string>> skip_stages;
  // Complete header fields ("Name: value") prepended to the message; banks
  // stacked on each other add theirs in load order.
  std::vector<std::string> add_header;
  // destiny = { virus = "discard", spam = "pass", ... }: per category.
  std::map<Category, Destiny> destiny;
  // spam_tag_level, spam_tag2_level, ...: the spam stage's levels (unset:
  // the banks below decide, then SpamLevels' defaults).
  SpamBankConfig spam;
  // quarantine = ["virus", "banned", ...]: a message whose worst category is
  // listed is stored in [quarantine] dir (whatever its destiny; not when it
  // is tempfailed).  Unset: the banks below decide; default none.
  std::optional<std::vector<Category>> quarantine;
  // banned_rules = "NAME": the [banned.NAME] set the decode stage applies
  // ("default": the built-in or configured default set; "none": no banned
  // checks).  Unset: the banks below decide; default "default".
  std::optional<std::string> banned_rules;
};

// The built-in destinies (Amavis's defaults): virus and banned are
// discarded, everything else passes.
Destiny default_destiny(Category c) noexcept;

// [av]: the clamd scanners of the `av` stage (filter/av_stage.hpp).
// One clamd, reached over its INSTREAM protocol.
struct AvScanner {
  enum class Kind { Unix, Tcp };
  std::string name;        // for logs and notes; default: the address as written
  Kind kind = Kind::Unix;
  std::string path;        // Unix: socket path
  std::string host;        // Tcp: numeric IPv4 or IPv6 (without brackets)
  std::uint16_t port = 0;  // Tcp
  std::string address;     // as written: "unix:/path", "127.0.0.1:3310", "[::1]:3310"
  Seconds timeout{30};     // connect + the whole scan
};

struct AvConfig {
  // Tried in order until one answers (clean or infected): primaries first,
  // then backups.  Required when a bank lists the `av` stage.
  std::vector<AvScanner> scanners;
  // Larger messages are not scanned (category unchecked).  Keep it at or
  // below clamd's StreamMaxLength (default 25 MiB), or clamd answers
  // "INSTREAM size limit exceeded. ERROR" and every scanner fails.
  std::uint64_t max_size = 25ull * 1024 * 1024;
  // When every scanner failed: tempfail (451), continue (category
  // unchecked) or reject (554).
  enum class OnError { TempFail, Continue, Reject };
  OnError on_error = OnError::TempFail;
};

// Parses a scanner address: "unix:/path" (absolute, under 108 bytes),
// "127.0.0.1:3310" or "[::1]:3310" (numeric only).  Sets kind, path or
// host/port, and address.  Failure: Config, with why.
Result<AvScanner> parse_av_address(std::string_view s);
// [spam]: the scanners of the `spam` stage (filter/spam_stage.hpp): spamd
// over the SPAMC/1.5 protocol, rspamd over HTTP (POST /checkv2).
struct SpamScanner {
  enum class Kind { Spamd, Rspamd };
  Kind kind = Kind::Spamd; // kind = "spamd" (default) or "rspamd"
  std::string name;        // for notes and logs; default: the address as written
  ListenAddress address;   // "127.0.0.1:783", "[::1]:783" or "unix:/path" (rspamd: 11333)
  Seconds timeout{30};     // connect, send, and the scanner's whole check
};

struct SpamConfig {
  // Tried in order until one answers.  Required when a bank lists `spam`.
  std::vector<SpamScanner> scanners;
  // Larger messages are not scanned (note "skipped: too large").  spamc's
  // default limit is 500 KB, and the rules are tuned for mail of that size.
  std::uint64_t max_size = 512000;
  // What to ask spamd: REPORT (the test names with their scores, parsed from
  // the report's table) or SYMBOLS (names only, whatever the report template).
  // spamd only: rspamd always gives its symbols with their scores.
  enum class Command { Report, Symbols };
  Command command = Command::Report;
  // The User: header (spamd's per-user settings).  spamd only: rspamd's User
  // header means an authenticated sender, and is not sent.
  std::string user = "sigil";
  // When every scanner failed: continue (no score; Amavis passes mail when
  // spamd is down) or tempfail (451).
  enum class OnError { Continue, TempFail };
  OnError on_error = OnError::Continue;
};


struct NetworkRule {
  std::vector<Cidr> cidrs;
  std::string bank;
};

// ------------------------------------------------------------------ DNS
// [dns]: the resolver of dns/ (DKIM keys, later SPF/DMARC).
struct DnsServer {
  std::string host;        // numeric IPv4 or IPv6 (without brackets)
  std::uint16_t port = 53;
  std::string text;        // as written, for logs
};

// A fixed TXT answer served without any network (tests, air-gapped setups).
// Several entries with the same name give several records.
struct StaticTxt {
  std::string name;  // lower-cased, no trailing dot
  std::string txt;   // the record's text (split into character-strings on the wire)
};

struct DnsConfig {
  std::vector<DnsServer> servers;  // empty: the nameserver lines of /etc/resolv.conf
  std::chrono::milliseconds timeout{2000};  // per attempt (`timeout_ms`)
  unsigned attempts = 2;                    // tries per query, rotating servers
  std::size_t max_concurrent = 256;         // queries in flight; more wait
  // Queries in flight for one domain (a DKIM signing domain's selectors);
  // more wait, so that one domain's slow selectors cannot take every slot.
  // 0: max(1, max_concurrent / 8).
  std::size_t max_concurrent_per_domain = 0;
  Seconds negative_ttl{300};    // NXDOMAIN/NODATA cache time when no SOA says
  Seconds max_ttl{86400};       // cap on every cached TTL
  std::size_t cache_entries = 10000;  // 0 disables the cache
  std::vector<StaticTxt> static_records;
};

// Parses "127.0.0.1:53", "[::1]:53", or "127.0.0.1" / "[::1]" (port 53).
// Numeric addresses only; IPv6 always in brackets.
Result<DnsServer> parse_dns_server(std::string_view s);

// ------------------------------------------------------------ DKIM verify
// [dkim_verify]: the dkim-verify stage (dkim/verifier.hpp has the policy).
struct VerifyConfig {
  std::string authserv_id;         // Authentication-Results id; default smtp.hostname
  std::size_t max_signatures = 8;  // verified per message
  unsigned min_key_bits = 1024;    // RSA keys below: dkim=policy (RFC 8301 §3.2)
  bool accept_partial_body = false;  // l= shorter than the body still passes
  Seconds clock_drift{300};        // tolerance for x= and t=
  unsigned whitelist_min_key_bits = 1024;  // signatures with smaller keys never whitelist
};

// [[dkim_whitelist]]: Amavis's @author_to_policy_bank_maps (DESIGN.md §3).
// One pattern of `match`:
//   "example.com"             author domain, signed by itself (or a parent)
//   ".example.com"            the same, or any subdomain of it
//   "user@example.com"        that author address, signed by its domain
//   "."                       any author signed by its own domain
//   "<author>/@signer.net"    <author> (any form above) signed by signer.net
//   "<author>/@.signer.net"   ... by signer.net or a subdomain of it
struct WhitelistPattern {
  enum class Author { Any, Domain, DomainTree, Address };
  Author author = Author::Any;
  std::string author_value;  // lower case: domain or address ("" for Any)
  std::string signer;        // lower case domain; empty = the author's own domain
  bool signer_tree = false;  // "/@.signer": subdomains too
  std::string text;          // as written, for logs
};

struct WhitelistRule {
  std::vector<WhitelistPattern> match;
  std::vector<std::string> banks;  // each an existing [bank.NAME]
  std::size_t index = 0;           // position among [[dkim_whitelist]], for logs
};

// Parses one pattern (see WhitelistPattern).  Failure: Config, with why.
Result<WhitelistPattern> parse_whitelist_pattern(std::string_view s);

// [decode]: the `decode` stage's MIME walk and archive limits.  Past any,
// the walk stops and the message gets the finding `unchecked`.
struct DecodeConfig {
  std::uint32_t max_depth = 14;    // nesting of multiparts, message/rfc822 and archives
  std::uint32_t max_parts = 1500;  // MIME parts (leaves and containers) and archive members
  // Expansion quota: decoded plus unpacked bytes of one message may not
  // exceed max(min_expansion_quota, size * min_expansion_factor,
  // min(max_expansion_quota, size * max_expansion_factor)) (Amavis's
  // $MIN_EXPANSION_QUOTA, ... with its defaults).
  std::uint64_t min_expansion_quota = 100 * 1024;
  std::uint32_t min_expansion_factor = 5;
  std::uint64_t max_expansion_quota = 500ull * 1024 * 1024;
  std::uint32_t max_expansion_factor = 500;
  // Where nested archives are unpacked (a private mkdtemp directory per
  // message, removed afterwards); "" = daemon.spool_dir.
  std::string temp_dir;
  // The walk's time limit (the stage's deadline; a listener's budget cuts
  // it): past it the stage times out and its on_error (tempfail) decides.
  Seconds timeout{30};
  // Threads that walk messages off the event loop (unset: one per CPU; 0:
  // on the event-loop thread).  Fixed at start, like daemon.crypto_threads.
  std::optional<std::size_t> threads;
};

// [banned.NAME]: one rule of a banned-content rule set (Amavis's
// $banned_filename_re).  Every matcher given must match (at least one is
// given); each is an RE2 regex, case-insensitive, unanchored.
struct BannedRule {
  enum class Action { Ban, Allow };
  Action action = Action::Ban;
  std::optional<std::string> name;      // the part's file name (archive member path)
  std::optional<std::string> type;      // the declared MIME type
  std::optional<std::string> detected;  // libmagic's type
  std::optional<std::string> path;      // the full path through containers, joined by "/"
  std::optional<std::string> inside;    // any archive format the part is inside ("zip", "tar"...)
};

// The first matching rule decides; no match: not banned.
struct BannedRuleSet {
  std::string name;
  std::vector<BannedRule> rules;
};

// The built-in set "default" (docs/scanning.md "Banned content"); a [banned.default]
// replaces it.
const BannedRuleSet& default_banned_rules();

// [quarantine]: where quarantined messages go (filter/quarantine.hpp).
struct QuarantineConfig {
  std::string dir = "/var/lib/sigil/quarantine";
  bool compress = false;  // gzip each file (ID.gz)
};

// Per-recipient settings (filter/recipients.hpp).
// [recipients]: which recipients are local.  Local recipients get the spam
// stage's X-Spam-* fields and subject tag (Amavis's @local_domains_maps).
struct RecipientsConfig {
  // Patterns "example.com" (that domain) or ".example.com" (it and its
  // subdomains), lower case.  Unset: every recipient is local.
  std::optional<std::vector<std::string>> local_domains;
};

// [[recipient]]: the first rule whose `match` matches a recipient address
// applies to that recipient.  Patterns: "user@example.com", "user@" (that
// local part at any domain), "example.com", ".example.com", "." (anyone).
struct RecipientRule {
  std::vector<std::string> match;  // lower case
  // Categories delivered to this recipient whatever the bank's destiny
  // (Amavis's spam_lovers, banned_files_lovers, ...): they are ignored
  // for this recipient, and the worst remaining category decides.
  std::vector<Category> lovers;
  // Stages whose findings do not count for this recipient (Amavis's
  // bypass_*_checks).  A stage every recipient bypasses does not run.
  std::vector<std::string> bypass;
  // spam_tag_level, spam_tag2_level, spam_kill_level: this recipient's
  // levels (Amavis's per-recipient @spam_*_level_maps) over the policy's.
  SpamBankConfig spam;
  std::size_t index = 0;  // position among [[recipient]], for logs
};

// [dsn]: the bounces of destiny "bounce" (filter/dsn.hpp).
struct DsnConfig {
  // No bounce for spam scoring at or above this (Amavis's
  // $sa_dsn_cutoff_level): such senders are forged.
  double spam_cutoff_level = 10;
  // The DSN's From: address; "" = postmaster@ smtp.hostname.
  std::string from;
};

// [metrics]: the Prometheus endpoint (filter/core/metrics.hpp); no address:
// off, nothing listens.  TCP only (numeric host:port).
struct MetricsConfig {
  std::optional<ListenAddress> address;
};

struct Config {
  std::string source;  // file name, or "<embedded>"
  DaemonConfig daemon;
  SmtpConfig smtp;
  ForwardConfig forward;
  std::vector<ListenerConfig> listeners;
  std::map<std::string, BankConfig> banks;
  std::vector<NetworkRule> networks;
  std::vector<KeyConfig> keys;
  std::vector<SigningRule> signing;
  DkimSignConfig dkim_sign;
  DnsConfig dns;
  VerifyConfig verify;
  std::vector<WhitelistRule> whitelist;
  AvConfig av;
  SpamConfig spam;
  DecodeConfig decode;
  std::map<std::string, BannedRuleSet> banned;  // [banned.NAME] as written (no built-in)
  QuarantineConfig quarantine;
  RecipientsConfig recipients;
  std::vector<RecipientRule> recipient_rules;
  DsnConfig dsn;
  MetricsConfig metrics;
};

// Loads and validates.  Failure: ErrorKind::Config, message has one line per
// problem, each "file:line:key: what is wrong".
Result<Config> load_file(const std::string& path);
Result<Config> load_string(std::string_view toml_text, const std::string& source_name);

// The configuration compiled into the binary (conf/sigil.toml).
std::string_view embedded_default();

}  // namespace sigil::conf
