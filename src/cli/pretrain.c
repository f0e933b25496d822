/* emim pretrain: pretraining with one method (E-MIM, MAE, SimMIM) on the
 * built-in phantom or on NIfTI data.
 *
 * A run is its folder: the checkpoint holds the model and training
 * configuration (the library's) and a run record (this command's: the
 * preset, the mode, the step to stop at and the data options, one
 * "name=value" line each), so `--resume --out DIR` needs nothing else.
 * Every option that changes the result is in one of the two; an option
 * given again on resume must agree with the run, or it is refused. */
#include "cli/tool.h"

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Where an option's value lives: the library's training configuration (in
 * every checkpoint), the run record, or nowhere (how this process runs:
 * threads, caching, the folder). */
enum { K_CONFIG, K_RECORD, K_RUNTIME };

/* The options, in the order of --help; O_ID - OPT_BASE indexes OPTS. */
#define OPT_BASE 256
enum {
    O_PRESET = OPT_BASE, O_IMG, O_PATCH, O_HIDDEN, O_LAYERS, O_HEADS, O_MLP,
    O_METHOD, O_STEPS, O_SCHED, O_BATCH, O_MICRO, O_LR, O_WARMUP, O_WD, O_CLIP, O_WINIT, O_INIT, O_SEED, O_EXACT,
    O_DATA, O_MODS, O_PCT, O_SPACING, O_NOFG, O_CENTRE, O_FLIP,
    O_OUT, O_EVERY, O_RESUME, O_DTHREADS, O_PREFETCH, O_CACHE, O_ERANK, O_CHECKN,
    O_END
};
#define NOPT (O_END - OPT_BASE)

static const struct {
    const char *name;   /* the long option, and the record's key */
    int has_arg, kind;
} OPTS[NOPT] = {
    { "preset", 1, K_RECORD },      { "img-size", 1, K_CONFIG },     { "patch", 1, K_CONFIG },
    { "hidden", 1, K_CONFIG },      { "layers", 1, K_CONFIG },       { "heads", 1, K_CONFIG },
    { "mlp", 1, K_CONFIG },         { "method", 1, K_CONFIG },       { "steps", 1, K_RECORD },
    { "schedule-steps", 1, K_CONFIG }, { "batch", 1, K_CONFIG },     { "micro-batch", 1, K_CONFIG },
    { "lr", 1, K_CONFIG },
    { "warmup", 1, K_CONFIG },      { "weight-decay", 1, K_CONFIG }, { "clip", 1, K_CONFIG },
    { "weight-init", 1, K_CONFIG }, { "init", 1, K_RECORD },       { "seed", 1, K_CONFIG },
    { "exact", 0, K_RECORD },
    { "data", 1, K_RECORD },        { "modalities", 1, K_RECORD },   { "percentiles", 1, K_RECORD },
    { "spacing", 1, K_RECORD },     { "no-fg-crop", 0, K_RECORD },   { "centre-crop", 0, K_RECORD },
    { "flip", 0, K_RECORD },        { "out", 1, K_RUNTIME },         { "checkpoint-every", 1, K_RUNTIME },
    { "resume", 0, K_RUNTIME },     { "data-threads", 1, K_RUNTIME }, { "prefetch", 1, K_RUNTIME },
    { "cache-mb", 1, K_RUNTIME },   { "erank-every", 1, K_RUNTIME }, { "check-samples", 1, K_RUNTIME },
};

/* A float in the fewest digits that read back to the same bits. */
static const char *shortest(char *b, size_t n, float x)
{
    for (int digits = 6; digits <= 9; digits++) {
        snprintf(b, n, "%.*g", digits, (double)x);
        if (strtof(b, NULL) == x) break;
    }
    return b;
}

/* A method option's value, canonically: a choice's name, a flag's 0 or 1, a
 * float in the fewest digits. */
static void method_value(const emim_opt_info *o, double v, char *b, size_t n)
{
    if (o->kind == EMIM_OPT_FLOAT) { shortest(b, n, (float)v); return; }
    if (o->kind == EMIM_OPT_CHOICE) {
        const char *c = o->choices;
        for (int i = 0; i < (int)v && c; i++) { c = strchr(c, '|'); if (c) c++; }
        size_t len = c ? strcspn(c, "|") : 0;
        snprintf(b, n, "%.*s", (int)len, c ? c : "?");
        return;
    }
    snprintf(b, n, "%lld", (long long)v);
}

/* The value of method option o from text (a flag: "1" or "0"); a bad one is
 * a usage error naming the option. */
