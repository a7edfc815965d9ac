// The N-API surface of the kernels. Operands are Float32Arrays (any views: the WASM backend passes
// views of its heap, the CPU backend its tensors' own arrays); every offset is checked against the
// array's length before any memory is touched.
#include <node_api.h>

#include <cstdlib>
#include <initializer_list>
#include <utility>
#include <string>
#include <thread>
#include <vector>

#include "elementwise.h"
#include "peak.h"
#include "sgemm.h"

namespace {

ThreadPool* pool = nullptr;

int defaultThreads() {
  if (const char* env = std::getenv("FPT_KERNELS_THREADS")) {
    const int n = std::atoi(env);
    if (n > 0) return n;
  }
  const unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

napi_value fail(napi_env env, const std::string& message) {
  napi_throw_error(env, nullptr, message.c_str());
  return nullptr;
}

// A typed array of the wanted element type (Float32Array for float, Float64Array for double).
template <typename T>
bool getTyped(napi_env env, napi_value v, napi_typedarray_type want, T** data, size_t* length) {
  bool is = false;
  if (napi_is_typedarray(env, v, &is) != napi_ok || !is) return false;
  napi_typedarray_type type;
  void* ptr;
  napi_value buffer;
  size_t offset;
  if (napi_get_typedarray_info(env, v, &type, length, &ptr, &buffer, &offset) != napi_ok) return false;
  if (type != want) return false;
  *data = static_cast<T*>(ptr);
  return true;
}

bool getFloats(napi_env env, napi_value v, float** data, size_t* length) {
  return getTyped(env, v, napi_float32_array, data, length);
}

bool getDoubles(napi_env env, napi_value v, double** data, size_t* length) {
  return getTyped(env, v, napi_float64_array, data, length);
}

bool getLong(napi_env env, napi_value v, long* out) {
  int64_t x;
  if (napi_get_value_int64(env, v, &x) != napi_ok) return false;
  *out = static_cast<long>(x);
  return true;
}

bool getBool(napi_env env, napi_value v, bool* out) { return napi_get_value_bool(env, v, out) == napi_ok; }

// batchMatMul(a, b, c, offsets, M, N, K, transposeA, transposeB)
//   a: Float32Array holding each A[b] ([M, K], or [K, M] when transposeA) at offsets[3b]
//   b: Float32Array holding each B[b] ([K, N], or [N, K] when transposeB) at offsets[3b + 1]
//   c: Float32Array receiving each C[b] ([M, N]) at offsets[3b + 2]
//   offsets: Float64Array of element offsets, three per matrix of the batch
napi_value BatchMatMul(napi_env env, napi_callback_info info) {
  size_t argc = 9;
  napi_value args[9];
  napi_get_cb_info(env, info, &argc, args, nullptr, nullptr);
  if (argc != 9) return fail(env, "batchMatMul expects 9 arguments (a, b, c, offsets, M, N, K, transposeA, transposeB)");
  float *a, *b, *c;
  size_t aLen, bLen, cLen, offLen;
  double* offs;
  if (!getFloats(env, args[0], &a, &aLen)) return fail(env, "batchMatMul: a must be a Float32Array");
  if (!getFloats(env, args[1], &b, &bLen)) return fail(env, "batchMatMul: b must be a Float32Array");
  if (!getFloats(env, args[2], &c, &cLen)) return fail(env, "batchMatMul: c must be a Float32Array");
  if (!getDoubles(env, args[3], &offs, &offLen) || offLen % 3 != 0)
    return fail(env, "batchMatMul: offsets must be a Float64Array of 3 offsets per matrix");
  long M, N, K;
  bool tA, tB;
  if (!getLong(env, args[4], &M) || !getLong(env, args[5], &N) || !getLong(env, args[6], &K) || M < 0 || N < 0 || K < 0)
    return fail(env, "batchMatMul: M, N and K must be non-negative integers");
  if (!getBool(env, args[7], &tA) || !getBool(env, args[8], &tB))
    return fail(env, "batchMatMul: transposeA and transposeB must be booleans");
  const long batch = static_cast<long>(offLen / 3);
  std::vector<long> ao(batch), bo(batch), co(batch);
  const double aSpan = static_cast<double>(M) * K, bSpan = static_cast<double>(K) * N, cSpan = static_cast<double>(M) * N;
  for (long i = 0; i < batch; i++) {
    const double x = offs[3 * i], y = offs[3 * i + 1], z = offs[3 * i + 2];
    if (!(x >= 0 && y >= 0 && z >= 0) || x != static_cast<double>(static_cast<long>(x)) ||
        y != static_cast<double>(static_cast<long>(y)) || z != static_cast<double>(static_cast<long>(z)))
      return fail(env, "batchMatMul: offsets must be non-negative integers");
    if (x + aSpan > aLen || y + bSpan > bLen || z + cSpan > cLen)
      return fail(env, "batchMatMul: matrix " + std::to_string(i) + " reaches past the end of its array");
    ao[i] = static_cast<long>(x);
    bo[i] = static_cast<long>(y);
    co[i] = static_cast<long>(z);
  }
  GemmShape s;
  s.M = M;
  s.N = N;
  s.K = K;
  s.rsA = tA ? 1 : K;
  s.csA = tA ? M : 1;
  s.rsB = tB ? 1 : N;
  s.csB = tB ? K : 1;
  s.ldc = N;
  sgemmBatch(batch, a, ao.data(), b, bo.data(), c, co.data(), s, *pool);
  return nullptr;
}

// Arguments of the element-wise functions: (array, element offset) pairs and sizes, checked so
// that nothing outside an array is read or written.
struct Args {
  napi_env env;
  const char* fn;
  napi_value* argv;
  size_t argc;
  std::string error;

  bool fail(const std::string& message) {
    if (error.empty()) error = std::string(fn) + ": " + message;
    return false;
  }
  bool count(size_t want, const char* names) {
    return argc == want || fail("expects " + std::to_string(want) + " arguments (" + names + ")");
  }
  bool size(size_t i, const char* name, long* out) {
    return (getLong(env, argv[i], out) && *out >= 0) || fail(std::string(name) + " must be a non-negative integer");
  }
  // A Float32Array argument and its element offset, with room for `span` elements from there.
  bool floats(size_t i, const char* name, double span, float** out) {
    float* data;
    size_t len;
    long off;
    if (!getFloats(env, argv[i], &data, &len)) return fail(std::string(name) + " must be a Float32Array");
    if (!getLong(env, argv[i + 1], &off) || off < 0) return fail(std::string(name) + "'s offset must be a non-negative integer");
    if (static_cast<double>(off) + span > static_cast<double>(len))
      return fail(std::string(name) + " has " + std::to_string(len) + " elements, fewer than offset " + std::to_string(off) + " + " +
                  std::to_string(static_cast<long>(span)));
    *out = data + off;
    return true;
  }
  napi_value done() { return error.empty() ? nullptr : ::fail(env, error); }
};

template <size_t N>
Args args(napi_env env, napi_callback_info info, const char* fn, napi_value (&argv)[N]) {
  size_t argc = N;
  napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr);
  return Args{env, fn, argv, argc, {}};
}

// The enum value named `name` in a table of (name, value) pairs; false when there is none.
template <typename E, size_t N>
bool lookup(const std::string& name, const std::pair<const char*, E> (&table)[N], E* out) {
  for (const auto& [n, v] : table)
    if (name == n) return *out = v, true;
  return false;
}

bool unaryOp(const std::string& name, UnaryOp* op) {
  static const std::pair<const char*, UnaryOp> ops[] = {
      {"exp", UnaryOp::Exp}, {"erf", UnaryOp::Erf}, {"sqrt", UnaryOp::Sqrt}, {"rsqrt", UnaryOp::Rsqrt}, {"gelu", UnaryOp::Gelu}};
  return lookup(name, ops, op);
}

bool reduceOp(const std::string& name, ReduceOp* op) {
  static const std::pair<const char*, ReduceOp> ops[] = {
      {"sum", ReduceOp::Sum}, {"mean", ReduceOp::Mean}, {"max", ReduceOp::Max}, {"min", ReduceOp::Min}};
  return lookup(name, ops, op);
}

std::string stringArg(napi_env env, napi_value v) {
  char buf[32] = {};
  size_t len = 0;
  napi_get_value_string_utf8(env, v, buf, sizeof buf, &len);
  return std::string(buf, len);
}

// unary(op, x, xOff, y, yOff, n): y = op(x), op one of exp, erf, sqrt, rsqrt, gelu.
napi_value Unary(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  Args a = args(env, info, "unary", argv);
  UnaryOp op;
  long n;
  float *x, *y;
  if (a.count(6, "op, x, xOffset, y, yOffset, n") && (unaryOp(stringArg(env, argv[0]), &op) || a.fail("op must be exp, erf, sqrt, rsqrt or gelu")) &&
      a.size(5, "n", &n) && a.floats(1, "x", n, &x) && a.floats(3, "y", n, &y))
    ewUnary(op, x, y, n, *pool);
  return a.done();
}

// geluGrad(x, xOff, dy, dyOff, dx, dxOff, n)
napi_value GeluGrad(napi_env env, napi_callback_info info) {
  napi_value argv[7];
  Args a = args(env, info, "geluGrad", argv);
  long n;
  float *x, *dy, *dx;
  if (a.count(7, "x, xOffset, dy, dyOffset, dx, dxOffset, n") && a.size(6, "n", &n) && a.floats(0, "x", n, &x) &&
      a.floats(2, "dy", n, &dy) && a.floats(4, "dx", n, &dx))
    ewGeluGrad(x, dy, dx, n, *pool);
  return a.done();
}

// linear(x, xOff, w, wOff, bias, biasOff, y, yOff, m, n, k, gelu): a linear layer in one pass,
// y [m, n] = act(x [m, k] w [n, k]^T + bias [n]), act the exact GELU when gelu, else the identity;
// the bias and GELU are applied to each tile of y in the SGEMM's store, not in passes of their own.
napi_value Linear(napi_env env, napi_callback_info info) {
  napi_value argv[12];
  Args a = args(env, info, "linear", argv);
  long m, n, k;
  bool gelu;
  float *x, *w, *bias, *y;
  if (a.count(12, "x, xOffset, w, wOffset, bias, biasOffset, y, yOffset, m, n, k, gelu") && a.size(8, "m", &m) && a.size(9, "n", &n) &&
      a.size(10, "k", &k) && (getBool(env, argv[11], &gelu) || a.fail("gelu must be a boolean")) &&
      a.floats(0, "x", static_cast<double>(m) * k, &x) && a.floats(2, "w", static_cast<double>(n) * k, &w) &&
      a.floats(4, "bias", n, &bias) && a.floats(6, "y", static_cast<double>(m) * n, &y)) {
    GemmShape s;
    s.M = m;
    s.N = n;
    s.K = k;
    s.rsA = k;
    s.csA = 1;
    s.rsB = 1;  // op(B) = w^T: w's rows are its columns
    s.csB = k;
    s.ldc = n;
    const long zero = 0;
    const GemmEpilogue epilogue{bias, gelu};
    sgemmBatch(1, x, &zero, w, &zero, y, &zero, s, *pool, &epilogue);
  }
  return a.done();
}

// reduce(op, x, xOff, y, yOff, outer, r, inner): y [outer, inner] = op over r of x [outer, r, inner].
napi_value Reduce(napi_env env, napi_callback_info info) {
  napi_value argv[8];
  Args a = args(env, info, "reduce", argv);
  ReduceOp op;
  long outer, r, inner;
  float *x, *y;
  if (a.count(8, "op, x, xOffset, y, yOffset, outer, r, inner") &&
      (reduceOp(stringArg(env, argv[0]), &op) || a.fail("op must be sum, mean, max or min")) && a.size(5, "outer", &outer) &&
      a.size(6, "r", &r) && a.size(7, "inner", &inner) && (r > 0 || a.fail("r must be positive")) &&
      a.floats(1, "x", static_cast<double>(outer) * r * inner, &x) && a.floats(3, "y", static_cast<double>(outer) * inner, &y))
    ewReduce(op, x, y, outer, r, inner, *pool);
  return a.done();
}

// layerNorm(x, xOff, w, wOff, b, bOff, y, yOff, xhat, xhatOff, rstd, rstdOff, rows, n, eps)
napi_value LayerNorm(napi_env env, napi_callback_info info) {
  napi_value argv[15];
  Args a = args(env, info, "layerNorm", argv);
  long rows, n;
  double eps = 0;
  float *x, *w, *b, *y, *xhat, *rstd;
  if (a.count(15, "x, xOffset, w, wOffset, b, bOffset, y, yOffset, xhat, xhatOffset, rstd, rstdOffset, rows, n, eps") &&
      a.size(12, "rows", &rows) && a.size(13, "n", &n) && (n > 0 || a.fail("n must be positive")) &&
      ((napi_get_value_double(env, argv[14], &eps) == napi_ok && eps >= 0) || a.fail("eps must be a non-negative number"))) {
    const double total = static_cast<double>(rows) * n;
    if (a.floats(0, "x", total, &x) && a.floats(2, "w", n, &w) && a.floats(4, "b", n, &b) && a.floats(6, "y", total, &y) &&
        a.floats(8, "xhat", total, &xhat) && a.floats(10, "rstd", rows, &rstd))
      ewLayerNorm(x, w, b, y, xhat, rstd, rows, n, static_cast<float>(eps), *pool);
  }
  return a.done();
}

// layerNormGrad(dy, dyOff, xhat, xhatOff, rstd, rstdOff, w, wOff, dx, dxOff, dw, dwOff, db, dbOff, rows, n)
napi_value LayerNormGrad(napi_env env, napi_callback_info info) {
  napi_value argv[16];
  Args a = args(env, info, "layerNormGrad", argv);
  long rows, n;
  float *dy, *xhat, *rstd, *w, *dx, *dw, *db;
  if (a.count(16, "dy, dyOffset, xhat, xhatOffset, rstd, rstdOffset, w, wOffset, dx, dxOffset, dw, dwOffset, db, dbOffset, rows, n") &&
      a.size(14, "rows", &rows) && a.size(15, "n", &n)) {
    const double total = static_cast<double>(rows) * n;
    if (a.floats(0, "dy", total, &dy) && a.floats(2, "xhat", total, &xhat) && a.floats(4, "rstd", rows, &rstd) && a.floats(6, "w", n, &w) &&
        a.floats(8, "dx", total, &dx) && a.floats(10, "dw", n, &dw) && a.floats(12, "db", n, &db))
      ewLayerNormGrad(dy, xhat, rstd, w, dx, dw, db, rows, n, *pool);
  }
  return a.done();
}

// adamw(p, pOff, m, mOff, v, vOff, g, gOff, p1, p1Off, m1, m1Off, v1, v1Off, n, constants)
//   constants: Float64Array [decay, beta1, 1 - beta1, beta2, 1 - beta2, sqrt(bc2), eps, lr / bc1, gradScale]
napi_value AdamW(napi_env env, napi_callback_info info) {
  napi_value argv[16];
  Args a = args(env, info, "adamw", argv);
  long n;
  float *p, *m, *v, *g, *p1, *m1, *v1;
  double* c;
  size_t cn;
  if (a.count(16, "p, pOffset, m, mOffset, v, vOffset, g, gOffset, p1, p1Offset, m1, m1Offset, v1, v1Offset, n, constants") &&
      a.size(14, "n", &n) && (getDoubles(env, argv[15], &c, &cn) && cn == 9 || a.fail("constants must be a Float64Array of 9")) &&
      a.floats(0, "p", n, &p) && a.floats(2, "m", n, &m) && a.floats(4, "v", n, &v) && a.floats(6, "g", n, &g) &&
      a.floats(8, "p1", n, &p1) && a.floats(10, "m1", n, &m1) && a.floats(12, "v1", n, &v1)) {
    float cf[9];
    for (int i = 0; i < 9; i++) cf[i] = static_cast<float>(c[i]);
    ewAdamW(p, m, v, g, p1, m1, v1, n, cf, *pool);
  }
  return a.done();
}

bool binaryOp(const std::string& name, BinaryOp* op) {
  static const std::pair<const char*, BinaryOp> ops[] = {
      {"add", BinaryOp::Add}, {"sub", BinaryOp::Sub}, {"mul", BinaryOp::Mul}, {"div", BinaryOp::Div}};
  return lookup(name, ops, op);
}

// The element offset one past the last element a strided read reaches over `shape`.
double reachOf(const long* shape, const long* strides, size_t rank) {
  double reach = 1;
  for (size_t d = 0; d < rank; d++) reach += static_cast<double>(shape[d] > 0 ? shape[d] - 1 : 0) * strides[d];
  return reach;
}

// Integer entries of a Float64Array (shape or strides), non-negative, at most 8.
bool longs(napi_env env, napi_value v, long* out, size_t* n) {
  double* d;
  if (!getDoubles(env, v, &d, n) || *n > 8) return false;
  for (size_t i = 0; i < *n; i++) {
    out[i] = static_cast<long>(d[i]);
    if (out[i] < 0 || out[i] != d[i]) return false;
  }
  return true;
}

// binary(op, a, aOff, aStrides, b, bOff, bStrides, y, yOff, shape): y = a op b, broadcast through
// strides (0 along an operand's broadcast axes); y contiguous in shape.
napi_value Binary(napi_env env, napi_callback_info info) {
  napi_value argv[10];
  Args a = args(env, info, "binary", argv);
  if (!a.count(10, "op, a, aOffset, aStrides, b, bOffset, bStrides, y, yOffset, shape")) return a.done();
  BinaryOp op;
  long shape[8], as[8], bs[8];
  size_t rank, ra, rb;
  if (!binaryOp(stringArg(env, argv[0]), &op)) {
    a.fail("op must be add, sub, mul or div");
    return a.done();
  }
  if (!longs(env, argv[9], shape, &rank) || !longs(env, argv[3], as, &ra) || !longs(env, argv[6], bs, &rb) || ra != rank || rb != rank) {
    a.fail("shape and both strides must be Float64Arrays of one length (at most 8) of non-negative integers");
    return a.done();
  }
  double total = 1;
  for (size_t d = 0; d < rank; d++) total *= shape[d];
  float *x, *z, *y;
  // Operands are read from their offsets: args 1-2 and 4-5 are (array, offset) pairs.
  napi_value pa[2] = {argv[1], argv[2]}, pb[2] = {argv[4], argv[5]}, py[2] = {argv[7], argv[8]};
  Args aa{env, "binary", pa, 2, {}}, ab{env, "binary", pb, 2, {}}, ay{env, "binary", py, 2, {}};
  const bool ok = aa.floats(0, "a", total == 0 ? 0 : reachOf(shape, as, rank), &x) && ab.floats(0, "b", total == 0 ? 0 : reachOf(shape, bs, rank), &z) &&
                  ay.floats(0, "y", total, &y);
  if (!ok) {
    a.fail((aa.error + ab.error + ay.error).substr(8));
    return a.done();
  }
  ewBinary(op, x, as, z, bs, y, static_cast<int>(rank), shape, *pool);
  return a.done();
}

// stridedCopy(x, xOff, y, yOff, shape, strides): y (contiguous in shape) = x read at strides.
napi_value StridedCopy(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  Args a = args(env, info, "stridedCopy", argv);
  if (!a.count(6, "x, xOffset, y, yOffset, shape, strides")) return a.done();
  long shape[8], strides[8];
  size_t rank, rank2;
  if (!longs(env, argv[4], shape, &rank) || !longs(env, argv[5], strides, &rank2) || rank != rank2) {
    a.fail("shape and strides must be Float64Arrays of one length (at most 8) of non-negative integers");
    return a.done();
  }
  double total = 1;
  for (size_t d = 0; d < rank; d++) total *= shape[d];
  float *x, *y;
  if (a.floats(0, "x", total == 0 ? 0 : reachOf(shape, strides, rank), &x) && a.floats(2, "y", total, &y))
    ewStridedCopy(x, y, static_cast<int>(rank), shape, strides, *pool);
  return a.done();
}

// copyRows(x, xOff, y, yOff, rows, cols, yStride): a [rows, cols] block into rows of yStride elements.
napi_value CopyRows(napi_env env, napi_callback_info info) {
  napi_value argv[7];
  Args a = args(env, info, "copyRows", argv);
  long rows, cols, stride;
  float *x, *y;
  if (a.count(7, "x, xOffset, y, yOffset, rows, cols, yStride") && a.size(4, "rows", &rows) && a.size(5, "cols", &cols) &&
      a.size(6, "yStride", &stride) && (stride >= cols || a.fail("yStride must be at least cols")) &&
      a.floats(0, "x", static_cast<double>(rows) * cols, &x) &&
      a.floats(2, "y", rows == 0 ? 0 : static_cast<double>(rows - 1) * stride + cols, &y))
    ewCopyRows(x, y, rows, cols, stride, *pool);
  return a.done();
}

// softmax(x, xOff, y, yOff, rows, cols, scale): softmax of scale * x over the last axis of [rows, cols].
napi_value Softmax(napi_env env, napi_callback_info info) {
  napi_value argv[7];
  Args a = args(env, info, "softmax", argv);
  long rows, cols;
  double scale = 0;
  float *x, *y;
  if (a.count(7, "x, xOffset, y, yOffset, rows, cols, scale") && a.size(4, "rows", &rows) && a.size(5, "cols", &cols) &&
      ((napi_get_value_double(env, argv[6], &scale) == napi_ok && scale > 0) || a.fail("scale must be a positive number")) &&
      a.floats(0, "x", static_cast<double>(rows) * cols, &x) && a.floats(2, "y", static_cast<double>(rows) * cols, &y))
    ewSoftmax(x, y, rows, cols, static_cast<float>(scale), *pool);
  return a.done();
}

// softmaxGrad(p, pOff, dp, dpOff, ds, dsOff, rows, cols, scale): ds = scale p (dp - sum(dp p)).
napi_value SoftmaxGrad(napi_env env, napi_callback_info info) {
  napi_value argv[9];
  Args a = args(env, info, "softmaxGrad", argv);
  long rows, cols;
  double scale = 0;
  float *p, *dp, *ds;
  if (a.count(9, "p, pOffset, dp, dpOffset, ds, dsOffset, rows, cols, scale") && a.size(6, "rows", &rows) &&
      a.size(7, "cols", &cols) && (napi_get_value_double(env, argv[8], &scale) == napi_ok || a.fail("scale must be a number"))) {
    const double n = static_cast<double>(rows) * cols;
    if (a.floats(0, "p", n, &p) && a.floats(2, "dp", n, &dp) && a.floats(4, "ds", n, &ds))
      ewSoftmaxGrad(p, dp, ds, rows, cols, static_cast<float>(scale), *pool);
  }
  return a.done();
}

napi_value str(napi_env env, const char* s) {
  napi_value v;
  napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &v);
  return v;
}

