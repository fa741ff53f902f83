// GPU parity: random operation sequences (acquire, release, select with virtual loss from
// roots and from rollouts in flight, expand with terminal kinds, fused scoring, first
// values, backup, unwind, and bad batches) applied to the CPU arena and the GPU arena,
// demanding the same results, the same errors and the same trees after every step.
//
//   gpu_parity_test [--seeds N]   CPU vs GPU; exits 77 ("skipped") without a usable device
//   gpu_parity_test --quick       3 seeds and small wide batches (for compute-sanitizer)
//   gpu_parity_test --cpu-twin    CPU vs a second CPU arena: checks this harness anywhere
//
// Counts and structure must match exactly. Floats are compared bit for bit, and a
// difference within 1e-5 (relative) is counted and reported rather than failed: the one
// known source is tanh's last bit before rounding to float (see ppm_score).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <map>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <typeinfo>
#include <vector>

#include "rstar/arena.hpp"
#include "rstar/gpu_arena.hpp"

#if RSTAR_PARITY_CUDA
#include <cuda_runtime.h>
#endif

namespace {

using rstar::Arena;
using rstar::GpuArena;

constexpr int kSkip = 77;  // ctest's SKIP_RETURN_CODE

struct Tally {
  long ops = 0;
  long checks = 0;
  long float_near = 0;  // equal within tolerance, not bit for bit
  long failures = 0;
  std::string first_failure;
  std::map<std::string, long> refusals;  // errors both engines raised, by message shape
  long selected[3] = {};                  // leaves, exhausted, blocked
};
Tally tally;

void fail(const std::string& what) {
  if (tally.failures++ == 0) tally.first_failure = what;
  if (tally.failures <= 20) std::fprintf(stderr, "MISMATCH: %s\n", what.c_str());
}

void same_float(float a, float b, const std::string& where) {
  ++tally.checks;
  if ((std::isnan(a) && std::isnan(b)) || std::memcmp(&a, &b, sizeof a) == 0) return;
  const float scale = std::max(1.0f, std::max(std::fabs(a), std::fabs(b)));
  if (std::fabs(a - b) <= 1e-5f * scale) {
    ++tally.float_near;
    return;
  }
  fail(where + ": " + std::to_string(a) + " vs " + std::to_string(b));
}

template <typename T>
void same(T a, T b, const std::string& where) {
  ++tally.checks;
  if (a != b) fail(where + ": " + std::to_string(a) + " vs " + std::to_string(b));
}

// Runs an operation on both engines: both must succeed, or both must throw the same
// exception type with the same message.
template <typename F, typename G>
bool both(const char* op, F f_cpu, G f_other) {
  std::string e_cpu, e_other;
  try {
    f_cpu();
  } catch (const std::exception& e) {
    e_cpu = std::string(typeid(e).name()) + ": " + e.what();
  }
  try {
    f_other();
  } catch (const std::exception& e) {
    e_other = std::string(typeid(e).name()) + ": " + e.what();
  }
  ++tally.checks;
  if (e_cpu != e_other) fail(std::string(op) + ": CPU [" + e_cpu + "] vs other [" + e_other + "]");
  if (!e_cpu.empty()) {
    std::string shape;
    for (char ch : e_cpu.substr(e_cpu.find(": ") + 2)) {
      const bool digit = (ch >= '0' && ch <= '9') || ch == '-';
      if (!digit) shape += ch;
      else if (shape.empty() || shape.back() != '#') shape += '#';
    }
    ++tally.refusals[shape];
  }
  return e_cpu.empty();
}

void refresh(Arena&, const std::vector<int32_t>&) {}
void refresh(GpuArena& g, const std::vector<int32_t>& trees) { g.download(trees); }
void wait(Arena&) {}
void wait(GpuArena& g) { g.synchronize(); }

// The fused step with host hidden states, or (GPU, on_device) from device memory.
void fused(Arena& a, const std::vector<int32_t>& nodes, const std::vector<float>& hidden,
           const std::vector<float>& weight, float bias, std::vector<float>& scores, bool) {
  a.score_fused(nodes, hidden, weight, bias, scores);
}
void fused(GpuArena& g, const std::vector<int32_t>& nodes, const std::vector<float>& hidden,
           const std::vector<float>& weight, float bias, std::vector<float>& scores, bool on_device) {
#if RSTAR_PARITY_CUDA
  if (on_device) {
    float* device = nullptr;
    const auto ok = [](cudaError_t e, const char* what) {
      if (e != cudaSuccess) throw std::runtime_error(std::string(what) + ": " + cudaGetErrorString(e));
    };
    ok(cudaMalloc(&device, std::max<size_t>(hidden.size(), 1) * sizeof(float)), "cudaMalloc");
    ok(cudaMemcpy(device, hidden.data(), hidden.size() * sizeof(float), cudaMemcpyHostToDevice), "cudaMemcpy");
    ok(cudaDeviceSynchronize(), "cudaDeviceSynchronize");  // the arena's stream does not wait for it
    g.score_fused_device(nodes, device, weight, bias, scores);  // scores wanted: it waits
    ok(cudaFree(device), "cudaFree");
    return;
  }
#endif
  (void)on_device;
  g.score_fused(nodes, hidden, weight, bias, scores);
}

// A node without virtual loss: the CPU raises at once, the GPU at the next call that waits,
// with the same message, and only once.
template <typename B>
void unwind_error(B& b) {
  Arena a(1, 8);
  same(a.acquire(), b.acquire(), "unwind_error acquire");
  int32_t root = 0, leaf_a = -9, leaf_b = -9, count = 2, first_a = 0, first_b = 0;
  const uint8_t kinds[2] = {rstar::kNotTerminal, rstar::kNotTerminal};
  a.select({&root, 1}, {&leaf_a, 1}, rstar::SelectMode::kRstar, 2.0);
  b.select({&root, 1}, {&leaf_b, 1}, rstar::SelectMode::kRstar, 2.0);
  a.expand({&root, 1}, {&count, 1}, kinds, {&first_a, 1});
  b.expand({&root, 1}, {&count, 1}, kinds, {&first_b, 1});
  const int32_t child = first_a;  // no rollout entered it
  both("unwind without virtual loss", [&] { a.unwind({&child, 1}); }, [&] {
    b.unwind({&child, 1});
    wait(b);
  });
  both("the next wait after it", [] {}, [&] { wait(b); });
}

template <typename B>
void compare_trees(const Arena& a, B& b, const std::vector<int32_t>& trees, const std::string& when) {
  refresh(b, trees);
  for (int32_t t : trees) {
    same(a.tree_size[t], b.tree_size[t], when + " tree_size[" + std::to_string(t) + "]");
    for (int32_t x = a.root(t); x < a.root(t) + a.tree_size[t]; ++x) {
      const std::string at = when + " node " + std::to_string(x) + " ";
      same(a.parent[x], b.parent[x], at + "parent");
      same(a.first_child[x], b.first_child[x], at + "first_child");
      same(a.child_count[x], b.child_count[x], at + "child_count");
      same(a.depth[x], b.depth[x], at + "depth");
      same(a.visits[x], b.visits[x], at + "visits");
      same(a.virtual_loss[x], b.virtual_loss[x], at + "virtual_loss");
      same(int(a.flags[x]), int(b.flags[x]), at + "flags");
      same(int(a.terminal[x]), int(b.terminal[x]), at + "terminal");
      same_float(a.value_sum[x], b.value_sum[x], at + "value_sum");
      same_float(a.ppm_value[x], b.ppm_value[x], at + "ppm_value");
    }
  }
}

struct Rollout {
  int32_t tree;
  int32_t node;  // where it stands: virtual loss on the path from the root to here
};

template <typename B>
class Sequence {
 public:
  Sequence(uint32_t seed, int32_t trees, int32_t nodes_per_tree, B& b)
      : rng_(seed), a_(trees, nodes_per_tree), b_(b), seed_(seed) {}

