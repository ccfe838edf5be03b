/* rf_keys_cmd.c: `refold keys generate|register|revoke|id`: operator key
 * pairs and the signed key events that give a program's ledger its operator
 * keys (docs/security.md). */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "rf_hex.h"
#include "rf_operator_int.h"
#include "rf_producer.h"
#include "rf_rules.h"

#define KG "refold keys generate: "
#define KR "refold keys register: "
#define KV "refold keys revoke: "
#define KI "refold keys id: "

static int keys_generate(int argc, char **argv)
{
    const char *out = NULL;
    const rf_opt_t opts[] = {
        RF_OPT_STR(0, "out", &out, "FILE",
                   "the private key (PEM PKCS#8, mode 0600, never overwritten);\n"
                   "the public key goes to FILE.pub",
                   .flags = RF_OPT_REQUIRED),
        RF_OPT_HELP(),
        RF_OPT_END(),
    };
    const rf_opt_cmd_t cmd = {
        "keys generate",
        "refold keys generate --out FILE",
        "Generates an Ed25519 key pair (a trust root or an operator key) and prints\n"
        "its key id. Keep the private key offline for a root; give the public key\n"
        "(FILE.pub) to 'refold fold --trust-root' (a root) or 'refold keys register'\n"
        "(an operator key).",
        opts,
        0,
        .notes = {NULL}};
    int n = rf_opt_parse(&cmd, argc, argv);
    if (n < 0) return rf_opt_status(n);
    char pub_path[PATH_MAX];
    if ((size_t)snprintf(pub_path, sizeof pub_path, "%s.pub", out) >= sizeof pub_path) {
        fprintf(stderr, KG "'%s': path too long\n", out);
        return 2;
    }
    rf_errbuf_t eb = {{0}};
    rf_sign_key_t *k = rf_sign_key_generate(&eb);
    rf_err_t err = k ? rf_sign_key_write(k, out, pub_path, &eb) : RF_ERR_INTERNAL;
    if (err) {
        fprintf(stderr, KG "%s\n", eb.msg);
        rf_sign_key_destroy(k);
        return 1;
    }
    uint8_t pub[RF_SIGN_PUB_LEN];
    char id[RF_SIGN_KEY_ID_BUF];
    rf_sign_key_public(k, pub);
    rf_sign_key_id(pub, id);
    rf_sign_key_destroy(k);
    printf("key %s: private %s (0600), public %s\n", id, out, pub_path);
    return 0;
}

/* The raw public key of a PEM public or private key file. */
static int load_public(const char *path, uint8_t pub[RF_SIGN_PUB_LEN], const char *prefix)
{
    rf_errbuf_t eb = {{0}};
    size_t n = 0;
    uint8_t keys[1][RF_SIGN_PUB_LEN];
    if (rf_sign_pubkeys_load(path, keys, 1, &n, &eb) == RF_OK) {
        memcpy(pub, keys[0], RF_SIGN_PUB_LEN);
        return 0;
    }
    rf_sign_key_t *k = rf_sign_key_load(path, &eb);
    if (!k) {
        fprintf(stderr, "%s'%s' is neither a PEM Ed25519 public nor private key\n", prefix, path);
        return 1;
    }
    rf_sign_key_public(k, pub);
    rf_sign_key_destroy(k);
    return 0;
}

static int keys_id(int argc, char **argv)
{
    const rf_opt_t opts[] = {RF_OPT_HELP(), RF_OPT_END()};
    const rf_opt_cmd_t cmd = {"keys id",
                              "refold keys id FILE",
                              "Prints the key id of a PEM public or private key file.",
                              opts,
                              -1,
                              .notes = {NULL}};
    int n = rf_opt_parse(&cmd, argc, argv);
    if (n < 0) return rf_opt_status(n);
    if (n != 1) {
        fprintf(stderr, KI "give exactly one key file\n");
        return 2;
    }
    uint8_t pub[RF_SIGN_PUB_LEN];
    if (load_public(argv[1], pub, KI)) return 1;
    char id[RF_SIGN_KEY_ID_BUF];
    rf_sign_key_id(pub, id);
    printf("%s\n", id);
    return 0;
}

