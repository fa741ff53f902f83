// Which trees of an arena are in use and how many nodes each holds: the allocation
// bookkeeping that the CPU arena and the GPU arena share. On the GPU it stays on the host,
// which is why a batch's node indices can be checked and its children placed without
// asking the device.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace rstar {

class Slots {
 public:
  Slots(int32_t trees, int32_t nodes_per_tree);

  int32_t trees() const { return trees_; }
  int32_t nodes_per_tree() const { return nodes_per_tree_; }
  int32_t root(int32_t tree) const { return tree * nodes_per_tree_; }
  // node / nodes_per_tree for node >= 0 without a division instruction: batches check and
  // group every entry by tree, and a 32-bit idiv per entry was most of a GPU call's time
  // (bench/RESULTS.md). The multiply-high by ceil(2^64 / d) is exact for every 32-bit
  // numerator (Lemire, Kaser & Kurz, "Faster remainder by direct computation", 2019).
  int32_t tree_of(int32_t node) const {
    if (nodes_per_tree_ == 1) return node;  // ceil(2^64 / 1) does not fit in 64 bits
    return int32_t((static_cast<unsigned __int128>(reciprocal_) * uint32_t(node)) >> 64);
  }
  // Nodes held per tree (0 when free): the arenas expose this array as their tree_size.
  int32_t* tree_size() { return tree_size_.data(); }

  // A free tree (lowest id first on a new arena, then the most recently released), its
  // size set to 1 (the root); -1 when all trees are in use.
  int32_t acquire();
  // Throws unless the tree is in use; sets its size to 0 and frees it. Returns the size
  // it had, so the caller can clear that many nodes.
  int32_t release(int32_t tree);
  // Throws std::invalid_argument "OP: node N is out of range | is not allocated" for the
  // first node of the batch outside the acquired trees' nodes. Inline: every batch of
  // both arenas passes here entry by entry.
  void check_nodes(std::span<const int32_t> nodes, const char* op) const {
    for (const int32_t node : nodes)
      if (!allocated(node)) refuse(node, op);
  }

  // expand()'s checks, in the order the CPU arena makes them for each leaf. Those that
  // need node state (expanded, terminal) are the engine's; the others are place()'s.
  enum class Problem : uint8_t { kNone, kTwice, kExpanded, kTerminal, kNegative, kFull };
  struct Finding {
    int64_t index = -1;  // the first leaf (batch order) with a problem, -1 if none
    Problem problem = Problem::kNone;
  };
  // The earlier of two findings; at the same leaf, the check made first.
  static Finding first_of(Finding a, Finding b);
  // Throws the CPU arena's message for a finding; returns when there is none.
  void fail_expand(Finding f, const int32_t* leaves) const;

  // Places the children of leaves in batch order (first[i] = where leaf i's children
  // go) and finds a leaf listed twice, a negative count or a tree that would overflow.
  // Changes nothing; *children gets the sum of counts up to the first problem.
  Finding place(const int32_t* leaves, const int32_t* counts, size_t n, int32_t* first,
                int64_t* children);
  // Takes the tree sizes of a place() that found nothing.
  void commit(const int32_t* leaves, const int32_t* counts, size_t n);

 private:
  bool allocated(int32_t node) const {
    if (uint32_t(node) >= uint32_t(capacity_)) return false;
    const int32_t tree = tree_of(node);
    // A free tree's size is 0, so one compare covers "in use" and "below its size".
    return uint32_t(node - root(tree)) < uint32_t(tree_size_[size_t(tree)]);
  }
  [[noreturn]] void refuse(int32_t node, const char* op) const;

  int32_t trees_;
  int32_t nodes_per_tree_;
  int32_t capacity_;     // trees * nodes_per_tree, checked to fit
  uint64_t reciprocal_;  // tree_of()'s ceil(2^64 / nodes_per_tree)
  std::vector<int32_t> tree_size_;
  std::vector<int32_t> free_trees_;  // a stack: back() is the next tree acquired
  std::vector<uint8_t> in_use_;
  std::vector<int32_t> need_;  // place() scratch, all zero between calls
  std::vector<std::pair<int32_t, int32_t>> sorted_;  // place() scratch: (leaf, index)
};

}  // namespace rstar
