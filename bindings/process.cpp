// Process-level helpers the CLI needs and Node does not have: malloc settings applied in
// place (so the CLI never starts itself again as a child that could outlive a kill -9), and
// an advisory lock on an output directory that the kernel releases when its holder dies.
// Argument checks live in JavaScript (src/util/process.ts).
#include "process.hpp"

#include <sys/file.h>

#include <cerrno>
#include <climits>
#include <cstring>
#include <string>

#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace {

// glibc returns large freed blocks to the kernel and maps them again on the next
// allocation; a search allocates large tensors at every decode step, so each step
// page-faulted them in afresh (100% system time with 32 problems in flight). No mmap for
// large blocks, no trimming: the same as GLIBC_TUNABLES=glibc.malloc.mmap_max=0:
// glibc.malloc.trim_threshold=..., which glibc reads only at process start.
Napi::Value TuneMalloc(const Napi::CallbackInfo& info) {
#if defined(__GLIBC__)
  const bool ok = mallopt(M_MMAP_MAX, 0) == 1 && mallopt(M_TRIM_THRESHOLD, INT_MAX) == 1;
  return Napi::Boolean::New(info.Env(), ok);
#else
  return Napi::Boolean::New(info.Env(), false);
#endif
}

// flock(fd, LOCK_EX | LOCK_NB): true when taken, false when another open file holds it.
Napi::Value LockFile(const Napi::CallbackInfo& info) {
  const int fd = info[0].As<Napi::Number>().Int32Value();
  if (flock(fd, LOCK_EX | LOCK_NB) == 0) return Napi::Boolean::New(info.Env(), true);
  if (errno == EWOULDBLOCK) return Napi::Boolean::New(info.Env(), false);
  throw Napi::Error::New(info.Env(), std::string("flock: ") + std::strerror(errno));
}

}  // namespace

void RegisterProcess(Napi::Env env, Napi::Object exports) {
  exports.Set("tuneMalloc", Napi::Function::New<TuneMalloc>(env, "tuneMalloc"));
  exports.Set("lockFile", Napi::Function::New<LockFile>(env, "lockFile"));
}
