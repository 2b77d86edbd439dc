#include "dnsbl/dataset.hpp"

#include <algorithm>
#include <thread>

#include "dnsbl/builder.hpp"

namespace mx::dnsbl {

namespace {

using text::is_space;
using text::skip_space;

// rbldnsd firstword_lc(): the line starts with `word` (any case) and a separator.
bool first_word(std::string_view& line, std::string_view word) {
  if (line.size() <= word.size() || !is_space(line[word.size()])) return false;
  for (std::size_t i = 0; i < word.size(); ++i) {
    if (dns::ascii_lower(static_cast<std::uint8_t>(line[i])) !=
        static_cast<std::uint8_t>(word[i])) {
      return false;
    }
  }
  line.remove_prefix(word.size());
  skip_space(line);
  return true;
}

// A domain name up to the next separator, then the separators.
std::optional<dns::name> take_name(std::string_view& s) {
  std::size_t len = 0;
  while (len < s.size() && !is_space(s[len])) ++len;
  if (len == 0) return std::nullopt;
  auto n = dns::name::from_text(s.substr(0, len));
  s.remove_prefix(len);
  skip_space(s);
  return n;
}

enum class line_kind { skip, special, entry };

// Trims the line; a special line is left as what follows "$" (or "#$", ";$", ":$").
line_kind classify(std::string_view& line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);  // CRLF files
  skip_space(line);
  while (!line.empty() && is_space(line.back())) line.remove_suffix(1);
  if (line.empty()) return line_kind::skip;
  if (line[0] == '$' ||
      (line.size() > 1 && (text::is_comment(line[0]) || line[0] == ':') && line[1] == '$')) {
    line.remove_prefix(line[0] == '$' ? 1 : 2);
    return line_kind::special;
  }
  if (text::is_comment(line[0])) return line_kind::skip;
  return line_kind::entry;
}

// Text fed in pieces cut anywhere, as whole lines: each goes to on_line(line, octets), the line
// without its '\n' and the octets it took (with the '\n'); on_line returns false to stop. An
// unfinished last line waits for the next piece, or for end().
class line_splitter {
 public:
  // bulk(rest) is asked at each line start first: it may take whole lines at the start of
  // rest (leaf_builder::plain_lines) and returns their octets.
  template <class OnLine, class Bulk>
  bool feed(std::string_view text, OnLine on_line, Bulk bulk) {
    std::size_t start = 0;
    if (!carry_.empty()) {
      const std::size_t nl = text.find('\n');
      if (nl == std::string_view::npos) {
        carry_.append(text);
        return true;
      }
      carry_.append(text.substr(0, nl));
      const bool ok = on_line(std::string_view(carry_), carry_.size() + 1);
      carry_.clear();
      if (!ok) return false;
      start = nl + 1;
    }
    while (start < text.size()) {
      start += bulk(text.substr(start));
      if (start == text.size()) break;
      const std::size_t nl = text.find('\n', start);
      if (nl == std::string_view::npos) {
        carry_.assign(text.substr(start));
        break;
      }
      if (!on_line(text.substr(start, nl - start), nl + 1 - start)) return false;
      start = nl + 1;
    }
    return true;
  }

  // The last line when it has no '\n'.
  template <class OnLine>
  void end(OnLine on_line) {
    if (!carry_.empty()) on_line(std::string_view(carry_), carry_.size());
    carry_.clear();
  }

  void clear() { carry_.clear(); }
  bool at_line_start() const { return carry_.empty(); }

 private:
  std::string carry_;
};

class loader {
 public:
  loader(dataset_type type, const load_options& opts)
      : type_(type), opts_(opts), ctx_(opts_, warnings_, warning_count_) {
    top_ttl_ = opts_.default_ttl;
    if (type != dataset_type::combined) {
      top_ = make_builder(type);
      top_->ttl = opts_.default_ttl;
    }
    out_ = std::make_shared<dataset>();
    out_->type = type_;
  }

  void begin_source(std::string name, std::int64_t mtime) {
    source_ = std::move(name);
    out_->newest_mtime = std::max(out_->newest_mtime, mtime);
    ctx_.source = source_;
    ctx_.line = 0;
    lines_.clear();
    if (top_) top_->start_file();
  }

