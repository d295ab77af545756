// fastgemm: single-precision matrix multiply for the workbench's CPU training (issue: fast CPU
// training without downloads). The wasm backend's own matmul (XNNPACK in 128-bit wasm SIMD,
// without fused multiply-add) reaches about 23 GFLOP/s on one core; this native kernel, built at
// install with node-gyp and called on the tensors' memory in place, uses the CPU's 256-bit FMA.
//
// The algorithm is the classic Goto/BLIS blocking:
//   for each KC x NC block of B: pack it into NR-column panels
//     for each MC x KC block of A: pack it into MR-row panels
//       for each (MR-row panel, NR-column panel): the MR x NR micro-kernel accumulates in registers
// Packing also absorbs the transposes: op(A) and op(B) are read through strides, so every
// layout runs the same inner loop. One thread per call (training threads are gradient workers).
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MR 6
#define NR 16
#define KC 256
#define MC 96   /* multiple of MR */
#define NC 2048 /* multiple of NR */

#if defined(__x86_64__) || defined(__i386__)
#define KERNEL_TARGET __attribute__((target("avx2,fma")))
#define HAVE_CPU_CHECK 1
#else
#define KERNEL_TARGET
#define HAVE_CPU_CHECK 0
#endif

typedef float v8 __attribute__((vector_size(32)));
typedef float v8u __attribute__((vector_size(32), aligned(4)));

/** Element (r, c) of a matrix stored with row stride rs and column stride cs. */
typedef struct {
  const float *data;
  int64_t rs, cs;
} View;

static inline float at(View v, int64_t r, int64_t c) { return v.data[r * v.rs + c * v.cs]; }

/** A[ic:ic+mc, pc:pc+kc] into MR-row panels: panel p holds, for each k, its MR rows (0-padded). */
static void pack_a(View a, int64_t ic, int64_t pc, int mc, int kc, float *out) {
  for (int p = 0; p < mc; p += MR) {
    int rows = mc - p < MR ? mc - p : MR;
    for (int k = 0; k < kc; k++) {
      for (int r = 0; r < rows; r++) out[r] = at(a, ic + p + r, pc + k);
      for (int r = rows; r < MR; r++) out[r] = 0.0f;
      out += MR;
    }
  }
}

/** B[pc:pc+kc, jc:jc+nc] into NR-column panels: panel p holds, for each k, its NR columns (0-padded). */
static void pack_b(View b, int64_t pc, int64_t jc, int kc, int nc, float *out) {
  for (int p = 0; p < nc; p += NR) {
    int cols = nc - p < NR ? nc - p : NR;
    for (int k = 0; k < kc; k++) {
      const float *row = b.data + (pc + k) * b.rs + (jc + p) * b.cs;
      if (b.cs == 1 && cols == NR) {
        memcpy(out, row, NR * sizeof(float));
      } else {
        for (int c = 0; c < cols; c++) out[c] = row[c * b.cs];
        for (int c = cols; c < NR; c++) out[c] = 0.0f;
      }
      out += NR;
    }
  }
}

/**
 * C[0:mr, 0:nr] (+)= Ap (MR x kc panel) @ Bp (kc x NR panel); ldc is C's row stride. The
 * 6 x 16 tile lives in 12 vector registers; `accumulate` is 0 for the first KC block.
 */
