#include "rstar/arena.hpp"
#include "rstar/nvtx.hpp"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <stdexcept>
#include <string>

namespace rstar {

namespace {

constexpr float kUnscored = std::numeric_limits<float>::quiet_NaN();

[[noreturn]] void fail(const std::string& what) { throw std::invalid_argument(what); }

// UCT as the authors compute it, with virtual loss counted as visits that lost (-1 each).
// Kept in double and written in the same order as reference.ts so both pick the same
// child bit for bit.
inline double uct(int32_t n, float w, int32_t vl, double ln_parent, double c) {
  const int32_t visits = n + vl;
  if (visits == 0) return 0.0;
  const double q = (double(w) - double(vl)) / double(visits);
  return q + c * std::sqrt(ln_parent / double(visits));
}

}  // namespace

void Arena::Free::operator()(void* p) const { std::free(p); }

// Throws std::bad_alloc when calloc fails; the buffers taken so far are freed by buffers_.
template <typename T>
T* Arena::allocate(int64_t count) {
  void* p = std::calloc(size_t(count), sizeof(T));
  if (p == nullptr) throw std::bad_alloc();
  buffers_.emplace_back(p);  // reserved: cannot throw and leak p
  return static_cast<T*>(p);
}

// Slots refuses sizes past int32 node indices before anything is allocated.
Arena::Arena(int32_t trees, int32_t nodes_per_tree) : slots_(trees, nodes_per_tree) {
  const int64_t n = capacity();
  buffers_.reserve(kNodeFields);
#define RSTAR_ALLOCATE(type, name, js) name = allocate<type>(n);
  RSTAR_NODE_FIELDS(RSTAR_ALLOCATE)
#undef RSTAR_ALLOCATE
  tree_size = slots_.tree_size();
}

// Fresh nodes [first, first + count), one array at a time: plain streaming stores.
void Arena::init_nodes(int32_t first, int32_t count, int32_t parent_node, int32_t node_depth,
                       const uint8_t* kinds) {
  std::fill_n(parent + first, count, parent_node);
  std::fill_n(first_child + first, count, -1);
  std::fill_n(child_count + first, count, 0);
  std::fill_n(depth + first, count, node_depth);
  std::fill_n(visits + first, count, 0);
  std::fill_n(value_sum + first, count, 0.0f);
  std::fill_n(virtual_loss + first, count, 0);
  std::fill_n(ppm_value + first, count, kUnscored);
  std::fill_n(flags + first, count, uint8_t(0));
  std::copy_n(kinds, count, terminal + first);
}

int32_t Arena::acquire() {
  const int32_t tree = slots_.acquire();
  if (tree < 0) return -1;
  const uint8_t open = kNotTerminal;
  init_nodes(root(tree), 1, -1, 0, &open);
  return tree;
}

void Arena::release(int32_t tree) {
  const size_t n = size_t(slots_.release(tree));
  const int32_t begin = root(tree);
#define RSTAR_CLEAR(type, name, js) std::memset(name + begin, 0, n * sizeof(type));
  RSTAR_NODE_FIELDS(RSTAR_CLEAR)
#undef RSTAR_CLEAR
}

void Arena::select(std::span<const int32_t> starts, std::span<int32_t> leaves, SelectMode mode,
                   double c) {
  const NvtxRange range("rstar/cpu/select");
  if (leaves.size() < starts.size()) fail("select: leaves is shorter than starts");
  slots_.check_nodes(starts, "select");
  for (size_t i = 0; i < starts.size(); ++i) {
    const int32_t start = starts[i];
    int32_t node = start;
    int32_t result;
    for (;;) {
      const uint8_t f = flags[node];
      if (!(f & kExpanded)) {
        if (f & kPending) {
          result = kSelectBlocked;
        } else if (terminal[node] != kNotTerminal) {
          result = kSelectExhausted;
        } else {
          flags[node] = uint8_t(f | kPending);
          result = node;
        }
        break;
      }
      if (f & kExhausted) {
        result = kSelectExhausted;
        break;
      }
      const int32_t parent_visits = visits[node] + virtual_loss[node];
      const double ln_parent = parent_visits > 1 ? std::log(double(parent_visits)) : 0.0;
      const int32_t first = first_child[node];
      const int32_t end = first + child_count[node];
      int32_t best = -1;
      double best_score = -std::numeric_limits<double>::infinity();
      for (int32_t ch = first; ch < end; ++ch) {
        if (terminal[ch] != kNotTerminal || (flags[ch] & (kExhausted | kPending))) continue;
        if (mode == SelectMode::kClassic && visits[ch] + virtual_loss[ch] == 0) {
          best = ch;
          break;
        }
        const double score = uct(visits[ch], value_sum[ch], virtual_loss[ch], ln_parent, c);
        if (score > best_score) {
          best_score = score;
          best = ch;
        }
      }
      if (best < 0) {
        // Not exhausted (checked above), so every open child is pending.
        result = kSelectBlocked;
        break;
      }
      virtual_loss[best] += 1;
      node = best;
    }
    if (result < 0) {
      for (int32_t x = node; x != start; x = parent[x]) virtual_loss[x] -= 1;
    }
    leaves[i] = result;
  }
}

bool Arena::all_children_closed(int32_t node) const {
  const int32_t first = first_child[node];
  const int32_t end = first + child_count[node];
  for (int32_t ch = first; ch < end; ++ch) {
    if (terminal[ch] == kNotTerminal && !(flags[ch] & kExhausted)) return false;
  }
  return true;
}

void Arena::propagate_exhausted(int32_t node) {
  for (int32_t x = node; x >= 0; x = parent[x]) {
    if ((flags[x] & kExhausted) || !(flags[x] & kExpanded) || !all_children_closed(x)) return;
    flags[x] = uint8_t(flags[x] | kExhausted);
  }
}

void Arena::expand(std::span<const int32_t> leaves, std::span<const int32_t> counts,
                   std::span<const uint8_t> kinds, std::span<int32_t> first_child_out) {
  const NvtxRange range("rstar/cpu/expand");
  if (counts.size() < leaves.size() || first_child_out.size() < leaves.size())
    fail("expand: counts and first_child must have one entry per leaf");
  // Validate the whole batch first so that a bad call changes nothing.
  slots_.check_nodes(leaves, "expand");
  first_.resize(leaves.size());
  int64_t total = 0;
  const Slots::Finding placed =
      slots_.place(leaves.data(), counts.data(), leaves.size(), first_.data(), &total);
  Slots::Finding state;  // the node-state checks, up to the first other problem
  const size_t scan = placed.index < 0 ? leaves.size() : size_t(placed.index) + 1;
  for (size_t i = 0; i < scan && state.index < 0; ++i) {
    if (flags[leaves[i]] & kExpanded) state = {int64_t(i), Slots::Problem::kExpanded};
    else if (terminal[leaves[i]] != kNotTerminal) state = {int64_t(i), Slots::Problem::kTerminal};
  }
  slots_.fail_expand(Slots::first_of(placed, state), leaves.data());
  if (int64_t(kinds.size()) < total) fail("expand: kinds needs one entry per child (sum of counts)");
  if (const std::string bad = unknown_kind(kinds.first(size_t(total))); !bad.empty()) fail(bad);

  size_t k = 0;
  for (size_t i = 0; i < leaves.size(); ++i) {
    const int32_t leaf = leaves[i];
    init_nodes(first_[i], counts[i], leaf, depth[leaf] + 1, kinds.data() + k);
    k += size_t(counts[i]);
    first_child[leaf] = first_[i];
    child_count[leaf] = counts[i];
    flags[leaf] = uint8_t((flags[leaf] | kExpanded) & ~kPending);
    first_child_out[i] = first_[i];
  }
  slots_.commit(leaves.data(), counts.data(), leaves.size());
  for (int32_t leaf : leaves) propagate_exhausted(leaf);
}

void Arena::init_values(std::span<const int32_t> nodes, std::span<const float> values) {
  const NvtxRange range("rstar/cpu/init_values");
  if (values.size() < nodes.size()) fail("init_values: values is shorter than nodes");
  slots_.check_nodes(nodes, "init_values");
  for (size_t i = 0; i < nodes.size(); ++i) {
    const int32_t node = nodes[i];
    visits[node] += 1;
    value_sum[node] += values[i];
    ppm_value[node] = values[i];
  }
}

void Arena::backup(std::span<const int32_t> nodes, std::span<const float> values) {
  const NvtxRange range("rstar/cpu/backup");
  if (values.size() < nodes.size()) fail("backup: values is shorter than nodes");
  slots_.check_nodes(nodes, "backup");
  // Siblings that follow each other in the batch (the answers of one expansion) share
  // their ancestors: walk those once, adding the siblings' values in batch order, which
  // gives every node the same sequence of additions as one walk per node would.
  const auto leaf_only = [&](int32_t node) {
    return terminal[node] != kNotTerminal && terminal[node] != kAnswer;
  };
  size_t i = 0;
  while (i < nodes.size()) {
    const int32_t p = parent[nodes[i]];
    run_.clear();
    size_t j = i;
    for (; j < nodes.size(); ++j) {
      const int32_t node = nodes[j];
      const bool alone = leaf_only(node);  // a terminal has no descendants: order is free
      if (!alone && parent[node] != p) break;
      visits[node] += 1;
      value_sum[node] += values[j];
      if (!alone) run_.push_back(values[j]);
    }
    for (int32_t x = p; x >= 0 && !run_.empty(); x = parent[x]) {
      visits[x] += int32_t(run_.size());
      for (float v : run_) value_sum[x] += v;
    }
    i = j;
  }
}

float ppm_score(const float* h, const float* w, size_t hidden, float bias) {
  float lane[8] = {};
  size_t i = 0;
  for (; i + 8 <= hidden; i += 8)
    for (size_t k = 0; k < 8; ++k) lane[k] += h[i + k] * w[i + k];
  for (size_t k = 0; i < hidden; ++i, ++k) lane[k] += h[i] * w[i];
  const float dot = ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
  // tanh in double, rounded once to float: the GPU's tanh and the C library's may differ
  // in the last bit of a float, but almost never after this rounding, so both paths store
  // the same score.
  return float(std::tanh(double((dot + bias) / 5.0f)));
}

void Arena::score_fused(std::span<const int32_t> nodes, std::span<const float> hidden,
                        std::span<const float> weight, float bias, std::span<float> scores) {
  const NvtxRange range("rstar/cpu/score_fused");
  const size_t h = weight.size();
  if (h == 0) fail("score_fused: the head's weight is empty");
  if (hidden.size() != nodes.size() * h)
    fail("score_fused: hidden must hold one row of " + std::to_string(h) + " floats per node");
  if (!scores.empty() && scores.size() < nodes.size()) fail("score_fused: scores is shorter than nodes");
  slots_.check_nodes(nodes, "score_fused");
  if (scores.empty()) {
    scores_.resize(nodes.size());
    scores = scores_;
  }
  for (size_t i = 0; i < nodes.size(); ++i) scores[i] = ppm_score(hidden.data() + i * h, weight.data(), h, bias);
  for (size_t i = 0; i < nodes.size(); ++i) {
    const std::span<const int32_t> node(&nodes[i], 1);
    const std::span<const float> value(&scores[i], 1);
    if (terminal[nodes[i]] == kNotTerminal) {
      init_values(node, value);
    } else {
      ppm_value[nodes[i]] = scores[i];
      backup(node, value);
    }
  }
}

void Arena::read_flags(std::span<const int32_t> nodes, std::span<uint8_t> out) const {
  if (out.size() < nodes.size()) throw std::invalid_argument("read_flags: flags is shorter than nodes");
  slots_.check_nodes(nodes, "read_flags");
  for (size_t i = 0; i < nodes.size(); ++i) out[i] = flags[nodes[i]];
}

void Arena::unwind(std::span<const int32_t> nodes) {
  const NvtxRange range("rstar/cpu/unwind");
  slots_.check_nodes(nodes, "unwind");
  for (int32_t node : nodes) {
    for (int32_t x = node; parent[x] >= 0; x = parent[x]) {
      if (virtual_loss[x] <= 0)
        throw std::logic_error("unwind: node " + std::to_string(x) + " holds no virtual loss");
      virtual_loss[x] -= 1;
    }
  }
}

}  // namespace rstar
