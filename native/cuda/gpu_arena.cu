// GpuArena: the kernels and their host side. See gpu_arena.hpp for the contract; every
// kernel here is the device twin of the Arena member of the same name (arena.cpp).
//
// A batch is grouped by tree on the host (the usual batch, one entry per tree in tree
// order, needs no reordering): each kernel then gives a tree's entries, in batch order, to
// one warp (select, expand, score_fused) or one thread (init_values, backup, unwind).
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <limits>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

#include "rstar/gpu_arena.hpp"
#include "rstar/nvtx.hpp"

namespace rstar {

namespace {

void check(cudaError_t e, const char* call, const char* file, int line) {
  if (e == cudaSuccess) return;
  cudaGetLastError();  // clear it, so a later launch check does not report it again
  throw std::runtime_error(std::string("CUDA: ") + call + " failed (" + file + ":" +
                           std::to_string(line) + "): " + cudaGetErrorName(e) + ": " +
                           cudaGetErrorString(e));
}
#define RSTAR_CUDA(call) check((call), #call, __FILE__, __LINE__)
// Launch errors (bad configuration, no kernel image) surface here, not at the launch.
#define RSTAR_LAUNCHED(kernel) check(cudaGetLastError(), kernel, __FILE__, __LINE__)

constexpr unsigned kAll = 0xffffffffu;
constexpr int kWarp = 32;
constexpr int kBlock = 256;
constexpr int32_t kLnTable = 1 << 16;  // UCT's log(N) for N below this comes from the host
constexpr unsigned long long kNoError = ~0ull;

// Errors found on the device, as (batch index << 32 | detail); kNoError when none.
struct Status {
  unsigned long long expand;  // detail: Slots::Problem
  unsigned long long unwind;  // detail: the node holding no virtual loss
};

// A batch grouped by tree: segment s is grouped entries [begin(s), end(s)), entry k is
// batch index index(k). Null arrays mean the identity (one entry per segment, in order).
struct Groups {
  const int32_t* order;
  const int32_t* seg;
  int32_t segments;
  __device__ int32_t begin(int32_t s) const { return seg ? seg[s] : s; }
  __device__ int32_t end(int32_t s) const { return seg ? seg[s + 1] : s + 1; }
  __device__ int32_t index(int32_t k) const { return order ? order[k] : k; }
};

__device__ int32_t warp_id() { return int32_t((blockIdx.x * blockDim.x + threadIdx.x) / kWarp); }
__device__ int32_t thread_id() { return int32_t(blockIdx.x * blockDim.x + threadIdx.x); }
__device__ int lane_id() { return int(threadIdx.x % kWarp); }

__device__ bool open_child(const NodeArrays& d, int32_t ch) {
  return d.terminal[ch] == kNotTerminal && !(d.flags[ch] & (kExhausted | kPending));
}

// arena.cpp's uct(), operation for operation, each rounded to nearest (no FMA).
__device__ double uct(int32_t n, float w, int32_t vl, double ln_parent, double c) {
  const int32_t visits = n + vl;
  if (visits == 0) return 0.0;
  const double q = __ddiv_rn(__dsub_rn(double(w), double(vl)), double(visits));
  return __dadd_rn(q, __dmul_rn(c, __dsqrt_rn(__ddiv_rn(ln_parent, double(visits)))));
}

__device__ double ln_visits(int32_t n, const double* table) {
  return n < kLnTable ? __ldg(table + n) : log(double(n));
}

// Clears released trees' nodes (free memory is zero, as calloc leaves it) and gives
// acquired ones their root. One block per tree.
__global__ void reset_kernel(NodeArrays d, const int32_t* trees, const int32_t* extents,
                             const uint8_t* roots, int32_t nodes_per_tree) {
  const int32_t begin = trees[blockIdx.x] * nodes_per_tree;
  // int64: begin + extent may sit just below INT32_MAX, and x steps past it.
  for (int64_t x = begin + int64_t(threadIdx.x); x < int64_t(begin) + extents[blockIdx.x]; x += blockDim.x) {
#define RSTAR_CLEAR(type, name, js) d.name[x] = type(0);
    RSTAR_NODE_FIELDS(RSTAR_CLEAR)
#undef RSTAR_CLEAR
  }
  __syncthreads();
  if (threadIdx.x == 0 && roots[blockIdx.x]) {
    d.parent[begin] = -1;
    d.first_child[begin] = -1;
    d.child_count[begin] = 0;
    d.depth[begin] = 0;
    d.visits[begin] = 0;
    d.value_sum[begin] = 0.0f;
    d.virtual_loss[begin] = 0;
    d.ppm_value[begin] = __int_as_float(0x7fc00000);  // NaN: unscored
    d.flags[begin] = 0;
    d.terminal[begin] = kNotTerminal;
  }
}

// A warp per tree. At each node the lanes score the children (lane j takes children j,
// j + 32, ...), and a butterfly reduction keeps the highest score, ties to the lowest
// index: the child the CPU's strict '>' scan keeps. Lane 0 writes; __syncwarp orders
// its writes before the next descent reads them.
__global__ void select_kernel(NodeArrays d, const int32_t* starts, Groups g, int32_t* leaves,
                              SelectMode mode, double c, const double* ln_table) {
  const int32_t w = warp_id();
  if (w >= g.segments) return;
  const int lane = lane_id();
  for (int32_t k = g.begin(w); k < g.end(w); ++k) {
    const int32_t i = g.index(k);
    const int32_t start = starts[i];
    int32_t node = start;
    int32_t result;
    for (;;) {
      // Lane 0's reading for all: lane 0 may set the pending bit below.
      const uint8_t f = uint8_t(__shfl_sync(kAll, int(d.flags[node]), 0));
      if (!(f & kExpanded)) {
        if (f & kPending) {
          result = kSelectBlocked;
        } else if (d.terminal[node] != kNotTerminal) {
          result = kSelectExhausted;
        } else {
          if (lane == 0) d.flags[node] = uint8_t(f | kPending);
          result = node;
        }
        break;
      }
      if (f & kExhausted) {
        result = kSelectExhausted;
        break;
      }
      const int32_t parent_visits = d.visits[node] + d.virtual_loss[node];
      const double ln_parent = parent_visits > 1 ? ln_visits(parent_visits, ln_table) : 0.0;
      const int32_t first = d.first_child[node];
      const int32_t count = d.child_count[node];
      int32_t best = -1;
      if (mode == SelectMode::kClassic) {
        // The first unvisited open child wins outright.
        for (int32_t base = 0; base < count && best < 0; base += kWarp) {
          const int32_t ch = first + base + lane;
          const bool fresh = base + lane < count && open_child(d, ch) &&
                             d.visits[ch] + d.virtual_loss[ch] == 0;
          const unsigned fresh_lanes = __ballot_sync(kAll, fresh);
          if (fresh_lanes) best = first + base + __ffs(int(fresh_lanes)) - 1;
        }
      }
      if (best < 0) {
        double best_score = -INFINITY;
        int32_t best_child = INT32_MAX;
        for (int32_t j = lane; j < count; j += kWarp) {
          const int32_t ch = first + j;
          if (!open_child(d, ch)) continue;
          const double score = uct(d.visits[ch], d.value_sum[ch], d.virtual_loss[ch], ln_parent, c);
          if (score > best_score) {
            best_score = score;
            best_child = ch;
          }
        }
        for (int offset = kWarp / 2; offset > 0; offset /= 2) {
          const double other_score = __shfl_xor_sync(kAll, best_score, offset);
          const int32_t other_child = __shfl_xor_sync(kAll, best_child, offset);
          if (other_score > best_score || (other_score == best_score && other_child < best_child)) {
            best_score = other_score;
            best_child = other_child;
          }
        }
        if (best_child != INT32_MAX) best = best_child;
      }
      if (best < 0) {
        result = kSelectBlocked;  // not exhausted, so every open child is pending
        break;
      }
      if (lane == 0) d.virtual_loss[best] += 1;
      __syncwarp();
      node = best;
    }
    if (lane == 0) {
      if (result < 0) {
        for (int32_t x = node; x != start; x = d.parent[x]) d.virtual_loss[x] -= 1;
      }
      leaves[i] = result;
    }
    __syncwarp();
  }
}

// expand()'s node-state checks; the first failing leaf in batch order wins.
__global__ void expand_check_kernel(NodeArrays d, const int32_t* leaves, int32_t n, Status* status) {
  const int32_t i = thread_id();
  if (i >= n) return;
  const int32_t leaf = leaves[i];
  Slots::Problem problem = Slots::Problem::kNone;
  if (d.flags[leaf] & kExpanded) problem = Slots::Problem::kExpanded;
  else if (d.terminal[leaf] != kNotTerminal) problem = Slots::Problem::kTerminal;
  if (problem != Slots::Problem::kNone)
    atomicMin(&status->expand, (static_cast<unsigned long long>(i) << 32) | unsigned(problem));
}

// A warp per tree: children written lane-parallel, leaves in batch order, then
// exhaustion propagated from each leaf in batch order (the CPU's order, so no two
// walks of one tree race). Does nothing when expand_check_kernel found a problem.
__global__ void expand_kernel(NodeArrays d, const int32_t* leaves, const int32_t* counts,
                              const int32_t* firsts, const int64_t* kind_offsets,
                              const uint8_t* kinds, Groups g, const Status* status) {
  const int32_t w = warp_id();
  if (w >= g.segments || status->expand != kNoError) return;
  const int lane = lane_id();
  for (int32_t k = g.begin(w); k < g.end(w); ++k) {
    const int32_t i = g.index(k);
    const int32_t leaf = leaves[i];
    const int32_t first = firsts[i];
    const int32_t count = counts[i];
    const int32_t child_depth = d.depth[leaf] + 1;
    const uint8_t* kind = kinds + kind_offsets[i];
    for (int32_t j = lane; j < count; j += kWarp) {
      const int32_t x = first + j;
      d.parent[x] = leaf;
      d.first_child[x] = -1;
      d.child_count[x] = 0;
      d.depth[x] = child_depth;
      d.visits[x] = 0;
      d.value_sum[x] = 0.0f;
      d.virtual_loss[x] = 0;
      d.ppm_value[x] = __int_as_float(0x7fc00000);
      d.flags[x] = 0;
      d.terminal[x] = kind[j];
    }
    if (lane == 0) {
      d.first_child[leaf] = first;
      d.child_count[leaf] = count;
      d.flags[leaf] = uint8_t((d.flags[leaf] | kExpanded) & ~kPending);
    }
  }
  __syncwarp();
  for (int32_t k = g.begin(w); k < g.end(w); ++k) {
    for (int32_t x = leaves[g.index(k)]; x >= 0; x = d.parent[x]) {
      const uint8_t f = d.flags[x];
      if ((f & kExhausted) || !(f & kExpanded)) break;
      const int32_t first = d.first_child[x];
      const int32_t count = d.child_count[x];
      bool any_open = false;
      for (int32_t base = 0; base < count && !any_open; base += kWarp) {
        const int32_t ch = first + base + lane;
        const bool open = base + lane < count && d.terminal[ch] == kNotTerminal &&
                          !(d.flags[ch] & kExhausted);
        any_open = __any_sync(kAll, open);
      }
      if (any_open) break;
      if (lane == 0) d.flags[x] = uint8_t(f | kExhausted);
      __syncwarp();
    }
  }
}

__global__ void init_values_kernel(NodeArrays d, const int32_t* nodes, const float* values, Groups g) {
  const int32_t s = thread_id();
  if (s >= g.segments) return;
  for (int32_t k = g.begin(s); k < g.end(s); ++k) {
    const int32_t i = g.index(k);
    const int32_t node = nodes[i];
    d.visits[node] += 1;
    d.value_sum[node] = __fadd_rn(d.value_sum[node], values[i]);
    d.ppm_value[node] = values[i];
  }
}

// One visit and value for the node, and for its ancestors unless it is an invalid end.
__device__ void backup_one(const NodeArrays& d, int32_t node, float value) {
  const uint8_t kind = d.terminal[node];
  d.visits[node] += 1;
  d.value_sum[node] = __fadd_rn(d.value_sum[node], value);
  if (kind != kNotTerminal && kind != kAnswer) return;
  for (int32_t x = d.parent[node]; x >= 0; x = d.parent[x]) {
    d.visits[x] += 1;
    d.value_sum[x] = __fadd_rn(d.value_sum[x], value);
  }
}

__global__ void backup_kernel(NodeArrays d, const int32_t* nodes, const float* values, Groups g) {
  const int32_t s = thread_id();
  if (s >= g.segments) return;
  for (int32_t k = g.begin(s); k < g.end(s); ++k) {
    const int32_t i = g.index(k);
    backup_one(d, nodes[i], values[i]);
  }
}

// A tree stops at its first node without virtual loss; the earliest such entry in
// batch order is reported, as the CPU reports it.
__global__ void unwind_kernel(NodeArrays d, const int32_t* nodes, Groups g, Status* status) {
  const int32_t s = thread_id();
  if (s >= g.segments) return;
  for (int32_t k = g.begin(s); k < g.end(s); ++k) {
    const int32_t i = g.index(k);
    for (int32_t x = nodes[i]; d.parent[x] >= 0; x = d.parent[x]) {
      if (d.virtual_loss[x] <= 0) {
        atomicMin(&status->unwind, (static_cast<unsigned long long>(i) << 32) | unsigned(x));
        return;
      }
      d.virtual_loss[x] -= 1;
    }
  }
}

// A warp per tree, 8 lanes per hidden row (4 rows at a time): lane p sums elements
// p, p + 8, ... in order, exactly ppm_score()'s 8 partial sums, and the butterfly adds
// them in its order ((0+1)+(2+3))+((4+5)+(6+7)). Then lane 0 applies the scores to the
// tree in batch order: a first visit for an open node, a backup for a terminal one.
__global__ void score_fused_kernel(NodeArrays d, const int32_t* nodes, const float* hidden,
                                   const float* weight, int32_t h, float bias, float* scores,
                                   Groups g) {
  const int32_t w = warp_id();
  if (w >= g.segments) return;
  const int lane = lane_id();
  const int row_in_pass = lane / 8;
  const int part = lane % 8;
  const int32_t begin = g.begin(w);
  const int32_t end = g.end(w);
  for (int32_t base = begin; base < end; base += kWarp / 8) {
    const int32_t k = base + row_in_pass;
    float sum = 0.0f;
    int32_t i = -1;
    if (k < end) {
      i = g.index(k);
      const float* row = hidden + size_t(i) * size_t(h);
#pragma unroll 4
      for (int32_t e = part; e < h; e += 8) sum = __fadd_rn(sum, __fmul_rn(__ldg(row + e), __ldg(weight + e)));
    }
    sum = __fadd_rn(sum, __shfl_xor_sync(kAll, sum, 1));
    sum = __fadd_rn(sum, __shfl_xor_sync(kAll, sum, 2));
    sum = __fadd_rn(sum, __shfl_xor_sync(kAll, sum, 4));
    if (k < end && part == 0) scores[i] = float(tanh(double(__fdiv_rn(__fadd_rn(sum, bias), 5.0f))));
  }
  __syncwarp();
  if (lane != 0) return;
  for (int32_t k = begin; k < end; ++k) {
    const int32_t i = g.index(k);
    const int32_t node = nodes[i];
    const float score = scores[i];
    d.ppm_value[node] = score;
    if (d.terminal[node] == kNotTerminal) {
      d.visits[node] += 1;
      d.value_sum[node] = __fadd_rn(d.value_sum[node], score);
    } else {
      backup_one(d, node, score);
    }
  }
}

// Packs the listed trees' nodes into `packed` (Packed's arrays) for one transfer to the
// host. One block per tree; offsets[b] is tree b's first slot in each packed array.
__global__ void gather_kernel(NodeArrays d, const int32_t* trees, const int32_t* sizes,
                              const int64_t* offsets, int32_t nodes_per_tree, NodeArrays packed) {
  const int32_t begin = trees[blockIdx.x] * nodes_per_tree;
  for (int32_t j = int32_t(threadIdx.x); j < sizes[blockIdx.x]; j += blockDim.x) {
    const int32_t x = begin + j;
    const int64_t o = offsets[blockIdx.x] + j;
#define RSTAR_GATHER(type, name, js) packed.name[o] = d.name[x];
    RSTAR_NODE_FIELDS(RSTAR_GATHER)
#undef RSTAR_GATHER
  }
}

__global__ void read_flags_kernel(NodeArrays d, const int32_t* nodes, int32_t n, uint8_t* flags) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) flags[i] = d.flags[nodes[i]];
}

