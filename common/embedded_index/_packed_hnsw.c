/* Packed HNSW: a hierarchical navigable small-world graph over int8 codes, with bit-packed links.
 *
 * The memory of a vector is its code (dim bytes), its norm (4 bytes) and its level-0 neighbour list,
 * whose ids take `bits` bits each (the fewest that number every slot: 20 at a million), so a 512-byte
 * code and 28 neighbours take 586 bytes where 4-byte links would take 630. Nodes above level 0 (one in
 * `2·m`) are numbered apart, with 4-byte links among themselves: they only find the entry point.
 *
 * Similarity is the cosine of the codes: dot(a, b) / (|a| |b|), each slot's |a| kept in `norms` (4
 * bytes a vector), so that a kernel computes the dot product alone. Removed nodes keep their place
 * in the graph (searches walk through them) but never appear in results.
 *
 * Contract with the caller (Python, `_packed_hnsw_binding.py`, which checks `ph_abi_version` and
 * `ph_graph_bytes` against its own copy of `graph_t` when it loads this library):
 * - The caller owns every array and grows them; this file only reads and writes them. Arrays are
 *   sized by the counts in `graph_t`: codes, norms and level-0 rows for `count` slots (links0 plus 8
 *   bytes of padding), the upper-node arrays for `n_upper` nodes, `up_links` for `up_used` ints.
 *   Inserts compute the norms of the slots they add; a graph read from a file has them computed by
 *   `ph_norms` before it is searched.
 * - Every entry point checks the parameters the fixed buffers depend on (2 <= m, m0 <= PH_MAX_LINKS,
 *   8 <= bits <= 32, the row size) and returns PH_EPARAM, touching nothing, when one is off.
 * - A graph read from a file is trusted only after `ph_check` accepts it: every level-0 link is a
 *   slot or the list end, every upper node's rows lie inside `up_links`, every upper count is at
 *   most m, every upper link names a node that reaches that level, the entry point is the top.
 *   Searches and inserts still clamp what they read (level-0 ids at or past `count` are skipped,
 *   upper counts are clamped to m, upper ids at or past `n_upper` or below the level are skipped),
 *   so a row being rewritten (below) is never read past its arrays.
 *
 * Parallel inserts (`ph_insert_parallel`): a batch is shared among threads, each taking the next
 * slot; every row of the batch is emptied first, and a thread reads or rewrites a node's rows only
 * under that node's lock (a striped mutex), rows written whole (`write_row0`), a node's own lists
 * all written before any other links to it. A node that rises above the top level holds the entry
 * lock for its whole insert. The graph differs from a sequential build only in the order nodes meet.
 *
 * Concurrency. Insert calls run one at a time under the caller's lock. Searches may run meanwhile, each
 * on a snapshot: the arrays and counts (`count`, `n_upper`) published before it started. An insert
 * writes its new slots' codes and rows past those counts, which the search never reads, and it
 * rewrites the rows of older nodes it links back to, in place: a level-0 row link by link (each an
 * 8-byte read-modify-write of the row's bytes), an upper row count first, then its ids. A search
 * that reads such a row meanwhile may see the old list, the new one, or a mix of the two: some
 * links old and some new, the list ending early or late, one id twice (its visited set drops the
 * second), and, as the writes are plain stores, in principle a link torn between its old and new
 * bits. Every such id is still checked as above, so the search reads only slots below its `count`
 * and upper nodes below its `n_upper`: it may take a detour or miss a neighbour the new link would
 * have given (as if it had run a moment earlier or later), never reads out of bounds, never
 * returns a slot past its snapshot. A removal (a bit set in `dead`) seen midway may still let the
 * removed vector through that one search.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define PH_X86 1
#endif

#define PH_ABI_VERSION 8 /* bump with any change to graph_t or to an exported function's arguments */
#define PH_MAX_LINKS 255 /* m and m0 at most: the size of every fixed neighbour buffer below */
#define PH_MAX_LEVEL 16
#define PH_MAX_SEEDS 256 /* candidates handed to one insert at most (`ph_insert`'s seeds) */
enum { PH_OK = 0, PH_ENOMEM = -1, PH_EPARAM = -2, PH_ECORRUPT = -3 };

typedef struct {
    int32_t dim;
    int32_t m0;         /* level-0 neighbours at most */
    int32_t m;          /* neighbours per upper level at most */
    int32_t bits;       /* bits per level-0 link */
    int64_t row_bytes;  /* bytes per level-0 row */
    int8_t *codes;      /* [capacity][dim] */
    float *norms;       /* [capacity]: |code| of each slot (0 for the zero code) */
    uint8_t *links0;    /* [capacity][row_bytes], then 8 bytes of padding */
    uint8_t *dead;      /* bitset over slots */
    uint32_t *up_slot;  /* upper node -> slot */
    uint8_t *up_level;  /* upper node -> its top level (>= 1) */
    int64_t *up_off;    /* upper node -> offset in up_links (uint32 units) */
    uint32_t *up_links; /* per upper node, per level 1..top: [count, m ids of upper nodes] */
    int64_t up_used;
    uint32_t n_upper;
    uint32_t count;     /* slots in use, removed ones included */
    int32_t entry;      /* upper node of the entry point, or -1 when the top level is 0 */
    uint32_t entry_slot;
    int32_t max_level;  /* -1 when empty */
} graph_t;

int ph_abi_version(void) { return PH_ABI_VERSION; }

int64_t ph_graph_bytes(void) { return (int64_t)sizeof(graph_t); }

/* The parameters every fixed buffer and every row offset depends on. */
static int params_ok(const graph_t *g) {
    return g->dim >= 1 && g->m >= 2 && g->m <= PH_MAX_LINKS && g->m0 >= 2 && g->m0 <= PH_MAX_LINKS &&
           g->bits >= 8 && g->bits <= 32 && g->row_bytes == ((int64_t)g->m0 * g->bits + 7) / 8 &&
           g->max_level >= -1 && g->max_level <= PH_MAX_LEVEL &&
           (g->entry == -1 || (g->entry >= 0 && (uint32_t)g->entry < g->n_upper));
}

typedef struct {
    float s;
    uint32_t id;
} item_t;

/* ---- kernels: dot(a, q) of a stored code and a query ---- */

/* A query as the kernels take it: its int8 code; that code widened to int16 where the AVX2 kernel
   cannot take it as bytes (it holds -128, below), NULL otherwise; the sum of its components (the
   VNNI kernel's correction). `make_query` fills it for the kernel in use. */
typedef struct {
    const int8_t *b;
    const int16_t *w;
    int32_t sum;
} query_t;

static int32_t dot_scalar(const int8_t *a, const query_t *q, int dim) {
    int32_t d = 0;
    for (int i = 0; i < dim; i++) d += (int32_t)a[i] * q->b[i];
    return d;
}

#ifdef PH_X86
__attribute__((target("avx2"))) static int32_t sum8_avx2(__m256i d) {
    __m128i x = _mm_add_epi32(_mm256_castsi256_si128(d), _mm256_extracti128_si256(d, 1));
    x = _mm_add_epi32(x, _mm_shuffle_epi32(x, 0x4e));
    x = _mm_add_epi32(x, _mm_shuffle_epi32(x, 0xb1));
    return _mm_cvtsi128_si32(x);
}

/* 32 components a step on int8 lanes: vpmaddubsw multiplies unsigned bytes by signed ones, so it
   takes |a| and q with a's sign (vpsignb), whose pairwise sums stay within int16 (2·128·127): exact
   unless q holds -128, whose negation is itself; such a query comes widened (`w`) and is multiplied
   on int16 lanes, 16 components a step. */
__attribute__((target("avx2"))) static int32_t dot_avx2(const int8_t *a, const query_t *query, int dim) {
    const __m256i ones = _mm256_set1_epi16(1);
    __m256i d = _mm256_setzero_si256();
    int i = 0;
    if (!query->w) {
        for (; i + 32 <= dim; i += 32) {
            __m256i x = _mm256_loadu_si256((const __m256i *)(a + i));
            __m256i y = _mm256_loadu_si256((const __m256i *)(query->b + i));
            __m256i p = _mm256_maddubs_epi16(_mm256_abs_epi8(x), _mm256_sign_epi8(y, x));
            d = _mm256_add_epi32(d, _mm256_madd_epi16(p, ones));
        }
    } else {
        for (; i + 16 <= dim; i += 16) {
            __m256i x = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(a + i)));
            __m256i y = _mm256_loadu_si256((const __m256i *)(query->w + i));
            d = _mm256_add_epi32(d, _mm256_madd_epi16(x, y));
        }
    }
    int32_t r = sum8_avx2(d);
    for (; i < dim; i++) r += (int32_t)a[i] * query->b[i];
    return r;
}

/* Whether a code holds -128 (the AVX2 kernel then needs it widened). */
__attribute__((target("avx2"))) static int has_min_avx2(const int8_t *code, int dim) {
    const __m256i low = _mm256_set1_epi8((char)-128);
    __m256i any = _mm256_setzero_si256();
    int i = 0;
    for (; i + 32 <= dim; i += 32)
        any = _mm256_or_si256(any, _mm256_cmpeq_epi8(_mm256_loadu_si256((const __m256i *)(code + i)), low));
    int found = !_mm256_testz_si256(any, any);
    for (; i < dim; i++) found |= code[i] == -128;
    return found;
}

/* 64 components a step on int8 lanes. vpdpbusd multiplies unsigned bytes by signed ones, so the
   code is read shifted, u = a + 128 (its sign bit flipped), and the shift taken back exactly:
   dot(u, q) = dot(a, q) + 128·sum(q). Past `dim` the masked loads give q = 0, which adds nothing.
   Every partial sum stays far inside int32 (at most 255·128 a component). Exact for any int8. */
