# Fallback build of the same addon with node-gyp, CPU only (no CUDA, no ctest):
#   npx node-gyp rebuild --nodedir=/usr        (offline; see README.md)
# package.json says "gypfile": false so that `npm ci` builds with cmake-js instead.
{
  "targets": [
    {
      # the model kernels: FMA contraction and reassociation on (native/CMakeLists.txt says why)
      "target_name": "rstar_decoder",
      "type": "static_library",
      "sources": ["native/src/decoder.cpp"],
      "include_dirs": ["native/include"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": ["-std=c++20", "-fexceptions", "-fPIC", "-O3", "-ffp-contract=fast", "-fassociative-math", "-fno-signed-zeros", "-fno-trapping-math"]
    },
    {
      "target_name": "rstar",
      "dependencies": ["rstar_decoder"],
      "sources": ["bindings/addon.cpp", "bindings/process.cpp", "native/src/arena.cpp", "native/src/slots.cpp", "native/src/gpu_arena_stub.cpp"],
      "include_dirs": ["native/include", "<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": ["-std=c++20", "-fexceptions", "-ffp-contract=off", "-O3"]
    }
  ]
}
