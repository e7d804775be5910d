// Image decoding, ImageFolder (both layouts, every kind of bad file), photo transforms, and —
// when ../shared/data/imagenet-sample is there — the 200 real ImageNet photos.
#include <doctest.h>
#include <stb/stb_image_write.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "core/ops.hpp"
#include "data/image.hpp"
#include "data/image_folder.hpp"
#include "data/image_transforms.hpp"
#include "data/loader.hpp"
#include "tests/expect_error.hpp"
#include "tests/temp_dir.hpp"

using namespace intrain;
using namespace intrain::data;
using intrain::testing::expect_error;
using intrain::testing::TempDir;

namespace {

Tensor gradient_image(int64_t h, int64_t w, uint8_t tint) {
  Tensor t = Tensor::empty({3, h, w}, DType::u8);
  uint8_t* p = t.data<uint8_t>();
  for (int64_t c = 0; c < 3; ++c)
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x) p[(c * h + y) * w + x] = static_cast<uint8_t>((x * 7 + y * 3 + c * 50 + tint) % 256);
  return t;
}

void write(const std::string& path, const std::string& bytes) { std::ofstream(path, std::ios::binary) << bytes; }

}  // namespace

TEST_CASE("PNG round-trips exactly, JPEG closely; grayscale becomes RGB") {
  Tensor img = gradient_image(13, 17, 9);
  CHECK(decode_image(encode_png(img), "x.png").to_vector<uint8_t>() == img.to_vector<uint8_t>());
  Tensor jpeg = decode_image(encode_jpeg(img, 95), "x.jpg");
  CHECK(jpeg.shape() == Shape{3, 13, 17});
  std::string gray;
  const uint8_t pixels[6] = {0, 50, 100, 150, 200, 250};
  stbi_write_png_to_func([](void* c, void* d, int n) { static_cast<std::string*>(c)->append(static_cast<char*>(d), static_cast<size_t>(n)); },
                         &gray, 3, 2, 1, pixels, 3);
  Tensor rgb = decode_image(gray, "gray.png");
  CHECK(rgb.shape() == Shape{3, 2, 3});
  CHECK(rgb.at({0, 1, 2}) == 250);
  CHECK(rgb.at({2, 1, 2}) == 250);
  expect_error([] { decode_image("", "empty.jpg"); }, "'empty.jpg' is empty");
  expect_error([] { decode_image("definitely not an image", "text.jpg"); }, "'text.jpg' cannot be decoded");
  const std::string full = encode_jpeg(gradient_image(64, 64, 1));
  expect_error([&] { decode_image(full.substr(0, 40), "cut.jpg"); }, "'cut.jpg'");
}

TEST_CASE("ImageFolder: sorted classes, labels, and bad files fatal or skipped") {
  TempDir dir;
  for (const std::string cls : {"zebra", "apple", "mango"}) std::filesystem::create_directories(dir / ("root/" + cls));
  write(dir / "root/apple/a1.png", encode_png(gradient_image(8, 10, 1)));
  write(dir / "root/apple/a2.JPG", encode_jpeg(gradient_image(9, 7, 2)));
  write(dir / "root/zebra/z1.jpeg", encode_jpeg(gradient_image(12, 12, 3)));
  write(dir / "root/mango/readme.txt", "not an image, and not an image extension either");
  const Shape out{3, 6, 6};
  const Transform to_6 = [](const Tensor& x, Generator&) { return resize_image(x, 6, 6); };
  // mango holds no image: fatal by default, counted when skipping.
  expect_error([&] { ImageFolder(dir / "root", to_6, out); }, "mango' holds no images");
  ImageFolder skipping(dir / "root", to_6, out, BadImages::skip);
  CHECK(skipping.classes() == std::vector<std::string>{"apple", "mango", "zebra"});
  CHECK(skipping.size() == 3);
  CHECK(skipping.skipped() == 1);
  Generator g;
  CHECK(skipping.get(2, g).label == 2);  // zebra
  CHECK(skipping.get(0, g).image.shape() == out);

  write(dir / "root/mango/m1.png", encode_png(gradient_image(5, 5, 4)));
  write(dir / "root/mango/empty.jpg", "");
  expect_error([&] { ImageFolder(dir / "root", to_6, out); }, "empty.jpg' is not a readable image (empty file)");
  write(dir / "root/mango/empty.jpg", "plain text with an image extension");
  expect_error([&] { ImageFolder(dir / "root", to_6, out); }, "empty.jpg' is not a readable image");
  std::filesystem::remove(dir / "root/mango/empty.jpg");
  // A stream cut after a valid header passes the header check and fails at decode time,
  // on the loader's worker, with the path in the error.
  const std::string jpeg = encode_jpeg(gradient_image(40, 40, 5));
  write(dir / "root/mango/truncated.jpg", jpeg.substr(0, 200));
  ImageFolder with_truncated(dir / "root", to_6, out);
  DataLoader loader(std::make_shared<ImageFolder>(with_truncated), {8, false, 0, false, 2, 2});
  loader.start_epoch(0);
  Batch b;
  expect_error([&] { loader.next(b); }, "truncated.jpg");
  expect_error([&] { ImageFolder(dir / "missing", to_6, out); }, "does not exist");
}

