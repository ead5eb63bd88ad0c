// Diagnostics::sort: `-t` prints problems in the order of the files (the main file, then the
// includes as read) and of their lines, not in the order the loader's sections found them.
#include <unistd.h>

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "config_fixture.h"

namespace gw {
namespace {

class DiagnosticsOrderTest : public test::ConfigFixture {
  protected:
    std::vector<std::string> positions() const {
        std::vector<std::string> out;
        for (const Diagnostic& d : diags_.all())
            out.push_back(d.mark.file ? d.mark.file_name() + ":" + std::to_string(d.mark.line) + ":" +
                                            std::to_string(d.mark.col)
                                      : "-");
        return out;
    }
};

TEST_F(DiagnosticsOrderTest, ByFileThenLineThenColumn) {
    write("gw.conf",
          "include: extra.conf\n"
          "routes:\n"
          "  - name: r\n"
          "    upstream: nope\n"
          "listeners:\n"
          "  - address: 127.0.0.1:8080\n"
          "worker_processes: 0\n");
    write("extra.conf", "# included\nhttp: {max_headers: 0}\n");
    Config partial;
    diags_ = Diagnostics();
    ASSERT_FALSE(load_config(path("gw.conf"), "/srv/gw", diags_, &partial));
    std::string main = path("gw.conf"), extra = path("extra.conf");
    // As found: process keys, then http (the include), then routes.
    ASSERT_EQ(positions(), (std::vector<std::string>{main + ":7:19", extra + ":2:21", main + ":4:15"}));
    diags_.sort(partial.files);
    EXPECT_EQ(positions(), (std::vector<std::string>{main + ":4:15", main + ":7:19", extra + ":2:21"}));
}

TEST(DiagnosticsSort, StableUnknownFilesAfterAndNoFileLast) {
    auto file = [](const char* name) { return std::make_shared<const std::string>(name); };
    auto a = file("/c/a.conf"), b = file("/c/b.conf"), x = file("/c/x.conf"), y = file("/c/y.conf");
    Diagnostics d;
    d.error(Mark{}, "no file 1");
    d.error(Mark{y, 1, 1}, "y");
    d.error(Mark{b, 2, 5}, "b 2:5");
    d.warning(Mark{a, 3, 1}, "a 3:1 first");
    d.error(Mark{x, 9, 1}, "x");
    d.error(Mark{a, 3, 1}, "a 3:1 second");
    d.error(Mark{a, 1, 7}, "a 1:7");
    d.error(Mark{a, 0, 0}, "a whole file");
    d.error(Mark{}, "no file 2");
    d.error(Mark{b, 2, 1}, "b 2:1");
    d.sort({"/c/a.conf", "/c/b.conf"});
    std::vector<std::string> got;
    for (const Diagnostic& x : d.all()) got.push_back(x.message);
    EXPECT_EQ(got, (std::vector<std::string>{"a whole file", "a 1:7", "a 3:1 first", "a 3:1 second", "b 2:1",
                                             "b 2:5", "y", "x", "no file 1", "no file 2"}));
    EXPECT_EQ(d.error_count(), 9u);
}

TEST(DiagnosticsSort, RelativeNamesMatchTheAbsoluteList) {
    char cwd[4096];
    ASSERT_NE(getcwd(cwd, sizeof cwd), nullptr);
    Diagnostics d;
    d.error(Mark{std::make_shared<const std::string>("conf/./inc.conf"), 1, 1}, "include");
    d.error(Mark{std::make_shared<const std::string>("conf/main.conf"), 9, 1}, "main");
    d.sort({std::string(cwd) + "/conf/main.conf", std::string(cwd) + "/conf/inc.conf"});
    ASSERT_EQ(d.all().size(), 2u);
    EXPECT_EQ(d.all()[0].message, "main");
    EXPECT_EQ(d.all()[1].message, "include");
}

}  // namespace
}  // namespace gw
