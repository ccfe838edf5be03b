/* rf_operator_cmd.c: `refold adjust`, `refold review` and `refold clock`: a
 * finance adjustment, a review decision and an event-time heartbeat, signed
 * with an operator key and published (docs/security.md). */
#include <stdio.h>
#include <string.h>

#include "rf_operator_int.h"
#include "rf_producer.h"

#define AD "refold adjust: "
#define RV "refold review: "
#define CK "refold clock: "

int rf_cmd_adjust(int argc, char **argv)
{
    rf__op_opts_t o;
    rf__op_opts_init(&o);
    const char *program = NULL, *user = NULL, *asset = NULL, *reason = NULL, *actor = NULL;
    int64_t amount = 0;
    const rf_opt_t opts[] = {
        RF_OPT_STR(0, "program", &program, "ID", "the program", .flags = RF_OPT_REQUIRED),
        RF_OPT_STR(0, "user", &user, "ID", "the user credited or debited",
                   .flags = RF_OPT_REQUIRED),
        RF_OPT_I64_RANGE(0, "amount", &amount, -RF_AMOUNT_MAX, RF_AMOUNT_MAX, "N",
                         "minor units: > 0 credits, < 0 debits the available balance",
                         .flags = RF_OPT_REQUIRED),
        RF_OPT_STR(0, "asset", &asset, "A", "currency code or POINTS", .flags = RF_OPT_REQUIRED),
        RF_OPT_STR(0, "reason", &reason, "TEXT", "why (recorded in the ledger)",
                   .flags = RF_OPT_REQUIRED),
        RF_OPT_STR(0, "actor", &actor, "NAME", "who decided it", .def = "the key id"),
        RF_OPT_STR(0, "key", &o.key_file, "FILE",
                   "the operator's private key (PEM), registered with scope adjust",
                   .flags = RF_OPT_REQUIRED),
        RF__OP_OPTS(&o),
        RF_OPT_HELP(),
        RF_OPT_END(),
    };
    const rf_opt_cmd_t cmd = {
        "adjust",
        "refold adjust --program ID --user ID --amount N --asset A --reason TEXT --key FILE\n"
        "              [--actor NAME] [--brokers HOST:PORT] [-X name=value]... [--topic T]\n"
        "              [--at TIME] [--dry-run] [--json]",
        "Publishes an Adjustment signed with an operator key: the fold credits (or\n"
        "debits) the user's available balance if the key is registered in the\n"
        "program with scope adjust and not revoked; else it records a rejection.",
        opts,
        0,
        .notes = {NULL}};
    int n = rf_opt_parse(&cmd, argc, argv);
    if (n < 0) return rf_opt_status(n);
    int rc = rf__op_opts_check(&o, AD);
    if (rc >= 0) return rc;
    char kid[RF_SIGN_KEY_ID_BUF], by_key[8 + RF_SIGN_KEY_ID_BUF];
    if (!actor) { /* the signing key names the actor (the record's actor fact) */
        if ((rc = rf__op_key_id(o.key_file, kid, AD))) return rc;
        snprintf(by_key, sizeof by_key, "key:%s", kid);
    }
    rf_event_t ev;
    rf_errbuf_t eb = {{0}};
    if (rf_event_adjustment(&ev, program, user, amount, asset, reason, actor ? actor : by_key,
                            &eb) != RF_OK) {
        fprintf(stderr, AD "%s\n", eb.msg);
        return 2;
    }
    snprintf(ev.source, sizeof ev.source, "refold adjust");
    if ((rc = rf__op_sign(&ev, &o, o.key_file, AD))) return rc;
    return rf__op_publish(&o, &ev, AD);
}