int blocks_for(int64_t threads) { return int((threads + kBlock - 1) / kBlock); }
int blocks_for_warps(int64_t warps) { return blocks_for(warps * kWarp); }

// Byte offsets of the arrays of one transfer, 16-byte aligned.
struct Layout {
  size_t bytes = 0;
  size_t add(size_t n) {
    const size_t at = (bytes + 15) / 16 * 16;
    bytes = at + n;
    return at;
  }
};

// download()'s transfer buffer for `total` nodes: the node arrays one after another.
struct Packed {
  size_t at[kNodeFields];
  size_t bytes;

  explicit Packed(int64_t total) {
    Layout l;
    int k = 0;
#define RSTAR_PLACE(type, name, js) at[k++] = l.add(size_t(total) * sizeof(type));
    RSTAR_NODE_FIELDS(RSTAR_PLACE)
#undef RSTAR_PLACE
    bytes = l.bytes;
  }
  // The arrays in a buffer of `bytes` bytes, device or host.
  NodeArrays in(char* base) const {
    NodeArrays p;
    int k = 0;
#define RSTAR_POINT(type, name, js) p.name = reinterpret_cast<type*>(base + at[k++]);
    RSTAR_NODE_FIELDS(RSTAR_POINT)
#undef RSTAR_POINT
    return p;
  }
};

