// Element-wise kernels, reductions and copies (see elementwise.h): the work is split into tasks
// for the pool here; the vectorised inner loops come from the instruction set's table
// (ew-loops.inc), the widest this CPU has unless switched.
#include "elementwise.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace {

const EwLoops* widest() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl"))
    return &ewLoopsAvx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return &ewLoopsAvx2;
#endif
  return &ewLoopsGeneric;
}

const EwLoops* loops = widest();

// Elements one task takes: large enough that waking a thread costs little against the work.
constexpr long CHUNK = 16384;

// Runs f(begin, end) over [0, n) in chunks of CHUNK, spread over the pool.
template <typename F>
void chunked(long n, ThreadPool& pool, const F& f) {
  const long tasks = (n + CHUNK - 1) / CHUNK;
  if (tasks <= 1) {
    if (n > 0) f(0L, n);
    return;
  }
  pool.parallelFor(tasks, [&](long t, int) { f(t * CHUNK, std::min(n, (t + 1) * CHUNK)); });
}

// Runs f(row) for every row in [0, rows), rows grouped into tasks of about CHUNK elements.
template <typename F>
void byRows(long rows, long cols, ThreadPool& pool, const F& f) {
  const long per = std::max(1L, CHUNK / std::max(1L, cols));
  const long tasks = (rows + per - 1) / per;
  if (tasks <= 1) {
    for (long r = 0; r < rows; r++) f(r);
    return;
  }
  pool.parallelFor(tasks, [&](long t, int) {
    for (long r = t * per, end = std::min(rows, (t + 1) * per); r < end; r++) f(r);
  });
}

bool isSum(ReduceOp op) { return op == ReduceOp::Sum || op == ReduceOp::Mean; }

float reduceRow(ReduceOp op, const float* x, long n) {
  return isSum(op) ? loops->rowSum(x, n) : loops->rowMax(x, n, op == ReduceOp::Min);
}

}  // namespace

const char* ewIsa() { return loops->name; }

void ewBiasAct(float* c, long ldc, long rows, long cols, const float* bias, bool gelu) { loops->biasAct(c, ldc, rows, cols, bias, gelu); }

bool ewSetIsa(const char* name) {
  const EwLoops* best = widest();
  const EwLoops* candidates[] = {
#if defined(__x86_64__)
      &ewLoopsAvx512, &ewLoopsAvx2,
#endif
      &ewLoopsGeneric};
  bool past = false;  // only the widest and the ones narrower than it are supported
  for (const EwLoops* c : candidates) {
    past = past || c == best;
    if (past && std::strcmp(c->name, name) == 0) {
      loops = c;
      return true;
    }
  }
  return false;
}

void ewUnary(UnaryOp op, const float* x, float* y, long n, ThreadPool& pool) {
  void (*fn)(const float*, float*, long) = nullptr;
  switch (op) {
    case UnaryOp::Exp: fn = loops->exp; break;
    case UnaryOp::Erf: fn = loops->erf; break;
    case UnaryOp::Sqrt: fn = loops->sqrt; break;
    case UnaryOp::Rsqrt: fn = loops->rsqrt; break;
    case UnaryOp::Gelu: fn = loops->gelu; break;
  }
  chunked(n, pool, [&](long b, long e) { fn(x + b, y + b, e - b); });
}

void ewGeluGrad(const float* x, const float* dy, float* dx, long n, ThreadPool& pool) {
  chunked(n, pool, [&](long b, long e) { loops->geluGrad(x + b, dy + b, dx + b, e - b); });
}

