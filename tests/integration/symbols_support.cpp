// threadsnap integration-test harness: naming the frames of a dump from ELF
// symbol tables (declared in harness.h).
#include "integration/harness.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <sstream>

#include "integration/text_util.h"

namespace threadsnap::testing {

// ---- symbols ----------------------------------------------------------------------

bool SymbolTable::Load(const std::string& path) {
  syms_.clear();
  for (const char* flags : {"", "-D"}) {
    std::string out = RunCommand(std::string("nm -C -S --defined-only ") + flags + " '" + path +
                                 "' 2>/dev/null");
    std::istringstream in(out);
    std::string line;
    while (std::getline(in, line)) {
      // "ADDR SIZE TYPE NAME" or "ADDR TYPE NAME"
      std::istringstream ls(line);
      std::string a, b, c;
      if (!(ls >> a >> b)) continue;
      Sym s{0, 0, ""};
      std::string type;
      if (b.size() == 1) {
        type = b;
      } else {
        if (!(ls >> c) || c.size() != 1) continue;
        s.size = strtoull(b.c_str(), nullptr, 16);
        type = c;
      }
      if (!strchr("TtWwi", type[0])) continue;
      std::string name;
      std::getline(ls, name);
      size_t p = name.find_first_not_of(' ');
      if (p == std::string::npos) continue;
      s.name = name.substr(p);
      s.addr = strtoull(a.c_str(), nullptr, 16);
      syms_.push_back(s);
    }
    if (!syms_.empty()) break;
  }
  std::sort(syms_.begin(), syms_.end(), [](const Sym& x, const Sym& y) {
    return x.addr != y.addr ? x.addr < y.addr : x.size > y.size;
  });
  return !syms_.empty();
}

std::string SymbolTable::Lookup(uint64_t vaddr) const {
  auto it = std::upper_bound(syms_.begin(), syms_.end(), vaddr,
                             [](uint64_t v, const Sym& s) { return v < s.addr; });
  // Walk back over symbols at/below vaddr; prefer one whose extent covers it.
  while (it != syms_.begin()) {
    --it;
    if (it->size == 0 || vaddr < it->addr + it->size) return it->name;
    // Sized symbol that ends before vaddr: an earlier, larger one may still cover it.
    if (vaddr - it->addr > (1u << 20)) break;
  }
  return "";
}

std::string Symbolizer::Name(const ThreadRecord& t, size_t i) {
  uint64_t a = t.LookupAddress(i);
  const Module* m = dump_.ModuleFor(a);
  if (!m) return "";
  // One table per file for the whole run: the files do not change under us.
  static std::mutex mu;
  static std::map<std::string, std::shared_ptr<SymbolTable>> cache;
  std::shared_ptr<SymbolTable> tab;
  {
    std::lock_guard<std::mutex> g(mu);
    auto& slot = cache[m->path];
    if (!slot) {
      slot = std::make_shared<SymbolTable>();
      slot->Load(m->path);
    }
    tab = slot;
  }
  uint64_t bias = m->bias ? *m->bias : m->start - m->offset;
  return tab->Lookup(a - bias);
}

std::vector<std::string> Symbolizer::Names(const ThreadRecord& t) {
  std::vector<std::string> out;
  for (size_t i = 0; i < t.frames.size(); i++) out.push_back(Name(t, i));
  return out;
}

std::string Symbolizer::Describe(const ThreadRecord& t) {
  std::ostringstream os;
  os << t.line << "\n";
  for (size_t i = 0; i < t.frames.size(); i++) {
    const Module* m = dump_.ModuleFor(t.LookupAddress(i));
    char buf[32];
    snprintf(buf, sizeof buf, "0x%llx", static_cast<unsigned long long>(t.frames[i]));
    os << "    #" << i << " " << buf << " " << Name(t, i) << " in "
       << (m ? Basename(m->path) : std::string("?")) << "\n";
  }
  return os.str();
}

int FindChain(const std::vector<std::string>& names, const std::vector<std::string>& chain) {
  if (chain.empty()) return 0;
  for (size_t i = 0; i + chain.size() <= names.size(); i++) {
    bool ok = true;
    for (size_t j = 0; j < chain.size() && ok; j++) ok = names[i + j] == chain[j];
    if (ok) return static_cast<int>(i);
  }
  return -1;
}

bool HasLibraryFrame(const Dump& d, const ThreadRecord& t) {
  std::string lib = RealPath(LibPath());
  for (size_t i = 0; i < t.frames.size(); i++) {
    for (uint64_t a : {t.frames[i], t.LookupAddress(i)}) {
      const Module* m = d.ModuleFor(a);
      if (m && (RealPath(m->path) == lib || Basename(m->path) == "libthreadsnap.so")) return true;
    }
  }
  return false;
}

}  // namespace threadsnap::testing
