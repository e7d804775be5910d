#pragma once
// Image files to tensors: JPEG (baseline and progressive) and PNG through stb_image,
// grayscale and alpha converted to RGB. Bad input — an empty file, a non-image, a corrupt or
// truncated stream — throws an Error naming the file.
#include <string>

#include "core/tensor.hpp"

namespace intrain::data {

std::string read_file(const std::string& path);
// u8 [3, H, W] RGB.
Tensor decode_image(const std::string& bytes, const std::string& name);
// Whether the header describes a decodable image (cheap: no pixels decoded).
bool looks_like_image(const std::string& bytes);
// PNG bytes of a u8 [3, H, W] tensor; for tests and tools.
std::string encode_png(const Tensor& rgb);
std::string encode_jpeg(const Tensor& rgb, int quality = 90);

}  // namespace intrain::data
