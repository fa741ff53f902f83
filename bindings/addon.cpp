// The N-API surface of the native core: thin and synchronous. Every batch argument is a
// typed array read in place, and the arena's own arrays are handed to JavaScript as
// external ArrayBuffers, so nothing is copied either way. No search logic lives here.
#include <napi.h>

#include <cstdint>
#include <exception>
#include <new>
#include <memory>
#include <span>
#include <string>
#include <type_traits>

#include <vector>

#include "rstar/arena.hpp"
#include "rstar/decoder.hpp"
#include "rstar/gpu_arena.hpp"
#include "rstar/node_layout.hpp"
#include "process.hpp"

namespace {

using rstar::Arena;
using rstar::GpuArena;

template <typename T>
constexpr napi_typedarray_type kArrayType = napi_int32_array;
template <>
constexpr napi_typedarray_type kArrayType<float> = napi_float32_array;
template <>
constexpr napi_typedarray_type kArrayType<uint8_t> = napi_uint8_array;
template <>
constexpr napi_typedarray_type kArrayType<uint16_t> = napi_uint16_array;

template <typename T>
const char* type_name() {
  if constexpr (std::is_same_v<T, float>) return "Float32Array";
  else if constexpr (std::is_same_v<T, uint8_t>) return "Uint8Array";
  else if constexpr (std::is_same_v<T, int32_t>) return "Int32Array";
  else if constexpr (std::is_same_v<T, uint16_t>) return "Uint16Array";
  else static_assert(sizeof(T) == 0, "a node field type JavaScript has no view for");
}

template <typename T>
std::span<T> span_of(const Napi::CallbackInfo& info, size_t i, const char* name) {
  const Napi::Value v = info[i];
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != kArrayType<T>)
    throw Napi::TypeError::New(info.Env(), std::string(name) + " must be an " + type_name<T>());
  auto array = v.As<Napi::TypedArrayOf<T>>();
  return {array.Data(), array.ElementLength()};
}

int32_t int_of(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a number");
  return info[i].As<Napi::Number>().Int32Value();
}

double number_of(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a number");
  return info[i].As<Napi::Number>().DoubleValue();
}

// A device address from JavaScript: a BigInt (what DeviceFloats.pointer gives), non-zero,
// aligned for floats. Whether it is device memory of the right size is the caller's word.
const float* device_pointer(const Napi::CallbackInfo& info, size_t i, const char* name) {
  if (!info[i].IsBigInt()) throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a device address (a BigInt)");
  bool lossless = false;
  const uint64_t address = info[i].As<Napi::BigInt>().Uint64Value(&lossless);
  if (!lossless || address == 0 || address % alignof(float) != 0)
    throw Napi::RangeError::New(info.Env(), std::string(name) + " is not a usable device address (zero, negative, past 64 bits or unaligned)");
  return reinterpret_cast<const float*>(static_cast<uintptr_t>(address));
}

