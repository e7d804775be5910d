#include "core/safetensors.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <zlib.h>

#include "core/file_reader.hpp"
#include "core/stored_dtypes.hpp"

namespace intrain {

namespace {

using json = nlohmann::json;

const char* dtype_tag(DType t) {
  switch (t) {
    case DType::f32: return "F32";
    case DType::i32: return "I32";
    case DType::i8: return "I8";
    case DType::u8: return "U8";
  }
  return "?";
}

void write_all(int fd, const char* data, size_t size, const std::string& path) {
  while (size > 0) {
    const ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    INTRAIN_CHECK(n > 0, "writing '", path, "' failed: ", std::strerror(errno));
    data += n;
    size -= static_cast<size_t>(n);
  }
}

// The CRC-32 (zlib's) of the file's meaning: every tensor's name, dtype, shape and byte
// range and every metadata entry, in a canonical text (so JSON spacing does not matter),
// then the tensor data. Written in the metadata under this key and checked on load when
// present; files without one (older ones, other writers') still load.
const char* kChecksumKey = "intrain_crc32";

struct Entry {
  std::string dtype;
  Shape shape;
  uint64_t begin, end;
};

std::string checksum_hex(const std::map<std::string, Entry>& entries, const std::map<std::string, std::string>& metadata,
                         const char* data, size_t size) {
  std::string canonical;
  for (const auto& [name, e] : entries)
    canonical += name + '\n' + e.dtype + '\n' + shape_str(e.shape) + '\n' + std::to_string(e.begin) + ' ' +
                 std::to_string(e.end) + '\n';
  for (const auto& [key, value] : metadata)
    if (key != kChecksumKey) canonical += key + '\n' + std::to_string(value.size()) + '\n' + value + '\n';
  uLong crc = crc32(0L, Z_NULL, 0);
  auto feed = [&crc](const char* p, size_t n) {
    while (n > 0) {  // zlib takes uInt lengths
      const uInt chunk = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
      crc = crc32(crc, reinterpret_cast<const Bytef*>(p), chunk);
      p += chunk;
      n -= chunk;
    }
  };
  feed(canonical.data(), canonical.size());
  feed(data, size);
  char text[9];
  std::snprintf(text, sizeof text, "%08lx", static_cast<unsigned long>(crc & 0xffffffffUL));
  return text;
}

// A non-negative integer of the header (dimensions, offsets): JSON allows 1e30 or 2.5,
// whose conversion to an integer would be undefined.
uint64_t header_integer(const json& v, const std::string& path, const std::string& name, const char* what) {
  INTRAIN_CHECK(v.is_number_unsigned() || (v.is_number_integer() && v.get<int64_t>() >= 0), "'", path, "': tensor '",
                name, "' has a ", what, " that is not a non-negative integer: ", v.dump());
  return v.get<uint64_t>();
}

}  // namespace

bool skip_checksums() {
  const char* env = std::getenv("INTRAIN_SKIP_CHECKSUM");
  return env && *env && std::string(env) != "0";
}

void write_file_atomically(const std::string& path, const std::string& bytes) {
  const std::filesystem::path target(path);
  const std::filesystem::path folder = target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
  const std::string temp = (folder / ("." + target.filename().string() + ".tmp" + std::to_string(::getpid()))).string();
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  INTRAIN_CHECK(fd >= 0, "cannot create '", temp, "': ", std::strerror(errno));
  try {
    write_all(fd, bytes.data(), bytes.size(), temp);
    INTRAIN_CHECK(::fsync(fd) == 0, "fsync of '", temp, "' failed: ", std::strerror(errno));
  } catch (...) {
    ::close(fd);
    ::unlink(temp.c_str());
    throw;
  }
  ::close(fd);
  if (std::rename(temp.c_str(), path.c_str()) != 0) {
    const std::string reason = std::strerror(errno);
    ::unlink(temp.c_str());
    throw Error("cannot move '" + temp + "' to '" + path + "': " + reason);
  }
  // Make the rename itself durable.
  const int dir = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir >= 0) {
    ::fsync(dir);
    ::close(dir);
  }
}

int64_t remove_abandoned_temporaries(const std::string& folder) {
  int64_t removed = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(folder, ec)) {
    const std::string name = entry.path().filename().string();
    const size_t tmp = name.rfind(".tmp");
    if (name.empty() || name[0] != '.' || tmp == std::string::npos || tmp + 4 >= name.size()) continue;
    const std::string digits = name.substr(tmp + 4);
    if (!std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }) || digits.size() > 9)
      continue;
    const auto pid = static_cast<pid_t>(std::stol(digits));
    if (pid == ::getpid() || ::kill(pid, 0) == 0 || errno != ESRCH) continue;  // its writer may still be at work
    removed += std::filesystem::remove(entry.path(), ec) ? 1 : 0;
  }
  return removed;
}

