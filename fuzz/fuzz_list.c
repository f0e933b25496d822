/* libFuzzer: the TSV subject list (emim pretrain --data=LIST.tsv): the
 * input is the list, opened by emim_data_open (src/data/dataset.c: the
 * lines, comments, the header, the fields, the paths made relative to the
 * list's folder, then every file's header), once with the channels from
 * the list's first line and once with three modalities named. The list
 * lies in a folder of the harness's own beside a few small NIfTI files that
 * the seeds name: four modalities on one grid (t1n.nii, t1c.nii,
 * t2w.nii.gz, t2f.nii), a 4D file of four channels (4d.nii.gz), one of
 * another shape (odd.nii), one of another affine (shifted.nii), one that
 * is not NIfTI (junk.nii) and one in a subfolder (sub/t1n.nii). A list
 * that opens has its subjects' names read and its first subject's centre
 * window loaded. */
#include "emim.h"
#include "fuzz_common.h"

#include <sys/stat.h>

#define N 4

static char dir[256], list[300];

static const char *const fixtures[] = { "t1n.nii", "t1c.nii", "t2w.nii.gz", "t2f.nii", "4d.nii.gz", "odd.nii",
                                        "shifted.nii", "junk.nii", "sub/t1n.nii" };
#define NFIX (int)(sizeof fixtures / sizeof *fixtures)

static void path_in(char *p, size_t n, const char *name) { snprintf(p, n, "%s/%s", dir, name); }

static void remove_fixtures(void)
{
    char p[512];
    for (int i = 0; i < NFIX; i++) {
        path_in(p, sizeof p, fixtures[i]);
        unlink(p);
    }
    unlink(list);
    path_in(p, sizeof p, "sub");
    rmdir(p);
    rmdir(dir);
}

static void write_volume(const char *name, int nx, int nc, double shift)
{
    static float img[5 * N * N * 4];
    emim_volume v;
    memset(&v, 0, sizeof v);
    v.nx = nx; v.ny = N; v.nz = N; v.nc = nc;
    v.pixdim[0] = v.pixdim[1] = v.pixdim[2] = 1;
    v.qform_code = v.sform_code = 1;
    v.qfac = 1;
    for (int a = 0; a < 3; a++) v.srow[a][a] = 1;
    v.srow[0][3] = v.qoffset[0] = (float)shift;
    for (int i = 0; i < nx * N * N * nc; i++) img[i] = (float)(i % 7) + (i % 3 ? 10.0f : 0.0f);
    v.data = img;
    char p[512], err[512];
    path_in(p, sizeof p, name);
    if (emim_nifti_write(p, &v, err, sizeof err)) {
        fprintf(stderr, "fuzz_list: %s\n", err);
        abort();
    }
}

static void make_fixtures(void)
{
    snprintf(dir, sizeof dir, "/tmp/emim-fuzz-%ld.d", (long)getpid());
    snprintf(list, sizeof list, "%s/list.tsv", dir);
    char p[512];
    path_in(p, sizeof p, "sub");
    if ((mkdir(dir, 0700) && access(dir, W_OK)) || (mkdir(p, 0700) && access(p, W_OK))) abort();
    atexit(remove_fixtures);
    for (int i = 0; i < 4; i++) write_volume(fixtures[i], N, 1, 0);
    write_volume("4d.nii.gz", N, 4, 0);
    write_volume("odd.nii", N + 1, 1, 0);
    write_volume("shifted.nii", N, 1, 5);
    write_volume("sub/t1n.nii", N, 1, 0);
    static const char junk[] = "not a NIfTI file, a line of text\n";
    path_in(p, sizeof p, "junk.nii");
    fuzz_write(p, (const uint8_t *)junk, sizeof junk - 1);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t n)
{
    if (!dir[0]) make_fixtures();
    fuzz_write(list, data, n);
    static const char *const mods[2] = { NULL, "t1n,t1c,t2w" };
    for (int k = 0; k < 2; k++) {
        emim_data_config c;
        emim_data_config_default(&c);
        c.path = list;
        c.modalities = mods[k];
        c.size[0] = c.size[1] = c.size[2] = N;
        c.threads = 0;
        char err[2048] = "";
        emim_data *d = NULL;
        if (emim_data_open(&d, &c, err, sizeof err) != EMIM_OK) {
            /* one line that says why */
            if (d || !err[0] || strchr(err, '\n')) abort();
            continue;
        }
        int ns = emim_data_subjects(d), nc = emim_data_channels(d);
        if (ns < 1 || nc < 1 || nc > 1024 || (mods[k] && nc != 3) || strcmp(emim_data_kind(d), "TSV list")) abort();
        size_t names = 0;
        for (int i = 0; i < ns; i++) names += strlen(emim_data_subject(d, i));
        (void)names;
        float *win = malloc((size_t)nc * N * N * N * sizeof *win);
        if (!win) abort();
        emim_data_subject_window(d, 0, win, NULL, err, sizeof err);
        free(win);
        emim_data_close(d);
    }
    return 0;
}
