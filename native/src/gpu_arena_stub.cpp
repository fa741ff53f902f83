// GpuArena in a build without CUDA (nvcc absent, or -DRSTAR_CUDA=OFF, or node-gyp's
// binding.gyp): cuda_status() gives the reason and the constructor throws it, so callers
// need no build-dependent code.
#include <stdexcept>

#include "rstar/gpu_arena.hpp"

namespace rstar {

CudaStatus cuda_status() {
  CudaStatus s;
  s.reason = "this build has no CUDA kernels (built by node-gyp, or by CMake with no nvcc "
             "found or -DRSTAR_CUDA=OFF; rebuild with CMake and the CUDA toolkit)";
  return s;
}

DeviceFloats::DeviceFloats(size_t) { throw std::runtime_error("DeviceFloats: " + cuda_status().reason); }
DeviceFloats::~DeviceFloats() = default;
void DeviceFloats::upload(std::span<const float>, size_t) {}

struct GpuArena::Impl {};

GpuArena::GpuArena(int32_t, int32_t) { throw std::runtime_error("GpuArena: " + cuda_status().reason); }
GpuArena::~GpuArena() = default;

// Unreachable: no GpuArena can be constructed in this build.
int32_t GpuArena::trees() const { return 0; }
int32_t GpuArena::nodes_per_tree() const { return 1; }
void* GpuArena::stream() const { return nullptr; }
int32_t GpuArena::acquire() { return -1; }
void GpuArena::release(int32_t) {}
void GpuArena::select(std::span<const int32_t>, std::span<int32_t>, SelectMode, double) {}
void GpuArena::expand(std::span<const int32_t>, std::span<const int32_t>, std::span<const uint8_t>,
                      std::span<int32_t>) {}
void GpuArena::init_values(std::span<const int32_t>, std::span<const float>) {}
void GpuArena::backup(std::span<const int32_t>, std::span<const float>) {}
void GpuArena::unwind(std::span<const int32_t>) {}
void GpuArena::score_fused(std::span<const int32_t>, std::span<const float>, std::span<const float>, float,
                           std::span<float>) {}
void GpuArena::score_fused_device(std::span<const int32_t>, const float*, std::span<const float>, float,
                                  std::span<float>) {}
void GpuArena::read_flags(std::span<const int32_t>, std::span<uint8_t>) {}
void GpuArena::download(std::span<const int32_t>) {}
void GpuArena::synchronize() {}
void GpuArena::set_timing(bool) {}
std::vector<KernelTime> GpuArena::take_times() { return {}; }

}  // namespace rstar
