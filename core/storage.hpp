#pragma once
// A reference-counted, 64-byte-aligned byte buffer. Tensors (and views of them) share one.
// Buffers of 1 MiB and more are recycled when freed (see storage.cpp; INTRAIN_CACHE_MIB).
#include <cstddef>
#include <memory>

namespace intrain {

class Storage {
 public:
  static constexpr size_t kAlignment = 64;

  explicit Storage(size_t bytes, bool zero_fill = true);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  std::byte* data() { return data_; }
  const std::byte* data() const { return data_; }
  size_t bytes() const { return bytes_; }

 private:
  std::byte* data_ = nullptr;
  size_t bytes_ = 0;
  size_t capacity_ = 0;  // the block's real size (a recycled block may be larger)
};

}  // namespace intrain