TEST_CASE("a PNG's chunk CRCs are checked: every flipped byte is an error naming the file") {
  const std::string png = encode_png(gradient_image(7, 5, 3));
  int refused = 0;
  for (size_t i = 0; i < png.size(); ++i) {
    std::string damaged = png;
    damaged[i] = static_cast<char>(damaged[i] ^ (1 << (i % 8)));
    try {
      decode_image(damaged, "flipped.png");
    } catch (const Error& e) {
      refused += std::string(e.what()).find("flipped.png") != std::string::npos;
    }
  }
  CHECK(refused == static_cast<int>(png.size()));
  CHECK_NOTHROW(decode_image(png, "good.png"));
}

TEST_CASE("ImageFolder: entries named like images that are not files are counted or fatal") {
  TempDir dir;
  std::filesystem::create_directories(dir / "root/apple/folder.jpg");
  write(dir / "root/apple/a1.png", encode_png(gradient_image(8, 10, 1)));
  std::filesystem::create_symlink(dir / "root/apple/missing.png", dir / "root/apple/dangling.png");
  const Transform to_6 = [](const Tensor& x, Generator&) { return resize_image(x, 6, 6); };
  ImageFolder skipping(dir / "root", to_6, {3, 6, 6}, BadImages::skip);
  CHECK(skipping.size() == 1);
  CHECK(skipping.skipped() == 2);
  CHECK_THROWS_AS(ImageFolder(dir / "root", to_6, {3, 6, 6}, BadImages::fatal), Error);
}

TEST_CASE("ImageFolder: the flat layout with a label file") {
  TempDir dir;
  std::filesystem::create_directories(dir / "val");
  write(dir / "val/x1.png", encode_png(gradient_image(6, 6, 1)));
  write(dir / "val/x2.png", encode_png(gradient_image(6, 6, 2)));
  write(dir / "labels.txt", "x1.png 4\nx2.png 0\n");
  const Transform none = [](const Tensor& x, Generator&) { return x; };
  ImageFolder set = ImageFolder::with_label_file(dir / "val", dir / "labels.txt", none, {3, 6, 6});
  Generator g;
  CHECK(set.size() == 2);
  CHECK(set.num_classes() == 5);
  CHECK(set.get(0, g).label == 4);
  write(dir / "bad.txt", "x1.png four\n");
  expect_error([&] { ImageFolder::with_label_file(dir / "val", dir / "bad.txt", none, {3, 6, 6}); }, "line 1");
}

