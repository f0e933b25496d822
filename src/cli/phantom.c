/* emim phantom: the built-in phantom as a BraTS-layout folder of NIfTI files. */
#include "cli/tool.h"
#include "data/data.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void usage(FILE *f)
{
    fprintf(f, "Usage: %s phantom --out=DIR [OPTIONS]\n"
               "Writes the built-in phantom as a BraTS-layout folder of NIfTI files: DIR/PHANTOM-00000-000/\n"
               "PHANTOM-00000-000-t1n.nii.gz and likewise t1c, t2w, t2f, and seg (1 oedema, 2 enhancing rim,\n"
               "3 necrotic core), and DIR/labels.tsv (subject, label): the downstream task of emim probe, 1 when\n"
               "the subject's lesion is large (radius above the median of the phantom's), else 0.\n"
               "\n"
               "  --out=DIR          the folder to create (required; must not exist)\n"
               "  --subjects=N       subjects [8]\n"
               "  --size=X[,Y,Z]     voxels per axis (1 mm) [96,96,72]\n"
               "  --modalities=N     the first N contrasts of t1n, t1c, t2w, t2f [4]\n"
               "  --seed=N           [1]\n"
               "  --no-gzip          write .nii instead of .nii.gz\n",
            prog);
}

int cmd_phantom(int argc, char **argv)
{
    const char *out = NULL;
    int n = 8, gz = 1, C = EMIM_PHANTOM_CONTRASTS;
    float size[3] = { 96, 96, 72 };
    unsigned long long seed = 1;
    enum { O_OUT = 256, O_SUBJECTS, O_SIZE, O_SEED, O_NOGZ, O_MODS };
    static const struct option lo[] = {
        { "out", required_argument, NULL, O_OUT }, { "subjects", required_argument, NULL, O_SUBJECTS },
        { "size", required_argument, NULL, O_SIZE }, { "seed", required_argument, NULL, O_SEED },
        { "no-gzip", no_argument, NULL, O_NOGZ }, { "modalities", required_argument, NULL, O_MODS }, { "help", no_argument, NULL, 'h' }, { 0, 0, 0, 0 },
    };
    optind = 0; /* 0: getopt starts afresh (main stopped at the command) */
    int c;
    while ((c = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        switch (c) {
        case O_OUT: out = optarg; break;
        case O_SUBJECTS: n = parse_int(optarg, "--subjects", 1, 100000); break;
        case O_SIZE: parse_floats(optarg, "--size", size, 3, 1, 4, 1024); break;
        case O_SEED: seed = parse_u64(optarg, "--seed"); break;
        case O_NOGZ: gz = 0; break;
        case O_MODS: C = parse_int(optarg, "--modalities", 1, EMIM_PHANTOM_CONTRASTS); break;
        case 'h': usage(stdout); return 0;
        default: fprintf(stderr, "Try '%s --help'.\n", prog); exit(2);
        }
    }
    if (optind < argc) die_usage("phantom: unexpected argument '%s'", argv[optind]);
    if (!out) die_usage("phantom: --out=DIR is required%s", "");
    int H = (int)size[0], W = (int)size[1], D = (int)size[2];
    if (H != size[0] || W != size[1] || D != size[2]) die_usage("--size: whole numbers of voxels%s", "");
    if ((double)H * W * D > (double)(1u << 30)) die_usage("--size: at most 2^30 voxels%s", "");
    if (mkdir(out, 0755)) {
        fprintf(stderr, "%s: %s: %s\n", prog, out,
                errno == EEXIST ? "already exists; the phantom goes into a new folder" : strerror(errno));
        return 1;
    }
    size_t nv = (size_t)H * W * D;
    float *img = malloc((size_t)C * nv * sizeof *img), *seg = malloc(nv * sizeof *seg);
    uint8_t *lab = malloc(nv);
    if (!img || !seg || !lab) {
        fprintf(stderr, "%s: out of memory for a %dx%dx%d phantom\n", prog, H, W, D);
        return 1;
    }
    /* BraTS 2023 names; intensities in scanner-like ranges; zero background
     * (BraTS volumes are skull-stripped); 1 mm voxels centred on the origin */
    static const char *mods[4] = { "t1n", "t1c", "t2w", "t2f" };
    static const float scale[4] = { 900, 1100, 1400, 700 };
    emim_volume v;
    memset(&v, 0, sizeof v);
    v.nx = H; v.ny = W; v.nz = D; v.nc = 1;
    v.pixdim[0] = v.pixdim[1] = v.pixdim[2] = 1;
    v.qform_code = v.sform_code = 1;
    v.qfac = 1;
    for (int a = 0; a < 3; a++) {
        v.qoffset[a] = -(float)(a == 0 ? H : a == 1 ? W : D) / 2;
        v.srow[a][a] = 1;
        v.srow[a][3] = v.qoffset[a];
    }
    int tty = isatty(2), rc = 0;
    char path[8192], err[1024];
    for (int i = 0; i < n && !rc; i++) {
        char name[64];
        snprintf(name, sizeof name, "PHANTOM-%05d-000", i);
        snprintf(path, sizeof path, "%s/%s", out, name);
        if (mkdir(path, 0755)) {
            fprintf(stderr, "%s: %s: cannot create: %s\n", prog, path, strerror(errno));
            rc = 1;
            break;
        }
        emim_phantom(img, lab, C, H, W, D, seed, (uint64_t)i);
        for (size_t k = 0; k < nv; k++) {
            seg[k] = lab[k] >= EMIM_TISSUE_OEDEMA ? (float)(lab[k] - EMIM_TISSUE_OEDEMA + 1) : 0.0f;
            for (int m = 0; m < C; m++)
                img[(size_t)m * nv + k] = lab[k] == EMIM_TISSUE_BACKGROUND ? 0.0f : img[(size_t)m * nv + k] * scale[m];
        }
        for (int m = 0; m <= C && !rc; m++) { /* the contrasts, then seg */
            snprintf(path, sizeof path, "%s/%s/%s-%s.nii%s", out, name, name, m < C ? mods[m] : "seg", gz ? ".gz" : "");
            v.data = m < C ? img + (size_t)m * nv : seg;
            if ((m < C ? emim_nifti_write(path, &v, err, sizeof err)
                       : emim_nifti_write_as(path, &v, 2, 1, 0, 0, err, sizeof err))) {
                fprintf(stderr, "%s: %s\n", prog, err);
                rc = 1;
            }
        }
        if (tty) fprintf(stderr, "\rwriting subject %d/%d ", i + 1, n);
    }
    if (tty) fprintf(stderr, "\n");
    /* the downstream labels (emim_phantom_label: the lesion's size class) */
    char *tsv = rc ? NULL : malloc((size_t)n * 32 + 64);
    if (!rc && !tsv) { fprintf(stderr, "%s: out of memory\n", prog); rc = 1; }
    if (tsv) {
        size_t len = (size_t)sprintf(tsv, "subject\tlabel\n");
        for (int i = 0; i < n; i++)
            len += (size_t)sprintf(tsv + len, "PHANTOM-%05d-000\t%d\n", i, emim_phantom_label(seed, (uint64_t)i));
        snprintf(path, sizeof path, "%s/labels.tsv", out);
        if (write_file_atomic(path, tsv)) {
            fprintf(stderr, "%s: %s: cannot write: %s\n", prog, path, strerror(errno));
            rc = 1;
        }
        free(tsv);
    }
    if (!rc)
        printf("wrote %d subjects of %dx%dx%d voxels to %s (%s%s%s%s and seg per subject) and labels.tsv\n", n, H, W, D, out,
               mods[0], C > 1 ? ", t1c" : "", C > 2 ? ", t2w" : "", C > 3 ? ", t2f" : "");
    free(img);
    free(seg);
    free(lab);
    return rc;
}