// Runs one core call, turning the core's std exceptions into JavaScript errors.
template <typename F>
auto guard(Napi::Env env, F&& f) -> decltype(f()) {
  try {
    return f();
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

// One wrapper for both arenas: the GPU arena adds scoreFusedDevice(), download() and synchronize(), and its
// arrays() are the host mirror that download() fills.
template <typename A>
class ArenaWrap : public Napi::ObjectWrap<ArenaWrap<A>> {
  using Base = Napi::ObjectWrap<ArenaWrap<A>>;
  static constexpr bool kGpu = std::is_same_v<A, GpuArena>;

 public:
  static Napi::Function Define(Napi::Env env, const char* name) {
    std::vector<typename Base::PropertyDescriptor> methods = {
        Base::template InstanceMethod<&ArenaWrap::Acquire>("acquire"),
        Base::template InstanceMethod<&ArenaWrap::Release>("release"),
        Base::template InstanceMethod<&ArenaWrap::Select>("select"),
        Base::template InstanceMethod<&ArenaWrap::Expand>("expand"),
        Base::template InstanceMethod<&ArenaWrap::InitValues>("initValues"),
        Base::template InstanceMethod<&ArenaWrap::Backup>("backup"),
        Base::template InstanceMethod<&ArenaWrap::Unwind>("unwind"),
        Base::template InstanceMethod<&ArenaWrap::ScoreFused>("scoreFused"),
        Base::template InstanceMethod<&ArenaWrap::ReadFlags>("readFlags"),
        Base::template InstanceMethod<&ArenaWrap::Arrays>("arrays"),
    };
    if constexpr (kGpu) {
      methods.push_back(Base::template InstanceMethod<&ArenaWrap::ScoreFusedDevice>("scoreFusedDevice"));
      methods.push_back(Base::template InstanceMethod<&ArenaWrap::Download>("download"));
      methods.push_back(Base::template InstanceMethod<&ArenaWrap::Synchronize>("synchronize"));
      methods.push_back(Base::template InstanceMethod<&ArenaWrap::SetTiming>("setTiming"));
      methods.push_back(Base::template InstanceMethod<&ArenaWrap::TakeTimes>("takeTimes"));
    }
    return Base::DefineClass(env, name, methods);
  }

  explicit ArenaWrap(const Napi::CallbackInfo& info) : Base(info) {
    const int32_t trees = int_of(info, 0, "trees");
    const int32_t nodes_per_tree = int_of(info, 1, "nodesPerTree");
    arena_ = guard(info.Env(), [&] {
      try {
        return std::make_shared<A>(trees, nodes_per_tree);
      } catch (const std::bad_alloc&) {
        // The host arrays (the GPU arena's mirror has the same layout).
        throw Napi::RangeError::New(info.Env(), "Arena: cannot allocate " + std::to_string(Arena::bytes(trees, nodes_per_tree)) +
                                                    " bytes (" + std::to_string(trees) + " trees × " + std::to_string(nodes_per_tree) +
                                                    " nodes per tree × " + std::to_string(rstar::kNodeBytes) + " bytes per node)");
      }
    });
  }

 private:
  Napi::Value Acquire(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), guard(info.Env(), [&] { return arena_->acquire(); }));
  }

  void Release(const Napi::CallbackInfo& info) {
    const int32_t tree = int_of(info, 0, "tree");
    guard(info.Env(), [&] { arena_->release(tree); });
  }

  void Select(const Napi::CallbackInfo& info) {
    auto starts = span_of<int32_t>(info, 0, "starts");
    auto leaves = span_of<int32_t>(info, 1, "leaves");
    const int32_t mode = int_of(info, 2, "mode");
    if (mode != 0 && mode != 1) throw Napi::RangeError::New(info.Env(), "mode must be 0 (rstar) or 1 (classic)");
    const double c = number_of(info, 3, "c");
    guard(info.Env(), [&] { arena_->select(starts, leaves, rstar::SelectMode(mode), c); });
  }

  void Expand(const Napi::CallbackInfo& info) {
    auto leaves = span_of<int32_t>(info, 0, "leaves");
    auto counts = span_of<int32_t>(info, 1, "counts");
    auto kinds = span_of<uint8_t>(info, 2, "kinds");
    auto first = span_of<int32_t>(info, 3, "firstChild");
    guard(info.Env(), [&] { arena_->expand(leaves, counts, kinds, first); });
  }

  void InitValues(const Napi::CallbackInfo& info) {
    auto nodes = span_of<int32_t>(info, 0, "nodes");
    auto values = span_of<float>(info, 1, "values");
    guard(info.Env(), [&] { arena_->init_values(nodes, values); });
  }

  void Backup(const Napi::CallbackInfo& info) {
    auto nodes = span_of<int32_t>(info, 0, "nodes");
    auto values = span_of<float>(info, 1, "values");
    guard(info.Env(), [&] { arena_->backup(nodes, values); });
  }

  void Unwind(const Napi::CallbackInfo& info) {
    auto nodes = span_of<int32_t>(info, 0, "nodes");
    guard(info.Env(), [&] { arena_->unwind(nodes); });
  }

  // scoreFused(nodes, hidden, weight, bias, scores)
  void ScoreFused(const Napi::CallbackInfo& info) {
    auto nodes = span_of<int32_t>(info, 0, "nodes");
    auto hidden = span_of<float>(info, 1, "hidden");
    auto weight = span_of<float>(info, 2, "weight");
    const float bias = float(number_of(info, 3, "bias"));
    auto scores = span_of<float>(info, 4, "scores");
    guard(info.Env(), [&] { arena_->score_fused(nodes, hidden, weight, bias, scores); });
  }

  void ReadFlags(const Napi::CallbackInfo& info) {
    auto nodes = span_of<int32_t>(info, 0, "nodes");
    auto flags = span_of<uint8_t>(info, 1, "flags");
    guard(info.Env(), [&] { arena_->read_flags(nodes, flags); });
  }

  // scoreFusedDevice(nodes, hidden, weight, bias, scores): hidden a device address (BigInt)
  // of nodes.length rows of weight.length floats, e.g. DeviceFloats.pointer
  void ScoreFusedDevice(const Napi::CallbackInfo& info) {
    if constexpr (kGpu) {
      auto nodes = span_of<int32_t>(info, 0, "nodes");
      const float* hidden = device_pointer(info, 1, "hidden");
      auto weight = span_of<float>(info, 2, "weight");
      const float bias = float(number_of(info, 3, "bias"));
      auto scores = span_of<float>(info, 4, "scores");
      guard(info.Env(), [&] { arena_->score_fused_device(nodes, hidden, weight, bias, scores); });
    }
  }

  void Download(const Napi::CallbackInfo& info) {
    if constexpr (kGpu) {
      auto trees = span_of<int32_t>(info, 0, "trees");
      guard(info.Env(), [&] { arena_->download(trees); });
    }
  }

  void Synchronize(const Napi::CallbackInfo& info) {
    if constexpr (kGpu) guard(info.Env(), [&] { arena_->synchronize(); });
  }

  void SetTiming(const Napi::CallbackInfo& info) {
    if constexpr (kGpu) {
      if (!info[0].IsBoolean()) throw Napi::TypeError::New(info.Env(), "on must be a boolean");
      const bool on = info[0].As<Napi::Boolean>().Value();
      guard(info.Env(), [&] { arena_->set_timing(on); });
    }
  }

  // [{op, startMs, ms}] of the timed operations the device has finished
  Napi::Value TakeTimes(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Array out = Napi::Array::New(env);
    if constexpr (kGpu) {
      const std::vector<rstar::KernelTime> times = guard(env, [&] { return arena_->take_times(); });
      for (size_t i = 0; i < times.size(); ++i) {
        Napi::Object t = Napi::Object::New(env);
        t.Set("op", Napi::String::New(env, times[i].op));
        t.Set("startMs", Napi::Number::New(env, times[i].start_ms));
        t.Set("ms", Napi::Number::New(env, times[i].ms));
        out.Set(uint32_t(i), t);
      }
    }
    return out;
  }

  // Views over the arena's (host) memory. Each buffer holds a reference to the arena, so
  // the memory outlives every view of it. napi is called directly: when Node refuses a
  // buffer (Node 20: one over 4 GiB) it has already run the finalizer, and node-addon-api's
  // ArrayBuffer::New then deleted its finalizer data a second time, the `double free` of
  // `--n 100000` (issue 15). So a refusal here frees nothing: Node ran the finalizer, or it
  // never will and one reference to the arena leaks, which is far better than a double
  // free. TypeScript sizes arenas (validateSearchOptions) so that neither happens.
  static void drop(napi_env, void*, void* owner) { delete static_cast<std::shared_ptr<A>*>(owner); }

  template <typename T>
  Napi::TypedArrayOf<T> view(Napi::Env env, T* data, int64_t length) {
    napi_value buffer;
    const napi_status status = napi_create_external_arraybuffer(env, data, size_t(length) * sizeof(T), drop,
                                                                new std::shared_ptr<A>(arena_), &buffer);
    NAPI_THROW_IF_FAILED(env, status, Napi::TypedArrayOf<T>());
    return Napi::TypedArrayOf<T>::New(env, size_t(length), Napi::ArrayBuffer(env, buffer), 0);
  }

  Napi::Value Arrays(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    A& a = *arena_;
    const int64_t n = a.capacity();
    Napi::Object o = Napi::Object::New(env);
#define RSTAR_VIEW(type, name, js) o.Set(js, view(env, a.name, n));
    RSTAR_NODE_FIELDS(RSTAR_VIEW)
#undef RSTAR_VIEW
    o.Set("treeSize", view(env, a.tree_size, a.trees()));
    return o;
  }

  std::shared_ptr<A> arena_;
};

