// seqlab's CPU recurrences: forward and hand-written backward of the tanh RNN, LSTM, GRU and RRN over a
// whole sequence, one call per layer.
//
// Rows of a batch never interact in a recurrence, so the batch is split once into one block of rows per
// thread and each thread runs the whole sequence for its block: per time step one small GEMM against the
// recurrent weights and one fused pass over the gates, with no synchronisation between time steps. The
// recurrent weight gradient is one GEMM over all time steps after the loop. Inputs are the input
// projections of every time step (computed outside, with their biases), time-major: proj (T, B, G*n).

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace {

enum Cell : int64_t { kRNN = 0, kLSTM = 1, kGRU = 2, kRRN = 3 };

int64_t cell_id(c10::string_view name) {
  if (name == "rnn") return kRNN;
  if (name == "lstm") return kLSTM;
  if (name == "gru") return kGRU;
  TORCH_CHECK(name == "rrn", "seqlab kernels: unknown cell '", name, "' (accepted: rnn, lstm, gru, rrn)");
  return kRRN;
}

int64_t gate_count(int64_t cell) {
  const int64_t gates[] = {1, 4, 3, 2};  // by Cell
  return gates[cell];
}

// tanh as a clamped rational function (Eigen's fast tanh for float): branch-free, so loops over it
// vectorise; within a few ulp of std::tanh.
inline float fast_tanh(float x) {
  const float bound = 7.90531110763549805f;
  x = std::min(std::max(x, -bound), bound);
  const float x2 = x * x;
  float p = -2.76076847742355e-16f;
  p = p * x2 + 2.00018790482477e-13f;
  p = p * x2 - 8.60467152213735e-11f;
  p = p * x2 + 5.12229709037114e-08f;
  p = p * x2 + 1.48572235717979e-05f;
  p = p * x2 + 6.37261928875436e-04f;
  p = p * x2 + 4.89352455891786e-03f;
  float q = 1.19825839466702e-06f;
  q = q * x2 + 1.18534705686654e-04f;
  q = q * x2 + 2.26843463243900e-03f;
  q = q * x2 + 4.89352518554385e-03f;
  return x * p / q;
}

inline float fast_sigmoid(float x) { return 0.5f + 0.5f * fast_tanh(0.5f * x); }

// Zero-filled scratch rows. GEMM operands live in ATen's 64-byte-aligned memory, never in std::vector's,
// so that the BLAS takes the same code path, and rounds the same way, in every run.
at::Tensor scratch(int64_t rows, int64_t cols) { return at::zeros({rows, cols}, at::kFloat); }

// out (rows, cols) = a (rows, inner) @ b, b given as a tensor view (inner, cols); single-threaded here.
void matmul_rows(float* out, const float* a, int64_t rows, int64_t inner, const at::Tensor& b) {
  auto options = at::TensorOptions().dtype(at::kFloat);
  at::Tensor out_t = at::from_blob(out, {rows, b.size(1)}, options);
  at::mm_out(out_t, at::from_blob(const_cast<float*>(a), {rows, inner}, options), b);
}

struct Sizes {
  int64_t steps, batch, n, gates;
  int64_t width() const { return gates * n; }
};

// Per-row gate math, one function per cell and direction. Arguments are rows of n (or G*n) floats; the
// previous state of step 0 is a row of zeros. __restrict lets the compiler vectorise the loops.
#define R float* __restrict
#define CR const float* __restrict

void rnn_forward(int64_t n, CR x, CR a, R h) {
  for (int64_t j = 0; j < n; ++j) h[j] = fast_tanh(x[j] + a[j]);
}

void rnn_backward(int64_t n, CR dh_out, CR dh_in, CR h, R d_pre) {
  for (int64_t j = 0; j < n; ++j) d_pre[j] = (dh_out[j] + dh_in[j]) * (1.0f - h[j] * h[j]);
}

// gates i, f, g, o
void lstm_forward(int64_t n, CR x, CR a, CR c_prev, R gates, R c, R tanh_c, R h) {
  for (int64_t j = 0; j < n; ++j) {
    const float i = fast_sigmoid(x[j] + a[j]), f = fast_sigmoid(x[n + j] + a[n + j]);
    const float g = fast_tanh(x[2 * n + j] + a[2 * n + j]), o = fast_sigmoid(x[3 * n + j] + a[3 * n + j]);
    const float cell = i * g + f * c_prev[j], tc = fast_tanh(cell);
    gates[j] = i, gates[n + j] = f, gates[2 * n + j] = g, gates[3 * n + j] = o;
    c[j] = cell, tanh_c[j] = tc, h[j] = o * tc;
  }
}

void lstm_backward(int64_t n, CR dh_out, CR dh_in, CR gates, CR c_prev, CR tanh_c, R dc, R d_pre) {
  for (int64_t j = 0; j < n; ++j) {
    const float i = gates[j], f = gates[n + j], g = gates[2 * n + j], o = gates[3 * n + j];
    const float dh = dh_out[j] + dh_in[j], tc = tanh_c[j];
    const float d_cell = dc[j] + dh * o * (1.0f - tc * tc);
    d_pre[j] = d_cell * g * i * (1.0f - i);
    d_pre[n + j] = d_cell * c_prev[j] * f * (1.0f - f);
    d_pre[2 * n + j] = d_cell * i * (1.0f - g * g);
    d_pre[3 * n + j] = dh * tc * o * (1.0f - o);
    dc[j] = d_cell * f;
  }
}

// gates r, z, candidate; a = h_prev W^T (without b_hh)
void gru_forward(int64_t n, CR x, CR a, CR b_hh, CR h_prev, R gates, R hidden_n, R h) {
  for (int64_t j = 0; j < n; ++j) {
    const float r = fast_sigmoid(x[j] + a[j] + b_hh[j]);
    const float z = fast_sigmoid(x[n + j] + a[n + j] + b_hh[n + j]);
    const float hn = a[2 * n + j] + b_hh[2 * n + j];
    const float cand = fast_tanh(x[2 * n + j] + r * hn);
    gates[j] = r, gates[n + j] = z, gates[2 * n + j] = cand, hidden_n[j] = hn;
    h[j] = (1.0f - z) * cand + z * h_prev[j];
  }
}

// d_pre: gradient of the input projection; d_rec: of h_prev W^T + b_hh; dh_direct: of h_prev, not through W
void gru_backward(int64_t n, CR dh_out, CR dh_in, CR gates, CR hidden_n, CR h_prev, R d_pre, R d_rec, R dh_direct) {
  for (int64_t j = 0; j < n; ++j) {
    const float r = gates[j], z = gates[n + j], cand = gates[2 * n + j];
    const float dh = dh_out[j] + dh_in[j];
    const float d_cand = dh * (1.0f - z) * (1.0f - cand * cand);
    const float d_r = d_cand * hidden_n[j] * r * (1.0f - r);
    const float d_z = dh * (h_prev[j] - cand) * z * (1.0f - z);
    d_pre[j] = d_r, d_pre[n + j] = d_z, d_pre[2 * n + j] = d_cand;
    d_rec[j] = d_r, d_rec[n + j] = d_z, d_rec[2 * n + j] = d_cand * r;
    dh_direct[j] = dh * z;
  }
}

// pre-activations inc, dec
void rrn_forward(int64_t n, CR x, CR a, CR c_prev, R pre, R c, R h) {
  for (int64_t j = 0; j < n; ++j) {
    const float inc = x[j] + a[j], dec = x[n + j] + a[n + j];
    const float cell = c_prev[j] + std::max(inc, 0.0f) - std::max(dec, 0.0f);
    pre[j] = inc, pre[n + j] = dec, c[j] = cell, h[j] = std::max(cell, 0.0f);
  }
}

void rrn_backward(int64_t n, CR dh_out, CR dh_in, CR pre, CR c, R dc, R d_pre) {
  for (int64_t j = 0; j < n; ++j) {
    const float open = c[j] > 0.0f ? 1.0f : 0.0f;
    const float d_cell = dc[j] + open * (dh_out[j] + dh_in[j]);
    d_pre[j] = pre[j] > 0.0f ? d_cell : 0.0f;
    d_pre[n + j] = pre[n + j] > 0.0f ? -d_cell : 0.0f;
    dc[j] = d_cell;
  }
}

void add_row(int64_t n, CR from, R to) {
  for (int64_t j = 0; j < n; ++j) to[j] += from[j];
}
#undef R
#undef CR

// Saved tensors of a forward pass, as row pointers: h, c (LSTM, RRN), act (gates or pre-activations), extra
// (tanh(c) for the LSTM, h W_n^T + b_n for the GRU); each (T, B, width).
struct Saved {
  float *h, *c, *act, *extra;
};

// The input projection x_t W_ih^T + b_ih of (time step, batch row) `row`: a row of `inputs`, either one per
// row (dense, (T, B, G*n)) or one per digit, picked by `index` (T, B).
struct Inputs {
  const float* rows;
  const int64_t* index;
  int64_t width;
  const float* at(int64_t row) const { return rows + (index ? index[row] : row) * width; }
};

// One block of rows [row0, row0 + rows) through all time steps.
void forward_block(int64_t cell, const Sizes& s, int64_t row0, int64_t rows, const Inputs& inputs,
                   const at::Tensor& w_t, const float* b_hh, const Saved& out) {
  const int64_t n = s.n, width = s.width();
  at::Tensor acc_rows = scratch(rows, width), zero_row = scratch(1, n);
  float *acc = acc_rows.data_ptr<float>(), *zeros = zero_row.data_ptr<float>();
  for (int64_t t = 0; t < s.steps; ++t) {
    const int64_t base = t * s.batch + row0;  // first row of this block at time t
    if (t > 0) matmul_rows(acc, out.h + (base - s.batch) * n, rows, n, w_t);
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t row = base + r, prev = row - s.batch;
      const float* x = inputs.at(row);
      const float* a = acc + r * width;
      float* h = out.h + row * n;
      switch (cell) {
        case kRNN:
          rnn_forward(n, x, a, h);
          break;
        case kLSTM:
          lstm_forward(n, x, a, t > 0 ? out.c + prev * n : zeros, out.act + row * width, out.c + row * n,
                       out.extra + row * n, h);
          break;
        case kGRU:
          gru_forward(n, x, a, b_hh, t > 0 ? out.h + prev * n : zeros, out.act + row * width,
                      out.extra + row * n, h);
          break;
        case kRRN:
          rrn_forward(n, x, a, t > 0 ? out.c + prev * n : zeros, out.act + row * width, out.c + row * n, h);
          break;
      }
    }
  }
}

