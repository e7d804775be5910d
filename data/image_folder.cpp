#include "data/image_folder.hpp"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "data/image.hpp"

namespace intrain::data {

namespace fs = std::filesystem;

namespace {

bool has_image_extension(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext == ".jpg" || ext == ".jpeg" || ext == ".png";
}

// The folder's subfolders (directories) or regular files, sorted; with `not_files`, the
// other entries named like images (a folder called x.jpg, a dangling link) go there.
std::vector<fs::path> sorted_entries(const fs::path& dir, bool directories, std::vector<fs::path>* not_files = nullptr) {
  std::vector<fs::path> out;
  std::error_code error;
  fs::directory_iterator it(dir, error);
  INTRAIN_CHECK(!error, "cannot read folder '", dir.string(), "': ", error.message());
  for (const auto& entry : it) {
    if (directories ? entry.is_directory(error) : entry.is_regular_file(error)) out.push_back(entry.path());
    else if (not_files && has_image_extension(entry.path())) not_files->push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

void ImageFolder::add_file(const std::string& path, int32_t label, BadImages bad) {
  // A header check only: a file that is not an image at all is caught here; a corrupt or
  // truncated stream is caught when a worker decodes it.
  std::string bytes;
  try {
    bytes = read_file(path);
  } catch (const Error&) {
    if (bad == BadImages::fatal) throw;
    ++skipped_;
    return;
  }
  if (!looks_like_image(bytes)) {
    INTRAIN_CHECK(bad == BadImages::skip, "'", path, "' is not a readable image",
                  bytes.empty() ? " (empty file)" : " (not JPEG or PNG, or a damaged header)");
    ++skipped_;
    return;
  }
  files_.emplace_back(path, label);
}

ImageFolder::ImageFolder(const std::string& root, Transform transform, Shape output_shape, BadImages bad)
    : transform_(std::move(transform)), output_shape_(std::move(output_shape)) {
  INTRAIN_CHECK(fs::is_directory(root), "image folder '", root, "' does not exist or is not a folder");
  for (const fs::path& class_dir : sorted_entries(root, true)) {
    const auto label = static_cast<int32_t>(classes_.size());
    classes_.push_back(class_dir.filename().string());
    size_t before = files_.size();
    std::vector<fs::path> not_files;
    for (const fs::path& file : sorted_entries(class_dir, false, &not_files))
      if (has_image_extension(file)) add_file(file.string(), label, bad);
    // Entries named like images that are not regular files: counted, or fatal, like any
    // unreadable image.
    for (const fs::path& entry : not_files) {
      INTRAIN_CHECK(bad == BadImages::skip, "'", entry.string(), "' is named like an image but is not a ",
                    "regular file (a folder or a dangling link?)");
      ++skipped_;
    }
    if (files_.size() == before) {
      INTRAIN_CHECK(bad == BadImages::skip, "class folder '", class_dir.string(), "' holds no images");
      ++skipped_;
    }
  }
  INTRAIN_CHECK(!files_.empty(), "image folder '", root, "' holds no images in class subfolders");
  if (skipped_) std::fprintf(stderr, "warning: %lld unreadable image(s) or empty class folder(s) skipped in '%s'\n",
                             static_cast<long long>(skipped_), root.c_str());
}

ImageFolder ImageFolder::with_label_file(const std::string& folder, const std::string& label_file, Transform transform,
                                         Shape output_shape, BadImages bad) {
  ImageFolder set(std::move(transform), std::move(output_shape));
  std::ifstream in(label_file);
  INTRAIN_CHECK(in.good(), "cannot read label file '", label_file, "'");
  std::string line;
  int64_t line_number = 0, max_label = -1;
  while (std::getline(in, line)) {
    ++line_number;
    if (line.empty()) continue;
    std::istringstream fields(line);
    std::string file;
    int64_t label = -1;
    fields >> file >> label;
    INTRAIN_CHECK(!fields.fail() && label >= 0, "label file '", label_file, "' line ", line_number,
                  ": expected '<file> <class index>', got '", line, "'");
    set.add_file((fs::path(folder) / file).string(), static_cast<int32_t>(label), bad);
    max_label = std::max(max_label, label);
  }
  INTRAIN_CHECK(!set.files_.empty(), "label file '", label_file, "' lists no readable images");
  for (int64_t c = 0; c <= max_label; ++c) set.classes_.push_back(std::to_string(c));
  return set;
}

Example ImageFolder::get(int64_t index, Generator& gen) const {
  INTRAIN_CHECK(index >= 0 && index < size(), "ImageFolder: index ", index, " out of range [0, ", size(), ")");
  const auto& [path, label] = files_[static_cast<size_t>(index)];
  Tensor rgb = decode_image(read_file(path), path);
  Tensor image = rgb.to(DType::f32);
  float* p = image.data<float>();
  for (int64_t i = 0, i_end = image.numel(); i < i_end; ++i) p[i] *= 1.0f / 255.0f;
  if (transform_) image = transform_(image, gen);
  return {image, label};
}

}  // namespace intrain::data
