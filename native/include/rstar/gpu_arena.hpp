// The tree arena resident on a CUDA device: the same operations with the same results as
// rstar::Arena (arena.hpp), batched over many trees, for engines whose policy and PPM run
// on the GPU. Node state lives in device memory (plain cudaMalloc); the host keeps only
// the allocation bookkeeping (Slots: which trees are in use, their sizes), which is why a
// batch can be checked and its children placed without asking the device.
//
// Results match the CPU arena exactly, float sums included: every operation processes
// the entries of one tree in batch order (a warp or a thread per tree), so each node sees
// the same additions in the same order, and UCT uses the host's log table and IEEE
// round-to-nearest operations without contraction. Different trees run in parallel, so
// no atomics are needed: one tree's rollouts are ordered, as the CPU orders them.
// (UCT's log(N) comes from a table for N < 65536 and from the device's log above that,
// which may differ from the C library's in the last bit.)
//
// Calls that return results to the host (select, expand, download, score_fused with
// scores) wait for the device; init_values, backup, unwind and score_fused without scores
// only enqueue work. unwind's logic_error (a node without virtual loss: an engine bug, never
// bad input) is found on the device and raised by the next call that waits, after that
// call has finished its own work; unlike the CPU, other trees of the batch are still
// unwound, and when several unwinds failed before that wait, the node named is the one at
// the lowest batch index among them. Runs on device 0 (CUDA_VISIBLE_DEVICES picks which
// card that is).
//
// Built without CUDA (nvcc absent, or -DRSTAR_CUDA=OFF), cuda_status() says so and the
// constructor throws.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "rstar/arena.hpp"

namespace rstar {

struct CudaStatus {
  bool usable = false;
  std::string reason;  // why not, when not usable
  std::string device;  // e.g. "NVIDIA H100 80GB HBM3 (sm_90, 132 SMs)" when usable
};

// Whether this build has CUDA and device 0 can run its kernels. Cheap (a driver query and
// a kernel-image lookup), and safe on machines without a driver.
CudaStatus cuda_status();

// Floats in device memory (plain cudaMalloc): hidden states for score_fused_device when the
// caller holds none of its own (the tests, from JavaScript). A model run on the GPU (ONNX
// Runtime's CUDA provider with I/O binding) hands its output tensor's device pointer instead.
class DeviceFloats {
 public:
  // Throws std::runtime_error with cuda_status()'s reason when no device is usable.
  explicit DeviceFloats(size_t count);
  ~DeviceFloats();
  DeviceFloats(const DeviceFloats&) = delete;
  DeviceFloats& operator=(const DeviceFloats&) = delete;

  // Copies values to [offset, offset + values.size()); returns when they are on the device.
  void upload(std::span<const float> values, size_t offset = 0);
  const float* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  float* data_ = nullptr;
  size_t size_ = 0;
};

// One operation's device work, timed with CUDA events (GpuArena::set_timing).
struct KernelTime {
  const char* op;   // the operation's NVTX range name, e.g. "rstar/gpu/select"
  double start_ms;  // after set_timing(true) returned
  double ms;
};

class GpuArena : public NodeArrays {
 public:
  // Throws std::runtime_error with cuda_status()'s reason when no device is usable.
  GpuArena(int32_t trees, int32_t nodes_per_tree);
  ~GpuArena();
  GpuArena(const GpuArena&) = delete;
  GpuArena& operator=(const GpuArena&) = delete;

  int32_t trees() const;
  int32_t nodes_per_tree() const;
  int64_t capacity() const { return int64_t(trees()) * nodes_per_tree(); }
  int32_t root(int32_t tree) const { return tree * nodes_per_tree(); }

  // As in Arena; the device side of a tree is set up or cleared with the next operation.
  int32_t acquire();
  void release(int32_t tree);

  void select(std::span<const int32_t> starts, std::span<int32_t> leaves, SelectMode mode,
              double c);
  void expand(std::span<const int32_t> leaves, std::span<const int32_t> counts,
              std::span<const uint8_t> kinds, std::span<int32_t> first_child);
  void init_values(std::span<const int32_t> nodes, std::span<const float> values);
  void backup(std::span<const int32_t> nodes, std::span<const float> values);
  void unwind(std::span<const int32_t> nodes);
  // One launch: scores, PPM values, first visits and terminal backups. scores may be
  // empty (nothing comes back, nothing waits).
  void score_fused(std::span<const int32_t> nodes, std::span<const float> hidden,
                   std::span<const float> weight, float bias, std::span<float> scores);
  // The same with the hidden states already in device memory ([nodes.size(), hidden]
  // floats, row-major): a model's output tensor, never copied through the host. The work
  // that wrote them must be complete, or enqueued on stream() before this call.
  void score_fused_device(std::span<const int32_t> nodes, const float* device_hidden,
                          std::span<const float> weight, float bias, std::span<float> scores);

  // As Arena::read_flags, from the device: one transfer of a byte per node, so that a
  // scheduler learns what it needs between operations without downloading whole trees.
  // Waits.
  void read_flags(std::span<const int32_t> nodes, std::span<uint8_t> flags);

  // Copies the given trees' nodes from the device into the host mirror (the inherited
  // NodeArrays; one transfer for all of them), so they can be read as an Arena's are.
  void download(std::span<const int32_t> trees);
  // Waits for all enqueued work; raises a pending unwind error.
  void synchronize();
  // While on, each operation's device work is timed with a pair of CUDA events (for traces;
  // off by default, as recording them costs a little on every call). Turning it on waits for
  // the device: start_ms counts from then.
  void set_timing(bool on);
  // The timed operations the device has finished since the last call, in call order.
  std::vector<KernelTime> take_times();
  // The cudaStream_t all work is enqueued on, for timing with events.
  void* stream() const;

  // Per tree, and always current; the host mirror (capacity() entries each) is current
  // for the trees last download()ed.
  int32_t* tree_size;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rstar
