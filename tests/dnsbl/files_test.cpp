#include "dnsbl/files.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <utime.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "test_util.hpp"

namespace mx::dnsbl {
namespace {

namespace fs = std::filesystem;
using testing::temp_dir;

TEST(files, read_table) {
  temp_dir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string good = dir.write("good.txt", "1.2.3.4\n", 1600000000);
  const std::string gz = dir.write("data.gz", std::string("\x1f\x8b\x08\x00", 4));
  struct read_case {
    std::string what;
    std::string path;
    std::string want;  // "ok:<mtime>:<text>" or the error text
  };
  const read_case cases[] = {
      {"a file", good, "ok:1600000000:1.2.3.4\n"},
      {"missing", dir.path() + "/missing.txt",
       dir.path() + "/missing.txt: unable to open file: No such file or directory"},
      {"a directory", dir.path(), dir.path() + ": not a regular file"},
      {"gzip", gz, gz + ": gzip-compressed data files are not supported"},
  };
  for (const auto& c : cases) {
    const auto got = read_source(c.path);
    const std::string show =
        got ? "ok:" + std::to_string(got->mtime) + ":" + got->text : to_string(got.error());
    EXPECT_EQ(show, c.want) << c.what;
  }
}

TEST(files, load_dataset_files_reads_all_and_keeps_the_newest_mtime) {
  temp_dir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::vector<std::string> paths = {
      dir.write("a.txt", "$SOA 1h ns.bl.test hm.bl.test 0 1h 1h 1w 1h\n1.2.3.4\n", 1600000000),
      dir.write("b.txt", "5.6.7.8\nbad line\n", 1650000000)};
  const auto got = load_dataset_files(dataset_type::ip4set, paths);
  ASSERT_TRUE(got.has_value()) << to_string(got.error());
  EXPECT_EQ(got->data->newest_mtime, 1650000000);
  ASSERT_EQ(got->warnings.size(), 1u);
  EXPECT_EQ(to_string(got->warnings[0]), paths[1] + ":2: invalid address");
  const auto zs = testing::one_zone("bl.test", {got->data});
  ASSERT_TRUE(zs);
  EXPECT_EQ(testing::summary(testing::ask(*zs, "8.7.6.5.bl.test")), "NOERROR A:127.0.0.2");
  EXPECT_EQ(testing::summary(testing::ask(*zs, "bl.test", dns::rr_type::soa)),
            "NOERROR SOA:ns.bl.test hm.bl.test 1650000000 3600 3600 604800 3600");

  const std::vector<std::string> with_missing = {paths[0], dir.path() + "/nope"};
  const auto bad = load_dataset_files(dataset_type::ip4set, with_missing);
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(to_string(bad.error()),
            dir.path() + "/nope: unable to open file: No such file or directory");
}

}  // namespace
}  // namespace mx::dnsbl
