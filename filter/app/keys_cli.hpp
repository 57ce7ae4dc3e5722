// filter/app/keys_cli.hpp — `sigil keys show` and `sigil keys test`.
//
//   sigil keys show FILE
//       prints the DNS TXT record (zone-file form) of every [[key]] in FILE.
//   sigil keys test FILE [--dns IP[:PORT]]
//       looks up selector._domainkey.domain TXT for every [[key]] and checks
//       that the published p= is the public half of the private key, with the
//       right k=.  Prints one line per key (ok, MISMATCH, NOT PUBLISHED, DNS
//       ERROR, REVOKED) and exits 1 unless every key is ok.
//
// The lookup is blocking (libresolv): this is a command-line tool, never
// used by sigild, whose resolver is the asynchronous dns/ module.  --dns
// picks the server; without it /etc/resolv.conf's are used.
#pragma once

namespace sigil::filter {
int keys_show(int argc, char** argv);
int keys_test(int argc, char** argv);
}  // namespace sigil::filter
