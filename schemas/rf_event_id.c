/* rf_event_id.c: time-ordered event ids (UUIDv7 over libuuid's randomness),
 * the envelope's event_id for every producer (see rf_event.h). */
#include <pthread.h>
#include <string.h>

#include <uuid/uuid.h>

#include "rf_event.h"
#include "rf_hex.h"

/* RFC 9562 layout: 48-bit big-endian ms | ver 7 + 12-bit rand_a | variant
 * 0b10 + 62-bit rand_b. rnd[0..1] fill rand_a, rnd[2..9] rand_b. */
static void uuid7_bytes(int64_t unix_ms, const uint8_t rnd[10], uint8_t u[16])
{
    uint64_t ms = (uint64_t)unix_ms & 0xffffffffffffull;
    for (int i = 0; i < 6; i++)
        u[i] = (uint8_t)(ms >> (40 - 8 * i));
    u[6] = (uint8_t)(0x70 | (rnd[0] & 0x0f));
    u[7] = rnd[1];
    u[8] = (uint8_t)(0x80 | (rnd[2] & 0x3f));
    memcpy(u + 9, rnd + 3, 7);
}

void rf_event_id_v7(int64_t unix_ms, const uint8_t rnd[10], char out[RF_UUID_STR_LEN + 1])
{
    RF_ASSERT(unix_ms >= 0);
    uint8_t u[16];
    uuid7_bytes(unix_ms, rnd, u);
    rf_uuid_format(u, out);
}

static pthread_mutex_t id_lock = PTHREAD_MUTEX_INITIALIZER;
static int64_t id_last_ms = -1;
static unsigned id_counter; /* the 12-bit rand_a field, counting within id_last_ms */

void rf_event_id_new(char out[RF_UUID_STR_LEN + 1])
{
    uuid_t r;
    uuid_generate_random(r);
    /* Bytes 6 and 8 of a v4 UUID carry version and variant bits; take the
     * fully random ones. */
    uint8_t rnd[10] = {0, 0, r[0], r[1], r[2], r[3], r[4], r[5], r[9], r[10]};
    int64_t now = rf_wall_ms();
    pthread_mutex_lock(&id_lock);
    if (now > id_last_ms) {
        id_last_ms = now;
        /* Random start with the top bit clear leaves room to count up. */
        id_counter = ((unsigned)r[11] << 8 | r[12]) & 0x7ff;
    } else if (++id_counter > 0xfff) {
        /* 4096 ids in one ms, or the clock stepped back: borrow the next
         * millisecond rather than break monotonicity. */
        id_last_ms++;
        id_counter = 0;
    }
    int64_t ms = id_last_ms;
    rnd[0] = (uint8_t)(id_counter >> 8);
    rnd[1] = (uint8_t)(id_counter & 0xff);
    pthread_mutex_unlock(&id_lock);
    RF_ASSERT(rnd[0] <= 0x0f);
    rf_event_id_v7(ms, rnd, out);
}