void save_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  std::string data;
  std::map<std::string, Entry> entries;
  for (const auto& [name, tensor] : tensors) {
    INTRAIN_CHECK(name != "__metadata__" && !name.empty(), "save_safetensors: invalid tensor name '", name, "'");
    Tensor t = tensor.contiguous();
    const size_t bytes = static_cast<size_t>(t.numel()) * dtype_size(t.dtype());
    header[name] = {{"dtype", dtype_tag(t.dtype())},
                    {"shape", t.shape()},
                    {"data_offsets", {data.size(), data.size() + bytes}}};
    entries[name] = {dtype_tag(t.dtype()), t.shape(), data.size(), data.size() + bytes};
    const auto* begin = reinterpret_cast<const char*>(t.storage()->data()) + t.offset() * static_cast<int64_t>(dtype_size(t.dtype()));
    data.append(begin, bytes);  // x86-64 is little-endian, as the format
  }
  std::map<std::string, std::string> meta = metadata;
  meta[kChecksumKey] = checksum_hex(entries, meta, data.data(), data.size());
  header["__metadata__"] = meta;
  std::string header_text = header.dump();
  header_text.append((8 - header_text.size() % 8) % 8, ' ');  // align the data, as the reference writer does
  std::string file(8, '\0');
  const uint64_t n = header_text.size();
  for (int i = 0; i < 8; ++i) file[static_cast<size_t>(i)] = static_cast<char>((n >> (8 * i)) & 0xff);
  file += header_text;
  file += data;
  write_file_atomically(path, file);
}

SafetensorsFile load_safetensors(const std::string& path) {
  return parse_safetensors(read_regular_file(path, "safetensors file"), path);
}

