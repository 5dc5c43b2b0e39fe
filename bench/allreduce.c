/* bench/allreduce.c -- the time of one MPI_Allreduce (MPI_IN_PLACE, MPI_SUM) of N floats, the
 * operation train_mpi runs once a step (docs/PERFORMANCE.md, "Processes: train_mpi"):
 *
 *   mpicc -O2 -o /tmp/allreduce bench/allreduce.c
 *   mpirun -np 2 /tmp/allreduce 669707      # W2's gradient (+ the loss): 2.68 MB
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv) {
    int rank, n = argc > 1 ? atoi(argv[1]) : 669707, i, iterations = 50;
    float *g;
    double t;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    g = calloc(n > 0 ? (size_t)n : 1, sizeof *g);
    MPI_Allreduce(MPI_IN_PLACE, g, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    MPI_Barrier(MPI_COMM_WORLD);
    t = MPI_Wtime();
    for (i = 0; i < iterations; i++) MPI_Allreduce(MPI_IN_PLACE, g, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    t = MPI_Wtime() - t;
    if (rank == 0) printf("%d floats: %.3f ms per allreduce\n", n, 1e3 * t / iterations);
    free(g);
    MPI_Finalize();
    return 0;
}