// Where the backward of one block writes. d_rec (T, B, G*n): d(loss)/d(h_{t-1} W^T [+ b_hh]), for the
// weight-gradient GEMM. d_in: d(loss)/d(inputs) per row, or null when the inputs are indexed: then each
// row's gradient is added to the block's `partial` (V + 1, G*n) row of its digit, whose last row sums d_rec
// (the GRU's b_hh gradient).
struct Grads {
  float *d_rec, *d_in, *partial;
  int64_t partial_rows;
};

// Backward of one block of rows through all time steps; grad_h holds every step's gradient (T, B, n) or,
// when last_only, the last step's (B, n).
void backward_block(int64_t cell, const Sizes& s, int64_t row0, int64_t rows, const float* grad_h, bool last_only,
                    const Inputs& inputs, const at::Tensor& w, const Saved& in, const Grads& out) {
  const int64_t n = s.n, width = s.width();
  at::Tensor buffers = scratch(3 * rows + 1, n), gru_row = scratch(1, width);
  float *dh_in = buffers.data_ptr<float>(), *dh_direct = dh_in + rows * n, *dc = dh_direct + rows * n;
  float *zeros = dc + rows * n, *d_in_row = gru_row.data_ptr<float>();
  float* bias_partial = out.partial ? out.partial + (out.partial_rows - 1) * width : nullptr;
  for (int64_t t = s.steps - 1; t >= 0; --t) {
    const int64_t base = t * s.batch + row0;
    for (int64_t r = 0; r < rows; ++r) {
      const int64_t row = base + r, prev = row - s.batch;
      const float* dh_out = last_only ? (t == s.steps - 1 ? grad_h + (row0 + r) * n : zeros) : grad_h + row * n;
      const float* dh_next = dh_in + r * n;
      float* d_rec = out.d_rec + row * width;
      float* d_in = d_rec;  // the same for every cell but the GRU
      switch (cell) {
        case kRNN:
          rnn_backward(n, dh_out, dh_next, in.h + row * n, d_rec);
          break;
        case kLSTM:
          lstm_backward(n, dh_out, dh_next, in.act + row * width, t > 0 ? in.c + prev * n : zeros,
                        in.extra + row * n, dc + r * n, d_rec);
          break;
        case kGRU:
          d_in = out.d_in ? out.d_in + row * width : d_in_row;
          gru_backward(n, dh_out, dh_next, in.act + row * width, in.extra + row * n,
                       t > 0 ? in.h + prev * n : zeros, d_in, d_rec, dh_direct + r * n);
          break;
        case kRRN:
          rrn_backward(n, dh_out, dh_next, in.act + row * width, in.c + row * n, dc + r * n, d_rec);
          break;
      }
      if (inputs.index) add_row(width, d_in, out.partial + inputs.index[row] * width);
      if (cell == kGRU) add_row(width, d_rec, bias_partial);
    }
    if (t == 0) break;
    matmul_rows(dh_in, out.d_rec + base * width, rows, width, w);
    if (cell == kGRU) add_row(rows * n, dh_direct, dh_in);
  }
}