void ewReduce(ReduceOp op, const float* x, float* y, long outer, long r, long inner, ThreadPool& pool) {
  const float meanScale = 1.0f / static_cast<float>(r);
  const auto finish = [&](float v) { return op == ReduceOp::Mean ? v * meanScale : v; };
  if (inner == 1) {
    // Each output is one contiguous row of r. A single long row is split into partial results.
    if (outer == 1 && r > 4 * CHUNK) {
      const long parts = (r + CHUNK - 1) / CHUNK;
      std::vector<float> partial(parts);
      pool.parallelFor(parts, [&](long t, int) {
        const long b = t * CHUNK;
        partial[t] = reduceRow(op, x + b, std::min(r, b + CHUNK) - b);
      });
      float v = partial[0];
      for (long t = 1; t < parts; t++)
        v = isSum(op) ? v + partial[t] : op == ReduceOp::Max ? std::max(v, partial[t]) : std::min(v, partial[t]);
      y[0] = finish(v);
      return;
    }
    byRows(outer, r, pool, [&](long o) { y[o] = finish(reduceRow(op, x + o * r, r)); });
    return;
  }
  // y[o, :] accumulates r rows of `inner`. Columns are split into blocks so that a small `outer`
  // (a bias gradient has outer 1) still gives every thread work.
  const long block = std::max(64L, std::min(inner, CHUNK / std::max(1L, std::min(r, 64L))));
  const long blocks = (inner + block - 1) / block;
  const auto task = [&](long t, int) {
    const long o = t / blocks, c0 = (t % blocks) * block, n = std::min(inner, c0 + block) - c0;
    float* out = y + o * inner + c0;
    const float* in = x + o * r * inner + c0;
    for (long k = 0; k < r; k++) loops->accumulate(in + k * inner, out, n, op, k == 0);
    if (op == ReduceOp::Mean) loops->scale(out, n, meanScale);
  };
  if (outer * blocks == 1)
    task(0, 0);
  else
    pool.parallelFor(outer * blocks, task);
}

void ewStridedCopy(const float* x, float* y, int rank, const long* shape, const long* strides, ThreadPool& pool) {
  // Drop axes of size 1 and merge an axis into the one before when that one steps over all of it.
  long dims[8], st[8];
  int k = 0;
  long total = 1;
  for (int d = 0; d < rank; d++) {
    total *= shape[d];
    if (shape[d] == 1) continue;
    if (k > 0 && st[k - 1] == strides[d] * shape[d]) {
      dims[k - 1] *= shape[d];
      st[k - 1] = strides[d];
    } else {
      dims[k] = shape[d];
      st[k] = strides[d];
      k++;
    }
  }
  if (total == 0) return;
  if (k == 0) {
    y[0] = x[0];
    return;
  }
  const long cols = dims[k - 1], cs = st[k - 1], rows = total / cols;
  byRows(rows, cols, pool, [&](long row) {
    // The row's source offset from its index over the outer axes, innermost first.
    long off = 0, rest = row;
    for (int d = k - 2; d >= 0; d--) {
      off += (rest % dims[d]) * st[d];
      rest /= dims[d];
    }
    float* out = y + row * cols;
    if (cs == 1)
      std::memcpy(out, x + off, cols * sizeof(float));
    else if (cs == 0)
      std::fill(out, out + cols, x[off]);
    else
      loops->gather(x + off, out, cols, cs);
  });
}

void ewBinary(BinaryOp op, const float* a, const long* aStrides, const float* b, const long* bStrides, float* y, int rank,
              const long* shape, ThreadPool& pool) {
  // Drop axes of size 1 and merge an axis into the one before when both operands step over all of it.
  long dims[8], sa[8], sb[8];
  int k = 0;
  long total = 1;
  for (int d = 0; d < rank; d++) {
    total *= shape[d];
    if (shape[d] == 1) continue;
    if (k > 0 && sa[k - 1] == aStrides[d] * shape[d] && sb[k - 1] == bStrides[d] * shape[d]) {
      dims[k - 1] *= shape[d];
      sa[k - 1] = aStrides[d];
      sb[k - 1] = bStrides[d];
    } else {
      dims[k] = shape[d];
      sa[k] = aStrides[d];
      sb[k] = bStrides[d];
      k++;
    }
  }
  if (total == 0) return;
  if (k == 0) {
    loops->binary(op, a, 1, b, 1, y, 1);
    return;
  }
  const long cols = dims[k - 1], rows = total / cols;
  if (rows == 1) {
    // One long row: split it.
    chunked(cols, pool, [&](long s, long e) { loops->binary(op, a + s * sa[0], sa[0], b + s * sb[0], sb[0], y + s, e - s); });
    return;
  }
  byRows(rows, cols, pool, [&](long row) {
    long ao = 0, bo = 0, rest = row;
    for (int d = k - 2; d >= 0; d--) {
      const long i = rest % dims[d];
      ao += i * sa[d];
      bo += i * sb[d];
      rest /= dims[d];
    }
    loops->binary(op, a + ao, sa[k - 1], b + bo, sb[k - 1], y + row * cols, cols);
  });
}

