// Test helpers for dnsbl: load datasets from text, build zones, ask answer() and summarise the
// response as one comparable line.
#pragma once

#include <stdlib.h>
#include <utime.h>

#include <algorithm>
#include <array>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "../dns/test_wire.hpp"
#include "core/inet.hpp"
#include "dnsbl/answer.hpp"
#include "dnsbl/dataset.hpp"
#include "dnsbl/zone.hpp"

namespace mx::dnsbl::testing {

using dns::testing::decoded;
using dns::testing::query_spec;

// A directory under /tmp, removed with everything in it.
class temp_dir {
 public:
  temp_dir() {
    char tmpl[] = "/tmp/mxguard-dnsbl-XXXXXX";
    path_ = ::mkdtemp(tmpl) ? tmpl : "";
  }
  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string write(const std::string& name, const std::string& text, long mtime = 0) const {
    const std::string p = path_ + "/" + name;
    std::ofstream(p, std::ios::binary) << text;
    if (mtime != 0) {
      struct utimbuf t {
        mtime, mtime
      };
      ::utime(p.c_str(), &t);
    }
    return p;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

struct file {
  std::string name;
  std::string text;
};

inline load_result load_files(dataset_type type, const std::vector<file>& files,
                              const load_options& opts = {}) {
  std::vector<source_text> sources;
  for (const auto& f : files) sources.push_back({f.name, f.text, 0});
  auto r = load_dataset(type, sources, opts);
  if (!r) {
    load_result empty;
    empty.warnings.push_back(
        {r.error().source, r.error().line, "LOAD ERROR: " + r.error().message});
    return empty;
  }
  return std::move(*r);
}

inline std::shared_ptr<const dataset> load_text(dataset_type type, const std::string& text,
                                                const load_options& opts = {}) {
  return load_files(type, {{"data", text}}, opts).data;
}

inline std::shared_ptr<const zone_set> one_zone(std::string name,
                                                std::vector<std::shared_ptr<const dataset>> sets) {
  auto z = zone_set::build({zone_config{std::move(name), std::move(sets)}});
  return z ? *z : nullptr;
}

inline decoded ask_raw(const zone_set& zs, const std::vector<std::uint8_t>& query,
                       const answer_options& opts = {}, answer_result* result = nullptr) {
  std::vector<std::uint8_t> out(65535);
  const auto r = answer(zs, query, out, opts);
  if (result) *result = r;
  out.resize(r.size);
  if (r.size == 0) {
    decoded d;
    d.error = "dropped";
    return d;
  }
  return dns::testing::decode(out);
}

inline decoded ask(const zone_set& zs, const std::string& qname,
                   std::uint16_t qtype = dns::rr_type::a, const answer_options& opts = {}) {
  return ask_raw(zs, dns::testing::build_query(query_spec().with_name(qname).with_type(qtype)),
                 opts);
}

inline std::string rcode_name(std::uint8_t rc) {
  static const char* names[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED"};
  return rc < 6 ? names[rc] : "RCODE" + std::to_string(rc);
}

// "NXDOMAIN", "NODATA", or "NOERROR A:127.0.0.2 TXT:\"text\"" (answers sorted).
inline std::string summary(const decoded& d) {
  if (!d.ok) return "ERROR " + d.error;
  if (d.rcode() == dns::rcode::noerror && d.answer.empty()) return "NODATA";
  std::string out = rcode_name(d.rcode());
  std::vector<std::string> parts;
  for (const auto& rr : d.answer) {
    std::string type = rr.type == dns::rr_type::a     ? "A"
                       : rr.type == dns::rr_type::txt ? "TXT"
                       : rr.type == dns::rr_type::soa ? "SOA"
                       : rr.type == dns::rr_type::ns  ? "NS"
                                                      : std::to_string(rr.type);
    parts.push_back(type + ":" + rr.data);
  }
  std::sort(parts.begin(), parts.end());
  for (const auto& p : parts) out += " " + p;
  return out;
}

// RFC 5782 2.4: "2001:db8::1" -> "1.0.0.0...8.b.d.0.1.0.0.2" (empty on a bad address).
inline std::string nibble_name(std::string_view v6) {
  const auto a = mx::inet::ip_address::parse_v6(v6);
  if (!a) return {};
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (int i = 15; i >= 0; --i) {
    const auto b = a->bytes[static_cast<std::size_t>(i)];
    out += hex[b & 15];
    out += '.';
    out += hex[b >> 4];
    if (i > 0) out += '.';
  }
  return out;
}

// The first n nibble labels of an address, most significant first, as a name ("0.0.2").
inline std::string nibble_prefix(std::string_view v6, std::size_t n) {
  const std::string full = nibble_name(v6);  // 64 chars: 32 labels, least significant first
  return full.substr(full.size() - (2 * n - 1));
}

inline std::string warnings_text(const load_result& r) {
  std::string out;
  for (const auto& w : r.warnings) out += to_string(w) + "\n";
  return out;
}

}  // namespace mx::dnsbl::testing
