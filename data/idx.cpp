#include "data/idx.hpp"

#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <memory>

#include "core/error.hpp"
#include "core/file_reader.hpp"

namespace intrain::data {

namespace {

struct GzCloser {
  void operator()(gzFile_s* f) const { gzclose(f); }
};
using GzFile = std::unique_ptr<gzFile_s, GzCloser>;

// gzread reads gzip and, transparently, plain files.
std::vector<uint8_t> read_all(const std::string& path) {
  INTRAIN_CHECK(std::filesystem::exists(path), "IDX file '", path, "' does not exist");
  require_regular_file(path, "IDX file");  // gzopen would wait forever on a FIFO
  GzFile file(gzopen(path.c_str(), "rb"));
  INTRAIN_CHECK(file != nullptr, "IDX file '", path, "' cannot be opened: ", std::strerror(errno));
  std::vector<uint8_t> out;
  uint8_t buffer[1 << 16];
  while (true) {
    const int n = gzread(file.get(), buffer, sizeof buffer);
    if (n < 0) {
      int code = 0;
      const char* message = gzerror(file.get(), &code);
      throw Error("IDX file '" + path + "' is corrupt: " + message);
    }
    if (n == 0) break;
    out.insert(out.end(), buffer, buffer + n);
  }
  // A truncated .gz stream ends without an error from gzread on some zlib versions.
  int code = 0;
  gzerror(file.get(), &code);
  INTRAIN_CHECK(code == Z_OK || code == Z_STREAM_END, "IDX file '", path, "' is corrupt (zlib error ", code, ")");
  return out;
}

uint32_t big_endian_u32(const uint8_t* p) {
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

}  // namespace

IdxArray read_idx_u8(const std::string& path) { return parse_idx_u8(read_all(path), path); }

IdxArray parse_idx_u8(const std::vector<uint8_t>& bytes, const std::string& path) {
  INTRAIN_CHECK(bytes.size() >= 4, "IDX file '", path, "' is truncated: ", bytes.size(), " bytes, no header");
  INTRAIN_CHECK(bytes[0] == 0 && bytes[1] == 0, "IDX file '", path, "' has a wrong magic number 0x",
                std::hex, big_endian_u32(bytes.data()), " (expected 0x000008NN)");
  INTRAIN_CHECK(bytes[2] == 0x08, "IDX file '", path, "' holds element type 0x", std::hex, int{bytes[2]},
                ", expected 0x08 (unsigned byte)");
  const int rank = bytes[3];
  INTRAIN_CHECK(rank >= 1 && rank <= 4, "IDX file '", path, "' declares ", rank, " dimensions, expected 1 to 4");
  const size_t header = 4 + 4 * static_cast<size_t>(rank);
  INTRAIN_CHECK(bytes.size() >= header, "IDX file '", path, "' is truncated inside its header");
  IdxArray out;
  uint64_t count = 1;
  for (int d = 0; d < rank; ++d) {
    const uint32_t size = big_endian_u32(bytes.data() + 4 + 4 * d);
    out.dims.push_back(size);
    count *= size;
    INTRAIN_CHECK(count <= (uint64_t{1} << 34), "IDX file '", path, "' declares an implausible size");
  }
  INTRAIN_CHECK(bytes.size() - header == count, "IDX file '", path, "' holds ", bytes.size() - header,
                " bytes of data, its header promises ", count, bytes.size() - header < count ? " (truncated)" : "");
  out.values.assign(bytes.begin() + static_cast<std::ptrdiff_t>(header), bytes.end());
  return out;
}

void write_idx_u8(const std::string& path, const std::vector<int64_t>& dims, const std::vector<uint8_t>& values) {
  std::vector<uint8_t> bytes = {0, 0, 0x08, static_cast<uint8_t>(dims.size())};
  for (int64_t d : dims)
    for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(static_cast<uint8_t>((d >> shift) & 0xff));
  bytes.insert(bytes.end(), values.begin(), values.end());
  const bool gz = path.size() > 3 && path.compare(path.size() - 3, 3, ".gz") == 0;
  GzFile file(gzopen(path.c_str(), gz ? "wb" : "wbT"));
  INTRAIN_CHECK(file != nullptr, "cannot write IDX file '", path, "'");
  INTRAIN_CHECK(gzwrite(file.get(), bytes.data(), static_cast<unsigned>(bytes.size())) == static_cast<int>(bytes.size()),
                "writing IDX file '", path, "' failed");
}

}  // namespace intrain::data
