/* rf_program_int.h: what the `refold program` subcommands share (validate,
 * show, apply: cmd/rf_program_*.c): rules files and the live rules. */
#ifndef RF_PROGRAM_INT_H
#define RF_PROGRAM_INT_H

#include <stdbool.h>
#include <stdint.h>

#include "rf_common.h"
#include "rf_limits.h"

typedef struct rf_program_live {
    bool found;
    int nledgers, nfound;             /* partition ledgers read; those knowing the program */
    int32_t parts[RF_PARTITIONS_MAX]; /* the partitions of those ledgers, ascending */
    int32_t partition;                /* of the highest version found */
    int32_t version;                  /* 0 when not found */
    int64_t next_offset;              /* that ledger's next offset to fold (-1: none yet) */
    char rules[RF_RULES_MAX + 1];
} rf_program_live_t;

/* Loads a rules file: the fold's own parser (rf_rules_validate_json) checks
 * the text as written (its errors give the file's line), then it is
 * compacted the way `refold emit` stores "rules" into out (RF_RULES_MAX + 1
 * bytes), which must fit the event. */
rf_err_t rf__program_load_rules(const char *path, char *out, rf_errbuf_t *eb);

/* Reads program's current version and rules from every partition ledger under
 * data (read-only, safe while workers run). A program lives in one partition
 * (key = program id); after a repartition the highest version wins. RF_OK
 * with found false when no ledger knows it; an error when there is no ledger. */
rf_err_t rf__program_find_live(const char *data, const char *program, rf_program_live_t *lv,
                               rf_errbuf_t *eb);

/* The subcommands: argv[0] is the subcommand's name; return the exit status. */
int rf__program_validate(int argc, char **argv);
int rf__program_show(int argc, char **argv);
int rf__program_apply(int argc, char **argv);

#endif
