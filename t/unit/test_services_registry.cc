// services::Registry: what a worker's parts provide to each other, found by type.
#include <gtest/gtest.h>

#include "core/services/registry.h"

namespace {

struct Table {
    int id = 0;
};
struct Other {
    int id = 0;
};

TEST(ServicesRegistry, FindsByType) {
    gw::services::Registry r;
    EXPECT_EQ(r.find<Table>(), nullptr);
    Table t{1};
    Other o{2};
    r.provide(&t);
    r.provide(&o);
    EXPECT_EQ(r.find<Table>(), &t);
    EXPECT_EQ(r.find<Other>(), &o);
    EXPECT_EQ(r.find<const Table>(), &t) << "const or not, one type";
    EXPECT_EQ(r.find<int>(), nullptr);

    Table t2{3};
    r.provide(&t2);  // replaces
    EXPECT_EQ(r.find<Table>(), &t2);
    r.provide<Table>(nullptr);  // withdraws
    EXPECT_EQ(r.find<Table>(), nullptr);
    EXPECT_EQ(r.find<Other>(), &o);

    const Other c{4};
    r.provide(&c);
    EXPECT_EQ(r.find<const Other>(), &c);
}

}  // namespace