  void run(int steps) {
    for (int i = 0; i < 4; ++i) acquire();
    for (step_ = 0; step_ < steps && tally.failures == 0; ++step_) {
      const int op = pick(100);
      if (op < 4) acquire();
      else if (op < 7) release();
      else if (op < 40) select();
      else if (op < 62) expand();
      else if (op < 72) score_fused();
      else if (op < 77) init_values();
      else if (op < 87) backup();
      else if (op < 95) unwind();
      else bad_batch();
      ++tally.ops;
      compare_trees(a_, b_, in_use_, where());
    }
    // Released trees come back clean.
    for (int32_t t : std::vector<int32_t>(in_use_)) release_tree(t);
    for (int i = 0; i < 3; ++i) acquire();
    compare_trees(a_, b_, in_use_, where() + " after release");
  }

 private:
  std::mt19937 rng_;
  Arena a_;
  B& b_;
  uint32_t seed_;
  int step_ = 0;
  std::vector<int32_t> in_use_;
  std::vector<Rollout> rollouts_;
  std::vector<int32_t> pending_;  // selected leaves awaiting expansion
  std::vector<int32_t> fresh_;    // children not yet scored

  std::string where() const { return "seed " + std::to_string(seed_) + " step " + std::to_string(step_); }
  int pick(int n) { return int(rng_() % uint32_t(n)); }
  float uniform(float lo, float hi) { return std::uniform_real_distribution<float>(lo, hi)(rng_); }
  int32_t tree_of(int32_t node) const { return node / a_.nodes_per_tree(); }
  int32_t any_node() {
    const int32_t t = in_use_[size_t(pick(int(in_use_.size())))];
    return a_.root(t) + pick(a_.tree_size[t]);
  }