// rstar::DeviceFloats: floats in device memory, for scoreFusedDevice without a GPU model.
class DeviceFloatsWrap : public Napi::ObjectWrap<DeviceFloatsWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "DeviceFloats",
                       {InstanceMethod<&DeviceFloatsWrap::Upload>("upload"),
                        InstanceAccessor<&DeviceFloatsWrap::Pointer>("pointer"),
                        InstanceAccessor<&DeviceFloatsWrap::Size>("size")});
  }

  explicit DeviceFloatsWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DeviceFloatsWrap>(info) {
    const double count = number_of(info, 0, "count");
    if (!(count >= 0 && count <= 9007199254740991.0 && count == double(size_t(count))))
      throw Napi::RangeError::New(info.Env(), "count must be a whole number of floats");
    floats_ = guard(info.Env(), [&] { return std::make_unique<rstar::DeviceFloats>(size_t(count)); });
  }

 private:
  // upload(values, offset = 0)
  void Upload(const Napi::CallbackInfo& info) {
    auto values = span_of<float>(info, 0, "values");
    const double offset = info.Length() > 1 && !info[1].IsUndefined() ? number_of(info, 1, "offset") : 0;
    if (!(offset >= 0 && offset == double(size_t(offset)))) throw Napi::RangeError::New(info.Env(), "offset must be a whole number");
    guard(info.Env(), [&] { floats_->upload(values, size_t(offset)); });
  }
  Napi::Value Pointer(const Napi::CallbackInfo& info) {
    return Napi::BigInt::New(info.Env(), static_cast<uint64_t>(reinterpret_cast<uintptr_t>(floats_->data())));
  }
  Napi::Value Size(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), double(floats_->size())); }

  std::unique_ptr<rstar::DeviceFloats> floats_;
};

