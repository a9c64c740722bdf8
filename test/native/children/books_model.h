// A model of native/books.h for test/native/children/books.cc: one record
// per kernel mapping in a sorted vector, each unmap rule written as the
// kernel's walk reads (the comment at the top of books.h), nothing merged.
// The books keep runs of mappings; Campaign drives both with the same random
// maps, unmaps, failed unmaps, copies and clears, and after every step
// compares what they hold, what an unmap would remove, and every buffer's pins.
#pragma once

#include <books.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

namespace model {

struct Mapping {
  uint64_t iova, size;
  std::vector<int> buffers;
  uint64_t last() const { return iova + (size - 1); }
  bool Overlaps(uint64_t from, uint64_t to) const { return iova <= to && last() >= from; }
};

class Books {
 public:
  explicit Books(vfio::UnmapRule rule) : rule_(rule) {}

  const std::vector<Mapping>& mappings() const { return maps_; }

  void Mapped(uint64_t iova, uint64_t size, const std::vector<int>& buffers) {
    if (size == 0 || iova > UINT64_MAX - (size - 1)) return;
    uint64_t last = iova + (size - 1);
    std::vector<Mapping> kept;
    for (const Mapping& m : maps_) {
      if (!m.Overlaps(iova, last)) kept.push_back(m);
    }
    maps_ = kept;
    size_t at = 0;
    while (at < maps_.size() && maps_[at].iova < iova) at++;
    maps_.insert(maps_.begin() + static_cast<std::ptrdiff_t>(at), Mapping{iova, size, buffers});
  }

  void Unmapped(uint64_t iova, uint64_t size) {
    if (Everything(iova, size)) {
      maps_.clear();
    } else if (Valid(iova, size)) {
      Erase(Walk(iova, iova + (size - 1)));
    }
  }

  uint64_t BytesIn(uint64_t iova, uint64_t size) const {
    uint64_t bytes = 0;
    if (Everything(iova, size)) {
      for (const Mapping& m : maps_) bytes += m.size;
    } else if (Valid(iova, size)) {
      for (size_t i : Walk(iova, iova + (size - 1))) bytes += maps_[i].size;
    }
    return bytes;
  }

  void UnmapFailed(uint64_t iova, uint64_t size, int err) {
    if (rule_ == vfio::UnmapRule::kIoas && err == ENOENT && Valid(iova, size)) Erase(Walk(iova, iova + (size - 1)));
  }

  void Clear() { maps_.clear(); }

  void Copied(const Books& src, uint64_t srcIova, uint64_t size, uint64_t dstIova) {
    uint64_t last = srcIova + (size - 1);
    std::vector<Mapping> pieces;
    for (const Mapping& m : src.maps_) {
      if (!m.Overlaps(srcIova, last)) continue;
      uint64_t from = std::max(m.iova, srcIova), to = std::min(m.last(), last);
      pieces.push_back({dstIova + (from - srcIova), to - from + 1, m.buffers});
    }
    for (const Mapping& p : pieces) Mapped(p.iova, p.size, p.buffers);
  }

 private:
  bool Everything(uint64_t iova, uint64_t size) const {
    return rule_ == vfio::UnmapRule::kIoas && iova == 0 && size == UINT64_MAX;
  }
  static bool Valid(uint64_t iova, uint64_t size) { return size != 0 && iova <= UINT64_MAX - (size - 1); }

  // The kernel's walk: from the first mapping that reaches iova, in order.
  std::vector<size_t> Walk(uint64_t iova, uint64_t last) const {
    std::vector<size_t> out;
    size_t i = 0;
    while (i < maps_.size() && maps_[i].last() < iova) i++;
    for (; i < maps_.size() && maps_[i].iova <= last; i++) {
      const Mapping& m = maps_[i];
      if (rule_ == vfio::UnmapRule::kType1v1 && m.iova < iova) break;
      if (rule_ == vfio::UnmapRule::kIoas && (m.iova < iova || m.last() > last)) break;
      out.push_back(i);
    }
    return out;
  }

  void Erase(const std::vector<size_t>& gone) {
    for (size_t k = gone.size(); k-- > 0;) maps_.erase(maps_.begin() + static_cast<std::ptrdiff_t>(gone[k]));
  }

