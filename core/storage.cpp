#include "core/storage.hpp"

#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <string>
#include <vector>

namespace intrain {

namespace {

// Freed large buffers are kept for reuse instead of going back to the system. glibc serves
// such sizes with fresh mmap'd pages, and faulting those in (then zeroing them) cost more
// than the arithmetic on them: MobileNetV1 inference at batch 16 ran at half speed, most of
// the time in page faults. Networks allocate the same sizes every step, so a request takes
// the smallest cached block that is large enough and not more than 25% larger.
class BlockCache {
 public:
  static constexpr size_t kMinBytes = size_t{1} << 20;

  static BlockCache& instance() {
    static BlockCache* cache = new BlockCache();  // never destroyed: storages may outlive statics
    return *cache;
  }

  // A cached block of at least `bytes` (its real size in `capacity`), or nullptr. Of equal
  // sizes the most recently freed, which is likely still in the CPU caches.
  std::byte* take(size_t bytes, size_t& capacity) {
    std::lock_guard<std::mutex> lock(mutex_);
    const auto it = free_.lower_bound(bytes);
    if (it == free_.end() || it->first > bytes + bytes / 4) return nullptr;
    capacity = it->first;
    std::byte* block = it->second.back();
    it->second.pop_back();
    if (it->second.empty()) free_.erase(it);
    cached_ -= capacity;
    return block;
  }

  // Keeps the block, evicting the largest ones beyond the limit.
  void give(std::byte* block, size_t capacity) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (capacity > limit_) {
      std::free(block);
      return;
    }
    free_[capacity].push_back(block);
    cached_ += capacity;
    while (cached_ > limit_) {
      const auto largest = std::prev(free_.end());
      cached_ -= largest->first;
      std::free(largest->second.back());
      largest->second.pop_back();
      if (largest->second.empty()) free_.erase(largest);
    }
  }

 private:
  BlockCache() {
    // INTRAIN_CACHE_MIB bounds the memory kept (default 1 GiB; 0 disables the cache).
    if (const char* env = std::getenv("INTRAIN_CACHE_MIB")) limit_ = std::strtoull(env, nullptr, 10) << 20;
  }

  std::mutex mutex_;
  std::map<size_t, std::vector<std::byte*>> free_;  // by size, each a stack
  size_t cached_ = 0, limit_ = size_t{1} << 30;
};

}  // namespace

Storage::Storage(size_t bytes, bool zero_fill) : bytes_(bytes) {
  // aligned_alloc wants a size that is a multiple of the alignment; never allocate 0.
  size_t padded = (bytes + kAlignment - 1) / kAlignment * kAlignment;
  if (padded == 0) padded = kAlignment;
  capacity_ = padded;
  if (padded >= BlockCache::kMinBytes) data_ = BlockCache::instance().take(padded, capacity_);
  if (!data_) {
    capacity_ = padded;
    data_ = static_cast<std::byte*>(std::aligned_alloc(kAlignment, padded));
  }
  if (!data_) throw std::bad_alloc();
  if (zero_fill) std::memset(data_, 0, padded);
}

Storage::~Storage() {
  if (capacity_ >= BlockCache::kMinBytes)
    BlockCache::instance().give(data_, capacity_);
  else
    std::free(data_);
}

}  // namespace intrain