napi_value num(napi_env env, double x) {
  napi_value v;
  napi_create_double(env, x, &v);
  return v;
}

// An object from (name, value) pairs.
napi_value object(napi_env env, std::initializer_list<std::pair<const char*, napi_value>> fields) {
  napi_value obj;
  napi_create_object(env, &obj);
  for (const auto& [name, value] : fields) napi_set_named_property(env, obj, name, value);
  return obj;
}

napi_value Info(napi_env env, napi_callback_info) {
  int count = 0;
  const MicroKernel* const* kernels = supportedKernels(&count);
  napi_value isas;
  napi_create_array_with_length(env, count, &isas);
  for (int i = 0; i < count; i++) napi_set_element(env, isas, i, str(env, kernels[i]->name));
  return object(env, {{"isa", str(env, sgemmIsa())}, {"elementwiseIsa", str(env, ewIsa())}, {"threads", num(env, pool->size())}, {"isas", isas}});
}

// setIsa(name): switches the SGEMM to another supported micro-kernel ("avx512", "avx2-fma", "generic").
napi_value SetIsa(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg;
  napi_get_cb_info(env, info, &argc, &arg, nullptr, nullptr);
  char name[32];
  size_t len = 0;
  if (argc != 1 || napi_get_value_string_utf8(env, arg, name, sizeof(name), &len) != napi_ok)
    return fail(env, "setIsa expects the name of a micro-kernel (a string)");
  if (sgemmSetIsa(name)) {
    // The element-wise loops follow where they can (their AVX-512 table also needs BW, DQ and VL,
    // so on a CPU with AVX-512F alone they keep AVX2).
    ewSetIsa(name);
  } else {
    int count = 0;
    const MicroKernel* const* kernels = supportedKernels(&count);
    std::string known;
    for (int i = 0; i < count; i++) known += std::string(i ? ", " : "") + kernels[i]->name;
    return fail(env, std::string("setIsa: this CPU has no \"") + name + "\" micro-kernel; supported: " + known);
  }
  return nullptr;
}