static double method_parse(const emim_opt_info *o, const char *v)
{
    char what[96];
    snprintf(what, sizeof what, "--%s", o->name);
    switch (o->kind) {
    case EMIM_OPT_INT: return parse_int(v, what, (long)o->lo, (long)o->hi);
    case EMIM_OPT_FLOAT: return parse_float(v, what, o->lo, o->hi);
    case EMIM_OPT_FLAG: return strcmp(v, "0") != 0;
    default: break;
    }
    const char *c = o->choices;
    for (int i = 0; c; i++) {
        size_t len = strcspn(c, "|");
        if (strlen(v) == len && !strncmp(c, v, len)) return i;
        c = c[len] ? c + len + 1 : NULL;
    }
    char msg[256];
    snprintf(msg, sizeof msg, "--%s '%s': expected %s", o->name, v, o->choices);
    die_usage("%s", msg);
}

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: %s [GLOBAL OPTIONS] pretrain [OPTIONS]\n"
            "Self-supervised pretraining of the ViT encoder with one method (default: E-MIM on the tiny model\n"
            "and the built-in phantom). Writes DIR/metrics.tsv and DIR/checkpoint.emim (safetensors); --resume\n"
            "--out DIR continues the run from its folder alone.\n"
            "\n"
            "model (a preset gives the widths and depth; the data gives the input channels):\n"
            "  --preset=tiny|small|base   [tiny]: 64^3, hidden 96, 4 layers, 3 heads, mlp 384; small and base:\n"
            "                             96^3, 384/12/6/1536 and 768/12/12/3072; all with 16^3 patches\n"
            "  --img-size=X[,Y,Z]         the input grid in voxels (each axis a multiple of its patch)\n"
            "  --patch=P[,P,P]            patch size per axis\n"
            "  --hidden=N --layers=N --heads=N --mlp=N   override the preset's widths and depth\n"
            "\n"
            "training (defaults in brackets):\n"
            "  --method=NAME              the objective [emim]:\n",
            prog);
    for (int m = 0; m < emim_method_count(); m++)
        fprintf(f, "                               %-8s %s\n", emim_method_name(m), emim_method_summary(m));
    fprintf(f,
            "  --steps=N                  stop after N optimiser steps in all [1000]\n"
            "  --schedule-steps=N         length of the warm-up + cosine schedule [--steps]; a run split\n"
            "                             over several jobs gives the final length here\n"
            "  --batch=N                  volumes per step [2]\n"
            "  --micro-batch=N            volumes per forward/backward pass, dividing the batch: the step's\n"
            "                             gradient is a fixed tree over the passes (less memory; the same\n"
            "                             bits on any number of MPI processes) [the batch; 1 under --exact;\n"
            "                             under MPI in fast mode, the batch over the processes]\n"
            "  --lr=X --warmup=N          peak learning rate [1e-3], linear warm-up steps [20]\n"
            "  --weight-decay=X --clip=X  AdamW weight decay [0.05], gradient-norm clipping [1]; 0: off\n"
            "  --weight-init=monai|trunc-normal   MONAI's ViT (PyTorch's Linear defaults in the blocks) or\n"
            "                             timm's trunc_normal(0.02) Linear weights with zero biases [trunc-normal]\n"
            "  --init=FILE.safetensors    start the encoder from MONAI ViT weights (a ViT's or UNETR's state_dict,\n"
            "                             with or without the vit. prefix; emim export writes one)\n"
            "  --seed=N                   initialisation, masks and data order [1]\n"
            "  --exact                    exact mode (bit-reproducible on CPU and OpenCL, any thread count,\n"
            "                             any number of MPI processes)\n");
    for (int m = 0; m < emim_method_count(); m++) {
        const emim_opt_info *o;
        int n = emim_method_options(m, &o);
        fprintf(f, "\nmethod %s:\n", emim_method_name(m));
        for (int i = 0; i < n; i++) {
            char left[64], def[64];
            if (o[i].kind == EMIM_OPT_FLAG) snprintf(left, sizeof left, "--%s, --no-%s", o[i].name, o[i].name);
            else if (o[i].kind == EMIM_OPT_CHOICE) snprintf(left, sizeof left, "--%s=%s", o[i].name, o[i].choices);
            else snprintf(left, sizeof left, "--%s=%s", o[i].name, o[i].kind == EMIM_OPT_INT ? "N" : "X");
            method_value(&o[i], o[i].def, def, sizeof def);
            if (o[i].kind == EMIM_OPT_FLAG) snprintf(def, sizeof def, "%s", o[i].def ? "on" : "off");
            fprintf(f, "  %-26s %s [%s]\n", left, o[i].help, def);
        }
    }
    fprintf(f,
            "\n"
            "data (default: the built-in phantom, a new subject per sample):\n"
            "  --data=PATH                a BraTS-layout folder (one subfolder per subject), a folder of\n"
            "                             4D NIfTI files, or a TSV list (subject, then one path per modality)\n"
            "  --modalities=LIST          file-name suffixes of the modalities; their number sets the input\n"
            "                             channels [t1n,t1c,t2w,t2f; a list's columns; a 4D file's channels]\n"
            "  --percentiles=LO,HI        intensity clipping percentiles of the foreground [0.5,99.5]\n"
            "  --spacing=X[,Y,Z]          resample to this voxel size first [keep]\n"
            "  --no-fg-crop               do not crop to the foreground's bounding box first\n"
            "  --centre-crop              crop the centre instead of a random window\n"
            "  --flip                     random flips along each axis\n"
            "\n"
            "the run:\n"
            "  --out=DIR                  the run folder [emim-run]\n"
            "  --resume                   continue DIR's run; options given again must agree with it;\n"
            "                             --steps raises the total\n"
            "  --checkpoint-every=N       [50]\n"
            "  --data-threads=N           background loading threads; 0: none [1]\n"
            "  --prefetch=N               batches loaded ahead [2]\n"
            "  --cache-mb=N               memory for prepared subjects [half the memory this process may use]\n"
            "  --erank-every=N            the effective rank of a batch's features in metrics.tsv every N\n"
            "                             steps (and at the first); 0: never [10]\n"
            "  --check-samples=N          the collapse check at the end: samples for the collapsed loss;\n"
            "                             0: no check [32]\n"
            "\n"
            "Under mpirun or srun (an MPI build) each process trains on its share of every batch; rank 0\n"
            "writes DIR. See emim(1) (MANY PROCESSES) and doc/method.md.\n");
}

/* Everything a run is made of. */
typedef struct {
    emim_train_config t;         /* t.vit.channels comes from the data */
    emim_data_config d;
    char preset[16];
    int exact;
    long stop;                   /* --steps */
    /* owned copies of the data path, the modalities and the initial weights */
    char path[4096], mods[1024], init[4096];
    int have_path, have_mods, have_init;
} run_opts;

/* The raw values of the options given, by option. */
#define MAX_MOPTS 64
typedef struct {
    int given[NOPT];
    const char *arg[NOPT];
    /* the methods' options, by name (the union over the methods); a flag's
     * value is "1" or "0" */
    int mgiven[MAX_MOPTS];
    const char *marg[MAX_MOPTS];
} opt_args;

/* The union of the methods' option names (their getopt codes follow
 * O_END; a flag's --no-NAME is 512 further). */
static const emim_opt_info *mopts[MAX_MOPTS];
static int nmopts;

static void collect_method_options(void)
{
    nmopts = 0;
    for (int m = 0; m < emim_method_count(); m++) {
        const emim_opt_info *o;
        int n = emim_method_options(m, &o);
        for (int i = 0; i < n; i++) {
            int k = 0;
            while (k < nmopts && strcmp(mopts[k]->name, o[i].name)) k++;
            if (k == nmopts && nmopts < MAX_MOPTS) mopts[nmopts++] = &o[i];
        }
    }
}

static void set_arg(opt_args *a, int id, const char *arg)
{
    a->given[id - OPT_BASE] = 1;
    a->arg[id - OPT_BASE] = arg;
}
static int given(const opt_args *a, int id) { return a->given[id - OPT_BASE]; }
static const char *opt_name(int id) { return OPTS[id - OPT_BASE].name; }