// Pinned host memory and device memory of one size, for one operation's inputs and
// outputs. The host side is refilled only after the last operation that used it is done
// (its event), so an operation may return before the device has read its inputs.
struct Staging {
  char* host = nullptr;
  char* device = nullptr;
  size_t capacity = 0;
  cudaEvent_t done = nullptr;

  void reserve(size_t bytes) {
    RSTAR_CUDA(cudaEventSynchronize(done));
    if (bytes <= capacity) return;
    const size_t grown = std::max(bytes, capacity * 2);
    if (host) RSTAR_CUDA(cudaFreeHost(host));
    if (device) RSTAR_CUDA(cudaFree(device));
    host = nullptr;
    device = nullptr;
    capacity = 0;
    RSTAR_CUDA(cudaMallocHost(&host, grown));
    RSTAR_CUDA(cudaMalloc(&device, grown));
    capacity = grown;
  }
  template <typename T>
  T* host_at(size_t offset) { return reinterpret_cast<T*>(host + offset); }
  template <typename T>
  T* device_at(size_t offset) { return reinterpret_cast<T*>(device + offset); }
};

// Grows a device buffer (contents not kept) once the stream is done with it.
template <typename T>
T* grow(T*& buffer, size_t& capacity, size_t count, cudaStream_t stream) {
  if (count <= capacity) return buffer;
  const size_t grown = std::max(count, capacity * 2);
  RSTAR_CUDA(cudaStreamSynchronize(stream));
  if (buffer) RSTAR_CUDA(cudaFree(buffer));
  buffer = nullptr;
  capacity = 0;
  RSTAR_CUDA(cudaMalloc(&buffer, grown * sizeof(T)));
  capacity = grown;
  return buffer;
}