__attribute__((target("avx512f,avx512bw,avx512vnni"))) static int32_t dot_vnni(const int8_t *a, const query_t *q,
                                                                                int dim) {
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    __m512i d = _mm512_setzero_si512();
    int i = 0;
    for (; i + 64 <= dim; i += 64) {
        __m512i u = _mm512_xor_si512(_mm512_loadu_si512((const void *)(a + i)), flip);
        d = _mm512_dpbusd_epi32(d, u, _mm512_loadu_si512((const void *)(q->b + i)));
    }
    if (i < dim) {
        __mmask64 k = ((__mmask64)1 << (dim - i)) - 1; /* 1 <= dim - i <= 63 */
        __m512i u = _mm512_xor_si512(_mm512_maskz_loadu_epi8(k, a + i), flip);
        d = _mm512_dpbusd_epi32(d, u, _mm512_maskz_loadu_epi8(k, q->b + i));
    }
    return _mm512_reduce_add_epi32(d) - 128 * q->sum;
}
#endif

typedef int32_t (*kernel_t)(const int8_t *, const query_t *, int);
static kernel_t kernel = dot_scalar;
static int kernel_level = 0; /* 0 scalar, 1 avx2, 2 avx512 vnni */

static int fma_ok = 0; /* the refined re-ranking's vector kernel needs FMA besides AVX2 */

static void choose_kernel(void) {
#ifdef PH_X86
    __builtin_cpu_init();
    fma_ok = __builtin_cpu_supports("fma");
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
        __builtin_cpu_supports("avx512vnni")) {
        kernel = dot_vnni;
        kernel_level = 2;
    } else if (__builtin_cpu_supports("avx2")) {
        kernel = dot_avx2;
        kernel_level = 1;
    }
#endif
}

int ph_kernel(int wanted) {
    /* -2: report the one in use; -1: the best this CPU has; 0/1: force scalar/avx2 (if supported). */
    if (wanted == -2) return kernel_level;
    choose_kernel();
    if (wanted == 0) {
        kernel = dot_scalar;
        kernel_level = 0;
    }
#ifdef PH_X86
    if (wanted == 1 && kernel_level >= 1) {
        kernel = dot_avx2;
        kernel_level = 1;
    }
#endif
    return kernel_level;
}

/* |code| as `norms` holds it: 0 for the zero code */
static float norm_of_code(const int8_t *code, int dim) {
    int32_t sum = 0;
    for (int i = 0; i < dim; i++) sum += (int32_t)code[i] * code[i];
    return sum > 0 ? sqrtf((float)sum) : 0.0f;
}

static void fill_norms(graph_t *g, uint32_t first, uint32_t n) {
    for (uint32_t i = 0; i < n; i++)
        g->norms[first + i] = norm_of_code(g->codes + (int64_t)(first + i) * g->dim, g->dim);
}

/* Computes `norms` for slots first .. first + n - 1 (at most `count`) from their codes: a graph read
   from a file (inserts compute their own slots'). */
int ph_norms(graph_t *g, uint32_t first, uint32_t n) {
    if (!params_ok(g) || (uint64_t)first + n > g->count) return PH_EPARAM;
    fill_norms(g, first, n);
    return PH_OK;
}

static inline void prefetch(const void *p) {
#ifdef PH_X86
    _mm_prefetch((const char *)p, _MM_HINT_T0);
#else
    (void)p;
#endif
}

/* ---- packed level-0 links ---- */

static inline uint32_t sentinel_of(const graph_t *g) { return (uint32_t)((1ull << g->bits) - 1); }

static inline uint32_t link_get(const graph_t *g, const uint8_t *row, int j) {
    uint64_t bit = (uint64_t)j * g->bits, w;
    memcpy(&w, row + (bit >> 3), 8);
    return (uint32_t)((w >> (bit & 7)) & ((1ull << g->bits) - 1));
}

static inline void link_set(const graph_t *g, uint8_t *row, int j, uint32_t v) {
    uint64_t bit = (uint64_t)j * g->bits, w, mask = ((1ull << g->bits) - 1) << (bit & 7);
    memcpy(&w, row + (bit >> 3), 8);
    w = (w & ~mask) | (((uint64_t)v << (bit & 7)) & mask);
    memcpy(row + (bit >> 3), &w, 8);
}

static inline uint8_t *row0(const graph_t *g, uint32_t slot) { return g->links0 + (int64_t)slot * g->row_bytes; }

/* A row's links, decoded from a copy of its own bytes: a link is read as 8 bytes, which reach into
   the next row, and a parallel insert may be rewriting that row meanwhile (ThreadSanitizer saw it). */
static int neighbours0(const graph_t *g, uint32_t slot, uint32_t *out) {
    uint8_t row[(PH_MAX_LINKS * 32 + 7) / 8 + 8];
    memcpy(row, row0(g, slot), (size_t)g->row_bytes);
    memset(row + g->row_bytes, 0, 8);
    uint32_t none = sentinel_of(g);
    int c = 0;
    for (; c < g->m0; c++) {
        uint32_t v = link_get(g, row, c);
        if (v == none) break;
        out[c] = v;
    }
    return c;
}

/* Writes a whole row, composed apart and copied in: a link is written as 8 bytes, which reach into
   the next row, and a parallel insert may be rewriting that row meanwhile. */
static void write_row0(const graph_t *g, uint32_t slot, const uint32_t *ids, int c) {
    uint8_t buf[(PH_MAX_LINKS * 32 + 7) / 8 + 8], *row = row0(g, slot);
    uint32_t none = sentinel_of(g);
    memcpy(buf, row, (size_t)g->row_bytes); /* the last byte's spare bits are kept */
    for (int j = 0; j < g->m0; j++) link_set(g, buf, j, j < c ? ids[j] : none);
    memcpy(row, buf, (size_t)g->row_bytes);
}

static inline uint32_t *up_row(const graph_t *g, uint32_t u, int level) {
    return g->up_links + g->up_off[u] + (int64_t)(level - 1) * (1 + g->m);
}

/* An upper row's count, clamped to m (the row's room) whatever a concurrent rewrite left in it. */
static inline int up_count(const graph_t *g, const uint32_t *row) {
    return row[0] < (uint32_t)g->m ? (int)row[0] : g->m;
}

/* Whether `v` names an upper node below `limit` that has a row at `level`. */
static inline int up_usable(const graph_t *g, uint32_t v, int level, uint32_t limit) {
    return v < limit && g->up_level[v] >= level;
}

static inline int is_dead(const graph_t *g, uint32_t slot) { return (g->dead[slot >> 3] >> (slot & 7)) & 1; }

/* ---- heaps: candidates best-first (max), results worst-on-top (min) ---- */

static inline void push_max(item_t *h, int *n, item_t v) {
    int i = (*n)++;
    while (i > 0) {
        int p = (i - 1) / 2;
        if (h[p].s >= v.s) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = v;
}

static inline item_t pop_max(item_t *h, int *n) {
    item_t top = h[0], v = h[--(*n)];
    int i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && h[c + 1].s > h[c].s) c++;
        if (h[c].s <= v.s) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = v;
    return top;
}

static inline void push_min(item_t *h, int *n, item_t v) {
    int i = (*n)++;
    while (i > 0) {
        int p = (i - 1) / 2;
        if (h[p].s <= v.s) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = v;
}

/* Sifts `v` down from the root of min-heap `h` (`n` items): the root replaced by `v`. */
static inline void sift_min(item_t *h, int n, item_t v) {
    int i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && h[c + 1].s < h[c].s) c++;
        if (h[c].s >= v.s) break;
        h[i] = h[c];
        i = c;
    }
    h[i] = v;
}

static inline item_t pop_min(item_t *h, int *n) {
    item_t top = h[0];
    --(*n);
    sift_min(h, *n, h[*n]);
    return top;
}

/* Adds `v` to the results (a min-heap of at most `ef`): pushed while there is room, otherwise in place
   of the worst (the caller has checked that `v` beats it), one sift instead of a push and a pop. */
static inline void keep_best(item_t *h, int *n, int ef, item_t v) {
    if (*n < ef)
        push_min(h, n, v);
    else
        sift_min(h, *n, v);
}

/* ---- per-thread scratch: visited bitsets, heaps, the widened query ---- */

typedef struct {
    uint64_t *seen;
    int64_t seen_words;
    item_t *cand, *res;
    int64_t heap_cap;
    int16_t *q16;
    int dim;
    uint32_t *ids;
    int owned; /* registered with the thread-exit release below */
} scratch_t;

static __thread scratch_t tls;

/* A thread's scratch is released when the thread ends, whoever started it (a server's short-lived
   request threads, a pool's threads at shutdown): a pthread key whose destructor frees it. Without
   it, each thread that searched and exited left its bitset and heaps behind (39 MiB over 300
   threads at 100k vectors). `live_scratch` counts the threads holding scratch, for the tests. */
static pthread_key_t tls_key;
static pthread_once_t tls_once = PTHREAD_ONCE_INIT;
static int64_t live_scratch;
static void free_tls(void);
static void tls_release(void *unused) {
    (void)unused;
    free_tls();
}
static void tls_key_make(void) { pthread_key_create(&tls_key, tls_release); }

int64_t ph_scratch_live(void) { return __atomic_load_n(&live_scratch, __ATOMIC_RELAXED); }