Sizes check_inputs(int64_t cell, const at::Tensor& inputs, const c10::optional<at::Tensor>& index,
                   const at::Tensor& w_hh, const c10::optional<at::Tensor>& b_hh, bool check_index_range) {
  TORCH_CHECK(inputs.device().is_cpu() && inputs.scalar_type() == at::kFloat && w_hh.scalar_type() == at::kFloat,
              "seqlab kernels: float32 CPU tensors only");
  const int64_t gates = gate_count(cell), n = w_hh.size(1);
  TORCH_CHECK(inputs.is_contiguous() && inputs.size(-1) == gates * n && w_hh.size(0) == gates * n,
              "seqlab kernels: inputs (..., G*n) and w_hh (G*n, n) must match the cell, inputs contiguous");
  TORCH_CHECK(cell != kGRU || (b_hh && b_hh->is_contiguous()), "seqlab kernels: the GRU needs b_hh");
  if (index) {
    TORCH_CHECK(index->dim() == 2 && index->is_contiguous() && index->scalar_type() == at::kLong && inputs.dim() == 2,
                "seqlab kernels: index must be contiguous int64 (T, B) and inputs a table (V, G*n)");
    if (check_index_range) {
      const int64_t* digits = index->data_ptr<int64_t>();
      const auto [low, high] = std::minmax_element(digits, digits + index->numel());
      TORCH_CHECK(index->numel() == 0 || (*low >= 0 && *high < inputs.size(0)),
                  "seqlab kernels: index out of the table's range");
    }
    return {index->size(0), index->size(1), n, gates};
  }
  TORCH_CHECK(inputs.dim() == 3, "seqlab kernels: dense inputs must be (T, B, G*n)");
  return {inputs.size(0), inputs.size(1), n, gates};
}

