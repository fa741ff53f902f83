// The tree arena: many search trees in one struct of arrays, indexed by node.
//
// Tree t owns the node range [t * nodes_per_tree, t * nodes_per_tree + tree_size[t]);
// its root is the first node of that range and its children are allocated contiguously,
// so a node's children are [first_child, first_child + child_count). Memory comes from
// calloc: pages a tree never touches are never resident, and a released tree's range is
// reused by the next problem, so a long run holds memory flat.
//
// Every search operation is batch-first (one call for many trees) and mirrors
// src/engine/reference.ts exactly: that TypeScript code is the oracle in the tests.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "rstar/node_layout.hpp"
#include "rstar/slots.hpp"

namespace rstar {

// Bits of Arena::flags.
enum Flag : uint8_t {
  kExpanded = 1,   // children allocated
  kPending = 2,    // selected for expansion, policy call in flight
  kExhausted = 4,  // expanded and every child is terminal or exhausted
};

// Arena::terminal. Answers are graded and back up to the root; the other kinds are
// invalid ends of a trajectory and update the node itself only.
enum Terminal : uint8_t {
  kNotTerminal = 0,
  kAnswer = 1,
  kCodeErrors = 2,  // consecutive code errors reached the threshold
  kTooDeep = 3,     // max depth reached without an answer
  kInvalid = 4,     // the step could not be parsed
};
constexpr uint8_t kTerminalKinds = 5;

// expand()'s kinds check: "expand: unknown terminal kind K" for the first entry that is no
// Terminal, else "". The batch's maximum first, a loop compilers vectorize; a scan that
// stops at the first bad kind does not vectorize, and it runs over every child.
inline std::string unknown_kind(std::span<const uint8_t> kinds) {
  uint8_t highest = 0;
  for (const uint8_t kind : kinds) highest = std::max(highest, kind);
  if (highest < kTerminalKinds) return {};
  for (const uint8_t kind : kinds)
    if (kind >= kTerminalKinds) return "expand: unknown terminal kind " + std::to_string(kind);
  return {};
}

enum class SelectMode : uint8_t {
  kRstar = 0,    // the authors' UCT: an unvisited child scores exactly 0, ties to the first
  kClassic = 1,  // textbook UCT: the first unvisited child is taken before any other
};

// select() results besides a node index.
constexpr int32_t kSelectExhausted = -1;  // the start node has no child left to explore
constexpr int32_t kSelectBlocked = -2;    // every open path runs into a pending expansion

// The PPM head on one hidden state: tanh((h . w + b) / 5), the authors' transform. The dot
// product runs in 8 fixed partial sums (vectorisable, and the same order on every call).
float ppm_score(const float* h, const float* w, size_t hidden, float bias);

class Arena : public NodeArrays {
 public:
  Arena(int32_t trees, int32_t nodes_per_tree);

  int32_t trees() const { return slots_.trees(); }
  int32_t nodes_per_tree() const { return slots_.nodes_per_tree(); }
  int64_t capacity() const { return int64_t(trees()) * nodes_per_tree(); }
  int32_t root(int32_t tree) const { return slots_.root(tree); }

  // Takes a free tree (lowest id first on a new arena, then the most recently released)
  // and gives it a fresh root; -1 when all trees are in use.
  int32_t acquire();
  // Clears the tree's nodes and returns it to the free list.
  void release(int32_t tree);

  // Descends from each start node in order, by UCT over the children that are neither
  // terminal, exhausted nor pending, adding one virtual loss to every node it enters,
  // until it reaches an unexpanded node: that node is marked pending and returned.
  // Returns kSelectExhausted when the start node is exhausted (or unexpandable) and
  // kSelectBlocked when every open path hits a pending node; in both cases the virtual
  // loss this descent added is taken back. Starts in one batch see each other's
  // virtual loss, so several rollouts from one root spread over the tree.
  void select(std::span<const int32_t> starts, std::span<int32_t> leaves, SelectMode mode,
              double c);

  // Allocates counts[i] children for leaves[i], with terminal kinds taken in order from
  // kinds (sum(counts) entries), and writes each leaf's first child. A leaf whose
  // children are all terminal becomes exhausted, and so on up the tree.
  void expand(std::span<const int32_t> leaves, std::span<const int32_t> counts,
              std::span<const uint8_t> kinds, std::span<int32_t> first_child);

  // PPM initialisation: the value counts as the node's first visit.
  void init_values(std::span<const int32_t> nodes, std::span<const float> values);

  // Adds one visit and the value: from an answer (or non-terminal) node up to the root,
  // on an invalid terminal (code errors, too deep, unparsable) to that node alone.
  void backup(std::span<const int32_t> nodes, std::span<const float> values);

  // Ends rollouts: removes one virtual loss from each node on the path from the given
  // node up to (not including) the root.
  void unwind(std::span<const int32_t> nodes);

  // The fused PPM step: scores[i] = ppm_score(hidden row i) for nodes[i], recorded as the
  // node's PPM value, then taken as the first visit of an open node (init_values) or backed
  // up from a terminal one (backup), in batch order. hidden is [nodes.size(), weight.size()]
  // row-major: the last hidden state of each node's step. scores may be empty when the
  // caller does not want them.
  void score_fused(std::span<const int32_t> nodes, std::span<const float> hidden,
                   std::span<const float> weight, float bias, std::span<float> scores);

  // flags[i] = the flags of nodes[i]: what a scheduler reads between operations (has this
  // root been exhausted?). Here a plain read of the arrays; GpuArena's reads the device.
  void read_flags(std::span<const int32_t> nodes, std::span<uint8_t> flags) const;

  // Per tree; the node arrays (NodeArrays) hold capacity() entries each.
  int32_t* tree_size;

  // What an arena of this shape allocates: the node arrays and tree_size.
  static int64_t bytes(int32_t trees, int32_t nodes_per_tree) {
    return int64_t(trees) * nodes_per_tree * kNodeBytes + int64_t(trees) * int64_t(sizeof(*tree_size));
  }

 private:
  struct Free {
    void operator()(void* p) const;
  };
  using Buffer = std::unique_ptr<void, Free>;
  template <typename T>
  T* allocate(int64_t count);

  bool all_children_closed(int32_t node) const;
  void propagate_exhausted(int32_t node);
  void init_nodes(int32_t first, int32_t count, int32_t parent_node, int32_t node_depth,
                  const uint8_t* kinds);

  std::vector<Buffer> buffers_;
  Slots slots_;
  std::vector<int32_t> first_;  // expand() scratch
  std::vector<float> run_;      // backup() scratch
  std::vector<float> scores_;   // score_fused() scratch
};

}  // namespace rstar