static int scratch_ready(int64_t slots, int ef, int dim, int width) {
    if (!tls.owned) {
        pthread_once(&tls_once, tls_key_make);
        if (pthread_setspecific(tls_key, &tls) != 0) return -1;
        tls.owned = 1;
        __atomic_fetch_add(&live_scratch, 1, __ATOMIC_RELAXED);
    }
    int64_t words = (slots + 63) / 64 + 1;
    if (words > tls.seen_words) {
        words += words / 2; /* inserts grow the graph a slot at a time: grow the bitset ahead */
        free(tls.seen);
        tls.seen = calloc((size_t)words, 8);
        tls.seen_words = tls.seen ? words : 0;
        if (!tls.seen) return -1;
    }
    /* the candidate heap can hold every id seen while the result heap is full: bound it by ef·width */
    int64_t need = (int64_t)(ef + 2) * 4 + 4 * (int64_t)width + 64;
    if (need > tls.heap_cap) {
        free(tls.cand);
        free(tls.res);
        tls.cand = malloc(sizeof(item_t) * need);
        tls.res = malloc(sizeof(item_t) * need);
        tls.heap_cap = (tls.cand && tls.res) ? need : 0;
        if (!tls.heap_cap) return -1;
    }
    if (dim != tls.dim) {
        free(tls.q16);
        free(tls.ids);
        tls.q16 = aligned_alloc(64, ((sizeof(int16_t) * dim + 63) / 64) * 64);
        tls.ids = malloc(sizeof(uint32_t) * PH_MAX_LINKS);
        tls.dim = (tls.q16 && tls.ids) ? dim : 0;
        if (!tls.dim) return -1;
    }
    return 0;
}

static int grow_candidates(void) {
    item_t *more = realloc(tls.cand, sizeof(item_t) * tls.heap_cap * 2);
    if (!more) return -1;
    tls.cand = more;
    tls.heap_cap *= 2;
    return 0;
}

static inline int seen_test_set(uint64_t *seen, uint32_t id) {
    uint64_t bit = 1ull << (id & 63);
    if (seen[id >> 6] & bit) return 1;
    seen[id >> 6] |= bit;
    return 0;
}

#define PH_AHEAD 2 /* codes fetched into L1 ahead of their scoring (the others into L2 meanwhile) */

/* Every line of a slot's code, into L1 (`near`) or into L2, and its norm into L1. */
static inline void prefetch_code(const graph_t *g, uint32_t slot, int near) {
    const char *code = (const char *)(g->codes + (int64_t)slot * g->dim);
    prefetch(g->norms + slot);
    for (int off = 0; off < g->dim; off += 64) {
#ifdef PH_X86
        if (near)
            _mm_prefetch(code + off, _MM_HINT_T0);
        else
            _mm_prefetch(code + off, _MM_HINT_T1);
#else
        (void)near;
        (void)code;
#endif
    }
}

static inline void prefetch_row0(const graph_t *g, uint32_t slot) {
    const char *row = (const char *)(g->links0 + (int64_t)slot * g->row_bytes);
    prefetch(row);
    prefetch(row + g->row_bytes - 1);
}

/* cosine(slot, q) · |q| (-2 for the zero code) */
static inline float sim_slot(const graph_t *g, const query_t *q, uint32_t slot) {
    float norm = g->norms[slot];
    return norm > 0 ? (float)kernel(g->codes + (int64_t)slot * g->dim, q, g->dim) / norm : -2.0f;
}

/* ---- node locks of a parallel insert ----
   One mutex per stripe of slots (an upper node is locked by its slot): a parallel insert holds at
   most one at a time (taken to read or rewrite one node's rows), besides the graph's entry lock,
   which it takes first, so no two inserts can wait on each other in a cycle. Inserts of one batch,
   or of graphs built at once in one process, share the stripes: that only costs a rare wait.
   Mutexes rather than spinning: on a busy machine a lock's holder may be waiting for a core. */
#define PH_STRIPES (1u << 12)
static pthread_mutex_t stripes[PH_STRIPES];
static pthread_once_t stripes_once = PTHREAD_ONCE_INIT;

static void stripes_init(void) {
    for (uint32_t i = 0; i < PH_STRIPES; i++) pthread_mutex_init(&stripes[i], NULL);
}

static void lock_node(uint32_t slot) { pthread_mutex_lock(&stripes[slot & (PH_STRIPES - 1)]); }

static void unlock_node(uint32_t slot) { pthread_mutex_unlock(&stripes[slot & (PH_STRIPES - 1)]); }

/* An upper row's count and ids copied to `ids` (under its node's lock when `locked`); returns the count. */
static int copy_up_row(const graph_t *g, uint32_t u, int level, uint32_t *ids, int locked) {
    if (locked) lock_node(g->up_slot[u]);
    const uint32_t *row = up_row(g, u, level);
    int c = up_count(g, row);
    memcpy(ids, row + 1, sizeof(uint32_t) * c);
    if (locked) unlock_node(g->up_slot[u]);
    return c;
}

/* Greedy walk from upper node `entry` (at level `top`) down to `stop_level` (exclusive); returns the
   upper node reached. `locked`: read each row under its node's lock (a parallel insert). */
static uint32_t descend_from(const graph_t *g, const query_t *q, uint32_t entry, int top, int stop_level,
                             float *best_s, uint32_t limit, int locked) {
    uint32_t cur = entry, ids[PH_MAX_LINKS];
    float cur_s = sim_slot(g, q, g->up_slot[cur]);
    for (int level = top; level > stop_level; level--) {
        int changed = 1;
        while (changed) {
            changed = 0;
            int c = copy_up_row(g, cur, level, ids, locked);
            for (int j = 0; j < c; j++) {
                uint32_t v = ids[j];
                if (!up_usable(g, v, level, limit)) continue;
                float s = sim_slot(g, q, g->up_slot[v]);
                if (s > cur_s) {
                    cur_s = s;
                    cur = v;
                    changed = 1;
                }
            }
        }
    }
    *best_s = cur_s;
    return cur;
}

static uint32_t descend(const graph_t *g, const query_t *q, int stop_level, float *best_s, uint32_t limit) {
    return descend_from(g, q, (uint32_t)g->entry, g->max_level, stop_level, best_s, limit, 0);
}

/* Beam search of one level from one entry. Level 0 works on slots, upper levels on upper nodes.
   `live_only`: only live slots enter the results (searches); inserts link to removed nodes too.
   `locked`: read each row under its node's lock (a parallel insert).
   Leaves up to `ef` results in tls.res (a min-heap), returns their number. */
static int search_level(const graph_t *g, const query_t *q, uint32_t entry, float entry_s, int level, int ef,
                        int live_only, uint32_t limit, int locked) {
    uint64_t *seen = tls.seen;
    item_t *cand = tls.cand, *res = tls.res;
    uint32_t *nb = tls.ids;
    int nc = 0, nr = 0;
    int64_t words = ((int64_t)limit + 63) / 64; /* ids at or past `limit` are never marked */
    memset(seen, 0, (size_t)(words + 1) * 8);
    item_t e = {entry_s, entry};
    push_max(cand, &nc, e);
    seen_test_set(seen, entry);
    if (!(level == 0 && live_only && is_dead(g, entry))) push_min(res, &nr, e);
    while (nc) {
        item_t c = pop_max(cand, &nc);
        if (nr >= ef && c.s < res[0].s) break;
        if (nc + g->m0 + g->m + 2 > tls.heap_cap && grow_candidates() != 0) return -1;
        cand = tls.cand;
        int m;
        if (level == 0) {
            if (locked) lock_node(c.id);
            m = neighbours0(g, c.id, nb);
            if (locked) unlock_node(c.id);
            if (nc) prefetch_row0(g, cand[0].id); /* the next candidate, unless a neighbour beats it */
        } else {
            m = copy_up_row(g, c.id, level, nb, locked);
        }
        /* the neighbours not seen yet, marked now: each is scored once, below */
        int u = 0;
        for (int j = 0; j < m; j++) {
            uint32_t v = nb[j];
            if (v >= limit || (level > 0 && g->up_level[v] < level) || seen_test_set(seen, v)) continue;
            nb[u++] = v;
        }
        /* A level-0 code is dim bytes from memory, and the search waits on memory, not arithmetic:
           every line of every unseen neighbour is requested at once (into L2), so that their misses
           overlap, and each code is pulled into L1 PH_AHEAD codes before it is scored (with the int8
           kernel above: 1.2-1.4x the queries/s of fetching one code ahead at 1M, bench/ANALYSIS.md). */
        if (level == 0)
            for (int j = 0; j < u; j++) prefetch_code(g, nb[j], j < PH_AHEAD);
        for (int j = 0; j < u; j++) {
            uint32_t v = nb[j];
            if (level == 0 && j + PH_AHEAD < u) prefetch_code(g, nb[j + PH_AHEAD], 1);
            float s = level == 0 ? sim_slot(g, q, v) : sim_slot(g, q, g->up_slot[v]);
            if (nr < ef || s > res[0].s) {
                item_t it = {s, v};
                push_max(cand, &nc, it);
                if (level == 0 && cand[0].id == v) prefetch_row0(g, v);
                if (!(level == 0 && live_only && is_dead(g, v))) {
                    keep_best(res, &nr, ef, it);
                }
            }
        }
    }
    return nr;
}

/* `code` made a query for the kernel in use (`wide`: room for dim int16, used only when the AVX2
   kernel needs the code widened); returns |code| (1 for a zero code), so that a search's
   dot(code, x) / |x| divided by it is the cosine. `norm`: |code| when known (a slot's, from
   `norms`), below 0 to compute it here. */