CudaStatus probe() {
  CudaStatus s;
  int count = 0;
  cudaError_t e = cudaGetDeviceCount(&count);
  if (e != cudaSuccess) {
    s.reason = std::string("the CUDA driver is missing or cannot be used (cudaGetDeviceCount: ") +
               cudaGetErrorName(e) + ": " + cudaGetErrorString(e) + ")";
    cudaGetLastError();
    return s;
  }
  if (count == 0) {
    s.reason = "no CUDA device is visible (CUDA_VISIBLE_DEVICES?)";
    return s;
  }
  cudaDeviceProp prop{};
  e = cudaGetDeviceProperties(&prop, 0);
  if (e != cudaSuccess) {
    s.reason = std::string("cudaGetDeviceProperties: ") + cudaGetErrorName(e);
    cudaGetLastError();
    return s;
  }
  const std::string sm = "sm_" + std::to_string(prop.major) + std::to_string(prop.minor);
  // A device this build has no code for (neither its SASS nor PTX it can compile).
  cudaFuncAttributes attributes{};
  e = cudaFuncGetAttributes(&attributes, select_kernel);
  if (e != cudaSuccess) {
    s.reason = "device 0 (" + std::string(prop.name) + ", " + sm + ") cannot run this build's kernels (" +
               cudaGetErrorName(e) + "): rebuild with -DCMAKE_CUDA_ARCHITECTURES=" +
               std::to_string(prop.major) + std::to_string(prop.minor);
    cudaGetLastError();
    return s;
  }
  s.usable = true;
  s.device = std::string(prop.name) + " (" + sm + ", " + std::to_string(prop.multiProcessorCount) +
             " SMs, " + std::to_string(prop.totalGlobalMem >> 30) + " GiB)";
  return s;
}

// The batch's trees in order: identity when they never decrease (the usual batch), else a
// stable sort of the batch indices by tree.
struct Grouping {
  std::vector<int32_t> order;  // empty: identity
  std::vector<int32_t> seg;    // empty: one entry per segment
  int32_t segments = 0;

  void build(const int32_t* nodes, size_t n, const Slots& slots) {
    order.clear();
    seg.clear();
    segments = 0;
    if (n == 0) return;
    // One pass (every GPU call makes one over its whole batch): where each tree's run of
    // entries begins, stopping at the first tree lower than the one before.
    bool sorted = true;
    seg.push_back(0);
    for (int32_t k = 1, before = slots.tree_of(nodes[0]); size_t(k) < n; ++k) {
      const int32_t tree = slots.tree_of(nodes[k]);
      if (tree < before) {
        sorted = false;
        break;
      }
      if (tree != before) seg.push_back(k);
      before = tree;
    }
    if (sorted && seg.size() == n) {  // one entry per tree
      seg.clear();
      segments = int32_t(n);
      return;
    }
    if (!sorted) {
      order.resize(n);
      for (size_t i = 0; i < n; ++i) order[i] = int32_t(i);
      std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) {
        return slots.tree_of(nodes[a]) < slots.tree_of(nodes[b]);
      });
      seg.assign(1, 0);
      for (size_t k = 1; k < n; ++k)
        if (slots.tree_of(nodes[order[k]]) != slots.tree_of(nodes[order[k - 1]])) seg.push_back(int32_t(k));
    }
    seg.push_back(int32_t(n));
    segments = int32_t(seg.size()) - 1;
  }
};

}  // namespace

CudaStatus cuda_status() {
  static const CudaStatus status = probe();
  return status;
}

struct GpuArena::Impl {
  Slots slots;
  cudaStream_t stream = nullptr;
  NodeArrays d;  // on the device
  double* ln_table = nullptr;
  Status* status = nullptr;
  Staging staging[4];
  int next_staging = 0;
  Grouping grouping;
  // Trees to clear (extent > 0) or to give a root, applied before the next operation.
  std::vector<int32_t> reset_trees;
  std::vector<int32_t> reset_extent;  // per tree, -1 when not listed
  std::vector<uint8_t> reset_root;    // per tree
  std::vector<int32_t> first;        // expand() scratch
  float* hidden = nullptr;            // score_fused()'s copy of host hidden states
  size_t hidden_capacity = 0;
  char* packed = nullptr;             // download()'s gather buffer, and its host side
  size_t packed_capacity = 0;
  char* packed_host = nullptr;
  size_t packed_host_capacity = 0;
  std::vector<void*> host_buffers;
  // set_timing(): an event pair per operation, in call order, until take_times() reads it
  struct Timing {
    const char* op;
    cudaEvent_t start, stop;
    bool stopped;  // the stop event was recorded
  };
  bool timing = false;
  cudaEvent_t origin = nullptr;
  std::deque<Timing> timed;
  std::vector<cudaEvent_t> spare_events;

  cudaEvent_t timing_event() {
    if (!spare_events.empty()) {
      cudaEvent_t e = spare_events.back();
      spare_events.pop_back();
      return e;
    }
    cudaEvent_t e = nullptr;
    RSTAR_CUDA(cudaEventCreate(&e));
    return e;
  }

  // Times one operation when timing is on: its start event now, its stop event when the
  // operation returns or throws (a stop that cannot be recorded leaves the entry untimed).
  class Timed {
   public:
    Timed(Impl& m, const char* op) : m_(m) {
      if (!m.timing) return;
      m.timed.push_back({op, m.timing_event(), m.timing_event(), false});
      timing_ = &m.timed.back();  // a deque keeps it in place while others are added
      RSTAR_CUDA(cudaEventRecord(timing_->start, m.stream));
    }
    ~Timed() {
      if (timing_ == nullptr) return;
      timing_->stopped = cudaEventRecord(timing_->stop, m_.stream) == cudaSuccess;
      if (!timing_->stopped) cudaGetLastError();
    }
    Timed(const Timed&) = delete;
    Timed& operator=(const Timed&) = delete;

   private:
    Impl& m_;
    Timing* timing_ = nullptr;
  };

  Impl(int32_t trees, int32_t nodes_per_tree) : slots(trees, nodes_per_tree) {}
  int64_t capacity() const { return int64_t(slots.trees()) * slots.nodes_per_tree(); }

  Staging& next() {
    Staging& s = staging[next_staging];
    next_staging = (next_staging + 1) % 4;
    return s;
  }
  void finish(Staging& s) { RSTAR_CUDA(cudaEventRecord(s.done, stream)); }

  // Waits for the device; returns what its kernels found. The caller finishes its own
  // work (outputs, bookkeeping) and then calls raise_unwind().
  Status wait(Staging& s, size_t status_offset) {
    RSTAR_CUDA(cudaMemcpyAsync(s.host_at<Status>(status_offset), status, sizeof(Status),
                               cudaMemcpyDeviceToHost, stream));
    finish(s);
    RSTAR_CUDA(cudaStreamSynchronize(stream));
    return *s.host_at<Status>(status_offset);
  }

  // An unwind since the last wait found a node without virtual loss (an engine bug):
  // raised by the first call that waits, as unwind itself does not.
  void raise_unwind(const Status& found) {
    if (found.unwind == kNoError) return;
    RSTAR_CUDA(cudaMemsetAsync(&status->unwind, 0xff, sizeof status->unwind, stream));
    throw std::logic_error("unwind: node " + std::to_string(uint32_t(found.unwind & 0xffffffffu)) +
                           " holds no virtual loss");
  }

