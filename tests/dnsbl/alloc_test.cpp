// answer() must not touch the heap per query. This file replaces the global operator new for the
// dnsbl_tests binary with a counting one; counting is switched on only around answer() calls.
#include <gtest/gtest.h>

#include <cstdlib>
#include <new>
#include <string>
#include <vector>

#include "test_util.hpp"

namespace {

thread_local bool counting = false;
thread_local std::size_t allocations = 0;

}  // namespace

// Every replaceable form (plain, array, nothrow) goes through malloc and free, so memory from one
// is always released by its counterpart (AddressSanitizer checks that).
namespace {
void* counted_alloc(std::size_t size) noexcept {
  if (counting) ++allocations;
  return std::malloc(size == 0 ? 1 : size);
}
}  // namespace

void* operator new(std::size_t size) {
  if (void* p = counted_alloc(size)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) {
  if (void* p = counted_alloc(size)) return p;
  throw std::bad_alloc();
}
void* operator new(std::size_t size, const std::nothrow_t&) noexcept {
  return counted_alloc(size);
}
void* operator new[](std::size_t size, const std::nothrow_t&) noexcept {
  return counted_alloc(size);
}
// noinline: inlined into a delete-expression, free() would trip -Wmismatched-new-delete.
__attribute__((noinline)) void operator delete(void* p) noexcept {
  std::free(p);
}
__attribute__((noinline)) void operator delete[](void* p) noexcept {
  std::free(p);
}
__attribute__((noinline)) void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
__attribute__((noinline)) void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}
__attribute__((noinline)) void operator delete(void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
__attribute__((noinline)) void operator delete[](void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}

namespace mx::dnsbl {
namespace {

using namespace testing;

TEST(answer, no_heap_allocation_per_query) {
  // The counter works: an allocation while counting is seen. (Under valgrind, which replaces
  // operator new itself, it is not, and the test cannot run.)
  allocations = 0;
  counting = true;
  std::string probe(100, 'x');  // beyond the small-string buffer
  counting = false;
  if (allocations == 0) GTEST_SKIP() << "operator new is not ours (valgrind?)";
  EXPECT_EQ(allocations, 1u) << probe.size();

  const auto ip4 = load_text(dataset_type::ip4set,
                             "$SOA 1h ns.bl.test hm.bl.test 0 1h 1h 1w 1h\n:2:Listed $\n1.2.3.4\n"
                             "10.0.0.0/8 :3:r $\n");
  const auto ip6 = load_text(dataset_type::ip6trie, "2001:db8::/32 :6:v6 $\n");
  const auto names = load_text(dataset_type::dnset, "example.com :2:d $\n*.w.example\n");
  const auto zs = one_zone("bl.test", {ip4, ip6, names});
  ASSERT_TRUE(zs);
  std::vector<std::vector<std::uint8_t>> queries;
  for (const auto& [name, type] : std::vector<std::pair<std::string, std::uint16_t>>{
           {"4.3.2.1.bl.test", 255},
           {"5.3.2.1.bl.test", 1},
           {"3.2.1.bl.test", 16},
           {nibble_name("2001:db8::1") + ".bl.test", 16},
           {nibble_name("::ffff:10.1.2.3") + ".bl.test", 255},
           {"example.com.bl.test", 255},
           {"a.b.w.example.bl.test", 16},
           {"bl.test", 255},
           {"x.other.test", 1}}) {
    queries.push_back(dns::testing::build_query(
        dns::testing::query_spec().with_name(name).with_type(type).with_edns(4096)));
  }
  std::vector<std::uint8_t> out(65535);
  for (const auto& q : queries) {
    allocations = 0;
    counting = true;
    const auto r = answer(*zs, q, out);
    counting = false;
    EXPECT_GT(r.size, 0u);
    EXPECT_EQ(allocations, 0u) << "query " << dns::testing::decode({q.begin(), q.end()}).qname;
  }
}

}  // namespace
}  // namespace mx::dnsbl