/* The fold checks scopes too (a rejected record); refusing here saves a
 * published event that cannot work. */
static bool scopes_valid(const char *s)
{
    static const char *const names[] = {RF_SCOPE_PROGRAM, RF_SCOPE_ADJUST, RF_SCOPE_REVIEW,
                                        RF_SCOPE_CLOCK};
    if (!*s) return false;
    while (*s) {
        size_t n = strcspn(s, ",");
        bool known = false;
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            known |= strlen(names[i]) == n && !strncmp(s, names[i], n);
        if (!known) return false;
        s += n + (s[n] == ',');
    }
    return true;
}

static int keys_register(int argc, char **argv)
{
    rf__op_opts_t o;
    rf__op_opts_init(&o);
    const char *program = NULL, *pub_file = NULL, *scopes = NULL, *holder = "";
    const rf_opt_t opts[] = {
        RF_OPT_STR(0, "program", &program, "ID", "the program", .flags = RF_OPT_REQUIRED),
        RF_OPT_STR(0, "public-key", &pub_file, "FILE", "the operator's public key (PEM)",
                   .flags = RF_OPT_REQUIRED),
        RF_OPT_STR(0, "scopes", &scopes, "LIST",
                   "what the key may sign, comma-separated: program, adjust,\n"
                   "review, clock",
                   .flags = RF_OPT_REQUIRED),
        RF_OPT_STR(0, "holder", &holder, "NAME", "who holds the key (recorded in the ledger)"),
        RF_OPT_STR(0, "root-key", &o.key_file, "FILE", "the trust root's private key (PEM)",
                   .flags = RF_OPT_REQUIRED),
        RF__OP_OPTS(&o),
        RF_OPT_HELP(),
        RF_OPT_END(),
    };
    const rf_opt_cmd_t cmd = {
        "keys register",
        "refold keys register --program ID --public-key FILE --scopes LIST\n"
        "                     --root-key FILE [--holder NAME] [--brokers HOST:PORT]\n"
        "                     [-X name=value]... [--topic T] [--at TIME] [--dry-run] [--json]",
        "Publishes a KeyRegistered event signed by the trust root: from the event on,\n"
        "the program's fold accepts privileged events of the listed scopes signed by\n"
        "this key, until a KeyRevoked.",
        opts,
        0,
        .notes = {NULL}};
    int n = rf_opt_parse(&cmd, argc, argv);
    if (n < 0) return rf_opt_status(n);
    int rc = rf__op_opts_check(&o, KR);
    if (rc >= 0) return rc;
    if (!scopes_valid(scopes)) {
        fprintf(stderr,
                KR "--scopes '%s': give a comma-separated list of program, adjust, "
                   "review, clock\n",
                scopes);
        return 2;
    }
    uint8_t pub[RF_SIGN_PUB_LEN];
    if (load_public(pub_file, pub, KR)) return 1;
    rf_event_t ev;
    rf_errbuf_t eb = {{0}};
    if (rf_event_begin(&ev, RF_EV_KEY_REGISTERED, program, &eb) != RF_OK ||
        rf_strlcpy(ev.scopes, scopes, sizeof ev.scopes) != RF_OK ||
        rf_strlcpy(ev.actor, holder, sizeof ev.actor) != RF_OK) {
        fprintf(stderr, KR "%s\n", eb.msg[0] ? eb.msg : "scopes or holder too long");
        return 2;
    }
    rf_sign_key_id(pub, ev.key_id);
    rf_hex(pub, sizeof pub, ev.public_key);
    snprintf(ev.source, sizeof ev.source, "refold keys register");
    if ((rc = rf__op_sign(&ev, &o, o.key_file, KR))) return rc;
    return rf__op_publish(&o, &ev, KR);
}