  vfio::UnmapRule rule_;
  std::vector<Mapping> maps_;
};

struct FakeBuffer {
  int pins = 0;
  void Pin() noexcept { pins++; }
  void Unpin() noexcept { pins--; }
};

constexpr int kBuffers = 4;
constexpr uint64_t kPage = 0x1000;

// What a campaign saw, so a test can tell that it exercised the runs.
struct Tally {
  uint64_t steps = 0;
  uint64_t merged = 0;  // steps after which some record held more than one mapping
  uint64_t splits = 0;  // unmaps after which the books held more records than before
  uint64_t mostPerRecord = 0;
};

class Campaign {
 public:
  explicit Campaign(uint64_t seed) : rng_(seed) {
    const vfio::UnmapRule rules[] = {vfio::UnmapRule::kType1v1, vfio::UnmapRule::kType1v2, vfio::UnmapRule::kIoas};
    vfio::UnmapRule rule = rules[seed % 3];
    overlaps_ = (seed / 3) % 2 == 1;  // a stand-in target, which maps over what is mapped
    for (int i = 0; i < 2; i++) {
      real_[i] = std::make_unique<vfio::MappingBooks<FakeBuffer>>(rule);
      model_.emplace_back(rule);
    }
  }

  // Returns an empty string, or what diverged and the steps that led there.
  std::string Run(uint64_t steps, Tally* tally) {
    for (uint64_t s = 0; s < steps; s++) {
      size_t recordsBefore = real_[0]->runs();
      bool unmap = Step();
      tally->steps++;
      if (unmap && real_[0]->runs() > recordsBefore) tally->splits++;
      if (real_[0]->runs() < real_[0]->size()) tally->merged++;
      uint64_t most = real_[0]->runs() ? real_[0]->size() / real_[0]->runs() : 0;
      if (most > tally->mostPerRecord) tally->mostPerRecord = most;
      std::string diff = Compare();
      if (!diff.empty()) return diff + "\nafter:\n" + log_;
    }
    return "";
  }

 private:
  uint64_t Below(uint64_t n) { return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng_); }

  std::vector<int> SomeBuffers() {
    switch (Below(10)) {
      case 0: return {};
      case 1: return {1};
      case 2: return {0, 1};
      case 3: return {2, 3, 0};  // past BufferList's inline two
      case 4: return {3};
      default: return {0};
    }
  }

  bool Overlaps(const Books& b, uint64_t iova, uint64_t size) const {
    for (const Mapping& m : b.mappings()) {
      if (m.Overlaps(iova, iova + (size - 1))) return true;
    }
    return false;
  }

  void Map(int book, uint64_t iova, uint64_t size, const std::vector<int>& buffers) {
    // The kernel refuses an overlap; only a stand-in maps over a mapping.
    if (!overlaps_ && Overlaps(model_[book], iova, size)) return;
    Note("map " + std::to_string(book) + " " + Hex(iova) + " " + Hex(size) + " bufs " + std::to_string(buffers.size()));
    vfio::BufferList<FakeBuffer> list;
    for (int b : buffers) list.push_back(&fake_[b]);
    real_[book]->Mapped(iova, size, std::move(list));
    model_[book].Mapped(iova, size, buffers);
  }

