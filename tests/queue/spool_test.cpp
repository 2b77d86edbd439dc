#include "queue/spool.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <future>
#include <set>
#include <iterator>
#include <thread>

#include "queue/sync_batcher.hpp"

namespace mx::queue {
namespace {

namespace fs = std::filesystem;

struct temp_dir {
  fs::path path;
  temp_dir() {
    char tmpl[] = "/tmp/mxguard-spool-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~temp_dir() { fs::remove_all(path); }
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<fs::path> files_in(const fs::path& dir) {
  std::vector<fs::path> out;
  if (!fs::exists(dir)) return out;
  for (const auto& e : fs::directory_iterator(dir)) out.push_back(e.path());
  return out;
}

TEST(maildir_store, stage_then_publish_links_one_copy) {
  temp_dir t;
  maildir_store store(t.path.string(), "mx.example.test");
  const policy::mailbox_ref alice{"example.test", "alice"};
  const policy::mailbox_ref bob{"example.test", "bob"};
  auto staged = store.stage(alice, "Return-Path: <a@b.example>\r\n", "Subject: hi\r\n\r\nbody\r\n");
  ASSERT_TRUE(staged) << staged.error().message;
  // Before publish nothing is in new/.
  EXPECT_TRUE(files_in(t.path / "example.test/alice/new").empty());
  EXPECT_EQ(files_in(t.path / "example.test/alice/tmp").size(), 1u);

  auto linked = store.publish(*staged, {alice, bob});
  ASSERT_TRUE(linked) << linked.error().message;
  ASSERT_EQ(linked->size(), 2u);
  const auto a = files_in(t.path / "example.test/alice/new");
  const auto b = files_in(t.path / "example.test/bob/new");
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(slurp(a[0]), "Return-Path: <a@b.example>\r\nSubject: hi\r\n\r\nbody\r\n");
  EXPECT_EQ(fs::hard_link_count(a[0]), 2u);  // one copy on disk
  EXPECT_TRUE(files_in(t.path / "example.test/alice/tmp").empty());
  const std::string want_size = ",S=" + std::to_string(slurp(a[0]).size());
  EXPECT_NE(a[0].filename().string().find(want_size), std::string::npos) << a[0] << " want " << want_size;
  for (const char* sub : {"tmp", "new", "cur"}) {
    EXPECT_TRUE(fs::is_directory(t.path / "example.test/bob" / sub)) << sub;
  }
}

TEST(maildir_store, same_mailbox_twice_is_one_delivery) {
  temp_dir t;
  maildir_store store(t.path.string(), "mx");
  const policy::mailbox_ref box{"example.test", "catchall"};
  auto staged = store.stage(box, "", "x\r\n");
  ASSERT_TRUE(staged);
  auto linked = store.publish(*staged, {box, box});
  ASSERT_TRUE(linked) << linked.error().message;
  EXPECT_EQ(files_in(t.path / "example.test/catchall/new").size(), 1u);
}

TEST(maildir_store, mailbox_removed_between_deliveries_is_made_again) {
  temp_dir t;
  maildir_store store(t.path.string(), "mx");
  const policy::mailbox_ref box{"example.test", "dave"};
  for (int round = 0; round < 3; ++round) {
    auto staged = store.stage(box, "", "x\r\n");  // a stale cache entry is retried inside
    ASSERT_TRUE(staged) << "round " << round << ": " << staged.error().message;
    auto linked = store.publish(*staged, {box});
    ASSERT_TRUE(linked) << "round " << round << ": " << linked.error().message;
    EXPECT_EQ(files_in(t.path / "example.test/dave/new").size(), 1u) << "round " << round;
    fs::remove_all(t.path / "example.test/dave");  // an admin removes the mailbox
  }
}

TEST(maildir_store, refuses_unsafe_paths_and_symlinks) {
  temp_dir t;
  maildir_store store(t.path.string(), "mx");
  for (const auto& bad : {policy::mailbox_ref{"example.test", "../etc"},
                          policy::mailbox_ref{"..", "x"}, policy::mailbox_ref{"example.test", ".x"},
                          policy::mailbox_ref{"example.test", "a/b"}}) {
    auto staged = store.stage(bad, "", "x");
    EXPECT_FALSE(staged) << bad.domain << "/" << bad.name;
  }
  // A planted symlink in place of a mailbox is never followed.
  fs::create_directories(t.path / "example.test");
  fs::create_directories(t.path / "elsewhere");
  fs::create_directory_symlink(t.path / "elsewhere", t.path / "example.test/mallory");
  auto staged = store.stage({"example.test", "mallory"}, "", "x");
  ASSERT_FALSE(staged);
  EXPECT_NE(staged.error().message.find("Not a directory"), std::string::npos) << staged.error().message;
  EXPECT_TRUE(files_in(t.path / "elsewhere").empty());
}

TEST(maildir_store, publish_is_all_or_nothing) {
  temp_dir t;
  maildir_store store(t.path.string(), "mx");
  auto staged = store.stage({"example.test", "alice"}, "", "x\r\n");
  ASSERT_TRUE(staged);
  // bob's mailbox path is occupied by a file: publishing to alice and bob must fail as a whole.
  fs::create_directories(t.path / "example.test");
  std::ofstream(t.path / "example.test/bob") << "not a dir";
  auto linked = store.publish(*staged, {{"example.test", "alice"}, {"example.test", "bob"}});
  ASSERT_FALSE(linked);
  EXPECT_TRUE(files_in(t.path / "example.test/alice/new").empty());
  store.discard(*staged);
  EXPECT_TRUE(files_in(t.path / "example.test/alice/tmp").empty());
}

TEST(maildir_store, unusable_root_is_an_error_value) {
  temp_dir t;
  std::ofstream(t.path / "file") << "x";  // a root that is a file fails even for root
  maildir_store store((t.path / "file").string(), "mx");
  auto staged = store.stage({"example.test", "alice"}, "", "x");
  ASSERT_FALSE(staged);
  EXPECT_NE(staged.error().message.find("mkdir"), std::string::npos) << staged.error().message;
}

TEST(relay_queue, envelope_round_trip) {
  temp_dir t;
  relay_queue q((t.path / "queue").string(), "mx");
  q.prepare();
  envelope env{"a@b.example", {"x@remote.example", "y@remote.example"}};
  auto staged = q.stage(env, "Received: by mx\r\n", "Subject: s\r\n\r\nbody\r\n");
  ASSERT_TRUE(staged) << staged.error().message;
  EXPECT_TRUE(files_in(t.path / "queue/new").empty());
  auto path = q.publish(*staged);
  ASSERT_TRUE(path) << path.error().message;
  EXPECT_TRUE(files_in(t.path / "queue/tmp").empty());
  auto back = relay_queue::read(*path);
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->first.sender, "a@b.example");
  EXPECT_EQ(back->first.recipients, env.recipients);
  EXPECT_EQ(back->second, "Received: by mx\r\nSubject: s\r\n\r\nbody\r\n");
  // Null sender.
  auto staged2 = q.stage(envelope{"", {"x@r.example"}}, "", "b\r\n");
  ASSERT_TRUE(staged2);
  auto back2 = relay_queue::read(*q.publish(*staged2));
  ASSERT_TRUE(back2);
  EXPECT_EQ(back2->first.sender, "");
}

TEST(unique_name, distinct) {
  std::set<std::string> names;
  for (int i = 0; i < 1000; ++i) names.insert(unique_name("mx/host:x"));
  EXPECT_EQ(names.size(), 1000u);
  EXPECT_EQ(names.begin()->find('/'), std::string::npos);
  EXPECT_EQ(names.begin()->find(':'), std::string::npos);
}

TEST(sync_batcher, completes_every_request_and_groups_them) {
  temp_dir t;
  sync_batcher batcher({t.path.string(), t.path.string()});
  constexpr int n = 200;
  std::atomic<int> done{0};
  std::atomic<int> errors{0};
  std::promise<void> all;
  for (int i = 0; i < n; ++i) {
    batcher.request([&](int err) {
      if (err != 0) ++errors;
      if (++done == n) all.set_value();
    });
  }
  ASSERT_EQ(all.get_future().wait_for(std::chrono::seconds(30)), std::future_status::ready);
  EXPECT_EQ(errors.load(), 0);
  const auto stats = batcher.stats();
  EXPECT_EQ(stats.requests, static_cast<std::uint64_t>(n));
  EXPECT_GE(stats.flushes, 1u);
  EXPECT_LT(stats.flushes, stats.requests) << "200 requests made at once should share flushes";
}

TEST(sync_batcher, missing_root_throws_at_start) {
  EXPECT_THROW(sync_batcher({"/nonexistent/mxguard"}), std::system_error);
}

}  // namespace
}  // namespace mx::queue
