// A decoder-only transformer run on the CPU by the engine's own kernels: the trainer's
// rstar-tiny architecture (Llama / Qwen2-like: RMSNorm, grouped-query attention with RoPE,
// SwiGLU; trainer/rstar_trainer/model.py is the definition), with the same inputs and
// outputs as its ONNX export of the in-place kind (src/backends/onnx/decoder.ts):
//
//   ids, positions [rows, T]; mask [rows, past + T] (1: attend); per layer key then value,
//   the past [rows, kv_heads, past, head_dim] -> the new positions' keys and values
//   [rows, kv_heads, T, head_dim] and one output row per position.
//
// Why not ONNX Runtime: its CPU provider has no bf16 kernel on x86, attends over every
// position of the past (the masked room of a decode batch included), and its Node binding
// copies each output. Here the cache may be bf16 (half the bytes read per step: a decode
// step at batch 128 is bound by reading the cache), a row attends only up to its last
// unmasked position, and the caller's buffers are read and written in place.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace rstar {

struct DecoderShape {
  int vocab = 0;
  int hidden = 0;
  int layers = 0;
  int heads = 0;
  int kv_heads = 0;
  int head_dim = 0;
  int intermediate = 0;
  float rope_theta = 10000.0f;
  float rms_eps = 1e-6f;
};

// How the KV cache is stored. bf16 rounds each new key and value to nearest even.
enum class KvType : uint8_t { kF32 = 0, kBf16 = 1 };

// What forward() writes per position: the lm_head's logits [vocab], the final norm's
// hidden state [hidden], or the value head's raw score [1].
enum class DecoderOutput : uint8_t { kLogits = 0, kHidden = 1, kScore = 2 };

struct ForwardArgs {
  int rows = 0;
  int tokens = 0;  // T: new positions per row
  int past = 0;    // positions in each past buffer (masked room included)
  const int32_t* ids = nullptr;        // [rows, T]
  const int32_t* positions = nullptr;  // [rows, T]
  const uint8_t* mask = nullptr;       // [rows, past + T]
  // 2 * layers buffers each: layer i's key at 2i, value at 2i + 1, of the cache type
  const void* const* past_kv = nullptr;  // [rows, kv_heads, past, head_dim] (unused when past = 0)
  void* const* new_kv = nullptr;         // [rows, kv_heads, T, head_dim]
  DecoderOutput output = DecoderOutput::kLogits;
  float* out = nullptr;  // [rows, T, width(output)]
};

class Decoder {
 public:
  // weight(name, count): the float32 tensor of that Hugging Face name (model.py's state_dict
  // names) with `count` elements, or nullptr when the model has none (lm_head, value_head);
  // the constructor copies what it needs. Throws std::invalid_argument naming a missing or
  // malformed weight. threads: workers for one forward (0: the hardware's count).
  Decoder(const DecoderShape& shape, KvType kv, const std::function<const float*(std::string_view, size_t)>& weight,
          int threads);
  ~Decoder();
  Decoder(const Decoder&) = delete;
  Decoder& operator=(const Decoder&) = delete;

  const DecoderShape& shape() const { return shape_; }
  KvType kv_type() const { return kv_; }
  bool has_output(DecoderOutput o) const;
  int width(DecoderOutput o) const;
  int threads() const;

  // One call at a time (it reuses its buffers). Throws std::invalid_argument on arguments out of range (a token id past the vocabulary,
  // an output the model lacks); the JS layer checks shapes and buffer sizes.
  void forward(const ForwardArgs& args);

 private:
  struct Weights;
  struct Pool;
  struct Scratch;
  DecoderShape shape_;
  KvType kv_;
  std::unique_ptr<Weights> w_;
  std::unique_ptr<Scratch> scratch_;
  std::unique_ptr<Pool> pool_;
};

// bf16 <-> f32 as the cache stores them (round to nearest even; NaN stays NaN).
uint16_t to_bf16(float x);
float from_bf16(uint16_t x);

}  // namespace rstar
