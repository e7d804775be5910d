#include "core/storage.hpp"

#include <cstdlib>
#include <cstring>
#include <new>

namespace intrain {

Storage::Storage(size_t bytes) : bytes_(bytes) {
  // aligned_alloc wants a size that is a multiple of the alignment; never allocate 0.
  size_t padded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  if (padded == 0) padded = kAlignment;
  data_ = static_cast<std::byte*>(std::aligned_alloc(kAlignment, padded));
  if (!data_) throw std::bad_alloc();
  std::memset(data_, 0, padded);
}

Storage::~Storage() { std::free(data_); }

}  // namespace intrain