  void acquire() {
    const int32_t ta = a_.acquire();
    const int32_t tb = b_.acquire();
    same(ta, tb, where() + " acquire");
    if (ta >= 0) in_use_.push_back(ta);
  }

  void release_tree(int32_t t) {
    both("release", [&] { a_.release(t); }, [&] { b_.release(t); });
    std::erase(in_use_, t);
    std::erase_if(rollouts_, [&](const Rollout& r) { return r.tree == t; });
    std::erase_if(pending_, [&](int32_t x) { return tree_of(x) == t; });
    std::erase_if(fresh_, [&](int32_t x) { return tree_of(x) == t; });
  }

  void release() {
    if (!in_use_.empty()) release_tree(in_use_[size_t(pick(int(in_use_.size())))]);
  }

  void select() {
    if (in_use_.empty()) return;
    // New rollouts from roots (often several per tree) and rollouts going on below a
    // node they expanded, in a shuffled batch.
    std::vector<size_t> batch;
    const int fresh = 1 + pick(12);
    for (int i = 0; i < fresh; ++i) {
      const int32_t t = in_use_[size_t(pick(int(in_use_.size())))];
      rollouts_.push_back({t, a_.root(t)});
      batch.push_back(rollouts_.size() - 1);
    }
    for (size_t r = 0; r + fresh < rollouts_.size(); ++r)
      if ((a_.flags[rollouts_[r].node] & rstar::kExpanded) && pick(2) == 0) batch.push_back(r);
    std::shuffle(batch.begin(), batch.end(), rng_);
    std::vector<int32_t> starts, leaves_a(batch.size()), leaves_b(batch.size());
    for (size_t r : batch) starts.push_back(rollouts_[r].node);
    const auto mode = pick(4) == 0 ? rstar::SelectMode::kClassic : rstar::SelectMode::kRstar;
    const double c = std::vector<double>{0.0, 0.5, 1.41421356, 2.0}[size_t(pick(4))];
    if (!both("select", [&] { a_.select(starts, leaves_a, mode, c); },
              [&] { b_.select(starts, leaves_b, mode, c); }))
      return;
    for (size_t i = 0; i < batch.size(); ++i) {
      same(leaves_a[i], leaves_b[i], where() + " select leaf " + std::to_string(i));
      ++tally.selected[leaves_a[i] >= 0 ? 0 : -leaves_a[i]];
    }
    // A rollout whose select ended (exhausted or blocked) gives its virtual loss back.
    std::vector<int32_t> ended;
    std::vector<bool> drop(rollouts_.size(), false);
    for (size_t i = 0; i < batch.size(); ++i) {
      Rollout& r = rollouts_[batch[i]];
      if (leaves_a[i] >= 0) {
        r.node = leaves_a[i];
        pending_.push_back(leaves_a[i]);
      } else {
        ended.push_back(r.node);
        drop[batch[i]] = true;
      }
    }
    size_t k = 0;
    std::erase_if(rollouts_, [&](const Rollout&) { return drop[k++]; });
    if (ended.empty()) return;
    both("unwind", [&] { a_.unwind(ended); }, [&] { b_.unwind(ended); });
    // What the scheduler reads next: whether those rollouts' roots are exhausted.
    std::vector<int32_t> roots;
    for (int32_t x : ended) roots.push_back(a_.root(tree_of(x)));
    std::vector<uint8_t> flags_a(roots.size()), flags_b(roots.size());
    if (!both("read_flags", [&] { a_.read_flags(roots, flags_a); }, [&] { b_.read_flags(roots, flags_b); })) return;
    for (size_t i = 0; i < roots.size(); ++i) same(int(flags_a[i]), int(flags_b[i]), where() + " read_flags " + std::to_string(i));
  }