void ewSoftmax(const float* x, float* y, long rows, long cols, float scale, ThreadPool& pool) {
  byRows(rows, cols, pool, [&](long r) { loops->softmaxRow(x + r * cols, y + r * cols, cols, scale); });
}

void ewSoftmaxGrad(const float* p, const float* dp, float* ds, long rows, long cols, float scale, ThreadPool& pool) {
  byRows(rows, cols, pool, [&](long r) { loops->softmaxGradRow(p + r * cols, dp + r * cols, ds + r * cols, cols, scale); });
}

void ewLayerNorm(const float* x, const float* w, const float* b, float* y, float* xhat, float* rstd, long rows, long n, float eps,
                 ThreadPool& pool) {
  byRows(rows, n, pool, [&](long r) { rstd[r] = loops->layerNormRow(x + r * n, w, b, y + r * n, xhat + r * n, n, eps); });
}

void ewLayerNormGrad(const float* dy, const float* xhat, const float* rstd, const float* w, float* dx, float* dw, float* db, long rows,
                     long n, ThreadPool& pool) {
  if (rows == 0) {
    std::fill(dw, dw + n, 0.0f);
    std::fill(db, db + n, 0.0f);
    return;
  }
  // Rows in a fixed number of parts, each with its own partial dw and db, summed in order after:
  // the result does not depend on which thread took which part.
  const long parts = std::min(rows, std::max(1L, std::min(4L * pool.size(), rows * n / CHUNK)));
  std::vector<float> partial(static_cast<size_t>(parts) * 2 * n, 0.0f);
  const long per = (rows + parts - 1) / parts;
  const auto part = [&](long p, int) {
    float* pdw = partial.data() + p * 2 * n;
    float* pdb = pdw + n;
    for (long r = p * per, end = std::min(rows, (p + 1) * per); r < end; r++)
      loops->layerNormGradRow(dy + r * n, xhat + r * n, rstd[r], w, dx + r * n, pdw, pdb, n);
  };
  if (parts <= 1)
    part(0, 0);
  else
    pool.parallelFor(parts, part);
  std::memcpy(dw, partial.data(), n * sizeof(float));
  std::memcpy(db, partial.data() + n, n * sizeof(float));
  for (long p = 1; p < parts; p++) {
    loops->accumulate(partial.data() + p * 2 * n, dw, n, ReduceOp::Sum, false);
    loops->accumulate(partial.data() + p * 2 * n + n, db, n, ReduceOp::Sum, false);
  }
}

void ewAdamW(const float* p, const float* m, const float* v, const float* g, float* p1, float* m1, float* v1, long n, const float* c,
             ThreadPool& pool) {
  chunked(n, pool, [&](long b, long e) { loops->adamw(p + b, m + b, v + b, g + b, p1 + b, m1 + b, v1 + b, e - b, c); });
}

void ewCopyRows(const float* x, float* y, long rows, long cols, long yStride, ThreadPool& pool) {
  if (cols == yStride) {
    chunked(rows * cols, pool, [&](long b, long e) { std::memcpy(y + b, x + b, (e - b) * sizeof(float)); });
    return;
  }
  byRows(rows, cols, pool, [&](long r) { std::memcpy(y + r * yStride, x + r * cols, cols * sizeof(float)); });
}