  ~Impl() {
    // Errors here cannot be reported; the context goes with the process anyway.
    if (stream) cudaStreamSynchronize(stream);
#define RSTAR_FREE(type, name, js) \
  if (d.name) cudaFree(d.name);
    RSTAR_NODE_FIELDS(RSTAR_FREE)
#undef RSTAR_FREE
    for (void* p : {static_cast<void*>(ln_table), static_cast<void*>(status), static_cast<void*>(hidden),
                    static_cast<void*>(packed)})
      if (p) cudaFree(p);
    if (packed_host) cudaFreeHost(packed_host);
    if (origin) cudaEventDestroy(origin);
    for (const Timing& t : timed) {
      cudaEventDestroy(t.start);
      cudaEventDestroy(t.stop);
    }
    for (cudaEvent_t e : spare_events) cudaEventDestroy(e);
    for (Staging& s : staging) {
      if (s.host) cudaFreeHost(s.host);
      if (s.device) cudaFree(s.device);
      if (s.done) cudaEventDestroy(s.done);
    }
    if (stream) cudaStreamDestroy(stream);
    for (void* p : host_buffers) std::free(p);
  }

  void flush_resets() {
    if (reset_trees.empty()) return;
    const size_t n = reset_trees.size();
    Layout l;
    const size_t at_trees = l.add(n * 4), at_extents = l.add(n * 4), at_roots = l.add(n);
    Staging& s = next();
    s.reserve(l.bytes);
    for (size_t b = 0; b < n; ++b) {
      const int32_t t = reset_trees[b];
      s.host_at<int32_t>(at_trees)[b] = t;
      s.host_at<int32_t>(at_extents)[b] = reset_extent[size_t(t)];
      s.host_at<uint8_t>(at_roots)[b] = reset_root[size_t(t)];
      reset_extent[size_t(t)] = -1;
    }
    reset_trees.clear();
    RSTAR_CUDA(cudaMemcpyAsync(s.device, s.host, l.bytes, cudaMemcpyHostToDevice, stream));
    reset_kernel<<<unsigned(n), kBlock, 0, stream>>>(d, s.device_at<int32_t>(at_trees), s.device_at<int32_t>(at_extents),
                                                     s.device_at<uint8_t>(at_roots), slots.nodes_per_tree());
    RSTAR_LAUNCHED("reset_kernel");
    finish(s);
  }

  void list_reset(int32_t tree, int32_t extent, bool root) {
    int32_t& listed = reset_extent[size_t(tree)];
    if (listed < 0) {
      reset_trees.push_back(tree);
      listed = 0;
    }
    listed = std::max(listed, extent);
    reset_root[size_t(tree)] = root ? 1 : 0;
  }

  // Stages the grouping of a batch; returns the kernels' view of it.
  struct StagedGroups {
    size_t order = 0, seg = 0;
  };
  void add_groups(Layout& l, StagedGroups& at) const {
    if (!grouping.order.empty()) at.order = l.add(grouping.order.size() * 4);
    if (!grouping.seg.empty()) at.seg = l.add(grouping.seg.size() * 4);
  }
  void fill_groups(Staging& s, const StagedGroups& at) const {
    if (!grouping.order.empty()) std::memcpy(s.host + at.order, grouping.order.data(), grouping.order.size() * 4);
    if (!grouping.seg.empty()) std::memcpy(s.host + at.seg, grouping.seg.data(), grouping.seg.size() * 4);
  }
  Groups groups(Staging& s, const StagedGroups& at) const {
    return Groups{grouping.order.empty() ? nullptr : s.device_at<int32_t>(at.order),
                  grouping.seg.empty() ? nullptr : s.device_at<int32_t>(at.seg), grouping.segments};
  }

  // init_values, backup and unwind: nodes (+ values) in, nothing out.
  template <typename Launch>
  void per_node(std::span<const int32_t> nodes, std::span<const float> values, Launch launch) {
    flush_resets();
    grouping.build(nodes.data(), nodes.size(), slots);
    if (grouping.segments == 0) return;
    Layout l;
    const size_t at_nodes = l.add(nodes.size() * 4);
    const size_t at_values = l.add(values.size() * 4);
    StagedGroups at;
    add_groups(l, at);
    Staging& s = next();
    s.reserve(l.bytes);
    std::memcpy(s.host + at_nodes, nodes.data(), nodes.size() * 4);
    if (!values.empty()) std::memcpy(s.host + at_values, values.data(), values.size() * 4);
    fill_groups(s, at);
    RSTAR_CUDA(cudaMemcpyAsync(s.device, s.host, l.bytes, cudaMemcpyHostToDevice, stream));
    launch(s.device_at<int32_t>(at_nodes), s.device_at<float>(at_values), groups(s, at));
    finish(s);
  }

  void score(std::span<const int32_t> nodes, const float* device_hidden, std::span<const float> weight,
             float bias, std::span<float> scores) {
    grouping.build(nodes.data(), nodes.size(), slots);
    Layout l;
    const size_t at_nodes = l.add(nodes.size() * 4);
    const size_t at_weight = l.add(weight.size() * 4);
    StagedGroups at;
    add_groups(l, at);
    const size_t at_scores = l.add(nodes.size() * 4);  // device output, copied back on request
    const size_t at_status = l.add(sizeof(Status));
    Staging& s = next();
    s.reserve(l.bytes);
    std::memcpy(s.host + at_nodes, nodes.data(), nodes.size() * 4);
    std::memcpy(s.host + at_weight, weight.data(), weight.size() * 4);
    fill_groups(s, at);
    RSTAR_CUDA(cudaMemcpyAsync(s.device, s.host, at_scores, cudaMemcpyHostToDevice, stream));
    if (grouping.segments > 0) {
      score_fused_kernel<<<blocks_for_warps(grouping.segments), kBlock, 0, stream>>>(
          d, s.device_at<int32_t>(at_nodes), device_hidden, s.device_at<float>(at_weight),
          int32_t(weight.size()), bias, s.device_at<float>(at_scores), groups(s, at));
      RSTAR_LAUNCHED("score_fused_kernel");
    }
    if (scores.empty() || nodes.empty()) {
      finish(s);
      return;
    }
    RSTAR_CUDA(cudaMemcpyAsync(s.host + at_scores, s.device + at_scores, nodes.size() * 4,
                               cudaMemcpyDeviceToHost, stream));
    const Status found = wait(s, at_status);
    std::memcpy(scores.data(), s.host + at_scores, nodes.size() * 4);
    raise_unwind(found);
  }
};

