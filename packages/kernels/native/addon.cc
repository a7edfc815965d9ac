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
  return object(env, {{"isa", str(env, sgemmIsa())}, {"threads", num(env, pool->size())}, {"isas", isas}});
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
  if (!sgemmSetIsa(name)) {
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
  };
  napi_define_properties(env, exports, sizeof(props) / sizeof(props[0]), props);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, Init)
