/* rf_cmd.h: the subcommands of `refold`. Every command lives in cmd/ (git's
 * builtin/) as `int rf_cmd_<name>(int argc, char **argv)` (argv[0] is the
 * subcommand name; returns the exit status), parses its options with
 * common/rf_opt.h and is listed in rf_commands.def. No library includes this
 * folder's headers (tests/rooms/ checks). */
#ifndef RF_CMD_H
#define RF_CMD_H

typedef int(rf_cmd_fn)(int argc, char **argv);

typedef struct rf_cmd {
    const char *name;
    rf_cmd_fn *fn;
    const char *summary;
} rf_cmd_t;

#endif