DeviceFloats::DeviceFloats(size_t count) : size_(count) {
  const CudaStatus status = cuda_status();
  if (!status.usable) throw std::runtime_error("DeviceFloats: no CUDA device: " + status.reason);
  RSTAR_CUDA(cudaSetDevice(0));
  RSTAR_CUDA(cudaMalloc(&data_, std::max<size_t>(count, 1) * sizeof(float)));
}

DeviceFloats::~DeviceFloats() {
  if (data_) cudaFree(data_);  // an error here cannot be reported
}

void DeviceFloats::upload(std::span<const float> values, size_t offset) {
  if (offset > size_ || values.size() > size_ - offset)
    throw std::invalid_argument("DeviceFloats: " + std::to_string(values.size()) + " floats at " + std::to_string(offset) +
                                " do not fit in " + std::to_string(size_));
  if (values.empty()) return;
  RSTAR_CUDA(cudaMemcpy(data_ + offset, values.data(), values.size() * sizeof(float), cudaMemcpyHostToDevice));
  // a pageable copy may still be in flight when cudaMemcpy returns, and the arena's stream
  // (non-blocking) does not wait for the default stream
  RSTAR_CUDA(cudaDeviceSynchronize());
}

GpuArena::GpuArena(int32_t trees, int32_t nodes_per_tree) {
  const CudaStatus status = cuda_status();
  if (!status.usable) throw std::runtime_error("GpuArena: no CUDA device: " + status.reason);
  impl_ = std::make_unique<Impl>(trees, nodes_per_tree);
  Impl& m = *impl_;
  RSTAR_CUDA(cudaSetDevice(0));  // the device cuda_status() checked; CUDA_VISIBLE_DEVICES picks it
  RSTAR_CUDA(cudaStreamCreateWithFlags(&m.stream, cudaStreamNonBlocking));
  for (Staging& s : m.staging) RSTAR_CUDA(cudaEventCreateWithFlags(&s.done, cudaEventDisableTiming));
  const int64_t n = m.capacity();
  const auto device = [&](auto*& p, size_t size) {
    RSTAR_CUDA(cudaMalloc(&p, size_t(n) * size));
    RSTAR_CUDA(cudaMemsetAsync(p, 0, size_t(n) * size, m.stream));
  };
#define RSTAR_DEVICE(type, name, js) device(m.d.name, sizeof(type));
  RSTAR_NODE_FIELDS(RSTAR_DEVICE)
#undef RSTAR_DEVICE

  std::vector<double> ln(kLnTable);
  for (int32_t v = 0; v < kLnTable; ++v) ln[size_t(v)] = std::log(double(v));  // arena.cpp's std::log
  RSTAR_CUDA(cudaMalloc(&m.ln_table, ln.size() * sizeof(double)));
  RSTAR_CUDA(cudaMemcpyAsync(m.ln_table, ln.data(), ln.size() * sizeof(double), cudaMemcpyHostToDevice, m.stream));
  RSTAR_CUDA(cudaMalloc(&m.status, sizeof(Status)));
  RSTAR_CUDA(cudaMemsetAsync(m.status, 0xff, sizeof(Status), m.stream));  // kNoError in both words
  RSTAR_CUDA(cudaStreamSynchronize(m.stream));  // ln leaves scope

  const auto host = [&](auto*& p, size_t size) {
    void* q = std::calloc(size_t(n), size);
    if (q == nullptr) throw std::bad_alloc();
    m.host_buffers.push_back(q);
    p = static_cast<std::remove_reference_t<decltype(p)>>(q);
  };
#define RSTAR_HOST(type, name, js) host(name, sizeof(type));
  RSTAR_NODE_FIELDS(RSTAR_HOST)
#undef RSTAR_HOST
  tree_size = m.slots.tree_size();
  m.reset_extent.assign(size_t(trees), -1);
  m.reset_root.assign(size_t(trees), 0);
}

GpuArena::~GpuArena() = default;  // Impl frees everything, also when the constructor fails

int32_t GpuArena::trees() const { return impl_->slots.trees(); }
int32_t GpuArena::nodes_per_tree() const { return impl_->slots.nodes_per_tree(); }
void* GpuArena::stream() const { return impl_->stream; }

int32_t GpuArena::acquire() {
  const int32_t tree = impl_->slots.acquire();
  if (tree >= 0) impl_->list_reset(tree, 0, true);
  return tree;
}

void GpuArena::release(int32_t tree) {
  const int32_t size = impl_->slots.release(tree);
  impl_->list_reset(tree, size, false);
}

void GpuArena::select(std::span<const int32_t> starts, std::span<int32_t> leaves, SelectMode mode, double c) {
  const NvtxRange range("rstar/gpu/select");
  Impl& m = *impl_;
  const Impl::Timed timed(m, "rstar/gpu/select");
  if (leaves.size() < starts.size()) throw std::invalid_argument("select: leaves is shorter than starts");
  m.slots.check_nodes(starts, "select");
  m.flush_resets();
  m.grouping.build(starts.data(), starts.size(), m.slots);
  if (m.grouping.segments == 0) return;
  Layout l;
  const size_t at_starts = l.add(starts.size() * 4);
  Impl::StagedGroups at;
  m.add_groups(l, at);
  const size_t in_bytes = l.bytes;
  const size_t at_leaves = l.add(starts.size() * 4);
  const size_t at_status = l.add(sizeof(Status));
  Staging& s = m.next();
  s.reserve(l.bytes);
  std::memcpy(s.host + at_starts, starts.data(), starts.size() * 4);
  m.fill_groups(s, at);
  RSTAR_CUDA(cudaMemcpyAsync(s.device, s.host, in_bytes, cudaMemcpyHostToDevice, m.stream));
  select_kernel<<<blocks_for_warps(m.grouping.segments), kBlock, 0, m.stream>>>(
      m.d, s.device_at<int32_t>(at_starts), m.groups(s, at), s.device_at<int32_t>(at_leaves), mode, c,
      m.ln_table);
  RSTAR_LAUNCHED("select_kernel");
  RSTAR_CUDA(cudaMemcpyAsync(s.host + at_leaves, s.device + at_leaves, starts.size() * 4,
                             cudaMemcpyDeviceToHost, m.stream));
  const Status found = m.wait(s, at_status);
  std::memcpy(leaves.data(), s.host + at_leaves, starts.size() * 4);
  m.raise_unwind(found);
}

