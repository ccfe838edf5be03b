/* refold.c: the `refold` command, a thin git-style dispatcher over the
 * commands of each folder (producers/, consumers/, ledger/). */
#include <stdio.h>
#include <string.h>

#include "rf_cmd.h"
#include "rf_commands.h"

static const rf_cmd_t commands[] = {
#define RF_CMD(name, fn, summary) {name, fn, summary},
#include "rf_commands.def"
#undef RF_CMD
    {NULL, NULL, NULL},
};
static const int ncommands = (int)(sizeof commands / sizeof commands[0]) - 1;

static void usage(FILE *f)
{
    fprintf(f, "usage: refold <command> [options]   (refold <command> --help for its options)\n\n");
    fprintf(f, "commands:\n");
    for (int i = 0; i < ncommands; i++)
        fprintf(f, "  %-12s %s\n", commands[i].name, commands[i].summary);
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "help") || !strcmp(argv[1], "--help") ||
        !strcmp(argv[1], "-h")) {
        if (argc >= 3 && strcmp(argv[1], "help") == 0) {
            for (int i = 0; i < ncommands; i++)
                if (!strcmp(commands[i].name, argv[2])) {
                    char *hargv[] = {argv[2], "--help", NULL};
                    return commands[i].fn(2, hargv);
                }
        }
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("refold %s\n", REFOLD_VERSION);
        return 0;
    }
    for (int i = 0; i < ncommands; i++)
        if (!strcmp(commands[i].name, argv[1])) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "refold: '%s' is not a refold command (see 'refold help')\n", argv[1]);
    return 2;
}
