/* Internal interface of the emim tool: one file per command (src/tool/CMD.c),
 * the shared option parsers and helpers (src/tool/util.c), main and the
 * global options (src/emim-tool.c). */
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

/* the commands; argv[0] is the command's name */
int cmd_info(emim_options *o, int argc, char **argv);
int cmd_validate(emim_options *o, int argc, char **argv);
int cmd_ops(int argc, char **argv);
int cmd_pretrain(emim_options *o, int argc, char **argv);
int cmd_phantom(int argc, char **argv);

#endif
