#pragma once
// Asserts that f() throws intrain::Error whose message contains `needle`: error messages
// are part of the interface (they name the op, file or tensor and what was wrong).
#include <doctest.h>

#include <string>

#include "core/error.hpp"

namespace intrain::testing {

template <class F>
void expect_error(F&& f, const std::string& needle) {
  try {
    f();
    FAIL("expected an intrain::Error containing: ", needle);
  } catch (const Error& e) {
    INFO("message: ", std::string(e.what()));
    CHECK(std::string(e.what()).find(needle) != std::string::npos);
  }
}

}  // namespace intrain::testing
