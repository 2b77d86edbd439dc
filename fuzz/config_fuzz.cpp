// Fuzz target for config::load_string: any bytes must give a config or a located config_error,
// never an exception, a crash or a hang. A config that loads must survive a round trip through
// effective_toml() unchanged (the option table's show and apply agree).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "config/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto cfg = mx::config::load_string(text, "fuzz.toml");
  if (!cfg) {
    const auto& e = cfg.error();
    if (e.file != "fuzz.toml" || e.message.empty() || e.line < 0 || e.column < 0) std::abort();
    return 0;
  }
  auto again = mx::config::load_string(mx::config::effective_toml(*cfg), "fuzz.toml");
  if (!again || !(*again == *cfg)) std::abort();
  const auto policy = mx::config::relay_policy(*cfg);
  if (policy.restrictions.empty()) std::abort();  // the loader requires at least one
  return 0;
}