int rf_cmd_review(int argc, char **argv)
{
    rf__op_opts_t o;
    rf__op_opts_init(&o);
    const char *program = NULL, *user = NULL, *reviewer = NULL, *reason = "";
    static const char *const decisions[] = {"approve", "reject", NULL};
    int decision = -1;
    const rf_opt_t opts[] = {
        RF_OPT_STR(0, "program", &program, "ID", "the program", .flags = RF_OPT_REQUIRED),
        RF_OPT_STR(0, "user", &user, "ID", "the referred friend whose referral is held",
                   .flags = RF_OPT_REQUIRED),
        RF_OPT_ENUM(0, "decision", &decision, decisions, "approve|reject", "the decision",
                    .flags = RF_OPT_REQUIRED),
        RF_OPT_STR(0, "reviewer", &reviewer, "NAME", "who decided", .def = "the key id"),
        RF_OPT_STR(0, "reason", &reason, "TEXT", "why (recorded in the ledger)"),
        RF_OPT_STR(0, "key", &o.key_file, "FILE",
                   "the operator's private key (PEM), registered with scope review",
                   .flags = RF_OPT_REQUIRED),
        RF__OP_OPTS(&o),
        RF_OPT_HELP(),
        RF_OPT_END(),
    };
    const rf_opt_cmd_t cmd = {
        "review",
        "refold review --program ID --user ID --decision approve|reject --key FILE\n"
        "              [--reviewer NAME] [--reason TEXT] [--brokers HOST:PORT]\n"
        "              [-X name=value]... [--topic T] [--at TIME] [--dry-run] [--json]",
        "Publishes a ReviewDecision signed with an operator key: approve releases the\n"
        "rewards of a referral held for review, reject reverses them. The fold\n"
        "applies it if the key is registered in the program with scope review.",
        opts,
        0,
        .notes = {NULL}};
    int n = rf_opt_parse(&cmd, argc, argv);
    if (n < 0) return rf_opt_status(n);
    int rc = rf__op_opts_check(&o, RV);
    if (rc >= 0) return rc;
    char kid[RF_SIGN_KEY_ID_BUF], by_key[8 + RF_SIGN_KEY_ID_BUF];
    if (!reviewer) { /* the signing key names the reviewer (the record's actor fact) */
        if ((rc = rf__op_key_id(o.key_file, kid, RV))) return rc;
        snprintf(by_key, sizeof by_key, "key:%s", kid);
    }
    rf_event_t ev;
    rf_errbuf_t eb = {{0}};
    if (rf_event_review_decision(&ev, program, user, decision == 0, reviewer ? reviewer : by_key,
                                 reason, &eb) != RF_OK) {
        fprintf(stderr, RV "%s\n", eb.msg);
        return 2;
    }
    snprintf(ev.source, sizeof ev.source, "refold review");
    if ((rc = rf__op_sign(&ev, &o, o.key_file, RV))) return rc;
    return rf__op_publish(&o, &ev, RV);
}

int rf_cmd_clock(int argc, char **argv)
{
    rf__op_opts_t o;
    rf__op_opts_init(&o);
    const char *program = NULL;
    const rf_opt_t opts[] = {
        RF_OPT_STR(0, "program", &program, "ID", "the program", .flags = RF_OPT_REQUIRED),
        RF_OPT_STR(0, "key", &o.key_file, "FILE",
                   "the operator's private key (PEM), registered with scope clock",
                   .flags = RF_OPT_REQUIRED),
        RF__OP_OPTS(&o),
        RF_OPT_HELP(),
        RF_OPT_END(),
    };
    const rf_opt_cmd_t cmd = {
        "clock",
        "refold clock --program ID --key FILE [--at TIME] [--brokers HOST:PORT]\n"
        "             [-X name=value]... [--topic T] [--dry-run] [--json]",
        "Publishes a Clock event signed with an operator key: the fold advances the\n"
        "partition's event time to TIME (if later) and matures the holds due by then,\n"
        "when no other traffic of the partition does. Needs scope clock.",
        opts,
        0,
        .notes = {NULL}};
    int n = rf_opt_parse(&cmd, argc, argv);
    if (n < 0) return rf_opt_status(n);
    int rc = rf__op_opts_check(&o, CK);
    if (rc >= 0) return rc;
    rf_event_t ev;
    rf_errbuf_t eb = {{0}};
    if (rf_event_clock(&ev, program, &eb) != RF_OK) {
        fprintf(stderr, CK "%s\n", eb.msg);
        return 2;
    }
    snprintf(ev.source, sizeof ev.source, "refold clock");
    if ((rc = rf__op_sign(&ev, &o, o.key_file, CK))) return rc;
    return rf__op_publish(&o, &ev, CK);
}