float* ptr(const at::Tensor& x) { return x.numel() ? x.data_ptr<float>() : nullptr; }

Inputs inputs_of(const at::Tensor& inputs, const c10::optional<at::Tensor>& index) {
  return {inputs.data_ptr<float>(), index ? index->data_ptr<int64_t>() : nullptr, inputs.size(-1)};
}

int64_t rows_per_thread(int64_t batch) {
  const int64_t threads = std::max<int64_t>(1, at::get_num_threads());
  return (batch + threads - 1) / threads;
}

// Returns [h (T,B,n), c (T,B,n), act (T,B,G*n), extra (T,B,n)]; unused ones are empty.
std::vector<at::Tensor> recurrent_forward(c10::string_view cell_name, const at::Tensor& inputs,
                                          const c10::optional<at::Tensor>& index, const at::Tensor& w_hh,
                                          const c10::optional<at::Tensor>& b_hh) {
  const at::NoGradGuard no_grad;  // called from autograd.Function: its inputs may require grad
  const int64_t cell = cell_id(cell_name);
  const Sizes s = check_inputs(cell, inputs, index, w_hh, b_hh, true);
  auto state = [&](bool used, int64_t width) {
    return used ? at::empty({s.steps, s.batch, width}, inputs.options()) : at::empty({0}, inputs.options());
  };
  at::Tensor h = state(true, s.n);
  at::Tensor c = state(cell == kLSTM || cell == kRRN, s.n);
  at::Tensor act = state(cell != kRNN, s.width());
  at::Tensor extra = state(cell == kLSTM || cell == kGRU, s.n);
  const at::Tensor w_t = w_hh.detach().t();  // worker threads have their own grad mode
  const float* bias = cell == kGRU ? b_hh->data_ptr<float>() : nullptr;
  const Inputs rows = inputs_of(inputs, index);
  at::parallel_for(0, s.batch, rows_per_thread(s.batch), [&](int64_t begin, int64_t end) {
    forward_block(cell, s, begin, end - begin, rows, w_t, bias, {ptr(h), ptr(c), ptr(act), ptr(extra)});
  });
  return {h, c, act, extra};
}

