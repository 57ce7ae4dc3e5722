// keys/key_owner.hpp — who may own a DKIM private key file: root, or the
// user sigild runs as ([daemon] user; without it, the user running now).
//
// A key owned by anybody else could be replaced by that user, who would then
// sign for the domain; and after the privilege drop the daemon re-reads its
// keys on SIGHUP as the daemon user (filter/app/privileges.hpp).
// Does not: check the mode (private_key.cpp refuses group/other access) or
// whether the daemon user can read the file after the drop (sigil
// check-config does that in a child running as that user).
#pragma once

#include <sys/types.h>

#include <string>

#include "conf/result.hpp"

namespace sigil::keys {

// The uid of `user` (the [daemon] user), or the effective uid when `user`
// is empty.  Failure (Config): no such user.
Result<uid_t> daemon_uid(const std::string& user);

// Ok when `owner` is root or `daemon`; else (Config) a message naming the
// file, its owner, and the chown that fixes it.
Status check_key_owner(const std::string& path, uid_t owner, uid_t daemon);

// "NAME (uid N)", or "uid N" for a uid without a passwd entry.
std::string describe_uid(uid_t uid);

}  // namespace sigil::keys