  uint8_t kind() {
    const int p = pick(100);
    if (p < 60) return rstar::kNotTerminal;
    if (p < 75) return rstar::kAnswer;
    if (p < 85) return rstar::kCodeErrors;
    if (p < 95) return rstar::kTooDeep;
    return rstar::kInvalid;
  }

  void expand() {
    std::shuffle(pending_.begin(), pending_.end(), rng_);
    const size_t n = std::min(pending_.size(), size_t(1 + pick(10)));
    std::vector<int32_t> leaves(pending_.begin(), pending_.begin() + long(n)), counts, first_a(n), first_b(n);
    std::vector<uint8_t> kinds;
    for (size_t i = 0; i < n; ++i) {
      counts.push_back(pick(8) == 0 ? 0 : 1 + pick(6));
      for (int j = 0; j < counts.back(); ++j) kinds.push_back(kind());
    }
    if (!both("expand", [&] { a_.expand(leaves, counts, kinds, first_a); },
              [&] { b_.expand(leaves, counts, kinds, first_b); })) {
      // A tree was full: nothing changed. Forget one leaf so full trees do not clog the list.
      if (n > 0) pending_.erase(pending_.begin());
      return;
    }
    pending_.erase(pending_.begin(), pending_.begin() + long(n));
    for (size_t i = 0; i < n; ++i) {
      same(first_a[i], first_b[i], where() + " expand first " + std::to_string(i));
      for (int j = 0; j < counts[i]; ++j) fresh_.push_back(first_a[i] + j);
    }
  }

  void score_fused() {
    std::shuffle(fresh_.begin(), fresh_.end(), rng_);
    const size_t n = std::min(fresh_.size(), size_t(1 + pick(40)));
    std::vector<int32_t> nodes(fresh_.begin(), fresh_.begin() + long(n));
    fresh_.erase(fresh_.begin(), fresh_.begin() + long(n));
    const size_t h = size_t(1 + pick(70));
    std::vector<float> hidden(n * h), weight(h), sa(n), sb(n);
    for (float& x : hidden) x = uniform(-3, 3);
    for (float& x : weight) x = uniform(-1, 1);
    const float bias = uniform(-1, 1);
    if (!both("score_fused", [&] { a_.score_fused(nodes, hidden, weight, bias, sa); },
              [&] { b_.score_fused(nodes, hidden, weight, bias, sb); }))
      return;
    for (size_t i = 0; i < n; ++i) same_float(sa[i], sb[i], where() + " score " + std::to_string(i));
  }

  void init_values() {
    if (in_use_.empty()) return;
    std::vector<int32_t> nodes;
    std::vector<float> values;
    for (int i = 0, n = 1 + pick(20); i < n; ++i) {
      nodes.push_back(any_node());  // duplicates too: sums in batch order on both
      values.push_back(uniform(-1, 1));
    }
    both("init_values", [&] { a_.init_values(nodes, values); },
         [&] { b_.init_values(nodes, values); });
  }

