// keys/module.hpp — the key store module: DKIM private keys (private_key.hpp) and the signing table (signing_table.hpp); the key tools' DNS check lives in the CLI (filter/keys_cli.hpp).
#pragma once
#include <string_view>
namespace sigil::keys {
// The module's name as used in logs ("keys").
std::string_view module_name() noexcept;
}  // namespace sigil::keys
