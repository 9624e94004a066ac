// TS_DCHECK (base/check.h): the protocol's assumptions are checked in the
// sanitizer build (make check-asan defines TS_DCHECKS) and cost nothing, not
// even the evaluation of the condition, in the library users run.
#include <gtest/gtest.h>

#include "base/check.h"

namespace {

TEST(DCheck, CheckedOnlyInTheSanitizerBuild) {
#if defined(TS_DCHECKS)
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(TS_DCHECK(1 + 1 == 3), "DCHECK failed: 1 \\+ 1 == 3");
  int evaluated = 0;
  TS_DCHECK(++evaluated == 1);
  EXPECT_EQ(evaluated, 1);
#else
  int evaluated = 0;
  TS_DCHECK(++evaluated == 100);
  EXPECT_EQ(evaluated, 0);
#endif
}

}  // namespace
