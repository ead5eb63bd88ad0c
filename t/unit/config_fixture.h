// A GoogleTest fixture for configuration tests: a temporary directory per test, files written
// there and loaded by absolute path, so diagnostics read "<dir>/<name>:LINE:COL: message".
#pragma once

#include <stdlib.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/config/config.h"

namespace gw::test {

class ConfigFixture : public ::testing::Test {
  protected:
    void SetUp() override {
        char tmpl[] = "/tmp/gw-config-test-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
    }
    void TearDown() override {
        std::error_code ec;
        std::filesystem::remove_all(dir_, ec);
    }

    std::string path(const std::string& name) const { return dir_ + "/" + name; }

    void write(const std::string& name, const std::string& text) {
        std::filesystem::path p = path(name);
        std::error_code ec;
        std::filesystem::create_directories(p.parent_path(), ec);
        std::ofstream out(p, std::ios::binary);
        out << text;
        ASSERT_TRUE(out.good()) << name;
    }

    // "<dir>/<name>:LINE:COL: "
    std::string at(const std::string& name, int line, int col) const {
        return path(name) + ":" + std::to_string(line) + ":" + std::to_string(col) + ": ";
    }

    std::optional<Config> load(const std::string& name, const std::string& prefix = "/srv/gw") {
        diags_ = Diagnostics();
        return load_config(path(name), prefix, diags_);
    }

    std::vector<std::string> errors() const {
        std::vector<std::string> out;
        for (const Diagnostic& d : diags_.all()) out.push_back(d.str());
        return out;
    }

    // Loads `text` as gw.conf, expecting failure with exactly `expected` (in any order).
    void expect_errors(const std::string& text, std::vector<std::string> expected) {
        write("gw.conf", text);
        std::optional<Config> c = load("gw.conf");
        EXPECT_FALSE(c.has_value());
        std::vector<std::string> got = errors();
        std::sort(got.begin(), got.end());
        std::sort(expected.begin(), expected.end());
        // gtest shortens long containers when printing them: name the differences.
        std::vector<std::string> missing, unexpected;
        std::set_difference(expected.begin(), expected.end(), got.begin(), got.end(),
                            std::back_inserter(missing));
        std::set_difference(got.begin(), got.end(), expected.begin(), expected.end(),
                            std::back_inserter(unexpected));
        EXPECT_EQ(got, expected) << "missing: " << ::testing::PrintToString(missing)
                                 << "\nunexpected: " << ::testing::PrintToString(unexpected);
    }

    std::string dir_;
    Diagnostics diags_;
};

}  // namespace gw::test