// peak(seconds, repeats): FMA throughput of every thread of the pool, the best of `repeats` runs.
napi_value Peak(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value args[2];
  napi_get_cb_info(env, info, &argc, args, nullptr, nullptr);
  double seconds = 0;
  int32_t repeats = 0;
  if (argc != 2 || napi_get_value_double(env, args[0], &seconds) != napi_ok || !(seconds > 0 && seconds <= 60) ||
      napi_get_value_int32(env, args[1], &repeats) != napi_ok || repeats < 1)
    return fail(env, "peak expects (seconds in (0, 60], repeats >= 1)");
  const PeakResult r = measurePeak(*pool, seconds, repeats);
  return object(env, {{"gflops", num(env, r.gflops)}, {"isa", str(env, r.isa)}, {"threads", num(env, r.threads)}, {"seconds", num(env, r.seconds)}});
}

napi_value SetThreads(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value arg;
  napi_get_cb_info(env, info, &argc, &arg, nullptr, nullptr);
  int32_t n = 0;
  if (argc != 1 || napi_get_value_int32(env, arg, &n) != napi_ok || n < 1)
    return fail(env, "setThreads expects a positive integer");
  pool->resize(n);
  return nullptr;
}

napi_value Init(napi_env env, napi_value exports) {
  if (!pool) pool = new ThreadPool(defaultThreads());
  napi_property_descriptor props[] = {
      {"batchMatMul", nullptr, BatchMatMul, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"info", nullptr, Info, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setThreads", nullptr, SetThreads, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"setIsa", nullptr, SetIsa, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"peak", nullptr, Peak, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"unary", nullptr, Unary, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"linear", nullptr, Linear, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"geluGrad", nullptr, GeluGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"reduce", nullptr, Reduce, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"stridedCopy", nullptr, StridedCopy, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"layerNorm", nullptr, LayerNorm, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"layerNormGrad", nullptr, LayerNormGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"adamw", nullptr, AdamW, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"copyRows", nullptr, CopyRows, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"binary", nullptr, Binary, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"softmax", nullptr, Softmax, nullptr, nullptr, nullptr, napi_default, nullptr},
      {"softmaxGrad", nullptr, SoftmaxGrad, nullptr, nullptr, nullptr, napi_default, nullptr},
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
