// Tests of the CPU tree arena, runnable anywhere (ctest). The property-based comparison
// with the TypeScript reference lives in test/oracle.test.ts.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <stdexcept>
#include <string>
#include <vector>

#include "check.hpp"
#include "rstar/arena.hpp"
#include "rstar/slots.hpp"

namespace {

template <typename E>
bool throws(const std::function<void()>& f) {
  try {
    f();
  } catch (const E&) {
    return true;
  }
  return false;
}

using rstar::Arena;
using rstar::SelectMode;

int32_t select1(Arena& a, int32_t start, SelectMode mode = SelectMode::kRstar) {
  int32_t leaf = 0;
  a.select({&start, 1}, {&leaf, 1}, mode, 2.0);
  return leaf;
}

int32_t expand1(Arena& a, int32_t leaf, std::vector<uint8_t> kinds) {
  int32_t count = int32_t(kinds.size());
  int32_t first = 0;
  a.expand({&leaf, 1}, {&count, 1}, kinds, {&first, 1});
  return first;
}

void backup1(Arena& a, int32_t node, float v) { a.backup({&node, 1}, {&v, 1}); }

// tree_of() multiplies instead of dividing: it must equal node / nodes_per_tree for every
// node index, so check tree boundaries and pseudo-random nodes over the whole int32 range.
void test_tree_of() {
  const int32_t max = 2147483647;
  for (const int32_t d : {1, 2, 3, 7, 8, 193, 1000, 4096, 65535, 65537, 1048577, 1 << 30, max - 1, max}) {
    const rstar::Slots slots(std::min(max / d, 1024), d);  // tree_of() does not look at the tree count
    int wrong = 0;
    const auto same = [&](int64_t node) {
      if (node < 0 || node > max) return;
      if (slots.tree_of(int32_t(node)) != int32_t(node / d)) ++wrong;
    };
    for (const int64_t node : {int64_t(0), int64_t(1), int64_t(max)}) same(node);
    const int64_t step = std::max<int64_t>(1, (int64_t(max) / d) / 4096);
    for (int64_t t = 0; t * d <= max; t += step) {
      same(t * d - 1);
      same(t * d);
      same(t * d + d - 1);
    }
    uint32_t x = 12345;
    for (int i = 0; i < 200000; ++i) {
      x = x * 1664525u + 1013904223u;
      same(int64_t(x >> 1));
    }
    CHECK(wrong == 0);
  }
}

std::string message(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "";
}

// Every batch is checked before anything changes: the first node outside the acquired
// trees' nodes is named, as out of range or not allocated (a released tree's root, a
// slot past its tree's size).
void test_node_checks() {
  Arena a(3, 8);
  a.acquire();
  a.acquire();
  a.release(1);
  const int32_t first = expand1(a, a.root(0), {0, 0});
  std::vector<int32_t> leaves(4, 0);
  const auto select = [&](std::vector<int32_t> starts) {
    return message([&] { a.select(starts, leaves, SelectMode::kRstar, 2.0); });
  };
  CHECK(select({a.root(0), -1}) == "select: node -1 is out of range");
  CHECK(select({24}) == "select: node 24 is out of range");
  CHECK(select({a.root(0), a.root(1), -1}) == "select: node 8 is not allocated");
  CHECK(select({first + 2, a.root(1)}) == "select: node 3 is not allocated");
  CHECK(select({a.root(2)}) == "select: node 16 is not allocated");  // never acquired
  CHECK(a.flags[first + 1] == 0 && a.virtual_loss[first] == 0);  // refused batches change nothing
  CHECK(select({a.root(0), first + 1}).empty());
  CHECK(a.flags[first + 1] != 0);
  const float v = 0.5f;
  const int32_t bad = a.root(1);
  CHECK(message([&] { a.backup({&bad, 1}, {&v, 1}); }) == "backup: node 8 is not allocated");
}

void test_acquire_release() {
  Arena a(3, 8);
  CHECK(a.acquire() == 0);
  CHECK(a.acquire() == 1);
  CHECK(a.acquire() == 2);
  CHECK(a.acquire() == -1);
  a.release(1);
  CHECK(a.tree_size[1] == 0);
  CHECK(a.acquire() == 1);
  CHECK(a.tree_size[1] == 1);
  CHECK(a.parent[a.root(1)] == -1);
  CHECK(std::isnan(a.ppm_value[a.root(1)]));
  CHECK(throws<std::invalid_argument>([&] { a.release(7); }));
}

void test_select_expand_virtual_loss() {
  Arena a(2, 64);
  const int32_t t = a.acquire();
  const int32_t root = a.root(t);
  CHECK(select1(a, root) == root);  // unexpanded root: expand it
  CHECK(a.flags[root] & rstar::kPending);
  CHECK(select1(a, root) == rstar::kSelectBlocked);
  const int32_t first = expand1(a, root, {0, rstar::kAnswer, 0});
  CHECK(first == root + 1);
  CHECK(a.tree_size[t] == 4);
  CHECK(!(a.flags[root] & rstar::kPending));
  CHECK(a.depth[first] == 1 && a.parent[first + 2] == root);
  // All unvisited: the authors' UCT scores them 0 and takes the first open child.
  CHECK(select1(a, root) == first);
  CHECK(a.virtual_loss[first] == 1);
  // The first is pending now, the second is terminal: the third.
  CHECK(select1(a, root) == first + 2);
  CHECK(select1(a, root) == rstar::kSelectBlocked);
  CHECK(a.virtual_loss[first] == 1 && a.virtual_loss[first + 2] == 1);
  CHECK(a.virtual_loss[root] == 0);  // the root is never entered
  int32_t ends[2] = {first, first + 2};
  a.unwind(ends);
  CHECK(a.virtual_loss[first] == 0 && a.virtual_loss[first + 2] == 0);
  CHECK(throws<std::logic_error>([&] { a.unwind({ends, 1}); }));
}

void test_batch_spreads_rollouts() {
  Arena a(1, 64);
  const int32_t root = a.root(a.acquire());
  CHECK(select1(a, root) == root);
  const int32_t first = expand1(a, root, {0, 0, 0, 0});
  int32_t starts[3] = {root, root, root};
  int32_t leaves[3];
  a.select(starts, leaves, SelectMode::kRstar, 2.0);
  CHECK(leaves[0] == first && leaves[1] == first + 1 && leaves[2] == first + 2);
}

void test_backup_kinds() {
  Arena a(1, 64);
  const int32_t root = a.root(a.acquire());
  select1(a, root);
  const int32_t c = expand1(a, root, {0, 0});
  CHECK(select1(a, root) == c);
  const int32_t g = expand1(a, c, {rstar::kAnswer, rstar::kCodeErrors, 0});
  backup1(a, g, 1.0f);  // a graded answer: up to the root
  CHECK(a.visits[g] == 1 && a.visits[c] == 1 && a.visits[root] == 1);
  CHECK(a.value_sum[root] == 1.0f);
  backup1(a, g + 1, -1.0f);  // an invalid end: itself only
  CHECK(a.visits[g + 1] == 1 && a.value_sum[g + 1] == -1.0f);
  CHECK(a.visits[c] == 1 && a.value_sum[c] == 1.0f);
}

void test_modes_and_ppm_values() {
  Arena a(1, 64);
  const int32_t root = a.root(a.acquire());
  select1(a, root);
  const int32_t c = expand1(a, root, {0, 0, 0});
  int32_t nodes[2] = {c, c + 1};
  float values[2] = {-0.5f, 0.25f};
  a.init_values(nodes, values);
  CHECK(a.visits[c] == 1 && a.ppm_value[c + 1] == 0.25f);
  // rstar: Q = 0.25 beats the unvisited child's 0 and -0.5.
  CHECK(select1(a, root) == c + 1);
  a.unwind({&nodes[1], 1});
  a.flags[c + 1] &= uint8_t(~rstar::kPending);
  // classic: the unvisited child first.
  CHECK(select1(a, root, SelectMode::kClassic) == c + 2);
}

void test_exhaustion() {
  Arena a(1, 64);
  const int32_t root = a.root(a.acquire());
  select1(a, root);
  const int32_t c = expand1(a, root, {0, rstar::kTooDeep});
  CHECK(select1(a, root) == c);
  expand1(a, c, {rstar::kAnswer, rstar::kInvalid});
  CHECK(a.flags[c] & rstar::kExhausted);
  CHECK(a.flags[root] & rstar::kExhausted);  // its children: exhausted + terminal
  CHECK(select1(a, root) == rstar::kSelectExhausted);
  CHECK(select1(a, c) == rstar::kSelectExhausted);
  const int32_t tree = 0;
  a.release(tree);
  CHECK(a.acquire() == 0);
  CHECK(!(a.flags[a.root(0)] & rstar::kExhausted));
  CHECK(select1(a, root) == root);
  const int32_t none = expand1(a, root, {});  // nothing generated: nothing to explore
  CHECK(none == root + 1 && (a.flags[root] & rstar::kExhausted));
}

// The sizes TypeScript checks an arena against before asking for one (issue 15).
void test_sizes() {
  static_assert(rstar::kNodeBytes == 8 * 4 + 2);
  CHECK(Arena::bytes(64, 3073) == int64_t(64) * 3073 * 34 + 64 * 4);
  CHECK(Arena::bytes(64, 1000000000) == int64_t(64) * 1000000000 * 34 + 64 * 4);  // no int32 overflow
  CHECK(throws<std::invalid_argument>([] { Arena a(64, 1000000000); }));        // past int32 node indices
  CHECK(throws<std::invalid_argument>([] { Arena a(0, 8); }));
}

void test_expand_errors_change_nothing() {
  Arena a(2, 4);
  const int32_t r0 = a.root(a.acquire());
  const int32_t r1 = a.root(a.acquire());
  int32_t leaves[2] = {r0, r1};
  int32_t counts[2] = {2, 4};  // tree 1 would need 5 nodes
  uint8_t kinds[6] = {};
  int32_t first[2];
  CHECK(throws<std::invalid_argument>([&] { a.expand(leaves, counts, kinds, first); }));
  CHECK(a.tree_size[0] == 1 && a.tree_size[1] == 1);
  CHECK(a.flags[r0] == 0 && a.flags[r1] == 0);
  int32_t twice[2] = {r0, r0};
  int32_t ones[2] = {1, 1};
  CHECK(throws<std::invalid_argument>([&] { a.expand(twice, ones, kinds, first); }));
  CHECK(a.tree_size[0] == 1 && a.flags[r0] == 0);
  uint8_t bad[2] = {9, 0};
  CHECK(throws<std::invalid_argument>([&] { a.expand({leaves, 1}, {ones, 1}, bad, first); }));
  CHECK(throws<std::invalid_argument>([&] { select1(a, r0 + 3); }));  // not allocated
  uint8_t flags[2];
  const int32_t unallocated[1] = {r0 + 3};
  CHECK(throws<std::invalid_argument>([&] { a.read_flags(unallocated, flags); }));
  CHECK(throws<std::invalid_argument>([&] { a.read_flags(leaves, {flags, 1}); }));  // flags too short
  CHECK(throws<std::invalid_argument>([&] { Arena(1 << 16, 1 << 16); }));
  counts[1] = 3;
  a.expand(leaves, counts, kinds, first);
  CHECK(first[0] == r0 + 1 && first[1] == r1 + 1 && a.tree_size[1] == 4);
  const int32_t read[3] = {r1, r0 + 1, r0};
  uint8_t got[3] = {9, 9, 9};
  a.read_flags(read, got);
  CHECK(got[0] == a.flags[r1] && got[1] == 0 && got[2] == a.flags[r0] && (got[2] & rstar::kExpanded));
}

void test_ppm_head_and_fused_step() {
  const size_t h = 21;  // not a multiple of 8: the tail path too
  std::vector<float> w(h), hidden(3 * h);
  for (size_t i = 0; i < h; ++i) w[i] = float(std::sin(double(i) + 1.0));
  for (size_t i = 0; i < hidden.size(); ++i) hidden[i] = float(std::cos(0.7 * double(i)));
  for (size_t r = 0; r < 3; ++r) {
    double dot = 0;
    for (size_t i = 0; i < h; ++i) dot += double(hidden[r * h + i]) * w[i];
    const double expected = std::tanh((dot + 0.25) / 5.0);
    CHECK(std::fabs(rstar::ppm_score(hidden.data() + r * h, w.data(), h, 0.25f) - expected) < 1e-6);
  }

  // One open child, one answer and one invalid terminal: the fused step must equal the
  // scores fed through init_values and backup one by one, in order.
  Arena fused(1, 16), separate(1, 16);
  for (Arena* a : {&fused, &separate}) {
    const int32_t root = a->root(a->acquire());
    select1(*a, root);
    expand1(*a, root, {0, rstar::kAnswer, rstar::kInvalid});
  }
  int32_t nodes[3] = {1, 2, 3};
  float scores[3];
  fused.score_fused(nodes, hidden, w, 0.25f, scores);
  for (int i = 0; i < 3; ++i) {
    const float s = rstar::ppm_score(hidden.data() + size_t(i) * h, w.data(), h, 0.25f);
    CHECK(scores[i] == s);
    if (i == 0) {
      separate.init_values({&nodes[i], 1}, {&s, 1});
    } else {
      separate.ppm_value[nodes[i]] = s;
      separate.backup({&nodes[i], 1}, {&s, 1});
    }
  }
  for (int32_t x = 0; x < 4; ++x) {
    CHECK(fused.visits[x] == separate.visits[x]);
    CHECK(fused.value_sum[x] == separate.value_sum[x]);
    CHECK(std::isnan(fused.ppm_value[x]) == std::isnan(separate.ppm_value[x]));
  }
  CHECK(fused.visits[0] == 1 && fused.value_sum[0] == scores[1]);  // only the answer reached the root
  CHECK(fused.visits[3] == 1 && fused.ppm_value[3] == scores[2]);
  CHECK(throws<std::invalid_argument>([&] { fused.score_fused(nodes, {hidden.data(), 5}, w, 0.0f, scores); }));
}

}  // namespace

int main() {
  test_tree_of();
  test_node_checks();
  test_acquire_release();
  test_select_expand_virtual_loss();
  test_batch_spreads_rollouts();
  test_backup_kinds();
  test_modes_and_ppm_values();
  test_exhaustion();
  test_sizes();
  test_expand_errors_change_nothing();
  test_ppm_head_and_fused_step();
  if (failures > 0) {
    std::fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  std::printf("arena_test: all checks passed\n");
  return 0;
}