SafetensorsFile parse_safetensors(const std::string& bytes, const std::string& path) {
  INTRAIN_CHECK(bytes.size() >= 8, "'", path, "' is not a safetensors file: ", bytes.size(), " bytes");
  uint64_t header_size = 0;
  for (int i = 0; i < 8; ++i) header_size |= uint64_t{static_cast<uint8_t>(bytes[static_cast<size_t>(i)])} << (8 * i);
  const bool plausible = header_size <= bytes.size() - 8 && header_size > 0 && bytes[8] == '{';
  // A PyTorch checkpoint (torch.save) is a zip archive or, in the legacy format, a pickle.
  const bool zip = bytes.compare(0, 4, "PK\x03\x04") == 0;
  const bool pickle = static_cast<uint8_t>(bytes[0]) == 0x80 && bytes[1] >= 2 && bytes[1] <= 5;
  INTRAIN_CHECK(plausible || !(zip || pickle), "'", path, "' is a PyTorch pickle (torch.save), not safetensors: ",
                "save it with safetensors.torch.save_file(model.state_dict(), ...) instead");
  INTRAIN_CHECK(header_size <= bytes.size() - 8, "'", path, "' is truncated: its header claims ", header_size,
                " bytes, the file has ", bytes.size() - 8, " after the length");
  json header;
  try {
    header = json::parse(bytes.begin() + 8, bytes.begin() + 8 + static_cast<std::ptrdiff_t>(header_size));
  } catch (const json::exception& e) {
    throw Error("'" + path + "' has a malformed safetensors header: " + e.what());
  }
  INTRAIN_CHECK(header.is_object(), "'", path, "': the safetensors header is not a JSON object");
  const size_t data_begin = 8 + header_size, data_size = bytes.size() - data_begin;
  SafetensorsFile out;
  std::vector<std::pair<size_t, size_t>> ranges;
  std::map<std::string, Entry> entries;
  for (const auto& [name, entry] : header.items()) {
    if (name == "__metadata__") {
      INTRAIN_CHECK(entry.is_object(), "'", path, "': __metadata__ must be an object of strings");
      for (const auto& [key, value] : entry.items()) {
        INTRAIN_CHECK(value.is_string(), "'", path, "': metadata '", key, "' is not a string");
        out.metadata[key] = value.get<std::string>();
      }
      continue;
    }
    try {
      const StoredDType* stored = find_stored_dtype(entry.at("dtype").get<std::string>());
      INTRAIN_CHECK(stored != nullptr, "'", path, "': tensor '", name, "' has unsupported dtype ",
                    entry.at("dtype").dump(), " (", stored_dtype_tags(), " are read)");
      const json& dims = entry.at("shape");
      INTRAIN_CHECK(dims.is_array() && dims.size() <= 16, "'", path, "': tensor '", name,
                    "' has a shape that is not a list of at most 16 dimensions");
      Shape shape;
      uint64_t expected = stored->bytes;  // bytes, multiplied without overflow
      for (const json& d : dims) {
        const uint64_t v = header_integer(d, path, name, "dimension");
        INTRAIN_CHECK(!__builtin_mul_overflow(expected, v, &expected) && expected <= data_size, "'", path,
                      "': tensor '", name, "' of shape ", dims.dump(), " needs more bytes than the file's ", data_size,
                      " data bytes");
        shape.push_back(static_cast<int64_t>(v));
      }
      const json& range = entry.at("data_offsets");
      INTRAIN_CHECK(range.is_array() && range.size() == 2, "'", path, "': tensor '", name,
                    "' needs data_offsets [begin, end]");
      const uint64_t offsets[2] = {header_integer(range[0], path, name, "data offset"),
                                   header_integer(range[1], path, name, "data offset")};
      INTRAIN_CHECK(offsets[0] <= offsets[1] && offsets[1] <= data_size, "'", path,
                    "': tensor '", name, "' has data offsets outside the file's ", data_size, " data bytes");
      INTRAIN_CHECK(offsets[1] - offsets[0] == expected, "'", path, "': tensor '", name, "' of shape ",
                    shape_str(shape), " needs ", expected, " bytes, its offsets span ", offsets[1] - offsets[0]);
      Tensor t = Tensor::empty(shape, stored->target);
      decode_stored(*stored, reinterpret_cast<const uint8_t*>(bytes.data()) + data_begin + offsets[0],
                    static_cast<size_t>(expected / stored->bytes), t.storage()->data(),
                    "'" + path + "': tensor '" + name + "'");
      ranges.emplace_back(offsets[0], offsets[1]);
      entries[name] = {entry.at("dtype").get<std::string>(), shape, offsets[0], offsets[1]};
      out.tensors.emplace(name, t);
    } catch (const json::exception& e) {
      throw Error("'" + path + "': tensor '" + name + "' has a malformed entry: " + e.what());
    }
  }
  // The tensors tile the data section exactly, as the format requires: no overlap, no gap,
  // nothing after (a header length off by one would otherwise shift every tensor a byte).
  std::sort(ranges.begin(), ranges.end());
  size_t covered = 0;
  for (const auto& [begin, end] : ranges) {
    INTRAIN_CHECK(begin >= covered, "'", path, "': tensors overlap in the data section");
    INTRAIN_CHECK(begin == covered, "'", path, "': the data section has ", begin - covered,
                  " bytes no tensor owns at offset ", covered, " (a damaged header or header length?)");
    covered = end;
  }
  INTRAIN_CHECK(covered == data_size, "'", path, "': the data section holds ", data_size, " bytes, its tensors ",
                covered, " (a damaged header or header length?)");
  // A key one flipped bit away from the checksum's is the checksum's own key, damaged:
  // taking it for someone's metadata would skip the check silently.
  for (const auto& [key, value] : out.metadata) {
    if (key.size() != std::strlen(kChecksumKey) || key == kChecksumKey) continue;
    int differing_bits = 0;
    for (size_t i = 0; i < key.size(); ++i) differing_bits += __builtin_popcount(static_cast<uint8_t>(key[i] ^ kChecksumKey[i]));
    INTRAIN_CHECK(differing_bits != 1, "'", path, "' is damaged: its metadata key '", key, "' is the checksum's ('",
                  kChecksumKey, "') with a bit flipped");
  }
  const auto checksum = out.metadata.find(kChecksumKey);
  if (checksum != out.metadata.end()) {
    if (!skip_checksums()) {
      const std::string actual = checksum_hex(entries, out.metadata, bytes.data() + data_begin, data_size);
      INTRAIN_CHECK(actual == checksum->second, "'", path, "' is damaged: its contents have CRC-32 ", actual,
                    ", the file says ", checksum->second, " (INTRAIN_SKIP_CHECKSUM=1 loads it anyway)");
    }
    out.metadata.erase(checksum);  // bookkeeping of the file, not the caller's metadata
  }
  return out;
}

}  // namespace intrain
