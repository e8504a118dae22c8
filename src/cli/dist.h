/* dist.h — the processes of a training run. Under an MPI launcher (mpirun, srun) in a build with
 * MPI, MPI is started and the ranks of MPI_COMM_WORLD train together; otherwise the program is one
 * process and MPI is never touched. MPI is a CLI matter only: the library stays free of it and
 * takes a wg_train_comm. */
#ifndef WG_CLI_DIST_H
#define WG_CLI_DIST_H

#include "trainer.h"

typedef struct cli_dist {
    wg_train_comm comm;
    int local_size; /* ranks on this machine, to share its cores */
    int active;     /* MPI was started */
} cli_dist;

/* Starts MPI when launched by an MPI launcher. 0, or nonzero with a message on stderr. */
int cli_dist_start(cli_dist *d);
/* The normal end: every rank calls it. */
void cli_dist_finish(cli_dist *d);
/* One rank failed: ends every rank now with `code` (the others must not wait for it). */
void cli_dist_abort(cli_dist *d, int code);

#endif
