/* make_csv.c -- writes a synthetic MNIST-sized data file for bench/data.sh: a header
 * (p0,...,pF-1,label), then ROWS rows of F integer "pixels" in 0..255 (about a fifth of them 0)
 * and an integer label in 0..9. Seeded, so every run writes the same bytes.
 *
 *   cc -O2 -o make_csv bench/make_csv.c && ./make_csv ROWS F > data.csv
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static uint64_t state = 0x9E3779B97F4A7C15u;

/* xorshift64*: plenty for test data. */
static uint32_t next(void) {
    state ^= state >> 12;
    state ^= state << 25;
    state ^= state >> 27;
    return (uint32_t)((state * 0x2545F4914F6CDD1Du) >> 32);
}

int main(int argc, char **argv) {
    long rows, features, r, c;
    if (argc != 3 || (rows = atol(argv[1])) < 1 || (features = atol(argv[2])) < 1) {
        fprintf(stderr, "usage: make_csv ROWS FEATURES > data.csv\n");
        return 2;
    }
    for (c = 0; c < features; c++) printf("p%ld,", c);
    printf("label\n");
    for (r = 0; r < rows; r++) {
        long sum = 0;
        for (c = 0; c < features; c++) {
            uint32_t u = next();
            int v = (u % 5 == 0) ? 0 : (int)(u >> 8) % 256;
            sum += v;
            printf("%d,", v);
        }
        printf("%ld\n", (sum / features) % 10);
    }
    return 0;
}
