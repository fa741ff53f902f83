// The CPU kernels of rstar::Decoder (include/rstar/decoder.hpp). Plain C++ loops shaped so
// compilers vectorize them (fixed-width inner loops, no cross-iteration dependencies), each
// hot function built for AVX-512, AVX2 and the baseline and picked at load time
// (target_clones), so one binary runs everywhere and uses what the CPU has. This file is
// compiled with FMA contraction and reassociation on (native/CMakeLists.txt): sums of
// products here are not compared bit for bit with anything, unlike the tree arithmetic.
#include "rstar/decoder.hpp"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <thread>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define RSTAR_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define RSTAR_CLONES
#endif

namespace rstar {

uint16_t to_bf16(float x) {
  const uint32_t u = std::bit_cast<uint32_t>(x);
  if ((u & 0x7fffffffu) > 0x7f800000u) return static_cast<uint16_t>((u >> 16) | 0x40u);  // NaN stays NaN
  return static_cast<uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

float from_bf16(uint16_t x) { return std::bit_cast<float>(static_cast<uint32_t>(x) << 16); }

namespace {

// Weight panels: a Linear's [N, K] weight as ceil(N / kPanel) panels of [K][kPanel], zero
// padded, so the GEMM's inner loop reads kPanel consecutive floats per k.
constexpr int kPanel = 32;
constexpr int kRowBlock = 4;  // rows of X per micro-kernel call: 4 x 32 accumulators fit the registers

struct Packed {
  int n = 0, k = 0, panels = 0;
  std::vector<float> data;
};

// Several Linears of the same input as one (q, k, v; gate, up): their rows stacked.
Packed pack(const std::vector<const float*>& parts, const std::vector<int>& rows, int k) {
  Packed p;
  p.k = k;
  for (const int r : rows) p.n += r;
  p.panels = (p.n + kPanel - 1) / kPanel;
  p.data.assign(static_cast<size_t>(p.panels) * k * kPanel, 0.0f);
  int n0 = 0;
  for (size_t i = 0; i < parts.size(); i++) {
    for (int n = 0; n < rows[i]; n++) {
      const int col = n0 + n;
      float* dst = p.data.data() + static_cast<size_t>(col / kPanel) * k * kPanel + col % kPanel;
      for (int kk = 0; kk < k; kk++) dst[static_cast<size_t>(kk) * kPanel] = parts[i][static_cast<size_t>(n) * k + kk];
    }
    n0 += rows[i];
  }
  return p;
}

// Y[m0..m1, panels p0..p1] = X[m0..m1, :] . W^T; X rows are w.k wide, Y rows ldy wide (the
// padding of the last panel is not written).
RSTAR_CLONES void gemm(const float* x, const Packed& w, float* y, int ldy, int m0, int m1, int p0, int p1) {
  const int K = w.k;
  for (int p = p0; p < p1; p++) {
    const float* wp = w.data.data() + static_cast<size_t>(p) * K * kPanel;
    const size_t bytes = sizeof(float) * std::min(kPanel, w.n - p * kPanel);
    int m = m0;
    for (; m + kRowBlock <= m1; m += kRowBlock) {
      float acc[kRowBlock][kPanel] = {};
      for (int k = 0; k < K; k++) {
        const float* wk = wp + static_cast<size_t>(k) * kPanel;
        for (int r = 0; r < kRowBlock; r++) {
          const float a = x[static_cast<size_t>(m + r) * K + k];
          for (int j = 0; j < kPanel; j++) acc[r][j] += a * wk[j];
        }
      }
      for (int r = 0; r < kRowBlock; r++) std::memcpy(y + static_cast<size_t>(m + r) * ldy + p * kPanel, acc[r], bytes);
    }
    for (; m < m1; m++) {
      float acc[kPanel] = {};
      for (int k = 0; k < K; k++) {
        const float a = x[static_cast<size_t>(m) * K + k];
        const float* wk = wp + static_cast<size_t>(k) * kPanel;
        for (int j = 0; j < kPanel; j++) acc[j] += a * wk[j];
      }
      std::memcpy(y + static_cast<size_t>(m) * ldy + p * kPanel, acc, bytes);
    }
  }
}

// exp(x) for x <= 0 to about 2 ulp (Cephes' expf polynomial), in a form that vectorizes.
inline float exp_neg(float x) {
  x = std::max(x, -87.0f);
  const float n = std::floor(x * 1.44269504088896341f + 0.5f);
  const float r = x - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  return p * std::bit_cast<float>((static_cast<int32_t>(n) + 127) << 23);
}

RSTAR_CLONES void rms_norm(const float* x, const float* w, float* y, int h, float eps, int r0, int r1) {
  for (int r = r0; r < r1; r++) {
    const float* xr = x + static_cast<size_t>(r) * h;
    float ss = 0.0f;
    for (int i = 0; i < h; i++) ss += xr[i] * xr[i];
    const float inv = 1.0f / std::sqrt(ss / static_cast<float>(h) + eps);
    float* yr = y + static_cast<size_t>(r) * h;
    for (int i = 0; i < h; i++) yr[i] = xr[i] * inv * w[i];
  }
}

RSTAR_CLONES void swiglu(const float* gu, int ld, float* out, int inter, int r0, int r1) {
  for (int r = r0; r < r1; r++) {
    const float* g = gu + static_cast<size_t>(r) * ld;
    const float* u = g + inter;
    float* o = out + static_cast<size_t>(r) * inter;
    for (int i = 0; i < inter; i++) {
      // silu(g) = g / (1 + exp(-g)), with exp of a non-positive argument either way
      const float e = exp_neg(-std::fabs(g[i]));
      const float sig = g[i] >= 0.0f ? 1.0f / (1.0f + e) : e / (1.0f + e);
      o[i] = g[i] * sig * u[i];
    }
  }
}

template <class KV>
inline float load(const KV* p, int i) {
  if constexpr (std::is_same_v<KV, float>) return p[i];
  else return std::bit_cast<float>(static_cast<uint32_t>(p[i]) << 16);
}

template <class KV>
inline KV store(float x) {
  if constexpr (std::is_same_v<KV, float>) return x;
  else return to_bf16(x);
}

}  // namespace

// Threads for one forward: the caller runs tasks too. Workers spin briefly before sleeping,
// since a forward is a dozen short parallel regions back to back. Briefly: 2,000 pauses decode
// as fast as 20,000, and where the cores are shared (the sandbox's Python workers, a second
// model) a longer spin takes them from the others (bench/RESULTS.md, "How long the kernels'
// workers spin").
struct Decoder::Pool {
  explicit Pool(int n) {
    for (int i = 1; i < n; i++) workers.emplace_back([this] { work(); });
  }
  ~Pool() {
    {
      std::lock_guard lock(mutex);
      stopping = true;
      generation.fetch_add(1);
    }
    wake.notify_all();
    for (auto& t : workers) t.join();
  }

  int size() const { return static_cast<int>(workers.size()) + 1; }

  void run(int count, const std::function<void(int)>& fn) {
    if (workers.empty() || count <= 1) {
      for (int i = 0; i < count; i++) fn(i);
      return;
    }
    {
      std::lock_guard lock(mutex);
      job = &fn;
      tasks = count;
      next.store(0);
      busy.store(static_cast<int>(workers.size()));
      generation.fetch_add(1);
    }
    wake.notify_all();
    claim(fn);
    while (busy.load(std::memory_order_acquire) > 0) std::this_thread::yield();
    std::exception_ptr e;
    std::swap(e, error);
    if (e) std::rethrow_exception(e);
  }

 private:
  void claim(const std::function<void(int)>& fn) {
    for (int i; (i = next.fetch_add(1)) < tasks;) {
      try {
        fn(i);
      } catch (...) {
        std::lock_guard lock(mutex);
        if (!error) error = std::current_exception();
      }
    }
  }

  void work() {
    uint64_t seen = 0;  // not generation.load(): a run() may have begun before this thread did
    for (;;) {
      for (int spin = 0; spin < 2000 && generation.load(std::memory_order_acquire) == seen; spin++) {
#if defined(__x86_64__)
        __builtin_ia32_pause();
#endif
      }
      const std::function<void(int)>* fn;
      {
        std::unique_lock lock(mutex);
        wake.wait(lock, [&] { return generation.load() != seen; });
        seen = generation.load();
        if (stopping) return;
        fn = job;
      }
      claim(*fn);
      busy.fetch_sub(1, std::memory_order_release);
    }
  }

  std::vector<std::thread> workers;
  std::mutex mutex;
  std::condition_variable wake;
  std::atomic<uint64_t> generation{0};
  std::atomic<int> next{0};
  std::atomic<int> busy{0};
  const std::function<void(int)>* job = nullptr;
  int tasks = 0;
  bool stopping = false;
  std::exception_ptr error;
};

struct Decoder::Scratch {
  std::vector<float> x, h, tmp, att, qkv, gu, act, rope, y;
};

struct Decoder::Weights {
  std::vector<float> embed;  // [vocab, hidden]
  struct Layer {
    std::vector<float> norm_in, norm_post;
    Packed qkv, o, gate_up, down;
  };
  std::vector<Layer> layers;
  std::vector<float> norm;
  Packed lm_head, value_head;  // n = 0 when the model has none
  float value_bias = 0.0f;
  std::vector<float> inv_freq;  // [head_dim / 2]
};

Decoder::Decoder(const DecoderShape& s, KvType kv, const std::function<const float*(std::string_view, size_t)>& weight,
                 int threads)
    : shape_(s), kv_(kv), w_(std::make_unique<Weights>()), scratch_(std::make_unique<Scratch>()) {
  if (s.vocab <= 0 || s.hidden <= 0 || s.layers <= 0 || s.heads <= 0 || s.kv_heads <= 0 || s.head_dim <= 0 || s.intermediate <= 0)
    throw std::invalid_argument("decoder: every dimension must be positive");
  if (s.heads % s.kv_heads != 0) throw std::invalid_argument("decoder: heads must be a multiple of kv_heads");
  if (s.head_dim % 2 != 0) throw std::invalid_argument("decoder: head_dim must be even (rotary halves)");
  const auto need = [&](const std::string& name, size_t count) {
    const float* p = weight(name, count);
    if (!p) throw std::invalid_argument("decoder: the model has no weight \"" + name + "\" of " + std::to_string(count) + " floats");
    return p;
  };
  const auto copy = [&](const std::string& name, size_t count) {
    const float* p = need(name, count);
    return std::vector<float>(p, p + count);
  };
  const int H = s.hidden, q = s.heads * s.head_dim, kvw = s.kv_heads * s.head_dim, I = s.intermediate;
  w_->embed = copy("model.embed_tokens.weight", static_cast<size_t>(s.vocab) * H);
  for (int i = 0; i < s.layers; i++) {
    const std::string at = "model.layers." + std::to_string(i) + ".";
    Weights::Layer l;
    l.norm_in = copy(at + "input_layernorm.weight", H);
    l.norm_post = copy(at + "post_attention_layernorm.weight", H);
    l.qkv = pack({need(at + "self_attn.q_proj.weight", static_cast<size_t>(q) * H), need(at + "self_attn.k_proj.weight", static_cast<size_t>(kvw) * H),
                  need(at + "self_attn.v_proj.weight", static_cast<size_t>(kvw) * H)},
                 {q, kvw, kvw}, H);
    l.o = pack({need(at + "self_attn.o_proj.weight", static_cast<size_t>(H) * q)}, {H}, q);
    l.gate_up = pack({need(at + "mlp.gate_proj.weight", static_cast<size_t>(I) * H), need(at + "mlp.up_proj.weight", static_cast<size_t>(I) * H)}, {I, I}, H);
    l.down = pack({need(at + "mlp.down_proj.weight", static_cast<size_t>(H) * I)}, {H}, I);
    w_->layers.push_back(std::move(l));
  }
  w_->norm = copy("model.norm.weight", H);
  if (const float* lm = weight("lm_head.weight", static_cast<size_t>(s.vocab) * H)) w_->lm_head = pack({lm}, {s.vocab}, H);
  if (const float* vh = weight("value_head.weight", H)) {
    w_->value_head = pack({vh}, {1}, H);
    w_->value_bias = *need("value_head.bias", 1);
  }
  // as model.py computes them: 1 / theta^(2i / head_dim) in float
  for (int i = 0; i < s.head_dim / 2; i++)
    w_->inv_freq.push_back(1.0f / std::pow(s.rope_theta, static_cast<float>(2 * i) / static_cast<float>(s.head_dim)));
  const int n = threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  pool_ = std::make_unique<Pool>(n);
}

Decoder::~Decoder() = default;

int Decoder::threads() const { return pool_->size(); }

bool Decoder::has_output(DecoderOutput o) const {
  if (o == DecoderOutput::kLogits) return w_->lm_head.n > 0;
  if (o == DecoderOutput::kScore) return w_->value_head.n > 0;
  return true;
}

int Decoder::width(DecoderOutput o) const {
  return o == DecoderOutput::kLogits ? shape_.vocab : o == DecoderOutput::kHidden ? shape_.hidden : 1;
}

namespace {

struct AttentionArgs {
  const DecoderShape* s;
  const ForwardArgs* a;
  const float* qkv;  // [rows * T, ld]: q heads, then k, then v (k already written to the cache)
  int ld;
  const void* past_k;
  const void* past_v;
  const void* new_k;
  const void* new_v;
  float* out;  // [rows * T, heads * head_dim]
};

// Scores of `n` keys against `rep` queries: out[r * stride + j] = scale * q_r . k_j. D is a
// compile-time head size (or 0: d from the argument) so the dot products unroll into whole
// vectors; a block of 4 keys at a time keeps 4 x rep independent sums in flight.
template <class KV, int D>
inline void scores_of(const float* q, int rep, int dd, const KV* k, int n, float scale, float* out, int stride) {
  const int Dn = D > 0 ? D : dd;
  for (int j = 0; j < n; j++) {
    const KV* kj = k + static_cast<size_t>(j) * Dn;
    for (int r = 0; r < rep; r++) {
      const float* qr = q + static_cast<size_t>(r) * Dn;
      float dot = 0.0f;
#pragma GCC unroll 8
      for (int d = 0; d < Dn; d++) dot += qr[d] * load(kj, d);
      out[static_cast<size_t>(r) * stride + j] = dot * scale;
    }
  }
}

// o_r += sum_j p[r * stride + j] v_j for the n values. With D known the sums stay in
// registers across j (accumulating in memory makes each j wait on the last one's store).
template <class KV, int D>
inline void mix(const float* p, int rep, int dd, const KV* v, int n, int stride, float* o) {
  for (int r = 0; r < rep; r++) {
    const float* pr = p + static_cast<size_t>(r) * stride;
    float* orow = o + static_cast<size_t>(r) * dd;
    if constexpr (D > 0) {
      float acc[D] = {};
      for (int j = 0; j < n; j++) {
        const KV* vj = v + static_cast<size_t>(j) * D;
        const float w = pr[j];
#pragma GCC unroll 8
        for (int d = 0; d < D; d++) acc[d] += w * load(vj, d);
      }
      for (int d = 0; d < D; d++) orow[d] += acc[d];
    } else {
      for (int j = 0; j < n; j++) {
        const KV* vj = v + static_cast<size_t>(j) * dd;
        for (int d = 0; d < dd; d++) orow[d] += pr[j] * load(vj, d);
      }
    }
  }
}

// One row's attention for one KV head: its `rep` query heads read that head's keys once.
// Positions: the row's past up to its last unmasked one (the room after it is never read),
// then its new positions up to the query's own. Masked positions get no weight: their
// scores are computed (branch-free loops vectorize) and then replaced.
template <class KV, int D>
RSTAR_CLONES void attend(const AttentionArgs& x, int b, int g, std::vector<float>& scores) {
  const DecoderShape& s = *x.s;
  const ForwardArgs& a = *x.a;
  const int T = a.tokens, P = a.past, dd = s.head_dim, rep = s.heads / s.kv_heads;
  const uint8_t* mask = a.mask + static_cast<size_t>(b) * (P + T);
  int last = P;
  while (last > 0 && !mask[last - 1]) last--;
  const size_t head = static_cast<size_t>(b) * s.kv_heads + g;
  const KV* pk = last > 0 ? static_cast<const KV*>(x.past_k) + head * P * dd : nullptr;
  const KV* pv = last > 0 ? static_cast<const KV*>(x.past_v) + head * P * dd : nullptr;
  const KV* nk = static_cast<const KV*>(x.new_k) + head * T * dd;
  const KV* nv = static_cast<const KV*>(x.new_v) + head * T * dd;
  const float scale = 1.0f / std::sqrt(static_cast<float>(dd));
  const int stride = last + T;
  scores.resize(static_cast<size_t>(rep) * stride);
  constexpr float kMasked = -std::numeric_limits<float>::infinity();
  for (int t = 0; t < T; t++) {
    const float* q = x.qkv + static_cast<size_t>(b * T + t) * x.ld + static_cast<size_t>(g) * rep * dd;
    const int n = last + t + 1;  // the past's [0, last), then the new [0, t]
    float* sc = scores.data();
    if (last > 0) scores_of<KV, D>(q, rep, dd, pk, last, scale, sc, stride);
    scores_of<KV, D>(q, rep, dd, nk, t + 1, scale, sc + last, stride);
    float* o = x.out + static_cast<size_t>(b * T + t) * s.heads * dd + static_cast<size_t>(g) * rep * dd;
    std::fill(o, o + static_cast<size_t>(rep) * dd, 0.0f);
    for (int r = 0; r < rep; r++) {
      float* sr = sc + static_cast<size_t>(r) * stride;
      for (int j = 0; j < last; j++) sr[j] = mask[j] ? sr[j] : kMasked;
      for (int j = 0; j <= t; j++) sr[last + j] = mask[P + j] ? sr[last + j] : kMasked;
      float max = kMasked;
      for (int j = 0; j < n; j++) max = std::max(max, sr[j]);
      if (max == kMasked) {  // nothing to attend to (a padded position): zeros
        std::fill(sr, sr + n, 0.0f);
        continue;
      }
      float sum = 0.0f;
      for (int j = 0; j < n; j++) {
        const float e = sr[j] == kMasked ? 0.0f : exp_neg(sr[j] - max);
        sr[j] = e;
        sum += e;
      }
      const float inv = 1.0f / sum;
      for (int j = 0; j < n; j++) sr[j] *= inv;
    }
    if (last > 0) mix<KV, D>(sc, rep, dd, pv, last, stride, o);
    mix<KV, D>(sc + last, rep, dd, nv, t + 1, stride, o);
  }
}

// Rotary on one position's heads (model.py: x * cos + rotate_half(x) * sin).
inline void rotate(float* x, int heads, int D, const float* cos, const float* sin) {
  const int h2 = D / 2;
  for (int h = 0; h < heads; h++) {
    float* v = x + static_cast<size_t>(h) * D;
    for (int i = 0; i < h2; i++) {
      const float a = v[i], c = v[i + h2];
      v[i] = a * cos[i] - c * sin[i];
      v[i + h2] = c * cos[i] + a * sin[i];
    }
  }
}

}  // namespace

void Decoder::forward(const ForwardArgs& a) {
  const DecoderShape& s = shape_;
  if (a.rows <= 0 || a.tokens <= 0 || a.past < 0) throw std::invalid_argument("decoder: rows and tokens must be positive, past non-negative");
  if (!has_output(a.output)) throw std::invalid_argument("decoder: the model has no such output");
  const int T = a.tokens, M = a.rows * T, H = s.hidden, D = s.head_dim, Q = s.heads * D, KVW = s.kv_heads * D, I = s.intermediate;
  for (int m = 0; m < M; m++) {
    if (a.ids[m] < 0 || a.ids[m] >= s.vocab)
      throw std::invalid_argument("decoder: token id " + std::to_string(a.ids[m]) + " is outside the vocabulary of " + std::to_string(s.vocab));
  }
  const Weights& w = *w_;
  Pool& pool = *pool_;
  const int qkv_ld = w.layers[0].qkv.n, gu_ld = w.layers[0].gate_up.n;
  // kept between calls (resize does not shrink them): fresh buffers each step cost page faults
  Scratch& sc = *scratch_;
  const auto sized = [](std::vector<float>& v, size_t n) -> std::vector<float>& {
    v.resize(n);
    return v;
  };
  std::vector<float>& x = sized(sc.x, static_cast<size_t>(M) * H);
  std::vector<float>& h = sized(sc.h, x.size());
  std::vector<float>& tmp = sized(sc.tmp, x.size());
  std::vector<float>& att = sized(sc.att, static_cast<size_t>(M) * Q);
  std::vector<float>& qkv = sized(sc.qkv, static_cast<size_t>(M) * qkv_ld);
  std::vector<float>& gu = sized(sc.gu, static_cast<size_t>(M) * gu_ld);
  std::vector<float>& act = sized(sc.act, static_cast<size_t>(M) * I);
  std::vector<float>& rope = sized(sc.rope, static_cast<size_t>(M) * D);  // per position: cos [D/2], sin [D/2]

  // Row ranges of about equal size, a few per thread so uneven rows balance out.
  const int chunks = std::min(M, pool.size() * 4);
  const auto rows = [&](const std::function<void(int, int)>& fn) {
    pool.run(chunks, [&](int c) { fn(static_cast<int>(static_cast<int64_t>(M) * c / chunks), static_cast<int>(static_cast<int64_t>(M) * (c + 1) / chunks)); });
  };
  // A GEMM as a grid of (32 rows, 4 panels) tasks: enough tasks at one row, few at many.
  const auto matmul = [&](const float* in, const Packed& p, float* out, int ldy) {
    constexpr int kRows = 32, kPanels = 4;
    const int rb = (M + kRows - 1) / kRows, pb = (p.panels + kPanels - 1) / kPanels;
    pool.run(rb * pb, [&](int t) {
      const int r = t / pb, c = t % pb;
      gemm(in, p, out, ldy, r * kRows, std::min(M, (r + 1) * kRows), c * kPanels, std::min(p.panels, (c + 1) * kPanels));
    });
  };

  rows([&](int r0, int r1) {
    const int h2 = D / 2;
    for (int m = r0; m < r1; m++) {
      std::memcpy(x.data() + static_cast<size_t>(m) * H, w.embed.data() + static_cast<size_t>(a.ids[m]) * H, sizeof(float) * H);
      float* cs = rope.data() + static_cast<size_t>(m) * D;
      for (int i = 0; i < h2; i++) {
        const float f = static_cast<float>(a.positions[m]) * w.inv_freq[i];
        cs[i] = std::cos(f);
        cs[h2 + i] = std::sin(f);
      }
    }
    rms_norm(x.data(), w.layers[0].norm_in.data(), h.data(), H, s.rms_eps, r0, r1);
  });

  const auto layers = [&]<class KV>(KV*) {
    for (int l = 0; l < s.layers; l++) {
      const Weights::Layer& L = w.layers[l];
      KV* new_k = static_cast<KV*>(a.new_kv[2 * l]);
      KV* new_v = static_cast<KV*>(a.new_kv[2 * l + 1]);
      matmul(h.data(), L.qkv, qkv.data(), qkv_ld);
      rows([&](int r0, int r1) {
        for (int m = r0; m < r1; m++) {
          float* row = qkv.data() + static_cast<size_t>(m) * qkv_ld;
          const float* cs = rope.data() + static_cast<size_t>(m) * D;
          rotate(row, s.heads + s.kv_heads, D, cs, cs + D / 2);  // q heads then k heads
          const int b = m / T, t = m % T;
          for (int g = 0; g < s.kv_heads; g++) {
            const size_t at = ((static_cast<size_t>(b) * s.kv_heads + g) * T + t) * D;
            for (int d = 0; d < D; d++) {
              new_k[at + d] = store<KV>(row[Q + g * D + d]);
              new_v[at + d] = store<KV>(row[Q + KVW + g * D + d]);
            }
          }
        }
      });
      const AttentionArgs args{&s, &a, qkv.data(), qkv_ld, a.past > 0 ? a.past_kv[2 * l] : nullptr, a.past > 0 ? a.past_kv[2 * l + 1] : nullptr,
                               new_k, new_v, att.data()};
      // the head sizes models use, unrolled; any other through the general loop
      const auto attention = D == 32 ? attend<KV, 32> : D == 64 ? attend<KV, 64> : D == 128 ? attend<KV, 128> : attend<KV, 0>;
      pool.run(a.rows * s.kv_heads, [&](int task) {
        thread_local std::vector<float> scores;
        attention(args, task / s.kv_heads, task % s.kv_heads, scores);
      });
      matmul(att.data(), L.o, tmp.data(), H);
      rows([&](int r0, int r1) {
        for (size_t i = static_cast<size_t>(r0) * H; i < static_cast<size_t>(r1) * H; i++) x[i] += tmp[i];
        rms_norm(x.data(), L.norm_post.data(), h.data(), H, s.rms_eps, r0, r1);
      });
      matmul(h.data(), L.gate_up, gu.data(), gu_ld);
      rows([&](int r0, int r1) { swiglu(gu.data(), gu_ld, act.data(), I, r0, r1); });
      matmul(act.data(), L.down, tmp.data(), H);
      const float* next = l + 1 < s.layers ? w.layers[l + 1].norm_in.data() : w.norm.data();
      rows([&](int r0, int r1) {
        for (size_t i = static_cast<size_t>(r0) * H; i < static_cast<size_t>(r1) * H; i++) x[i] += tmp[i];
        rms_norm(x.data(), next, h.data(), H, s.rms_eps, r0, r1);
      });
    }
  };
  if (kv_ == KvType::kBf16) layers(static_cast<uint16_t*>(nullptr));
  else layers(static_cast<float*>(nullptr));

  // h is now the final norm's output
  if (a.output == DecoderOutput::kHidden) {
    std::memcpy(a.out, h.data(), sizeof(float) * x.size());
    return;
  }
  const Packed& head = a.output == DecoderOutput::kLogits ? w.lm_head : w.value_head;
  const int width = this->width(a.output), ld = head.n;
  std::vector<float>& y = sized(sc.y, static_cast<size_t>(M) * ld);
  matmul(h.data(), head, y.data(), ld);
  const float bias = a.output == DecoderOutput::kScore ? w.value_bias : 0.0f;
  for (int m = 0; m < M; m++) {
    for (int i = 0; i < width; i++) a.out[static_cast<size_t>(m) * width + i] = y[static_cast<size_t>(m) * ld + i] + bias;
  }
}

}  // namespace rstar
