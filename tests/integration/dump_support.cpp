// threadsnap integration-test harness: parsing a dump file and the
// library's stderr lines (declared in harness.h).
#include "integration/harness.h"

#include <algorithm>
#include <sstream>

#include "integration/text_util.h"

namespace threadsnap::testing {

// ---- dump parsing ---------------------------------------------------------------

uint64_t ThreadRecord::LookupAddress(size_t i) const {
  if (i >= frames.size()) return 0;
  if (i == 0 && FirstFrameIsPc()) return frames[0];
  return frames[i] - 1;
}

const ThreadRecord* Dump::FindTid(pid_t tid) const {
  for (const auto& t : threads)
    if (t.tid == tid) return &t;
  return nullptr;
}

std::vector<const ThreadRecord*> Dump::FindName(const std::string& name) const {
  std::vector<const ThreadRecord*> out;
  for (const auto& t : threads)
    if (t.name == name) out.push_back(&t);
  return out;
}

const Module* Dump::ModuleFor(uint64_t addr) const {
  for (const auto& m : modules)
    if (addr >= m.start && addr < m.end) return &m;
  return nullptr;
}

uint64_t Dump::HeaderU64(const std::string& key, uint64_t dflt) const {
  auto it = header.find(key);
  uint64_t v;
  if (it == header.end() || !ParseU64(it->second, &v)) return dflt;
  return v;
}

std::string Dump::CheckWellFormed() const {
  std::string err;
  auto magic = header.find("threadsnap");
  if (magic == header.end() || magic->second != "1") err += "no 'threadsnap 1' line; ";
  if (!has_end) err += "no 'end' line; ";
  for (const char* k : {"pid", "exe", "time_ns", "mode", "threads"})
    if (!header.count(k)) err += std::string("no header '") + k + "'; ";
  if (HeaderU64("threads", ~0ull) != threads.size())
    err += "header threads=" + (header.count("threads") ? header.at("threads") : "?") +
           " but " + std::to_string(threads.size()) + " thread records; ";
  std::set<pid_t> seen;
  for (const auto& t : threads) {
    if (!seen.insert(t.tid).second) err += "tid " + std::to_string(t.tid) + " listed twice; ";
    if (t.via != "timeout" && t.frames.empty())
      err += "tid " + std::to_string(t.tid) + " has no frames; ";
  }
  if (modules.empty()) err += "no module lines; ";
  return err;
}

bool ParseDump(const std::string& text, Dump* out, std::string* error) {
  *out = Dump();
  out->text = text;
  std::istringstream in(text);
  std::string line;
  int lineno = 0;
  ThreadRecord* cur = nullptr;
  bool in_body = false;
  auto fail = [&](const std::string& why) {
    if (error) *error = "line " + std::to_string(lineno) + ": " + why + ": '" + line + "'";
    return false;
  };
  while (std::getline(in, line)) {
    lineno++;
    if (out->has_end) {
      if (line.empty()) continue;
      return fail("text after 'end'");
    }
    if (lineno == 1) {
      if (line != "threadsnap 1") return fail("expected 'threadsnap 1'");
      out->header["threadsnap"] = "1";
      continue;
    }
    if (line.empty()) continue;
    if (line[0] == ' ' || line[0] == '\t') {  // a frame
      auto w = Words(line);
      uint64_t a;
      if (!cur || w.empty() || w[0].rfind("0x", 0) != 0 || !ParseU64(w[0], &a))
        return fail("bad frame line");
      cur->frames.push_back(a);
      continue;
    }
    auto w = Words(line);
    const std::string& kind = w[0];
    if (kind == "end") {
      out->has_end = true;
      cur = nullptr;
      continue;
    }
    if (kind == "module") {
      in_body = true;
      cur = nullptr;
      Module m;
      if (w.size() < 5 || !ParseU64(w[1], &m.start) || !ParseU64(w[2], &m.end) ||
          !ParseU64(w[3], &m.offset))
        return fail("bad module line");
      m.path = w[4];
      for (size_t i = 5; i < w.size(); i++) {
        size_t eq = w[i].find('=');
        if (eq == std::string::npos) continue;
        m.keys[w[i].substr(0, eq)] = w[i].substr(eq + 1);
      }
      uint64_t b;
      if (m.keys.count("bias") && ParseU64(m.keys["bias"], &b)) m.bias = b;
      out->modules.push_back(m);
      continue;
    }
    if (kind == "thread") {
      in_body = true;
      ThreadRecord t;
      t.line = line;
      for (size_t i = 1; i < w.size(); i++) {
        size_t eq = w[i].find('=');
        if (eq == std::string::npos) return fail("thread field without '='");
        t.fields[w[i].substr(0, eq)] = w[i].substr(eq + 1);
      }
      uint64_t v;
      if (!t.fields.count("tid") || !ParseU64(t.fields["tid"], &v)) return fail("no tid");
      t.tid = static_cast<pid_t>(v);
      t.name = PercentDecode(t.fields["name"]);
      t.state = t.fields["state"];
      t.via = t.fields["via"];
      if (t.state != "running" && t.state != "blocked") return fail("bad state");
      if (t.via.empty()) return fail("no via");
      if (t.fields.count("call")) t.call = t.fields["call"];
      if (t.fields.count("obj")) {
        if (t.fields["obj"].rfind("0x", 0) != 0 || !ParseU64(t.fields["obj"], &v))
          return fail("obj is not 0x hex");
        t.obj = v;
      }
      if (t.fields.count("blocked_ns")) {
        if (!ParseU64(t.fields["blocked_ns"], &v)) return fail("bad blocked_ns");
        t.blocked_ns = v;
      }
      out->threads.push_back(std::move(t));
      cur = &out->threads.back();
      continue;
    }
    if (in_body) {
      out->unknown_lines.push_back(line);
      cur = nullptr;
      continue;
    }
    // Header: "key value...".
    size_t sp = line.find(' ');
    out->header[line.substr(0, sp)] = sp == std::string::npos ? "" : line.substr(sp + 1);
  }
  if (lineno == 0) {
    if (error) *error = "empty dump";
    return false;
  }
  return true;
}

bool ReadDumpFile(const std::string& path, Dump* out, std::string* error) {
  bool ok;
  std::string text = ReadFile(path, &ok);
  if (!ok) {
    if (error) *error = "cannot read " + path;
    return false;
  }
  if (!ParseDump(text, out, error)) {
    if (error) *error = path + ": " + *error;
    return false;
  }
  out->path = path;
  return true;
}


// ---- the library's stderr lines -------------------------------------------------

std::vector<std::string> LibraryWarnings(const std::string& text) {
  std::vector<std::string> out;
  for (const auto& l : Split(text, '\n'))
    if (l.rfind("threadsnap:", 0) == 0 && l.rfind("threadsnap: wrote ", 0) != 0) out.push_back(l);
  return out;
}

std::vector<std::string> WroteLines(const std::string& text) {
  std::vector<std::string> out;
  for (const auto& l : Split(text, '\n'))
    if (l.rfind("threadsnap: wrote ", 0) == 0) out.push_back(l);
  return out;
}

}  // namespace threadsnap::testing
