#pragma once
// intrain::Error and the checks that raise it. Every failure on user input throws
// an Error whose message names the op (or file) and what was expected versus what came.
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace intrain {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

namespace detail {
template <class... Parts>
std::string concat(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  return out.str();
}
}  // namespace detail

// Formats a shape as "[2, 3, 4]" for messages.
std::string shape_str(const std::vector<int64_t>& shape);

}  // namespace intrain

// Throws intrain::Error built from the streamed parts when `cond` is false.
#define INTRAIN_CHECK(cond, ...)                                       \
  do {                                                                 \
    if (!(cond)) throw ::intrain::Error(::intrain::detail::concat(__VA_ARGS__)); \
  } while (0)