/* one option onto r (the preset is applied before, in build) */
static void apply(run_opts *r, int id, const char *v)
{
    emim_train_config *t = &r->t;
    char what[64];
    snprintf(what, sizeof what, "--%s", opt_name(id));
    switch (id) {
    case O_PRESET: break;
    case O_IMG: parse_ints(v, what, t->vit.img, 3, 1, 1, 65536); break;
    case O_PATCH: parse_ints(v, what, t->vit.patch, 3, 1, 1, 65536); break;
    case O_HIDDEN: t->vit.hidden = parse_int(v, what, 1, 65536); break;
    case O_LAYERS: t->vit.layers = parse_int(v, what, 1, 1024); break;
    case O_HEADS: t->vit.heads = parse_int(v, what, 1, 65536); break;
    case O_MLP: t->vit.mlp = parse_int(v, what, 1, 65536); break;
    case O_METHOD: break; /* applied first, in build */
    case O_STEPS: r->stop = parse_int(v, what, 1, INT_MAX); break;
    case O_SCHED: t->sched.steps = parse_int(v, what, 1, INT_MAX); break;
    case O_BATCH: t->batch = parse_int(v, what, 1, 65536); break;
    case O_MICRO: t->micro = parse_int(v, what, 1, 65536); break;
    case O_LR: t->optim.lr = parse_float(v, what, 0, 10); break;
    case O_WARMUP: t->sched.warmup = parse_int(v, what, 0, INT_MAX); break;
    case O_WD: t->optim.weight_decay = parse_float(v, what, 0, 10); break;
    case O_CLIP: t->optim.clip = parse_float(v, what, 0, 1e30); break;
    case O_WINIT:
        if (!strcmp(v, "monai")) t->init = EMIM_INIT_MONAI;
        else if (!strcmp(v, "trunc-normal")) t->init = EMIM_INIT_TRUNC_NORMAL;
        else die_usage("--weight-init '%s': expected monai or trunc-normal", v);
        break;
    case O_SEED: t->seed = parse_u64(v, what); break;
    case O_EXACT: r->exact = 1; break;
    case O_DATA:
        if (!*v) { r->have_path = 0; break; }
        if (strchr(v, '\n') || strlen(v) >= sizeof r->path) die_usage("--data '%s': a line break, or too long", v);
        /* the absolute path, so that a resume from elsewhere finds it */
        if (!realpath(v, r->path)) snprintf(r->path, sizeof r->path, "%s", v);
        r->have_path = 1;
        break;
    case O_INIT:
        if (!*v) { r->have_init = 0; break; }
        if (strchr(v, '\n') || strlen(v) >= sizeof r->init) die_usage("--init '%s': a line break, or too long", v);
        if (!realpath(v, r->init)) snprintf(r->init, sizeof r->init, "%s", v);
        r->have_init = 1;
        break;
    case O_MODS:
        if (!*v) { r->have_mods = 0; break; }
        if (strchr(v, '\n') || strlen(v) >= sizeof r->mods) die_usage("--modalities '%s': a line break, or too long", v);
        snprintf(r->mods, sizeof r->mods, "%s", v);
        r->have_mods = 1;
        break;
    case O_PCT: {
        float p[2];
        parse_floats(v, what, p, 2, 0, 0, 100);
        if (!(p[0] < p[1])) die_usage("--percentiles '%s': the low one must be below the high one", v);
        r->d.p_lo = p[0];
        r->d.p_hi = p[1];
        break;
    }
    case O_SPACING: parse_floats(v, what, r->d.spacing, 3, 1, 0, 100); break;
    case O_NOFG: r->d.fg_crop = 0; break;
    case O_CENTRE: r->d.random_crop = 0; break;
    case O_FLIP: r->d.flip = 1; break;
    case O_DTHREADS: r->d.threads = parse_int(v, what, 0, 64); break;
    case O_PREFETCH: r->d.depth = parse_int(v, what, 1, 64); break;
    case O_CACHE: r->d.cache_bytes = (size_t)parse_int(v, what, 0, 1 << 30) << 20; break;
    default: break;
    }
}

/* The value of a recorded or configured option, canonically: equal values
 * give equal strings (floats in the fewest digits that read back to the
 * same bits). */
static void fmt(const run_opts *r, int id, char *b, size_t n)
{
    const emim_train_config *t = &r->t;
    switch (id) {
    case O_PRESET: snprintf(b, n, "%s", r->preset); break;
    case O_IMG: snprintf(b, n, "%d,%d,%d", t->vit.img[0], t->vit.img[1], t->vit.img[2]); break;
    case O_PATCH: snprintf(b, n, "%d,%d,%d", t->vit.patch[0], t->vit.patch[1], t->vit.patch[2]); break;
    case O_HIDDEN: snprintf(b, n, "%d", t->vit.hidden); break;
    case O_LAYERS: snprintf(b, n, "%d", t->vit.layers); break;
    case O_HEADS: snprintf(b, n, "%d", t->vit.heads); break;
    case O_MLP: snprintf(b, n, "%d", t->vit.mlp); break;
    case O_METHOD: snprintf(b, n, "%s", emim_method_name(t->method)); break;
    case O_STEPS: snprintf(b, n, "%ld", r->stop); break;
    case O_SCHED: snprintf(b, n, "%d", t->sched.steps); break;
    case O_BATCH: snprintf(b, n, "%d", t->batch); break;
    case O_MICRO: snprintf(b, n, "%d", t->micro ? t->micro : t->batch); break;
    case O_LR: shortest(b, n, t->optim.lr); break;
    case O_WARMUP: snprintf(b, n, "%d", t->sched.warmup); break;
    case O_WD: shortest(b, n, t->optim.weight_decay); break;
    case O_CLIP: shortest(b, n, t->optim.clip); break;
    case O_WINIT: snprintf(b, n, "%s", t->init == EMIM_INIT_TRUNC_NORMAL ? "trunc-normal" : "monai"); break;
    case O_SEED: snprintf(b, n, "%llu", (unsigned long long)t->seed); break;
    case O_EXACT: snprintf(b, n, "%d", r->exact); break;
    case O_DATA: snprintf(b, n, "%s", r->have_path ? r->path : ""); break;
    case O_MODS: snprintf(b, n, "%s", r->have_mods ? r->mods : ""); break;
    case O_INIT: snprintf(b, n, "%s", r->have_init ? r->init : ""); break;
    case O_PCT: {
        char x[32], y[32];
        snprintf(b, n, "%s,%s", shortest(x, sizeof x, r->d.p_lo), shortest(y, sizeof y, r->d.p_hi));
        break;
    }
    case O_SPACING: {
        char x[32], y[32], z[32];
        snprintf(b, n, "%s,%s,%s", shortest(x, sizeof x, r->d.spacing[0]), shortest(y, sizeof y, r->d.spacing[1]),
                 shortest(z, sizeof z, r->d.spacing[2]));
        break;
    }
    case O_NOFG: snprintf(b, n, "%d", !r->d.fg_crop); break;
    case O_CENTRE: snprintf(b, n, "%d", !r->d.random_crop); break;
    case O_FLIP: snprintf(b, n, "%d", r->d.flip); break;
    default: snprintf(b, n, "?"); break;
    }
}

/* The defaults, the preset, then every option given (in the table's order,
 * so that --hidden overrides the preset wherever it stands). */
