// CPU vs GPU tree operations on the same trees in one run (no Node needed):
//
//   kernel_bench [--trees 1024,16384,65536] [--warmup 16] [--repeats 7] [--n 8]
//                [--hidden 1536] [--rows-per-tree 4] [--cpu-only | --profile]
//
// For each batch size, both arenas get the same trees and the same rollouts: select from
// every root, expand each leaf with n children (kinds from a hash), score the children
// with the fused PPM step (a 64-wide head here), back up a value from the leaf and unwind.
// --warmup rollouts grow the trees untimed; each of --repeats more is timed phase by
// phase and the median is reported. Then the fused step alone: rows-per-tree children
// of every root scored with a head of --hidden floats.
//
// CPU: one thread, std::chrono around each call. GPU: CUDA events on the arena's stream
// around each call, so host-side batch preparation and transfers are included; hidden
// states stay in device memory (as a model on the GPU leaves them). Ratios are CPU / GPU.
// At the end the GPU trees are downloaded and compared with the CPU trees.
//
// --profile runs the GPU arena alone (no CPU arena, no comparison), for a profiler to
// target by the core's NVTX range names (include/rstar/nvtx.hpp), e.g.
//   ncu --nvtx --nvtx-include "rstar/gpu/select/" kernel_bench --profile --trees 65536
//   nsys profile -t cuda,nvtx kernel_bench --profile
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "rstar/arena.hpp"
#include "rstar/gpu_arena.hpp"

#if RSTAR_BENCH_CUDA
#include <cuda_runtime.h>
#endif

namespace {

using rstar::Arena;
using rstar::GpuArena;

struct Options {
  std::vector<int32_t> trees{1024, 16384, 65536};
  int warmup = 16;
  int repeats = 7;
  int32_t n = 8;
  int32_t hidden = 1536;
  int32_t rows_per_tree = 4;
  bool cpu_only = false;
  bool profile = false;  // the GPU arena alone
};

[[noreturn]] void usage(const std::string& why) {
  std::fprintf(stderr, "kernel_bench: %s\nusage: kernel_bench [--trees A,B,..] [--warmup N] [--repeats N] [--n N] "
               "[--hidden H] [--rows-per-tree R] [--cpu-only | --profile]\n", why.c_str());
  std::exit(2);
}

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(arg + " needs a value");
      return argv[++i];
    };
    const auto positive = [&](const std::string& v) {
      const long x = std::strtol(v.c_str(), nullptr, 10);
      if (x < 1) usage(arg + " must be a positive integer, not '" + v + "'");
      return int32_t(x);
    };
    if (arg == "--trees") {
      o.trees.clear();
      const std::string v = value();
      for (size_t at = 0; at <= v.size();) {
        const size_t comma = std::min(v.find(',', at), v.size());
        o.trees.push_back(positive(v.substr(at, comma - at)));
        at = comma + 1;
      }
    } else if (arg == "--warmup") o.warmup = positive(value());
    else if (arg == "--repeats") o.repeats = positive(value());
    else if (arg == "--n") o.n = positive(value());
    else if (arg == "--hidden") o.hidden = positive(value());
    else if (arg == "--rows-per-tree") o.rows_per_tree = positive(value());
    else if (arg == "--cpu-only") o.cpu_only = true;
    else if (arg == "--profile") o.profile = true;
    else usage("unknown argument " + arg);
  }
  if (o.cpu_only && o.profile) usage("--profile runs the GPU alone: it cannot go with --cpu-only");
  if (o.rows_per_tree > o.n) usage("--rows-per-tree must be at most --n (the root's children are scored)");
  return o;
}

uint32_t mix(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}
float unit(uint32_t h) { return float(h >> 8) * (2.0f / 16777216.0f) - 1.0f; }  // [-1, 1)