  // One random step; true for an unmap.
  bool Step() {
    int book = Below(4) == 0 ? 1 : 0;
    uint64_t roll = Below(100);
    if (roll < 35) {  // a batch mapping upwards, entry after entry
      uint64_t at = Below(64) * kPage, each = (Below(3) == 0 ? 1 + Below(4) : 1) * kPage, n = 1 + Below(12);
      std::vector<int> buffers = SomeBuffers();
      for (uint64_t i = 0; i < n; i++) Map(book, at + i * each, each, Below(20) == 0 ? SomeBuffers() : buffers);
      return false;
    }
    if (roll < 40) {  // the same, downwards
      uint64_t at = (24 + Below(64)) * kPage, each = (Below(3) == 0 ? 1 + Below(4) : 1) * kPage, n = 1 + Below(12);
      std::vector<int> buffers = SomeBuffers();
      for (uint64_t i = 0; i < n && at >= (i + 1) * each; i++) Map(book, at - (i + 1) * each, each, buffers);
      return false;
    }
    if (roll < 45) {
      Map(book, Below(80) * kPage, (1 + Below(8)) * kPage, SomeBuffers());
      return false;
    }
    if (roll < 48) {  // at the top of the space, where a run's end would wrap; or past it
      Map(book, UINT64_MAX - (1 + Below(3)) * kPage + 1, (1 + Below(4) / 3) * kPage, {0});
      return false;
    }
    if (roll < 85) {
      uint64_t iova, size;
      switch (Below(12)) {
        case 0: iova = 0, size = UINT64_MAX; break;
        case 1: iova = Below(64) * kPage, size = 0; break;
        case 2: iova = UINT64_MAX - Below(4) * kPage, size = 2 * kPage; break;  // wraps, or the top pages
        case 3: iova = Below(64) * kPage + 0x800, size = (1 + Below(10)) * kPage; break;  // cuts inside mappings
        default: iova = Below(70) * kPage, size = (1 + Below(24)) * kPage;
      }
      uint64_t want = model_[book].BytesIn(iova, size), got = real_[book]->BytesIn(iova, size);
      if (want != got) bytesDiff_ = "BytesIn(" + Hex(iova) + ", " + Hex(size) + ") " + Hex(got) + ", model " + Hex(want);
      Note("unmapped " + std::to_string(book) + " " + Hex(iova) + " " + Hex(size));
      real_[book]->Unmapped(iova, size);
      model_[book].Unmapped(iova, size);
      return book == 0;
    }
    if (roll < 90) {
      uint64_t iova = Below(64) * kPage, size = (1 + Below(16)) * kPage;
      int err = Below(2) ? ENOENT : EINVAL;
      Note("failed " + std::to_string(book) + " " + Hex(iova) + " " + Hex(size) + " " + std::to_string(err));
      real_[book]->UnmapFailed(iova, size, err);
      model_[book].UnmapFailed(iova, size, err);
      return book == 0;
    }
    if (roll < 99) {
      int src = static_cast<int>(Below(2));
      uint64_t from = Below(64) * kPage + (Below(4) == 0 ? 0x800 : 0), size = (1 + Below(16)) * kPage;
      uint64_t to = (64 + Below(64)) * kPage;
      if (!overlaps_ && Overlaps(model_[book], to, size)) return false;
      Note("copy " + std::to_string(src) + "->" + std::to_string(book) + " " + Hex(from) + " " + Hex(size) + " " + Hex(to));
      real_[book]->Copied(*real_[src], from, size, to);
      model_[book].Copied(model_[src], from, size, to);
      return false;
    }
    Note("clear " + std::to_string(book));
    real_[book]->Clear();
    model_[book].Clear();
    return false;
  }

  std::string Compare() {
    if (!bytesDiff_.empty()) return std::exchange(bytesDiff_, "");
    int pins[kBuffers] = {};
    for (int book = 0; book < 2; book++) {
      std::vector<std::pair<uint64_t, uint64_t>> got;
      real_[book]->ForEach([&](uint64_t iova, uint64_t size) { got.emplace_back(iova, size); });
      const std::vector<Mapping>& want = model_[book].mappings();
      bool same = got.size() == want.size() && real_[book]->size() == want.size();
      for (size_t i = 0; same && i < got.size(); i++) same = got[i].first == want[i].iova && got[i].second == want[i].size;
      if (!same) return "book " + std::to_string(book) + ": " + List(got) + "\nmodel: " + List(want);
      for (const Mapping& m : want) {
        for (int b : m.buffers) pins[b]++;
      }
    }
    for (int b = 0; b < kBuffers; b++) {
      if (fake_[b].pins != pins[b]) {
        return "buffer " + std::to_string(b) + ": " + std::to_string(fake_[b].pins) + " pins, model " + std::to_string(pins[b]);
      }
    }
    return "";
  }

  static std::string Hex(uint64_t v) {
    char s[24];
    std::snprintf(s, sizeof s, "%llx", static_cast<unsigned long long>(v));
    return s;
  }
  static std::string List(const std::vector<std::pair<uint64_t, uint64_t>>& l) {
    std::string out;
    for (auto& [iova, size] : l) out += Hex(iova) + "+" + Hex(size) + " ";
    return out;
  }
  static std::string List(const std::vector<Mapping>& l) {
    std::string out;
    for (const Mapping& m : l) out += Hex(m.iova) + "+" + Hex(m.size) + " ";
    return out;
  }

  // The last steps, for a report.
  void Note(const std::string& step) {
    log_ += step + "\n";
    if (log_.size() > 4000) log_.erase(0, log_.find('\n', log_.size() - 3000) + 1);
  }

  std::mt19937_64 rng_;
  bool overlaps_ = false;
  FakeBuffer fake_[kBuffers];  // declared before the books: they unpin into it
  std::unique_ptr<vfio::MappingBooks<FakeBuffer>> real_[2];
  std::vector<Books> model_;
  std::string log_, bytesDiff_;
};

}  // namespace model
