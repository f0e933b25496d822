/* emim probe: does pretraining help? A linear probe of the frozen encoder's
 * features per subject, for a run's checkpoint and, beside it, for a fresh
 * initialisation of the same model, on the same folds (src/eval/probe.c). */
#include "cli/tool.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: %s [GLOBAL OPTIONS] probe RUN [OPTIONS]\n"
            "Linear probing of the frozen encoder of RUN (a run folder or checkpoint file) against a fresh\n"
            "initialisation of the same model (the weights the run started from): one feature vector per\n"
            "subject (the mean over the tokens of the encoder's output, of block L's hidden state, or of\n"
            "several, concatenated), standardised, an L2-regularised logistic regression (Newton's method;\n"
            "one head per class against the rest for more than two classes), k-fold cross-validation\n"
            "stratified by label, the same folds for both encoders. A table of AUC (one-vs-rest mean for\n"
            "several classes) and accuracy, mean and standard deviation over the folds, one summary line,\n"
            "and DIR/probe.tsv (a row per encoder and fold).\n"
            "Data: --data, else the run's own. Labels: --labels, else DATA/labels.tsv; for a run on the\n"
            "built-in phantom, its subjects 0 .. N-1 and their lesion-size labels (as emim phantom writes).\n"
            "\n"
            "  --data=PATH                a dataset (folder or .tsv list) instead of the run's own\n"
            "  --labels=FILE              lines subject<TAB>label (an optional 'subject' header; '#' comments);\n"
            "                             any two or more distinct labels\n"
            "  --subjects=N               built-in phantom: its first N subjects [40]\n"
            "  --layer=L[,L...]           the features after block L (0-based; -1: the output), several\n"
            "                             concatenated [-1]\n"
            "  --levels                   the pyramid levels, concatenated: the blocks E-MIM's PBT takes (an\n"
            "                             E-MIM run's own; else every layers/4 blocks, or /3, /2, /1)\n"
            "  --folds=K                  cross-validation folds [5]\n"
            "  --seed=N                   the folds' seed [1]\n"
            "  --l2=X                     the penalty (X/2)|w|^2 beside the mean log-loss [0.01]\n"
            "  --save-features            also write each encoder's features: DIR/features-checkpoint.tsv and\n"
            "                             DIR/features-initialisation.tsv (subject, label, one column each)\n"
            "  --out=DIR                  [probe]\n",
            prog);
}

typedef struct {
    int n, classes;
    char **name;      /* subject names [n] */
    int *y;           /* class per subject [n] */
    char **cls;       /* class names [classes], sorted */
} labelled;

static void labelled_free(labelled *L)
{
    for (int i = 0; i < L->n && L->name; i++) free(L->name[i]);
    for (int c = 0; c < L->classes && L->cls; c++) free(L->cls[c]);
    free(L->name);
    free(L->cls);
    free(L->y);
}

static int by_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* The label of every subject from FILE; raw [n] receives each subject's
 * label text (owned by the caller). 0, or 1 after printing why. */
