#pragma once
// Reading whole input files safely: only regular files (a FIFO, a directory or a device
// passed by mistake would block or never end), every error naming the file.
#include <string>

namespace intrain {

// The bytes of the regular file at `path`; `what` says what the file is meant to be
// ("checkpoint", "int8 program", ...) for the errors.
std::string read_regular_file(const std::string& path, const std::string& what);

// Throws, naming the file, unless `path` is a regular file (after links): for readers that
// open files themselves (zlib's gzopen), before they could block on a FIFO.
void require_regular_file(const std::string& path, const std::string& what);

// Whether `path` names a regular file (after links); false when missing.
bool is_regular_file(const std::string& path);

}  // namespace intrain
