// The codegen kernels in C: the twin of ../kernels.go (same data, same
// algorithm, same checksums). Built for wasm32-wasi as a reactor exporting
// setup, run and nop, and natively as a program timing CALLS runs on its
// own thread: `kernels SEED KERNEL CALLS` prints "CPU-ns checksums' sum".
#include <stdint.h>
#include <string.h>

#ifdef __wasm__
#define EXPORT(name) __attribute__((export_name(name)))
#else
#define EXPORT(name)
#endif

enum { DICT, HASH, HEAP, HIST };
enum {
  N = 8192,
  BATCHES = 8,
  DICT_SIZE = 512,
  POOL = 1024,
  TABLE_SIZE = 4096,
  ID_SPACE = 8192,
  TOP_K = 128,
  BUCKETS = 20,
};

static uint64_t rng;

static uint64_t next(void) {
  rng += 0x9e3779b97f4a7c15ull;
  uint64_t z = rng;
  z = (z ^ z >> 30) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ z >> 27) * 0x94d049bb133111ebull;
  return z ^ z >> 31;
}

static double frand(void) { return (double)(next() >> 11) * (1.0 / 9007199254740992.0); }

static uint64_t skewed(uint64_t n) {
  uint64_t a = next() % n;
  uint64_t b = next() % n;
  return a * b / n;
}

struct slot {
  uint64_t h;
  uint32_t off, n, ct;
};
struct entry {
  uint32_t count, id;
};

// The batches, taken in turn (see kernels.go).
static uint32_t idx[BATCHES][N];
static double vals[BATCHES][N];
static uint8_t strs[BATCHES][N * 23];
static uint32_t offs[BATCHES][N + 1];
static uint32_t ids[BATCHES][N];
static uint64_t counts[DICT_SIZE];
static struct slot slots[TABLE_SIZE];
static struct entry heap[TOP_K];
static int heap_len;
static int32_t pos[ID_SPACE];
static double bounds[BUCKETS];

EXPORT("setup") void setup(int64_t seed) {
  rng = (uint64_t)seed;
  static uint8_t names[POOL][23];
  static uint32_t lens[POOL];
  for (int i = 0; i < POOL; i++) {
    uint64_t n = 7 + next() % 17;
    for (uint64_t j = 0; j < n; j++) {
      uint8_t c = (uint8_t)('a' + next() % 27);
      names[i][j] = c > 'z' ? '.' : c;
    }
    lens[i] = (uint32_t)n;
  }
  for (int b = 0; b < BATCHES; b++) {
    for (int i = 0; i < N; i++) {
      idx[b][i] = (uint32_t)skewed(DICT_SIZE);
      double u = frand();
      vals[b][i] = u * u * u * u * 100;
      ids[b][i] = (uint32_t)skewed(ID_SPACE);
    }
    uint32_t o = 0;
    for (int i = 0; i < N; i++) {
      uint64_t k = skewed(POOL);
      memcpy(strs[b] + o, names[k], lens[k]);
      o += lens[k];
      offs[b][i + 1] = o;
    }
  }
  for (int i = 0; i < ID_SPACE; i++) pos[i] = -1;
  double b = 0.001;
  for (int i = 0; i < BUCKETS; i++) {
    bounds[i] = b;
    b *= 2;
  }
}

static uint64_t fold(uint64_t h, uint64_t v) { return (h ^ v) * 1099511628211ull; }

static uint64_t dict(int b) {
  memset(counts, 0, sizeof counts);
  double sum = 0;
  for (int i = 0; i < N; i++) {
    counts[idx[b][i]]++;
    sum += vals[b][i];
  }
  uint64_t h;
  memcpy(&h, &sum, sizeof h);
  for (int i = 0; i < DICT_SIZE; i++) h = fold(h, counts[i]);
  return h;
}

// eq compares n bytes. Not memcmp: glibc's is vectorised assembly and
// wasi-libc's a byte loop, which would count a library difference as
// the engine's.
static int eq(const uint8_t *a, const uint8_t *b, uint32_t n) {
  for (uint32_t i = 0; i < n; i++)
    if (a[i] != b[i]) return 0;
  return 1;
}

