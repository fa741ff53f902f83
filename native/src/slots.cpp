#include "rstar/slots.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <string>

namespace rstar {

namespace {
[[noreturn]] void fail(const std::string& what) { throw std::invalid_argument(what); }
}  // namespace

Slots::Slots(int32_t trees, int32_t nodes_per_tree)
    : trees_(trees),
      nodes_per_tree_(nodes_per_tree),
      capacity_(0),
      reciprocal_(nodes_per_tree > 1 ? UINT64_MAX / uint64_t(nodes_per_tree) + 1 : 0) {
  if (trees < 1 || nodes_per_tree < 1) fail("Arena: trees and nodes_per_tree must be >= 1");
  if (int64_t(trees) * nodes_per_tree > std::numeric_limits<int32_t>::max())
    fail("Arena: trees * nodes_per_tree must fit in int32 (node indices are int32)");
  capacity_ = trees * nodes_per_tree;
  tree_size_.assign(size_t(trees), 0);
  in_use_.assign(size_t(trees), 0);
  need_.assign(size_t(trees), 0);
  free_trees_.reserve(size_t(trees));
  for (int32_t t = trees - 1; t >= 0; --t) free_trees_.push_back(t);
}

int32_t Slots::acquire() {
  if (free_trees_.empty()) return -1;
  const int32_t tree = free_trees_.back();
  free_trees_.pop_back();
  in_use_[size_t(tree)] = 1;
  tree_size_[tree] = 1;
  return tree;
}

int32_t Slots::release(int32_t tree) {
  if (tree < 0 || tree >= trees_ || !in_use_[size_t(tree)])
    fail("release: tree " + std::to_string(tree) + " is not in use");
  const int32_t size = tree_size_[tree];
  tree_size_[tree] = 0;
  in_use_[size_t(tree)] = 0;
  free_trees_.push_back(tree);
  return size;
}

void Slots::refuse(int32_t node, const char* op) const {
  if (node < 0 || node >= capacity_) fail(std::string(op) + ": node " + std::to_string(node) + " is out of range");
  fail(std::string(op) + ": node " + std::to_string(node) + " is not allocated");
}

Slots::Finding Slots::first_of(Finding a, Finding b) {
  if (a.index < 0) return b;
  if (b.index < 0) return a;
  if (a.index != b.index) return a.index < b.index ? a : b;
  return a.problem < b.problem ? a : b;
}

void Slots::fail_expand(Finding f, const int32_t* leaves) const {
  if (f.index < 0) return;
  const int32_t leaf = leaves[f.index];
  const char* what = "";
  switch (f.problem) {
    case Problem::kNone: return;
    case Problem::kTwice: what = " appears twice"; break;
    case Problem::kExpanded: what = " is already expanded"; break;
    case Problem::kTerminal: what = " is terminal"; break;
    case Problem::kNegative: what = " has a negative child count"; break;
    case Problem::kFull:
      fail("expand: tree " + std::to_string(tree_of(leaf)) + " is full (" +
           std::to_string(nodes_per_tree_) + " nodes per tree)");
  }
  fail("expand: node " + std::to_string(leaf) + what);
}

Slots::Finding Slots::place(const int32_t* leaves, const int32_t* counts, size_t n,
                            int32_t* first, int64_t* children) {
  Finding found;
  // A leaf listed twice: the first index whose leaf appeared before. Only possible when
  // the trees are not strictly increasing (one leaf per tree, in order: the usual batch).
  bool increasing = true;
  for (size_t i = 1; i < n && increasing; ++i) increasing = tree_of(leaves[i - 1]) < tree_of(leaves[i]);
  if (!increasing) {
    sorted_.resize(n);
    for (size_t i = 0; i < n; ++i) sorted_[i] = {leaves[i], int32_t(i)};
    std::sort(sorted_.begin(), sorted_.end());
    for (size_t i = 1; i < n; ++i) {
      if (sorted_[i].first == sorted_[i - 1].first && (found.index < 0 || sorted_[i].second < found.index))
        found = {sorted_[i].second, Problem::kTwice};
    }
  }
  const size_t end = found.index < 0 ? n : size_t(found.index);
  int64_t total = 0;
  size_t i = 0;
  for (; i < end; ++i) {
    if (counts[i] < 0) {
      found = {int64_t(i), Problem::kNegative};
      break;
    }
    const int32_t tree = tree_of(leaves[i]);
    const int64_t at = int64_t(tree_size_[tree]) + need_[size_t(tree)];
    if (at + counts[i] > nodes_per_tree_) {
      found = {int64_t(i), Problem::kFull};
      break;
    }
    first[i] = root(tree) + int32_t(at);
    need_[size_t(tree)] += counts[i];
    total += counts[i];
  }
  for (size_t j = 0; j < i; ++j) need_[size_t(tree_of(leaves[j]))] = 0;
  *children = total;
  return found;
}

void Slots::commit(const int32_t* leaves, const int32_t* counts, size_t n) {
  for (size_t i = 0; i < n; ++i) tree_size_[tree_of(leaves[i])] += counts[i];
}

}  // namespace rstar
