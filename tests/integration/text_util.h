// threadsnap integration-test harness: small text and file helpers that the
// harness's own files share (not for tests: harness.h is their interface).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace threadsnap::testing {

// $name if set and not empty, else dflt.
std::string EnvOr(const char* name, const std::string& dflt);
// A whole unsigned number (decimal, 0x hex, 0 octal); false if s is not one.
bool ParseU64(const std::string& s, uint64_t* out);
// The non-empty pieces of s between separators.
std::vector<std::string> Split(const std::string& s, char sep);
// The whitespace-separated words of s.
std::vector<std::string> Words(const std::string& s);
// %XX decoded (the dump's encoding of names and paths).
std::string PercentDecode(const std::string& s);
// The whole file; *ok says whether it could be opened.
std::string ReadFile(const std::string& path, bool* ok = nullptr);
// A directory and the files in it (one level).
void RemoveTree(const std::string& dir);

}  // namespace threadsnap::testing
