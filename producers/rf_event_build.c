/* rf_event_build.c: convenience constructors for events (rf_producer.h):
 * a fresh id, the wall clock as event time, and bounded copies of fields. */
#include <string.h>

#include "rf_producer.h"

/* Copies an optional field; NULL means "". */
static rf_err_t set_str(char *dst, size_t cap, const char *src, const char *field, rf_errbuf_t *eb)
{
    RF_ASSERT(dst && cap > 0);
    if (rf_strlcpy(dst, src ? src : "", cap) != RF_OK)
        return rf_errf(eb, RF_ERR_BAD_INPUT, "field '%s' is longer than %zu bytes", field, cap - 1);
    return RF_OK;
}

#define SET(field, value, name)                                                                    \
    do {                                                                                           \
        rf_err_t err_ = set_str(ev->field, sizeof ev->field, (value), (name), eb);                 \
        if (err_ != RF_OK) return err_;                                                            \
    } while (0)

rf_err_t rf_event_begin(rf_event_t *ev, rf_event_type_t type, const char *program_id,
                        rf_errbuf_t *eb)
{
    RF_ASSERT(ev);
    RF_ASSERT(type >= 0 && type < RF_EV__COUNT);
    rf_event_clear(ev);
    ev->type = type;
    rf_event_id_new(ev->event_id);
    ev->occurred_at_ms = rf_wall_ms();
    SET(program_id, program_id, "program_id");
    return RF_OK;
}

rf_err_t rf_event_program_configured(rf_event_t *ev, const char *program_id, int32_t version,
                                     const char *rules_json, rf_errbuf_t *eb)
{
    rf_err_t err = rf_event_begin(ev, RF_EV_PROGRAM_CONFIGURED, program_id, eb);
    if (err != RF_OK) return err;
    ev->version = version;
    SET(rules_json, rules_json, "rules_json");
    return RF_OK;
}

rf_err_t rf_event_code_issued(rf_event_t *ev, const char *program_id, const char *referrer,
                              const char *code, rf_errbuf_t *eb)
{
    rf_err_t err = rf_event_begin(ev, RF_EV_CODE_ISSUED, program_id, eb);
    if (err != RF_OK) return err;
    SET(referrer, referrer, "referrer");
    SET(code, code, "code");
    return RF_OK;
}

rf_err_t rf_event_share(rf_event_t *ev, const char *program_id, const char *referrer,
                        const char *channel, rf_errbuf_t *eb)
{
    rf_err_t err = rf_event_begin(ev, RF_EV_SHARE, program_id, eb);
    if (err != RF_OK) return err;
    SET(referrer, referrer, "referrer");
    SET(channel, channel, "channel");
    return RF_OK;
}

rf_err_t rf_event_click(rf_event_t *ev, const char *program_id, const char *code,
                        const char *visitor, rf_errbuf_t *eb)
{
    rf_err_t err = rf_event_begin(ev, RF_EV_CLICK, program_id, eb);
    if (err != RF_OK) return err;
    SET(code, code, "code");
    SET(visitor, visitor, "visitor");
    return RF_OK;
}

rf_err_t rf_event_signup(rf_event_t *ev, const char *program_id, const char *user, const char *code,
                         const char *visitor, rf_errbuf_t *eb)
{
    rf_err_t err = rf_event_begin(ev, RF_EV_SIGNUP, program_id, eb);
    if (err != RF_OK) return err;
    SET(user, user, "user");
    SET(code, code, "code");
    SET(visitor, visitor, "visitor");
    return RF_OK;
}

rf_err_t rf_event_purchase(rf_event_t *ev, const char *program_id, const char *order_id,
                           const char *user, int64_t amount_minor, const char *currency,
                           const char *code, rf_errbuf_t *eb)
{
    rf_err_t err = rf_event_begin(ev, RF_EV_PURCHASE, program_id, eb);
    if (err != RF_OK) return err;
    SET(order_id, order_id, "order_id");
    SET(user, user, "user");
    ev->amount_minor = amount_minor;
    SET(asset, currency, "currency");
    SET(code, code, "code");
    return RF_OK;
}

rf_err_t rf_event_refund(rf_event_t *ev, const char *program_id, const char *order_id,
                         int64_t amount_minor, const char *currency, rf_errbuf_t *eb)
{
    rf_err_t err = rf_event_begin(ev, RF_EV_REFUND, program_id, eb);
    if (err != RF_OK) return err;
    SET(order_id, order_id, "order_id");
    ev->amount_minor = amount_minor;
    SET(asset, currency, "currency");
    return RF_OK;
}

rf_err_t rf_event_redemption(rf_event_t *ev, const char *program_id, const char *user,
                             int64_t amount_minor, const char *asset, const char *request_id,
                             rf_errbuf_t *eb)
{
    rf_err_t err = rf_event_begin(ev, RF_EV_REDEMPTION, program_id, eb);
    if (err != RF_OK) return err;
    SET(user, user, "user");
    ev->amount_minor = amount_minor;
    SET(asset, asset, "asset");
    SET(request_id, request_id, "request_id");
    return RF_OK;
}

rf_err_t rf_event_review_decision(rf_event_t *ev, const char *program_id, const char *user,
                                  bool approve, const char *reviewer, const char *reason,
                                  rf_errbuf_t *eb)
{
    rf_err_t err = rf_event_begin(ev, RF_EV_REVIEW_DECISION, program_id, eb);
    if (err != RF_OK) return err;
    SET(user, user, "user");
    ev->approve = approve;
    SET(reviewer, reviewer, "reviewer");
    SET(reason, reason, "reason");
    return RF_OK;
}

rf_err_t rf_event_adjustment(rf_event_t *ev, const char *program_id, const char *user,
                             int64_t amount_minor, const char *asset, const char *reason,
                             const char *actor, rf_errbuf_t *eb)
{
    rf_err_t err = rf_event_begin(ev, RF_EV_ADJUSTMENT, program_id, eb);
    if (err != RF_OK) return err;
    SET(user, user, "user");
    ev->amount_minor = amount_minor;
    SET(asset, asset, "asset");
    SET(reason, reason, "reason");
    SET(actor, actor, "actor");
    return RF_OK;
}

rf_err_t rf_event_clock(rf_event_t *ev, const char *program_id, rf_errbuf_t *eb)
{
    return rf_event_begin(ev, RF_EV_CLOCK, program_id, eb);
}
