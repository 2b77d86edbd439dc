// probe/output: what `mxguard probe` prints: a table per target, the JSON document (--json,
// every test with its commands and full replies), and the test catalogue (--list-tests). Pure:
// returns strings.
//
// SECURITY: every byte of server text is untrusted. The human output shows control characters as
// '?' (a banner cannot move the cursor or recolour a terminal); JSON escapes them as \u00XX and
// replaces invalid UTF-8 with U+FFFD, so the document always parses.
// RFCs: 8259 (JSON), 3629 (UTF-8).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "probe/target.hpp"

namespace mx::probe {

// A JSON string literal, quotes included.
std::string json_string(std::string_view s);

// Terminal-safe text: control characters (and DEL) as '?', at most `max` octets ("..." after).
std::string printable(std::string_view s, std::size_t max = 200);

// The human report of one target: header, capabilities, one row per test, verdict and reasons.
std::string format_table(const target_report& r);

// One line per target: "OPEN  127.0.0.1:25  example.test (accepts-all)".
std::string format_summary(const std::vector<target_report>& reports);

// The whole run as one JSON object: {"targets": [...], "summary": {...}, "exit": N}.
std::string format_json(const std::vector<target_report>& reports);

// The catalogue: id, form, kind and family, the MAIL/RCPT templates, what it exploits, reference.
std::string format_test_list();

// The qualifiers of an OPEN verdict: "accepts-all", "unsafe parsing".
std::vector<std::string> qualifiers(const classification& c);

}  // namespace mx::probe