static void build(run_opts *r, const opt_args *a)
{
    memset(r, 0, sizeof *r);
    const char *preset = given(a, O_PRESET) ? a->arg[O_PRESET - OPT_BASE] : "tiny";
    emim_vit_config v;
    if (emim_vit_preset(preset, &v)) die_usage("--preset '%s': expected tiny, small or base", preset);
    snprintf(r->preset, sizeof r->preset, "%s", preset);
    const char *method = given(a, O_METHOD) ? a->arg[O_METHOD - OPT_BASE] : "emim";
    if (emim_train_config_default(&r->t, &v, method)) {
        char names[256] = "";
        for (int m = 0; m < emim_method_count(); m++)
            snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", m ? ", " : "", emim_method_name(m));
        char msg[512];
        snprintf(msg, sizeof msg, "--method '%s': expected one of %s", method, names);
        die_usage("%s", msg);
    }
    r->t.optim.lr = 1e-3f;
    r->t.sched.warmup = 20;
    r->stop = 1000;
    emim_data_config_default(&r->d);
    for (int id = OPT_BASE; id < O_END; id++)
        if (given(a, id)) {
            const char *arg = a->arg[id - OPT_BASE];
            /* a flag in the record reads "1" (given) or "0" */
            if (!OPTS[id - OPT_BASE].has_arg && arg && !strcmp(arg, "0")) continue;
            apply(r, id, arg ? arg : "");
        }
    if (!given(a, O_SCHED)) r->t.sched.steps = (int)r->stop;
    /* the method's own options */
    for (int k = 0; k < nmopts; k++) {
        if (!a->mgiven[k]) continue;
        const emim_opt_info *o;
        int n = emim_method_options(r->t.method, &o), i = 0;
        while (i < n && strcmp(o[i].name, mopts[k]->name)) i++;
        if (i == n) {
            char msg[256];
            snprintf(msg, sizeof msg, "--%s is not an option of --method %s (see --help)", mopts[k]->name,
                     emim_method_name(r->t.method));
            die_usage("%s", msg);
        }
        emim_train_config_set(&r->t, o[i].name, method_parse(&o[i], a->marg[k]), NULL, 0);
    }
    r->d.path = r->have_path ? r->path : NULL;
    r->d.modalities = r->have_mods ? r->mods : NULL;
    r->d.seed = r->t.seed;
}

/* The shape options agree with each other: a one-line error naming them. */
static int check_shape(const run_opts *r)
{
    const emim_vit_config *v = &r->t.vit;
    const char *ax = "XYZ";
    for (int k = 0; k < 3; k++)
        if (v->img[k] % v->patch[k] || v->img[k] < v->patch[k]) {
            fprintf(stderr, "%s: --img-size %d,%d,%d and --patch %d,%d,%d: axis %c (%d) is not a multiple of its "
                    "patch (%d)\n", prog, v->img[0], v->img[1], v->img[2], v->patch[0], v->patch[1], v->patch[2],
                    ax[k], v->img[k], v->patch[k]);
            return 2;
        }
    if (v->hidden % v->heads) {
        fprintf(stderr, "%s: --hidden %d is not divisible by --heads %d\n", prog, v->hidden, v->heads);
        return 2;
    }
    if (r->t.micro > r->t.batch || (r->t.micro && r->t.batch % r->t.micro)) {
        fprintf(stderr, "%s: --micro-batch %d does not divide --batch %d\n", prog, r->t.micro, r->t.batch);
        return 2;
    }
    /* the library's limits (tokens, widths) and the method's options,
     * before the data is opened; the channels are checked once the data
     * has given them */
    emim_train_config one = r->t;
    one.vit.channels = 1;
    char err[512];
    if (emim_train_config_check(&one, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return 2;
    }
    return 0;
}

/* The run record: one "name=value" line per K_RECORD option. */
static char *make_record(const run_opts *r)
{
    size_t cap = 8192 + 2 * sizeof r->path + 2 * sizeof r->mods + 2 * sizeof r->init, n = 0;
    char *s = malloc(cap), v[8192];
    if (!s) return NULL;
    s[0] = 0;
    for (int id = OPT_BASE; id < O_END; id++)
        if (OPTS[id - OPT_BASE].kind == K_RECORD) {
            fmt(r, id, v, sizeof v);
            int k = snprintf(s + n, cap - n, "%s=%s\n", opt_name(id), v);
            if (k < 0 || (size_t)k >= cap - n) { free(s); return NULL; }
            n += (size_t)k;
        }
    return s;
}

/* Reads a record into a (pointing into rec, which it edits); 0 or a message. */
static const char *read_record(char *rec, opt_args *a, char *bad, size_t badlen)
{
    for (char *line = rec, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next) *next++ = 0;
        char *eq = strchr(line, '=');
        int id = O_END;
        if (eq) {
            *eq = 0;
            for (id = OPT_BASE; id < O_END; id++)
                if (OPTS[id - OPT_BASE].kind == K_RECORD && !strcmp(opt_name(id), line)) break;
        }
        if (id == O_END) {
            snprintf(bad, badlen, "the run record has an entry this emim does not know: '%.100s'", line);
            return bad;
        }
        set_arg(a, id, eq + 1);
    }
    return NULL;
}

/* On resume: every option given must agree with the run; --steps may move
 * the end (not below the steps done). */
static int check_resume(const run_opts *ck, const run_opts *cli, const opt_args *a, long done, const char *ckpt)
{
    for (int id = OPT_BASE; id < O_END; id++) {
        if (!given(a, id) || OPTS[id - OPT_BASE].kind == K_RUNTIME || id == O_STEPS) continue;
        char x[8192], y[8192];
        fmt(cli, id, x, sizeof x);
        fmt(ck, id, y, sizeof y);
        if (strcmp(x, y)) {
            if (!OPTS[id - OPT_BASE].has_arg)
                fprintf(stderr, "%s: --resume: --%s is given, but the run in %s was started without it\n", prog,
                        opt_name(id), ckpt);
            else
                fprintf(stderr, "%s: --resume: --%s %s differs from the run's %s (%s); a run keeps its options\n",
                        prog, opt_name(id), x[0] ? x : "''", y[0] ? y : "(none)", ckpt);
            return 1;
        }
    }
    /* the method's options: against the run's method */
    for (int k = 0; k < nmopts; k++) {
        if (!a->mgiven[k]) continue;
        const emim_opt_info *o;
        int n = emim_method_options(ck->t.method, &o), i = 0;
        while (i < n && strcmp(o[i].name, mopts[k]->name)) i++;
        if (i == n) {
            fprintf(stderr, "%s: --resume: --%s is not an option of the run's method %s (%s)\n", prog, mopts[k]->name,
                    emim_method_name(ck->t.method), ckpt);
            return 1;
        }
        char x[64], y[64];
        method_value(&o[i], method_parse(&o[i], a->marg[k]), x, sizeof x);
        method_value(&o[i], ck->t.opt[i], y, sizeof y);
        if (strcmp(x, y)) {
            fprintf(stderr, "%s: --resume: --%s %s differs from the run's %s (%s); a run keeps its options\n", prog,
                    o[i].name, x, y, ckpt);
            return 1;
        }
    }
    if (given(a, O_STEPS) && cli->stop < done) {
        fprintf(stderr, "%s: --resume: --steps %ld is below the %ld steps the run has done (%s)\n", prog, cli->stop,
                done, ckpt);
        return 1;
    }
    return 0;
}