static float make_query(query_t *q, const int8_t *code, int16_t *wide, int dim, float norm) {
    q->b = code;
    q->w = NULL;
    q->sum = 0;
#ifdef PH_X86
    if (kernel_level == 2) {
        for (int i = 0; i < dim; i++) q->sum += code[i];
    } else if (kernel_level == 1 && has_min_avx2(code, dim)) {
        for (int i = 0; i < dim; i++) wide[i] = code[i];
        q->w = wide;
    }
#else
    (void)wide;
#endif
    if (norm < 0) norm = norm_of_code(code, dim);
    return norm > 0 ? norm : 1.0f;
}

/* A slot's code made a query (`make_query`), its norm taken from `norms`. */
static float slot_query(const graph_t *g, query_t *q, uint32_t slot, int16_t *wide) {
    return make_query(q, g->codes + (int64_t)slot * g->dim, wide, g->dim, g->norms[slot]);
}

/* Where a search of `query` (made a query in `q`) starts at level 0: the slot the upper levels lead to,
   its score in `entry_s`; `count` (nothing reachable) for an empty graph or an entry past `count`. */
static uint32_t level0_entry(const graph_t *g, uint32_t count, const int8_t *query, query_t *q, float *entry_s) {
    if (g->max_level < 0 || count == 0) return count;
    make_query(q, query, tls.q16, g->dim, -1.0f);
    uint32_t entry = g->entry_slot;
    if (g->entry >= 0) {
        entry = g->up_slot[descend(g, q, 0, entry_s, g->n_upper)];
    } else {
        *entry_s = entry < count ? sim_slot(g, q, entry) : 0.0f;
    }
    return entry < count ? entry : count;
}

/* The graph search of one query code: up to `ef` results left in tls.res (a min-heap); returns their
   number (0 when nothing is reachable), -1 when out of memory. */
static int search_one(const graph_t *g, uint32_t count, const int8_t *query, int ef) {
    query_t q;
    float entry_s = 0.0f;
    uint32_t entry = level0_entry(g, count, query, &q, &entry_s);
    if (entry >= count) return 0;
    return search_level(g, &q, entry, entry_s, 0, ef, 1, count, 0);
}

static void clear_results(uint32_t *slots, float *sims, int k) {
    for (int j = 0; j < k; j++) {
        slots[j] = UINT32_MAX;
        sims[j] = -2.0f;
    }
}

static int search_args_ok(const graph_t *g, uint32_t count, int nq, int k) {
    return params_ok(g) && count <= g->count && nq >= 0 && k >= 0;
}

/* Searches `nq` queries (int8 codes [nq][dim]); writes up to k (slot, cosine·|q|) per query, best
   first, slot UINT32_MAX where fewer were found. `count` is the caller's snapshot (at most g->count).
   Returns PH_OK, PH_ENOMEM, or PH_EPARAM (nothing searched) when the graph's parameters are off. */
int ph_search(const graph_t *g, uint32_t count, const int8_t *queries, int nq, int k, int ef, uint32_t *out_slots,
              float *out_sims) {
    if (!search_args_ok(g, count, nq, k)) return PH_EPARAM;
    if (ef < k) ef = k;
    if (ef < 1) ef = 1; /* only when k is 0: nothing is written either way */
    if (scratch_ready(count, ef, g->dim, g->m0 > g->m ? g->m0 : g->m) != 0) return PH_ENOMEM;
    for (int qi = 0; qi < nq; qi++) {
        uint32_t *slots = out_slots + (int64_t)qi * k;
        float *sims = out_sims + (int64_t)qi * k;
        clear_results(slots, sims, k);
        int nr = search_one(g, count, queries + (int64_t)qi * g->dim, ef);
        if (nr < 0) return PH_ENOMEM;
        while (nr > k) pop_min(tls.res, &nr);
        for (int j = nr - 1; j >= 0; j--) {
            item_t it = pop_min(tls.res, &nr);
            slots[j] = it.id;
            sims[j] = it.s;
        }
    }
    return PH_OK;
}

/* ---- refined re-ranking ----
   Each slot may carry a residual: (dim + 1) / 2 bytes, dimension 2i in the low nibble of byte i and
   2i + 1 in the high one, each r + 8 with r in -7..7 the code's rounding error times PH_RESID_STEPS
   (rounded), so that the vector is code + r / PH_RESID_STEPS: 4 more bits of every component. */
#define PH_RESID_STEPS 14

/* dot(x, t) and |x|^2 of a refined vector x (components `from` to `dim` - 1; `from` even). */
static void refined_scalar(const int8_t *c, const uint8_t *r, const float *t, int from, int dim, float *dot,
                           float *norm) {
    const float step = 1.0f / PH_RESID_STEPS;
    for (int i = from; i < dim; i++) {
        float x = (float)c[i] + (float)(((r[i >> 1] >> ((i & 1) * 4)) & 15) - 8) * step;
        *dot += x * t[i];
        *norm += x * x;
    }
}

#ifdef PH_X86
/* The same, 16 components a step: the nibbles of 8 bytes interleaved back into component order. */
__attribute__((target("avx2,fma"))) static void refined_avx2(const int8_t *c, const uint8_t *r, const float *t,
                                                            int dim, float *dot, float *norm) {
    const __m256 step = _mm256_set1_ps(1.0f / PH_RESID_STEPS);
    const __m128i low4 = _mm_set1_epi8(15), eight = _mm_set1_epi8(8);
    __m256 d = _mm256_setzero_ps(), n = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= dim; i += 16) {
        __m128i bytes = _mm_loadl_epi64((const __m128i *)(r + i / 2));
        __m128i lo = _mm_and_si128(bytes, low4), hi = _mm_and_si128(_mm_srli_epi16(bytes, 4), low4);
        __m128i steps = _mm_sub_epi8(_mm_unpacklo_epi8(lo, hi), eight); /* -8..7, component order */
        __m128i codes = _mm_loadu_si128((const __m128i *)(c + i));
        for (int half = 0; half < 2; half++) {
            __m128i cs = half ? _mm_srli_si128(codes, 8) : codes, ss = half ? _mm_srli_si128(steps, 8) : steps;
            __m256 x = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(ss)), step,
                                       _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(cs)));
            d = _mm256_fmadd_ps(x, _mm256_loadu_ps(t + i + 8 * half), d);
            n = _mm256_fmadd_ps(x, x, n);
        }
    }
    float dd[8], nn[8];
    _mm256_storeu_ps(dd, d);
    _mm256_storeu_ps(nn, n);
    for (int j = 0; j < 8; j++) {
        *dot += dd[j];
        *norm += nn[j];
    }
    refined_scalar(c, r, t, i, dim, dot, norm);
}
#endif

/* Cosine of the refined vector of `slot` and the float query `t` (of norm `tnorm`). */
static float refined_cosine(const graph_t *g, const uint8_t *resid, const float *t, float tnorm, uint32_t slot) {
    const int8_t *c = g->codes + (int64_t)slot * g->dim;
    const uint8_t *r = resid + (int64_t)slot * ((g->dim + 1) / 2);
    float dot = 0.0f, norm = 0.0f;
#ifdef PH_X86
    if (kernel_level >= 1 && fma_ok)
        refined_avx2(c, r, t, g->dim, &dot, &norm);
    else
#endif
        refined_scalar(c, r, t, 0, g->dim, &dot, &norm);
    return norm > 0 ? dot / (sqrtf(norm) * tnorm) : -2.0f;
}

/* The best `rerank` items of the min-heap `h` (n of them, consumed) ranked by the cosine of their refined
   vectors (`resid`) with the float query `t` of norm `tn`, into `best`, best first; returns how many. */
static int rank_refined(const graph_t *g, const uint8_t *resid, const float *t, float tn, item_t *h, int nr,
                        int rerank, item_t *best) {
    while (nr > rerank) pop_min(h, &nr);
    for (int j = 0; j < nr; j++) { /* the residual rows, not read by the walk: fetch them all at once */
        const char *row = (const char *)(resid + (int64_t)h[j].id * ((g->dim + 1) / 2));
        for (int off = 0; off < (g->dim + 1) / 2; off += 64) prefetch(row + off);
    }
    int n = 0;
    while (nr) {
        item_t it = pop_min(h, &nr);
        it.s = refined_cosine(g, resid, t, tn, it.id);
        int j = n++; /* insertion, best first: rerank is a few dozen */
        while (j > 0 && best[j - 1].s < it.s) {
            best[j] = best[j - 1];
            j--;
        }
        best[j] = it;
    }
    return n;
}

/* The level-0 search of a served query at beam `ef`, paused where a search at the narrower beam `lo` stops:
   one candidate heap, filled under `ef`'s rule, and two result heaps, `ef`'s (tls.res) and `lo`'s (`narrow`,
   room for lo + 1). At the pause `lo`'s results are ranked (`rank_refined`, into `best`); unless their k-th and
   (k+1)-th cosines are within `gap`, they are the answer. Otherwise the walk goes on from where it paused to
   `ef`'s end, so that the results are the `ef` search's, exactly: the pause comes first (`lo`'s worst result
   is never below `ef`'s), and until it, the candidates `ef`'s rule adds beyond `lo`'s are never reached.
   Returns how many results `best` holds, or -1 when out of memory. */