  // Lines may be split anywhere between two calls.
  bool feed(std::string_view text) {
    if (error_) return false;
    return lines_.feed(
        text, [this](std::string_view line, std::size_t) { return next_line(line); },
        [this](std::string_view rest) -> std::size_t {
          leaf_builder* b = current();
          return b != nullptr && !error_ ? b->plain_lines(rest, ctx_) : 0;
        });
  }

  bool end_source() {
    if (!error_) lines_.end([this](std::string_view line, std::size_t) { return next_line(line); });
    lines_.clear();
    return !error_;
  }

  // Parallel loading (dataset_loader::fork_part).
  std::unique_ptr<dataset_part::impl> fork_part() const;
  bool absorb(dataset_part::impl& part);

  mx::expected<load_result, load_error> finish() {
    if (error_) return mx::unexpected(*error_);
    ctx_.line = 0;
    if (top_) {
      out_->bindings.push_back({dns::name(), top_->finish(ctx_)});
    } else {
      finish_section();
    }
    load_result result;
    result.data = std::move(out_);
    result.warnings = std::move(warnings_);
    result.warning_count = warning_count_;
    return result;
  }

 private:
  bool next_line(std::string_view line) {
    ++ctx_.line;
    one_line(line);
    return !error_;
  }

  void one_line(std::string_view line) {
    const line_kind k = classify(line);
    if (k == line_kind::skip) return;
    if (k == line_kind::special) {
      if (!special(line) && !error_) ctx_.warn("invalid or unrecognized special entry");
      return;
    }
    if (leaf_builder* b = current()) {
      b->line(line, ctx_);
    } else {
      ctx_.warn("invalid/unrecognized entry - specify $DATASET line");
    }
  }

  leaf_builder* current() { return top_ ? top_.get() : section_.get(); }
  std::uint32_t& ttl_target() {
    if (leaf_builder* b = current()) return b->ttl;
    return top_ttl_;
  }
  substitutions& subst_target() {
    if (leaf_builder* b = current()) return b->subst;
    return top_subst_;
  }
  std::uint32_t top_ttl() const { return top_ ? top_->ttl : top_ttl_; }

  std::optional<std::uint32_t> ttl(std::string_view& s, std::uint32_t if_zero) {
    auto t = text::parse_time(s);
    if (!t) return std::nullopt;
    if (*t == 0) return if_zero;
    if (opts_.min_ttl != 0 && *t < opts_.min_ttl) return opts_.min_ttl;
    if (opts_.max_ttl != 0 && *t > opts_.max_ttl) return opts_.max_ttl;
    return t;
  }

  // Returns false for "invalid or unrecognized" (the caller warns); sets error_ to abort.
  bool special(std::string_view w) {
    if (first_word(w, "soa")) return soa(w);
    if (first_word(w, "ns") || first_word(w, "nameserver")) return ns(w);
    if (first_word(w, "ttl")) {
      const auto t = ttl(w, opts_.default_ttl);
      if (!t || !w.empty()) return false;
      ttl_target() = *t;
      return true;
    }
    if (first_word(w, "maxrange4")) return maxrange(w);
    if (w.size() >= 2 && (text::is_digit(w[0]) || w[0] == '=') && is_space(w[1])) {
      const std::size_t n =
          w[0] == '=' ? substitutions::base : static_cast<std::size_t>(w[0] - '0');
      w.remove_prefix(2);
      skip_space(w);
      if (w.empty()) return false;
      auto& var = subst_target().vars[n];
      if (!var) var = std::string(w);  // the first definition wins
      return true;
    }
    if (first_word(w, "dataset")) {
      if (type_ != dataset_type::combined) return false;
      return new_section(w);
    }
    if (first_word(w, "timestamp")) return timestamp(w);
    return false;
  }

  bool soa(std::string_view w) {
    if (out_->soa) return true;  // the first $SOA wins
    soa_data s;
    const auto t = ttl(w, top_ttl());
    if (!t) return false;
    s.ttl = *t;
    auto mname = take_name(w);
    if (!mname) return false;
    auto rname = take_name(w);
    if (!rname) return false;
    s.mname = *mname;
    s.rname = *rname;
    const auto serial = text::parse_uint32(w);
    if (!serial) return false;
    s.serial = *serial;
    std::uint32_t* fields[4] = {&s.refresh, &s.retry, &s.expire, &s.minimum};
    for (auto* f : fields) {
      const auto v = text::parse_time(w);
      if (!v) return false;
      *f = *v;
    }
    if (!w.empty()) return false;
    out_->soa = s;
    return true;
  }

