// keys/module.hpp — the key store module: DKIM private keys (private_key.hpp); the signing table and key tools join with issue 3.
#pragma once
#include <string_view>
namespace sigil::keys {
// The module's name as used in logs ("keys").
std::string_view module_name() noexcept;
}  // namespace sigil::keys
