/* dist.c — MPI for `waveglow train` (see dist.h). */
#include "dist.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

#ifdef WG_HAVE_MPI
#include <mpi.h>

/* MPI counts are ints: large buffers go in pieces */
#define CHUNK ((size_t)1 << 28)

static int sum(void *x, size_t n, size_t elem, MPI_Datatype type) {
    for (size_t i = 0; i < n; i += CHUNK) {
        int k = (int)(n - i < CHUNK ? n - i : CHUNK);
        if (MPI_Allreduce(MPI_IN_PLACE, (char *)x + i * elem, k, type, MPI_SUM, MPI_COMM_WORLD) != MPI_SUCCESS) return 1;
    }
    return 0;
}

static int sum_f32(void *ctx, float *x, size_t n) {
    (void)ctx;
    return sum(x, n, sizeof *x, MPI_FLOAT);
}

static int sum_f64(void *ctx, double *x, size_t n) {
    (void)ctx;
    return sum(x, n, sizeof *x, MPI_DOUBLE);
}

static int broadcast(void *ctx, void *buf, size_t bytes) {
    (void)ctx;
    for (size_t i = 0; i < bytes; i += CHUNK) {
        int k = (int)(bytes - i < CHUNK ? bytes - i : CHUNK);
        if (MPI_Bcast((char *)buf + i, k, MPI_BYTE, 0, MPI_COMM_WORLD) != MPI_SUCCESS) return 1;
    }
    return 0;
}

/* Open MPI's mpirun and Slurm's srun set these in every process they start */
static int launched_by_mpi(void) {
    return getenv("OMPI_COMM_WORLD_SIZE") || getenv("PMIX_RANK") || getenv("PMI_RANK") || getenv("PMI_SIZE");
}

int cli_dist_start(cli_dist *d) {
    *d = (cli_dist){.comm = {.rank = 0, .size = 1}, .local_size = 1};
    if (!launched_by_mpi()) return 0;
    int provided;
    /* only the main thread calls MPI; the loader thread never does */
    if (MPI_Init_thread(NULL, NULL, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        fprintf(stderr, "waveglow train: MPI failed to start\n");
        return 1;
    }
    d->active = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &d->comm.rank);
    MPI_Comm_size(MPI_COMM_WORLD, &d->comm.size);
    MPI_Comm local;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &local);
    MPI_Comm_size(local, &d->local_size);
    MPI_Comm_free(&local);
    d->comm.sum_f32 = sum_f32;
    d->comm.sum_f64 = sum_f64;
    d->comm.broadcast = broadcast;
    return 0;
}

void cli_dist_finish(cli_dist *d) {
    if (d->active) MPI_Finalize();
    d->active = 0;
}

void cli_dist_abort(cli_dist *d, int code) {
    if (d->active && d->comm.size > 1) {
        fflush(stdout), fflush(stderr);
        MPI_Abort(MPI_COMM_WORLD, code);
    }
    cli_dist_finish(d);
}

#else /* built without MPI: always one process */

int cli_dist_start(cli_dist *d) {
    *d = (cli_dist){.comm = {.rank = 0, .size = 1}, .local_size = 1};
    if (getenv("OMPI_COMM_WORLD_SIZE") && atoi(getenv("OMPI_COMM_WORLD_SIZE")) > 1) {
        fprintf(stderr, "waveglow train: started by mpirun, but this build has no MPI (configure with "
                        "-DWG_MPI=ON and Open MPI installed); every rank would train alone\n");
        return 1;
    }
    return 0;
}

void cli_dist_finish(cli_dist *d) { (void)d; }
void cli_dist_abort(cli_dist *d, int code) { (void)d, (void)code; }

#endif