  bool ns(std::string_view w) {
    if (out_->ns) return true;  // the first $NS line wins
    const auto t = ttl(w, top_ttl());
    if (!t) return false;
    ns_data n;
    n.ttl = *t;
    if (w.empty()) return false;
    while (!w.empty()) {
      if (w.front() == '-') {  // "-name": commented out
        while (!w.empty() && !is_space(w.front())) w.remove_prefix(1);
        skip_space(w);
        continue;
      }
      auto name = take_name(w);
      if (!name) return false;
      const bool dup = std::any_of(n.names.begin(), n.names.end(),
                                   [&](const dns::name& x) { return x.equals_ci(*name); });
      if (dup) continue;
      if (n.names.size() >= 32) {
        ctx_.warn("too many NS records specified, only first 32 will be used");
        break;
      }
      n.names.push_back(*name);
    }
    if (!n.names.empty()) out_->ns = std::move(n);
    return true;
  }

  bool maxrange(std::string_view w) {
    const bool cidr = !w.empty() && w.front() == '/';
    if (cidr) w.remove_prefix(1);
    const auto r = text::parse_uint32(w);
    if (!r || !w.empty() || *r == 0) return false;
    std::uint32_t size = *r;
    if (cidr) {
      if (*r > 32) return false;
      size = *r == 32 ? 1u : (1u << (32 - *r));
    }
    if (ctx_.maxrange4 != 0 && ctx_.maxrange4 < size) {
      ctx_.warn("ignoring attempt to increase $MAXRANGE4 from " + std::to_string(ctx_.maxrange4) +
                " to " + std::to_string(size));
    } else {
      ctx_.maxrange4 = size;
    }
    return true;
  }

  bool timestamp(std::string_view w) {
    const auto stamp = text::parse_timestamp(w);
    if (!stamp) return false;
    std::int64_t expires = 0;
    if (w.empty()) {
      expires = 0;
    } else if (w.front() == '+') {
      w.remove_prefix(1);
      const auto n = text::parse_time(w);
      if (!n || !w.empty() || *stamp == 0 || *n == 0) return false;
      expires = *stamp + *n;
    } else {
      const auto e = text::parse_timestamp(w);
      if (!e || !w.empty()) return false;
      expires = *e;
    }
    if (*stamp != 0 && opts_.now != 0 && *stamp > opts_.now) {
      error_ = load_error{std::string(ctx_.source), ctx_.line,
                          "data timestamp is " + std::to_string(*stamp - opts_.now) +
                              " sec in the future, aborting loading"};
      return true;
    }
    out_->timestamp = std::max(out_->timestamp, *stamp);
    if (expires != 0 && (out_->expires == 0 || out_->expires > expires)) out_->expires = expires;
    return true;
  }

  bool new_section(std::string_view w) {
    finish_section();
    // Comments are recognised here only at the start or after a separator.
    for (std::size_t i = 0; i < w.size(); ++i) {
      if (text::is_comment(w[i]) && (i == 0 || is_space(w[i - 1]))) {
        w = w.substr(0, i);
        break;
      }
    }
    std::size_t len = 0;
    while (len < w.size() && !is_space(w[len])) ++len;
    std::string_view type_name = w.substr(0, len);
    w.remove_prefix(len);
    skip_space(w);
    if (const auto colon = type_name.find(':'); colon != std::string_view::npos) {
      type_name = type_name.substr(0, colon);  // "type:name": the name is for logs only
    }
    const auto t = parse_dataset_type(type_name);
    if (!t) {
      error_ = load_error{std::string(ctx_.source), ctx_.line,
                          "unknown dataset type `" + std::string(type_name) + "'"};
      return true;
    }
    if (*t == dataset_type::combined) {
      error_ = load_error{std::string(ctx_.source), ctx_.line,
                          "dataset type `combined' cannot be used inside `combined'"};
      return true;
    }
    section_ = make_builder(*t);
    section_->ttl = top_ttl_;
    section_->subst = top_subst_;
    section_->start_file();
    section_zones_.clear();
    while (!w.empty()) {
      len = 0;
      while (len < w.size() && !is_space(w[len])) ++len;
      const std::string_view z = w.substr(0, len);
      w.remove_prefix(len);
      skip_space(w);
      if (z == "@") {
        section_zones_.push_back(dns::name());
        continue;
      }
      auto n = dns::name::from_text(z);
      if (!n || n->is_root()) {
        ctx_.warn("invalid domain name `" + std::string(z) + "'");
        continue;
      }
      n->to_lower();
      section_zones_.push_back(*n);
    }
    if (section_zones_.empty()) {
      ctx_.warn("no subzone(s) specified for dataset, data will be ignored");
    }
    return true;
  }