  void backup() {
    if (in_use_.empty()) return;
    std::vector<int32_t> nodes;
    std::vector<float> values;
    // Runs of siblings (the CPU walks their ancestors once) and scattered nodes.
    for (int i = 0, n = 1 + pick(30); i < n; ++i) {
      const int32_t x = any_node();
      const int32_t p = a_.parent[x];
      if (p >= 0 && pick(2) == 0) {
        for (int32_t ch = a_.first_child[p]; ch < a_.first_child[p] + a_.child_count[p]; ++ch) {
          nodes.push_back(ch);
          values.push_back(uniform(-1, 1));
        }
      } else {
        nodes.push_back(x);
        values.push_back(pick(3) == 0 ? 1.0f : uniform(-1, 1));
      }
    }
    both("backup", [&] { a_.backup(nodes, values); },
         [&] { b_.backup(nodes, values); });
  }

  void unwind() {
    std::vector<int32_t> nodes;
    std::vector<bool> drop(rollouts_.size(), false);
    for (size_t r = 0; r < rollouts_.size(); ++r) {
      if (pick(3) == 0) {
        nodes.push_back(rollouts_[r].node);
        drop[r] = true;
      }
    }
    size_t k = 0;
    std::erase_if(rollouts_, [&](const Rollout&) { return drop[k++]; });
    both("unwind", [&] { a_.unwind(nodes); }, [&] { b_.unwind(nodes); });
  }

  // Bad input must be refused with the same message, changing nothing.
  void bad_batch() {
    if (in_use_.empty()) return;
    std::vector<int32_t> leaves, counts, first(4);
    std::vector<uint8_t> kinds(16, 0);
    switch (pick(7)) {
      case 0: leaves = {any_node(), -5}; break;                        // out of range
      case 1: leaves = {any_node(), int32_t(a_.capacity()) - 1}; break;  // maybe not allocated
      case 2: {                                                        // listed twice
        const int32_t x = pending_.empty() ? any_node() : pending_.front();
        leaves = {x, x};
        break;
      }
      case 3: leaves = {any_node(), any_node()}; break;  // often expanded or terminal
      case 4:
        if (pending_.empty()) return;
        leaves = {pending_.front()};
        counts = {-1};
        break;
      case 5:
        if (pending_.empty()) return;
        leaves = {pending_.front()};
        counts = {3};
        kinds = {0, 9, 0};  // unknown kind
        break;
      case 6:
        if (pending_.empty()) return;
        leaves = {pending_.front()};
        counts = {3};
        kinds = {0};  // too few kinds
        break;
    }
    counts.resize(leaves.size(), 2);
    std::vector<int32_t> first_b(first);
    const bool ok = both("bad expand", [&] { a_.expand(leaves, counts, kinds, first); },
                         [&] { b_.expand(leaves, counts, kinds, first_b); });
    if (ok) {  // it was not bad after all (two fresh pending leaves): keep the books
      for (int32_t leaf : leaves) std::erase(pending_, leaf);
      for (size_t i = 0; i < leaves.size(); ++i)
        for (int j = 0; j < counts[i]; ++j) fresh_.push_back(first[i] + j);
    }
  }
};

// Many trees, one start each (the kernels' identity path) and a few per tree (grouped),
// as in a real batched search.
template <typename B>
void wide(B& b, int32_t trees, int rounds) {
  Arena a(trees, 1 + rounds * 8);
  std::vector<int32_t> all;
  for (int32_t t = 0; t < trees; ++t) {
    same(a.acquire(), b.acquire(), "wide acquire");
    all.push_back(t);
  }
  std::mt19937 rng(7);
  for (int round = 0; round < rounds && tally.failures == 0; ++round) {
    const int per_tree = round % 3 == 2 ? 3 : 1;
    std::vector<int32_t> starts;
    for (int32_t t = 0; t < trees; ++t)
      for (int k = 0; k < per_tree; ++k) starts.push_back(a.root(t));
    std::vector<int32_t> la(starts.size()), lb(starts.size());
    a.select(starts, la, rstar::SelectMode::kRstar, 2.0);
    b.select(starts, lb, rstar::SelectMode::kRstar, 2.0);
    std::vector<int32_t> leaves, counts;
    std::vector<uint8_t> kinds;
    for (size_t i = 0; i < la.size(); ++i) {
      same(la[i], lb[i], "wide select " + std::to_string(i));
      if (la[i] < 0) continue;
      leaves.push_back(la[i]);
      counts.push_back(4);
      for (int j = 0; j < 4; ++j) kinds.push_back(uint8_t(rng() % 7 < 5 ? 0 : 1 + rng() % 4));
    }
    std::vector<int32_t> fa(leaves.size()), fb(leaves.size());
    a.expand(leaves, counts, kinds, fa);
    b.expand(leaves, counts, kinds, fb);
    std::vector<int32_t> children;
    for (size_t i = 0; i < fa.size(); ++i) {
      same(fa[i], fb[i], "wide first");
      for (int j = 0; j < 4; ++j) children.push_back(fa[i] + j);
    }
    const size_t h = 96;
    std::vector<float> hidden(children.size() * h), weight(h), sa(children.size()), sb(children.size());
    std::uniform_real_distribution<float> u(-2, 2);
    for (float& x : hidden) x = u(rng);
    for (float& x : weight) x = u(rng);
    a.score_fused(children, hidden, weight, 0.1f, sa);
    fused(b, children, hidden, weight, 0.1f, sb, round % 2 == 1);
    for (size_t i = 0; i < sa.size(); ++i) same_float(sa[i], sb[i], "wide score " + std::to_string(i));
    std::vector<float> values;
    for (size_t i = 0; i < leaves.size(); ++i) values.push_back(u(rng) / 2);
    a.backup(leaves, values);
    b.backup(leaves, values);
    a.unwind(leaves);
    b.unwind(leaves);
    compare_trees(a, b, all, "wide " + std::to_string(trees) + " round " + std::to_string(round));
  }
}

}  // namespace