// rstar::Decoder: the engine's own CPU kernels for an rstar-tiny model
// (src/backends/onnx/native.ts checks shapes and sizes before calling; the checks here keep
// a wrong call from reading or writing past a buffer).
class NativeDecoderWrap : public Napi::ObjectWrap<NativeDecoderWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "NativeDecoder",
                       {InstanceMethod<&NativeDecoderWrap::Forward>("forward"), InstanceAccessor<&NativeDecoderWrap::Threads>("threads")});
  }

  // new NativeDecoder(shape, kvType (0 f32, 1 bf16), weights {name: Float32Array}, threads)
  explicit NativeDecoderWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeDecoderWrap>(info) {
    const Napi::Env env = info.Env();
    if (!info[0].IsObject() || !info[2].IsObject()) throw Napi::TypeError::New(env, "NativeDecoder(shape, kvType, weights, threads)");
    const Napi::Object o = info[0].As<Napi::Object>();
    const auto get = [&](const char* key) {
      const Napi::Value v = o.Get(key);
      if (!v.IsNumber()) throw Napi::TypeError::New(env, std::string("shape.") + key + " must be a number");
      return v.As<Napi::Number>().DoubleValue();
    };
    rstar::DecoderShape s;
    s.vocab = int(get("vocab"));
    s.hidden = int(get("hidden"));
    s.layers = int(get("layers"));
    s.heads = int(get("heads"));
    s.kv_heads = int(get("kvHeads"));
    s.head_dim = int(get("headDim"));
    s.intermediate = int(get("intermediate"));
    s.rope_theta = float(get("ropeTheta"));
    s.rms_eps = float(get("rmsEps"));
    const int kv = int_of(info, 1, "kvType");
    if (kv != 0 && kv != 1) throw Napi::RangeError::New(env, "kvType must be 0 (float32) or 1 (bfloat16)");
    const Napi::Object weights = info[2].As<Napi::Object>();
    const auto weight = [&](std::string_view name, size_t count) -> const float* {
      const Napi::Value v = weights.Get(std::string(name));
      if (v.IsUndefined()) return nullptr;
      if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
        throw std::invalid_argument("decoder: weight \"" + std::string(name) + "\" must be a Float32Array");
      auto a = v.As<Napi::Float32Array>();
      if (a.ElementLength() != count)
        throw std::invalid_argument("decoder: weight \"" + std::string(name) + "\" has " + std::to_string(a.ElementLength()) + " floats, not " + std::to_string(count));
      return a.Data();
    };
    decoder_ = guard(env, [&] { return std::make_unique<rstar::Decoder>(s, rstar::KvType(kv), weight, int_of(info, 3, "threads")); });
  }

 private:
  // forward(rows, tokens, past, ids, positions, mask, pastKv[], newKv[], output, out)
  void Forward(const Napi::CallbackInfo& info) {
    const Napi::Env env = info.Env();
    const rstar::DecoderShape& s = decoder_->shape();
    rstar::ForwardArgs a;
    a.rows = int_of(info, 0, "rows");
    a.tokens = int_of(info, 1, "tokens");
    a.past = int_of(info, 2, "past");
    if (a.rows <= 0 || a.tokens <= 0 || a.past < 0) throw Napi::RangeError::New(env, "rows and tokens must be positive, past non-negative");
    const size_t M = size_t(a.rows) * size_t(a.tokens);
    auto ids = span_of<int32_t>(info, 3, "ids");
    auto positions = span_of<int32_t>(info, 4, "positions");
    auto mask = span_of<uint8_t>(info, 5, "mask");
    if (ids.size() != M || positions.size() != M || mask.size() != size_t(a.rows) * size_t(a.past + a.tokens))
      throw Napi::RangeError::New(env, "ids, positions ([rows, tokens]) or mask ([rows, past + tokens]) has the wrong length");
    const int output = int_of(info, 8, "output");
    if (output < 0 || output > 2) throw Napi::RangeError::New(env, "output must be 0 (logits), 1 (hidden) or 2 (score)");
    a.output = rstar::DecoderOutput(output);
    auto out = span_of<float>(info, 9, "out");
    if (out.size() != M * size_t(decoder_->width(a.output))) throw Napi::RangeError::New(env, "out must hold [rows, tokens, width] floats");
    const size_t row = size_t(s.kv_heads) * size_t(s.head_dim);
    const bool bf16 = decoder_->kv_type() == rstar::KvType::kBf16;
    const auto buffers = [&](size_t i, const char* name, size_t positions_each) {
      if (!info[i].IsArray() || info[i].As<Napi::Array>().Length() != uint32_t(2 * s.layers))
        throw Napi::TypeError::New(env, std::string(name) + " must be an array of 2 x layers buffers");
      std::vector<void*> p;
      const Napi::Array arr = info[i].As<Napi::Array>();
      for (uint32_t k = 0; k < arr.Length(); k++) {
        const Napi::Value v = arr.Get(k);
        const napi_typedarray_type want = bf16 ? napi_uint16_array : napi_float32_array;
        if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != want)
          throw Napi::TypeError::New(env, std::string(name) + " buffers must be " + (bf16 ? "Uint16Arrays (bfloat16)" : "Float32Arrays"));
        const auto t = v.As<Napi::TypedArray>();
        if (t.ElementLength() != size_t(a.rows) * row * positions_each)
          throw Napi::RangeError::New(env, std::string(name) + " buffers must hold [rows, kvHeads, positions, headDim] values");
        p.push_back(static_cast<uint8_t*>(t.ArrayBuffer().Data()) + t.ByteOffset());
      }
      return p;
    };
    const std::vector<void*> past = a.past > 0 ? buffers(6, "pastKv", size_t(a.past)) : std::vector<void*>{};
    const std::vector<const void*> past_c(past.begin(), past.end());
    std::vector<void*> fresh = buffers(7, "newKv", size_t(a.tokens));
    a.ids = ids.data();
    a.positions = positions.data();
    a.mask = mask.data();
    a.past_kv = past_c.data();
    a.new_kv = fresh.data();
    a.out = out.data();
    guard(env, [&] { decoder_->forward(a); });
  }

  Napi::Value Threads(const Napi::CallbackInfo& info) { return Napi::Number::New(info.Env(), decoder_->threads()); }

  std::unique_ptr<rstar::Decoder> decoder_;
};

