#include "core/safetensors.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

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

bool parse_dtype(const std::string& tag, DType& out) {
  if (tag == "F32") out = DType::f32;
  else if (tag == "I32") out = DType::i32;
  else if (tag == "I8") out = DType::i8;
  else if (tag == "U8") out = DType::u8;
  else return false;
  return true;
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

}  // namespace

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

void save_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::string data;
  for (const auto& [name, tensor] : tensors) {
    INTRAIN_CHECK(name != "__metadata__" && !name.empty(), "save_safetensors: invalid tensor name '", name, "'");
    Tensor t = tensor.contiguous();
    const size_t bytes = static_cast<size_t>(t.numel()) * dtype_size(t.dtype());
    header[name] = {{"dtype", dtype_tag(t.dtype())},
                    {"shape", t.shape()},
                    {"data_offsets", {data.size(), data.size() + bytes}}};
    const auto* begin = reinterpret_cast<const char*>(t.storage()->data()) + t.offset() * static_cast<int64_t>(dtype_size(t.dtype()));
    data.append(begin, bytes);  // x86-64 is little-endian, as the format
  }
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
  std::ifstream in(path, std::ios::binary);
  INTRAIN_CHECK(in.good(), "cannot open '", path, "': no such file or not readable");
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return parse_safetensors(bytes, path);
}

SafetensorsFile parse_safetensors(const std::string& bytes, const std::string& path) {
  INTRAIN_CHECK(bytes.size() >= 8, "'", path, "' is not a safetensors file: ", bytes.size(), " bytes");
  uint64_t header_size = 0;
  for (int i = 0; i < 8; ++i) header_size |= uint64_t{static_cast<uint8_t>(bytes[static_cast<size_t>(i)])} << (8 * i);
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
      DType dtype;
      INTRAIN_CHECK(parse_dtype(entry.at("dtype").get<std::string>(), dtype), "'", path, "': tensor '", name,
                    "' has unsupported dtype ", entry.at("dtype").dump(), " (F32, I32, I8, U8 are supported)");
      const Shape shape = entry.at("shape").get<Shape>();
      for (int64_t s : shape) INTRAIN_CHECK(s >= 0, "'", path, "': tensor '", name, "' has a negative dimension");
      const auto offsets = entry.at("data_offsets").get<std::vector<uint64_t>>();
      INTRAIN_CHECK(offsets.size() == 2 && offsets[0] <= offsets[1] && offsets[1] <= data_size, "'", path,
                    "': tensor '", name, "' has data offsets outside the file's ", data_size, " data bytes");
      const uint64_t expected = static_cast<uint64_t>(shape_numel(shape)) * dtype_size(dtype);
      INTRAIN_CHECK(offsets[1] - offsets[0] == expected, "'", path, "': tensor '", name, "' of shape ",
                    shape_str(shape), " needs ", expected, " bytes, its offsets span ", offsets[1] - offsets[0]);
      Tensor t = Tensor::empty(shape, dtype);
      std::memcpy(t.storage()->data(), bytes.data() + data_begin + offsets[0], expected);
      ranges.emplace_back(offsets[0], offsets[1]);
      out.tensors.emplace(name, t);
    } catch (const json::exception& e) {
      throw Error("'" + path + "': tensor '" + name + "' has a malformed entry: " + e.what());
    }
  }
  std::sort(ranges.begin(), ranges.end());
  for (size_t i = 1; i < ranges.size(); ++i)
    INTRAIN_CHECK(ranges[i].first >= ranges[i - 1].second, "'", path, "': tensors overlap in the data section");
  return out;
}

}  // namespace intrain
