/* emim: the command-line tool of libemim. main and the global options; each
 * command is a file of src/cli/. */
#include "config.h"
#include "cli/tool.h"

#include <getopt.h>
#include <string.h>
#include <strings.h>

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: %s [GLOBAL OPTIONS] COMMAND [OPTIONS]\n"
            "E-MIM self-supervised pretraining of 3D ViTs, with CPU and OpenCL twins.\n"
            "\n"
            "Commands (%s COMMAND --help for each one's options):\n"
            "  info          version, backends, OpenCL platforms and devices, BLAS, threads\n"
            "  validate      run every op on the selected device and on the CPU twin, compare\n"
            "  ops           list the op table (--markdown: as doc/ops.md)\n"
            "  pretrain      self-supervised pretraining: E-MIM (default), MAE or SimMIM, on the built-in phantom or NIfTI\n"
            "  phantom       write the built-in phantom as a BraTS-layout folder of NIfTI files\n"
            "  maskvar       the collapsed loss of masking strategies, by Monte Carlo (Fig. 2)\n"
            "  spectrum      singular values and effective rank of encoders' features (dimensional collapse)\n"
            "  reconstruct   one sample: original, masked, reconstruction, collapsed output (NIfTI, PNG)\n"
            "  export        a run's encoder as MONAI's ViT weights (safetensors)\n"
            "  features      one subject's input volume and encoder features (safetensors), to compare frameworks\n"
            "  probe         linear probing of a run's frozen encoder against a fresh initialisation (AUC, accuracy)\n"
            "\n"
            "Global options (also from the environment):\n"
            "  -b, --backend=cpu|opencl|auto   compute backend (EMIM_BACKEND; default auto:\n"
            "                                  an OpenCL GPU if there is one, else the CPU)\n"
            "  -d, --device=INDEX|NAME         OpenCL device by index or name substring (EMIM_DEVICE)\n"
            "  -t, --threads=N                 CPU threads (EMIM_THREADS, else OMP_NUM_THREADS)\n"
            "  -q, --quiet                     do not say which backend was chosen\n"
            "  -h, --help                      this help\n"
            "  -V, --version                   version\n"
            "\n"
            "Exit status: 0 success, 1 failure (a check failed, or an error), 2 bad usage.\n"
            "See emim(1) and doc/numerics.md.\n",
            prog, prog);
}

int main(int argc, char **argv)
{
    emim_options o;
    char err[512];
    if (emim_options_init(&o, err, sizeof err)) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return 2;
    }
    o.verbose = 1;
    static const struct option lo[] = {
        { "backend", required_argument, NULL, 'b' }, { "device", required_argument, NULL, 'd' },
        { "threads", required_argument, NULL, 't' }, { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' }, { "version", no_argument, NULL, 'V' }, { 0, 0, 0, 0 },
    };
    int c;
    /* "+": stop at the command; its options are parsed by the command */
    while ((c = getopt_long(argc, argv, "+b:d:t:qhV", lo, NULL)) != -1) {
        switch (c) {
        case 'b':
            if (!strcasecmp(optarg, "cpu")) o.backend = EMIM_BACKEND_CPU;
            else if (!strcasecmp(optarg, "opencl")) o.backend = EMIM_BACKEND_OPENCL;
            else if (!strcasecmp(optarg, "auto")) o.backend = EMIM_BACKEND_AUTO;
            else die_usage("--backend '%s': expected cpu, opencl or auto", optarg);
            break;
        case 'd': o.device = optarg; break;
        case 't': o.threads = parse_int(optarg, "--threads", 1, 4096); break;
        case 'q': o.verbose = 0; break;
        case 'h': usage(stdout); return 0;
        case 'V': printf("emim (libemim) %s\n", emim_version()); return 0;
        default: fprintf(stderr, "Try '%s --help'.\n", prog); return 2;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 2;
    }
    const char *cmd = argv[optind];
    int cargc = argc - optind;
    char **cargv = argv + optind;
    if (!strcmp(cmd, "info")) return cmd_info(&o, cargc, cargv);
    if (!strcmp(cmd, "validate")) return cmd_validate(&o, cargc, cargv);
    if (!strcmp(cmd, "ops")) return cmd_ops(cargc, cargv);
    if (!strcmp(cmd, "pretrain")) return cmd_pretrain(&o, cargc, cargv);
    if (!strcmp(cmd, "phantom")) return cmd_phantom(cargc, cargv);
    if (!strcmp(cmd, "maskvar")) return cmd_maskvar(cargc, cargv);
    if (!strcmp(cmd, "spectrum")) return cmd_spectrum(&o, cargc, cargv);
    if (!strcmp(cmd, "export")) return cmd_export(&o, cargc, cargv);
    if (!strcmp(cmd, "features")) return cmd_features(&o, cargc, cargv);
    if (!strcmp(cmd, "probe")) return cmd_probe(&o, cargc, cargv);
    if (!strcmp(cmd, "reconstruct")) return cmd_reconstruct(&o, cargc, cargv);
    if (!strcmp(cmd, "help")) { usage(stdout); return 0; }
    die_usage("unknown command '%s'", cmd);
    return 2;
}