void GpuArena::expand(std::span<const int32_t> leaves, std::span<const int32_t> counts,
                      std::span<const uint8_t> kinds, std::span<int32_t> first_child_out) {
  const NvtxRange range("rstar/gpu/expand");
  Impl& m = *impl_;
  const Impl::Timed timed(m, "rstar/gpu/expand");
  if (counts.size() < leaves.size() || first_child_out.size() < leaves.size())
    throw std::invalid_argument("expand: counts and first_child must have one entry per leaf");
  m.slots.check_nodes(leaves, "expand");
  m.flush_resets();
  const size_t n = leaves.size();
  m.first.resize(n);
  int64_t total = 0;
  const Slots::Finding placed = m.slots.place(leaves.data(), counts.data(), n, m.first.data(), &total);
  // The CPU reports the first problem in its order of checks: a later host-side finding
  // (or a bad kind, checked last) still needs the device's verdict on earlier leaves.
  std::string kinds_error;
  if (placed.index < 0) {
    if (int64_t(kinds.size()) < total) {
      kinds_error = "expand: kinds needs one entry per child (sum of counts)";
    } else {
      kinds_error = unknown_kind(kinds.first(size_t(total)));
    }
  }
  const bool host_problem = placed.index >= 0 || !kinds_error.empty();
  const size_t kinds_count = host_problem ? 0 : size_t(total);
  m.grouping.build(leaves.data(), n, m.slots);

  Layout l;
  const size_t at_leaves = l.add(n * 4);
  const size_t at_counts = l.add(n * 4);
  const size_t at_firsts = l.add(n * 4);
  const size_t at_offsets = l.add(n * 8);
  const size_t at_kinds = l.add(kinds_count);
  Impl::StagedGroups at;
  m.add_groups(l, at);
  const size_t at_status = l.add(sizeof(Status));
  Staging& s = m.next();
  s.reserve(l.bytes);
  std::memcpy(s.host + at_leaves, leaves.data(), n * 4);
  std::memcpy(s.host + at_counts, counts.data(), n * 4);
  std::memcpy(s.host + at_firsts, m.first.data(), n * 4);
  int64_t* offsets = s.host_at<int64_t>(at_offsets);
  for (size_t i = 0, k = 0; i < n; ++i) {
    offsets[i] = int64_t(k);
    k += size_t(std::max(counts[i], 0));
  }
  if (kinds_count) std::memcpy(s.host + at_kinds, kinds.data(), kinds_count);
  m.fill_groups(s, at);
  RSTAR_CUDA(cudaMemsetAsync(&m.status->expand, 0xff, sizeof(unsigned long long), m.stream));
  RSTAR_CUDA(cudaMemcpyAsync(s.device, s.host, at_status, cudaMemcpyHostToDevice, m.stream));
  if (n > 0) {
    expand_check_kernel<<<blocks_for(int64_t(n)), kBlock, 0, m.stream>>>(m.d, s.device_at<int32_t>(at_leaves),
                                                                         int32_t(n), m.status);
    RSTAR_LAUNCHED("expand_check_kernel");
  }
  if (!host_problem && m.grouping.segments > 0) {
    expand_kernel<<<blocks_for_warps(m.grouping.segments), kBlock, 0, m.stream>>>(
        m.d, s.device_at<int32_t>(at_leaves), s.device_at<int32_t>(at_counts), s.device_at<int32_t>(at_firsts),
        s.device_at<int64_t>(at_offsets), s.device_at<uint8_t>(at_kinds), m.groups(s, at), m.status);
    RSTAR_LAUNCHED("expand_kernel");
  }
  const Status found = m.wait(s, at_status);
  Slots::Finding state;
  if (found.expand != kNoError) state = {int64_t(found.expand >> 32), Slots::Problem(found.expand & 0xff)};
  m.slots.fail_expand(Slots::first_of(placed, state), leaves.data());
  if (!kinds_error.empty()) throw std::invalid_argument(kinds_error);
  m.slots.commit(leaves.data(), counts.data(), n);
  std::copy(m.first.begin(), m.first.end(), first_child_out.begin());
  m.raise_unwind(found);
}

void GpuArena::init_values(std::span<const int32_t> nodes, std::span<const float> values) {
  const NvtxRange range("rstar/gpu/init_values");
  Impl& m = *impl_;
  const Impl::Timed timed(m, "rstar/gpu/init_values");
  if (values.size() < nodes.size()) throw std::invalid_argument("init_values: values is shorter than nodes");
  m.slots.check_nodes(nodes, "init_values");
  m.per_node(nodes, values.first(nodes.size()), [&](const int32_t* n, const float* v, Groups g) {
    init_values_kernel<<<blocks_for(g.segments), kBlock, 0, m.stream>>>(m.d, n, v, g);
    RSTAR_LAUNCHED("init_values_kernel");
  });
}

void GpuArena::backup(std::span<const int32_t> nodes, std::span<const float> values) {
  const NvtxRange range("rstar/gpu/backup");
  Impl& m = *impl_;
  const Impl::Timed timed(m, "rstar/gpu/backup");
  if (values.size() < nodes.size()) throw std::invalid_argument("backup: values is shorter than nodes");
  m.slots.check_nodes(nodes, "backup");
  m.per_node(nodes, values.first(nodes.size()), [&](const int32_t* n, const float* v, Groups g) {
    backup_kernel<<<blocks_for(g.segments), kBlock, 0, m.stream>>>(m.d, n, v, g);
    RSTAR_LAUNCHED("backup_kernel");
  });
}

void GpuArena::unwind(std::span<const int32_t> nodes) {
  const NvtxRange range("rstar/gpu/unwind");
  Impl& m = *impl_;
  const Impl::Timed timed(m, "rstar/gpu/unwind");
  m.slots.check_nodes(nodes, "unwind");
  m.per_node(nodes, {}, [&](const int32_t* n, const float*, Groups g) {
    unwind_kernel<<<blocks_for(g.segments), kBlock, 0, m.stream>>>(m.d, n, g, m.status);
    RSTAR_LAUNCHED("unwind_kernel");
  });
}

namespace {
void check_fused(const Slots& slots, std::span<const int32_t> nodes, size_t h, size_t hidden_floats,
                 std::span<float> scores) {
  if (h == 0) throw std::invalid_argument("score_fused: the head's weight is empty");
  if (hidden_floats != nodes.size() * h)
    throw std::invalid_argument("score_fused: hidden must hold one row of " + std::to_string(h) + " floats per node");
  if (!scores.empty() && scores.size() < nodes.size())
    throw std::invalid_argument("score_fused: scores is shorter than nodes");
  slots.check_nodes(nodes, "score_fused");
}
}  // namespace

void GpuArena::score_fused(std::span<const int32_t> nodes, std::span<const float> hidden,
                           std::span<const float> weight, float bias, std::span<float> scores) {
  const NvtxRange range("rstar/gpu/score_fused");
  Impl& m = *impl_;
  const Impl::Timed timed(m, "rstar/gpu/score_fused");
  check_fused(m.slots, nodes, weight.size(), hidden.size(), scores);
  m.flush_resets();
  float* device_hidden = grow(m.hidden, m.hidden_capacity, std::max<size_t>(hidden.size(), 1), m.stream);
  // Pageable memory: the copy has left the caller's buffer when this returns.
  if (!hidden.empty())
    RSTAR_CUDA(cudaMemcpyAsync(device_hidden, hidden.data(), hidden.size() * 4, cudaMemcpyHostToDevice, m.stream));
  m.score(nodes, device_hidden, weight, bias, scores);
}