static int search_paused(const graph_t *g, uint32_t count, const query_t *q, uint32_t entry, float entry_s,
                         const uint8_t *resid, const float *t, float tn, int k, int rerank, int ef, int lo,
                         float gap, item_t *narrow, item_t *best) {
    uint64_t *seen = tls.seen;
    item_t *cand = tls.cand, *res = tls.res;
    uint32_t *nb = tls.ids;
    int nc = 0, nr = 0, nl = 0, paused = 0;
    memset(seen, 0, (size_t)(((int64_t)count + 63) / 64 + 1) * 8);
    item_t e = {entry_s, entry};
    push_max(cand, &nc, e);
    seen_test_set(seen, entry);
    if (!is_dead(g, entry)) {
        push_min(res, &nr, e);
        push_min(narrow, &nl, e);
    }
    for (;;) {
        if (!paused && (nc == 0 || (nl >= lo && cand[0].s < narrow[0].s))) {
            paused = 1;
            int m = rank_refined(g, resid, t, tn, narrow, nl, rerank, best);
            if (!(m > k && best[k - 1].s - best[k].s < gap)) return m;
        }
        if (!nc) break;
        item_t c = pop_max(cand, &nc);
        if (nr >= ef && c.s < res[0].s) break;
        if (nc + g->m0 + g->m + 2 > tls.heap_cap && grow_candidates() != 0) return -1;
        cand = tls.cand;
        int m = neighbours0(g, c.id, nb);
        if (nc) prefetch_row0(g, cand[0].id);
        int u = 0;
        for (int j = 0; j < m; j++) {
            uint32_t v = nb[j];
            if (v >= count || seen_test_set(seen, v)) continue;
            nb[u++] = v;
        }
        for (int j = 0; j < u; j++) prefetch_code(g, nb[j], j < PH_AHEAD);
        for (int j = 0; j < u; j++) {
            uint32_t v = nb[j];
            if (j + PH_AHEAD < u) prefetch_code(g, nb[j + PH_AHEAD], 1);
            float s = sim_slot(g, q, v);
            if (nr < ef || s > res[0].s) {
                item_t it = {s, v};
                push_max(cand, &nc, it);
                if (cand[0].id == v) prefetch_row0(g, v);
                if (!is_dead(g, v)) {
                    keep_best(res, &nr, ef, it);
                    if (!paused && (nl < lo || s > narrow[0].s)) {
                        push_min(narrow, &nl, it);
                        if (nl > lo) pop_min(narrow, &nl);
                    }
                }
            }
        }
    }
    return rank_refined(g, resid, t, tn, res, nr, rerank, best);
}

/* One query's search, then the best `rerank` results by code (at least k, at most ef) ranked again by
   the cosine of their refined vectors (`resid`, above) with the query as floats (`t`, rotated as the
   codes were): leaves up to k of them in `best` (room for ef + 1), best first; returns how many, or
   -1 when out of memory. With `lo` (0 < lo < ef; `narrow` room for lo + 1), the search at beam `lo`
   answers unless its k-th and (k+1)-th refined cosines are within `gap`, and then the search at `ef`
   does (`search_paused`). The caller has readied the scratch for `ef`. */
static int refined_one(const graph_t *g, uint32_t count, const uint8_t *resid, const int8_t *query,
                       const float *t, int k, int rerank, int ef, int lo, float gap, item_t *narrow, item_t *best) {
    float tn = 0.0f;
    for (int i = 0; i < g->dim; i++) tn += t[i] * t[i];
    tn = tn > 0 ? sqrtf(tn) : 1.0f;
    int n;
    if (lo > 0 && lo < ef) {
        query_t q;
        float entry_s = 0.0f;
        uint32_t entry = level0_entry(g, count, query, &q, &entry_s);
        if (entry >= count) return 0;
        n = search_paused(g, count, &q, entry, entry_s, resid, t, tn, k, rerank, ef, lo < rerank ? rerank : lo, gap,
                          narrow, best);
    } else {
        int nr = search_one(g, count, query, ef);
        if (nr < 0) return -1;
        n = rank_refined(g, resid, t, tn, tls.res, nr, rerank, best);
    }
    if (n < 0) return -1;
    return n < k ? n : k;
}

/* Clamps a refined search's k, rerank and ef as every caller does, readies the scratch and returns
   room for its results (ef + 1 items) followed by room for a narrow beam's heap (ef + 2); NULL when out of
   memory. */
static item_t *refined_ready(const graph_t *g, uint32_t count, int k, int *rerank, int *ef) {
    if (*rerank < k) *rerank = k;
    if (*ef < *rerank) *ef = *rerank;
    if (*ef < 1) *ef = 1;
    if (scratch_ready(count, *ef, g->dim, g->m0 > g->m ? g->m0 : g->m) != 0) return NULL;
    return malloc(sizeof(item_t) * (size_t)(2 * *ef + 3)); /* best (ef + 1), then a narrow beam's heap */
}

/* As ph_search, the results ranked again by their refined vectors (`refined_one`) against `turned`
   [nq][dim]; writes up to k (slot, that cosine) per query, best first. `lo` > 0: each query searched at
   beam `lo`, and at `ef` where `lo`'s k-th and (k+1)-th refined cosines are within `gap` (`search_paused`). */
int ph_search_refined(const graph_t *g, uint32_t count, const uint8_t *resid, const int8_t *queries,
                      const float *turned, int nq, int k, int rerank, int ef, int lo, float gap, uint32_t *out_slots,
                      float *out_sims) {
    if (!search_args_ok(g, count, nq, k) || rerank < 0 || lo < 0 || !(gap >= 0.0f)) return PH_EPARAM;
    item_t *best = refined_ready(g, count, k, &rerank, &ef);
    if (!best) return PH_ENOMEM;
    for (int qi = 0; qi < nq; qi++) {
        uint32_t *slots = out_slots + (int64_t)qi * k;
        float *sims = out_sims + (int64_t)qi * k;
        clear_results(slots, sims, k);
        int n = refined_one(g, count, resid, queries + (int64_t)qi * g->dim, turned + (int64_t)qi * g->dim, k,
                            rerank, ef, lo, gap, best + ef + 1, best);
        if (n < 0) {
            free(best);
            return PH_ENOMEM;
        }
        for (int j = 0; j < n; j++) {
            slots[j] = best[j].id;
            sims[j] = best[j].s;
        }
    }
    free(best);
    return PH_OK;
}

/* The fixed turn of Int8Codec (`_int8_codec.py`) applied to one row: each component times its sign,
   then per block of the dimension (one per binary digit of `dim`, largest first: 512 is one block,
   384 is 256 then 128) the normalised Walsh-Hadamard transform of Sylvester's order, in place, as
   butterflies. 4.6k additions at 512 dimensions, about 1.4 us; numpy's two matrix products a block
   cost about 13 us a query in calls alone. The order of the additions is fixed, so every row, alone
   or in a batch, on any machine, turns to the same floats. */
static void turn_row(const float *x, int dim, const float *signs, float *y) {
    for (int i = 0; i < dim; i++) y[i] = x[i] * signs[i];
    int start = 0;
    for (int bit = 30; bit >= 0; bit--) {
        int order = 1 << bit;
        if (!(dim & order)) continue;
        float *b = y + start;
        for (int h = 1; h < order; h <<= 1)
            for (int i = 0; i < order; i += 2 * h)
                for (int j = i; j < i + h; j++) {
                    float a = b[j], c = b[j + h];
                    b[j] = a + c;
                    b[j + h] = a - c;
                }
        float scale = 1.0f / sqrtf((float)order);
        for (int i = 0; i < order; i++) b[i] *= scale;
        start += order;
    }
}

/* `turn_row` of each of `n` rows of `dim` floats. */
int ph_turn(const float *rows, int64_t n, int dim, const float *signs, float *out) {
    if (dim <= 0 || n < 0) return PH_EPARAM;
    for (int64_t r = 0; r < n; r++) turn_row(rows + r * dim, dim, signs, out + r * dim);
    return PH_OK;
}

/* The int8 code of a rotated float query as Int8Codec.code_of_turned makes it: its largest component
   to +-127, each rounded half to even (the zero code for a zero query or one that is not finite).
   The rounding adds and takes back 1.5 * 2^23, which leaves a float of magnitude below 2^22 rounded
   to an integer in the default (nearest-even) mode, as numpy's rint: plain arithmetic the compiler
   vectorises, where nearbyintf is a library call per component without SSE4.1. */
void ph_query_code(const float *turned, int dim, int8_t *out) {
    const float shift = 12582912.0f; /* 1.5 * 2^23 */
    float peak = 0.0f;
    int finite = 1;
    for (int i = 0; i < dim; i++) {
        finite &= isfinite(turned[i]) != 0;
        peak = fmaxf(peak, fabsf(turned[i]));
    }
    float scale = finite && peak > 0 ? 127.0f / peak : 0.0f; /* zero: the zero code */
    for (int i = 0; i < dim; i++) out[i] = (int8_t)((turned[i] * scale + shift) - shift);
}

/* Orders (cosine, key) pairs as a served search ranks them: higher cosine first, then smaller key. */
typedef struct {
    float s;
    int64_t key;
} keyed_t;

static int keyed_before(keyed_t a, keyed_t b) { return a.s > b.s || (a.s == b.s && a.key < b.key); }

/* One served query the whole way, with no per-step call from Python (each costs microseconds beside
   a search of a few hundred): the float query `vector` [dim] turned as `ph_turn` turns it (when
   `signs` is NULL, `vector` is already turned), its int8 code made as
   Int8Codec.code_of_turned makes it (largest component to +-127, rounded half to even), the
   refined search for k + 1 results when `exclude` (a key, -1 for none) is to be left out, then
   those ranked by cosine (ties: smaller key first) without `exclude`, the best k written as their
   keys (`keys`: slot -> key) and Robotoff distances, (1 - cosine) / 2 within [0, 1], in double as
   PackedIndex.search_many computes them; `lo` and `gap` as for ph_search_refined. Returns how many were
   written, or an error code. */
