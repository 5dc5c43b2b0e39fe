/* bench/c2c.c -- the round trip of one cache line between the machine's cores 0 and 1, in ns (the
 * median of 5 runs of 100,000 round trips): how far apart the two cores are now. On the 2-core
 * virtual machines nngen is measured on, it changes from minute to minute (about 50 to 80 ns when
 * the host runs both on one core complex, 300 ns and more across complexes), and every run whose
 * processes or threads exchange data each step (train_mpi, --threads) gets slower with it, where
 * independent processes do not (docs/PERFORMANCE.md, "Processes: train_mpi").
 * Build: cc -O2 -pthread -o c2c bench/c2c.c */
#define _GNU_SOURCE
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define ROUND_TRIPS 100000

static _Alignas(64) atomic_int flag;

static void pin(int cpu) {
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    pthread_setaffinity_np(pthread_self(), sizeof set, &set);
}

static void *answer(void *unused) {
    (void)unused;
    pin(1);
    for (int i = 0; i < ROUND_TRIPS; i++) {
        while (atomic_load_explicit(&flag, memory_order_acquire) != 2 * i + 1) {}
        atomic_store_explicit(&flag, 2 * i + 2, memory_order_release);
    }
    return NULL;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(void) {
    double ns[5];
    pin(0);
    for (int r = 0; r < 5; r++) {
        pthread_t t;
        struct timespec a, b;
        atomic_store(&flag, 0);
        if (pthread_create(&t, NULL, answer, NULL) != 0) return 1;
        clock_gettime(CLOCK_MONOTONIC, &a);
        for (int i = 0; i < ROUND_TRIPS; i++) {
            atomic_store_explicit(&flag, 2 * i + 1, memory_order_release);
            while (atomic_load_explicit(&flag, memory_order_acquire) != 2 * i + 2) {}
        }
        clock_gettime(CLOCK_MONOTONIC, &b);
        pthread_join(t, NULL);
        ns[r] = ((double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec)) / ROUND_TRIPS;
    }
    qsort(ns, 5, sizeof ns[0], by_value);
    printf("%.0f\n", ns[2]);
    return 0;
}
