// png_colours PNG TOLERANCE #RRGGBB...: how many pixels of a rendered page have each colour
// (every channel within TOLERANCE), and where: one line per colour,
//   #rrggbb COUNT X0 Y0 X1 Y1   (the bounding box; -1s when there are none)
// after a first line "size WIDTH HEIGHT". tests/report_page.sh uses it to check that the
// charts of a page Chromium rendered were drawn (curves, bars, histograms, heatmap cells).
#include <stb/stb_image.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <vector>

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: png_colours PNG TOLERANCE #RRGGBB...\n");
    return 2;
  }
  int width = 0, height = 0, channels = 0;
  unsigned char* pixels = stbi_load(argv[1], &width, &height, &channels, 3);
  if (!pixels) {
    std::fprintf(stderr, "png_colours: '%s': %s\n", argv[1], stbi_failure_reason());
    return 1;
  }
  const int tolerance = std::atoi(argv[2]);
  std::printf("size %d %d\n", width, height);
  for (int c = 3; c < argc; ++c) {
    unsigned r = 0, g = 0, b = 0;
    if (std::sscanf(argv[c], "#%02x%02x%02x", &r, &g, &b) != 3) {
      std::fprintf(stderr, "png_colours: '%s' is not a #rrggbb colour\n", argv[c]);
      return 2;
    }
    const int want[3] = {static_cast<int>(r), static_cast<int>(g), static_cast<int>(b)};
    long count = 0;
    int x0 = width, y0 = height, x1 = -1, y1 = -1;
    for (int y = 0; y < height; ++y)
      for (int x = 0; x < width; ++x) {
        const unsigned char* p = pixels + 3 * (static_cast<size_t>(y) * width + x);
        bool match = true;
        for (int k = 0; k < 3; ++k) match = match && std::abs(p[k] - want[k]) <= tolerance;
        if (!match) continue;
        ++count;
        x0 = std::min(x0, x), y0 = std::min(y0, y), x1 = std::max(x1, x), y1 = std::max(y1, y);
      }
    if (count == 0) x0 = y0 = -1;
    std::printf("%s %ld %d %d %d %d\n", argv[c], count, x0, y0, x1, y1);
  }
  stbi_image_free(pixels);
  return 0;
}
