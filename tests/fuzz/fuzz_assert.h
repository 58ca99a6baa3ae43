// The fuzz targets' assertion: libFuzzer reports a crash, so a broken
// invariant aborts, after naming the condition and where it is (the crash
// artifact alone says only that something failed). GoogleTest's EXPECT_ and
// ASSERT_ do not apply inside LLVMFuzzerTestOneInput.
#pragma once
#include <cstdio>
#include <cstdlib>
#include <string_view>

#include "src/core/dead_letter.h"

#define FUZZ_ASSERT(cond) ::sluice::fuzz::assert_that((cond), #cond, __FILE__, __LINE__)

namespace sluice::fuzz {

inline void assert_that(bool ok, const char* what, const char* file, int line) {
  if (ok) return;
  std::fprintf(stderr, "%s:%d: fuzz invariant broken: %s\n", file, line, what);
  std::abort();
}

// A dead-letter code that record decoders may give (src/core/dead_letter.h).
inline bool known_dead_letter_code(std::string_view c) {
  namespace code = core::dead_letter_code;
  for (const char* k : {code::kInvalidJson, code::kMissingField, code::kEmpty, code::kTooLarge,
                        code::kTooDeep, code::kInvalidUtf8}) {
    if (c == k) return true;
  }
  return false;
}

}  // namespace sluice::fuzz
