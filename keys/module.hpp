// keys/module.hpp — The key store and signing table (PEM RSA, Ed25519, immutable snapshots). Arrives with issue 3; today it holds only this module's identity so the layout and link graph are in place.
#pragma once
#include <string_view>
namespace sigil::keys {
// The module's name as used in logs ("keys").
std::string_view module_name() noexcept;
}  // namespace sigil::keys