/* metrics.tsv cut back to the header and the whole lines of steps 1 ..
 * step (a run killed after its last checkpoint leaves later steps, and
 * perhaps half a line, which the resumed run writes again), through
 * PATH.tmp and a rename: a crash meanwhile leaves the old file or the new
 * one. A missing file is made with the header alone. 0, or 1 with a
 * message. */
static int cut_metrics(const char *path, long step, const char *header)
{
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *in = fopen(path, "rb");
    if (!in && errno != ENOENT) {
        fprintf(stderr, "%s: %s: cannot read: %s\n", prog, path, strerror(errno));
        return 1;
    }
    FILE *out = fopen(tmp, "wb");
    if (!out) {
        fprintf(stderr, "%s: %s: cannot write: %s\n", prog, tmp, strerror(errno));
        if (in) fclose(in);
        return 1;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int bad = 0, first = 1;
    if (!in) bad |= fputs(header, out) < 0;
    while (in && (n = getline(&line, &cap, in)) > 0) {
        if (line[n - 1] != '\n') break;              /* half a line: the crash */
        if (!first) {
            char *end;
            long s = strtol(line, &end, 10);
            if (end == line || *end != '\t' || s < 1 || s > step) break;
        }
        first = 0;
        bad |= fwrite(line, 1, (size_t)n, out) != (size_t)n;
    }
    free(line);
    if (in) fclose(in);
    bad |= fflush(out) != 0 || fsync(fileno(out)) != 0;
    bad |= fclose(out) != 0;
    if (bad || rename(tmp, path)) {
        fprintf(stderr, "%s: %s: cannot cut back to step %ld: %s\n", prog, path, step, strerror(errno));
        unlink(tmp);
        return 1;
    }
    return 0;
}

/* SIGTERM (a SLURM time limit or preemption), SIGINT and SIGUSR1 (SLURM's
 * --signal=USR1@SECONDS) end the run after the current step, with a
 * checkpoint; a second one ends it at once. */
static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
    stop_signal = sig;
    signal(sig, SIG_DFL);
}

static void catch_signals(void)
{
    static const int sigs[] = { SIGTERM, SIGINT, SIGUSR1 };
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sa.sa_flags = SA_RESTART;
        sigemptyset(&sa.sa_mask);
        sigaction(sigs[i], &sa, NULL);
    }
}

static int fail_ctx(emim_ctx *ctx)
{
    fprintf(stderr, "%s: %s\n", prog, emim_error(ctx));
    return 1;
}

/* A run's options from its checkpoint: the configuration and the record. */
static int load_run(const char *ckpt, run_opts *r, long *done)
{
    emim_options q;
    emim_options_init(&q, NULL, 0);
    q.backend = EMIM_BACKEND_CPU;
    q.verbose = 0;
    emim_ctx *ctx = make_ctx(&q, EMIM_MODE_FAST);
    emim_train_config t;
    char *rec = NULL, bad[256];
    if (emim_checkpoint_config(ctx, ckpt, &t, done, &rec)) {
        int rc = fail_ctx(ctx);
        emim_ctx_free(ctx);
        return rc;
    }
    emim_ctx_free(ctx);
    opt_args ra;
    memset(&ra, 0, sizeof ra);
    if (read_record(rec, &ra, bad, sizeof bad)) {
        fprintf(stderr, "%s: %s: %s\n", prog, ckpt, bad);
        free(rec);
        return 1;
    }
    build(r, &ra);
    free(rec);
    r->t = t; /* the model and training options: the configuration's */
    r->d.seed = t.seed;
    return 0;
}

int read_run(const char *dir, run_info *ri)
{
    memset(ri, 0, sizeof *ri);
    struct stat st;
    if (stat(dir, &st) == 0 && S_ISREG(st.st_mode)) snprintf(ri->ckpt, sizeof ri->ckpt, "%s", dir);
    else snprintf(ri->ckpt, sizeof ri->ckpt, "%s/checkpoint.emim", dir);
    if (!file_exists(ri->ckpt)) {
        fprintf(stderr, "%s: %s: no checkpoint there (not a run folder)\n", prog, ri->ckpt);
        return 1;
    }
    static run_opts r;
    if (load_run(ri->ckpt, &r, &ri->done)) return 1;
    ri->t = r.t;
    ri->d = r.d;
    ri->exact = r.exact;
    ri->stop = r.stop;
    snprintf(ri->preset, sizeof ri->preset, "%s", r.preset);
    snprintf(ri->path, sizeof ri->path, "%s", r.path);
    snprintf(ri->mods, sizeof ri->mods, "%s", r.mods);
    ri->d.path = r.have_path ? ri->path : NULL;
    ri->d.modalities = r.have_mods ? ri->mods : NULL;
    return 0;
}

int cmd_pretrain(emim_options *o, int argc, char **argv)
{
    collect_method_options();
    static struct option lo[NOPT + 2 * MAX_MOPTS + 2];
    static char noname[MAX_MOPTS][96];
    int nlo = 0;
    for (int i = 0; i < NOPT; i++)
        lo[nlo++] = (struct option){ OPTS[i].name, OPTS[i].has_arg ? required_argument : no_argument, NULL,
                                     OPT_BASE + i };
    for (int k = 0; k < nmopts; k++) {
        int flag = mopts[k]->kind == EMIM_OPT_FLAG;
        lo[nlo++] = (struct option){ mopts[k]->name, flag ? no_argument : required_argument, NULL, O_END + k };
        if (flag) {
            snprintf(noname[k], sizeof noname[k], "no-%s", mopts[k]->name);
            lo[nlo++] = (struct option){ noname[k], no_argument, NULL, O_END + 512 + k };
        }
    }
    lo[nlo++] = (struct option){ "help", no_argument, NULL, 'h' };
    lo[nlo] = (struct option){ 0, 0, 0, 0 };
    opt_args a;
    memset(&a, 0, sizeof a);
    optind = 0; /* 0: getopt starts afresh (main stopped at the command) */
    int c;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        if (c == 'h') { usage(stdout); return 0; }
        if (c >= O_END + 512 && c < O_END + 512 + nmopts) { a.mgiven[c - O_END - 512] = 1; a.marg[c - O_END - 512] = "0"; continue; }
        if (c >= O_END && c < O_END + nmopts) { a.mgiven[c - O_END] = 1; a.marg[c - O_END] = optarg ? optarg : "1"; continue; }
        if (c < OPT_BASE || c >= O_END) { fprintf(stderr, "Try '%s pretrain --help'.\n", prog); return 2; }
        set_arg(&a, c, optarg);
    }
    if (optind < argc) die_usage("pretrain: unexpected argument '%s'", argv[optind]);
    static run_opts cli, ck;
    build(&cli, &a);          /* every value is checked here, on resume too */
    const char *out = given(&a, O_OUT) ? a.arg[O_OUT - OPT_BASE] : "emim-run";
    int every = given(&a, O_EVERY) ? parse_int(a.arg[O_EVERY - OPT_BASE], "--checkpoint-every", 1, INT_MAX) : 50;
    int erank_every = given(&a, O_ERANK) ? parse_int(a.arg[O_ERANK - OPT_BASE], "--erank-every", 0, INT_MAX) : 10;
    int check_n = given(&a, O_CHECKN) ? parse_int(a.arg[O_CHECKN - OPT_BASE], "--check-samples", 0, 100000) : 32;
    if (check_n == 1) die_usage("--check-samples '%s': 0 (no check) or at least 2", "1");
    int resume = given(&a, O_RESUME);

    /* The processes: one, or MPI's ranks. Every rank checks the run and
     * opens the data alike; ranks other than 0 hold their messages until
     * the ranks agree (ranks_agree: once per rank and phase, so that a rank
     * that fails early meets the others at the phase's end), and only rank
     * 0 writes files or prints. */
    tool_ranks R;
    if (ranks_start(&R)) return 1;
    const int lead = R.rank == 0;
    ranks_hold_stderr(&R);
