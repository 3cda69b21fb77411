/*
 * dist.h: curvscope under mpirun or srun (docs/SCALING.md): the job's Comm, who prints,
 * how the ranks end, and the checks and data shares of a data-parallel run.
 *
 * Built with -Dmpi (CS_HAVE_MPI) and started by a launcher (OMPI_COMM_WORLD_SIZE,
 * PMIX_RANK or PMI_RANK in the environment), cli_dist_start initialises MPI; otherwise
 * nothing changes and cli_comm() is NULL. Only train, analyze and study eos run on more
 * than one rank. Rank 0 alone opens the database and prints; the other ranks' stdout
 * and stderr go to /dev/null, and their errors other than bad input (which every rank
 * finds alike, rank 0 prints it) reach the real stderr as "curvscope: rank R: ...".
 * An error on any rank ends every rank (MPI_Abort) with its exit status.
 */
#ifndef CS_CLI_DIST_H
#define CS_CLI_DIST_H

#include "core/comm.h"
#include "core/err.h"

struct RunOpts;
struct RunSetup;

/* In main, before the command runs: returns -1 to go on, else the exit status (the
 * command cannot run under this launcher, or MPI failed to start). */
int cli_dist_start(int *argc, char ***argv);
/* The status to exit with, after the command returned code: the ranks end together. */
int cli_dist_finish(int code);
/* The job's Comm when it spans more than one rank, else NULL. */
const Comm *cli_comm(void);
int cli_rank(void);
/* A data-parallel run's checks (bad input: CS_EINVAL) and shares: train and test are cut
 * to this rank's rows (CURVSCOPE_MPI_WEIGHTS=w0,w1,... weighs the shares; default equal). */
int cli_dist_setup(const struct RunOpts *o, struct RunSetup *s, Err *err);
/* Where a rank other than 0 writes its errors (the saved stderr), or -1. */
int cli_dist_err_fd(void);
/* Rank 0's stored run at every rank: its configuration (a JSON string), the checkpoint
 * params [*n] and its step. Rank 0 passes what it read; the other ranks receive
 * malloc'd copies (caller frees). A no-op without a Comm. */
int cli_dist_share_run(char **config, double **params, size_t *n, long *step, Err *err);

/* --solver parpack (dist/eig_parpack.h): CS_EINVAL naming what is missing unless the build
 * has MPI and PARPACK and MPI was started (mpirun, any number of ranks). */
struct Linop;
struct EigOpts;
struct EigResult;
int cli_eig_parpack(const struct Linop *op, const struct EigOpts *o, struct EigResult *r,
                    Err *err);

#endif
