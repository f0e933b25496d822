# EMIM_CHECK_CFLAG(FLAG, [ACTION-IF-ACCEPTED], [ACTION-IF-NOT])
# Whether the C compiler accepts FLAG (as an error if it warns).
AC_DEFUN([EMIM_CHECK_CFLAG], [
  AC_MSG_CHECKING([whether $CC accepts $1])
  emim_save_CFLAGS=$CFLAGS
  CFLAGS="$CFLAGS -Werror $1"
  AC_COMPILE_IFELSE([AC_LANG_PROGRAM([], [])],
    [AC_MSG_RESULT([yes]); $2], [AC_MSG_RESULT([no]); $3])
  CFLAGS=$emim_save_CFLAGS
])
