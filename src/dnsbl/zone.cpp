#include "dnsbl/zone.hpp"

#include <algorithm>

namespace mx::dnsbl {

mx::expected<std::shared_ptr<const zone_set>, std::string> zone_set::build(
    const std::vector<zone_config>& configs) {
  auto out = std::make_shared<zone_set>();
  std::vector<std::int64_t> newest;  // per zone: the newest data file
  for (const auto& cfg : configs) {
    auto apex = dns::name::from_text(cfg.name);
    if (!apex || apex->is_root()) return mx::unexpected("invalid zone name `" + cfg.name + "'");
    apex->to_lower();
    auto it = std::find_if(out->zones_.begin(), out->zones_.end(),
                           [&](const zone& z) { return z.apex == *apex; });
    if (it == out->zones_.end()) {
      out->zones_.push_back(zone{*apex, std::nullopt, std::nullopt, {}, {}});
      newest.push_back(0);
      it = out->zones_.end() - 1;
    }
    const auto zi = static_cast<std::size_t>(it - out->zones_.begin());
    for (const auto& ds : cfg.datasets) {
      if (!ds) return mx::unexpected("zone `" + cfg.name + "': missing dataset");
      if (!it->soa && ds->soa) it->soa = ds->soa;
      if (!it->ns && ds->ns) it->ns = ds->ns;
      newest[zi] = std::max(newest[zi], ds->newest_mtime);
      for (const auto& b : ds->bindings) it->bindings.push_back({b.subzone, b.set, ds->expires});
    }
  }
  for (std::size_t i = 0; i < out->zones_.size(); ++i) {
    zone& z = out->zones_[i];
    if (z.bindings.empty())
      return mx::unexpected("missing data for zone `" + z.apex.to_text() + "'");
    if (z.soa && z.soa->serial == 0) z.soa->serial = static_cast<std::uint32_t>(newest[i]);
    // Most specific subzone first; equal subzones stay together, in dataset order.
    std::stable_sort(
        z.bindings.begin(), z.bindings.end(), [](const zone_binding& a, const zone_binding& b) {
          if (a.subzone.label_count() != b.subzone.label_count()) {
            return a.subzone.label_count() > b.subzone.label_count();
          }
          const auto wa = a.subzone.wire();
          const auto wb = b.subzone.wire();
          return std::lexicographical_compare(wa.begin(), wa.end(), wb.begin(), wb.end());
        });
    for (const auto& b : z.bindings) {
      if (b.subzone.is_root()) continue;
      if (std::none_of(z.subzones.begin(), z.subzones.end(),
                       [&](const dns::name& s) { return s == b.subzone; })) {
        z.subzones.push_back(b.subzone);
      }
    }
    out->by_depth_.push_back(i);
  }
  std::stable_sort(out->by_depth_.begin(), out->by_depth_.end(), [&](std::size_t a, std::size_t b) {
    return out->zones_[a].apex.label_count() > out->zones_[b].apex.label_count();
  });
  return std::shared_ptr<const zone_set>(std::move(out));
}

const zone* zone_set::find(const dns::name& qname, int* index) const {
  for (const std::size_t i : by_depth_) {
    if (qname.is_subdomain_of(zones_[i].apex)) {
      if (index) *index = static_cast<int>(i);
      return &zones_[i];
    }
  }
  if (index) *index = -1;
  return nullptr;
}

}  // namespace mx::dnsbl
