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
// layout runs the same inner loop. For a few rows of A (decoding) a row-major B is read in place
// instead of packed (reads_b_in_place, few_rows_kernel), with the same arithmetic.
//
// Threads: one call can spread its output over a small persistent pool of threads (see "Thread
// pool" below), so one model in one process uses every core. Each thread computes whole blocks
// of C with its own packing buffers and the same loop order, so the result is bitwise the same
// for any thread count. Calls arriving from several JS threads at once (gradient workers) do not
// queue: the one that finds the pool busy runs on its own thread.
#include <node_api.h>
#include <math.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

#define MR 6
#define NR 16
#define KC 256
#define MC 96   /* multiple of MR */
#define NC 2048 /* multiple of NR */

#if defined(__x86_64__) || defined(__i386__)
#define KERNEL_TARGET __attribute__((target("avx2,fma")))
/* 256-bit vectors without fused multiply-add: for elementwise loops whose float results must not change. */
#define VECTOR_TARGET __attribute__((target("avx2")))
#define HAVE_CPU_CHECK 1
#else
#define KERNEL_TARGET
#define VECTOR_TARGET
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
    if (a.rs == 1 && rows == MR) {
      // op(A) = A^T (a weight gradient's dy^T): each k's MR rows lie side by side, one copy instead
      // of the element-wise loop below (about 3% of such a matmul on one thread, measured; every
      // thread of a column split packs the whole of A).
      const float *column = a.data + pc * a.cs + ic + p;
      for (int k = 0; k < kc; k++, out += MR) memcpy(out, column + k * a.cs, MR * sizeof(float));
      continue;
    }
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
 * 6 x 16 tile lives in 12 vector registers; `accumulate` is 0 for the first KC block. Bp's rows
 * are `bstride` floats apart: NR in a packed panel, B's own row stride when B is read in place.
 */