static int read_labels(const char *file, const labelled *L, const char *data, char **raw)
{
    FILE *f = fopen(file, "r");
    if (!f) {
        fprintf(stderr, "%s: %s: cannot read the labels: %s\n", prog, file, strerror(errno));
        return 1;
    }
    int *line_of = calloc((size_t)L->n, sizeof *line_of);
    char buf[8192];
    long lineno = 0;
    int rc = line_of ? 0 : 1, header_ok = 1;
    while (!rc && fgets(buf, sizeof buf, f)) {
        lineno++;
        size_t len = strlen(buf);
        if (len == sizeof buf - 1 && buf[len - 1] != '\n') {
            fprintf(stderr, "%s: %s:%ld: a line longer than %zu characters\n", prog, file, lineno, sizeof buf - 2);
            rc = 1;
            break;
        }
        while (len && (buf[len - 1] == '\n' || buf[len - 1] == '\r')) buf[--len] = 0;
        if (!len || buf[0] == '#') continue;
        char *tab = strchr(buf, '\t');
        if (!tab || strchr(tab + 1, '\t') || tab == buf || !tab[1]) {
            fprintf(stderr, "%s: %s:%ld: expected subject<TAB>label\n", prog, file, lineno);
            rc = 1;
            break;
        }
        *tab = 0;
        const char *subj = buf, *lab = tab + 1;
        if (header_ok && !strcasecmp(subj, "subject")) { header_ok = 0; continue; }
        header_ok = 0;
        int k = 0;
        while (k < L->n && strcmp(L->name[k], subj)) k++;
        if (k == L->n) {
            fprintf(stderr, "%s: %s:%ld: subject '%s' is not in the data (%s)\n", prog, file, lineno, subj, data);
            rc = 1;
        } else if (line_of[k]) {
            fprintf(stderr, "%s: %s:%ld: subject '%s' is labelled twice (first on line %d)\n", prog, file, lineno,
                    subj, line_of[k]);
            rc = 1;
        } else if (!(raw[k] = strdup(lab))) {
            fprintf(stderr, "%s: out of memory\n", prog);
            rc = 1;
        } else line_of[k] = (int)lineno;
    }
    if (!rc && ferror(f)) {
        fprintf(stderr, "%s: %s: read error\n", prog, file);
        rc = 1;
    }
    fclose(f);
    int missing = 0, first = -1;
    for (int k = 0; k < L->n && !rc; k++)
        if (!raw[k]) { missing++; if (first < 0) first = k; }
    if (missing) {
        fprintf(stderr, "%s: %s: no label for %d of the %d subjects of %s (the first: '%s')\n", prog, file, missing,
                L->n, data, L->name[first]);
        rc = 1;
    }
    free(line_of);
    return rc;
}

/* The classes of raw labels (sorted names), checked for a probe of `folds`
 * folds. 0, or 1 after printing why (naming `file`). */
static int classify(labelled *L, char **raw, int folds, const char *file)
{
    char **sorted = malloc((size_t)L->n * sizeof *sorted);
    L->cls = malloc((size_t)L->n * sizeof *L->cls);
    L->y = malloc((size_t)L->n * sizeof *L->y);
    if (!sorted || !L->cls || !L->y) {
        free(sorted);
        fprintf(stderr, "%s: out of memory\n", prog);
        return 1;
    }
    memcpy(sorted, raw, (size_t)L->n * sizeof *sorted);
    qsort(sorted, (size_t)L->n, sizeof *sorted, by_str);
    L->classes = 0;
    for (int i = 0; i < L->n; i++)
        if (i == 0 || strcmp(sorted[i], sorted[i - 1])) L->cls[L->classes++] = strdup(sorted[i]);
    free(sorted);
    for (int c = 0; c < L->classes; c++)
        if (!L->cls[c]) { fprintf(stderr, "%s: out of memory\n", prog); return 1; }
    for (int i = 0; i < L->n; i++) {
        char **hit = bsearch(&raw[i], L->cls, (size_t)L->classes, sizeof *L->cls, by_str);
        L->y[i] = (int)(hit - L->cls);
    }
    if (L->n < folds) {
        fprintf(stderr, "%s: %s: %d subjects, fewer than the %d folds (--folds)\n", prog, file, L->n, folds);
        return 1;
    }
    if (L->classes < 2) {
        fprintf(stderr, "%s: %s: every subject has the label '%s': a probe needs two classes or more\n", prog, file,
                L->cls[0]);
        return 1;
    }
    for (int c = 0; c < L->classes; c++) {
        int m = 0;
        for (int i = 0; i < L->n; i++) m += L->y[i] == c;
        if (m < folds) {
            fprintf(stderr, "%s: %s: class '%s' has %d subjects, fewer than the %d folds (--folds): every fold "
                            "needs each class\n", prog, file, L->cls[c], m, folds);
            return 1;
        }
    }
    return 0;
}