uint8_t kind_of(int32_t leaf, int32_t j) {
  const uint32_t p = mix(uint32_t(leaf) * 31u + uint32_t(j)) % 100;
  if (p < 75) return rstar::kNotTerminal;
  if (p < 87) return rstar::kAnswer;
  if (p < 93) return rstar::kCodeErrors;
  if (p < 97) return rstar::kTooDeep;
  return rstar::kInvalid;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

std::string cpu_name() {
  std::ifstream in("/proc/cpuinfo");
  for (std::string line; std::getline(in, line);)
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown CPU";
}

double cpu_ms(const std::function<void()>& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

#if RSTAR_BENCH_CUDA
void check(cudaError_t e, const char* what) {
  if (e != cudaSuccess) {
    std::fprintf(stderr, "kernel_bench: %s: %s\n", what, cudaGetErrorString(e));
    std::exit(1);
  }
}

// Device time of f's work on the arena's stream, host preparation included.
struct Events {
  cudaEvent_t start{}, stop{};
  Events() {
    check(cudaEventCreate(&start), "cudaEventCreate");
    check(cudaEventCreate(&stop), "cudaEventCreate");
  }
  ~Events() {
    cudaEventDestroy(start);
    cudaEventDestroy(stop);
  }
  double time(GpuArena& g, const std::function<void()>& f) {
    const auto s = static_cast<cudaStream_t>(g.stream());
    check(cudaEventRecord(start, s), "cudaEventRecord");
    f();
    check(cudaEventRecord(stop, s), "cudaEventRecord");
    check(cudaEventSynchronize(stop), "cudaEventSynchronize");
    float ms = 0;
    check(cudaEventElapsedTime(&ms, start, stop), "cudaEventElapsedTime");
    return ms;
  }
};

struct DeviceFloats {
  float* p = nullptr;
  explicit DeviceFloats(const std::vector<float>& host) {
    check(cudaMalloc(&p, std::max<size_t>(host.size(), 1) * sizeof(float)), "cudaMalloc");
    check(cudaMemcpy(p, host.data(), host.size() * sizeof(float), cudaMemcpyHostToDevice), "cudaMemcpy");
    // A pageable copy may return before the data lands, and the arena's stream does not
    // wait for the default stream.
    check(cudaDeviceSynchronize(), "cudaDeviceSynchronize");
  }
  ~DeviceFloats() { cudaFree(p); }
};
#endif

struct Phases {
  std::vector<double> select, expand, score, backup;  // backup includes unwind
};

struct Row {
  int32_t trees;
  std::string phase;
  double cpu, gpu;  // ms; gpu < 0 when not measured
  std::string note;
};

// One rollout per tree on both arenas, each phase timed when times is given.
struct Rollouts {
  const Options& o;
  int32_t trees;
  std::vector<int32_t> roots, leaves, gpu_leaves, open, counts, first, children;
  std::vector<uint8_t> kinds;
  std::vector<float> small_head, small_hidden, values;
  static constexpr int32_t kSmallHead = 64;

  Rollouts(const Options& options, int32_t t) : o(options), trees(t) {
    for (int32_t i = 0; i < trees; ++i) roots.push_back(i * nodes_per_tree());
    small_head.resize(kSmallHead);
    for (int32_t i = 0; i < kSmallHead; ++i) small_head[size_t(i)] = unit(mix(uint32_t(i) + 99u)) / 4;
    small_hidden.resize(size_t(trees) * size_t(o.n) * kSmallHead);
    for (size_t i = 0; i < small_hidden.size(); ++i) small_hidden[i] = unit(mix(uint32_t(i)));
  }
  int32_t nodes_per_tree() const { return 1 + (o.warmup + o.repeats + 1) * o.n; }

  void plan_expansion() {
    open.clear();
    counts.clear();
    kinds.clear();
    for (int32_t leaf : leaves) {
      if (leaf < 0) continue;
      open.push_back(leaf);
      counts.push_back(o.n);
      for (int32_t j = 0; j < o.n; ++j) kinds.push_back(kind_of(leaf, j));
    }
    first.resize(open.size());
    values.resize(open.size());
    for (size_t i = 0; i < open.size(); ++i) values[i] = unit(mix(uint32_t(open[i]) ^ 0x5bd1e995u));
  }
  void list_children() {
    children.clear();
    for (int32_t f : first)
      for (int32_t j = 0; j < o.n; ++j) children.push_back(f + j);
  }
};

}  // namespace

int main(int argc, char** argv) {
  const Options o = parse(argc, argv);
  const rstar::CudaStatus status = rstar::cuda_status();
  bool gpu = status.usable && !o.cpu_only;
#if !RSTAR_BENCH_CUDA
  gpu = false;
#endif
  if (o.profile && !gpu) {
    std::fprintf(stderr, "kernel_bench: --profile needs a usable GPU and a CUDA build (%s)\n", status.reason.c_str());
    return 2;
  }
  const bool cpu_side = !o.profile;
  std::printf("rstar kernel_bench\n  CPU: %s (one thread)\n  GPU: %s\n\n", cpu_name().c_str(),
              gpu ? status.device.c_str() : (o.cpu_only ? "not used (--cpu-only)" : ("none: " + status.reason).c_str()));
  std::vector<Row> rows;
  bool identical = true;
  long compared = 0;

  for (const int32_t trees : o.trees) {
    Rollouts r(o, trees);
    Arena cpu(trees, r.nodes_per_tree());
    std::unique_ptr<GpuArena> dev;
    if (gpu) dev = std::make_unique<GpuArena>(trees, r.nodes_per_tree());
    for (int32_t t = 0; t < trees; ++t) {
      cpu.acquire();
      if (dev) dev->acquire();
    }
#if RSTAR_BENCH_CUDA
    std::unique_ptr<Events> events;
    std::unique_ptr<DeviceFloats> small_hidden;
    if (dev) {
      events = std::make_unique<Events>();
      small_hidden = std::make_unique<DeviceFloats>(r.small_hidden);
    }
#endif
    Phases pc, pg;
    for (int it = 0; it < o.warmup + o.repeats; ++it) {
      const bool timed = it >= o.warmup;
      const auto on_cpu = [&](std::vector<double>& into, const std::function<void()>& f) {
        if (!cpu_side) return;
        const double ms = cpu_ms(f);
        if (timed) into.push_back(ms);
      };
      [[maybe_unused]] const auto on_gpu = [&](std::vector<double>& into, const std::function<void()>& f) {
#if RSTAR_BENCH_CUDA
        const double ms = events->time(*dev, f);
        if (timed) into.push_back(ms);
#endif
      };
      r.leaves.assign(size_t(trees), 0);
      on_cpu(pc.select, [&] { cpu.select(r.roots, r.leaves, rstar::SelectMode::kRstar, 2.0); });
      if (dev) {
        r.gpu_leaves.assign(size_t(trees), 0);
        on_gpu(pg.select, [&] { dev->select(r.roots, r.gpu_leaves, rstar::SelectMode::kRstar, 2.0); });
        if (!cpu_side) r.leaves = r.gpu_leaves;  // the GPU's leaves drive the expansion
        else if (r.gpu_leaves != r.leaves) identical = false;
      }
      r.plan_expansion();
      on_cpu(pc.expand, [&] { cpu.expand(r.open, r.counts, r.kinds, r.first); });
      if (dev) on_gpu(pg.expand, [&] { dev->expand(r.open, r.counts, r.kinds, r.first); });
      r.list_children();
      const size_t hidden_floats = r.children.size() * Rollouts::kSmallHead;
      on_cpu(pc.score, [&] {
        cpu.score_fused(r.children, {r.small_hidden.data(), hidden_floats}, r.small_head, 0.1f, {});
      });
#if RSTAR_BENCH_CUDA
      if (dev) on_gpu(pg.score, [&] { dev->score_fused_device(r.children, small_hidden->p, r.small_head, 0.1f, {}); });
#endif
      on_cpu(pc.backup, [&] {
        cpu.backup(r.open, r.values);
        cpu.unwind(r.open);
      });
      if (dev) {
        on_gpu(pg.backup, [&] {
          dev->backup(r.open, r.values);
          dev->unwind(r.open);
        });
      }
    }
    const auto add = [&](const std::string& phase, const std::vector<double>& c, const std::vector<double>& g,
                         const std::string& note) {
      rows.push_back({trees, phase, median(c), g.empty() ? -1.0 : median(g), note});
    };
    std::vector<double> sb_cpu, sb_gpu;
    for (size_t i = 0; i < pc.select.size(); ++i) sb_cpu.push_back(pc.select[i] + pc.backup[i]);
    for (size_t i = 0; i < pg.select.size(); ++i) sb_gpu.push_back(pg.select[i] + pg.backup[i]);
    add("select+backup", sb_cpu, sb_gpu, "select, backup and unwind of one rollout per tree");
    add("expand", pc.expand, pg.expand, std::to_string(o.n) + " children per leaf");
    add("fused score, head 64", pc.score, pg.score, "all new children, first visits and terminal backups");

    // The fused step alone, with a real head width: rows_per_tree children of each root.
    std::vector<int32_t> nodes;
    std::vector<int32_t> all(static_cast<size_t>(trees));
    for (int32_t t = 0; t < trees; ++t) all[size_t(t)] = t;
    if (!cpu_side) dev->download(all);  // the roots' children, from the GPU's trees
    const int32_t* first_child = cpu_side ? cpu.first_child : dev->first_child;
    for (int32_t t = 0; t < trees; ++t)
      for (int32_t j = 0; j < o.rows_per_tree; ++j) nodes.push_back(first_child[cpu.root(t)] + j);
    std::vector<float> head(size_t(o.hidden)), hidden(nodes.size() * size_t(o.hidden));
    for (size_t i = 0; i < head.size(); ++i) head[i] = unit(mix(uint32_t(i) * 7u + 1u)) / 8;
    for (size_t i = 0; i < hidden.size(); ++i) hidden[i] = unit(mix(uint32_t(i) + 12345u));
    std::vector<double> fc, fg;
    for (int it = 0; cpu_side && it < 2 + o.repeats; ++it) {
      const double c = cpu_ms([&] { cpu.score_fused(nodes, hidden, head, 0.0f, {}); });
      if (it >= 2) fc.push_back(c);
    }
#if RSTAR_BENCH_CUDA
    if (dev) {
      DeviceFloats device_hidden(hidden);
      for (int it = 0; it < 2 + o.repeats; ++it) {
        const double g = events->time(*dev, [&] { dev->score_fused_device(nodes, device_hidden.p, head, 0.0f, {}); });
        if (it >= 2) fg.push_back(g);
      }
    }
#endif
    const double gb = double(hidden.size()) * 4 / 1e9;
    std::string note = std::to_string(nodes.size()) + " rows, " + std::to_string(int(gb * 1000)) + " MB of hidden states";
    if (!fg.empty()) note += ", GPU " + std::to_string(int(gb / (median(fg) / 1000))) + " GB/s";
    add("fused score, head " + std::to_string(o.hidden), fc, fg, note);

    if (dev && cpu_side) {
      dev->download(all);
      for (int32_t t = 0; t < trees; ++t) {
        for (int32_t x = cpu.root(t); x < cpu.root(t) + cpu.tree_size[t]; ++x, ++compared) {
          // Floats as the parity test takes them: tanh's last bit may differ (see ppm_score).
          const auto near = [](float p, float q) {
            return (std::isnan(p) && std::isnan(q)) || std::fabs(p - q) <= 1e-5f * std::max(1.0f, std::fabs(p));
          };
          const bool same = cpu.parent[x] == dev->parent[x] && cpu.visits[x] == dev->visits[x] &&
                            cpu.virtual_loss[x] == dev->virtual_loss[x] && cpu.flags[x] == dev->flags[x] &&
                            cpu.terminal[x] == dev->terminal[x] && near(cpu.value_sum[x], dev->value_sum[x]) &&
                            near(cpu.ppm_value[x], dev->ppm_value[x]);
          if (!same) identical = false;
        }
        if (cpu.tree_size[t] != dev->tree_size[t]) identical = false;
      }
    }
    std::fflush(stdout);
  }

  std::printf("\n%-8s %-24s %10s %10s %9s  %s\n", "trees", "phase", "CPU ms", "GPU ms", "CPU/GPU", "what");
  for (const Row& row : rows) {
    char gpu_ms[32] = "-", ratio[32] = "-";
    if (row.gpu >= 0) {
      std::snprintf(gpu_ms, sizeof gpu_ms, "%.3f", row.gpu);
      std::snprintf(ratio, sizeof ratio, "%.1fx", row.cpu / row.gpu);
    }
    std::printf("%-8d %-24s %10.3f %10s %9s  %s\n", row.trees, row.phase.c_str(), row.cpu, gpu_ms, ratio,
                row.note.c_str());
  }
  for (const Row& row : rows) {
    if (row.phase != "select+backup") continue;
    std::printf("select+backup rollouts/s at %d trees: CPU %.0f", row.trees, row.trees / (row.cpu / 1000));
    if (row.gpu >= 0) std::printf(", GPU %.0f", row.trees / (row.gpu / 1000));
    std::printf("\n");
  }
  if (gpu && cpu_side) {
    std::printf("parity: %s (%ld nodes compared after the run)\n",
                identical ? "GPU trees identical to CPU trees" : "GPU TREES DIFFER FROM CPU TREES", compared);
  }
  return identical ? 0 : 1;
}
