#include "cli/privileges.hpp"

#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <system_error>

namespace mx::cli {

expected<service_identity, std::string> find_service_user(const std::string& name) {
  long size = ::sysconf(_SC_GETPW_R_SIZE_MAX);
  std::vector<char> buf(static_cast<std::size_t>(size > 0 ? size : 16384));
  passwd pw{};
  passwd* found = nullptr;
  const int rc = ::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found);
  if (rc != 0) {
    return unexpected(fmt::format("service.user: cannot look up user {}: {}", name,
                                  std::strerror(rc)));
  }
  if (found == nullptr) {
    return unexpected(fmt::format(
        "service.user: user \"{}\" does not exist; started as root, mxguard runs as this user. "
        "Create it (`useradd --system --no-create-home --shell /usr/sbin/nologin {}`) or name "
        "another in [service] user",
        name, name));
  }
  if (pw.pw_uid == 0) {
    return unexpected(fmt::format("service.user: user \"{}\" has uid 0; name an unprivileged user",
                                  name));
  }
  return service_identity{name, pw.pw_uid, pw.pw_gid};
}

namespace {

std::optional<std::string> hand_over(const std::string& dir, const service_identity& who) {
  namespace fs = std::filesystem;
  auto own = [&who](const fs::path& p) -> std::optional<std::string> {
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0) return std::nullopt;  // gone meanwhile
    if (st.st_uid == who.uid && st.st_gid == who.gid) return std::nullopt;
    if (::lchown(p.c_str(), who.uid, who.gid) != 0) {
      return fmt::format("cannot give {} to user {}: {}", p.string(), who.name,
                         std::strerror(errno));
    }
    return std::nullopt;
  };
  if (auto e = own(dir)) return e;
  std::error_code ec;
  for (fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec), end;
       !ec && it != end; it.increment(ec)) {
    if (auto e = own(it->path())) return e;
  }
  if (ec) return fmt::format("cannot walk {}: {}", dir, ec.message());
  return std::nullopt;
}

}  // namespace

std::optional<std::string> drop_privileges(const service_identity& who,
                                           const std::vector<std::string>& dirs) {
  for (const auto& d : dirs) {
    if (auto e = hand_over(d, who)) return e;
  }
  const gid_t groups[] = {who.gid};
  if (::setgroups(1, groups) != 0) {
    return fmt::format("setgroups({}): {}", who.gid, std::strerror(errno));
  }
  if (::setresgid(who.gid, who.gid, who.gid) != 0) {
    return fmt::format("setresgid({}): {}", who.gid, std::strerror(errno));
  }
  if (::setresuid(who.uid, who.uid, who.uid) != 0) {
    return fmt::format("setresuid({}): {}", who.uid, std::strerror(errno));
  }
  if (::setuid(0) == 0 || ::geteuid() == 0) {
    return std::string("privileges were not dropped: root could be regained");
  }
  for (const auto& d : dirs) {
    if (::access(d.c_str(), W_OK | X_OK) != 0) {
      return fmt::format("{} is not writable by user {}: {}", d, who.name, std::strerror(errno));
    }
  }
  return std::nullopt;
}

}  // namespace mx::cli
