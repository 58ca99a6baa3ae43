// Record: owned and borrowed bytes, and views that must survive moves.
#include "src/core/record.h"

#include <gtest/gtest.h>

#include <vector>

namespace sluice::core {
namespace {

TEST(Record, ShortOwnedTextViewSurvivesMoves) {
  // "hi there" fits in std::string's in-object storage, which moves with the record.
  Record r = Record::owned(std::string("k"), "hi there");
  r.set_text_view(r.value().substr(3));
  std::vector<Record> v;
  v.push_back(std::move(r));
  v.emplace_back(Record::owned(std::nullopt, "x"));  // forces a reallocation: another move
  Record moved = std::move(v[0]);
  EXPECT_EQ(moved.text(), "there");
  EXPECT_EQ(moved.key(), "k");
  EXPECT_TRUE(moved.has_key());
}

TEST(Record, BorrowedBytesStayWithTheLease) {
  static int released = 0;
  auto* buf = new std::string("key|value text");
  {
    Record r =
        Record::borrowed(Lease(buf,
                               [](void* p) {
                                 delete static_cast<std::string*>(p);
                                 ++released;
                               }),
                         std::string_view(*buf).substr(0, 3), std::string_view(*buf).substr(4));
    r.set_text_view(r.value().substr(6));
    Record m = std::move(r);
    EXPECT_EQ(m.key(), "key");
    EXPECT_EQ(m.value(), "value text");
    EXPECT_EQ(m.text(), "text");
    EXPECT_EQ(released, 0);
  }
  EXPECT_EQ(released, 1);
}

TEST(Record, SetValueKeepsBorrowedKeyAndOwnedTextIsIndependent) {
  Record r = Record::owned(std::nullopt, "input");
  r.set_text("decoded");
  r.set_value("{\"label\":\"positive\"}");
  EXPECT_FALSE(r.has_key());
  EXPECT_EQ(r.text(), "decoded");
  EXPECT_EQ(r.value(), "{\"label\":\"positive\"}");
}

}  // namespace
}  // namespace sluice::core
