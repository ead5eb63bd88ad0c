// Diagnostics: every problem the config loader finds, with the place it was found.
// The loader never stops at the first error; callers print them all.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace gw {

// A position in a config file. `file` is shared by every node of one file.
struct Mark {
    std::shared_ptr<const std::string> file;
    int line = 0;  // 1-based
    int col = 0;   // 1-based

    const std::string& file_name() const;
    std::string str() const;  // "FILE:LINE:COL"
};

struct Diagnostic {
    enum class Severity { Error, Warning };
    Severity severity = Severity::Error;
    Mark mark;
    std::string message;

    // "FILE:LINE:COL: message" (or just the message when there is no file).
    std::string str() const;
};

class Diagnostics {
  public:
    void error(const Mark& mark, std::string message);
    void warning(const Mark& mark, std::string message);

    bool has_errors() const { return errors_ > 0; }
    size_t error_count() const { return errors_; }
    const std::vector<Diagnostic>& all() const { return items_; }

    // Puts them in reading order: by file as `files` lists them (the main file, then its
    // includes as they were read; a file not listed comes after those, in the order first
    // found, and problems without a file last), then by line, then by column; problems at one
    // position keep the order they were found in. The loader finds them section by section
    // (routes after upstreams, whatever the file says), so `-t` sorts before printing.
    void sort(const std::vector<std::string>& files);

  private:
    std::vector<Diagnostic> items_;
    size_t errors_ = 0;
};

}  // namespace gw