  void finish_section() {
    if (!section_) return;
    const std::size_t line = ctx_.line;
    ctx_.line = 0;
    auto set = section_->finish(ctx_);
    ctx_.line = line;
    for (const auto& z : section_zones_) out_->bindings.push_back({z, set});
    section_.reset();
  }

  dataset_type type_;
  load_options opts_;  // a copy: the streaming API may outlive the caller's options
  std::vector<load_warning> warnings_;
  std::size_t warning_count_ = 0;
  line_context ctx_;
  std::shared_ptr<dataset> out_;
  std::string source_;  // ctx_.source points here
  line_splitter lines_;
  std::unique_ptr<leaf_builder> top_;      // every type but combined
  std::unique_ptr<leaf_builder> section_;  // combined: the section being read
  std::vector<dns::name> section_zones_;
  std::uint32_t top_ttl_ = 0;
  substitutions top_subst_;
  std::optional<load_error> error_;
};

}  // namespace

// A part of a source parsed on another thread (dataset_loader::fork_part).
class dataset_part::impl {
 public:
  impl(std::unique_ptr<leaf_builder> b, const load_options& opts, std::string source)
      : builder(std::move(b)), opts_(opts), source_(std::move(source)) {
    ctx.source = source_;
  }

  // As loader::feed, but stops at the first line that needs the state of the lines before.
  bool feed(std::string_view text) {
    if (stopped) return false;
    return lines_.feed(
        text, [this](std::string_view line, std::size_t n) { return one_line(line, n); },
        [this](std::string_view rest) -> std::size_t {
          if (stopped) return 0;
          const std::size_t n = builder->plain_lines(rest, ctx);
          consumed += n;
          return n;
        });
  }

  void end() {
    if (!stopped)
      lines_.end([this](std::string_view line, std::size_t n) { return one_line(line, n); });
    lines_.clear();
  }

  std::unique_ptr<leaf_builder> builder;
  std::vector<load_warning> warnings;  // line numbers from the part's start
  std::size_t warning_count = 0;

 private:
  load_options opts_;
  std::string source_;

 public:
  line_context ctx{opts_, warnings, warning_count};  // ctx.line: the lines parsed
  std::uint64_t consumed = 0;                        // octets of the lines parsed
  bool stopped = false;

 private:
  bool one_line(std::string_view line, std::size_t span) {
    ++ctx.line;
    const line_kind k = classify(line);
    // `$` lines and default lines change the state the lines after them are read with.
    if (k == line_kind::special || (k == line_kind::entry && line[0] == ':')) return stop();
    if (k == line_kind::entry) {
      builder->line(line, ctx);
      if (builder->aborted()) return stop();
    }
    consumed += span;
    return true;
  }

  bool stop() {
    --ctx.line;  // the loader parses this line again
    stopped = true;
    return false;
  }

  line_splitter lines_;
};

std::unique_ptr<dataset_part::impl> loader::fork_part() const {
  if (error_ || !top_) return nullptr;
  auto b = top_->fork();
  if (!b) return nullptr;
  return std::make_unique<dataset_part::impl>(std::move(b), opts_, source_);
}

bool loader::absorb(dataset_part::impl& part) {
  // The part assumed no $MAXRANGE4 limit, and must follow a whole line.
  if (error_ || !top_ || ctx_.maxrange4 != 0 || !lines_.at_line_start()) return false;
  warning_count_ += part.warning_count;
  for (auto& w : part.warnings) {
    if (warnings_.size() >= opts_.max_warnings) break;
    w.line += ctx_.line;
    warnings_.push_back(std::move(w));
  }
  part.warnings.clear();
  part.warning_count = 0;
  ctx_.line += part.ctx.line;
  top_->absorb(*part.builder);
  return true;
}

