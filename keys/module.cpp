#include "keys/module.hpp"
namespace sigil::keys {
std::string_view module_name() noexcept { return "keys"; }
}  // namespace sigil::keys