static int keys_revoke(int argc, char **argv)
{
    rf__op_opts_t o;
    rf__op_opts_init(&o);
    const char *program = NULL, *key_id = NULL, *pub_file = NULL, *reason = "";
    const rf_opt_t opts[] = {
        RF_OPT_STR(0, "program", &program, "ID", "the program", .flags = RF_OPT_REQUIRED),
        RF_OPT_STR(0, "key-id", &key_id, "ID", "the key to revoke (16 hex digits)"),
        RF_OPT_STR(0, "public-key", &pub_file, "FILE", "or the key to revoke, as its PEM file"),
        RF_OPT_STR(0, "reason", &reason, "TEXT", "why (recorded in the ledger)"),
        RF_OPT_STR(0, "root-key", &o.key_file, "FILE", "the trust root's private key (PEM)",
                   .flags = RF_OPT_REQUIRED),
        RF__OP_OPTS(&o),
        RF_OPT_HELP(),
        RF_OPT_END(),
    };
    const rf_opt_cmd_t cmd = {
        "keys revoke",
        "refold keys revoke --program ID (--key-id ID | --public-key FILE) --root-key FILE\n"
        "                   [--reason TEXT] [--brokers HOST:PORT] [-X name=value]...\n"
        "                   [--topic T] [--at TIME] [--dry-run] [--json]",
        "Publishes a KeyRevoked event signed by the trust root: the program's fold\n"
        "rejects what the key signs after this event; what it signed before stays\n"
        "applied (replay gives the same result). A trust root's own id revokes that\n"
        "root for the program.",
        opts,
        0,
        .notes = {NULL}};
    int n = rf_opt_parse(&cmd, argc, argv);
    if (n < 0) return rf_opt_status(n);
    int rc = rf__op_opts_check(&o, KV);
    if (rc >= 0) return rc;
    if (!key_id == !pub_file) {
        fprintf(stderr, KV "give one of --key-id and --public-key\n");
        return 2;
    }
    rf_event_t ev;
    rf_errbuf_t eb = {{0}};
    if (rf_event_begin(&ev, RF_EV_KEY_REVOKED, program, &eb) != RF_OK ||
        rf_strlcpy(ev.reason, reason, sizeof ev.reason) != RF_OK) {
        fprintf(stderr, KV "%s\n", eb.msg[0] ? eb.msg : "reason too long");
        return 2;
    }
    if (pub_file) {
        uint8_t pub[RF_SIGN_PUB_LEN];
        if (load_public(pub_file, pub, KV)) return 1;
        rf_sign_key_id(pub, ev.key_id);
    } else if (rf_strlcpy(ev.key_id, key_id, sizeof ev.key_id) != RF_OK) {
        fprintf(stderr, KV "--key-id '%s' is not a key id\n", key_id);
        return 2;
    }
    snprintf(ev.source, sizeof ev.source, "refold keys revoke");
    if ((rc = rf__op_sign(&ev, &o, o.key_file, KV))) return rc;
    return rf__op_publish(&o, &ev, KV);
}

static void keys_usage(FILE *f)
{
    fprintf(f,
            "usage: refold keys <subcommand> [options]\n\n"
            "  generate   write a new Ed25519 key pair (PEM) and print its id\n"
            "  register   publish a KeyRegistered signed by a trust root\n"
            "  revoke     publish a KeyRevoked signed by a trust root\n"
            "  id         print the key id of a PEM key file\n\n"
            "'refold keys <subcommand> --help' gives its options; docs/security.md the model.\n");
}

int rf_cmd_keys(int argc, char **argv)
{
    if (argc < 2) {
        keys_usage(stderr);
        return 2;
    }
    const char *sub = argv[1];
    if (!strcmp(sub, "--help") || !strcmp(sub, "-h") || !strcmp(sub, "help")) {
        keys_usage(stdout);
        return 0;
    }
    if (!strcmp(sub, "generate")) return keys_generate(argc - 1, argv + 1);
    if (!strcmp(sub, "register")) return keys_register(argc - 1, argv + 1);
    if (!strcmp(sub, "revoke")) return keys_revoke(argc - 1, argv + 1);
    if (!strcmp(sub, "id")) return keys_id(argc - 1, argv + 1);
    fprintf(stderr, "refold keys: unknown subcommand '%s' (generate, register, revoke, id)\n", sub);
    return 2;
}