dataset_part::dataset_part(std::unique_ptr<impl> p) : impl_(std::move(p)) {}
dataset_part::~dataset_part() = default;
bool dataset_part::feed(std::string_view text) {
  return impl_->feed(text);
}
void dataset_part::end() {
  impl_->end();
}
std::uint64_t dataset_part::stopped_at() const {
  return impl_->consumed;
}
bool dataset_part::stopped() const {
  return impl_->stopped;
}

unsigned thread_count(const load_options& opts) {
  const unsigned n = opts.threads != 0 ? opts.threads : std::thread::hardware_concurrency();
  return std::clamp(n, 1u, 64u);
}

std::string to_string(const load_warning& w) {
  return w.source + ":" + std::to_string(w.line) + ": " + w.message;
}

std::string to_string(const load_error& e) {
  if (e.source.empty()) return e.message;
  if (e.line == 0) return e.source + ": " + e.message;
  return e.source + ":" + std::to_string(e.line) + ": " + e.message;
}

std::size_t dataset::entry_count() const {
  std::size_t n = 0;
  const leaf* last = nullptr;
  for (const auto& b : bindings) {
    if (b.set.get() != last) n += b.set->entry_count();
    last = b.set.get();
  }
  return n;
}

std::size_t dataset::memory_bytes() const {
  std::size_t n = 0;
  const leaf* last = nullptr;
  for (const auto& b : bindings) {
    if (b.set.get() != last) n += b.set->memory_bytes();
    last = b.set.get();
  }
  return n;
}

class dataset_loader::impl : public loader {
 public:
  using loader::loader;
};

dataset_loader::dataset_loader(dataset_type type, const load_options& opts)
    : impl_(std::make_unique<impl>(type, opts)) {}
dataset_loader::~dataset_loader() = default;
void dataset_loader::begin_source(std::string name, std::int64_t mtime) {
  impl_->begin_source(std::move(name), mtime);
}
bool dataset_loader::feed(std::string_view text) {
  return impl_->feed(text);
}
bool dataset_loader::end_source() {
  return impl_->end_source();
}
mx::expected<load_result, load_error> dataset_loader::finish() {
  return impl_->finish();
}
std::unique_ptr<dataset_part> dataset_loader::fork_part() const {
  auto p = impl_->fork_part();
  if (!p) return nullptr;
  return std::make_unique<dataset_part>(std::move(p));
}
bool dataset_loader::absorb(dataset_part& part) {
  return impl_->absorb(*part.impl_);
}

mx::expected<load_result, load_error> load_dataset(dataset_type type,
                                                   std::span<const source_text> sources,
                                                   const load_options& opts) {
  loader l(type, opts);
  for (const auto& src : sources) {
    l.begin_source(src.name, src.mtime);
    if (!l.feed(src.text) || !l.end_source()) break;
  }
  return l.finish();
}

mx::expected<dataset_spec, std::string> parse_dataset_spec(std::string_view text) {
  const auto colon = text.find(':');
  if (colon == std::string_view::npos) {
    return mx::unexpected("invalid dataset specification `" + std::string(text) + "'");
  }
  const auto type = parse_dataset_type(text.substr(0, colon));
  if (!type) {
    return mx::unexpected("unknown dataset type `" + std::string(text.substr(0, colon)) + "'");
  }
  dataset_spec spec;
  spec.type = *type;
  std::string_view rest = text.substr(colon + 1);
  while (!rest.empty()) {
    const auto sep = rest.find_first_of(",:");
    const auto file = rest.substr(0, sep);
    if (!file.empty()) spec.files.emplace_back(file);
    if (sep == std::string_view::npos) break;
    rest.remove_prefix(sep + 1);
  }
  if (spec.files.empty()) {
    return mx::unexpected("missing file names for " + std::string(text.substr(0, colon)));
  }
  return spec;
}

mx::expected<zone_arg, std::string> parse_zone_arg(std::string_view text) {
  const auto colon = text.find(':');
  if (colon == std::string_view::npos || colon == 0) {
    return mx::unexpected("invalid zone spec `" + std::string(text) + "'");
  }
  const auto zone = text.substr(0, colon);
  const auto n = dns::name::from_text(zone);
  if (!n || n->is_root()) {
    return mx::unexpected("invalid domain name `" + std::string(zone) + "'");
  }
  auto spec = parse_dataset_spec(text.substr(colon + 1));
  if (!spec) return mx::unexpected(spec.error());
  zone_arg out;
  out.zone = std::string(zone);
  out.spec = std::move(*spec);
  return out;
}

}  // namespace mx::dnsbl
