// conf/sections.hpp — the loaders of the configuration's sections, one
// function per group (internal to conf/; Loader::load calls them in order).
//
//   core     (sections_core.cpp): [daemon] [smtp] [forward] [[listener]] [metrics]
//            [bank.NAME] [[network]]
//   DKIM     (sections_dkim.cpp): [[key]] [[signing]] [dkim_sign] [dns] [dkim_verify]
//            [[dkim_whitelist]]
//   scanning (sections_scan.cpp): [av] [spam] [decode] [banned.NAME]
//            [quarantine] [recipients] [[recipient]] [dsn]
//
// Each reads its sections' keys into Config, with defaults where a key is
// absent, and reports every bad key through the Loader.
// Does not: open files or sockets, read keys, or resolve names.
#pragma once

#include <string>
#include <string_view>

#include <toml++/toml.h>

#include "conf/config.hpp"
#include "conf/loader.hpp"

namespace sigil::conf::detail {

// The core group; the banks exist afterwards ("default" always does).
void load_core_sections(Loader& l, const toml::table& root, Config& c);
// Every listener's bank and auth_bank is a loaded bank (checked last).
void check_listener_banks(Loader& l, const toml::table& root, const Config& c);
// The DKIM group (needs the banks and smtp.hostname).
void load_dkim_sections(Loader& l, const toml::table& root, Config& c);
// The scanning group (needs the banks).
void load_scan_sections(Loader& l, const toml::table& root, Config& c);

// The spam_* keys of [bank.NAME] (the spam stage's levels; at `p`).
void load_bank_spam(Loader& l, const toml::table& bt, const std::string& p, SpamBankConfig& s);

// The node of `key` in [bank.`bank`], for errors found once every section
// is loaded; nullptr when not written.
const toml::node* bank_key_node(const toml::table& root, const std::string& bank,
                                std::string_view key);

}  // namespace sigil::conf::detail