static uint64_t hash(int b) {
  memset(slots, 0, sizeof slots);
  const uint64_t mask = TABLE_SIZE - 1;
  for (int i = 0; i < N; i++) {
    const uint8_t *s = strs[b];
    uint32_t off = offs[b][i], end = offs[b][i + 1];
    uint64_t h = 14695981039346656037ull;
    for (uint32_t p = off; p < end; p++) h = (h ^ s[p]) * 1099511628211ull;
    for (uint64_t j = h & mask;; j = (j + 1) & mask) {
      struct slot *sl = &slots[j];
      if (sl->ct == 0) {
        *sl = (struct slot){h, off, end - off, 1};
        break;
      }
      if (sl->h == h && sl->n == end - off && eq(s + sl->off, s + off, sl->n)) {
        sl->ct++;
        break;
      }
    }
  }
  uint64_t h = 0;
  for (int i = 0; i < TABLE_SIZE; i++) h = fold(h, slots[i].ct);
  return h;
}

static void down(int i) {
  for (;;) {
    int m = 2 * i + 1;
    if (m >= heap_len) return;
    if (m + 1 < heap_len && heap[m + 1].count < heap[m].count) m++;
    if (heap[i].count <= heap[m].count) return;
    struct entry t = heap[i];
    heap[i] = heap[m];
    heap[m] = t;
    pos[heap[i].id] = i;
    pos[heap[m].id] = m;
    i = m;
  }
}

static void up(int i) {
  while (i > 0) {
    int p = (i - 1) / 2;
    if (heap[p].count <= heap[i].count) return;
    struct entry t = heap[i];
    heap[i] = heap[p];
    heap[p] = t;
    pos[heap[i].id] = i;
    pos[heap[p].id] = p;
    i = p;
  }
}

static uint64_t topn(int b) {
  for (int i = 0; i < heap_len; i++) pos[heap[i].id] = -1;
  heap_len = 0;
  for (int i = 0; i < N; i++) {
    uint32_t id = ids[b][i];
    int32_t p = pos[id];
    if (p >= 0) {
      heap[p].count++;
      down(p);
    } else if (heap_len < TOP_K) {
      heap[heap_len] = (struct entry){1, id};
      pos[id] = heap_len++;
      up(heap_len - 1);
    } else { // replace the minimum, counting from its count
      pos[heap[0].id] = -1;
      heap[0] = (struct entry){heap[0].count + 1, id};
      pos[id] = 0;
      down(0);
    }
  }
  uint64_t h = 0;
  for (int i = 0; i < heap_len; i++) h = fold(fold(h, heap[i].count), heap[i].id);
  return h;
}

static uint64_t hist(int b) {
  memset(counts, 0, (BUCKETS + 1) * sizeof counts[0]);
  for (int i = 0; i < N; i++) {
    double v = vals[b][i];
    int b = 0;
    while (b < BUCKETS && v > bounds[b]) b++;
    counts[b]++;
  }
  uint64_t h = 0;
  for (int i = 0; i <= BUCKETS; i++) h = fold(h, counts[i]);
  return h;
}

// run runs kernel over batch (mod BATCHES) and returns its checksum.
EXPORT("run") int64_t run(int32_t kernel, int32_t batch) {
  int b = (int)((uint32_t)batch % BATCHES);
  switch (kernel) {
  case DICT: return (int64_t)dict(b);
  case HASH: return (int64_t)hash(b);
  case HEAP: return (int64_t)topn(b);
  case HIST: return (int64_t)hist(b);
  }
  return 0;
}

EXPORT("nop") void nop(void) {}

#ifndef __wasm__
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: kernels SEED KERNEL CALLS\n");
    return 2;
  }
  setup(strtoll(argv[1], 0, 10));
  int kernel = atoi(argv[2]), calls = atoi(argv[3]);
  for (int i = 0; i < BATCHES; i++) run(kernel, i); // warm up
  struct timespec t0, t1;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t0);
  uint64_t x = 0;
  for (int i = 0; i < calls; i++) x += (uint64_t)run(kernel, i);
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t1);
  printf("%lld %llu\n", (long long)((t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec)),
         (unsigned long long)x);
  return 0;
}
#endif
