/* rf_commands.h: declarations of every subcommand listed in rf_commands.def. */
#ifndef RF_COMMANDS_H
#define RF_COMMANDS_H
#include "rf_cmd.h"
#define RF_CMD(name, fn, summary) int fn(int argc, char **argv);
#include "rf_commands.def"
#undef RF_CMD
#endif
