// Named ranges around the core's batch operations for Nsight Systems and Nsight Compute
// (`nsys profile`, `ncu --nvtx --nvtx-include "rstar/gpu/select/"`): NVTX v3, header-only,
// from the CUDA toolkit. Built in when the CUDA kernels are (RSTAR_NVTX); without a tool
// attached a range costs a branch. Elsewhere, nothing.
#pragma once

#if defined(RSTAR_NVTX)
#include <nvtx3/nvToolsExt.h>
#endif

namespace rstar {

class NvtxRange {
 public:
#if defined(RSTAR_NVTX)
  explicit NvtxRange(const char* name) { nvtxRangePushA(name); }
  ~NvtxRange() { nvtxRangePop(); }
#else
  explicit NvtxRange(const char*) {}
#endif
  NvtxRange(const NvtxRange&) = delete;
  NvtxRange& operator=(const NvtxRange&) = delete;
};

}  // namespace rstar