#define START_FAIL(x) do { int rc_ = ranks_agree(&R, (x)); ranks_end(&R); return rc_; } while (0)

    char ckpt[4096], metrics[4096];
    snprintf(ckpt, sizeof ckpt, "%s/checkpoint.emim", out);
    snprintf(metrics, sizeof metrics, "%s/metrics.tsv", out);
    if (!resume && (file_exists(ckpt) || file_exists(metrics))) {
        fprintf(stderr, "%s: %s already holds a run; use --resume to continue it or --out for a new folder\n", prog, out);
        START_FAIL(1);
    }
    if (resume && !file_exists(ckpt)) {
        fprintf(stderr, "%s: --resume: %s: no checkpoint there\n", prog, ckpt);
        START_FAIL(1);
    }
    run_opts *r = &cli;
    long done = 0;
    if (resume) {
        if (load_run(ckpt, &ck, &done)) START_FAIL(1);
        if (check_resume(&ck, &cli, &a, done, ckpt)) START_FAIL(1);
        if (given(&a, O_STEPS)) ck.stop = cli.stop;
        /* how this process runs is this invocation's */
        ck.d.threads = cli.d.threads;
        ck.d.depth = cli.d.depth;
        ck.d.cache_bytes = cli.d.cache_bytes;
        r = &ck;
    } else {
        int bad = check_shape(r);
        if (bad) START_FAIL(bad);
        if (o->mode == EMIM_MODE_EXACT) r->exact = 1; /* EMIM_EXACT=1: the run is exact */
        /* the micro-batch: in exact mode one sample, so that a run gives the
         * same bits on any number of processes; in fast mode the batch, or
         * under MPI the largest divisor of the batch that gives every rank a
         * micro-batch */
        if (!given(&a, O_MICRO)) {
            if (emim_method_whole_batch(r->t.method)) r->t.micro = 0; /* batch statistics: one pass */
            else if (r->exact) r->t.micro = 1;
            else if (R.size > 1) {
                int m = r->t.batch / R.size;
                while (m > 1 && r->t.batch % m) m--;
                r->t.micro = m < 1 ? 1 : m;
            }
        }
    }
    emim_train_config *t = &r->t;
    /* after the cosine's end the learning rate is 0 (unless the warm-up
     * outlasts the schedule: then it stays at its peak) */
    if (r->stop > t->sched.steps && emim_lr_at(t, t->sched.steps) == 0) {
        fprintf(stderr, "%s: --steps %ld runs past the end of the learning-rate schedule (%d steps, "
                "--schedule-steps): the steps after it would not change the weights\n", prog, r->stop, t->sched.steps);
        START_FAIL(resume ? 1 : 2);
    }
    /* the processes of one node share its memory and, unless their launcher
     * bound them, its cores; each takes the GPU of its place on the node */
    if (R.local_size > 1 && !given(&a, O_CACHE)) r->d.cache_bytes /= (size_t)R.local_size;
    if (!o->threads) o->threads = ranks_threads(&R);
    if (R.mpi) o->local_rank = R.local_rank;
    emim_ctx *ctx = NULL;
    {
        char cerr[4096];
        o->mode = r->exact ? EMIM_MODE_EXACT : o->mode;
        if (emim_ctx_create(&ctx, o, cerr, sizeof cerr)) {
            fprintf(stderr, "%s: %s\n", prog, cerr);
            START_FAIL(1);
        }
    }
    /* the data first: it sets the channels, and a bad dataset leaves no run folder behind */
    r->d.channels = 0;
    for (int k = 0; k < 3; k++) r->d.size[k] = t->vit.img[k];
    emim_data *data = NULL;
    char derr[2048];
    int rc = 0;
    if (emim_data_open(&data, &r->d, derr, sizeof derr)) {
        fprintf(stderr, "%s: %s\n", prog, derr);
        rc = 1;
    }
    int C = rc ? 0 : emim_data_channels(data);
    if (!rc && resume && C != t->vit.channels) {
        fprintf(stderr, "%s: --resume: the run's model takes %d channels, but its data (%s) now gives %d\n", prog,
                t->vit.channels, r->have_path ? r->path : "the built-in phantom", C);
        rc = 1;
    }
    if (!rc) {
        t->vit.channels = C;
        char verr[512];
        if (emim_vit_check(&t->vit, verr, sizeof verr)) {
            fprintf(stderr, "%s: %s\n", prog, verr);
            rc = 2;
        }
    }
    if ((rc = ranks_agree(&R, rc))) {
        emim_data_close(data);
        emim_ctx_free(ctx);
        ranks_end(&R);
        return rc;
    }

    /* the run folder (rank 0), the trainer and its share of the batch (every rank) */
    ranks_hold_stderr(&R);
    int made_dir = 0;
    if (lead && mkdir(out, 0755)) {
        if (errno != EEXIST) {
            fprintf(stderr, "%s: %s: cannot create the folder: %s\n", prog, out, strerror(errno));
            rc = 1;
        }
    } else if (lead) {
        made_dir = 1;
    }
    emim_trainer *T = NULL;
    char *record = rc ? NULL : make_record(r);
    if (!rc && !record) { fprintf(stderr, "%s: out of memory\n", prog); rc = 1; }
    else if (!rc && (emim_trainer_create(ctx, t, &T) || emim_trainer_set_record(T, record) ||
                     (R.comm && emim_trainer_set_comm(T, R.comm)) || (resume && emim_trainer_load(T, ckpt)) ||
                     (!resume && r->have_init && emim_trainer_import(T, r->init))))
        rc = fail_ctx(ctx);
    else if (!rc && !resume && r->have_init)
        printf("pretrain: the encoder starts from %s\n", r->init);
    free(record);
    long start = rc ? 0 : emim_trainer_steps_done(T);
    int first_sample = 0, nlocal = t->batch;
    if (T) emim_trainer_local_batch(T, &first_sample, &nlocal);
    if (!rc && emim_data_start_share(data, t->batch, first_sample, nlocal, (uint64_t)start, derr, sizeof derr)) {
        fprintf(stderr, "%s: %s\n", prog, derr);
        rc = 1;
    }
    /* metrics.tsv's header; on resume, the file cut back to the checkpoint's
     * step first (steps after it are written again), and what an earlier
     * run left half-written (PATH.tmp) removed */
    const char *const *terms;
    int nterms = emim_method_metrics(t->method, &terms);
    char header[1024];
    int hn = snprintf(header, sizeof header, "step\tloss");
    for (int k = 0; k < nterms; k++) hn += snprintf(header + hn, sizeof header - (size_t)hn, "\t%s", terms[k]);
    snprintf(header + hn, sizeof header - (size_t)hn, "\tlr\tgrad_norm\terank\tdata_wait\tseconds\n");
    if (!rc && lead) {
        char stale[4200];
        snprintf(stale, sizeof stale, "%s.tmp", ckpt);
        unlink(stale);
        snprintf(stale, sizeof stale, "%s.tmp", metrics);
        unlink(stale);
    }
    if (!rc && lead && resume && cut_metrics(metrics, start, header)) rc = 1;
    FILE *mf = NULL;
    if (!rc && lead && !(mf = fopen(metrics, resume ? "a" : "w"))) {
        fprintf(stderr, "%s: %s: cannot write: %s\n", prog, metrics, strerror(errno));
        rc = 1;
    }
    const int H = t->vit.img[0], W = t->vit.img[1], D = t->vit.img[2];
    size_t vol = (size_t)C * H * W * D;
    float *img = rc ? NULL : malloc(vol * (size_t)nlocal * sizeof *img);
    if (!rc && !img) { fprintf(stderr, "%s: out of memory for a batch\n", prog); rc = 1; }
    /* the effective rank: every rank's features gathered (rank order is
     * sample order) */
    size_t per = (size_t)emim_vit_tokens(&t->vit) * t->vit.hidden, nfeat = (size_t)t->batch * per;
    float *feat = NULL, *featl = NULL;
    double *sv = NULL;
    size_t *fcount = NULL, *fdispl = NULL;
    if (!rc && erank_every) {
        feat = malloc(nfeat * sizeof *feat);
        featl = R.comm ? malloc((size_t)nlocal * per * sizeof *featl) : feat;
        sv = malloc((size_t)t->vit.hidden * sizeof *sv);
        fcount = calloc(2 * (size_t)R.size, sizeof *fcount);
        if (!feat || !featl || !sv || !fcount) { fprintf(stderr, "%s: out of memory for the features\n", prog); rc = 1; }
        else fdispl = fcount + R.size;
    }
    if (R.comm && erank_every) {
        /* each rank's share of the batch, in samples (collective: every rank
         * comes here, failed or not, before the phase's agreement) */
        float *one = ranks_gather(&R, (float)nlocal);
        for (int q = 0, off = 0; fcount && q < R.size; q++) {
            fcount[q] = (size_t)one[q] * per;
            fdispl[q] = (size_t)off * per;
            off += (int)one[q];
        }
        free(one);
    }
    if ((rc = ranks_agree(&R, rc))) {
        if (mf) fclose(mf);
        if (lead && !resume) { unlink(metrics); if (made_dir) rmdir(out); } /* a run that could not start leaves nothing */
        free(img);
        free(feat);
        if (featl != feat) free(featl);
        free(sv);
        free(fcount);
        emim_data_close(data);
        emim_trainer_free(T);
        emim_ctx_free(ctx);
        ranks_end(&R);
        return rc;
    }