int ph_query(const graph_t *g, uint32_t count, const uint8_t *resid, const int64_t *keys, const float *vector,
             const float *signs, int k, int rerank, int ef, int lo, float gap, int64_t exclude, int64_t *out_keys,
             double *out_dist) {
    if (!search_args_ok(g, count, 1, k) || rerank < 0 || lo < 0 || !(gap >= 0.0f)) return PH_EPARAM;
    int wanted = k + (exclude >= 0 ? 1 : 0);
    if (wanted == 0) return 0;
    item_t *best = refined_ready(g, count, wanted, &rerank, &ef);
    float *turned = signs ? malloc(sizeof(float) * (size_t)g->dim) : NULL;
    int8_t *code = malloc((size_t)g->dim);
    keyed_t *ranked = malloc(sizeof(keyed_t) * (size_t)wanted);
    if (!best || !code || !ranked || (signs && !turned)) {
        free(best);
        free(turned);
        free(code);
        free(ranked);
        return PH_ENOMEM;
    }
    if (signs) turn_row(vector, g->dim, signs, turned);
    const float *query = signs ? turned : vector;
    ph_query_code(query, g->dim, code);
    int n = refined_one(g, count, resid, code, query, wanted, rerank, ef, lo, gap, best + ef + 1, best), kept = 0;
    for (int j = 0; j < n; j++) {
        keyed_t it = {best[j].s, keys[best[j].id]};
        if (it.key == exclude) continue;
        int at = kept++;
        while (at > 0 && keyed_before(it, ranked[at - 1])) {
            ranked[at] = ranked[at - 1];
            at--;
        }
        ranked[at] = it;
    }
    if (kept > k) kept = k;
    for (int j = 0; j < kept; j++) {
        double distance = (1.0 - (double)ranked[j].s) / 2.0;
        out_keys[j] = ranked[j].key;
        out_dist[j] = distance < 0.0 ? 0.0 : (distance > 1.0 ? 1.0 : distance);
    }
    free(best);
    free(turned);
    free(code);
    free(ranked);
    return n < 0 ? PH_ENOMEM : kept;
}

/* ---- inserts ---- */

/* HNSW's neighbour heuristic: keep a candidate only when it is closer to the new node than to any
   neighbour already kept. `items` hold cosines to the new node, sorted best first; keeps at most
   `keep`; returns how many. With `rest` (room for n), the slots the heuristic leaves free are then
   filled with the nearest candidates it pruned ("keep pruned connections"): the row's bytes are
   spent either way, and on clustered data the extra links carry searches across near-ties. */
static int select_diverse(const graph_t *g, item_t *items, int n, int keep, int level, int16_t *wide, item_t *rest) {
    int kept = 0, pruned = 0;
    for (int i = 0; i < n && kept < keep; i++) {
        uint32_t ci = level == 0 ? items[i].id : g->up_slot[items[i].id];
        query_t qi;
        float own = slot_query(g, &qi, ci, wide);
        int good = 1;
        for (int j = 0; j < kept; j++) {
            uint32_t cj = level == 0 ? items[j].id : g->up_slot[items[j].id];
            if (sim_slot(g, &qi, cj) / own > items[i].s) {
                good = 0;
                break;
            }
        }
        if (good)
            items[kept++] = items[i];
        else if (rest)
            rest[pruned++] = items[i];
    }
    for (int j = 0; rest && j < pruned && kept < keep; j++) items[kept++] = rest[j];
    return kept;
}

static int by_sim_desc(const void *a, const void *b) {
    float x = ((const item_t *)a)->s, y = ((const item_t *)b)->s;
    return (x < y) - (x > y);
}

/* Adds `node` (a slot at level 0, an upper node above) to the list of `at`, re-pruning when full;
   under `at`'s lock when `locked` (a parallel insert). */
static void link_back(graph_t *g, uint32_t at, uint32_t node, int level, int16_t *wide, item_t *tmp, int locked) {
    int cap = level == 0 ? g->m0 : g->m;
    uint32_t ids[PH_MAX_LINKS];
    uint32_t at_slot = level == 0 ? at : g->up_slot[at];
    int c;
    if (locked) lock_node(at_slot);
    if (level == 0) {
        c = neighbours0(g, at, ids);
    } else {
        uint32_t *row = up_row(g, at, level);
        c = up_count(g, row);
        memcpy(ids, row + 1, sizeof(uint32_t) * c);
    }
    for (int j = 0; j < c; j++)
        if (ids[j] == node) {
            if (locked) unlock_node(at_slot);
            return;
        }
    if (c < cap) {
        ids[c++] = node;
    } else {
        query_t qa;
        float own = slot_query(g, &qa, at_slot, wide);
        for (int j = 0; j < c; j++) {
            tmp[j].id = ids[j];
            tmp[j].s = sim_slot(g, &qa, level == 0 ? ids[j] : g->up_slot[ids[j]]) / own;
        }
        tmp[c].id = node;
        tmp[c].s = sim_slot(g, &qa, level == 0 ? node : g->up_slot[node]) / own;
        qsort(tmp, (size_t)c + 1, sizeof(item_t), by_sim_desc);
        c = select_diverse(g, tmp, c + 1, cap, level, wide, NULL);
        for (int j = 0; j < c; j++) ids[j] = tmp[j].id;
    }
    if (level == 0) {
        write_row0(g, at, ids, c);
    } else {
        uint32_t *row = up_row(g, at, level);
        row[0] = (uint32_t)c;
        memcpy(row + 1, ids, sizeof(uint32_t) * c);
    }
    if (locked) unlock_node(at_slot);
}

/* What inserts need besides the search scratch: a widened code, the candidates found, those the
   heuristic pruned, and a list being re-pruned. Allocated once per batch (per thread). */
typedef struct {
    int16_t *wide;
    item_t *found, *rest, *tmp;
} insert_scratch_t;

static int scratch_alloc(insert_scratch_t *x, const graph_t *g, int ef, int seed_k) {
    int width = g->m0 > g->m ? g->m0 : g->m;
    x->wide = malloc(sizeof(int16_t) * g->dim);
    x->found = malloc(sizeof(item_t) * (ef + 2 + seed_k)); /* the search's results, then the seeds */
    x->rest = malloc(sizeof(item_t) * (ef + 2 + seed_k));
    x->tmp = malloc(sizeof(item_t) * (width + 2));
    return (x->wide && x->found && x->rest && x->tmp) ? PH_OK : PH_ENOMEM;
}

static void scratch_release(insert_scratch_t *x) {
    free(x->wide);
    free(x->found);
    free(x->rest);
    free(x->tmp);
}

/* Where an insert starts and what it may reach. Sequential: the graph's entry point, slots below
   its own and upper nodes below its own. Parallel: the entry point read under the entry lock, and
   every slot and upper node of the batch (a node not yet inserted has empty rows and no links to
   it, so it is never reached); rows are read and written under their node's lock.
   `seeds` (`seed_k` slots, UINT32_MAX for none): candidates besides those the level-0 search finds,
   taken only once linked: every slot below `linked_from` is, and slot `linked_from + i` once
   `linked[i]` is set (a parallel insert; sequentially `linked` is NULL and `linked_from` the slot). */
typedef struct {
    int32_t entry;
    uint32_t entry_slot;
    int32_t max_level;
    uint32_t slots, uppers;
    int locked;
    const uint32_t *seeds;
    int seed_k;
    const uint8_t *linked;
    uint32_t linked_from;
} reach_t;

/* Whether slot `v` may be linked to now: below `slots`, and its own insert finished. */
static int seed_usable(const reach_t *r, uint32_t v) {
    if (v >= r->slots) return 0;
    if (v < r->linked_from) return 1;
    return r->linked && __atomic_load_n(&r->linked[v - r->linked_from], __ATOMIC_ACQUIRE);
}

/* Appends to `found` (`total` items, best first) the seeds the level-0 search did not visit, scored
   against `q`, and sorts them in; returns the new total (room: `total` + seed_k). A seed the search
   visited is in `found` already or worse than all of it. The search itself starts from the top as
   any insert's does: started among the seeds, it stayed inside their near-duplicate cluster and
   linked the cluster to nothing else (recall 0.980 against 0.990 at 1M, bench/ANALYSIS.md). */
static int with_seeds(const graph_t *g, const query_t *q, const reach_t *r, item_t *found, int total) {
    int added = 0;
    for (int j = 0; j < r->seed_k; j++) {
        uint32_t v = r->seeds[j];
        if (v == UINT32_MAX || !seed_usable(r, v) || seen_test_set(tls.seen, v)) continue;
        item_t it = {sim_slot(g, q, v), v};
        found[total + added++] = it;
    }
    if (added) qsort(found, (size_t)(total + added), sizeof(item_t), by_sim_desc);
    return total + added;
}

/* Links slot `slot` (its code in place, its rows empty; its upper node, when `level` >= 1, is `u`)
   into the graph from `r`'s entry point. The node's own rows are all written before any other node
   links to it (the searches of one level never read another level's rows, so the order changes
   nothing alone): a parallel insert that reaches it finds its lists whole, never empty ones. */