KERNEL_TARGET static void micro_kernel(int kc, const float *ap, const float *bp, int64_t bstride, float *c, int64_t ldc, int accumulate, int mr, int nr) {
  v8 c00 = {0}, c01 = {0}, c10 = {0}, c11 = {0}, c20 = {0}, c21 = {0};
  v8 c30 = {0}, c31 = {0}, c40 = {0}, c41 = {0}, c50 = {0}, c51 = {0};
  for (int k = 0; k < kc; k++) {
    v8 b0 = *(const v8u *)(bp);
    v8 b1 = *(const v8u *)(bp + 8);
    c00 += ap[0] * b0; c01 += ap[0] * b1;
    c10 += ap[1] * b0; c11 += ap[1] * b1;
    c20 += ap[2] * b0; c21 += ap[2] * b1;
    c30 += ap[3] * b0; c31 += ap[3] * b1;
    c40 += ap[4] * b0; c41 += ap[4] * b1;
    c50 += ap[5] * b0; c51 += ap[5] * b1;
    ap += MR;
    bp += bstride;
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

/**
 * The last one or two rows of C when decoding (one sequence, or the rows past the last full MR
 * panel: 8 = 6 + 2): C[0:rows, 0:nc] (+)= Ap (their MR-row panel) @ B[0:kc, 0:nc] read in place,
 * 64 / rows columns at a time in 8 vector registers. The 6-row micro-kernel would spend most of
 * its multiply-adds on the panel's zero rows here; each output is summed exactly as there (the
 * same fused multiply-adds in the same order), so the result is bitwise the same. Returns the
 * columns done (a multiple of 32); the rest are left to the caller.
 */
static inline __attribute__((always_inline)) int64_t few_rows_body(const int rows, int kc, const float *ap, const float *b, int64_t ldb, float *c, int64_t ldc, int64_t nc, int accumulate) {
  const int vecs = 8 / rows, width = 8 * vecs;
  int64_t j = 0;
  for (; j + width <= nc; j += width) {
    v8 acc[8] = {{0}};
    const float *bk = b + j;
    for (int k = 0; k < kc; k++, bk += ldb) {
      for (int r = 0; r < rows; r++) {
        float a = ap[(int64_t)k * MR + r];
        for (int v = 0; v < vecs; v++) acc[r * vecs + v] += a * *(const v8u *)(bk + 8 * v);
      }
    }
    for (int r = 0; r < rows; r++) {
      v8u *out = (v8u *)(c + r * ldc + j);
      for (int v = 0; v < vecs; v++) out[v] = accumulate ? out[v] + acc[r * vecs + v] : acc[r * vecs + v];
    }
  }
  return j;
}

KERNEL_TARGET static int64_t few_rows_kernel(int rows, int kc, const float *ap, const float *b, int64_t ldb, float *c, int64_t ldc, int64_t nc, int accumulate) {
  return rows == 1 ? few_rows_body(1, kc, ap, b, ldb, c, ldc, nc, accumulate) : few_rows_body(2, kc, ap, b, ldb, c, ldc, nc, accumulate);
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

/**
 * For a few rows of C (decoding: a few tokens against a weight), a row-major B is read in place
 * instead of packed. Packing copies all of B on every call, and with so few rows of A each packed
 * panel is used only once or twice, so the copy cost more than the multiply: a decoding step is a
 * pass over every weight, and packing made it three. Measured (one thread, [m, 288] @ [288, 768]):
 * m = 1 1.6x faster, m = 8 1.2x, m = 16 1.1x. With more than one MR-row panel each B panel is read
 * again per panel, which only pays while B's rows lie within a page of each other (a wide B, such
 * as the [288, 4096] output weight at m = 8, was 6% slower read in place: one TLB entry per row).
 * The micro-kernel does the same arithmetic either way, so the result is bitwise the same.
 */
#define DIRECT_B_ROWS 16
#define PAGE_FLOATS 1024

static int reads_b_in_place(int64_t m, View b) {
  return b.cs == 1 && (m <= MR || (m <= DIRECT_B_ROWS && b.rs <= PAGE_FLOATS));
}

/** C[m, n] = op(A)[m, k] @ op(B)[k, n], C row-major with row stride ldc (a block of a wider C). */
static void gemm(int64_t m, int64_t n, int64_t k, View a, View b, float *c, int64_t ldc) {
  if (k == 0) {
    for (int64_t r = 0; r < m; r++) memset(c + r * ldc, 0, sizeof(float) * n);
    return;
  }
  int direct = reads_b_in_place(m, b);
  for (int64_t jc = 0; jc < n; jc += NC) {
    int nc = n - jc < NC ? (int)(n - jc) : NC;
    for (int64_t pc = 0; pc < k; pc += KC) {
      int kc = k - pc < KC ? (int)(k - pc) : KC;
      if (!direct) pack_b(b, pc, jc, kc, nc, packed_b);
      for (int64_t ic = 0; ic < m; ic += MC) {
        int mc = m - ic < MC ? (int)(m - ic) : MC;
        pack_a(a, ic, pc, mc, kc, packed_a);
        // Read in place, a last panel of one or two rows goes to few_rows_kernel (its columns up to
        // a multiple of 32); the micro-kernel takes every other tile.
        int tail = direct && mc % MR <= 2 ? mc % MR : 0;
        int tail_done = tail ? (int)few_rows_kernel(tail, kc, packed_a + (int64_t)(mc - tail) * kc, b.data + pc * b.rs + jc, b.rs, c + (ic + mc - tail) * ldc + jc, ldc, nc, pc > 0) : 0;
        for (int jr = 0; jr < nc; jr += NR) {
          int nr = nc - jr < NR ? nc - jr : NR;
          const float *bp = packed_b + (int64_t)jr * kc;
          int64_t bstride = NR;
          if (direct && nr == NR) { /* B's rows in place */
            bp = b.data + pc * b.rs + jc + jr;
            bstride = b.rs;
          } else if (direct) { /* the last, narrower panel: packed alone (zero-padded to NR) */
            pack_b(b, pc, jc + jr, kc, nr, packed_b);
            bp = packed_b;
          }
          for (int ir = 0; ir < mc; ir += MR) {
            int mr = mc - ir < MR ? mc - ir : MR;
            if (ir == mc - tail && jr < tail_done) continue; /* done by few_rows_kernel */
            micro_kernel(kc, packed_a + (int64_t)ir * kc, bp, bstride, c + (ic + ir) * ldc + jc + jr, ldc, pc > 0, mr, nr);
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Thread pool: `pool_size - 1` persistent threads plus the calling thread. A job is a function
// with `count` parts, fn(arg, part, count); the caller returns when every part is done. Threads
// are started on first use. Between jobs a pool thread first spins for a short while (spin_us,
// 500 us unless WORKBENCH_POOL_SPIN_US says otherwise; 0 turns it off) watching for the next job,
// yielding the core to any other runnable thread as it goes, then sleeps on a condition variable;
// the caller waiting for the others' parts does the same.
// Why spin: a training step is a stream of jobs tens to hundreds of microseconds apart, and waking
// a sleeping thread (a futex wake, on a VM the wake of an idle virtual CPU) costs about as much.
// Measured on the tiny preset, 2 threads, alternating steps in one process: 8-17% faster steps;
// with two such processes sharing 2 cores, still 2% faster (bench/profileStep.ts, issue 16).
// Bounded, so an idle process never keeps a core busy (OpenMP and OpenBLAS also spin, then sleep).
// Parts are CLAIMED, not assigned: every thread, the caller first, takes the next unclaimed part
// until none is left, and the caller waits for the parts, not for the threads. So a pool thread
// that starts late (descheduled: on 2 cores, V8's own background threads, the compiler and the
// garbage collector, take a core for a millisecond or more at a time) leaves its part to the
// caller instead of holding it up. Measured (tiny, 2 threads): 2-3 jobs a step started more than
// 1 ms late, and the caller spent ~12 ms of a ~100 ms step waiting for pool threads. Which thread
// runs a part never changes what it computes, so results stay bitwise the same.

#define MAX_THREADS 64

typedef void (*JobFn)(void *arg, int index, int count);

/*
 * The claim word: job generation << 16 | parts << 8 | next unclaimed part. One atomic word, so a
 * thread that claims part p of job g (a compare-and-swap) knows the job's part count with it, and
 * a thread that arrives after job g ended finds its parts all claimed (or a newer generation) and
 * claims nothing. A claimed part of job g keeps the caller from posting job g + 1 until it is
 * done, so fn and arg, read after the claim, are job g's.
 */
#define CLAIM(generation, parts, next) (((uint64_t)(generation) << 16) | ((uint64_t)(parts) << 8) | (uint64_t)(next))

static struct {
  pthread_mutex_t lock;    /* guards the sleeping: wake and finished */
  pthread_cond_t wake;     /* a new job (generation changed) */
  pthread_cond_t finished; /* done reached the job's part count */
  pthread_mutex_t busy;    /* held by the one caller whose job runs on the pool */
  JobFn fn;
  void *arg;
  uint64_t claim;          /* the claim word above */
  uint64_t done;           /* parts of the current job finished */
  uint64_t generation;     /* bumped (under lock) for every job: what sleeping threads wait on */
  int started;             /* pool threads running (they never exit) */
  int size;                /* the setting: threads per job at most (caller included) */
} pool = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, NULL, NULL, 0, 0, 0, 0, 0};

static int online_cores(void) {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : n > MAX_THREADS ? MAX_THREADS : (int)n;
}

/** Microseconds a thread spins for the next job (or the caller for the others) before sleeping; set once, before the first pool thread starts. */
static int64_t spin_us = -1;

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

/** Spins while (*value == v) is `while_equal`, at most spin_us, yielding now and then; the caller then locks and checks. */
static void spin_while(const uint64_t *value, uint64_t v, int while_equal) {
  if (spin_us <= 0) return;
  int64_t deadline = now_ns() + spin_us * 1000;
  for (int i = 1; (__atomic_load_n(value, __ATOMIC_ACQUIRE) == v) == while_equal; i++) {
    cpu_relax();
    if ((i & 63) == 0) {
      if (now_ns() > deadline) return;
      sched_yield(); /* a no-op on a free core; on a shared one, lets the other threads run */
    }
  }
}

/** Runs unclaimed parts of the current job until none is left; the thread that finishes the last part wakes a sleeping caller. */
static void run_claimed_parts(void) {
  uint64_t word = __atomic_load_n(&pool.claim, __ATOMIC_ACQUIRE);
  for (;;) {
    int parts = (int)((word >> 8) & 0xff), next = (int)(word & 0xff);
    if (next >= parts) return;
    if (!__atomic_compare_exchange_n(&pool.claim, &word, word + 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) continue; /* word reloaded */
    pool.fn(pool.arg, next, parts);
    if (__atomic_add_fetch(&pool.done, 1, __ATOMIC_ACQ_REL) == (uint64_t)parts) {
      pthread_mutex_lock(&pool.lock);
      pthread_cond_signal(&pool.finished);
      pthread_mutex_unlock(&pool.lock);
    }
    word = __atomic_load_n(&pool.claim, __ATOMIC_ACQUIRE);
  }
}

static void *pool_thread(void *raw) {
  (void)raw;
  uint64_t seen = __atomic_load_n(&pool.generation, __ATOMIC_ACQUIRE);
  for (;;) {
    spin_while(&pool.generation, seen, 1); /* while no new job */
    if (__atomic_load_n(&pool.generation, __ATOMIC_ACQUIRE) == seen) {
      pthread_mutex_lock(&pool.lock);
      while (__atomic_load_n(&pool.generation, __ATOMIC_ACQUIRE) == seen) pthread_cond_wait(&pool.wake, &pool.lock);
      pthread_mutex_unlock(&pool.lock);
    }
    seen = __atomic_load_n(&pool.generation, __ATOMIC_ACQUIRE);
    run_claimed_parts();
  }
  return NULL;
}

/** Starts pool threads up to `count - 1` (called with pool.lock held); returns how many threads a job can use (>= 1). */
static int ensure_pool(int count) {
  if (spin_us < 0) {
    const char *setting = getenv("WORKBENCH_POOL_SPIN_US");
    spin_us = setting ? atoll(setting) : 500;
  }
  while (pool.started < count - 1) {
    pthread_t thread;
    if (pthread_create(&thread, NULL, pool_thread, NULL) != 0) break;
    pthread_detach(thread);
    pool.started++;
  }
  return pool.started + 1 < count ? pool.started + 1 : count;
}

/** Runs fn's `count` parts on up to `count` threads (on the caller alone when the pool is busy with another caller's job). */
static void run_parallel(JobFn fn, void *arg, int count) {
  if (count <= 1 || pthread_mutex_trylock(&pool.busy) != 0) {
    fn(arg, 0, 1);
    return;
  }
  pthread_mutex_lock(&pool.lock);
  count = ensure_pool(count);
  if (count <= 1) { /* no pool thread could be started */
    pthread_mutex_unlock(&pool.lock);
    pthread_mutex_unlock(&pool.busy);
    fn(arg, 0, 1);
    return;
  }
  uint64_t generation = pool.generation + 1;
  pool.fn = fn;
  pool.arg = arg;
  __atomic_store_n(&pool.done, 0, __ATOMIC_RELAXED);
  __atomic_store_n(&pool.claim, CLAIM(generation, count, 0), __ATOMIC_RELEASE); /* publishes fn, arg and done */
  __atomic_store_n(&pool.generation, generation, __ATOMIC_RELEASE);
  pthread_cond_broadcast(&pool.wake);
  pthread_mutex_unlock(&pool.lock);
  run_claimed_parts();
  spin_while(&pool.done, (uint64_t)count, 0); /* while parts others claimed are still running */
  pthread_mutex_lock(&pool.lock);
  while (__atomic_load_n(&pool.done, __ATOMIC_ACQUIRE) != (uint64_t)count) pthread_cond_wait(&pool.finished, &pool.lock);
  pthread_mutex_unlock(&pool.lock);
  pthread_mutex_unlock(&pool.busy);
}

static int pool_size(void) {
  if (pool.size == 0) pool.size = online_cores();
  return pool.size;
}

// ---------------------------------------------------------------------------------------------
// A batched matmul split across threads. Many items (attention's heads): each thread takes whole
// items. Few items (the linear layers, their gradients): every item's output is cut into `count`
// strips along its longer side, in whole micro-tiles, so each thread packs and keeps in cache only
// the panels of its strip. Below MIN_WORK multiply-adds per thread a thread costs more than it saves.

#define MIN_WORK (1 << 18)

typedef struct {
  const float *a, *b;
  float *c;
  int64_t batch, m, n, k;
  int transpose_a, transpose_b, broadcast_a, broadcast_b;
  int by_items; /* 1: split items; 0: split each item's output into strips */
  int out_of_memory; /* set by a thread that could not allocate its packing buffers */
} MatmulJob;

static View view_a(const MatmulJob *j, int64_t item) {
  View v = {j->a + (j->broadcast_a ? 0 : item * j->m * j->k), j->transpose_a ? 1 : j->k, j->transpose_a ? j->m : 1};
  return v;
}

static View view_b(const MatmulJob *j, int64_t item) {
  View v = {j->b + (j->broadcast_b ? 0 : item * j->k * j->n), j->transpose_b ? 1 : j->n, j->transpose_b ? j->k : 1};
  return v;
}

/** [start, end) of part `index` of `count` of `total` units, in multiples of `unit` (the last part takes the rest). */
static void split(int64_t total, int64_t unit, int index, int count, int64_t *start, int64_t *end) {
  int64_t units = (total + unit - 1) / unit;
  *start = units * index / count * unit;
  *end = units * (index + 1) / count * unit;
  if (*end > total) *end = total;
  if (*start > total) *start = total;
}

static void matmul_part(void *raw, int index, int count) {
  const MatmulJob *j = raw;
  if (!ensure_buffers()) {
    __atomic_store_n(&((MatmulJob *)raw)->out_of_memory, 1, __ATOMIC_RELAXED);
    return;
  }
  if (j->by_items) {
    int64_t first, last;
    split(j->batch, 1, index, count, &first, &last);
    for (int64_t i = first; i < last; i++) gemm(j->m, j->n, j->k, view_a(j, i), view_b(j, i), j->c + i * j->m * j->n, j->n);
    return;
  }
  for (int64_t i = 0; i < j->batch; i++) {
    View a = view_a(j, i), b = view_b(j, i);
    float *c = j->c + i * j->m * j->n;
    int64_t s, e;
    if (j->m >= j->n) {
      split(j->m, MR, index, count, &s, &e);
      a.data += s * a.rs; /* rows s.. of op(A) */
      if (e > s) gemm(e - s, j->n, j->k, a, b, c + s * j->n, j->n);
    } else {
      split(j->n, NR, index, count, &s, &e);
      b.data += s * b.cs; /* columns s.. of op(B) */
      if (e > s) gemm(j->m, e - s, j->k, a, b, c + s, j->n);
    }
  }
}

/** Threads worth using for this job: no more than the work (MIN_WORK each) or the strips allow. */
static int threads_for(MatmulJob *j) {
  int threads = pool_size();
  int64_t work = j->batch * j->m * j->n * j->k;
  // A few rows (decoding) stream B from memory with little arithmetic per float: a thread pays
  // off at a quarter of the multiply-adds (measured, greedy decoding: small b1 +18-21%, b8 +6%).
  int64_t min_work = j->m <= DIRECT_B_ROWS ? MIN_WORK / 4 : MIN_WORK;
  if (work / min_work < threads) threads = (int)(work / min_work);
  if (threads <= 1) return 1;
  j->by_items = j->batch >= threads && (j->batch % threads == 0 || j->batch >= 4 * threads);
  if (!j->by_items) {
    int64_t strips = j->m >= j->n ? (j->m + MR - 1) / MR : (j->n + NR - 1) / NR;
    if (strips < threads) threads = (int)strips;
  }
  return threads < 1 ? 1 : threads;
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

/** Reads exactly `want` arguments into argv; otherwise throws `message` (a TypeError) and returns 0. */
static int fixed_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv, const char *message) {
  size_t argc = want;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc != want) {
    napi_throw_type_error(env, NULL, message);
    return 0;
  }
  return 1;
}

/** An integer argument, or -1 when it is not a number (the callers' range checks then refuse it). */
static int64_t int64_arg(napi_env env, napi_value value) {
  int64_t v = -1;
  napi_get_value_int64(env, value, &v);
  return v;
}

/** One (batched) matmul on the pool, as matmul() below describes it; 0 when packing buffers could not be allocated. */
static int run_matmul(const float *a, const float *b, float *c, int64_t batch, int64_t m, int64_t n, int64_t k, int transpose_a, int transpose_b, int broadcast_a, int broadcast_b) {
  if (!ensure_buffers()) return 0;
  MatmulJob job = {a, b, c, batch, m, n, k, transpose_a, transpose_b, broadcast_a, broadcast_b, 1, 0};
  run_parallel(matmul_part, &job, threads_for(&job));
  return !job.out_of_memory;
}

/**
 * matmul(a, b, c, batch, m, n, k, transposeA, transposeB, broadcastA, broadcastB): for each batch
 * item i, c[i] = op(a[i]) @ op(b[i]), where op transposes when asked, a[i] is [m, k] ([k, m]
 * transposed), b[i] is [k, n] ([n, k] transposed), and a broadcast operand has one item for all.
 */
static napi_value matmul(napi_env env, napi_callback_info info) {
  napi_value argv[11];
  if (!fixed_args(env, info, 11, argv, "fastgemm.matmul expects 11 arguments")) return NULL;
  float *a, *b, *c;
  size_t la, lb, lc;
  if (!float_array(env, argv[0], &a, &la) || !float_array(env, argv[1], &b, &lb) || !float_array(env, argv[2], &c, &lc)) return NULL;
  int64_t dims[4];
  for (int i = 0; i < 4; i++) dims[i] = int64_arg(env, argv[3 + i]);
  bool flags[4];
  for (int i = 0; i < 4; i++) napi_get_value_bool(env, argv[7 + i], &flags[i]);
  int64_t batch = dims[0], m = dims[1], n = dims[2], k = dims[3];
  int64_t itemA = m * k, itemB = k * n, itemC = m * n;
  if (batch < 0 || m < 0 || n < 0 || k < 0 || (size_t)(flags[2] ? itemA : batch * itemA) > la ||
      (size_t)(flags[3] ? itemB : batch * itemB) > lb || (size_t)(batch * itemC) > lc) {
    napi_throw_range_error(env, NULL, "fastgemm.matmul: array lengths do not match the shapes");
    return NULL;
  }
  if (!run_matmul(a, b, c, batch, m, n, k, flags[0], flags[1], flags[2], flags[3])) napi_throw_error(env, NULL, "fastgemm: out of memory for a matmul's packing buffers");
  return NULL;
}

/** setThreads(n): threads per matmul from now on (0 = one per core); returns the value in force. */
static napi_value set_threads(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t wanted = 0;
  if (argc != 1 || napi_get_value_int32(env, argv[0], &wanted) != napi_ok || wanted < 0) {
    napi_throw_type_error(env, NULL, "fastgemm.setThreads expects a thread count >= 0 (0 = one per core)");
    return NULL;
  }
  pthread_mutex_lock(&pool.lock);
  pool.size = wanted == 0 ? online_cores() : wanted > MAX_THREADS ? MAX_THREADS : wanted;
  pthread_mutex_unlock(&pool.lock);
  napi_value result;
  napi_create_int32(env, pool.size, &result);
  return result;
}

/** threads(): threads per matmul now in force. */
static napi_value get_threads(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value result;
  napi_create_int32(env, pool_size(), &result);
  return result;
}

// ---------------------------------------------------------------------------------------------
// Fused RMSNorm with its scale, forward and backward, rows split across the pool. One pass over
// x where tfjs makes six (square, mean, add, rsqrt, two multiplies), and the backward's three
// reductions in one more pass. Per row r = 1 / sqrt(mean(x^2) + eps):
//   y = x * r * w
//   dx = r * (dy * w) - x * r^3 / D * sum(dy * w * x)      dw = sum over rows of dy * x * r
// Sums run in double, so any row split gives the same dx; dw adds each thread's partial sums in
// thread order (the same for the same thread count). The row sums run in eight double lanes
// (dot_double, dot3_double): one serial double sum is a 4-cycle chain per element, and made the
// tiny preset's RMSNorm backward 5 ms of a 190 ms step; in lanes it is 1.9 ms (the float results
// unchanged on 2.3 million values checked against the serial sums).

typedef struct {
  const float *x, *w, *dy;
  float *y, *dx, *dw_parts; /* dw_parts: [count, part_stride] partial sums, one row per thread */
  int64_t rows, d, part_stride;
  float eps;
  int used; /* threads the job ran on (run_parallel may use fewer than asked: a busy pool) */
} NormJob;

/** Floats in a 64-byte cache line: per-thread partial sums are padded to it, so no two threads write one line. */
#define CACHE_LINE_FLOATS 16

typedef double v4d __attribute__((vector_size(32)));
typedef float v4f __attribute__((vector_size(16)));
typedef float v4fu __attribute__((vector_size(16), aligned(4)));

/** sum(a[j] * b[j]) over j < n, products and sums in double, in eight partial sums (one serial double sum is a 4-cycle chain per element). */
KERNEL_TARGET static double dot_double(const float *a, const float *b, int64_t n) {
  v4d lo = {0}, hi = {0};
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    v4f a0 = *(const v4fu *)(a + j), a1 = *(const v4fu *)(a + j + 4), b0 = *(const v4fu *)(b + j), b1 = *(const v4fu *)(b + j + 4);
    lo += __builtin_convertvector(a0, v4d) * __builtin_convertvector(b0, v4d);
    hi += __builtin_convertvector(a1, v4d) * __builtin_convertvector(b1, v4d);
  }
  double dot = 0;
  for (int l = 0; l < 4; l++) dot += lo[l] + hi[l];
  for (; j < n; j++) dot += (double)a[j] * b[j];
  return dot;
}

/** sum(a[j] * b[j] * c[j]) over j < n, in double, in eight partial sums (as dot_double). */
KERNEL_TARGET static double dot3_double(const float *a, const float *b, const float *c, int64_t n) {
  v4d lo = {0}, hi = {0};
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    v4f a0 = *(const v4fu *)(a + j), a1 = *(const v4fu *)(a + j + 4), b0 = *(const v4fu *)(b + j), b1 = *(const v4fu *)(b + j + 4);
    v4f c0 = *(const v4fu *)(c + j), c1 = *(const v4fu *)(c + j + 4);
    lo += __builtin_convertvector(a0, v4d) * __builtin_convertvector(b0, v4d) * __builtin_convertvector(c0, v4d);
    hi += __builtin_convertvector(a1, v4d) * __builtin_convertvector(b1, v4d) * __builtin_convertvector(c1, v4d);
  }
  double dot = 0;
  for (int l = 0; l < 4; l++) dot += lo[l] + hi[l];
  for (; j < n; j++) dot += (double)a[j] * b[j] * c[j];
  return dot;
}

static double row_rstd(const float *x, int64_t d, float eps) {
  return 1.0 / sqrt(dot_double(x, x, d) / (double)d + eps);
}

VECTOR_TARGET static void rms_norm_part(void *raw, int index, int count) {
  const NormJob *job = raw;
  int64_t first, last;
  split(job->rows, 1, index, count, &first, &last);
  for (int64_t i = first; i < last; i++) {
    const float *x = job->x + i * job->d;
    float *y = job->y + i * job->d;
    float r = (float)row_rstd(x, job->d, job->eps);
    for (int64_t j = 0; j < job->d; j++) y[j] = x[j] * r * job->w[j];
  }
}

VECTOR_TARGET static void rms_norm_grad_part(void *raw, int index, int count) {
  NormJob *job = raw;
  if (index == 0) job->used = count;
  int64_t d = job->d, first, last;
  split(job->rows, 1, index, count, &first, &last);
  float *dw = job->dw_parts + (int64_t)index * job->part_stride;
  memset(dw, 0, sizeof(float) * d);
  for (int64_t i = first; i < last; i++) {
    const float *x = job->x + i * d, *dy = job->dy + i * d;
    float *dx = job->dx + i * d;
    double r = row_rstd(x, d, job->eps);
    double dot = dot3_double(dy, job->w, x, d); /* sum(dy * w * x) */
    float a = (float)r, b = (float)(r * r * r * dot / (double)d);
    for (int64_t j = 0; j < d; j++) {
      dx[j] = a * dy[j] * job->w[j] - b * x[j];
      dw[j] += dy[j] * x[j] * a;
    }
  }
}

/** Threads for `items` jobs of `work` units each: at least `min_work` units per thread, no more threads than items. */
static int items_threads(int64_t items, int64_t work, int64_t min_work) {
  int64_t by_work = items * work / min_work;
  int threads = pool_size();
  if (by_work < threads) threads = (int)by_work;
  if (items < threads) threads = (int)items;
  return threads < 1 ? 1 : threads;
}

/** Threads for `rows` rows of `d` elements: about MIN_WORK / 8 elements each (the work per element is a few flops). */
static int rows_threads(int64_t rows, int64_t d) {
  return items_threads(rows, d, MIN_WORK / 8);
}

static int float_arg(napi_env env, napi_value value, float **data, size_t length, const char *what) {
  size_t got;
  if (!float_array(env, value, data, &got)) return 0;
  if (got < length) {
    napi_throw_range_error(env, NULL, what);
    return 0;
  }
  return 1;
}

static void run_rms_norm(const float *x, const float *w, float *y, int64_t rows, int64_t d, float eps) {
  NormJob job = {x, w, NULL, y, NULL, NULL, rows, d, 0, eps, 0};
  run_parallel(rms_norm_part, &job, rows_threads(rows, d));
}

/** dx and dw of rmsNorm for its output's gradient dy; 0 when out of memory. */
static int run_rms_norm_grad(const float *x, const float *w, const float *dy, float *dx, float *dw, int64_t rows, int64_t d, float eps) {
  int threads = rows_threads(rows, d);
  // Each thread's row of partial sums starts on its own cache line: rows packed back to back
  // shared a line at their boundary, which both threads wrote for every row they summed, and made
  // the two-thread backward slower than one thread's (2048 x 128: 0.18 ms on one, 0.25 on two).
  int64_t stride = (d + CACHE_LINE_FLOATS - 1) / CACHE_LINE_FLOATS * CACHE_LINE_FLOATS;
  float *parts = aligned_alloc(CACHE_LINE_FLOATS * sizeof(float), sizeof(float) * stride * threads);
  if (!parts) return 0;
  NormJob job = {x, w, dy, NULL, dx, parts, rows, d, stride, eps, 0};
  run_parallel(rms_norm_grad_part, &job, threads);
  memcpy(dw, parts, sizeof(float) * d);
  for (int t = 1; t < job.used; t++)
    for (int64_t j = 0; j < d; j++) dw[j] += parts[(int64_t)t * stride + j];
  free(parts);
  return 1;
}

/** rmsNorm(x, w, y, rows, d, eps): y = rms-normalised rows of x, times w. */
static napi_value rms_norm(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  if (!fixed_args(env, info, 6, argv, "fastgemm.rmsNorm expects 6 arguments")) return NULL;
  int64_t rows = int64_arg(env, argv[3]), d = int64_arg(env, argv[4]);
  double eps;
  napi_get_value_double(env, argv[5], &eps);
  float *x, *w, *y;
  const char *bad = "fastgemm.rmsNorm: array lengths do not match rows x d";
  if (rows < 0 || d < 1 || !float_arg(env, argv[0], &x, rows * d, bad) || !float_arg(env, argv[1], &w, d, bad) || !float_arg(env, argv[2], &y, rows * d, bad)) return NULL;
  run_rms_norm(x, w, y, rows, d, (float)eps);
  return NULL;
}

/** rmsNormGrad(x, w, dy, dx, dw, rows, d, eps): the gradients of rmsNorm's output `dy` for x and w. */
static napi_value rms_norm_grad(napi_env env, napi_callback_info info) {
  napi_value argv[8];
  if (!fixed_args(env, info, 8, argv, "fastgemm.rmsNormGrad expects 8 arguments")) return NULL;
  int64_t rows = int64_arg(env, argv[5]), d = int64_arg(env, argv[6]);
  double eps;
  napi_get_value_double(env, argv[7], &eps);
  float *x, *w, *dy, *dx, *dw;
  const char *bad = "fastgemm.rmsNormGrad: array lengths do not match rows x d";
  if (rows < 0 || d < 1 || !float_arg(env, argv[0], &x, rows * d, bad) || !float_arg(env, argv[1], &w, d, bad) || !float_arg(env, argv[2], &dy, rows * d, bad) ||
      !float_arg(env, argv[3], &dx, rows * d, bad) || !float_arg(env, argv[4], &dw, d, bad)) return NULL;
  if (!run_rms_norm_grad(x, w, dy, dx, dw, rows, d, (float)eps)) napi_throw_error(env, NULL, "fastgemm.rmsNormGrad: out of memory");
  return NULL;
}


// ---------------------------------------------------------------------------------------------
// exp() eight lanes at a time, for the fused ops below. glibc's expf is one value per call, slower
// than XNNPACK's vectorised wasm softmax it replaces. Cephes' expf: n = round(x / ln 2), the
// remainder r = x - n ln 2 (in two parts, for precision), exp(r) by a degree-5 polynomial (about
// 1e-7 relative error), times 2^n built in the exponent bits. Below -87.3 the result is 0, as
// float32's expf gives (denormals aside), so masked attention scores still weigh exactly 0.

typedef int32_t v8i __attribute__((vector_size(32)));
#define SPLAT(v) ((v8){v, v, v, v, v, v, v, v})

KERNEL_TARGET static inline v8 exp8(v8 x) {
  v8i underflow = (v8i)(x < SPLAT(-87.3f));
  v8i over = (v8i)(x > SPLAT(88.0f));
  x = (v8)(((v8i)x & ~over) | ((v8i)SPLAT(88.0f) & over));
  x = (v8)((v8i)x & ~underflow); /* underflowing lanes compute exp(0), then are zeroed */
  v8 n = x * SPLAT(1.44269504088896341f) + SPLAT(12582912.0f);
  n -= SPLAT(12582912.0f); /* round to nearest: 1.5 * 2^23 pushes the fraction out */
  v8 r = x - n * SPLAT(0.693359375f) + n * SPLAT(2.12194440e-4f);
  v8 p = SPLAT(1.9875691500e-4f);
  p = p * r + SPLAT(1.3981999507e-3f);
  p = p * r + SPLAT(8.3334519073e-3f);
  p = p * r + SPLAT(4.1665795894e-2f);
  p = p * r + SPLAT(1.6666665459e-1f);
  p = p * r + SPLAT(5.0000001201e-1f);
  p = p * r * r + r + SPLAT(1.0f);
  v8i scale = (__builtin_convertvector(n, v8i) + 127) << 23; /* 2^n */
  return (v8)((v8i)(p * (v8)scale) & ~underflow);
}

/** exp() of n values (n <= 8) through exp8, so a row's tail gets exactly what a full lane would. */
KERNEL_TARGET static void exp_tail(const float *x, float *out, int n) {
  v8 buf = SPLAT(0.0f);
  memcpy(&buf, x, sizeof(float) * n);
  buf = exp8(buf);
  memcpy(out, &buf, sizeof(float) * n);
}

/** The largest of x[0..n) (n >= 1). */
KERNEL_TARGET static float row_max(const float *x, int64_t n) {
  float max = x[0];
  int64_t j = 0;
  if (n >= 8) {
    v8 m = *(const v8u *)x;
    for (j = 8; j + 8 <= n; j += 8) {
      v8 v = *(const v8u *)(x + j);
      v8i bigger = (v8i)(v > m);
      m = (v8)(((v8i)v & bigger) | ((v8i)m & ~bigger));
    }
    for (int l = 0; l < 8; l++) max = m[l] > max ? m[l] : max;
  }
  for (; j < n; j++) max = x[j] > max ? x[j] : max;
  return max;
}

/** out[j] = exp(x[j] - shift) for j < n (out may be x, or NULL to only sum); returns the sum, added in lanes then in double. */
KERNEL_TARGET static double exp_row(const float *x, float shift, float *out, int64_t n) {
  v8 sum = SPLAT(0.0f);
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    v8 e = exp8(*(const v8u *)(x + j) - SPLAT(shift));
    if (out) *(v8u *)(out + j) = e;
    sum += e;
  }
  double total = 0;
  for (int l = 0; l < 8; l++) total += sum[l];
  if (j < n) {
    float shifted[8], e[8];
    int rest = (int)(n - j);
    for (int l = 0; l < rest; l++) shifted[l] = x[j + l] - shift;
    exp_tail(shifted, e, rest);
    for (int l = 0; l < rest; l++) {
      if (out) out[j + l] = e[l];
      total += e[l];
    }
  }
  return total;
}

/** s[i] = sigmoid(g[i]) = 1 / (1 + exp(-g[i])) for i < n. */
KERNEL_TARGET static void sigmoid_row(const float *g, float *s, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) *(v8u *)(s + i) = SPLAT(1.0f) / (SPLAT(1.0f) + exp8(-*(const v8u *)(g + i)));
  if (i < n) {
    float neg[8], e[8];
    int rest = (int)(n - i);
    for (int l = 0; l < rest; l++) neg[l] = -g[i + l];
    exp_tail(neg, e, rest);
    for (int l = 0; l < rest; l++) s[i + l] = 1.0f / (1.0f + e[l]);
  }
}

// ---------------------------------------------------------------------------------------------
// Fused SwiGLU gate: h = silu(g) * u = g * sigmoid(g) * u, and its gradients
//   dg = dh * u * s * (1 + g * (1 - s))      du = dh * g * s      (s = sigmoid(g))
// one pass each way where tfjs makes three forward and about eight backward. Elementwise, so any
// split across threads gives the same result.

typedef struct {
  const float *g, *u, *dh;
  float *h, *dg, *du;
  int64_t n;
} GateJob;

#define GATE_BLOCK 256 /* elements per sigmoid_row call: the sigmoids stay in a stack buffer */

KERNEL_TARGET static void swiglu_part(void *raw, int index, int count) {
  const GateJob *job = raw;
  int64_t first, last;
  split(job->n, 64, index, count, &first, &last);
  float s[GATE_BLOCK];
  for (int64_t b = first; b < last; b += GATE_BLOCK) {
    int64_t len = last - b < GATE_BLOCK ? last - b : GATE_BLOCK;
    sigmoid_row(job->g + b, s, len);
    for (int64_t i = 0; i < len; i++) job->h[b + i] = job->g[b + i] * s[i] * job->u[b + i];
  }
}

KERNEL_TARGET static void swiglu_grad_part(void *raw, int index, int count) {
  const GateJob *job = raw;
  int64_t first, last;
  split(job->n, 64, index, count, &first, &last);
  float s[GATE_BLOCK];
  for (int64_t b = first; b < last; b += GATE_BLOCK) {
    int64_t len = last - b < GATE_BLOCK ? last - b : GATE_BLOCK;
    sigmoid_row(job->g + b, s, len);
    for (int64_t i = 0; i < len; i++) {
      float g = job->g[b + i], dh = job->dh[b + i];
      job->dg[b + i] = dh * job->u[b + i] * s[i] * (1.0f + g * (1.0f - s[i]));
      job->du[b + i] = dh * g * s[i];
    }
  }
}

static void run_swiglu(const float *g, const float *u, float *h, int64_t n) {
  GateJob job = {g, u, NULL, h, NULL, NULL, n};
  run_parallel(swiglu_part, &job, rows_threads(n, 1));
}

static void run_swiglu_grad(const float *g, const float *u, const float *dh, float *dg, float *du, int64_t n) {
  GateJob job = {g, u, dh, NULL, dg, du, n};
  run_parallel(swiglu_grad_part, &job, rows_threads(n, 1));
}

/** swiglu(g, u, h, n) and swigluGrad(g, u, dh, dg, du, n): n elements each. */
static napi_value swiglu_call(napi_env env, napi_callback_info info, int grad) {
  size_t want = grad ? 6 : 4, argc = 6;
  napi_value argv[6];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc != want) {
    napi_throw_type_error(env, NULL, grad ? "fastgemm.swigluGrad expects 6 arguments" : "fastgemm.swiglu expects 4 arguments");
    return NULL;
  }
  int64_t n;
  napi_get_value_int64(env, argv[want - 1], &n);
  float *arrays[5];
  const char *bad = "fastgemm.swiglu: array lengths do not match n";
  for (size_t i = 0; i + 1 < want; i++)
    if (n < 0 || !float_arg(env, argv[i], &arrays[i], n, bad)) return NULL;
  if (grad) run_swiglu_grad(arrays[0], arrays[1], arrays[2], arrays[3], arrays[4], n);
  else run_swiglu(arrays[0], arrays[1], arrays[2], n);
  return NULL;
}

static napi_value swiglu(napi_env env, napi_callback_info info) { return swiglu_call(env, info, 0); }
static napi_value swiglu_grad(napi_env env, napi_callback_info info) { return swiglu_call(env, info, 1); }

// ---------------------------------------------------------------------------------------------
// The int32 typed-array reader of the fused ops below (fixed_args, int64_arg and float_arg are
// above, shared with the matmul and RMSNorm).

static int int32_arg(napi_env env, napi_value value, int32_t **data, size_t length, const char *what) {
  napi_typedarray_type type;
  size_t got;
  void *raw;
  if (napi_get_typedarray_info(env, value, &type, &got, &raw, NULL, NULL) != napi_ok || type != napi_int32_array) {
    napi_throw_type_error(env, NULL, "fastgemm: targets must be an Int32Array");
    return 0;
  }
  if (got < length) {
    napi_throw_range_error(env, NULL, what);
    return 0;
  }
  *data = raw;
  return 1;
}

// ---------------------------------------------------------------------------------------------
// Fused log-softmax and target pick over the vocabulary (the language-model loss), forward and
// backward, rows split across the pool. Per row of logits x [V] with target t:
//   logZ = max + log(sum exp(x - max))      logp = x[t] - logZ
//   dx = dy * (onehot(t) - exp(x - logZ))
// One pass to find the max and one to sum where tfjs makes max, sub, exp, sum, log, add, oneHot,
// cast, mul, sum, sub; the backward is one pass where tfjs makes sub, exp, sub, mul. A target
// outside [0, V) picks nothing (as tfjs's oneHot gives a zero row): logp = -logZ. Rows are
// independent, so any split across threads gives the same result.

typedef struct {
  const float *x, *logz_in, *dy;
  const int32_t *targets;
  float *logp, *logz, *dx;
  int64_t rows, v;
} PickJob;

KERNEL_TARGET static void log_softmax_pick_part(void *raw, int index, int count) {
  const PickJob *job = raw;
  int64_t first, last, v = job->v;
  split(job->rows, 1, index, count, &first, &last);
  for (int64_t i = first; i < last; i++) {
    const float *x = job->x + i * v;
    float max = row_max(x, v);
    float logz = max + (float)log(exp_row(x, max, NULL, v));
    int32_t t = job->targets[i];
    job->logz[i] = logz;
    job->logp[i] = (t >= 0 && t < v ? x[t] : 0.0f) - logz;
  }
}

KERNEL_TARGET static void log_softmax_pick_grad_part(void *raw, int index, int count) {
  const PickJob *job = raw;
  int64_t first, last, v = job->v;
  split(job->rows, 1, index, count, &first, &last);
  for (int64_t i = first; i < last; i++) {
    const float *x = job->x + i * v;
    float *dx = job->dx + i * v;
    float logz = job->logz_in[i], dy = job->dy[i];
    exp_row(x, logz, dx, v); /* softmax */
    for (int64_t j = 0; j < v; j++) dx[j] *= -dy;
    int32_t t = job->targets[i];
    if (t >= 0 && t < v) dx[t] += dy;
  }
}

/** logSoftmaxPick(x, targets, logp, logz, rows, v): log p(target) and log Z of every row of x [rows, v]. */
static napi_value log_softmax_pick(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  if (!fixed_args(env, info, 6, argv, "fastgemm.logSoftmaxPick expects 6 arguments")) return NULL;
  int64_t rows = int64_arg(env, argv[4]), v = int64_arg(env, argv[5]);
  PickJob job = {0};
  const char *bad = "fastgemm.logSoftmaxPick: array lengths do not match rows x v";
  float *x, *logp, *logz;
  int32_t *targets;
  if (rows < 0 || v < 1 || !float_arg(env, argv[0], &x, rows * v, bad) || !int32_arg(env, argv[1], &targets, rows, bad) ||
      !float_arg(env, argv[2], &logp, rows, bad) || !float_arg(env, argv[3], &logz, rows, bad)) return NULL;
  job.x = x, job.targets = targets, job.logp = logp, job.logz = logz, job.rows = rows, job.v = v;
  run_parallel(log_softmax_pick_part, &job, rows_threads(rows, v));
  return NULL;
}

/** logSoftmaxPickGrad(x, targets, logz, dy, dx, rows, v): the gradient of logSoftmaxPick's output `dy` for x. */
static napi_value log_softmax_pick_grad(napi_env env, napi_callback_info info) {
  napi_value argv[7];
  if (!fixed_args(env, info, 7, argv, "fastgemm.logSoftmaxPickGrad expects 7 arguments")) return NULL;
  int64_t rows = int64_arg(env, argv[5]), v = int64_arg(env, argv[6]);
  PickJob job = {0};
  const char *bad = "fastgemm.logSoftmaxPickGrad: array lengths do not match rows x v";
  float *x, *logz, *dy, *dx;
  int32_t *targets;
  if (rows < 0 || v < 1 || !float_arg(env, argv[0], &x, rows * v, bad) || !int32_arg(env, argv[1], &targets, rows, bad) ||
      !float_arg(env, argv[2], &logz, rows, bad) || !float_arg(env, argv[3], &dy, rows, bad) || !float_arg(env, argv[4], &dx, rows * v, bad)) return NULL;
  job.x = x, job.targets = targets, job.logz_in = logz, job.dy = dy, job.dx = dx, job.rows = rows, job.v = v;
  run_parallel(log_softmax_pick_grad_part, &job, rows_threads(rows, v));
  return NULL;
}

// ---------------------------------------------------------------------------------------------
// Fused attention softmax with its additive mask, forward and backward, rows split across the
// pool. scores [G, Q, K], mask [M, Q, K] (M = 1: one mask for every group; else group g takes mask
// g / (G / M), the row of a padded batch its heads belong to):
//   y = softmax(scores + mask)      dscores = y * (dy - sum(dy * y))
// one pass each way over the scores where tfjs makes add, max, sub, exp, sum, div forward and mul,
// sum, sub, mul backward. Masked entries (-1e9) give exp() == 0 exactly, as in tfjs.

typedef struct {
  const float *s, *mask, *y_in, *dy;
  float *y, *dx;
  int64_t groups, q, k, mask_items;
} SoftmaxJob;

KERNEL_TARGET static void masked_softmax_part(void *raw, int index, int count) {
  const SoftmaxJob *job = raw;
  int64_t first, last, k = job->k, q = job->q, per_mask = job->groups / job->mask_items;
  split(job->groups * q, 1, index, count, &first, &last);
  for (int64_t r = first; r < last; r++) {
    int64_t g = r / q, i = r % q;
    const float *s = job->s + r * k, *m = job->mask + ((g / per_mask) * q + i) * k;
    float *y = job->y + r * k;
    for (int64_t j = 0; j < k; j++) y[j] = s[j] + m[j];
    double sum = exp_row(y, row_max(y, k), y, k);
    float inv = (float)(1.0 / sum);
    for (int64_t j = 0; j < k; j++) y[j] *= inv;
  }
}

KERNEL_TARGET static void masked_softmax_grad_part(void *raw, int index, int count) {
  const SoftmaxJob *job = raw;
  int64_t first, last, k = job->k;
  split(job->groups * job->q, 1, index, count, &first, &last);
  for (int64_t r = first; r < last; r++) {
    const float *y = job->y_in + r * k, *dy = job->dy + r * k;
    float *dx = job->dx + r * k;
    float d = (float)dot_double(dy, y, k);
    for (int64_t j = 0; j < k; j++) dx[j] = y[j] * (dy[j] - d);
  }
}

/** maskedSoftmax(scores, mask, y, groups, q, k, maskItems): y = softmax(scores + mask) over the last axis. */
static napi_value masked_softmax(napi_env env, napi_callback_info info) {
  napi_value argv[7];
  if (!fixed_args(env, info, 7, argv, "fastgemm.maskedSoftmax expects 7 arguments")) return NULL;
  int64_t groups = int64_arg(env, argv[3]), q = int64_arg(env, argv[4]), k = int64_arg(env, argv[5]), items = int64_arg(env, argv[6]);
  const char *bad = "fastgemm.maskedSoftmax: array lengths do not match groups x q x k";
  float *s, *mask, *y;
  if (groups < 0 || q < 0 || k < 1 || items < 1 || groups % items != 0 || !float_arg(env, argv[0], &s, groups * q * k, bad) ||
      !float_arg(env, argv[1], &mask, items * q * k, bad) || !float_arg(env, argv[2], &y, groups * q * k, bad)) return NULL;
  SoftmaxJob job = {s, mask, NULL, NULL, y, NULL, groups, q, k, items};
  run_parallel(masked_softmax_part, &job, rows_threads(groups * q, k));
  return NULL;
}

/** maskedSoftmaxGrad(y, dy, dx, rows, k): the gradient of maskedSoftmax's output `dy` for the scores. */
static napi_value masked_softmax_grad(napi_env env, napi_callback_info info) {
  napi_value argv[5];
  if (!fixed_args(env, info, 5, argv, "fastgemm.maskedSoftmaxGrad expects 5 arguments")) return NULL;
  int64_t rows = int64_arg(env, argv[3]), k = int64_arg(env, argv[4]);
  const char *bad = "fastgemm.maskedSoftmaxGrad: array lengths do not match rows x k";
  float *y, *dy, *dx;
  if (rows < 0 || k < 1 || !float_arg(env, argv[0], &y, rows * k, bad) || !float_arg(env, argv[1], &dy, rows * k, bad) ||
      !float_arg(env, argv[2], &dx, rows * k, bad)) return NULL;
  SoftmaxJob job = {NULL, NULL, y, dy, NULL, dx, rows, 1, k, 1};
  run_parallel(masked_softmax_grad_part, &job, rows_threads(rows, k));
  return NULL;
}

// ---------------------------------------------------------------------------------------------
// Fused rotary position embedding (Hugging Face's rotate_half layout), forward and backward, rows
// split across the pool. x [B*T, H*hd]; cos, sin [C, T, hd] with C = 1 (every row alike) or B.
// Per head, with half = hd / 2 and rotate_half(x) = [-x2, x1]:
//   out[i] = x[i] cos[i] - x[i + half] sin[i]       (i < half)
//   out[i] = x[i] cos[i] + x[i - half] sin[i]       (i >= half)
// and the backward is the transpose of that linear map:
//   dx[i] = dy[i] cos[i] + dy[i + half] sin[i + half]      (i < half)
//   dx[i] = dy[i] cos[i] - dy[i - half] sin[i - half]      (i >= half)
// one pass each way where tfjs makes a matmul by the rotation, two multiplies and an add forward
// and about as many backward.

typedef struct {
  const float *x, *cos, *sin;
  float *out;
  int64_t rows, seq, heads, hd, tables;
  int backward;
} RopeJob;

KERNEL_TARGET static void rope_part(void *raw, int index, int count) {
  const RopeJob *job = raw;
  int64_t first, last, hd = job->hd, half = hd / 2, width = job->heads * hd;
  split(job->rows, 1, index, count, &first, &last);
  for (int64_t r = first; r < last; r++) {
    int64_t table = job->tables == 1 ? 0 : r / job->seq;
    const float *c = job->cos + (table * job->seq + r % job->seq) * hd, *s = job->sin + (table * job->seq + r % job->seq) * hd;
    for (int64_t h = 0; h < job->heads; h++) {
      const float *x = job->x + r * width + h * hd;
      float *out = job->out + r * width + h * hd;
      if (!job->backward) {
        for (int64_t i = 0; i < half; i++) out[i] = x[i] * c[i] - x[i + half] * s[i];
        for (int64_t i = half; i < hd; i++) out[i] = x[i] * c[i] + x[i - half] * s[i];
      } else {
        for (int64_t i = 0; i < half; i++) out[i] = x[i] * c[i] + x[i + half] * s[i + half];
        for (int64_t i = half; i < hd; i++) out[i] = x[i] * c[i] - x[i - half] * s[i - half];
      }
    }
  }
}

static void run_rope(const float *x, const float *cos, const float *sin, float *out, int64_t rows, int64_t seq, int64_t heads, int64_t hd, int64_t tables, int backward) {
  RopeJob job = {x, cos, sin, out, rows, seq, heads, hd, tables, backward};
  run_parallel(rope_part, &job, rows_threads(rows, heads * hd));
}

/** rope(x, cos, sin, out, rows, seq, heads, hd, tables, backward): RoPE of x, or (backward) its gradient for x given out's gradient in x. */
static napi_value rope(napi_env env, napi_callback_info info) {
  napi_value argv[10];
  if (!fixed_args(env, info, 10, argv, "fastgemm.rope expects 10 arguments")) return NULL;
  int64_t rows = int64_arg(env, argv[4]), seq = int64_arg(env, argv[5]), heads = int64_arg(env, argv[6]), hd = int64_arg(env, argv[7]), tables = int64_arg(env, argv[8]);
  bool backward = false;
  napi_get_value_bool(env, argv[9], &backward);
  const char *bad = "fastgemm.rope: array lengths do not match rows x heads x hd and tables x seq x hd";
  float *x, *c, *s, *out;
  if (rows < 0 || seq < 1 || heads < 1 || hd < 2 || hd % 2 != 0 || tables < 1 || (tables > 1 && tables * seq != rows) || rows % seq != 0 ||
      !float_arg(env, argv[0], &x, rows * heads * hd, bad) || !float_arg(env, argv[1], &c, tables * seq * hd, bad) ||
      !float_arg(env, argv[2], &s, tables * seq * hd, bad) || !float_arg(env, argv[3], &out, rows * heads * hd, bad)) return NULL;
  run_rope(x, c, s, out, rows, seq, heads, hd, tables, backward);
  return NULL;
}

// ---------------------------------------------------------------------------------------------
// AdamW's update of one parameter in one pass (core/train/adamw.ts has the formula), where tfjs
// makes about a dozen elementwise passes. Each line is one float32 operation of the tfjs
// formulation, in its order and with its float32 constants, so the result is the same to the bit:
// no FMA contraction here (one rounding instead of two would change the last bit), which the
// file's -ffp-contract=fast would otherwise allow wherever FMA is baseline (arm64) or targeted.

#if defined(__clang__)
#define NO_CONTRACT _Pragma("clang fp contract(off)")
#define NO_CONTRACT_ATTRIBUTE
#else
#define NO_CONTRACT
#define NO_CONTRACT_ATTRIBUTE __attribute__((optimize("fp-contract=off")))
#endif

typedef struct {
  const float *p, *g, *m, *v;
  float *p_out, *m_out, *v_out;
  int64_t n;
  float scale, beta1, one_minus_beta1, beta2, one_minus_beta2, decay, sqrt_bias2, eps, step_size;
} AdamWJob;

/**
 * One parameter's update: its arrays (p, g, m, v in; p, m, v out), n elements, the gradient scale,
 * and the constants as tfjs makes them: a JS number (double) rounded once to a float32 scalar.
 */
static AdamWJob adamw_job(float *const arrays[7], int64_t n, float scale, double beta1, double beta2, double decay, double sqrt_bias2, double eps, double step_size) {
  AdamWJob job = {arrays[0], arrays[1], arrays[2], arrays[3], arrays[4], arrays[5], arrays[6], n, scale,
                  (float)beta1, (float)(1 - beta1), (float)beta2, (float)(1 - beta2), (float)decay, (float)sqrt_bias2, (float)eps, (float)step_size};
  return job;
}

/** Elements [first, last) of one parameter's update. */
NO_CONTRACT_ATTRIBUTE static void adamw_range(const AdamWJob *j, int64_t first, int64_t last) {
  NO_CONTRACT
  for (int64_t i = first; i < last; i++) {
    float g = j->g[i] * j->scale;                                       /* the clip coefficient */
    float m = j->m[i] * j->beta1 + g * j->one_minus_beta1;
    float v = j->v[i] * j->beta2 + (g * g) * j->one_minus_beta2;
    float denom = sqrtf(v) / j->sqrt_bias2 + j->eps;
    j->p_out[i] = j->p[i] * j->decay - (m / denom) * j->step_size;     /* decay 1 when not decayed */
    j->m_out[i] = m;
    j->v_out[i] = v;
  }
}

static void adamw_part(void *raw, int index, int count) {
  const AdamWJob *j = raw;
  int64_t first, last;
  split(j->n, 64, index, count, &first, &last);
  adamw_range(j, first, last);
}

/**
 * adamw(p, g, m, v, scale, pOut, mOut, vOut, n, beta1, beta2, decay, sqrtBias2, eps, stepSize):
 * n elements each; scale is a Float32Array holding the one gradient scale (the clip coefficient),
 * decay the factor 1 - lr * weightDecay (1 for a parameter without decay).
 */
static napi_value adamw(napi_env env, napi_callback_info info) {
  napi_value argv[15];
  if (!fixed_args(env, info, 15, argv, "fastgemm.adamw expects 15 arguments")) return NULL;
  int64_t n = int64_arg(env, argv[8]);
  float *arrays[8];
  const char *bad = "fastgemm.adamw: array lengths do not match n";
  for (int i = 0; i < 8; i++)
    if (n < 0 || !float_arg(env, argv[i], &arrays[i], i == 4 ? 1 : n, bad)) return NULL;
  double h[6];
  for (int i = 0; i < 6; i++) napi_get_value_double(env, argv[9 + i], &h[i]);
  float *const params[7] = {arrays[0], arrays[1], arrays[2], arrays[3], arrays[5], arrays[6], arrays[7]}; /* arrays[4] is the scale */
  AdamWJob job = adamw_job(params, n, arrays[4][0], h[0], h[1], h[2], h[3], h[4], h[5]);
  run_parallel(adamw_part, &job, rows_threads(n, 1));
  return NULL;
}

/*
 * Many arrays cut into blocks of `block` elements, numbered across the arrays in order: the jobs
 * that share whole blocks of many arrays out over the pool (adamwMany, sumSquares).
 */
typedef struct {
  const int64_t *lengths;
  const int64_t *first_block; /* block index where array i starts; first_block[count] = all blocks */
  int64_t count, block;
} Blocks;

/** The array of block b, *a (advanced from its value for an earlier block), and the block's elements [*start, *end). */
static void block_range(const Blocks *blocks, int64_t b, int64_t *a, int64_t *start, int64_t *end) {
  while (blocks->first_block[*a + 1] <= b) (*a)++;
  *start = (b - blocks->first_block[*a]) * blocks->block;
  *end = *start + blocks->block < blocks->lengths[*a] ? *start + blocks->block : blocks->lengths[*a];
}

/*
 * Many parameters' updates in one call (a model's worth at a time): the parameters are cut into
 * blocks of ADAMW_BLOCK elements and the pool takes whole blocks, so a model of many small
 * parameters (tiny: 39, most under the one-call threading threshold) is updated on every thread
 * in one job, where one call per parameter ran most of them on one thread. The same operations
 * per element (adamw_range), so the same bits.
 */
#define ADAMW_BLOCK 16384

typedef struct {
  AdamWJob *params;
  Blocks blocks;
} AdamWManyJob;

static void adamw_many_part(void *raw, int index, int count) {
  const AdamWManyJob *j = raw;
  int64_t first, last, a = 0, start, end;
  split(j->blocks.first_block[j->blocks.count], 1, index, count, &first, &last);
  for (int64_t b = first; b < last; b++) {
    block_range(&j->blocks, b, &a, &start, &end);
    adamw_range(&j->params[a], start, end);
  }
}

/**
 * adamwMany(arrays, decays, scale, beta1, beta2, sqrtBias2, eps, stepSize): arrays holds seven
 * Float32Arrays per parameter (p, g, m, v, pOut, mOut, vOut, each of the parameter's length),
 * decays one factor per parameter (1 - lr * weightDecay, or 1); the rest as adamw's.
 */
static napi_value adamw_many(napi_env env, napi_callback_info info) {
  napi_value argv[8];
  if (!fixed_args(env, info, 8, argv, "fastgemm.adamwMany expects 8 arguments")) return NULL;
  uint32_t length = 0, decay_count = 0;
  float *scale;
  if (napi_get_array_length(env, argv[0], &length) != napi_ok || length % 7 != 0 || napi_get_array_length(env, argv[1], &decay_count) != napi_ok ||
      decay_count != length / 7) {
    napi_throw_type_error(env, NULL, "fastgemm.adamwMany: expects 7 Float32Arrays per parameter and one decay per parameter");
    return NULL;
  }
  if (!float_arg(env, argv[2], &scale, 1, "fastgemm.adamwMany: scale must hold one float")) return NULL;
  double h[5];
  for (int i = 0; i < 5; i++) napi_get_value_double(env, argv[3 + i], &h[i]);
  int64_t count = length / 7;
  AdamWJob *params = malloc(sizeof(AdamWJob) * (count + 1));
  int64_t *lengths = malloc(sizeof(int64_t) * (count + 1));
  int64_t *first_block = malloc(sizeof(int64_t) * (count + 1));
  int ok = params && lengths && first_block;
  if (!ok) napi_throw_error(env, NULL, "fastgemm.adamwMany: out of memory");
  if (ok) first_block[0] = 0;
  for (int64_t i = 0; ok && i < count; i++) {
    float *arrays[7];
    size_t sizes[7];
    for (int k = 0; ok && k < 7; k++) {
      napi_value item;
      ok = napi_get_element(env, argv[0], (uint32_t)(i * 7 + k), &item) == napi_ok && float_array(env, item, &arrays[k], &sizes[k]);
      if (ok && sizes[k] < sizes[0]) {
        napi_throw_range_error(env, NULL, "fastgemm.adamwMany: a parameter's arrays differ in length");
        ok = 0;
      }
    }
    double decay = 1;
    napi_value item;
    if (ok) ok = napi_get_element(env, argv[1], (uint32_t)i, &item) == napi_ok && napi_get_value_double(env, item, &decay) == napi_ok;
    if (!ok) break;
    int64_t n = (int64_t)sizes[0];
    params[i] = adamw_job(arrays, n, scale[0], h[0], h[1], decay, h[2], h[3], h[4]);
    lengths[i] = n;
    first_block[i + 1] = first_block[i] + (n + ADAMW_BLOCK - 1) / ADAMW_BLOCK;
  }
  if (ok) {
    AdamWManyJob job = {params, {lengths, first_block, count, ADAMW_BLOCK}};
    run_parallel(adamw_many_part, &job, items_threads(first_block[count], ADAMW_BLOCK, MIN_WORK / 8));
  }
  free(params);
  free(lengths);
  free(first_block);
  return NULL;
}

// ---------------------------------------------------------------------------------------------
// Elementwise sum of two float32 arrays of one length: tfjs's Add for two tensors of one shape
// (the residual stream, and the backward's gradient accumulation), which wasm runs on one thread.
// One float32 addition per element as tfjs makes it, so the same bits; split across the pool.

typedef struct {
  const float *a, *b;
  float *out;
  int64_t n;
} AddJob;

KERNEL_TARGET static void add_part(void *raw, int index, int count) {
  const AddJob *job = raw;
  int64_t first, last;
  split(job->n, 64, index, count, &first, &last);
  for (int64_t i = first; i < last; i++) job->out[i] = job->a[i] + job->b[i];
}

static void run_add(const float *a, const float *b, float *out, int64_t n) {
  AddJob job = {a, b, out, n};
  run_parallel(add_part, &job, rows_threads(n, 1));
}

/** add(a, b, out, n): out = a + b, n elements each. */
static napi_value add(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  if (!fixed_args(env, info, 4, argv, "fastgemm.add expects 4 arguments")) return NULL;
  int64_t n = int64_arg(env, argv[3]);
  float *arrays[3];
  for (int i = 0; i < 3; i++)
    if (n < 0 || !float_arg(env, argv[i], &arrays[i], n, "fastgemm.add: array lengths do not match n")) return NULL;
  run_add(arrays[0], arrays[1], arrays[2], n);
  return NULL;
}

// ---------------------------------------------------------------------------------------------
// Row gather and its gradient (the embedding lookup), split across the pool. out[i] = table[ids[i]]
// forward; backward dtable[r] = sum of dy[i] over the i with ids[i] == r. The backward splits the
// table's rows: each thread scans every id and adds only the rows it owns, in id order, so the sums
// are bitwise the same for any thread count. Ids are checked before any memory is touched.

typedef struct {
  const float *src;
  const int32_t *ids;
  float *dst;
  int64_t rows, width, n;
} RowsJob;

static void gather_rows_part(void *raw, int index, int count) {
  const RowsJob *job = raw;
  int64_t first, last;
  split(job->n, 1, index, count, &first, &last);
  for (int64_t i = first; i < last; i++) memcpy(job->dst + i * job->width, job->src + (int64_t)job->ids[i] * job->width, sizeof(float) * job->width);
}

KERNEL_TARGET static void scatter_rows_part(void *raw, int index, int count) {
  const RowsJob *job = raw;
  int64_t first, last, w = job->width;
  split(job->rows, 1, index, count, &first, &last);
  if (last > first) memset(job->dst + first * w, 0, sizeof(float) * (last - first) * w);
  for (int64_t i = 0; i < job->n; i++) {
    int64_t r = job->ids[i];
    if (r < first || r >= last) continue;
    float *d = job->dst + r * w;
    const float *g = job->src + i * w;
    for (int64_t j = 0; j < w; j++) d[j] += g[j];
  }
}

/** -1 when every id is a row of the table, else the index of the first that is not (after throwing a RangeError naming it). */
static int64_t check_ids(napi_env env, const int32_t *ids, int64_t n, int64_t rows, const char *what) {
  for (int64_t i = 0; i < n; i++) {
    if (ids[i] < 0 || ids[i] >= rows) {
      char message[160];
      snprintf(message, sizeof message, "%s: id %d at position %lld is outside the table's %lld rows", what, ids[i], (long long)i, (long long)rows);
      napi_throw_range_error(env, NULL, message);
      return i;
    }
  }
  return -1;
}

/** gatherRows(table, ids, out, rows, width, n): out[i] = table[ids[i]]. */
static napi_value gather_rows(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  if (!fixed_args(env, info, 6, argv, "fastgemm.gatherRows expects 6 arguments")) return NULL;
  int64_t rows = int64_arg(env, argv[3]), width = int64_arg(env, argv[4]), n = int64_arg(env, argv[5]);
  const char *bad = "fastgemm.gatherRows: array lengths do not match rows x width and n";
  float *table, *out;
  int32_t *ids;
  if (rows < 0 || width < 0 || n < 0 || !float_arg(env, argv[0], &table, rows * width, bad) || !int32_arg(env, argv[1], &ids, n, bad) ||
      !float_arg(env, argv[2], &out, n * width, bad) || check_ids(env, ids, n, rows, "gatherRows") >= 0) return NULL;
  RowsJob job = {table, ids, out, rows, width, n};
  run_parallel(gather_rows_part, &job, rows_threads(n, width));
  return NULL;
}

/** scatterRows(ids, dy, dtable, rows, width, n): dtable = zeros, then dtable[ids[i]] += dy[i]. */
static napi_value scatter_rows(napi_env env, napi_callback_info info) {
  napi_value argv[6];
  if (!fixed_args(env, info, 6, argv, "fastgemm.scatterRows expects 6 arguments")) return NULL;
  int64_t rows = int64_arg(env, argv[3]), width = int64_arg(env, argv[4]), n = int64_arg(env, argv[5]);
  const char *bad = "fastgemm.scatterRows: array lengths do not match rows x width and n";
  float *dy, *dtable;
  int32_t *ids;
  if (rows < 0 || width < 0 || n < 0 || !int32_arg(env, argv[0], &ids, n, bad) || !float_arg(env, argv[1], &dy, n * width, bad) ||
      !float_arg(env, argv[2], &dtable, rows * width, bad) || check_ids(env, ids, n, rows, "scatterRows") >= 0) return NULL;
  RowsJob job = {dy, ids, dtable, rows, width, n};
  int threads = rows_threads(n > rows ? n : rows, width);
  run_parallel(scatter_rows_part, &job, threads < rows ? threads : (rows > 0 ? (int)rows : 1));
  return NULL;
}

// ---------------------------------------------------------------------------------------------
// Fused causal self-attention for training (a full sequence from position 0 of its own, no KV
// cache, no padding), forward and backward, with grouped-query heads (query head h reads kv head
// h / (H / Hkv), Hugging Face's repeat_kv order). It works on the layout the projections make and
// o_proj takes: q [B*T, H*hd], k, v [B*T, Hkv*hd], out [B*T, H*hd], each head a strided [T, hd]
// view, so the tfjs path's head transposes (q, k, v to [B, H, T, hd], k^T, the output back; and
// their gradients) are gone, with the mask add, the scale multiply and the separate softmax: 48 tfjs
// kernels per layer and training step (10 transposes) become 2. Per (batch, head), P the probabilities:
//   S = scale * Q K^T (causal: keys j <= i)      P = softmax(S) by rows      O = P V
// and backward, per (batch, kv head) looping over its query heads so dK and dV are summed by one
// thread in a fixed order (no write races; bitwise the same for any thread count):
//   dP = dO V^T      dS = scale * P * (dP - rowsum(P * dP))      dQ = dS K
//   dK += dS^T Q     dV += P^T dO
// rowsum(P * dP) equals rowsum(dO * O): taken from the dP row in hand, O need not be kept. P is
// kept from the forward pass ([B, H, T, T], zero above the diagonal; the tfjs path's softmax keeps
// the same) rather than recomputed from a log-sum-exp: the backward then needs no second Q K^T and
// no exp(), and at the presets' sizes P costs no more memory than the path it replaces.
//
// The products go tile by tile through tile_kernel: the matmul's 6 x 16 register tile, but with
// A read in place through two strides (rows of Q, P, dS or dO as they lie, or columns of P and dS
// for the transposed products) and B's rows read in place (V, K, Q, dO; K^T and V^T from a copy
// per head), so nothing is packed per product: gemm's packing, made for large operands, took about
// a quarter of the time at these sizes (hd 16-64 deep products, one [T, T] per head; a first
// version on gemm() ran at 27-33 GFLOP/s, this one 46-69 with the softmax included, tiny preset).
// Each 6-query tile computes keys up to its last query only, so the masked half is skipped.

/** dS of one head [T, T], K^T or V^T [hd, T rounded up to NR], a zero-padded B panel [T, NR]: per thread, kept between calls, grown when T grows. */
static _Thread_local float *attention_scratch = NULL;
static _Thread_local int64_t attention_scratch_floats = 0;

static float *ensure_attention_scratch(int64_t floats) {
  if (attention_scratch_floats >= floats) return attention_scratch;
  free(attention_scratch);
  attention_scratch = aligned_alloc(64, sizeof(float) * ((floats + 15) / 16 * 16));
  attention_scratch_floats = attention_scratch ? floats : 0;
  return attention_scratch;
}

/**
 * C[0:mr, 0:nr] (+)= A[0:mr, 0:kc] @ B[0:kc, 0:NR], in the micro-kernel's 6 x 16 register tile.
 * A's element (r, k) is a[r * ars + k * acs] (rows past mr read row mr - 1; their results are
 * dropped); B's rows are ldb floats apart, NR floats each, all readable (the caller pads).
 */
KERNEL_TARGET static void tile_kernel(int64_t kc, const float *a, int64_t ars, int64_t acs, const float *b, int64_t ldb, float *c, int64_t ldc, int accumulate, int mr, int nr) {
  const float *a0 = a, *a1 = a + (mr > 1 ? 1 : 0) * ars, *a2 = a + (mr > 2 ? 2 : mr - 1) * ars;
  const float *a3 = a + (mr > 3 ? 3 : mr - 1) * ars, *a4 = a + (mr > 4 ? 4 : mr - 1) * ars, *a5 = a + (mr > 5 ? 5 : mr - 1) * ars;
  v8 c00 = {0}, c01 = {0}, c10 = {0}, c11 = {0}, c20 = {0}, c21 = {0};
  v8 c30 = {0}, c31 = {0}, c40 = {0}, c41 = {0}, c50 = {0}, c51 = {0};
  for (int64_t k = 0, ak = 0; k < kc; k++, ak += acs, b += ldb) {
    v8 b0 = *(const v8u *)(b);
    v8 b1 = *(const v8u *)(b + 8);
    c00 += a0[ak] * b0; c01 += a0[ak] * b1;
    c10 += a1[ak] * b0; c11 += a1[ak] * b1;
    c20 += a2[ak] * b0; c21 += a2[ak] * b1;
    c30 += a3[ak] * b0; c31 += a3[ak] * b1;
    c40 += a4[ak] * b0; c41 += a4[ak] * b1;
    c50 += a5[ak] * b0; c51 += a5[ak] * b1;
  }
  v8 tile[MR][2] = {{c00, c01}, {c10, c11}, {c20, c21}, {c30, c31}, {c40, c41}, {c50, c51}};
  if (nr == NR) {
    for (int r = 0; r < mr; r++) {
      v8u *row = (v8u *)(c + r * ldc);
      row[0] = accumulate ? row[0] + tile[r][0] : tile[r][0];
      row[1] = accumulate ? row[1] + tile[r][1] : tile[r][1];
    }
    return;
  }
  float *flat = (float *)tile;
  for (int r = 0; r < mr; r++)
    for (int j = 0; j < nr; j++) c[r * ldc + j] = accumulate ? c[r * ldc + j] + flat[r * NR + j] : flat[r * NR + j];
}

/** kc rows of B's NR columns from col for tile_kernel: in place (row stride ldb) when all NR exist, else copied, zero-padded, into panel (row stride NR). */
static const float *b_panel(const float *b, int64_t ldb, int64_t kc, int nr, float *panel, int64_t *ld) {
  *ld = ldb;
  if (nr == NR) return b;
  for (int64_t k = 0; k < kc; k++) {
    memcpy(panel + k * NR, b + k * ldb, sizeof(float) * nr);
    memset(panel + k * NR + nr, 0, sizeof(float) * (NR - nr));
  }
  *ld = NR;
  return panel;
}

/** xt[d, j] = x[j, d] for a head's [t, hd] rows (row stride ld), each xt row padded with zeros to tpad. */
static void transpose_head(const float *x, int64_t t, int64_t hd, int64_t ld, int64_t tpad, float *xt) {
  for (int64_t d = 0; d < hd; d++) {
    float *row = xt + d * tpad;
    for (int64_t j = 0; j < t; j++) row[j] = x[j * ld + d];
    memset(row + t, 0, sizeof(float) * (tpad - t));
  }
}

/**
 * Raw scores s[0..n) of query row n-1 (its keys 0..n-1) to probabilities softmax(scale * s), in
 * place; s[n..width) = 0. The scale is folded into exp()'s argument, and the row's last partial
 * vector runs in full lanes where the row has room (lanes past n, whatever they held, are zeroed
 * after exp8 and not summed): one pass for the max, one for exp and the sum, one to normalise.
 */
KERNEL_TARGET static void causal_softmax_row(float *s, int64_t n, int64_t width, float scale) {
  const v8i lane = {0, 1, 2, 3, 4, 5, 6, 7};
  float shift = row_max(s, n) * scale; /* scale > 0: the max of the scaled scores */
  int64_t full_lanes_end = (n + 7) / 8 * 8 <= width ? n : n / 8 * 8, j = 0;
  v8 sum8 = SPLAT(0.0f);
  for (; j < full_lanes_end; j += 8) {
    v8 e = exp8(*(const v8u *)(s + j) * SPLAT(scale) - SPLAT(shift));
    e = (v8)((v8i)e & (lane < (int32_t)(n - j))); /* lanes at or past n: 0 */
    *(v8u *)(s + j) = e;
    sum8 += e;
  }
  double sum = 0;
  for (int l = 0; l < 8; l++) sum += sum8[l];
  if (j < n) { /* the last few keys of a row that ends the buffer */
    float shifted[8], e[8];
    int rest = (int)(n - j);
    for (int l = 0; l < rest; l++) shifted[l] = s[j + l] * scale - shift;
    exp_tail(shifted, e, rest);
    for (int l = 0; l < rest; l++) sum += s[j + l] = e[l];
  }
  float inv = (float)(1.0 / sum);
  for (int64_t i = 0; i < n; i++) s[i] *= inv;
  memset(s + n, 0, sizeof(float) * (width - n));
}

/** dP row (in ds) to dS = scale * P * (dP - sum(P * dP)) over its n keys; ds[n..width) = 0. */
KERNEL_TARGET static void causal_softmax_grad_row(const float *p, float *ds, int64_t n, int64_t width, float scale) {
  float d = (float)dot_double(ds, p, n);
  for (int64_t j = 0; j < n; j++) ds[j] = p[j] * (ds[j] - d) * scale;
  memset(ds + n, 0, sizeof(float) * (width - n));
}

typedef struct {
  const float *q, *k, *v, *probs_in, *dout;
  float *out, *probs, *dq, *dk, *dv;
  int64_t batch, seq, heads, kv_heads, hd;
  float scale;
  int out_of_memory;
} AttentionJob;

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

#define KEY_BLOCK 48     /* a multiple of MR */
#define QUERY_BLOCK 128

static int64_t padded_seq(int64_t t) { return (t + NR - 1) / NR * NR; }

/** Forward of the items first..last (item = b * H + h): P and O of one query head. */
static void attention_part(void *raw, int index, int count) {
  AttentionJob *j = raw;
  int64_t t = j->seq, hd = j->hd, wq = j->heads * hd, wk = j->kv_heads * hd, rep = j->heads / j->kv_heads, tpad = padded_seq(t), first, last;
  float *kt = ensure_attention_scratch(hd * tpad + t * NR), *panel = kt + hd * tpad;
  if (!kt) {
    __atomic_store_n(&j->out_of_memory, 1, __ATOMIC_RELAXED);
    return;
  }
  split(j->batch * j->heads, 1, index, count, &first, &last);
  for (int64_t item = first; item < last; item++) {
    int64_t b = item / j->heads, h = item % j->heads, g = h / rep, ld;
    const float *q = j->q + b * t * wq + h * hd, *k = j->k + b * t * wk + g * hd, *v = j->v + b * t * wk + g * hd;
    float *p = j->probs + item * t * t, *out = j->out + b * t * wq + h * hd;
    transpose_head(k, t, hd, wk, tpad, kt);
    for (int64_t i0 = 0; i0 < t; i0 += MR) {
      int mr = (int)min64(MR, t - i0);
      int64_t keys = i0 + mr; /* the tile's last query sees keys 0..keys-1 */
      for (int64_t j0 = 0; j0 < keys; j0 += NR) tile_kernel(hd, q + i0 * wq, wq, 1, kt + j0, tpad, p + i0 * t + j0, t, 0, mr, (int)min64(NR, keys - j0)); /* Q K^T */
      for (int64_t i = i0; i < i0 + mr; i++) causal_softmax_row(p + i * t, i + 1, t, j->scale);
      for (int64_t c0 = 0; c0 < hd; c0 += NR) {
        int nr = (int)min64(NR, hd - c0);
        const float *vb = b_panel(v + c0, wk, keys, nr, panel, &ld);
        tile_kernel(keys, p + i0 * t, t, 1, vb, ld, out + i0 * wq + c0, wq, 0, mr, nr); /* P V */
      }
    }
  }
}

/** Backward of the items first..last (item = b * Hkv + g): dK and dV of one kv head, summed over its query heads, and their dQ. */
static void attention_grad_part(void *raw, int index, int count) {
  AttentionJob *j = raw;
  int64_t t = j->seq, hd = j->hd, wq = j->heads * hd, wk = j->kv_heads * hd, rep = j->heads / j->kv_heads, tpad = padded_seq(t), first, last;
  float *ds = ensure_attention_scratch(t * t + hd * tpad + t * NR), *vt = ds + t * t, *panel = vt + hd * tpad;
  if (!ds) {
    __atomic_store_n(&j->out_of_memory, 1, __ATOMIC_RELAXED);
    return;
  }
  split(j->batch * j->kv_heads, 1, index, count, &first, &last);
  for (int64_t item = first; item < last; item++) {
    int64_t b = item / j->kv_heads, g = item % j->kv_heads, ld;
    const float *k = j->k + b * t * wk + g * hd, *v = j->v + b * t * wk + g * hd;
    float *dk = j->dk + b * t * wk + g * hd, *dv = j->dv + b * t * wk + g * hd;
    transpose_head(v, t, hd, wk, tpad, vt);
    for (int64_t r = 0; r < rep; r++) {
      int64_t h = g * rep + r;
      const float *q = j->q + b * t * wq + h * hd, *dout = j->dout + b * t * wq + h * hd, *p = j->probs_in + (b * j->heads + h) * t * t;
      float *dq = j->dq + b * t * wq + h * hd;
      for (int64_t i0 = 0; i0 < t; i0 += MR) {
        int mr = (int)min64(MR, t - i0);
        int64_t keys = i0 + mr;
        for (int64_t j0 = 0; j0 < keys; j0 += NR) tile_kernel(hd, dout + i0 * wq, wq, 1, vt + j0, tpad, ds + i0 * t + j0, t, 0, mr, (int)min64(NR, keys - j0)); /* dP = dO V^T */
        for (int64_t i = i0; i < i0 + mr; i++) causal_softmax_grad_row(p + i * t, ds + i * t, i + 1, t, j->scale);
        for (int64_t c0 = 0; c0 < hd; c0 += NR) {
          int nr = (int)min64(NR, hd - c0);
          const float *kb = b_panel(k + c0, wk, keys, nr, panel, &ld);
          tile_kernel(keys, ds + i0 * t, t, 1, kb, ld, dq + i0 * wq + c0, wq, 0, mr, nr); /* dQ = dS K */
        }
      }
      // Key j gathers the queries i >= j (dS and P are 0 above the diagonal): A = dS^T, P^T, read
      // down their columns. KEY_BLOCK keys at a time, QUERY_BLOCK queries at a time, so the columns'
      // cache lines are read from memory once and used by all the block's 6-key tiles (at T = 1024
      // a [T, T] dS or P is 4 MB: read down a column tile by tile, the backward ran at half speed).
      for (int64_t kb = 0; kb < t; kb += KEY_BLOCK) {
        for (int64_t qb = kb; qb < t; qb += QUERY_BLOCK) {
          int64_t qb_end = min64(qb + QUERY_BLOCK, t);
          for (int64_t j0 = kb; j0 < min64(kb + KEY_BLOCK, t); j0 += MR) {
            int mr = (int)min64(MR, t - j0);
            int64_t i0 = qb > j0 ? qb : j0, queries = qb_end - i0;
            int accumulate = r > 0 || qb > kb; /* the first query block of the first head writes */
            for (int64_t c0 = 0; c0 < hd; c0 += NR) {
              int nr = (int)min64(NR, hd - c0);
              const float *qp = b_panel(q + i0 * wq + c0, wq, queries, nr, panel, &ld);
              tile_kernel(queries, ds + i0 * t + j0, 1, t, qp, ld, dk + j0 * wk + c0, wk, accumulate, mr, nr); /* dK += dS^T Q */
              const float *op = b_panel(dout + i0 * wq + c0, wq, queries, nr, panel, &ld);
              tile_kernel(queries, p + i0 * t + j0, 1, t, op, ld, dv + j0 * wk + c0, wk, accumulate, mr, nr); /* dV += P^T dO */
            }
          }
        }
      }
    }
  }
}

/** The forward of a job with its shapes and arrays set; 0 when a thread's buffers could not be allocated. */
static int run_attention(AttentionJob *job) {
  int64_t t = job->seq;
  run_parallel(attention_part, job, items_threads(job->batch * job->heads, t * t * job->hd, MIN_WORK));
  return !job->out_of_memory;
}

/** The backward of a job with its shapes and arrays set; 0 when a thread's buffers could not be allocated. */
static int run_attention_grad(AttentionJob *job) {
  int64_t t = job->seq, rep = job->heads / job->kv_heads;
  run_parallel(attention_grad_part, job, items_threads(job->batch * job->kv_heads, 2 * rep * t * t * job->hd, MIN_WORK));
  return !job->out_of_memory;
}

/** Reads the shape arguments (batch, seq, heads, kvHeads, hd, scale) at argv[0..6) into job; 0 (after throwing) when they make no sense. */
static int attention_shape(napi_env env, napi_value *argv, AttentionJob *job, const char *what) {
  job->batch = int64_arg(env, argv[0]), job->seq = int64_arg(env, argv[1]), job->heads = int64_arg(env, argv[2]);
  job->kv_heads = int64_arg(env, argv[3]), job->hd = int64_arg(env, argv[4]);
  double scale = 0;
  napi_get_value_double(env, argv[5], &scale);
  job->scale = (float)scale;
  if (job->batch < 0 || job->seq < 1 || job->heads < 1 || job->kv_heads < 1 || job->hd < 1 || job->heads % job->kv_heads != 0) {
    napi_throw_range_error(env, NULL, what);
    return 0;
  }
  return 1;
}

/**
 * attention(q, k, v, out, probs, batch, seq, heads, kvHeads, hd, scale): out [B*T, H*hd] and the
 * probabilities probs [B, H, T, T] of causal attention over q [B*T, H*hd], k, v [B*T, Hkv*hd].
 */
static napi_value attention(napi_env env, napi_callback_info info) {
  napi_value argv[11];
  if (!fixed_args(env, info, 11, argv, "fastgemm.attention expects 11 arguments")) return NULL;
  AttentionJob job = {0};
  const char *bad = "fastgemm.attention: array lengths do not match batch x seq x heads x hd (heads a multiple of kvHeads)";
  if (!attention_shape(env, argv + 5, &job, bad)) return NULL;
  int64_t rows = job.batch * job.seq, t = job.seq;
  float *q, *k, *v, *out, *probs;
  if (!float_arg(env, argv[0], &q, rows * job.heads * job.hd, bad) || !float_arg(env, argv[1], &k, rows * job.kv_heads * job.hd, bad) ||
      !float_arg(env, argv[2], &v, rows * job.kv_heads * job.hd, bad) || !float_arg(env, argv[3], &out, rows * job.heads * job.hd, bad) ||
      !float_arg(env, argv[4], &probs, job.batch * job.heads * t * t, bad)) return NULL;
  job.q = q, job.k = k, job.v = v, job.out = out, job.probs = probs;
  if (!run_attention(&job)) napi_throw_error(env, NULL, "fastgemm.attention: out of memory for a thread's buffers");
  return NULL;
}

/**
 * attentionGrad(q, k, v, probs, dout, dq, dk, dv, batch, seq, heads, kvHeads, hd, scale): the
 * gradients of attention's output `dout` for q, k and v, from its inputs and probabilities.
 */
static napi_value attention_grad(napi_env env, napi_callback_info info) {
  napi_value argv[14];
  if (!fixed_args(env, info, 14, argv, "fastgemm.attentionGrad expects 14 arguments")) return NULL;
  AttentionJob job = {0};
  const char *bad = "fastgemm.attentionGrad: array lengths do not match batch x seq x heads x hd (heads a multiple of kvHeads)";
  if (!attention_shape(env, argv + 8, &job, bad)) return NULL;
  int64_t rows = job.batch * job.seq, t = job.seq, qn = rows * job.heads * job.hd, kn = rows * job.kv_heads * job.hd;
  float *q, *k, *v, *probs, *dout, *dq, *dk, *dv;
  if (!float_arg(env, argv[0], &q, qn, bad) || !float_arg(env, argv[1], &k, kn, bad) || !float_arg(env, argv[2], &v, kn, bad) ||
      !float_arg(env, argv[3], &probs, job.batch * job.heads * t * t, bad) || !float_arg(env, argv[4], &dout, qn, bad) ||
      !float_arg(env, argv[5], &dq, qn, bad) || !float_arg(env, argv[6], &dk, kn, bad) || !float_arg(env, argv[7], &dv, kn, bad)) return NULL;
  job.q = q, job.k = k, job.v = v, job.probs_in = probs, job.dout = dout, job.dq = dq, job.dk = dk, job.dv = dv;
  if (!run_attention_grad(&job)) napi_throw_error(env, NULL, "fastgemm.attentionGrad: out of memory for a thread's buffers");
  return NULL;
}

// ---------------------------------------------------------------------------------------------
// One Llama transformer block for training, forward and backward, each one call from JavaScript
// where the tfjs path makes about 40 kernels per layer each way (core/model/kernels/block.ts).
// A training step's work is the same kernels as that path's, called here in sequence: the
// matmuls with the transpose flags tfjs's BatchMatMul and its gradient use, the fused RMSNorm,
// RoPE, attention and SwiGLU, and the adds, summing each gradient in the order tfjs's backprop
// does (a tensor's consumers in reverse), so values and gradients are bitwise the same. What it
// saves is tfjs's bookkeeping per kernel, on the main thread while the pool's other threads wait
// (~12 ms of the main thread's JavaScript per tiny step; the step 6-10% faster). With N = B*T rows, D the width, Q = H*hd, K = Hkv*hd, F hidden:
//   a = rmsnorm(x) * norm_in;  q = rope(a Wq^T);  k = rope(a Wk^T);  v = a Wv^T
//   o = attention(q, k, v);  h = x + o Wo^T
//   m = rmsnorm(h) * norm_post;  g = m W1^T;  u = m W3^T;  s = silu(g) * u;  y = h + s W2^T

typedef struct {
  int64_t batch, seq, dim, heads, kv_heads, hd, hidden, tables;
  float eps;
} BlockDims;

/** The block's parameters (weights [out, in] as Hugging Face stores them) and the RoPE tables [tables, T, hd]. */
typedef struct {
  const float *norm_in, *wq, *wk, *wv, *wo, *norm_post, *w1, *w3, *w2, *cos, *sin;
} BlockWeights;

/**
 * What the forward keeps for the backward: a [N, D], q [N, Q], k, v [N, K], probs [B, H, T, T],
 * o [N, Q], h, m [N, D], g, u, s [N, F], one after another in ONE array (block_saved), so the op
 * saves one tensor for its backward where eleven would each cost tfjs a clone and its bookkeeping.
 */
typedef struct {
  float *a, *q, *k, *v, *probs, *o, *h, *m, *g, *u, *s;
} BlockSaved;

/** The gradients of the block's parameters, in BlockWeights' order. */
typedef struct {
  float *norm_in, *wq, *wk, *wv, *wo, *norm_post, *w1, *w3, *w2;
} BlockGrads;

static int64_t block_rows(BlockDims d) { return d.batch * d.seq; }

/** Scratch floats the forward needs: q and k before RoPE, and one [N, D] product. */
static int64_t block_forward_scratch(BlockDims d) { return block_rows(d) * (d.heads * d.hd + d.kv_heads * d.hd + d.dim); }

/** Scratch floats the backward needs: three [N, F], four [N, D], two [N, Q] and two [N, K]. */
static int64_t block_backward_scratch(BlockDims d) { return block_rows(d) * (3 * d.hidden + 4 * d.dim + 2 * d.heads * d.hd + 2 * d.kv_heads * d.hd); }

/** y = x @ W^T for W [out, in] (tfjs: matMul(x, w, false, true)); 0 when out of memory. */
static int block_linear(const float *x, const float *w, float *y, int64_t rows, int64_t in, int64_t out) {
  return run_matmul(x, w, y, 1, rows, out, in, 0, 1, 0, 0);
}

/**
 * A linear layer's gradients as tfjs's BatchMatMul gradient makes them: dx = dy @ W and dW = dy^T @ x
 * (dW not at all when `dw` is NULL: a frozen weight's); 0 when out of memory.
 */
static int block_linear_grad(const float *x, const float *w, const float *dy, float *dx, float *dw, int64_t rows, int64_t in, int64_t out) {
  return run_matmul(dy, w, dx, 1, rows, in, out, 0, 0, 0, 0) && (dw == NULL || run_matmul(dy, x, dw, 1, out, in, rows, 1, 0, 0, 0));
}

static AttentionJob block_attention_job(BlockDims d) {
  AttentionJob job = {0};
  job.batch = d.batch, job.seq = d.seq, job.heads = d.heads, job.kv_heads = d.kv_heads, job.hd = d.hd;
  job.scale = (float)(1.0 / sqrt((double)d.hd)); /* as JS computes 1 / Math.sqrt(hd), rounded to float32 */
  return job;
}

/** The forward: y [N, D] from x, and what the backward needs in `saved`; 0 when out of memory. */
static int block_forward(BlockDims d, BlockWeights w, const float *x, float *y, BlockSaved sv, float *scratch) {
  int64_t n = block_rows(d), qw = d.heads * d.hd, kw = d.kv_heads * d.hd;
  float *q_raw = scratch, *k_raw = q_raw + n * qw, *product = k_raw + n * kw; /* [N, Q], [N, K], [N, D] */
  run_rms_norm(x, w.norm_in, sv.a, n, d.dim, d.eps);
  if (!block_linear(sv.a, w.wq, q_raw, n, d.dim, qw)) return 0;
  run_rope(q_raw, w.cos, w.sin, sv.q, n, d.seq, d.heads, d.hd, d.tables, 0);
  if (!block_linear(sv.a, w.wk, k_raw, n, d.dim, kw)) return 0;
  run_rope(k_raw, w.cos, w.sin, sv.k, n, d.seq, d.kv_heads, d.hd, d.tables, 0);
  if (!block_linear(sv.a, w.wv, sv.v, n, d.dim, kw)) return 0;
  AttentionJob att = block_attention_job(d);
  att.q = sv.q, att.k = sv.k, att.v = sv.v, att.out = sv.o, att.probs = sv.probs;
  if (!run_attention(&att) || !block_linear(sv.o, w.wo, product, n, qw, d.dim)) return 0;
  run_add(x, product, sv.h, n * d.dim);
  run_rms_norm(sv.h, w.norm_post, sv.m, n, d.dim, d.eps);
  if (!block_linear(sv.m, w.w1, sv.g, n, d.dim, d.hidden) || !block_linear(sv.m, w.w3, sv.u, n, d.dim, d.hidden)) return 0;
  run_swiglu(sv.g, sv.u, sv.s, n * d.hidden);
  if (!block_linear(sv.s, w.w2, product, n, d.hidden, d.dim)) return 0;
  run_add(sv.h, product, y, n * d.dim);
  return 1;
}

/**
 * The backward: dx [N, D] and the parameters' gradients from dy and the forward's saved arrays;
 * 0 when out of memory. A tensor read by several ops gets its gradient summed as tfjs's backprop
 * sums it, its last consumer first: h's (dy, then RMSNorm's), a's (v, then k, then q) and x's.
 */
static int block_backward(BlockDims d, BlockWeights w, const float *x, BlockSaved sv, const float *dy, float *dx, BlockGrads gr, float *scratch) {
  int64_t n = block_rows(d), qw = d.heads * d.hd, kw = d.kv_heads * d.hd, nd = n * d.dim;
  float *ds = scratch, *dg = ds + n * d.hidden, *du = dg + n * d.hidden;        /* [N, F] each */
  float *d1 = du + n * d.hidden, *d2 = d1 + nd, *d3 = d2 + nd, *d4 = d3 + nd;  /* [N, D] each */
  float *q1 = d4 + nd, *q2 = q1 + n * qw, *k1 = q2 + n * qw, *k2 = k1 + n * kw; /* [N, Q], [N, K] */
  // The MLP: y = h + s W2^T, s = silu(g) * u.
  if (!block_linear_grad(sv.s, w.w2, dy, ds, gr.w2, n, d.hidden, d.dim)) return 0;
  run_swiglu_grad(sv.g, sv.u, ds, dg, du, n * d.hidden);
  if (!block_linear_grad(sv.m, w.w3, du, d1, gr.w3, n, d.dim, d.hidden) || !block_linear_grad(sv.m, w.w1, dg, d2, gr.w1, n, d.dim, d.hidden)) return 0;
  run_add(d1, d2, d3, nd); /* dm: up's part, then gate's */
  if (!run_rms_norm_grad(sv.h, w.norm_post, d3, d1, gr.norm_post, n, d.dim, d.eps)) return 0;
  float *dh = d2;
  run_add(dy, d1, dh, nd); /* dh: the residual's dy, then RMSNorm's */
  // Attention: h = x + o Wo^T.
  if (!block_linear_grad(sv.o, w.wo, dh, q1, gr.wo, n, qw, d.dim)) return 0;
  AttentionJob att = block_attention_job(d);
  att.q = sv.q, att.k = sv.k, att.v = sv.v, att.probs_in = sv.probs, att.dout = q1, att.dq = q2, att.dk = k1, att.dv = k2;
  if (!run_attention_grad(&att)) return 0;
  if (!block_linear_grad(sv.a, w.wv, k2, d3, gr.wv, n, d.dim, kw)) return 0; /* v's part of da */
  run_rope(k1, w.cos, w.sin, k2, n, d.seq, d.kv_heads, d.hd, d.tables, 1);
  if (!block_linear_grad(sv.a, w.wk, k2, d1, gr.wk, n, d.dim, kw)) return 0;
  run_add(d3, d1, d4, nd); /* + k's part */
  run_rope(q2, w.cos, w.sin, q1, n, d.seq, d.heads, d.hd, d.tables, 1);
  if (!block_linear_grad(sv.a, w.wq, q1, d1, gr.wq, n, d.dim, qw)) return 0;
  run_add(d4, d1, d3, nd); /* + q's part */
  if (!run_rms_norm_grad(x, w.norm_in, d3, d1, gr.norm_in, n, d.dim, d.eps)) return 0;
  run_add(dh, d1, dx, nd); /* dx: the residual's dh, then RMSNorm's */
  return 1;
}

/** Reads the block's dims from argv: batch, seq, dim, heads, kvHeads, hd, hidden, tables, eps; 0 (after throwing) when they make no sense. */
static int block_dims(napi_env env, napi_value *argv, BlockDims *d) {
  d->batch = int64_arg(env, argv[0]), d->seq = int64_arg(env, argv[1]), d->dim = int64_arg(env, argv[2]), d->heads = int64_arg(env, argv[3]);
  d->kv_heads = int64_arg(env, argv[4]), d->hd = int64_arg(env, argv[5]), d->hidden = int64_arg(env, argv[6]), d->tables = int64_arg(env, argv[7]);
  double eps = 0;
  napi_get_value_double(env, argv[8], &eps);
  d->eps = (float)eps;
  if (d->batch < 1 || d->seq < 1 || d->dim < 1 || d->heads < 1 || d->kv_heads < 1 || d->heads % d->kv_heads != 0 || d->hd < 2 || d->hd % 2 != 0 ||
      d->hidden < 1 || (d->tables != 1 && d->tables != d->batch)) {
    napi_throw_range_error(env, NULL, "fastgemm.block: batch, seq, dim, heads, kvHeads, hd, hidden must be positive, heads a multiple of kvHeads, hd even, tables 1 or batch");
    return 0;
  }
  return 1;
}

/** Reads `count` Float32Arrays from argv into out, each with at least the given length; 0 (after throwing) otherwise. */
static int block_arrays(napi_env env, napi_value *argv, int count, const int64_t *lengths, float **out) {
  for (int i = 0; i < count; i++)
    if (!float_arg(env, argv[i], &out[i], lengths[i], "fastgemm.block: an array is shorter than the block's dims ask")) return 0;
  return 1;
}

/** Lengths of BlockSaved's arrays, in its order. */
static void block_saved_lengths(BlockDims d, int64_t *len) {
  int64_t n = block_rows(d), qw = d.heads * d.hd, kw = d.kv_heads * d.hd;
  int64_t saved[11] = {n * d.dim, n * qw, n * kw, n * kw, d.batch * d.heads * d.seq * d.seq, n * qw, n * d.dim, n * d.dim, n * d.hidden, n * d.hidden, n * d.hidden};
  memcpy(len, saved, sizeof(saved));
}

/** Floats of the one array that holds BlockSaved. */
static int64_t block_saved_floats(BlockDims d) {
  int64_t len[11], total = 0;
  block_saved_lengths(d, len);
  for (int i = 0; i < 11; i++) total += len[i];
  return total;
}

/** Lengths of x, the 11 weights and tables, and the saved array, in the argument order. */
static void block_lengths(BlockDims d, int64_t *len) {
  int64_t n = block_rows(d), qw = d.heads * d.hd, kw = d.kv_heads * d.hd, t = d.tables * d.seq * d.hd;
  int64_t weights[12] = {n * d.dim, d.dim, qw * d.dim, kw * d.dim, kw * d.dim, d.dim * qw, d.dim, d.hidden * d.dim, d.hidden * d.dim, d.dim * d.hidden, t, t};
  memcpy(len, weights, sizeof(weights));
  len[12] = block_saved_floats(d);
}

static BlockWeights block_weights(float **a) {
  BlockWeights w = {a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7], a[8], a[9], a[10]};
  return w;
}

/** BlockSaved's arrays, one after another in `flat`. */
static BlockSaved block_saved(BlockDims d, float *flat) {
  int64_t len[11];
  float *at[11];
  block_saved_lengths(d, len);
  for (int i = 0; i < 11; i++) at[i] = flat, flat += len[i];
  BlockSaved s = {at[0], at[1], at[2], at[3], at[4], at[5], at[6], at[7], at[8], at[9], at[10]};
  return s;
}

/**
 * blockForward(x, normIn, wq, wk, wv, wo, normPost, w1, w3, w2, cos, sin, saved, y, scratch, batch,
 * seq, dim, heads, kvHeads, hd, hidden, tables, eps): y and the saved array (see BlockSaved) of
 * the block over x [B*T, D].
 * blockBackward(x, normIn, ..., sin, saved, dy, dx, dNormIn, dWq, dWk, dWv, dWo, dNormPost, dW1,
 * dW3, dW2, scratch, the same dims): dx and the parameters' gradients for the output's gradient
 * dy; a projection's gradient given as an empty array is not computed (a frozen weight). Every
 * array's length is checked against the dims before anything runs.
 */
static napi_value block_call(napi_env env, napi_callback_info info, int backward) {
  int count = backward ? 25 : 15; /* arrays; the 9 dims follow */
  napi_value argv[34];
  if (!fixed_args(env, info, count + 9, argv, backward ? "fastgemm.blockBackward expects 34 arguments" : "fastgemm.blockForward expects 24 arguments")) return NULL;
  BlockDims d;
  if (!block_dims(env, argv + count, &d)) return NULL;
  int64_t len[25];
  block_lengths(d, len);
  len[13] = block_rows(d) * d.dim; /* y, or dy */
  if (backward) {
    len[14] = len[13]; /* dx */
    for (int i = 0; i < 9; i++) len[15 + i] = len[1 + i]; /* each gradient the length of its parameter */
  }
  len[count - 1] = backward ? block_backward_scratch(d) : block_forward_scratch(d);
  // An empty array for a projection's gradient (dWq, dWk, dWv, dWo, dW1, dW3, dW2): a frozen weight
  // (LoRA's trunk), whose gradient is not computed.
  int skipped[25] = {0};
  if (backward) {
    static const int projections[] = {16, 17, 18, 19, 21, 22, 23};
    for (int i = 0; i < 7; i++) {
      float *data;
      size_t length;
      if (!float_array(env, argv[projections[i]], &data, &length)) return NULL;
      if (length == 0) skipped[projections[i]] = 1, len[projections[i]] = 0;
    }
  }
  float *a[25];
  if (!block_arrays(env, argv, count, len, a)) return NULL;
  for (int i = 0; i < count; i++)
    if (skipped[i]) a[i] = NULL;
  int ok;
  if (backward) {
    BlockGrads grads = {a[15], a[16], a[17], a[18], a[19], a[20], a[21], a[22], a[23]};
    ok = block_backward(d, block_weights(a + 1), a[0], block_saved(d, a[12]), a[13], a[14], grads, a[24]);
  } else {
    ok = block_forward(d, block_weights(a + 1), a[0], a[13], block_saved(d, a[12]), a[14]);
  }
  if (!ok) napi_throw_error(env, NULL, backward ? "fastgemm.blockBackward: out of memory" : "fastgemm.blockForward: out of memory");
  return NULL;
}

static napi_value block_forward_call(napi_env env, napi_callback_info info) { return block_call(env, info, 0); }
static napi_value block_backward_call(napi_env env, napi_callback_info info) { return block_call(env, info, 1); }

/** blockScratch(batch, seq, dim, heads, kvHeads, hd, hidden, tables, eps, backward): the scratch floats blockForward (or blockBackward) needs. blockSaved(the same dims): the saved array's floats. */
static napi_value block_scratch_call(napi_env env, napi_callback_info info) {
  napi_value argv[10];
  if (!fixed_args(env, info, 10, argv, "fastgemm.blockScratch expects 10 arguments")) return NULL;
  BlockDims d;
  if (!block_dims(env, argv, &d)) return NULL;
  bool backward = false;
  napi_get_value_bool(env, argv[9], &backward);
  napi_value result;
  napi_create_double(env, (double)(backward ? block_backward_scratch(d) : block_forward_scratch(d)), &result);
  return result;
}

static napi_value block_saved_call(napi_env env, napi_callback_info info) {
  napi_value argv[9];
  if (!fixed_args(env, info, 9, argv, "fastgemm.blockSaved expects 9 arguments")) return NULL;
  BlockDims d;
  if (!block_dims(env, argv, &d)) return NULL;
  napi_value result;
  napi_create_double(env, (double)block_saved_floats(d), &result);
  return result;
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

// ---------------------------------------------------------------------------------------------
// Decoding attention: one new token per row against the KV cache, in one kernel per layer and
// step where tfjs makes about ten (head reshapes, q k^T, the mask, the softmax, p v), which at
// batch 1-8 cost more in per-kernel overhead than in arithmetic. q [B, H*hd]; kc, vc the cache's
// [B, Hkv, capacity, hd] buffers with this step's keys and values already written at column
// `last`; row b attends to its columns padding[b]..last (left padding before, unwritten columns
// after). Query head h reads kv head h / (H / Hkv), as Hugging Face's repeat_kv. Per (row, head):
// s_j = scale * q . k_j, p = softmax(s) (max-subtracted, the sum in double), out = sum_j p_j v_j.
// One job per (row, head), so any thread count gives the same bits.

typedef struct {
  const float *q, *kc, *vc;
  const int32_t *padding;
  float *out;
  int64_t batch, heads, kv_heads, hd, capacity, last;
  float scale;
  int out_of_memory;
} DecodeJob;

KERNEL_TARGET static float dot(const float *a, const float *b, int64_t n) {
  v8 acc = SPLAT(0.0f);
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) acc += *(const v8u *)(a + i) * *(const v8u *)(b + i);
  float sum = ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
  for (; i < n; i++) sum += a[i] * b[i];
  return sum;
}

KERNEL_TARGET static void decode_attention_part(void *raw, int index, int count) {
  DecodeJob *j = raw;
  int64_t first, end;
  split(j->batch * j->heads, 1, index, count, &first, &end);
  float *scores = ensure_attention_scratch(j->last + 1);
  if (!scores) {
    __atomic_store_n(&j->out_of_memory, 1, __ATOMIC_RELAXED);
    return;
  }
  int64_t hd = j->hd, group = j->heads / j->kv_heads;
  for (int64_t item = first; item < end; item++) {
    int64_t b = item / j->heads, h = item % j->heads;
    const float *q = j->q + (b * j->heads + h) * hd;
    int64_t cache_row = (b * j->kv_heads + h / group) * j->capacity; /* first column of this kv head */
    const float *keys = j->kc + cache_row * hd, *values = j->vc + cache_row * hd;
    int64_t start = j->padding[b], n = j->last + 1 - start;
    for (int64_t c = 0; c < n; c++) scores[c] = dot(q, keys + (start + c) * hd, hd) * j->scale;
    float max = row_max(scores, n);
    float inv = (float)(1.0 / exp_row(scores, max, scores, n));
    float *out = j->out + (b * j->heads + h) * hd;
    for (int64_t d = 0; d < hd; d++) out[d] = 0;
    for (int64_t c = 0; c < n; c++) {
      float p = scores[c] * inv;
      const float *v = values + (start + c) * hd;
      for (int64_t d = 0; d < hd; d++) out[d] += p * v[d];
    }
  }
}

/**
 * decodeAttention(q, kc, vc, padding, out, batch, heads, kvHeads, hd, capacity, last, scale): see
 * above; padding an Int32Array of `batch` first columns, each at most `last`.
 */
static napi_value decode_attention(napi_env env, napi_callback_info info) {
  napi_value argv[12];
  if (!fixed_args(env, info, 12, argv, "fastgemm.decodeAttention expects 12 arguments")) return NULL;
  DecodeJob job = {0};
  int64_t dims[6];
  for (int i = 0; i < 6; i++) dims[i] = int64_arg(env, argv[5 + i]);
  job.batch = dims[0], job.heads = dims[1], job.kv_heads = dims[2], job.hd = dims[3], job.capacity = dims[4], job.last = dims[5];
  double scale = 0;
  napi_get_value_double(env, argv[11], &scale);
  job.scale = (float)scale;
  const char *bad = "fastgemm.decodeAttention: array lengths do not match batch x heads x hd and the cache's capacity (heads a multiple of kvHeads, last < capacity)";
  if (job.batch < 1 || job.heads < 1 || job.kv_heads < 1 || job.heads % job.kv_heads != 0 || job.hd < 1 || job.last < 0 || job.last >= job.capacity) {
    napi_throw_range_error(env, NULL, bad);
    return NULL;
  }
  int64_t qn = job.batch * job.heads * job.hd, cn = job.batch * job.kv_heads * job.capacity * job.hd;
  float *q, *kc, *vc, *out;
  int32_t *padding;
  if (!float_arg(env, argv[0], &q, qn, bad) || !float_arg(env, argv[1], &kc, cn, bad) || !float_arg(env, argv[2], &vc, cn, bad) ||
      !int32_arg(env, argv[3], &padding, job.batch, bad) || !float_arg(env, argv[4], &out, qn, bad)) return NULL;
  for (int64_t b = 0; b < job.batch; b++) {
    if (padding[b] < 0 || padding[b] > job.last) {
      napi_throw_range_error(env, NULL, "fastgemm.decodeAttention: a row's padding is past the last column");
      return NULL;
    }
  }
  job.q = q, job.kc = kc, job.vc = vc, job.padding = padding, job.out = out;
  run_parallel(decode_attention_part, &job, items_threads(job.batch * job.heads, (job.last + 1) * job.hd * 2, MIN_WORK / 4));
  if (job.out_of_memory) napi_throw_error(env, NULL, "fastgemm.decodeAttention: out of memory for a thread's buffers");
  return NULL;
}

// ---------------------------------------------------------------------------------------------
// The sum of squares of many float32 arrays (gradient clipping's global norm), in one call where
// tfjs makes a square and a sum per parameter and a stack and a sum after (two kernels per
// parameter). Each array is cut into blocks of SQUARES_BLOCK elements; a thread sums whole blocks
// in double (dot_double of a block with itself), and the blocks' sums are added in array and
// block order afterwards, so the result is bitwise the same for any thread count.

#define SQUARES_BLOCK 16384

typedef struct {
  float **arrays;
  Blocks blocks;
  double *block_sums;
} SquaresJob;

static void sum_squares_part(void *raw, int index, int count) {
  const SquaresJob *j = raw;
  int64_t first, last, a = 0, start, end;
  split(j->blocks.first_block[j->blocks.count], 1, index, count, &first, &last);
  for (int64_t b = first; b < last; b++) {
    block_range(&j->blocks, b, &a, &start, &end);
    j->block_sums[b] = dot_double(j->arrays[a] + start, j->arrays[a] + start, end - start);
  }
}

/** sumSquares(arrays): the sum of the squares of every element of a list of Float32Arrays, as a double. */
static napi_value sum_squares(napi_env env, napi_callback_info info) {
  napi_value argv[1], result;
  uint32_t count = 0;
  if (!fixed_args(env, info, 1, argv, "fastgemm.sumSquares expects 1 argument (an array of Float32Arrays)")) return NULL;
  if (napi_get_array_length(env, argv[0], &count) != napi_ok) {
    napi_throw_type_error(env, NULL, "fastgemm.sumSquares expects an array of Float32Arrays");
    return NULL;
  }
  float **arrays = malloc(sizeof(float *) * (count + 1));
  int64_t *lengths = malloc(sizeof(int64_t) * (count + 1));
  int64_t *first_block = malloc(sizeof(int64_t) * (count + 1));
  double *block_sums = NULL;
  double total = 0;
  int ok = arrays && lengths && first_block;
  if (ok) first_block[0] = 0;
  for (uint32_t i = 0; ok && i < count; i++) {
    napi_value item;
    size_t length = 0;
    ok = napi_get_element(env, argv[0], i, &item) == napi_ok && float_array(env, item, &arrays[i], &length);
    lengths[i] = (int64_t)length;
    if (ok) first_block[i + 1] = first_block[i] + (lengths[i] + SQUARES_BLOCK - 1) / SQUARES_BLOCK;
  }
  if (ok) {
    int64_t blocks = first_block[count];
    block_sums = malloc(sizeof(double) * (blocks + 1));
    if (!block_sums) {
      napi_throw_error(env, NULL, "fastgemm.sumSquares: out of memory");
      ok = 0;
    } else {
      SquaresJob job = {arrays, {lengths, first_block, count, SQUARES_BLOCK}, block_sums};
      run_parallel(sum_squares_part, &job, items_threads(blocks, SQUARES_BLOCK, MIN_WORK / 8));
      for (int64_t b = 0; b < blocks; b++) total += block_sums[b];
    }
  } else if (!(arrays && lengths && first_block)) {
    napi_throw_error(env, NULL, "fastgemm.sumSquares: out of memory");
  }
  free(arrays);
  free(lengths);
  free(first_block);
  free(block_sums);
  if (!ok) return NULL;
  napi_create_double(env, total, &result);
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "matmul", NAPI_AUTO_LENGTH, matmul, NULL, &fn);
  napi_set_named_property(env, exports, "matmul", fn);
  napi_create_function(env, "supported", NAPI_AUTO_LENGTH, supported, NULL, &fn);
  napi_set_named_property(env, exports, "supported", fn);
  napi_create_function(env, "rmsNorm", NAPI_AUTO_LENGTH, rms_norm, NULL, &fn);
  napi_set_named_property(env, exports, "rmsNorm", fn);
  napi_create_function(env, "rmsNormGrad", NAPI_AUTO_LENGTH, rms_norm_grad, NULL, &fn);
  napi_set_named_property(env, exports, "rmsNormGrad", fn);
  napi_create_function(env, "swiglu", NAPI_AUTO_LENGTH, swiglu, NULL, &fn);
  napi_set_named_property(env, exports, "swiglu", fn);
  napi_create_function(env, "swigluGrad", NAPI_AUTO_LENGTH, swiglu_grad, NULL, &fn);
  napi_set_named_property(env, exports, "swigluGrad", fn);
  napi_create_function(env, "logSoftmaxPick", NAPI_AUTO_LENGTH, log_softmax_pick, NULL, &fn);
  napi_set_named_property(env, exports, "logSoftmaxPick", fn);
  napi_create_function(env, "logSoftmaxPickGrad", NAPI_AUTO_LENGTH, log_softmax_pick_grad, NULL, &fn);
  napi_set_named_property(env, exports, "logSoftmaxPickGrad", fn);
  napi_create_function(env, "maskedSoftmax", NAPI_AUTO_LENGTH, masked_softmax, NULL, &fn);
  napi_set_named_property(env, exports, "maskedSoftmax", fn);
  napi_create_function(env, "maskedSoftmaxGrad", NAPI_AUTO_LENGTH, masked_softmax_grad, NULL, &fn);
  napi_set_named_property(env, exports, "maskedSoftmaxGrad", fn);
  napi_create_function(env, "rope", NAPI_AUTO_LENGTH, rope, NULL, &fn);
  napi_set_named_property(env, exports, "rope", fn);
  napi_create_function(env, "gatherRows", NAPI_AUTO_LENGTH, gather_rows, NULL, &fn);
  napi_set_named_property(env, exports, "gatherRows", fn);
  napi_create_function(env, "scatterRows", NAPI_AUTO_LENGTH, scatter_rows, NULL, &fn);
  napi_set_named_property(env, exports, "scatterRows", fn);
  napi_create_function(env, "adamw", NAPI_AUTO_LENGTH, adamw, NULL, &fn);
  napi_set_named_property(env, exports, "adamw", fn);
  napi_create_function(env, "adamwMany", NAPI_AUTO_LENGTH, adamw_many, NULL, &fn);
  napi_set_named_property(env, exports, "adamwMany", fn);
  napi_create_function(env, "attention", NAPI_AUTO_LENGTH, attention, NULL, &fn);
  napi_set_named_property(env, exports, "attention", fn);
  napi_create_function(env, "attentionGrad", NAPI_AUTO_LENGTH, attention_grad, NULL, &fn);
  napi_set_named_property(env, exports, "attentionGrad", fn);
  napi_create_function(env, "sumSquares", NAPI_AUTO_LENGTH, sum_squares, NULL, &fn);
  napi_set_named_property(env, exports, "sumSquares", fn);
  napi_create_function(env, "add", NAPI_AUTO_LENGTH, add, NULL, &fn);
  napi_set_named_property(env, exports, "add", fn);
  napi_create_function(env, "decodeAttention", NAPI_AUTO_LENGTH, decode_attention, NULL, &fn);
  napi_set_named_property(env, exports, "decodeAttention", fn);
  napi_create_function(env, "blockForward", NAPI_AUTO_LENGTH, block_forward_call, NULL, &fn);
  napi_set_named_property(env, exports, "blockForward", fn);
  napi_create_function(env, "blockBackward", NAPI_AUTO_LENGTH, block_backward_call, NULL, &fn);
  napi_set_named_property(env, exports, "blockBackward", fn);
  napi_create_function(env, "blockScratch", NAPI_AUTO_LENGTH, block_scratch_call, NULL, &fn);
  napi_set_named_property(env, exports, "blockScratch", fn);
  napi_create_function(env, "blockSaved", NAPI_AUTO_LENGTH, block_saved_call, NULL, &fn);
  napi_set_named_property(env, exports, "blockSaved", fn);
  napi_create_function(env, "setThreads", NAPI_AUTO_LENGTH, set_threads, NULL, &fn);
  napi_set_named_property(env, exports, "setThreads", fn);
  napi_create_function(env, "threads", NAPI_AUTO_LENGTH, get_threads, NULL, &fn);
  napi_set_named_property(env, exports, "threads", fn);
  return exports;
}