// Returns [grad_inputs (like inputs), grad_w_hh (G*n,n), grad_b_hh (G*n) or empty].
std::vector<at::Tensor> recurrent_backward(c10::string_view cell_name, const at::Tensor& grad_h,
                                           const at::Tensor& inputs, const c10::optional<at::Tensor>& index,
                                           const at::Tensor& w_hh, const c10::optional<at::Tensor>& b_hh,
                                           at::TensorList saved) {
  const at::NoGradGuard no_grad;
  const int64_t cell = cell_id(cell_name);
  const Sizes s = check_inputs(cell, inputs, index, w_hh, b_hh, false);  // the forward checked the index
  const at::Tensor grad = grad_h.contiguous();
  const bool last_only = grad.dim() == 2;
  TORCH_CHECK(grad.size(-1) == s.n && grad.size(-2) == s.batch && (last_only || grad.size(0) == s.steps),
              "seqlab kernels: grad_h must be (T, B, n) or, for the last step only, (B, n)");
  const at::Tensor w = w_hh.detach().contiguous();  // worker threads have their own grad mode
  at::Tensor d_rec = at::empty({s.steps, s.batch, s.width()}, inputs.options());
  at::Tensor d_in = !index && cell == kGRU ? at::empty_like(inputs) : at::empty({0}, inputs.options());
  // per block: a table-gradient row per digit (indexed inputs) and a row for the GRU's b_hh gradient
  const int64_t chunk = rows_per_thread(s.batch), blocks = (s.batch + chunk - 1) / chunk;
  const int64_t partial_rows = (index ? inputs.size(0) : 0) + (cell == kGRU ? 1 : 0);
  at::Tensor partials = at::zeros({blocks, partial_rows, s.width()}, inputs.options());
  const Inputs rows = inputs_of(inputs, index);
  at::parallel_for(0, s.batch, chunk, [&](int64_t begin, int64_t end) {
    float* partial = partial_rows ? partials.data_ptr<float>() + begin / chunk * partial_rows * s.width() : nullptr;
    backward_block(cell, s, begin, end - begin, grad.data_ptr<float>(), last_only, rows, w,
                   {ptr(saved[0]), ptr(saved[1]), ptr(saved[2]), ptr(saved[3])},
                   {d_rec.data_ptr<float>(), ptr(d_in), partial, partial_rows});
  });
  at::Tensor grad_w = at::empty_like(w_hh);
  if (s.steps > 1) {  // h_{-1} = 0: step 0 adds nothing
    at::mm_out(grad_w, d_rec.narrow(0, 1, s.steps - 1).reshape({-1, s.width()}).t(),
               saved[0].narrow(0, 0, s.steps - 1).reshape({-1, s.n}));
  } else {
    grad_w.zero_();
  }
  const at::Tensor totals = partials.sum(0);
  at::Tensor grad_inputs = index ? totals.narrow(0, 0, inputs.size(0)) : (cell == kGRU ? d_in : d_rec);
  at::Tensor grad_b = cell == kGRU ? totals[partial_rows - 1] : at::empty({0}, inputs.options());
  return {grad_inputs, grad_w, grad_b};
}

}  // namespace

TORCH_LIBRARY(seqlab, m) {
  m.def("recurrent_forward(str cell, Tensor inputs, Tensor? index, Tensor w_hh, Tensor? b_hh) -> Tensor[]");
  m.def(
      "recurrent_backward(str cell, Tensor grad_h, Tensor inputs, Tensor? index, Tensor w_hh, Tensor? b_hh, "
      "Tensor[] saved) -> Tensor[]");
}

TORCH_LIBRARY_IMPL(seqlab, CPU, m) {
  m.impl("recurrent_forward", &recurrent_forward);
  m.impl("recurrent_backward", &recurrent_backward);
}