static int link_in(graph_t *g, uint32_t slot, int level, uint32_t u, int ef, const insert_scratch_t *x,
                   const reach_t *r) {
    int16_t *wide = x->wide;
    item_t *found = x->found, *tmp = x->tmp;
    query_t own;
    const query_t *q = &own;
    float qnorm = slot_query(g, &own, slot, tls.q16);
    /* upper levels: greedy down to the node's own top level, then linked beam searches */
    uint32_t entry_slot = r->entry_slot;
    float cur_s;
    int top = level < r->max_level ? level : r->max_level;
    uint32_t kept_up[PH_MAX_LEVEL + 1][PH_MAX_LINKS];
    int n_up[PH_MAX_LEVEL + 1] = {0};
    if (r->entry >= 0) {
        uint32_t cur_u = descend_from(g, q, (uint32_t)r->entry, r->max_level, top, &cur_s, r->uppers, r->locked);
        for (int l = top; l >= 1; l--) {
            int total = search_level(g, q, cur_u, cur_s, l, ef, 0, r->uppers, r->locked), n = total;
            if (total <= 0) return -1;
            for (int j = total - 1; j >= 0; j--) found[j] = pop_min(tls.res, &n);
            cur_u = found[0].id; /* best first; the next level starts from it */
            cur_s = found[0].s;
            for (int j = 0; j < total; j++) found[j].s /= qnorm; /* cosines, for the heuristic */
            int kept = select_diverse(g, found, total, g->m, l, wide, NULL);
            if (r->locked) lock_node(slot);
            uint32_t *row = up_row(g, u, l);
            for (int j = 0; j < kept; j++) row[1 + j] = kept_up[l][j] = found[j].id;
            row[0] = (uint32_t)kept;
            if (r->locked) unlock_node(slot);
            n_up[l] = kept;
        }
        entry_slot = g->up_slot[cur_u];
    } else {
        cur_s = sim_slot(g, q, entry_slot);
    }
    int total = search_level(g, q, entry_slot, cur_s, 0, ef, 0, r->slots, r->locked), n = total;
    if (total < 0) return -1;
    for (int j = total - 1; j >= 0; j--) found[j] = pop_min(tls.res, &n);
    if (r->seeds) total = with_seeds(g, q, r, found, total);
    for (int j = 0; j < total; j++) found[j].s /= qnorm;
    /* a new node keeps m links, as above level 0 (the heuristic's, topped up with the nearest it
       pruned); links back to it fill lists up to m0 */
    int kept = select_diverse(g, found, total, g->m < g->m0 ? g->m : g->m0, 0, wide, x->rest);
    uint32_t ids[PH_MAX_LINKS];
    for (int j = 0; j < kept; j++) ids[j] = found[j].id;
    if (r->locked) lock_node(slot);
    write_row0(g, slot, ids, kept);
    if (r->locked) unlock_node(slot);
    for (int l = top; l >= 1; l--)
        for (int j = 0; j < n_up[l]; j++) link_back(g, kept_up[l][j], u, l, wide, tmp, r->locked);
    for (int j = 0; j < kept; j++) link_back(g, ids[j], slot, 0, wide, tmp, r->locked);
    return 0;
}

/* Inserts slot `slot` (its code already in place; its upper node, when `level` >= 1, is `u`, with
   its rows allocated and its fields set by the caller), alone: the slots before it are all linked. */
static int insert_one(graph_t *g, uint32_t slot, int level, uint32_t u, int ef, const insert_scratch_t *x,
                      const uint32_t *seeds, int seed_k) {
    int width = g->m0 > g->m ? g->m0 : g->m;
    if (scratch_ready((int64_t)slot + 1, ef, g->dim, width) != 0) return -1;
    write_row0(g, slot, NULL, 0);
    if (level >= 1)
        for (int l = 1; l <= level; l++) up_row(g, u, l)[0] = 0;
    if (g->max_level < 0) {
        g->entry_slot = slot;
        g->entry = level >= 1 ? (int32_t)u : -1;
        g->max_level = level;
        g->count = slot + 1;
        return 0;
    }
    reach_t r = {g->entry, g->entry_slot, g->max_level, slot, u, 0, seeds, seed_k, NULL, slot};
    if (link_in(g, slot, level, u, ef, x, &r) != 0) return -1;
    if (level > g->max_level) {
        g->max_level = level;
        g->entry = (int32_t)u;
        g->entry_slot = slot;
    }
    g->count = slot + 1;
    return 0;
}

/* The checks both insert calls make; PH_OK or PH_EPARAM. */
static int insert_params_ok(const graph_t *g, int n, const int32_t *levels, const uint32_t *upper, int ef,
                            const uint32_t *seeds, int seed_k) {
    if (!params_ok(g) || n < 0 || ef < 1 || (uint64_t)g->count + (uint64_t)n > sentinel_of(g)) return PH_EPARAM;
    if (seed_k < 0 || seed_k > PH_MAX_SEEDS || (seed_k > 0 && !seeds)) return PH_EPARAM;
    if (g->max_level >= 0 && g->entry_slot >= g->count) return PH_EPARAM;
    for (int i = 0; i < n; i++)
        if (levels[i] < 0 || levels[i] > PH_MAX_LEVEL || (levels[i] >= 1 && upper[i] >= g->n_upper)) return PH_EPARAM;
    return PH_OK;
}

/* Inserts slots count..count+n-1 (codes in place); levels[i] is slot's level, upper[i] its upper
   node when levels[i] >= 1 (rows allocated by the caller). `seeds` (NULL when `seed_k` is 0):
   `seed_k` slots per insert (UINT32_MAX for none), candidates for its level-0 links besides those
   its search at `ef` finds; a seed at or past the slot's own is passed over. Returns PH_OK,
   PH_ENOMEM, or PH_EPARAM (nothing inserted) when the graph's parameters, a level, an upper node,
   the seeds' width (0..PH_MAX_SEEDS) or the slot count is off. */
int ph_insert(graph_t *g, int n, const int32_t *levels, const uint32_t *upper, int ef, const uint32_t *seeds,
              int seed_k) {
    if (insert_params_ok(g, n, levels, upper, ef, seeds, seed_k) != PH_OK) return PH_EPARAM;
    fill_norms(g, g->count, (uint32_t)n);
    insert_scratch_t x;
    int rc = scratch_alloc(&x, g, ef, seed_k);
    for (int i = 0; i < n && rc == 0; i++)
        rc = insert_one(g, g->count, levels[i], levels[i] >= 1 ? upper[i] : 0, ef, &x,
                        seed_k ? seeds + (int64_t)i * seed_k : NULL, seed_k);
    scratch_release(&x);
    return rc;
}

/* ---- parallel inserts ---- */

typedef struct {
    graph_t *g;
    const int32_t *levels;
    const uint32_t *upper;
    uint32_t first; /* the batch's first slot */
    int n, ef;
    const uint32_t *seeds;
    int seed_k;
    uint8_t *linked; /* linked[i]: slot first + i is linked (its seeds' readers wait for it) */
    int next;       /* the next item of the batch to insert (taken atomically) */
    int rc;         /* the first error, PH_OK while none */
    pthread_mutex_t entry_lock;
} batch_t;

static void free_tls(void) {
    if (tls.owned) {
        __atomic_fetch_sub(&live_scratch, 1, __ATOMIC_RELAXED);
        pthread_setspecific(tls_key, NULL); /* released: nothing left for the destructor */
    }
    free(tls.seen);
    free(tls.cand);
    free(tls.res);
    free(tls.q16);
    free(tls.ids);
    memset(&tls, 0, sizeof(tls));
}

/* One thread's share: items taken one at a time until none is left or an insert failed. */
static int insert_share(batch_t *b) {
    graph_t *g = b->g;
    int width = g->m0 > g->m ? g->m0 : g->m;
    insert_scratch_t x;
    int rc = scratch_alloc(&x, g, b->ef, b->seed_k);
    if (rc == PH_OK && scratch_ready((int64_t)b->first + b->n, b->ef, g->dim, width) != 0) rc = PH_ENOMEM;
    while (rc == PH_OK && __atomic_load_n(&b->rc, __ATOMIC_RELAXED) == PH_OK) {
        int i = __atomic_fetch_add(&b->next, 1, __ATOMIC_RELAXED);
        if (i >= b->n) break;
        int level = b->levels[i];
        uint32_t u = level >= 1 ? b->upper[i] : 0;
        /* a node that rises above the top keeps the entry lock for its whole insert, so that no
           other insert starts from an entry point it is about to replace */
        pthread_mutex_lock(&b->entry_lock);
        reach_t r = {g->entry,   g->entry_slot, g->max_level, b->first + (uint32_t)b->n, g->n_upper, 1,
                     b->seed_k ? b->seeds + (int64_t)i * b->seed_k : NULL, b->seed_k, b->linked, b->first};
        int rises = level > r.max_level;
        if (!rises) pthread_mutex_unlock(&b->entry_lock);
        if (link_in(g, b->first + (uint32_t)i, level, u, b->ef, &x, &r) != 0) rc = PH_ENOMEM;
        __atomic_store_n(&b->linked[i], 1, __ATOMIC_RELEASE);
        if (rises) {
            if (rc == PH_OK) {
                g->max_level = level;
                g->entry = (int32_t)u;
                g->entry_slot = b->first + (uint32_t)i;
            }
            pthread_mutex_unlock(&b->entry_lock);
        }
    }
    scratch_release(&x);
    if (rc != PH_OK) __atomic_store_n(&b->rc, rc, __ATOMIC_RELAXED);
    return rc;
}

static void *insert_worker(void *arg) {
    insert_share((batch_t *)arg);
    free_tls(); /* this thread ends here: its search scratch goes with it (before the key's turn) */
    return NULL;
}

#define PH_MAX_THREADS 256

