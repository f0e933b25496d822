/* Internal interface of the emim tool: one file per command (src/cli/CMD.c),
 * the shared option parsers and helpers (src/cli/util.c), main and the
 * global options (src/cli/main.c). */
#ifndef EMIM_TOOL_H
#define EMIM_TOOL_H

#include "emim.h"

#include <stdio.h>

extern const char *prog;

/* "emim: <fmt with arg>" and "Try ..." on stderr, exit 2 */
void die_usage(const char *fmt, const char *arg) __attribute__((noreturn));
/* Parsers of option values: a bad value is a one-line usage error naming the
 * option (exit 2). */
int parse_int(const char *s, const char *what, long lo, long hi);
float parse_float(const char *s, const char *what, double lo, double hi);
unsigned long long parse_u64(const char *s, const char *what);
/* "X" (when allow_one: every one of the n values) or n comma-separated
 * numbers, each from lo to hi */
void parse_floats(const char *s, const char *what, float *out, int n, int allow_one, double lo, double hi);
/* the same for whole numbers */
void parse_ints(const char *s, const char *what, int *out, int n, int allow_one, long lo, long hi);

/* a context in the given mode; an error is printed and exits 1 */
emim_ctx *make_ctx(emim_options *o, emim_mode mode);
double now_s(void);
int file_exists(const char *path);

/* A run folder's options (src/cli/pretrain.c): the checkpoint's
 * configuration and run record; dir may also name a checkpoint file.
 * d.path and d.modalities point into the struct: do not copy it. 0, or 1
 * after printing why not. */
typedef struct {
    emim_train_config t;
    emim_data_config d;
    int exact;
    long done, stop;
    char preset[16], path[4096], mods[1024], ckpt[4200];
} run_info;
int read_run(const char *dir, run_info *ri);

/* The collapse check at the end of a run (src/cli/check.c), for any
 * method: the model's reconstruction of samples 0 .. samples-1 of its data
 * under its own masks (emim_mask_make(seed, step i, sample 0)), its mean
 * squared error over the masked voxels against Var(x_m), the error of a
 * completely collapsed model there (emim_maskvar, the same samples and
 * masks), and the effective rank of the features of the first batch
 * against a fresh initialisation's; printed and written to
 * DIR/summary.json. 0, or 1 after an error. */
int collapse_check(emim_trainer *T, emim_data *data, const emim_train_config *t, int samples, const char *dir);
/* Writes text to PATH through PATH.tmp and a rename; 0 or -1 (errno set). */
int write_file_atomic(const char *path, const char *text);

/* The processes of a run (src/cli/ranks.c): MPI's ranks when this emim is
 * built with MPI and started by an MPI launcher (EMIM_MPI=0: never, 1:
 * always); one process otherwise. */
typedef struct {
    int rank, size;              /* 0 and 1 alone */
    int local_rank, local_size;  /* on this node */
    emim_comm *comm;             /* NULL alone */
    int mpi;                     /* MPI was initialised here */
    int saved_fd;                /* stderr while held */
    FILE *held;
} tool_ranks;
/* 0, or 1 after printing why (srun's tasks and MPI's processes disagree,
 * or several processes were started without MPI) */
int ranks_start(tool_ranks *R);
/* Collective: how many ranks pass a non-zero flag. */
int ranks_count(tool_ranks *R, int flag);
/* The same for n <= 8 flags at once (each becomes its count), one message. */
void ranks_counts(tool_ranks *R, int *flag, int n);
/* Ranks other than 0 hold their stderr until ranks_agree. */
void ranks_hold_stderr(tool_ranks *R);
void ranks_release_stderr(tool_ranks *R, int show);
/* Collective: 0 when no rank failed (rc 0 everywhere); else this rank's rc,
 * or 1 where it did not fail; rank 0 says how many failed. Releases the held
 * stderr (shown when rank 0 did not fail). */
int ranks_agree(tool_ranks *R, int rc);
/* Collective: every rank's value, in rank order (size floats, malloc'd;
 * the caller frees it; no memory ends the job). */
float *ranks_gather(tool_ranks *R, float mine);
/* Ends every rank at once (MPI_Abort), or this process. */
void ranks_abort(tool_ranks *R, int rc) __attribute__((noreturn));
/* The CPU threads each process should take when its launcher did not bind
 * it and several share the node (0: OpenMP's default). */
int ranks_threads(const tool_ranks *R);
void ranks_end(tool_ranks *R);

/* PNG output (src/cli/plot.c, through cairo; without it these return -1
 * and say so in err). */
typedef struct {
    const char *label;
    const double *x, *y;
    int n;
    int lines, markers;        /* join the points; draw a marker at each */
} plot_series;
typedef struct {
    const char *title, *xlabel, *ylabel;
    int logx, logy;
    int nhlines;               /* horizontal reference lines */
    double hline[4];
    const char *hline_label[4];
    int legend_left, legend_bottom;
} plot_spec;
int plot_png(const char *path, const plot_spec *p, const plot_series *s, int ns, char *err, size_t errlen);
/* tiles [rows * cols] of tw x th values in [0, 1] (row-major), shown grey */
int montage_png(const char *path, const float *const *tiles, const int *tw, const int *th, int rows, int cols,
                const char *const *row_labels, const char *const *col_labels, const char *title, char *err,
                size_t errlen);

/* the commands; argv[0] is the command's name */
int cmd_info(emim_options *o, int argc, char **argv);
int cmd_validate(emim_options *o, int argc, char **argv);
int cmd_ops(int argc, char **argv);
int cmd_pretrain(emim_options *o, int argc, char **argv);
int cmd_phantom(int argc, char **argv);
int cmd_maskvar(int argc, char **argv);
int cmd_spectrum(emim_options *o, int argc, char **argv);
int cmd_reconstruct(emim_options *o, int argc, char **argv);
int cmd_export(emim_options *o, int argc, char **argv);
int cmd_features(emim_options *o, int argc, char **argv);
int cmd_probe(emim_options *o, int argc, char **argv);

#endif
