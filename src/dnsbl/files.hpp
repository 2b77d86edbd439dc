// dnsbl/files: reads a dataset's files from disk. The only I/O in src/dnsbl: everything else
// takes text (dataset.hpp), so tests and fuzzers never touch the file system.
//
// read_source reads a file whole; load_dataset_files streams each file through dataset_loader
// in 128 KiB chunks, so a load never holds a whole file. A file's mtime becomes the source's mtime
// (the SOA serial when $SOA says 0), and a file whose size or mtime changed while it was read is
// an error, as in rbldnsd (write the new data to a temporary file and rename it into place).
// gzip-compressed files, which rbldnsd can read, are refused with a clear error.
//
// With load_options::threads above 1, a large file (min_bytes_per_thread and more a thread) is
// split at line starts: this thread reads the first part while each other part is read with
// pread and parsed on a thread of its own (dataset_loader::fork_part); the parts are then taken
// over in order (absorb) and what a part's thread could not parse is parsed here. The data is
// the same as on one thread, warnings and their lines included (docs/dnsbl.md).
//
// SECURITY: paths come from the operator's configuration; nothing here follows peer input. The
// threads share no state but the file descriptor (pread only); each writes only its own part,
// read by this thread after joining it.
#pragma once

#include <span>
#include <string>

#include "core/result.hpp"
#include "dnsbl/dataset.hpp"

namespace mx::dnsbl {

mx::expected<source_text, load_error> read_source(const std::string& path);

// Each path in turn, as one dataset (the same result as read_source + load_dataset).
mx::expected<load_result, load_error> load_dataset_files(dataset_type type,
                                                         std::span<const std::string> paths,
                                                         const load_options& opts = {});

}  // namespace mx::dnsbl
