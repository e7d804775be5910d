// Included before every test file when the compiler is clang older than 16 (tests/meson.build;
// scripts/sanitize builds with Debian 12's clang 14): those cannot capture a structured
// binding in a lambda (C++20, P1091/P1381; clang 16 has it), and doctest's CAPTURE(x) is a
// lambda capturing x by reference, so `for (auto& [name, t] : ...) CAPTURE(name);` does not
// compile. This CAPTURE binds a reference to x first and captures that; what it prints on a
// failure is the same.
#pragma once
#include <doctest.h>

#undef DOCTEST_CAPTURE
#define INTRAIN_CAPTURE_AS(name, x) \
  const auto& name = (x);           \
  DOCTEST_INFO(#x " := ", name)
#define DOCTEST_CAPTURE(x) INTRAIN_CAPTURE_AS(DOCTEST_ANONYMOUS(INTRAIN_CAPTURED_), x)
