// cli/privileges: dropping root. `serve` started as root binds its listeners and reads the TLS
// key first, then becomes [service] user (default "mxguard") before serving a single client, as
// Postfix and OpenSMTPD do.
//
// SECURITY:
//  - The user must exist: a missing user is a start-up error, never "stay root".
//  - Supplementary groups are replaced by the user's primary group, then gid, then uid; the
//    drop is checked by trying to regain root (it must fail).
//  - The spool directories are handed to the user first (entries owned by someone else are
//    chowned, symlinks are not followed), so Maildir and queue files are the user's.
// RFCs: none.
#pragma once

#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

#include "core/result.hpp"

namespace mx::cli {

struct service_identity {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
};

// The user named `name` in the password database; the error says how to create one.
expected<service_identity, std::string> find_service_user(const std::string& name);

// chowns `dirs` (recursively) to `who`, then drops to it. Returns the error (what failed), or
// nothing when the process now runs as `who`.
std::optional<std::string> drop_privileges(const service_identity& who,
                                           const std::vector<std::string>& dirs);

}  // namespace mx::cli
