// filter/app/keys_cli.hpp — the `sigil keys` commands.
//
//   sigil keys generate --selector S --domain D [--type] [--bits] --out FILE
//       writes a new private key (mode 0600, never over a file) and prints
//       its DNS TXT record.
//   sigil keys show FILE
//       prints the DNS TXT record (zone-file form) of every [[key]] in FILE.
//   sigil keys test FILE [--dns IP[:PORT]]
//       looks up selector._domainkey.domain TXT for every [[key]] and checks
//       that the published p= is the public half of the private key, with the
//       right k= (dkim/key_publication.hpp).  Prints one line per key (ok,
//       MISMATCH, NOT PUBLISHED, DNS ERROR, REVOKED) and exits 1 unless every
//       key is ok.
//   sigil keys status [CONFIG] [--dns IP[:PORT]]
//       one line per [[key]]: published, matching, age, and which key signs
//       for it given these answers (the rules sigild's key watch applies).
//   sigil keys rotate --key NAME [--type] [--bits] [--selector S] [CONFIG]
//       (keys_rotate_cli.cpp) makes the next key of NAME's successor chain
//       and edits CONFIG to name it.
//
// The lookups are blocking (libresolv): these are command-line tools, never
// used by sigild, whose resolver is the asynchronous dns/ module.  --dns
// picks the server; without it /etc/resolv.conf's are used.  CONFIG
// defaults as for check-config (config_path.hpp), but must be a file.
#pragma once

#include <string>

#include "dkim/key_publication.hpp"
#include "keys/private_key.hpp"

namespace sigil::filter {
int keys_generate(int argc, char** argv);
int keys_show(int argc, char** argv);
int keys_test(int argc, char** argv);
int keys_status(int argc, char** argv);
int keys_rotate(int argc, char** argv);

// Shared by the keys commands (keys_cli.cpp).
// The TXT records of `name`, through libresolv (`server`: "IPv4[:PORT]", or
// "" for resolv.conf's servers).
dkim::KeyAnswer lookup_txt(const std::string& name, const std::string& server);
// Writes a new private key to `out` (mode 0600, O_EXCL) and reads it back;
// prints the failure (with "sigil keys CMD: ") and returns nullptr.
keys::KeyPtr write_key_file(const std::string& out, keys::KeyType type, unsigned bits,
                            const char* cmd);
// --type and --bits ("" when not given) into kt and bits; false (printed) when bad.
bool parse_type_bits(const std::string& type, const std::string& bits_text, keys::KeyType& kt,
                     unsigned& bits, const char* cmd);
// CONFIG, else the default path when it exists; "" (printed) when none.
std::string config_file(const std::string& named, const char* cmd);
}  // namespace sigil::filter
