// Tests of rstar::Decoder's own consistency on a small model with random weights (ctest):
// encoding in one run equals encoding in pieces on the cache; a ragged batch (padding, gaps,
// masked room) equals each row alone; thread counts agree exactly; the bf16 cache stays near
// the f32 one. Agreement with ONNX Runtime on the trainer's real exports is
// test/native-decoder.test.ts.
#include <cmath>
#include <cstdio>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "check.hpp"
#include "rstar/decoder.hpp"

namespace {

using rstar::Decoder;
using rstar::DecoderOutput;
using rstar::DecoderShape;
using rstar::ForwardArgs;
using rstar::KvType;

const DecoderShape kShape{.vocab = 50, .hidden = 48, .layers = 2, .heads = 6, .kv_heads = 2, .head_dim = 8, .intermediate = 40};

std::map<std::string, std::vector<float>> random_weights(const DecoderShape& s, bool policy) {
  std::mt19937 gen(7);
  std::normal_distribution<float> n(0.0f, 0.2f);
  std::map<std::string, std::vector<float>> w;
  const auto add = [&](const std::string& name, size_t count, float mean = 0.0f) {
    auto& v = w[name];
    for (size_t i = 0; i < count; i++) v.push_back(mean + n(gen));
  };
  const size_t H = s.hidden, Q = s.heads * s.head_dim, K = s.kv_heads * s.head_dim, I = s.intermediate;
  add("model.embed_tokens.weight", s.vocab * H);
  for (int i = 0; i < s.layers; i++) {
    const std::string at = "model.layers." + std::to_string(i) + ".";
    add(at + "input_layernorm.weight", H, 1.0f);
    add(at + "post_attention_layernorm.weight", H, 1.0f);
    add(at + "self_attn.q_proj.weight", Q * H);
    add(at + "self_attn.k_proj.weight", K * H);
    add(at + "self_attn.v_proj.weight", K * H);
    add(at + "self_attn.o_proj.weight", H * Q);
    add(at + "mlp.gate_proj.weight", I * H);
    add(at + "mlp.up_proj.weight", I * H);
    add(at + "mlp.down_proj.weight", H * I);
  }
  add("model.norm.weight", H, 1.0f);
  if (policy) add("lm_head.weight", s.vocab * H);
  else {
    add("value_head.weight", H);
    add("value_head.bias", 1);
  }
  return w;
}

Decoder make(const std::map<std::string, std::vector<float>>& w, KvType kv, int threads) {
  return Decoder(kShape, kv, [&](std::string_view name, size_t count) -> const float* {
    const auto it = w.find(std::string(name));
    if (it == w.end()) return nullptr;
    if (it->second.size() != count) throw std::invalid_argument("size of " + it->second.size());
    return it->second.data();
  }, threads);
}

// A batch's cache: per layer key then value, [rows, kv_heads, positions, head_dim].
struct Cache {
  int rows, positions;
  KvType type;
  std::vector<std::vector<float>> f32;
  std::vector<std::vector<uint16_t>> bf16;
  Cache(int r, int p, KvType t) : rows(r), positions(p), type(t) {
    const size_t n = static_cast<size_t>(r) * kShape.kv_heads * p * kShape.head_dim;
    for (int i = 0; i < 2 * kShape.layers; i++) {
      if (t == KvType::kF32) f32.emplace_back(n, 1e3f);  // garbage where masked: must not matter
      else bf16.emplace_back(n, rstar::to_bf16(1e3f));
    }
  }
  std::vector<void*> ptrs() {
    std::vector<void*> p;
    for (auto& v : f32) p.push_back(v.data());
    for (auto& v : bf16) p.push_back(v.data());
    return p;
  }
  float at(int k, int b, int g, int pos, int d) const {
    const size_t i = ((static_cast<size_t>(b) * kShape.kv_heads + g) * positions + pos) * kShape.head_dim + d;
    return type == KvType::kF32 ? f32[k][i] : rstar::from_bf16(bf16[k][i]);
  }
};

struct Run {
  std::vector<float> out;
  Cache fresh;
};

// One forward: rows' new tokens (padded with 0 to the longest, masked), on `past` (or none).
Run forward(Decoder& dec, const std::vector<std::vector<int>>& rows, Cache* past, const std::vector<std::vector<uint8_t>>& past_mask,
            const std::vector<int>& start, DecoderOutput output) {
  const int B = static_cast<int>(rows.size());
  int T = 0;
  for (const auto& r : rows) T = std::max<int>(T, static_cast<int>(r.size()));
  const int P = past ? past->positions : 0;
  std::vector<int32_t> ids(static_cast<size_t>(B) * T, 0), pos(ids.size(), 0);
  std::vector<uint8_t> mask(static_cast<size_t>(B) * (P + T), 0);
  for (int b = 0; b < B; b++) {
    for (int t = 0; t < T; t++) {
      const bool real = t < static_cast<int>(rows[b].size());
      ids[b * T + t] = real ? rows[b][t] : 0;
      pos[b * T + t] = start[b] + std::min<int>(t, static_cast<int>(rows[b].size()) - 1);
      mask[static_cast<size_t>(b) * (P + T) + P + t] = real;
    }
    for (int j = 0; j < P; j++) mask[static_cast<size_t>(b) * (P + T) + j] = past_mask[b][j];
  }
  Run run{std::vector<float>(static_cast<size_t>(B) * T * dec.width(output)), Cache(B, T, dec.kv_type())};
  auto fresh = run.fresh.ptrs();
  std::vector<void*> past_ptrs = past ? past->ptrs() : std::vector<void*>{};
  std::vector<const void*> pp(past_ptrs.begin(), past_ptrs.end());
  ForwardArgs a;
  a.rows = B;
  a.tokens = T;
  a.past = P;
  a.ids = ids.data();
  a.positions = pos.data();
  a.mask = mask.data();
  a.past_kv = past ? pp.data() : nullptr;
  a.new_kv = fresh.data();
  a.output = output;
  a.out = run.out.data();
  dec.forward(a);
  return run;
}

double max_diff(const float* a, const float* b, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; i++) m = std::max(m, static_cast<double>(std::fabs(a[i] - b[i])));
  return m;
}