int main(int argc, char** argv) {
  bool cpu_twin = false;
  int seeds = 60;
  std::vector<int32_t> wide_trees{1, 1000, 5000};
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--cpu-twin") cpu_twin = true;
    else if (arg == "--seeds" && i + 1 < argc) seeds = std::atoi(argv[++i]);
    else if (arg == "--quick") {
      seeds = 3;
      wide_trees = {1, 100};
    }
    else {
      std::fprintf(stderr, "usage: gpu_parity_test [--cpu-twin] [--seeds N] [--quick]\n");
      return 2;
    }
  }
  const auto run_all = [&](auto make) {
    for (int s = 1; s <= seeds && tally.failures == 0; ++s) {
      auto b = make(48, 256);
      Sequence<std::remove_reference_t<decltype(*b)>>(uint32_t(s), 48, 256, *b).run(300);
    }
    for (int32_t trees : wide_trees) {
      if (tally.failures) break;
      auto b = make(trees, 1 + 12 * 8);
      wide(*b, trees, 12);
    }
    auto b = make(1, 8);
    unwind_error(*b);
  };
  std::string device;
  if (cpu_twin) {
    device = "a second CPU arena (harness check)";
    run_all([](int32_t t, int32_t n) { return std::make_unique<Arena>(t, n); });
  } else {
    const rstar::CudaStatus status = rstar::cuda_status();
    if (!status.usable) {
      std::printf("skipped: no CUDA device (%s)\n", status.reason.c_str());
      return kSkip;
    }
    device = status.device;
    try {
      run_all([](int32_t t, int32_t n) { return std::make_unique<GpuArena>(t, n); });
    } catch (const std::exception& e) {
      fail(std::string("uncaught: ") + e.what());
    }
  }
  std::printf("gpu_parity_test vs %s: %ld operations, %ld checks, %ld floats equal only within 1e-5, %ld mismatches\n",
              device.c_str(), tally.ops, tally.checks, tally.float_near, tally.failures);
  std::printf("  selects: %ld leaves, %ld exhausted, %ld blocked\n", tally.selected[0], tally.selected[1], tally.selected[2]);
  for (const auto& [shape, count] : tally.refusals) std::printf("  refused alike %6ld x  %s\n", count, shape.c_str());
  if (tally.failures) {
    std::printf("FAILED: first mismatch: %s\n", tally.first_failure.c_str());
    return 1;
  }
  std::printf("PASSED\n");
  return 0;
}
