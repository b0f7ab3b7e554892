/* How fast this machine reads a graph build's codes: random `block`-byte blocks out of an array of
   `mb` MiB, `batch` blocks requested at once (every line prefetched, then each block read whole), on
   `threads` threads. Prints one JSON object: cache lines read per microsecond, per thread and in all.

   The packed build scores about 2,500 codes of 512 bytes in each insert's level-0 search, each at a
   place no earlier insert predicts; this is that access pattern with nothing else in the way (no
   graph rows to read first, no heaps), so its rate bounds the build's from above
   (bench/memory_floor.py turns it into a floor on the build's time).

   cc -O3 -march=native -pthread -o memory_floor memory_floor.c
   ./memory_floor BLOCK MB THREADS BATCH SECONDS */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

typedef struct {
    const uint8_t *data;
    int64_t blocks;
    int block, batch;
    double seconds, lines_per_us;
    uint64_t seed, sink;
} worker_t;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static uint64_t next(uint64_t *x) { /* xorshift64 */
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

static void *work(void *arg) {
    worker_t *w = arg;
    int64_t at[256];
    uint64_t sink = 0, reads = 0;
    double start = now(), stop = start + w->seconds, t = start;
    while (t < stop) {
        for (int r = 0; r < 64; r++) {
            for (int j = 0; j < w->batch; j++) {
                at[j] = (int64_t)(next(&w->seed) % (uint64_t)w->blocks) * w->block;
                for (int off = 0; off < w->block; off += 64) __builtin_prefetch(w->data + at[j] + off, 0, 2);
            }
            for (int j = 0; j < w->batch; j++) {
                const uint64_t *p = (const uint64_t *)(w->data + at[j]);
                uint64_t s = 0;
                for (int i = 0; i < w->block / 8; i++) s ^= p[i]; /* every byte, with as little work as can be */
                sink += s;
            }
            reads += (uint64_t)w->batch;
        }
        t = now();
    }
    w->lines_per_us = (double)reads * (double)((w->block + 63) / 64) / ((t - start) * 1e6);
    w->sink = sink;
    return NULL;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: memory_floor BLOCK MB THREADS BATCH SECONDS\n");
        return 2;
    }
    int block = atoi(argv[1]), threads = atoi(argv[3]), batch = atoi(argv[4]);
    int64_t bytes = (int64_t)atoll(argv[2]) << 20;
    double seconds = atof(argv[5]);
    if (block < 64 || block % 64 || bytes < block || threads < 1 || threads > 64 || batch < 1 || batch > 256 ||
        seconds <= 0) {
        fprintf(stderr, "memory_floor: BLOCK a multiple of 64, MB >= BLOCK, THREADS 1..64, BATCH 1..256\n");
        return 2;
    }
    uint8_t *data = aligned_alloc(1 << 21, (size_t)((bytes + (1 << 21) - 1) >> 21 << 21));
    if (!data) {
        fprintf(stderr, "memory_floor: %lld bytes not allocated\n", (long long)bytes);
        return 1;
    }
    madvise(data, (size_t)bytes, MADV_HUGEPAGE); /* as numpy asks for the engine's large arrays */
    for (int64_t i = 0; i < bytes; i += 4096) memset(data + i, (int)(i >> 12), bytes - i < 4096 ? bytes - i : 4096);
    pthread_t ids[64];
    worker_t w[64];
    for (int t = 0; t < threads; t++) {
        w[t] = (worker_t){data, bytes / block, block, batch, seconds, 0, 0x9E3779B97F4A7C15ull * (uint64_t)(t + 1), 0};
        pthread_create(&ids[t], NULL, work, &w[t]);
    }
    double total = 0;
    uint64_t sink = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(ids[t], NULL);
        total += w[t].lines_per_us;
        sink += w[t].sink;
    }
    printf("{\"block\": %d, \"mb\": %lld, \"threads\": %d, \"batch\": %d, \"lines_per_us\": %.1f, "
           "\"lines_per_us_per_thread\": %.1f, \"checksum\": %llu}\n",
           block, (long long)(bytes >> 20), threads, batch, total, total / threads, (unsigned long long)(sink & 0xffff));
    free(data);
    return 0;
}
