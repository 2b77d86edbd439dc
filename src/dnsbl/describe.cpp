#include "dnsbl/describe.hpp"

#include "dnsbl/leaf.hpp"

namespace mx::dnsbl {

std::string describe(const mx::expected<load_result, load_error>& load) {
  if (!load) return "ERROR " + to_string(load.error()) + "\n";
  std::string out;
  for (const auto& w : load->warnings) out += "W " + to_string(w) + "\n";
  out += "warnings " + std::to_string(load->warning_count) + "\n";
  const dataset& d = *load->data;
  out += "soa " + std::to_string(d.soa.has_value()) + " ns " + std::to_string(d.ns.has_value()) +
         " entries " + std::to_string(d.entry_count()) + "\n";
  for (const auto& b : d.bindings) {
    const leaf& l = *b.set;
    out += "leaf ttl " + std::to_string(l.ttl()) + " default " + std::to_string(l.default_value()) +
           " values " + std::to_string(l.values().size()) + "\n";
    for (std::uint32_t i = 0; i < l.values().size(); ++i) {
      const auto& v = l.values().at(i);
      out += "V " + std::to_string(v.a) + " " + std::string(l.values().final_template(v)) + "\n";
    }
    walk_cursor c;
    ip_run run;
    while (l.next_run(c, run)) {
      out += "R " + std::to_string(run.lo.lo) + "-" + std::to_string(run.hi.lo);
      for (const auto v : run.values) out += " " + std::to_string(v);
      out += "\n";
    }
  }
  return out;
}

}  // namespace mx::dnsbl