// Whether the GPU arena can run here, and why not.
Napi::Value CudaStatus(const Napi::CallbackInfo& info) {
  const rstar::CudaStatus s = rstar::cuda_status();
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("usable", Napi::Boolean::New(info.Env(), s.usable));
  o.Set("reason", Napi::String::New(info.Env(), s.reason));
  o.Set("device", Napi::String::New(info.Env(), s.device));
  return o;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("Arena", ArenaWrap<Arena>::Define(env, "Arena"));
  exports.Set("GpuArena", ArenaWrap<GpuArena>::Define(env, "GpuArena"));
  exports.Set("DeviceFloats", DeviceFloatsWrap::Define(env));
  exports.Set("NativeDecoder", NativeDecoderWrap::Define(env));
  exports.Set("cudaStatus", Napi::Function::New<CudaStatus>(env, "cudaStatus"));
  RegisterProcess(env, exports);
  // The core's constants, so the TypeScript side can check it agrees with them.
  Napi::Object c = Napi::Object::New(env);
  c.Set("expanded", Napi::Number::New(env, rstar::kExpanded));
  c.Set("pending", Napi::Number::New(env, rstar::kPending));
  c.Set("exhausted", Napi::Number::New(env, rstar::kExhausted));
  c.Set("notTerminal", Napi::Number::New(env, rstar::kNotTerminal));
  c.Set("answer", Napi::Number::New(env, rstar::kAnswer));
  c.Set("codeErrors", Napi::Number::New(env, rstar::kCodeErrors));
  c.Set("tooDeep", Napi::Number::New(env, rstar::kTooDeep));
  c.Set("invalid", Napi::Number::New(env, rstar::kInvalid));
  c.Set("selectExhausted", Napi::Number::New(env, rstar::kSelectExhausted));
  c.Set("selectBlocked", Napi::Number::New(env, rstar::kSelectBlocked));
  c.Set("nodeBytes", Napi::Number::New(env, double(rstar::kNodeBytes)));
  exports.Set("constants", c);
  // The node arrays in layout order, which TypeScript's nodeArrays must list the same way.
  Napi::Array layout = Napi::Array::New(env);
#define RSTAR_FIELD(type, name, js)                                          \
  {                                                                          \
    Napi::Object field = Napi::Object::New(env);                             \
    field.Set("name", js);                                                   \
    field.Set("type", type_name<type>());                                    \
    field.Set("bytes", Napi::Number::New(env, double(sizeof(type))));        \
    layout.Set(layout.Length(), field);                                      \
  }
  RSTAR_NODE_FIELDS(RSTAR_FIELD)
#undef RSTAR_FIELD
  exports.Set("nodeLayout", layout);
  return exports;
}

}  // namespace

NODE_API_MODULE(rstar, Init)