KERNEL_TARGET static void micro_kernel(int kc, const float *ap, const float *bp, float *c, int64_t ldc, int accumulate, int mr, int nr) {
  v8 c00 = {0}, c01 = {0}, c10 = {0}, c11 = {0}, c20 = {0}, c21 = {0};
  v8 c30 = {0}, c31 = {0}, c40 = {0}, c41 = {0}, c50 = {0}, c51 = {0};
  for (int k = 0; k < kc; k++) {
    v8 b0 = *(const v8 *)(bp);
    v8 b1 = *(const v8 *)(bp + 8);
    c00 += ap[0] * b0; c01 += ap[0] * b1;
    c10 += ap[1] * b0; c11 += ap[1] * b1;
    c20 += ap[2] * b0; c21 += ap[2] * b1;
    c30 += ap[3] * b0; c31 += ap[3] * b1;
    c40 += ap[4] * b0; c41 += ap[4] * b1;
    c50 += ap[5] * b0; c51 += ap[5] * b1;
    ap += MR;
    bp += NR;
  }
  v8 tile[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  if (mr == MR && nr == NR) {
    for (int r = 0; r < MR; r++) {
      v8u *row = (v8u *)(c + r * ldc);
      if (accumulate) {
        row[0] += tile[r][0];
        row[1] += tile[r][1];
      } else {
        row[0] = tile[r][0];
        row[1] = tile[r][1];
      }
    }
    return;
  }
  // An edge tile: only the valid part is written.
  float *flat = (float *)tile;
  for (int r = 0; r < mr; r++) {
    for (int j = 0; j < nr; j++) {
      float v = flat[r * NR + j];
      c[r * ldc + j] = accumulate ? c[r * ldc + j] + v : v;
    }
  }
}

/** Packing buffers, one pair per thread (worker threads call in parallel). */
static _Thread_local float *packed_a = NULL;
static _Thread_local float *packed_b = NULL;

static int ensure_buffers(void) {
  if (packed_a && packed_b) return 1;
  packed_a = aligned_alloc(64, sizeof(float) * MC * KC);
  packed_b = aligned_alloc(64, sizeof(float) * KC * NC);
  return packed_a && packed_b;
}

/** C[m, n] = op(A)[m, k] @ op(B)[k, n], C row-major and contiguous. */
static void gemm(int64_t m, int64_t n, int64_t k, View a, View b, float *c) {
  if (k == 0) {
    memset(c, 0, sizeof(float) * m * n);
    return;
  }
  for (int64_t jc = 0; jc < n; jc += NC) {
    int nc = n - jc < NC ? (int)(n - jc) : NC;
    for (int64_t pc = 0; pc < k; pc += KC) {
      int kc = k - pc < KC ? (int)(k - pc) : KC;
      pack_b(b, pc, jc, kc, nc, packed_b);
      for (int64_t ic = 0; ic < m; ic += MC) {
        int mc = m - ic < MC ? (int)(m - ic) : MC;
        pack_a(a, ic, pc, mc, kc, packed_a);
        for (int jr = 0; jr < nc; jr += NR) {
          int nr = nc - jr < NR ? nc - jr : NR;
          for (int ir = 0; ir < mc; ir += MR) {
            int mr = mc - ir < MR ? mc - ir : MR;
            micro_kernel(kc, packed_a + (int64_t)ir * kc, packed_b + (int64_t)jr * kc, c + (ic + ir) * n + jc + jr, n, pc > 0, mr, nr);
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// N-API binding

static int float_array(napi_env env, napi_value value, float **data, size_t *length) {
  napi_typedarray_type type;
  void *raw;
  if (napi_get_typedarray_info(env, value, &type, length, &raw, NULL, NULL) != napi_ok || type != napi_float32_array) {
    napi_throw_type_error(env, NULL, "fastgemm: a, b and c must be Float32Arrays");
    return 0;
  }
  *data = raw;
  return 1;
}

/**
 * matmul(a, b, c, batch, m, n, k, transposeA, transposeB, broadcastA, broadcastB): for each batch
 * item i, c[i] = op(a[i]) @ op(b[i]), where op transposes when asked, a[i] is [m, k] ([k, m]
 * transposed), b[i] is [k, n] ([n, k] transposed), and a broadcast operand has one item for all.
 */
static napi_value matmul(napi_env env, napi_callback_info info) {
  size_t argc = 11;
  napi_value argv[11];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc != 11) {
    napi_throw_type_error(env, NULL, "fastgemm.matmul expects 11 arguments");
    return NULL;
  }
  float *a, *b, *c;
  size_t la, lb, lc;
  if (!float_array(env, argv[0], &a, &la) || !float_array(env, argv[1], &b, &lb) || !float_array(env, argv[2], &c, &lc)) return NULL;
  int64_t dims[4];
  for (int i = 0; i < 4; i++) napi_get_value_int64(env, argv[3 + i], &dims[i]);
  bool flags[4];
  for (int i = 0; i < 4; i++) napi_get_value_bool(env, argv[7 + i], &flags[i]);
  int64_t batch = dims[0], m = dims[1], n = dims[2], k = dims[3];
  int64_t itemA = m * k, itemB = k * n, itemC = m * n;
  if (batch < 0 || m < 0 || n < 0 || k < 0 || (size_t)(flags[2] ? itemA : batch * itemA) > la ||
      (size_t)(flags[3] ? itemB : batch * itemB) > lb || (size_t)(batch * itemC) > lc) {
    napi_throw_range_error(env, NULL, "fastgemm.matmul: array lengths do not match the shapes");
    return NULL;
  }
  if (!ensure_buffers()) {
    napi_throw_error(env, NULL, "fastgemm: out of memory for packing buffers");
    return NULL;
  }
  for (int64_t i = 0; i < batch; i++) {
    View va = {a + (flags[2] ? 0 : i * itemA), flags[0] ? 1 : k, flags[0] ? m : 1};
    View vb = {b + (flags[3] ? 0 : i * itemB), flags[1] ? 1 : n, flags[1] ? k : 1};
    gemm(m, n, k, va, vb, c + i * itemC);
  }
  return NULL;
}

/** True when this CPU can run the kernel (AVX2 and FMA on x86; always elsewhere). */
static napi_value supported(napi_env env, napi_callback_info info) {
  (void)info;
  int ok = 1;
#if HAVE_CPU_CHECK
  __builtin_cpu_init();
  ok = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#endif
  napi_value result;
  napi_get_boolean(env, ok, &result);
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "matmul", NAPI_AUTO_LENGTH, matmul, NULL, &fn);
  napi_set_named_property(env, exports, "matmul", fn);
  napi_create_function(env, "supported", NAPI_AUTO_LENGTH, supported, NULL, &fn);
  napi_set_named_property(env, exports, "supported", fn);
  return exports;
}
