// Drives native/books.h (MappingBooks) without N-API or VFIO, for
// test/native/books.test.ts. Reads one command per line on stdin, on book 0
// unless `use N` chose another:
//   rule type1v1|type1v2|ioas        the current book's unmap rule
//   map IOVA SIZE [BUF ...]          a successful map covering buffers 0..7
//   unmapped IOVA SIZE               a successful unmap
//   failed IOVA SIZE ERRNO           a failed unmap
//   copy FROM SRC_IOVA SIZE DST_IOVA a successful IOMMU_IOAS_COPY from book FROM
//   clear
//   use N                            switch to book N (0 or 1)
//   fuzz SEED STEPS                  instead of all that: books_model.h's
//                                    campaign; prints "steps merged splits
//                                    most-per-record", or what diverged on
//                                    stderr with exit status 1
// At the end it prints the current book's records ("iova+size", hex) on one
// line and every buffer's pin count on the next. Numbers take 0x.
#include <books.h>

#include "books_model.h"

#include <cstdint>
#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace {

using model::FakeBuffer;  // counts its pins

uint64_t Num(std::istringstream& in) {
  std::string w;
  in >> w;
  return std::stoull(w, nullptr, 0);
}

}  // namespace

int main() {
  using Books = vfio::MappingBooks<FakeBuffer>;
  FakeBuffer buffers[8];
  Books book0(vfio::UnmapRule::kType1v1), book1(vfio::UnmapRule::kType1v1);
  Books* books[2] = {&book0, &book1};
  Books* cur = &book0;
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string cmd;
    if (!(in >> cmd)) continue;
    if (cmd == "rule") {
      std::string r;
      in >> r;
      cur->set_rule(r == "ioas" ? vfio::UnmapRule::kIoas
                    : r == "type1v2" ? vfio::UnmapRule::kType1v2
                                     : vfio::UnmapRule::kType1v1);
    } else if (cmd == "map") {
      uint64_t iova = Num(in), size = Num(in);
      vfio::BufferList<FakeBuffer> covered;
      for (int b; in >> b;) covered.push_back(&buffers[b]);
      cur->Mapped(iova, size, std::move(covered));
    } else if (cmd == "unmapped") {
      uint64_t iova = Num(in), size = Num(in);
      cur->Unmapped(iova, size);
    } else if (cmd == "failed") {
      uint64_t iova = Num(in), size = Num(in);
      cur->UnmapFailed(iova, size, static_cast<int>(Num(in)));
    } else if (cmd == "copy") {
      uint64_t from = Num(in), src = Num(in), size = Num(in), dst = Num(in);
      cur->Copied(*books[from], src, size, dst);
    } else if (cmd == "clear") {
      cur->Clear();
    } else if (cmd == "fuzz") {
      uint64_t seed = Num(in), steps = Num(in);
      model::Tally tally;
      std::string diff = model::Campaign(seed).Run(steps, &tally);
      if (!diff.empty()) {
        std::cerr << "seed " << seed << ": " << diff;
        return 1;
      }
      std::printf("%llu %llu %llu %llu\n", static_cast<unsigned long long>(tally.steps),
                  static_cast<unsigned long long>(tally.merged), static_cast<unsigned long long>(tally.splits),
                  static_cast<unsigned long long>(tally.mostPerRecord));
      return 0;
    } else if (cmd == "use") {
      cur = books[Num(in)];
    } else {
      std::cerr << "unknown command: " << cmd << "\n";
      return 2;
    }
  }
  std::string sep;
  cur->ForEach([&](uint64_t iova, uint64_t size) {
    std::printf("%s%llx+%llx", sep.c_str(), static_cast<unsigned long long>(iova), static_cast<unsigned long long>(size));
    sep = " ";
  });
  std::printf("\n");
  for (int i = 0; i < 8; i++) std::printf("%s%d", i ? " " : "", buffers[i].pins);
  std::printf("\n");
  return 0;
}