// One run over a whole sequence against the same sequence in pieces: 5 tokens, then 2 more
// on that cache (written into a buffer with masked room after it), then 1 more.
void pieces_equal_whole(KvType kv, double tol) {
  const auto w = random_weights(kShape, true);
  Decoder dec = make(w, kv, 2);
  const std::vector<int> seq{3, 14, 15, 9, 26, 5, 35, 8};
  const int V = kShape.vocab;
  Run whole = forward(dec, {seq}, nullptr, {}, {0}, DecoderOutput::kLogits);
  Run a = forward(dec, {{seq.begin(), seq.begin() + 5}}, nullptr, {}, {0}, DecoderOutput::kLogits);
  // a cache of 12 positions: the 5 encoded, then masked room
  Cache buf(1, 12, kv);
  std::vector<uint8_t> m(12, 0);
  for (int k = 0; k < 2 * kShape.layers; k++)
    for (int g = 0; g < kShape.kv_heads; g++)
      for (int p = 0; p < 5; p++)
        for (int d = 0; d < kShape.head_dim; d++) {
          const size_t dst = ((static_cast<size_t>(g)) * 12 + p) * kShape.head_dim + d;
          const size_t src = ((static_cast<size_t>(g)) * 5 + p) * kShape.head_dim + d;
          if (kv == KvType::kF32) buf.f32[k][dst] = a.fresh.f32[k][src];
          else buf.bf16[k][dst] = a.fresh.bf16[k][src];
        }
  for (int p = 0; p < 5; p++) m[p] = 1;
  Run b = forward(dec, {{seq[5], seq[6]}}, &buf, {m}, {5}, DecoderOutput::kLogits);
  CHECK(max_diff(b.out.data(), whole.out.data() + 5 * V, 2 * V) < tol);
  CHECK(max_diff(a.out.data(), whole.out.data(), 5 * V) < tol);
  // their keys as the whole run wrote them
  double kd = 0;
  for (int k = 0; k < 2 * kShape.layers; k++)
    for (int g = 0; g < kShape.kv_heads; g++)
      for (int t = 0; t < 2; t++)
        for (int d = 0; d < kShape.head_dim; d++) kd = std::max(kd, static_cast<double>(std::fabs(b.fresh.at(k, 0, g, t, d) - whole.fresh.at(k, 0, g, 5 + t, d))));
  CHECK(kd < tol);
  std::printf("pieces vs whole (%s): logits %.2e, keys %.2e\n", kv == KvType::kF32 ? "f32" : "bf16",
              max_diff(b.out.data(), whole.out.data() + 5 * V, 2 * V), kd);
}

