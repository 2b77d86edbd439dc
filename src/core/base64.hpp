// core/base64: strict RFC 4648 section 4 base64, for SMTP AUTH (RFC 4954) responses.
//
// SECURITY: decoding is strict: only the 64-character alphabet, '=' padding only at the end and
// only as the length requires, no whitespace, no line breaks, and unused bits of the last
// character must be zero (RFC 4648 3.5), so one credential has exactly one encoding. Anything
// else is an error value, never a best-effort guess. Pure: no allocation beyond the result.
// RFCs: 4648 (sections 3.3, 3.5, 4), 4954 section 4 (AUTH responses are base64).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace mx::base64 {

std::string encode(std::string_view bytes);
std::optional<std::string> decode(std::string_view text);

}  // namespace mx::base64
