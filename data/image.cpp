#include "data/image.hpp"

#include <zlib.h>

#include <stb/stb_image.h>
#include <stb/stb_image_write.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>

namespace intrain::data {

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  INTRAIN_CHECK(in.good(), "cannot read '", path, "': ", std::strerror(errno));
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

bool looks_like_image(const std::string& bytes) {
  int w = 0, h = 0, c = 0;
  return !bytes.empty() && bytes.size() < (size_t{1} << 31) &&
         stbi_info_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()), static_cast<int>(bytes.size()), &w, &h, &c) &&
         w > 0 && h > 0;
}

namespace {

uint32_t big_endian(const std::string& bytes, size_t at) {
  return (uint32_t{static_cast<uint8_t>(bytes[at])} << 24) | (uint32_t{static_cast<uint8_t>(bytes[at + 1])} << 16) |
         (uint32_t{static_cast<uint8_t>(bytes[at + 2])} << 8) | uint32_t{static_cast<uint8_t>(bytes[at + 3])};
}

// stb_image does not check a PNG's chunk CRCs: a flipped bit in the pixel data (IDAT) would
// decode to other pixels without a word. Every chunk's CRC-32 (over type and data) is checked
// here, up to IEND; the zlib stream's Adler-32 inside IDAT is covered by the IDAT CRCs.
void check_png_chunks(const std::string& bytes, const std::string& name) {
  static const char kSignature[] = "\x89PNG\r\n\x1a\n";
  if (bytes.size() < 8 || bytes.compare(0, 8, kSignature, 8) != 0) return;
  size_t at = 8;
  while (at + 12 <= bytes.size()) {
    const uint32_t length = big_endian(bytes, at);
    INTRAIN_CHECK(length <= bytes.size() - at - 12, "image '", name, "' is truncated: a PNG chunk of ", length,
                  " bytes runs past the end of the file");
    const std::string type = bytes.substr(at + 4, 4);
    const uLong crc = crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(bytes.data() + at + 4), length + 4);
    const uint32_t stored = big_endian(bytes, at + 8 + length);
    INTRAIN_CHECK((crc & 0xffffffffUL) == stored, "image '", name, "' is damaged: its PNG chunk '", type,
                  "' fails its CRC-32 check");
    if (type == "IEND") return;
    at += 12 + length;
  }
  throw Error("image '" + name + "' is truncated: the PNG ends before its IEND chunk");
}

}  // namespace

Tensor decode_image(const std::string& bytes, const std::string& name) {
  INTRAIN_CHECK(!bytes.empty(), "image '", name, "' is empty (0 bytes)");
  INTRAIN_CHECK(bytes.size() < (size_t{1} << 31), "image '", name, "' is too large");
  check_png_chunks(bytes, name);
  int w = 0, h = 0, channels = 0;
  std::unique_ptr<stbi_uc, void (*)(void*)> pixels(
      stbi_load_from_memory(reinterpret_cast<const stbi_uc*>(bytes.data()), static_cast<int>(bytes.size()), &w, &h,
                            &channels, 3),
      stbi_image_free);
  INTRAIN_CHECK(pixels != nullptr, "image '", name, "' cannot be decoded: ", stbi_failure_reason());
  INTRAIN_CHECK(w > 0 && h > 0 && static_cast<int64_t>(w) * h <= (int64_t{1} << 28), "image '", name,
                "' has an implausible size ", w, "x", h);
  // Interleaved RGB to planar [3, H, W].
  Tensor out = Tensor::empty({3, h, w}, DType::u8);
  uint8_t* o = out.data<uint8_t>();
  const int64_t plane = static_cast<int64_t>(w) * h;
  for (int64_t i = 0; i < plane; ++i)
    for (int64_t c = 0; c < 3; ++c) o[c * plane + i] = pixels.get()[i * 3 + c];
  return out;
}

namespace {

std::string encode(const Tensor& rgb, bool png, int quality) {
  INTRAIN_CHECK(rgb.dtype() == DType::u8 && rgb.dim() == 3 && rgb.size(0) == 3, "encode: expects u8 [3, H, W], got ",
                dtype_name(rgb.dtype()), " ", shape_str(rgb.shape()));
  const int64_t h = rgb.size(1), w = rgb.size(2), plane = h * w;
  Tensor c = rgb.contiguous();
  std::vector<uint8_t> interleaved(static_cast<size_t>(plane * 3));
  for (int64_t i = 0; i < plane; ++i)
    for (int64_t ch = 0; ch < 3; ++ch) interleaved[static_cast<size_t>(i * 3 + ch)] = c.data<uint8_t>()[ch * plane + i];
  std::string out;
  auto sink = [](void* context, void* data, int size) { static_cast<std::string*>(context)->append(static_cast<char*>(data), static_cast<size_t>(size)); };
  const int ok = png ? stbi_write_png_to_func(sink, &out, static_cast<int>(w), static_cast<int>(h), 3, interleaved.data(), static_cast<int>(w * 3))
                     : stbi_write_jpg_to_func(sink, &out, static_cast<int>(w), static_cast<int>(h), 3, interleaved.data(), quality);
  INTRAIN_CHECK(ok, "encoding a ", w, "x", h, png ? " PNG" : " JPEG", " failed");
  return out;
}

}  // namespace

std::string encode_png(const Tensor& rgb) { return encode(rgb, true, 0); }
std::string encode_jpeg(const Tensor& rgb, int quality) { return encode(rgb, false, quality); }

}  // namespace intrain::data