TEST_CASE("photo transforms: resize with antialiasing, crops, integerise, presets") {
  Generator g(1);
  Tensor flat = Tensor::full({3, 40, 60}, 0.25);
  Tensor small = resize(20)(flat, g);
  CHECK(small.shape() == Shape{3, 20, 30});
  for (float v : small.to_vector<float>()) CHECK(v == doctest::Approx(0.25));
  // A one-pixel checkerboard shrunk 4x averages to grey with antialiasing (a plain bilinear
  // sample would alias to black or white).
  Tensor board = Tensor::empty({1, 32, 32});
  for (int64_t y = 0; y < 32; ++y)
    for (int64_t x = 0; x < 32; ++x) board.data<float>()[y * 32 + x] = static_cast<float>((x + y) % 2);
  for (float v : resize_image(board, 8, 8).to_vector<float>()) CHECK(v == doctest::Approx(0.5).epsilon(0.05));
  CHECK(center_crop(10)(flat, g).shape() == Shape{3, 10, 10});
  expect_error([&] { center_crop(100)(flat, g); }, "does not fit");
  // torchvision's offsets, int(round((h - th) / 2.0)) with halves to even, worked by hand:
  // an even difference halves exactly; an odd one 2k+1 goes to k when k is even, else k+1.
  CHECK(center_crop_offset(256, 224) == 16);  // 32 / 2
  CHECK(center_crop_offset(257, 224) == 16);  // 16.5 -> 16 (a floor agrees)
  CHECK(center_crop_offset(259, 224) == 18);  // 17.5 -> 18 (a floor gives 17)
  CHECK(center_crop_offset(225, 224) == 0);   // 0.5 -> 0
  CHECK(center_crop_offset(227, 224) == 2);   // 1.5 -> 2
  CHECK(center_crop_offset(229, 224) == 2);   // 2.5 -> 2
  CHECK(center_crop_offset(231, 224) == 4);   // 3.5 -> 4
  CHECK(center_crop_offset(224, 224) == 0);
  {
    Tensor tall = Tensor::empty({1, 7, 4});  // row r holds r: the crop's first value is its offset
    for (int64_t r = 0; r < 7; ++r)
      for (int64_t c = 0; c < 4; ++c) tall.data<float>()[r * 4 + c] = static_cast<float>(r);
    CHECK(center_crop(4)(tall, g).data<float>()[0] == 2.0f);  // (7 - 4) / 2 = 1.5 -> 2
  }
  for (int i = 0; i < 20; ++i) CHECK(random_resized_crop(16)(flat, g).shape() == Shape{3, 16, 16});
  Tensor ints = integerise()(Tensor::from_vector({0.0f, 0.03f, -0.03f, 10.0f}, {1, 1, 4}), g);
  CHECK(ints.to_vector<float>() == std::vector<float>{0, 1, -2, 127});
  Tensor photo = gradient_image(300, 400, 0).to(DType::f32);
  CHECK(imagenet_eval()(mul(photo, 1.0f / 255), g).shape() == Shape{3, 224, 224});
  CHECK(imagenet_train()(mul(photo, 1.0f / 255), g).shape() == Shape{3, 224, 224});
}

TEST_CASE("the real ImageNet sample photos decode and load (when ../shared has them)") {
  std::string root;
  for (const std::string candidate : {"../shared/data/imagenet-sample", "../../shared/data/imagenet-sample",
                                      "../../../shared/data/imagenet-sample"})
    if (std::filesystem::is_directory(candidate)) root = candidate;
  if (root.empty()) {
    MESSAGE("../shared/data/imagenet-sample not found: the real-photo check is skipped on this machine");
    return;
  }
  auto set = std::make_shared<ImageFolder>(root, imagenet_eval(), Shape{3, 224, 224});
  CHECK(set->size() == 200);
  CHECK(set->num_classes() == 200);
  DataLoader loader(set, {50, false, 0, false, 2, 2});
  loader.start_epoch(0);
  Batch b;
  int64_t images = 0;
  const auto start = std::chrono::steady_clock::now();
  while (loader.next(b)) {
    CHECK(b.images.shape()[1] == 3);
    images += b.labels.numel();
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  CHECK(images == 200);
  MESSAGE("decoded and transformed the 200 sample photos (eval preset, 2 workers) at ", images / seconds, " images/s");
}