#undef START_FAIL
    if (!resume && mf) fputs(header, mf);
    int tty = lead && isatty(2);
    const emim_vit_config *v = &t->vit;
    char procs[160] = "";
    if (R.size > 1) {
        /* whole micro-batches each: K / R or one more */
        int m = t->micro ? t->micro : t->batch, K = t->batch / m, few = K / R.size * m,
            many = (K + R.size - 1) / R.size * m;
        if (few == many) snprintf(procs, sizeof procs, ", %d processes (MPI; %d on this node) of %d samples each",
                                  R.size, R.local_size, few);
        else snprintf(procs, sizeof procs, ", %d processes (MPI; %d on this node) of %d or %d samples", R.size,
                      R.local_size, few, many);
    }
    printf("pretrain: %smethod %s, model (preset %s): %d channel%s, %dx%dx%d in patches of %dx%dx%d (%d tokens), hidden %d, "
           "%d layers, %d heads, mlp %d; batch %d (micro-batch %d)%s, %ld steps (schedule %d), %s mode, backend %s (%s)\n",
           resume ? "resumed, " : "", emim_method_name(t->method), r->preset, C, C == 1 ? "" : "s", H, W, D, v->patch[0], v->patch[1], v->patch[2],
           emim_vit_tokens(v), v->hidden, v->layers, v->heads, v->mlp, t->batch, t->micro ? t->micro : t->batch,
           procs, r->stop, t->sched.steps, emim_get_mode(ctx) == EMIM_MODE_EXACT ? "exact" : "fast",
           emim_backend_name(ctx), emim_device_name(ctx));
    if (r->d.path)
        printf("data: %s %s, %d subjects, %d modalities to %dx%dx%d; %d loading thread%s, %d batches ahead\n",
               emim_data_kind(data), r->d.path, emim_data_subjects(data), C, H, W, D, r->d.threads,
               r->d.threads == 1 ? "" : "s", r->d.depth);
    else
        printf("data: the built-in phantom (%d contrast%s), %dx%dx%d, a new subject per sample\n", C,
               C == 1 ? "" : "s", H, W, D);
    fflush(stdout);
    /* how a rank other than 0 names itself in a message */
    char who[64] = "";
    if (R.size > 1) snprintf(who, sizeof who, " (rank %d of %d)", R.rank, R.size);
    double t0 = now_s(), first = NAN, last_sum = 0, waited = 0, last_loss = NAN, exchanged = 0;
    int last_n = 0;
    catch_signals();
    for (long s = start; s < r->stop && !rc; s++) {
        double wait = 0;
        int bad = 0;
        if (emim_data_next(data, img, &wait, derr, sizeof derr)) {
            fprintf(stderr, "%s%s%s: step %ld: %s\n", tty ? "\n" : "", prog, who, s + 1, derr);
            bad = 1;
        }
        /* a rank whose data failed stops every rank, here, before the step's exchange */
        if (ranks_count(&R, bad)) {
            if (!bad && lead) fprintf(stderr, "%s%s: step %ld: stopped: another process failed (its message above)\n",
                                      tty ? "\n" : "", prog, s + 1);
            rc = 1;
            break;
        }
        waited += wait;
        /* the effective rank of the features of this step's batch (unmasked,
         * with the weights before the step's update) */
        double erank = NAN;
        if (erank_every && (s == 0 || (s + 1) % erank_every == 0)) {
            char serr[256];
            int ferr = emim_trainer_features(T, img, -1, 0, featl) != EMIM_OK;
            if (R.comm && R.comm->allgatherv(R.comm, featl, feat, fcount, fdispl)) ranks_abort(&R, 1);
            if (ferr) emim_clear_error(ctx);
            if (lead && !ferr &&
                emim_spectrum(feat, (long)(nfeat / (size_t)t->vit.hidden), t->vit.hidden, sv, &erank, serr, sizeof serr))
                erank = NAN;
        }
        emim_step_stats st;
        if (emim_trainer_step(T, img, &st)) {
            fprintf(stderr, "%s%s%s: step %ld: %s\n", tty ? "\n" : "", prog, who, s + 1, emim_error(ctx));
            /* the other ranks may be inside the exchange: end them all */
            if (R.size > 1) ranks_abort(&R, 1);
            rc = 1;
            break;
        }
        double el = now_s() - t0;
        int werr = 0;
        if (lead) {
            fprintf(mf, "%ld\t%.9g", s + 1, st.loss);
            for (int k = 0; k < st.n; k++) fprintf(mf, "\t%.9g", st.value[k]);
            fprintf(mf, "\t%.9g\t%.9g\t%.6g\t%.4f\t%.3f\n", st.lr, st.grad_norm, erank, wait, el);
            if (fflush(mf) || ferror(mf)) {
                /* a full or failing disk: stop; the last checkpoint stays whole
                 * and --resume cuts metrics.tsv back to it */
                fprintf(stderr, "%s%s: %s: cannot write step %ld: %s\n", tty ? "\n" : "", prog, metrics, s + 1,
                        strerror(errno));
                werr = 1;
            }
        }
        if (isnan(first)) first = st.loss;
        last_loss = st.loss;
        exchanged += st.exchange_s;
        if (s >= r->stop - 10) { last_sum += st.loss; last_n++; }
        long k = s - start + 1, total = r->stop - start;
        if (tty) {
            int w = (int)(30 * k / total);
            fprintf(stderr, "\r[%.*s%.*s] step %ld/%ld  loss %.5f  %.2f steps/s ", w, "##############################",
                    30 - w, "..............................", s + 1, r->stop, st.loss, k / el);
        } else if (k == 1 || k == total || k % (total / 20 > 0 ? total / 20 : 1) == 0) {
            printf("step %ld/%ld  loss %.6f ", s + 1, r->stop, st.loss);
            for (int q = 0; q < st.n; q++) printf(" %s %.6f", terms[q], st.value[q]);
            printf("  lr %.3g  %.1f s\n", st.lr, el);
            fflush(stdout);
        }
        /* a signal on any rank stops every rank after this step, with a checkpoint */
        int sig = stop_signal, agreed[2] = { sig != 0, werr };
        ranks_counts(&R, agreed, 2);
        int nsig = agreed[0];
        if (agreed[1]) { rc = 1; break; }
        if ((s + 1) % every == 0 || s + 1 == r->stop || nsig) {
            int serr = 0;
            if (lead && emim_trainer_save(T, ckpt)) {
                fprintf(stderr, "%s%s: %s\n", tty ? "\n" : "", prog, emim_error(ctx));
                serr = 1;
            }
            if (ranks_count(&R, serr)) { rc = 1; break; }
        }
        if (nsig && s + 1 < r->stop) {
            if (lead)
                fprintf(stderr, "%s%s: %s: stopped after step %ld of %ld with a checkpoint; '%s pretrain --resume "
                        "--out %s' continues the run\n", tty ? "\n" : "", prog, sig ? strsignal(sig) : "a signal "
                        "to another process", s + 1, r->stop, prog, out);
            break; /* exit 0: SLURM chains (--dependency=afterok) go on to the --resume job */
        }
    }
    /* every rank's time in the exchange: the least is the exchange's own
     * cost (that rank arrived last and waited for no one), the most adds
     * the waiting for slower ranks */
    double ex_lo = exchanged, ex_hi = exchanged;
    if (R.comm && !rc) { /* rc is every rank's here (agreed on in the loop) */
        float *all = ranks_gather(&R, (float)exchanged);
        for (int q = 0; q < R.size; q++) {
            if (all[q] < ex_lo) ex_lo = all[q];
            if (all[q] > ex_hi) ex_hi = all[q];
        }
        free(all);
    }
    if (tty) fprintf(stderr, "\n");
    double el = now_s() - t0;
    long ran = emim_trainer_steps_done(T) - start;
    if (mf && fclose(mf) && !rc) {
        fprintf(stderr, "%s: %s: cannot write: %s\n", prog, metrics, strerror(errno));
        rc = 1;
    }
    /* what follows is rank 0's alone: the collapse check on one process */
    if (lead && R.comm) emim_trainer_set_comm(T, NULL);
    if (lead && !rc && ran > 0) {
        char lastpart[96];
        if (last_n) snprintf(lastpart, sizeof lastpart, "%.6f over the last %d", last_sum / last_n, last_n);
        else snprintf(lastpart, sizeof lastpart, "%.6f at step %ld", last_loss, emim_trainer_steps_done(T));
        printf("done: loss %.6f at the first step, %s; %.2f steps/s (%.2f volumes/s); waited %.1f s for data "
               "(%.1f%% of the time); checkpoint %s, metrics %s\n", first, lastpart, ran / el, ran * t->batch / el,
               waited, 100 * waited / el, ckpt, metrics);
        if (R.size > 1)
            printf("ranks: the gradients' exchange (%s) took %.2f s on the rank that waited least (%.1f%% of the "
                   "time), %.2f s on the one that waited most (%.1f%%)\n",
                   emim_get_mode(ctx) == EMIM_MODE_EXACT ? "exact: the tree completed per slice" : "fast: allreduce",
                   ex_lo, 100 * ex_lo / el, ex_hi, 100 * ex_hi / el);
        if (check_n && last_n) rc = collapse_check(T, data, t, check_n, out);
    }
    else if (lead && !rc) {
        /* nothing to run: the record may still have moved (--steps) */
        if (emim_trainer_save(T, ckpt)) rc = fail_ctx(ctx);
        else printf("done: the run is at step %ld of %ld\n", emim_trainer_steps_done(T), r->stop);
    }
    free(img);
    free(feat);
    if (featl != feat) free(featl);
    free(sv);
    free(fcount);
    emim_data_close(data);
    emim_trainer_free(T);
    emim_ctx_free(ctx);
    ranks_end(&R);
    return rc;
}