// A batch of ragged rows with gaps in their pasts against each row alone.
void ragged_equals_alone() {
  const auto w = random_weights(kShape, true);
  Decoder dec = make(w, KvType::kF32, 3);
  const int V = kShape.vocab;
  const std::vector<std::vector<int>> prompts{{1, 2, 3, 4}, {7, 8}, {9, 10, 11, 12, 13, 14}};
  std::vector<Run> alone;
  for (const auto& p : prompts) alone.push_back(forward(dec, {p}, nullptr, {}, {0}, DecoderOutput::kLogits));
  // the batch's past: row b's cache at [0, len), then a gap (masked garbage) up to 8
  Cache past(3, 8, KvType::kF32);
  std::vector<std::vector<uint8_t>> pm(3, std::vector<uint8_t>(8, 0));
  for (int b = 0; b < 3; b++) {
    const int len = static_cast<int>(prompts[b].size());
    for (int j = 0; j < len; j++) pm[b][j] = 1;
    for (int k = 0; k < 2 * kShape.layers; k++)
      for (int g = 0; g < kShape.kv_heads; g++)
        for (int p = 0; p < len; p++)
          for (int d = 0; d < kShape.head_dim; d++)
            past.f32[k][((static_cast<size_t>(b) * kShape.kv_heads + g) * 8 + p) * kShape.head_dim + d] = alone[b].fresh.at(k, 0, g, p, d);
  }
  const std::vector<std::vector<int>> next{{20, 21}, {22}, {23, 24}};
  Run batch = forward(dec, next, &past, pm, {4, 2, 6}, DecoderOutput::kLogits);
  for (int b = 0; b < 3; b++) {
    std::vector<int> seq = prompts[b];
    seq.insert(seq.end(), next[b].begin(), next[b].end());
    Run one = forward(dec, {seq}, nullptr, {}, {0}, DecoderOutput::kLogits);
    const int n = static_cast<int>(next[b].size());
    const double d = max_diff(batch.out.data() + static_cast<size_t>(b) * 2 * V, one.out.data() + (seq.size() - n) * V, static_cast<size_t>(n) * V);
    CHECK(d < 1e-4);
  }
}

void threads_agree_exactly() {
  const auto w = random_weights(kShape, true);
  Decoder one = make(w, KvType::kBf16, 1), four = make(w, KvType::kBf16, 4);
  std::vector<std::vector<int>> rows;
  for (int b = 0; b < 37; b++) rows.push_back({b % kShape.vocab, (b * 7) % kShape.vocab, 3});
  std::vector<int> start(37, 0);
  Run x = forward(one, rows, nullptr, {}, start, DecoderOutput::kLogits), y = forward(four, rows, nullptr, {}, start, DecoderOutput::kLogits);
  CHECK(x.out == y.out);
  CHECK(x.fresh.bf16 == y.fresh.bf16);
}

void outputs_and_errors() {
  const auto policy = random_weights(kShape, true), ppm = random_weights(kShape, false);
  Decoder p = make(policy, KvType::kF32, 2), v = make(ppm, KvType::kF32, 2);
  CHECK(p.has_output(DecoderOutput::kLogits) && !p.has_output(DecoderOutput::kScore));
  CHECK(v.has_output(DecoderOutput::kScore) && !v.has_output(DecoderOutput::kLogits));
  // score = value_head . hidden + bias
  Run h = forward(v, {{1, 2, 3}}, nullptr, {}, {0}, DecoderOutput::kHidden);
  Run s = forward(v, {{1, 2, 3}}, nullptr, {}, {0}, DecoderOutput::kScore);
  double want = ppm.at("value_head.bias")[0];
  for (int i = 0; i < kShape.hidden; i++) want += ppm.at("value_head.weight")[i] * h.out[2 * kShape.hidden + i];
  CHECK(std::fabs(s.out[2] - want) < 1e-4);
  bool threw = false;
  try {
    forward(p, {{1, kShape.vocab}}, nullptr, {}, {0}, DecoderOutput::kLogits);
  } catch (const std::invalid_argument& e) {
    threw = std::string(e.what()).find("outside the vocabulary") != std::string::npos;
  }
  CHECK(threw);
  threw = false;
  auto missing = policy;
  missing.erase("model.layers.1.mlp.up_proj.weight");
  try {
    make(missing, KvType::kF32, 1);
  } catch (const std::invalid_argument& e) {
    threw = std::string(e.what()).find("model.layers.1.mlp.up_proj.weight") != std::string::npos;
  }
  CHECK(threw);
  CHECK(rstar::from_bf16(rstar::to_bf16(1.0f)) == 1.0f);
  CHECK(rstar::to_bf16(1.00390625f) == rstar::to_bf16(1.0f));  // halfway: to even
  CHECK(std::isnan(rstar::from_bf16(rstar::to_bf16(std::nanf("")))));
}

}  // namespace

int main() {
  pieces_equal_whole(KvType::kF32, 1e-4);
  pieces_equal_whole(KvType::kBf16, 2e-2);
  ragged_equals_alone();
  threads_agree_exactly();
  outputs_and_errors();
  if (failures) {
    std::fprintf(stderr, "decoder_test: %d failure(s)\n", failures);
    return 1;
  }
  std::printf("decoder_test: ok\n");
  return 0;
}