/* As ph_insert, on `threads` threads (this one and threads - 1 started here): the same graph but for
   the order in which nodes meet (not link for link the same as ph_insert). Every new slot's row is
   emptied first (and upper rows are zeroed by the caller, as for ph_insert); a graph that is empty
   takes its first node alone. Searches may run meanwhile on a snapshot, as during ph_insert; the
   graph's `count` becomes count + n at the end. PH_EPARAM also for threads outside 1..256. A seed in
   the batch is taken only once its own insert has finished (a node being linked has empty rows). */
int ph_insert_parallel(graph_t *g, int n, const int32_t *levels, const uint32_t *upper, int ef, int threads,
                       const uint32_t *seeds, int seed_k) {
    if (insert_params_ok(g, n, levels, upper, ef, seeds, seed_k) != PH_OK || threads < 1 ||
        threads > PH_MAX_THREADS)
        return PH_EPARAM;
    if (threads == 1 || n < 2) return ph_insert(g, n, levels, upper, ef, seeds, seed_k);
    fill_norms(g, g->count, (uint32_t)n);
    for (int i = 0; i < n; i++) {
        write_row0(g, g->count + (uint32_t)i, NULL, 0);
        if (levels[i] >= 1)
            for (int l = 1; l <= levels[i]; l++) up_row(g, upper[i], l)[0] = 0;
    }
    int done = 0;
    if (g->max_level < 0) { /* the first node: the entry point of every other */
        int rc = ph_insert(g, 1, levels, upper, ef, NULL, 0);
        if (rc != PH_OK) return rc;
        done = 1;
    }
    uint8_t *linked = calloc((size_t)n, 1);
    if (!linked) return PH_ENOMEM;
    batch_t b = {g,      levels + done,
                 upper + done, g->count,
                 n - done,     ef,
                 seed_k ? seeds + (int64_t)done * seed_k : NULL, seed_k,
                 linked,       0,
                 PH_OK,        PTHREAD_MUTEX_INITIALIZER};
    pthread_t ids[PH_MAX_THREADS];
    int started = 0;
    pthread_once(&stripes_once, stripes_init);
    for (; started < threads - 1; started++)
        if (pthread_create(&ids[started], NULL, insert_worker, &b) != 0) break; /* fewer threads, same work */
    insert_share(&b);
    for (int t = 0; t < started; t++) pthread_join(ids[t], NULL);
    pthread_mutex_destroy(&b.entry_lock);
    free(linked);
    if (b.rc != PH_OK) return b.rc;
    g->count = b.first + (uint32_t)b.n;
    return PH_OK;
}

/* ---- seeds: the nearest earlier slots of each insert, from scores computed by the caller ----
   The caller scores blocks of inserts against blocks of slots (a matrix product over the members of
   a coarse cell) and hands each block here: row r of `scores` ([nq][nd]) belongs to insert
   `rows[r]` (0..n_rows-1), slot `qslots[r]`; column j to slot `dslots[j]`. Each insert keeps its
   `k` best scores from slots before its own in best[row * k ..] (ids) and best_s (a min-heap:
   the worst kept first), which the caller fills with UINT32_MAX and -INFINITY beforehand. `dslots`
   ascend, and no slot appears in two calls for one insert (each slot is in one cell). The rows
   of one call must name distinct inserts unless it runs alone. PH_EPARAM for a row out of range or
   k outside 1..PH_MAX_SEEDS. */
int ph_seed_merge(const float *scores, int nq, int nd, const uint32_t *rows, const uint32_t *qslots,
                  const uint32_t *dslots, int k, int64_t n_rows, uint32_t *best, float *best_s) {
    if (nq < 0 || nd < 0 || k < 1 || k > PH_MAX_SEEDS) return PH_EPARAM;
    for (int r = 0; r < nq; r++)
        if ((int64_t)rows[r] >= n_rows) return PH_EPARAM;
    for (int r = 0; r < nq; r++) {
        const float *row = scores + (int64_t)r * nd;
        uint32_t *ids = best + (int64_t)rows[r] * k, own = qslots[r];
        float *hs = best_s + (int64_t)rows[r] * k, worst = hs[0];
        int end = 0; /* the columns before the row's own slot (`dslots` ascending) */
        for (int lo = 0, hi = nd; lo < hi;) {
            int mid = lo + (hi - lo) / 2;
            if (dslots[mid] < own)
                lo = end = mid + 1;
            else
                hi = mid;
        }
        for (int j0 = 0; j0 < end; j0 += 16) {
            int j1 = j0 + 16 < end ? j0 + 16 : end, any = 0;
            for (int j = j0; j < j1; j++) any |= row[j] > worst; /* vectorised: most blocks hold none */
            if (!any) continue;
            for (int j = j0; j < j1; j++) {
                float s = row[j];
                if (!(s > worst)) continue;
                /* replace the worst kept and sift it down */
                int i = 0;
                for (;;) {
                    int c = 2 * i + 1;
                    if (c >= k) break;
                    if (c + 1 < k && hs[c + 1] < hs[c]) c++;
                    if (hs[c] >= s) break;
                    hs[i] = hs[c];
                    ids[i] = ids[c];
                    i = c;
                }
                hs[i] = s;
                ids[i] = dslots[j];
                worst = hs[0];
            }
        }
    }
    return PH_OK;
}

/* Copies level-0 rows from one bit width to another (growth past 2^bits slots); PH_EPARAM (nothing
   copied) when a width or a row size is off. */
int ph_repack(const uint8_t *src, int src_bits, int64_t src_row, uint8_t *dst, int dst_bits, int64_t dst_row,
              int m0, uint32_t n) {
    if (m0 < 2 || m0 > PH_MAX_LINKS || src_bits < 8 || src_bits > 32 || dst_bits < 8 || dst_bits > 32 ||
        src_row != ((int64_t)m0 * src_bits + 7) / 8 || dst_row != ((int64_t)m0 * dst_bits + 7) / 8)
        return PH_EPARAM;
    graph_t a = {0}, b = {0};
    a.bits = src_bits;
    b.bits = dst_bits;
    uint32_t none_a = (uint32_t)((1ull << src_bits) - 1), none_b = (uint32_t)((1ull << dst_bits) - 1);
    for (uint32_t s = 0; s < n; s++) {
        const uint8_t *r = src + (int64_t)s * src_row;
        uint8_t *w = dst + (int64_t)s * dst_row;
        for (int j = 0; j < m0; j++) {
            uint32_t v = link_get(&a, r, j);
            link_set(&b, w, j, v == none_a ? none_b : v);
        }
    }
    return PH_OK;
}

/* Level-0 neighbour lists as plain ids ([n][m0], UINT32_MAX past a list's end), for tests and checks;
   PH_EPARAM (nothing written) when the parameters are off or the slots run past `count`. */
int ph_unpack(const graph_t *g, uint32_t first, uint32_t n, uint32_t *out) {
    if (!params_ok(g) || (uint64_t)first + n > g->count) return PH_EPARAM;
    uint32_t none = sentinel_of(g);
    for (uint32_t s = 0; s < n; s++) {
        const uint8_t *row = row0(g, first + s);
        for (int j = 0; j < g->m0; j++) {
            uint32_t v = link_get(g, row, j);
            out[(int64_t)s * g->m0 + j] = v == none ? UINT32_MAX : v;
        }
    }
    return PH_OK;
}

/* Whether a graph read from a file holds together (its arrays sized by its counts, as the caller
   checks): PH_OK, PH_EPARAM for its parameters, PH_ECORRUPT for its contents. */
int ph_check(const graph_t *g) {
    if (!params_ok(g)) return PH_EPARAM;
    uint32_t n = g->count, nu = g->n_upper, none = sentinel_of(g);
    if (n > none || g->up_used < 0) return PH_ECORRUPT;
    if (n == 0 && (g->max_level != -1 || g->entry != -1 || nu != 0)) return PH_ECORRUPT;
    if (n > 0 && (g->max_level < 0 || g->entry_slot >= n || (g->entry < 0) != (g->max_level == 0)))
        return PH_ECORRUPT;
    for (uint32_t s = 0; s < n; s++) { /* every link a slot, or the list end */
        const uint8_t *row = row0(g, s);
        for (int j = 0; j < g->m0; j++) {
            uint32_t v = link_get(g, row, j);
            if (v != none && v >= n) return PH_ECORRUPT;
        }
    }
    for (uint32_t u = 0; u < nu; u++) { /* every upper node on a slot, its rows inside up_links */
        int top = g->up_level[u];
        if (g->up_slot[u] >= n || top < 1 || top > PH_MAX_LEVEL || g->up_off[u] < 0 ||
            g->up_off[u] > g->up_used - (int64_t)top * (1 + g->m))
            return PH_ECORRUPT;
    }
    if (g->entry >= 0 && (g->up_slot[g->entry] != g->entry_slot || g->up_level[g->entry] != g->max_level))
        return PH_ECORRUPT;
    for (uint32_t u = 0; u < nu; u++) { /* every count at most m, every link a node of that level */
        for (int level = 1; level <= g->up_level[u]; level++) {
            const uint32_t *row = up_row(g, u, level);
            if (row[0] > (uint32_t)g->m) return PH_ECORRUPT;
            for (uint32_t j = 0; j < row[0]; j++)
                if (!up_usable(g, row[1 + j], level, nu)) return PH_ECORRUPT;
        }
    }
    return PH_OK;
}

/* A Python module with no functions: it only makes the file importable, so it is found and
   installed like any extension; `_packed_hnsw.py` calls the functions above through ctypes. */
static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_packed_hnsw_lib", NULL, -1, NULL};

PyMODINIT_FUNC PyInit__packed_hnsw_lib(void) { return PyModule_Create(&module); }