static void mean_sd(const double *v, int n, double *m, double *sd)
{
    double s = 0, q = 0;
    for (int i = 0; i < n; i++) s += v[i];
    s /= n;
    for (int i = 0; i < n; i++) q += (v[i] - s) * (v[i] - s);
    *m = s;
    *sd = n > 1 ? sqrt(q / (n - 1)) : 0;
}

int cmd_probe(emim_options *o, int argc, char **argv)
{
    const char *data_path = NULL, *labels_file = NULL, *out = "probe";
    enum { MAXL = 64 };
    int lay[MAXL] = { -1 }, nl = 1, levels = 0, folds = 5, nphantom = 40, save = 0;
    unsigned long long seed = 1;
    double l2 = 1e-2;
    enum { O_DATA = 256, O_LABELS, O_SUBJECTS, O_LAYER, O_FOLDS, O_SEED, O_L2, O_OUT, O_LEVELS, O_SAVE };
    static const struct option lo[] = {
        { "data", required_argument, NULL, O_DATA }, { "labels", required_argument, NULL, O_LABELS },
        { "subjects", required_argument, NULL, O_SUBJECTS }, { "layer", required_argument, NULL, O_LAYER },
        { "folds", required_argument, NULL, O_FOLDS }, { "seed", required_argument, NULL, O_SEED },
        { "l2", required_argument, NULL, O_L2 }, { "out", required_argument, NULL, O_OUT },
        { "levels", no_argument, NULL, O_LEVELS }, { "save-features", no_argument, NULL, O_SAVE },
        { "help", no_argument, NULL, 'h' }, { 0, 0, 0, 0 },
    };
    optind = 0; /* 0: getopt starts afresh (main stopped at the command) */
    int c;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case O_DATA: data_path = optarg; break;
        case O_LABELS: labels_file = optarg; break;
        case O_SUBJECTS: nphantom = parse_int(optarg, "--subjects", 2, 1000000); break;
        case O_LAYER: {
            nl = 1;
            for (const char *p = optarg; *p; p++) nl += *p == ',';
            if (nl > MAXL) die_usage("probe: --layer %s: at most 64 layers", optarg);
            parse_ints(optarg, "--layer", lay, nl, 0, -1, 1023);
            levels = 0;
            break;
        }
        case O_LEVELS: levels = 1; break;
        case O_SAVE: save = 1; break;
        case O_FOLDS: folds = parse_int(optarg, "--folds", 2, 1000); break;
        case O_SEED: seed = parse_u64(optarg, "--seed"); break;
        case O_L2: l2 = parse_float(optarg, "--l2", 1e-12, 1e12); break;
        case O_OUT: out = optarg; break;
        case 'h': usage(stdout); return 0;
        default: fprintf(stderr, "Try '%s probe --help'.\n", prog); return 2;
        }
    }
    if (argc - optind != 1) die_usage("probe: name one run folder or checkpoint%s", "");
    const char *run = argv[optind];
    static run_info ri;
    if (read_run(run, &ri)) return 1;
    emim_train_config t = ri.t;
    if (levels && ((nl = emim_pyramid_blocks(&t, NULL)) < 1 || nl > MAXL || emim_pyramid_blocks(&t, lay) != nl)) {
        fprintf(stderr, "%s: --levels: %s has no pyramid of at most %d levels\n", prog, ri.ckpt, MAXL);
        return 2;
    }
    for (int l = 0; l < nl; l++) {
        if (lay[l] >= t.vit.layers) {
            fprintf(stderr, "%s: --layer %d: %s has layers 0 to %d (-1: the output)\n", prog, lay[l], ri.ckpt,
                    t.vit.layers - 1);
            return 2;
        }
        for (int m = 0; m < l; m++)
            if (lay[m] == lay[l]) {
                fprintf(stderr, "%s: --layer: %d is named twice\n", prog, lay[l]);
                return 2;
            }
    }
    if (data_path) { ri.d.path = data_path; }
    int phantom = ri.d.path == NULL;
    char data_label[4200], labels_buf[4300];
    snprintf(data_label, sizeof data_label, "%s", phantom ? "the built-in phantom" : ri.d.path);

    /* the data: the phantom's first subjects, or the dataset's every subject */
    ri.d.threads = 0;
    ri.d.random_crop = 0;
    ri.d.flip = 0;
    for (int k = 0; k < 3; k++) ri.d.size[k] = t.vit.img[k];
    ri.d.channels = t.vit.channels;
    emim_data *data = NULL;
    char err[4096];
    if (emim_data_open(&data, &ri.d, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return 1;
    }
    labelled L;
    memset(&L, 0, sizeof L);
    L.n = phantom ? nphantom : emim_data_subjects(data);
    L.name = calloc((size_t)L.n, sizeof *L.name);
    char **raw = calloc((size_t)L.n, sizeof *raw);
    int rc = L.name && raw ? 0 : 1;
    for (int i = 0; i < L.n && !rc; i++) {
        char nm[64];
        if (phantom) snprintf(nm, sizeof nm, "PHANTOM-%05d-000", i);
        if (!(L.name[i] = strdup(phantom ? nm : emim_data_subject(data, i)))) rc = 1;
    }
    if (rc) fprintf(stderr, "%s: out of memory\n", prog);

    /* the labels: --labels, DATA/labels.tsv, or the phantom's own */
    const char *lf = labels_file;
    if (!rc && !lf && !phantom) {
        struct stat st;
        snprintf(labels_buf, sizeof labels_buf, "%s/labels.tsv", ri.d.path);
        if (stat(ri.d.path, &st) == 0 && S_ISDIR(st.st_mode) && file_exists(labels_buf)) lf = labels_buf;
        else {
            fprintf(stderr, "%s: %s: no labels.tsv there: give --labels FILE (lines subject<TAB>label)\n", prog,
                    ri.d.path);
            rc = 1;
        }
    }
    if (!rc && lf) rc = read_labels(lf, &L, data_label, raw);
    else if (!rc) {
        for (int i = 0; i < L.n && !rc; i++) {
            raw[i] = strdup(emim_phantom_label(ri.d.seed, (uint64_t)i) ? "1" : "0");
            if (!raw[i]) { fprintf(stderr, "%s: out of memory\n", prog); rc = 1; }
        }
    }
    const char *lname = lf ? lf : "the built-in phantom's labels";
    if (!rc) rc = classify(&L, raw, folds, lname);
    for (int i = 0; i < L.n && raw; i++) free(raw[i]);
    free(raw);

    /* the features: each subject's mean token of every chosen layer, side
     * by side, with the run's weights and with a fresh initialisation, in
     * whole batches (the last padded with its first subject, whose features
     * are not kept) */
    o->verbose = 0;
    emim_ctx *ctx = rc ? NULL : make_ctx(o, ri.exact ? EMIM_MODE_EXACT : o->mode);
    emim_trainer *T = NULL;
    if (!rc && (emim_trainer_create(ctx, &t, &T) || emim_trainer_load(T, ri.ckpt))) {
        fprintf(stderr, "%s: %s\n", prog, emim_error(ctx));
        rc = 1;
    }
    int B = t.batch, N = emim_vit_tokens(&t.vit), h = t.vit.hidden, dim = nl * h;
    size_t vol = (size_t)t.vit.channels * t.vit.img[0] * t.vit.img[1] * t.vit.img[2];
    float *img = rc ? NULL : malloc(vol * B * sizeof *img), *feat = rc ? NULL : malloc((size_t)B * N * h * sizeof *feat);
    double *x[2] = { rc ? NULL : malloc((size_t)L.n * dim * sizeof(double)),
                     rc ? NULL : malloc((size_t)L.n * dim * sizeof(double)) };
    if (!rc && (!img || !feat || !x[0] || !x[1])) { fprintf(stderr, "%s: out of memory for the features\n", prog); rc = 1; }
    for (int b0 = 0; b0 < L.n && !rc; b0 += B) {
        int nb = L.n - b0 < B ? L.n - b0 : B;
        for (int k = 0; k < nb && !rc; k++) {
            float *dst = img + (size_t)k * vol;
            if (phantom ? emim_data_sample(data, (uint64_t)(b0 + k), dst, err, sizeof err)
                        : emim_data_subject_window(data, b0 + k, dst, NULL, err, sizeof err)) {
                fprintf(stderr, "%s: %s\n", prog, err);
                rc = 1;
            }
        }
        for (int k = nb; k < B && !rc; k++) memcpy(img + (size_t)k * vol, img, vol * sizeof *img);
        for (int e = 0; e < 2 && !rc; e++)
            for (int l = 0; l < nl && !rc; l++) {
                if (emim_trainer_features(T, img, lay[l], e, feat)) {
                    fprintf(stderr, "%s: %s\n", prog, emim_error(ctx));
                    rc = 1;
                    break;
                }
                for (int k = 0; k < nb; k++)
                    for (int j = 0; j < h; j++) {
                        double s = 0;
                        for (int q = 0; q < N; q++) s += feat[((size_t)k * N + q) * h + j];
                        x[e][(size_t)(b0 + k) * dim + (size_t)l * h + j] = s / N;
                    }
            }
    }
    free(img);
    free(feat);
    emim_trainer_free(T);
    emim_data_close(data);
    if (ctx) emim_ctx_free(ctx);

    /* the probes, on the same folds */
    double *auc = malloc(2 * (size_t)folds * sizeof *auc), *acc = malloc(2 * (size_t)folds * sizeof *acc);
    int *fold = malloc((size_t)(L.n > 0 ? L.n : 1) * sizeof *fold);
    if (!rc && (!auc || !acc || !fold)) { fprintf(stderr, "%s: out of memory\n", prog); rc = 1; }
    if (!rc && emim_probe_folds(L.y, L.n, L.classes, folds, seed, fold, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", prog, err);
        rc = 1;
    }
    for (int e = 0; e < 2 && !rc; e++)
        if (emim_probe_cv(x[e], L.y, L.n, dim, L.classes, folds, seed, l2, auc + (size_t)e * folds,
                          acc + (size_t)e * folds, err, sizeof err)) {
            fprintf(stderr, "%s: %s\n", prog, err);
            rc = 1;
        }
    if (!rc) {
        char lab[2][4300];
        snprintf(lab[0], sizeof lab[0], "%.4000s, step %ld", run, ri.done);
        snprintf(lab[1], sizeof lab[1], "initialisation (seed %llu)", (unsigned long long)t.seed);
        double am[2], as[2], cm[2], cs[2];
        for (int e = 0; e < 2; e++) {
            mean_sd(auc + (size_t)e * folds, folds, &am[e], &as[e]);
            mean_sd(acc + (size_t)e * folds, folds, &cm[e], &cs[e]);
        }
        char what[1024], lays[800];
        size_t wl = 0;
        for (int l = 0; l < nl; l++)
            wl += (size_t)snprintf(lays + wl, sizeof lays - wl, "%s%d", l ? "," : "", lay[l]);
        if (nl == 1 && lay[0] < 0) snprintf(what, sizeof what, "mean output token");
        else if (nl == 1) snprintf(what, sizeof what, "mean hidden state of block %d", lay[0]);
        else snprintf(what, sizeof what, "%s, mean tokens of blocks %s", levels ? "pyramid levels" : "layers", lays);
        printf("%d subjects of %s, %d classes (%s), %d folds (seed %llu), features: %s (%d), l2 %g\n", L.n,
               data_label, L.classes, lname, folds, seed, what, dim, l2);
        printf("%-48s %-18s %s\n", "encoder", "AUC", "accuracy");
        for (int e = 0; e < 2; e++)
            printf("%-48s %.3f \xc2\xb1 %.3f      %.3f \xc2\xb1 %.3f\n", lab[e], am[e], as[e], cm[e], cs[e]);
        if (mkdir(out, 0755) && errno != EEXIST) {
            fprintf(stderr, "%s: %s: cannot create the folder: %s\n", prog, out, strerror(errno));
            rc = 1;
        }
        size_t cap = 8192 + (size_t)folds * 2 * 128, len = 0;
        char *text = rc ? NULL : malloc(cap), tsv[4200];
        snprintf(tsv, sizeof tsv, "%s/probe.tsv", out);
        if (text) {
            len += (size_t)snprintf(text + len, cap - len,
                                    "# run %s (step %ld); %d subjects, %d classes; %d folds, seed %llu; layer %s; l2 %g\n"
                                    "encoder\tfold\ttest\tauc\taccuracy\n",
                                    ri.ckpt, ri.done, L.n, L.classes, folds, seed, lays, l2);
            for (int e = 0; e < 2; e++)
                for (int f = 0; f < folds; f++) {
                    int nt = 0;
                    for (int i = 0; i < L.n; i++) nt += fold[i] == f;
                    len += (size_t)snprintf(text + len, cap - len, "%s\t%d\t%d\t%.6f\t%.6f\n",
                                            e ? "initialisation" : "checkpoint", f + 1, nt,
                                            auc[(size_t)e * folds + f], acc[(size_t)e * folds + f]);
                }
            if (write_file_atomic(tsv, text)) {
                fprintf(stderr, "%s: %s: cannot write: %s\n", prog, tsv, strerror(errno));
                rc = 1;
            }
        } else if (!rc) {
            fprintf(stderr, "%s: out of memory\n", prog);
            rc = 1;
        }
        free(text);
        for (int e = 0; e < 2 && save && !rc; e++) { /* the features, as the probes saw them (before standardising) */
            size_t fcap = 256 + (size_t)dim * 24 + (size_t)L.n * (8 + (size_t)dim * 18), fl = 0;
            for (int i = 0; i < L.n; i++) fcap += strlen(L.name[i]) + strlen(L.cls[L.y[i]]);
            char *ft = malloc(fcap), path[4300];
            if (!ft) {
                fprintf(stderr, "%s: out of memory for the features' file\n", prog);
                rc = 1;
                break;
            }
            fl += (size_t)snprintf(ft + fl, fcap - fl, "subject\tlabel");
            for (int l = 0; l < nl; l++)
                for (int j = 0; j < h; j++)
                    fl += lay[l] < 0 ? (size_t)snprintf(ft + fl, fcap - fl, "\tout.%d", j)
                                     : (size_t)snprintf(ft + fl, fcap - fl, "\tblock%d.%d", lay[l], j);
            for (int i = 0; i < L.n; i++) {
                fl += (size_t)snprintf(ft + fl, fcap - fl, "\n%s\t%s", L.name[i], L.cls[L.y[i]]);
                for (int j = 0; j < dim; j++) fl += (size_t)snprintf(ft + fl, fcap - fl, "\t%.9g", x[e][(size_t)i * dim + j]);
            }
            snprintf(ft + fl, fcap - fl, "\n");
            snprintf(path, sizeof path, "%s/features-%s.tsv", out, e ? "initialisation" : "checkpoint");
            if (write_file_atomic(path, ft)) {
                fprintf(stderr, "%s: %s: cannot write: %s\n", prog, path, strerror(errno));
                rc = 1;
            }
            free(ft);
        }
        if (!rc)
            printf("probe: AUC %.3f \xc2\xb1 %.3f (checkpoint) vs %.3f \xc2\xb1 %.3f (initialisation), accuracy %.3f vs "
                   "%.3f; wrote %s\n", am[0], as[0], am[1], as[1], cm[0], cm[1], tsv);
    }
    free(x[0]);
    free(x[1]);
    free(auc);
    free(acc);
    free(fold);
    labelled_free(&L);
    return rc;
}
