// keys/key_owner.cpp — see key_owner.hpp.
#include "keys/key_owner.hpp"

#include <pwd.h>
#include <unistd.h>

#include <vector>

namespace sigil::keys {

// getpwnam_r/getpwuid_r with a buffer large enough for any entry.
static bool lookup_user(const std::string* name, uid_t uid, passwd& pw, std::vector<char>& buf) {
  buf.resize(16384);
  passwd* found = nullptr;
  int rc = name ? ::getpwnam_r(name->c_str(), &pw, buf.data(), buf.size(), &found)
                : ::getpwuid_r(uid, &pw, buf.data(), buf.size(), &found);
  return rc == 0 && found != nullptr;
}

Result<uid_t> daemon_uid(const std::string& user) {
  if (user.empty()) return ::geteuid();
  passwd pw{};
  std::vector<char> buf;
  if (!lookup_user(&user, 0, pw, buf))
    return make_error(ErrorKind::Config, "daemon.user " + user + ": no such user");
  return pw.pw_uid;
}

std::string describe_uid(uid_t uid) {
  passwd pw{};
  std::vector<char> buf;
  if (!lookup_user(nullptr, uid, pw, buf)) return "uid " + std::to_string(uid);
  return std::string(pw.pw_name) + " (uid " + std::to_string(uid) + ")";
}

Status check_key_owner(const std::string& path, uid_t owner, uid_t daemon) {
  if (owner == 0 || owner == daemon) return Ok{};
  std::string who = describe_uid(daemon);
  passwd pw{};
  std::vector<char> buf;
  std::string chown_to =
      lookup_user(nullptr, daemon, pw, buf) ? pw.pw_name : std::to_string(daemon);
  return make_error(ErrorKind::Config, path + ": private key is owned by " + describe_uid(owner) +
                                           ", neither root nor the daemon user " + who +
                                           "; run: chown " + chown_to + " " + path);
}

}  // namespace sigil::keys
