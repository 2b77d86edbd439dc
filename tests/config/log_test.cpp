// Tests for core/log's line format. (core/log belongs to the config/CLI work, so its tests live
// with config's; they link through mx_config -> mx_core.)
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/log.hpp"

namespace mx::log {
namespace {

struct line_case {
  std::string name;
  format f;
  level l;
  std::string message;
  std::string want;
};

TEST(LogFormat, Lines) {
  const std::vector<line_case> cases = {
      {"text info", format::text, level::info, "started", "mxguard[42]: info: started\n"},
      {"text warn", format::text, level::warn, "open relay", "mxguard[42]: warn: open relay\n"},
      {"text error", format::text, level::error, "x", "mxguard[42]: error: x\n"},
      {"text: CRLF cannot forge a line", format::text, level::info,
       "helo a\r\nmxguard[1]: error: fake",
       "mxguard[42]: info: helo a\\x0d\\x0amxguard[1]: error: fake\n"},
      {"text: backslash escaped, so escapes are unambiguous", format::text, level::info, "a\\x0a",
       "mxguard[42]: info: a\\\\x0a\n"},
      {"text: ESC and DEL", format::text, level::info, "\x1b[31m\x7f",
       "mxguard[42]: info: \\x1b[31m\\x7f\n"},
      {"text: valid UTF-8 kept", format::text, level::info, "caf\xc3\xa9",
       "mxguard[42]: info: caf\xc3\xa9\n"},
      {"text: C1 control escaped", format::text, level::info, "\xc2\x9b",
       "mxguard[42]: info: \\xc2\\x9b\n"},
      {"text: invalid UTF-8 escaped", format::text, level::info, "\xff\xc3",
       "mxguard[42]: info: \\xff\\xc3\n"},
      {"text: overlong NUL escaped", format::text, level::info, "\xc0\x80",
       "mxguard[42]: info: \\xc0\\x80\n"},
      {"json plain", format::json, level::warn, "open relay",
       R"({"program":"mxguard","pid":42,"level":"warn","message":"open relay"})"
       "\n"},
      {"json escapes", format::json, level::info, "a\"b\\c\nd\re\tf\x01",
       R"({"program":"mxguard","pid":42,"level":"info","message":"a\"b\\c\nd\re\tf\u0001"})"
       "\n"},
      {"json: UTF-8 kept, invalid replaced", format::json, level::error, "\xc3\xa9\xff",
       "{\"program\":\"mxguard\",\"pid\":42,\"level\":\"error\",\"message\":\"\xc3\xa9\\ufffd\"}"
       "\n"},
      {"json: surrogate encoded in UTF-8 is invalid", format::json, level::info, "\xed\xa0\x80",
       R"({"program":"mxguard","pid":42,"level":"info","message":"\ufffd\ufffd\ufffd"})"
       "\n"},
      {"json: DEL and C1", format::json, level::info, "\x7f\xc2\x85",
       R"({"program":"mxguard","pid":42,"level":"info","message":"\u007f\u0085"})"
       "\n"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(format_line(c.f, c.l, c.message, 42), c.want) << c.name;
  }
}

TEST(LogFormat, SetFormat) {
  const std::vector<format> formats = {format::json, format::text};
  for (auto f : formats) {
    set_format(f);
    EXPECT_EQ(current_format(), f);
  }
}

}  // namespace
}  // namespace mx::log
