// The node layout, declared once. Every list of the per-node arrays (the CPU arena, the
// GPU arena's device arrays and host mirror, the addon's views) expands RSTAR_NODE_FIELDS,
// and the addon exports it (nodeLayout) so the TypeScript side checks its own list
// (tree.ts nodeArrays) against it at load: a field added here reaches every copy or fails
// loudly.
#pragma once

#include <cstdint>

// X(element type, C++ name, JavaScript name), in layout order.
#define RSTAR_NODE_FIELDS(X)                                                         \
  X(int32_t, parent, "parent")                                                       \
  X(int32_t, first_child, "firstChild")                                              \
  X(int32_t, child_count, "childCount")                                              \
  X(int32_t, depth, "depth")                                                         \
  X(int32_t, visits, "visits")             /* N */                                   \
  X(float, value_sum, "valueSum")          /* W */                                   \
  X(int32_t, virtual_loss, "virtualLoss")                                            \
  X(float, ppm_value, "ppmValue")          /* NaN until the PPM scores the node */   \
  X(uint8_t, flags, "flags")               /* Flag bits */                           \
  X(uint8_t, terminal, "terminal")         /* Terminal kind */

namespace rstar {

// One array per node field, indexed by node.
struct NodeArrays {
#define RSTAR_NODE_POINTER(type, name, js) type* name = nullptr;
  RSTAR_NODE_FIELDS(RSTAR_NODE_POINTER)
#undef RSTAR_NODE_POINTER
};

constexpr int kNodeFields = 0
#define RSTAR_NODE_COUNT(type, name, js) +1
    RSTAR_NODE_FIELDS(RSTAR_NODE_COUNT)
#undef RSTAR_NODE_COUNT
    ;

// One node's bytes over the node arrays. The addon exports it (constants.nodeBytes), so
// TypeScript sizes an arena from the same number before asking for one.
constexpr int64_t kNodeBytes = 0
#define RSTAR_NODE_BYTES(type, name, js) +int64_t(sizeof(type))
    RSTAR_NODE_FIELDS(RSTAR_NODE_BYTES)
#undef RSTAR_NODE_BYTES
    ;

}  // namespace rstar