void GpuArena::score_fused_device(std::span<const int32_t> nodes, const float* device_hidden,
                                  std::span<const float> weight, float bias, std::span<float> scores) {
  const NvtxRange range("rstar/gpu/score_fused_device");
  Impl& m = *impl_;
  const Impl::Timed timed(m, "rstar/gpu/score_fused_device");
  check_fused(m.slots, nodes, weight.size(), nodes.size() * weight.size(), scores);
  m.flush_resets();
  m.score(nodes, device_hidden, weight, bias, scores);
}

void GpuArena::read_flags(std::span<const int32_t> nodes, std::span<uint8_t> flags) {
  const NvtxRange range("rstar/gpu/read_flags");
  Impl& m = *impl_;
  const Impl::Timed timed(m, "rstar/gpu/read_flags");
  if (flags.size() < nodes.size()) throw std::invalid_argument("read_flags: flags is shorter than nodes");
  m.slots.check_nodes(nodes, "read_flags");
  m.flush_resets();
  const size_t n = nodes.size();
  if (n == 0) return;
  Layout l;
  const size_t at_nodes = l.add(n * 4);
  const size_t in_bytes = l.bytes;
  const size_t at_flags = l.add(n);
  const size_t at_status = l.add(sizeof(Status));
  Staging& s = m.next();
  s.reserve(l.bytes);
  std::memcpy(s.host + at_nodes, nodes.data(), n * 4);
  RSTAR_CUDA(cudaMemcpyAsync(s.device, s.host, in_bytes, cudaMemcpyHostToDevice, m.stream));
  read_flags_kernel<<<blocks_for(int64_t(n)), kBlock, 0, m.stream>>>(m.d, s.device_at<int32_t>(at_nodes), int32_t(n),
                                                                   s.device_at<uint8_t>(at_flags));
  RSTAR_LAUNCHED("read_flags_kernel");
  RSTAR_CUDA(cudaMemcpyAsync(s.host + at_flags, s.device + at_flags, n, cudaMemcpyDeviceToHost, m.stream));
  const Status found = m.wait(s, at_status);
  std::memcpy(flags.data(), s.host + at_flags, n);
  m.raise_unwind(found);
}

void GpuArena::download(std::span<const int32_t> trees) {
  const NvtxRange range("rstar/gpu/download");
  Impl& m = *impl_;
  const Impl::Timed timed(m, "rstar/gpu/download");
  m.flush_resets();
  Layout l;
  const size_t n = trees.size();
  const size_t at_trees = l.add(n * 4), at_sizes = l.add(n * 4), at_offsets = l.add(n * 8);
  const size_t at_status = l.add(sizeof(Status));
  Staging& s = m.next();
  s.reserve(l.bytes);
  int64_t total = 0;
  for (size_t b = 0; b < n; ++b) {
    const int32_t t = trees[b];
    if (t < 0 || t >= this->trees()) throw std::invalid_argument("download: tree " + std::to_string(t) + " is out of range");
    s.host_at<int32_t>(at_trees)[b] = t;
    s.host_at<int32_t>(at_sizes)[b] = tree_size[t];
    s.host_at<int64_t>(at_offsets)[b] = total;
    total += tree_size[t];
  }
  const Packed packed(total);
  const size_t bytes = packed.bytes;
  if (total > 0) {
    grow(m.packed, m.packed_capacity, bytes, m.stream);
    if (bytes > m.packed_host_capacity) {
      RSTAR_CUDA(cudaStreamSynchronize(m.stream));
      if (m.packed_host) RSTAR_CUDA(cudaFreeHost(m.packed_host));
      m.packed_host = nullptr;
      m.packed_host_capacity = 0;
      RSTAR_CUDA(cudaMallocHost(&m.packed_host, bytes));
      m.packed_host_capacity = bytes;
    }
    RSTAR_CUDA(cudaMemcpyAsync(s.device, s.host, at_status, cudaMemcpyHostToDevice, m.stream));
    gather_kernel<<<unsigned(n), kBlock, 0, m.stream>>>(m.d, s.device_at<int32_t>(at_trees), s.device_at<int32_t>(at_sizes),
                                                        s.device_at<int64_t>(at_offsets), nodes_per_tree(),
                                                        packed.in(m.packed));
    RSTAR_LAUNCHED("gather_kernel");
    RSTAR_CUDA(cudaMemcpyAsync(m.packed_host, m.packed, bytes, cudaMemcpyDeviceToHost, m.stream));
  }
  const Status found = m.wait(s, at_status);
  if (total > 0) {
    const NodeArrays from = packed.in(m.packed_host);
    for (size_t b = 0; b < n; ++b) {
      const int32_t begin = root(trees[b]);
      const size_t size = size_t(tree_size[trees[b]]);
      const int64_t o = s.host_at<int64_t>(at_offsets)[b];
#define RSTAR_TAKE(type, name, js) std::memcpy(name + begin, from.name + o, size * sizeof(type));
      RSTAR_NODE_FIELDS(RSTAR_TAKE)
#undef RSTAR_TAKE
    }
  }
  m.raise_unwind(found);
}

void GpuArena::set_timing(bool on) {
  Impl& m = *impl_;
  if (on && !m.timing) {
    if (!m.origin) RSTAR_CUDA(cudaEventCreate(&m.origin));
    RSTAR_CUDA(cudaEventRecord(m.origin, m.stream));
    RSTAR_CUDA(cudaEventSynchronize(m.origin));
  }
  m.timing = on;
}

std::vector<KernelTime> GpuArena::take_times() {
  Impl& m = *impl_;
  std::vector<KernelTime> out;
  while (!m.timed.empty()) {
    const Impl::Timing t = m.timed.front();
    if (t.stopped) {
      const cudaError_t done = cudaEventQuery(t.stop);
      if (done == cudaErrorNotReady) break;
      RSTAR_CUDA(done);
      float start = 0, ms = 0;
      RSTAR_CUDA(cudaEventElapsedTime(&start, m.origin, t.start));
      RSTAR_CUDA(cudaEventElapsedTime(&ms, t.start, t.stop));
      out.push_back({t.op, start, ms});
    }
    m.timed.pop_front();
    m.spare_events.push_back(t.start);
    m.spare_events.push_back(t.stop);
  }
  return out;
}

void GpuArena::synchronize() {
  Impl& m = *impl_;
  Layout l;
  const size_t at_status = l.add(sizeof(Status));
  Staging& s = m.next();
  s.reserve(l.bytes);
  m.raise_unwind(m.wait(s, at_status));
}

}  // namespace rstar
