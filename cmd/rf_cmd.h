/* rf_cmd.h: the subcommands of `refold`. Each folder implements its own
 * commands as `int rf_cmd_<name>(int argc, char **argv)` (argv[0] is the
 * subcommand name; returns the exit status) and registers them in refold.c. */
#ifndef RF_CMD_H
#define RF_CMD_H

typedef int(rf_cmd_fn)(int argc, char **argv);

typedef struct rf_cmd {
    const char *name;
    rf_cmd_fn *fn;
    const char *summary;
} rf_cmd_t;

#endif
