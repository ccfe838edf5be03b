/* rf_limits.h: every bound in refold, in one place, each with its reason
 * (after SQLite's sqliteLimit.h and TigerBeetle's "put a limit on everything"). */
#ifndef RF_LIMITS_H
#define RF_LIMITS_H

/* Identifiers (user, referrer, program, order, code, visitor): apps use short
 * ids; 64 bytes holds a UUID string, an email-sized id or a 32-byte hex hash. */
#define RF_ID_MAX 64
/* An event id is a UUID in its 36-character text form. */
#define RF_UUID_STR_LEN 36
/* HMAC-SHA256 hashes of PII travel as 64 lowercase hex digits. */
#define RF_HASH_HEX_LEN 64
/* Asset code: an ISO 4217 currency ("USD") or "POINTS"; 12 leaves room for
 * store-credit kinds such as "CREDIT_USD". */
#define RF_ASSET_MAX 12
/* Free-text fields (reason, actor, channel, source): short labels, not prose. */
#define RF_TEXT_MAX 128
/* A program's rules (JSON inside ProgramConfigured): a full program with tiers,
 * milestones and fraud checks is about 2 KiB; 16 KiB leaves ample room while
 * keeping a decoded event a fixed-size struct (no allocation on the hot path). */
#define RF_RULES_MAX 16384
/* One Kafka message: the largest valid event (max rules) plus envelope and
 * framing is under 17 KiB; anything over 64 KiB is refused as oversize before
 * decoding, so a hostile producer cannot make the fold allocate. */
#define RF_EVENT_BYTES_MAX 65536
/* Amounts: |amount| <= 10^15 minor units (10 trillion dollars) so that sums
 * of many amounts, and amount * percent (basis points), stay inside int64. */
#define RF_AMOUNT_MAX 1000000000000000LL

/* Avro decoding of untrusted bytes (schemas/rf_codec.c). Nesting deeper than
 * this in a writer schema's data is refused (our schemas nest 3 deep; the
 * bound keeps a hostile recursive schema from exhausting the stack), and no
 * message may hold more array/map items than this in total (an item can be
 * zero bytes long, so the byte limit alone does not bound the loop). */
#define RF_AVRO_DEPTH_MAX 32
#define RF_AVRO_ITEMS_MAX 65536
/* Writer schemas one codec knows: the embedded manifest plus any registered
 * at runtime from a schema registry (a subject rarely has more than a few
 * dozen versions). */
#define RF_CODEC_SCHEMAS_MAX 64

/* Ledger records. A purchase can post referrer reward, friend reward,
 * milestone bonus and receivable settlement: at most 16 postings; facts are the
 * audit trail of one decision (checks run, caps, rule version): 24. */
#define RF_POSTINGS_MAX 16
#define RF_FACTS_MAX    24
#define RF_FACT_KEY_MAX 24
#define RF_FACT_VAL_MAX 128
/* Largest canonical encoding of one record (bounded by the limits above). */
#define RF_RECORD_BYTES_MAX 16384
/* Records one event can produce (maturity of held rewards on a Clock event is
 * the largest fan-out); more matured holds wait for the next event. */
#define RF_RECORDS_PER_EVENT_MAX 64

/* Kafka partitions refold handles (the mock broker and any worker). */
#define RF_PARTITIONS_MAX 256
/* Default number of partitions of refold's topics. */
#define RF_PARTITIONS_DEFAULT 16

/* Fold worker batching: a poll cycle is a group commit. It starts with the
 * first message to arrive and takes what the consumer already holds, up to
 * this many messages or this much queueing time, whichever is first; one
 * synced WriteBatch per partition per cycle amortises the ~0.3 ms sync cost
 * (DESIGN.md) over whatever queued while the previous commit ran: thousands
 * of events under load, a handful at a low rate (docs/fold-worker.md). */
/* 32768, not 8192: with a backlog the queueing phase fills a cycle in a few
 * ms, and four times fewer, larger commits per partition (denser sorted
 * memtable inserts, fewer WAL writes and fsyncs, fewer outbox rounds) took
 * the fold process from 12.2-13.9 to 10.9-12.3 us CPU per event and the
 * end-to-end benchmark from 106k to 124-125k events/s, for ~110 MiB more
 * peak RSS (65536: no further gain end to end, +210 MiB; docs/fold-worker.md).
 * Under light load a cycle ends as soon as the consumer holds nothing more. */
#define RF_FOLD_BATCH_MAX 32768
#define RF_FOLD_BATCH_MS  50
/* An idle fold worker blocks in the consumer's poll this long (a message
 * wakes it at once), then serves its stats and the exit-at-end check. */
#define RF_FOLD_IDLE_WAIT_MS 100
/* The local queue of the fold's and the projection's consumers (-X
 * overrides both): librdkafka before 2.1 (Debian 12 ships 2.0.2) stops
 * fetching a partition for a fixed second once the consumer queue (shared by
 * all its partitions) holds queued.min.messages messages or
 * queued.max.messages.kbytes. With the defaults (100,000 messages, under a
 * second of the fold) every process of the end-to-end benchmark stood still
 * for 100-200 ms once a second. So the count is not the bound (librdkafka's
 * maximum), and the bytes (128 MiB, about two seconds of the fold) are: the
 * queue never drains during a pause, and its memory stays bounded.
 * librdkafka >= 2.1 has fetch.queue.backoff.ms for this. */
#define RF_CONSUMER_QUEUE_MESSAGES "10000000"
#define RF_CONSUMER_QUEUE_KBYTES   "131072"
/* Upper bound of --batch-ms: a longer cycle only delays durability and the
 * consumer's liveness (max.poll.interval.ms) for no throughput gain. */
#define RF_FOLD_BATCH_MS_MAX 10000
/* Watermark queries at assignment: a leader change or a slow broker fails a
 * few of them transiently (not leader, timed out); 10 tries 200 ms apart ride
 * out a leader election before the worker gives up with a clear error. */
#define RF_FOLD_WATERMARK_TRIES 10
/* A partition handed over while its previous owner (another process) still
 * has its ledger open: the new owner waits this long for RocksDB's lock
 * (the previous owner closes the ledger when its revocation runs, within a
 * commit) before it stops with the holder's pid; well under the default
 * max.poll.interval.ms of 300 s, during which the worker does not poll. */
#define RF_FOLD_LOCK_WAIT_MS 30000
/* Outbox records produced to refold.ledger and not yet acknowledged, per
 * partition: bounds the producer queue and the ack window bitmap (1 KiB per
 * partition); 8192 is more than a busy partition's share of a full cycle
 * (RF_FOLD_BATCH_MAX over 16 partitions, 3x skew). */
#define RF_FOLD_OUTBOX_INFLIGHT_MAX 8192
/* Outbox rounds in a row that end in a failed delivery (each after up to
 * message.timeout.ms) before the worker stops: the records are durable and a
 * restart republishes them, but a ledger topic that stays unwritable for
 * minutes needs an operator. */
#define RF_FOLD_OUTBOX_RETRY_MAX 10
/* Producer message.timeout.ms the fold sets for the DLQ and the outbox
 * (overridable with -X): a dead letter not delivered within it stops the
 * worker; 30 s rides out a leader election. */
#define RF_FOLD_PRODUCE_TIMEOUT_MS 30000
/* Threads of one fold worker: a cycle's partitions fold and commit in
 * parallel (each partition on one thread at a time); more threads than cores
 * only adds switching. */
#define RF_FOLD_THREADS_MAX 16
/* How long a clean shutdown or a revoke waits for outbox acknowledgements
 * before closing the ledger (what is not acknowledged is republished). */
#define RF_FOLD_DRAIN_MS 10000

/* The embedded broker (librdkafka 2.0.2 mock) keeps only the last 5 MiB or
 * 100,000 batches per partition; producers that feed it throttle to keep the
 * consumer lag of a partition below this many messages. */
#define RF_MOCK_LAG_MAX 50000

/* Ledger storage: one RocksDB per partition (docs/ledger.md). The block cache
 * is shared by every partition a storage environment (common/rf_store.h: a
 * worker's, or the process default) opens, so read memory does not grow
 * with the partition count: 64 MiB holds the index/filter blocks and hot
 * balances and dedup blocks of a 16-partition worker. At 15-20M events per
 * worker its filters and indexes take 50 MiB and half the state's data block
 * reads miss; 256 MiB cut those misses to a fifth but not the CPU per event
 * (37.3 against 37.3 us over 20M: docs/ledger.md, "Flat cost as the ledger
 * grows"), so it stays at 64 MiB. */
#define RF_LEDGER_BLOCK_CACHE_BYTES (64u << 20)
/* ... in 2^3 shards: RocksDB's default splits a 64 MiB cache in 64 shards of
 * 1 MiB; a table's full filter block (about 1.25 bytes per key: 1 MiB and
 * more for a large file) then evicts the others of its shard and every dedup
 * miss read a filter from disk (95 us per event at 1M events). 8 of 8 MiB. */
#define RF_LEDGER_CACHE_SHARD_BITS 3
/* Memtables of all the writable ledgers of an environment: each one gets
 * an equal share (a power of two) for its state memtable, the records and
 * archive memtables a quarter of that each, two of each at most, so a
 * partition holds at most 3 x its share. Bigger memtables mean fewer
 * flushes and state compactions (8 / 16 / 32 / 64 MiB: 17.8 / 13.3 / 11.5
 * / 10.9 us CPU per event at 2M events on one partition, docs/ledger.md). */
#define RF_LEDGER_MEMTABLE_BUDGET_BYTES (1u << 30)
/* Bounds of a partition's state memtable: the floor (many partitions may
 * exceed the budget, by 3 x 8 MiB each) still holds a batch of
 * RF_FOLD_BATCH_MAX events; above the cap the gain is small. */
#define RF_LEDGER_WRITE_BUFFER_BYTES (8u << 20)
#define RF_LEDGER_WRITE_BUFFER_MAX   (64u << 20)
/* Memtables per column family (the active one and one flushing): the "two
 * of each at most" of the budget above. */
#define RF_LEDGER_MEMTABLES_MAX 2
/* The state's memtable bloom filter, as a fraction of its memtable: every
 * event looks up a dedup key that is almost never there, and the filter
 * answers the miss without a skiplist search. */
#define RF_LEDGER_MEMTABLE_BLOOM_RATIO 0.02
/* L0 files of a column family before a compaction: a state miss probes the
 * bloom filter of each, a compaction merges them all at once (4 cost 0.6 us
 * more per event at 2M events). */
#define RF_LEDGER_L0_TRIGGER 8
/* Open table files per partition RocksDB (a table reopened costs a read of
 * its footer, index and filter: 64 thrashed at 2M events, 512 did not).
 * Descriptors: partitions x this at most; a partition holds about its size /
 * 64 MiB files, so only large ledgers get near it. */
#define RF_LEDGER_OPEN_FILES_MAX 512
/* ... in a table cache of 2^2 shards: RocksDB's default of 64 shards gave
 * each under one entry, so flushes of the record files evicted the state
 * files and misses reopened tables (-0.6 us per event). */
#define RF_LEDGER_TABLE_CACHE_SHARD_BITS 2
/* Target size of the record and archive table files (compressed): larger
 * files, fewer of them open. */
#define RF_LEDGER_LOG_FILE_BYTES (256u << 20)
/* Block size of the record and archive table files: they are written and
 * read in key order (outbox, verify, export, replay), so 16 KiB blocks cost
 * a point read little and cut the per-block work of compression (LZ4 sets up
 * a 16 KiB state for every block): 3% fewer instructions and 4% less disk on
 * a replay than RocksDB's 4 KiB. The state keeps 4 KiB (random point reads). */
#define RF_LEDGER_LOG_BLOCK_BYTES (16u << 10)
/* Table files a bulk load (replay) writes per log column family before its
 * ingest, each closed at about RF_LEDGER_LOG_FILE_BYTES: 1 TiB of records or
 * archive per partition; beyond it the load fails instead of piling up files. */
#define RF_LEDGER_BULK_FILES_MAX 4096
/* A bulk load's state kept in memory (the overlay: keys, every value written,
 * tables) before it is written to a table file and ingested: all open bulk
 * loads of a process share RF_LEDGER_BULK_STATE_BUDGET_BYTES (the memory
 * their memtables had), each between the MIN and the MAX below. An archive
 * replay has at most 2 + RF_REPLAY_FINISH_QUEUE + 1 open (folding threads,
 * queued, finishing), so each gets the MAX; a replay from Kafka has every
 * partition open, 16 get 64 MiB each. A partition of 1M loadgen events
 * (62.5k events) holds 34 MiB, so most archive replays never spill (a spill
 * makes later misses read RocksDB and leaves one more table file in L0).
 * Each may exceed its bound by one batch, and the arena's doubling slack can
 * double what it allocates. The MIN holds more than a batch of
 * RF_FOLD_BATCH_MAX events (about 0.5 KiB of state each). */
#define RF_LEDGER_BULK_STATE_BUDGET_BYTES (1u << 30)
#define RF_LEDGER_BULK_STATE_BYTES        (128u << 20)
#define RF_LEDGER_BULK_STATE_MIN_BYTES    (24u << 20)
/* Batch memory (overlay and staging buffers) of closed ledgers that their
 * environment keeps for the next open (rf_store_env_keep): as many sets as a
 * replay has ledgers open at once (2 folding + RF_REPLAY_FINISH_QUEUE + 1),
 * each at most a bulk load's bound plus its slack and a batch, so the pool
 * holds memory the process already needed at its peak. */
#define RF_BATCH_MEM_POOL       5
#define RF_BATCH_MEM_POOL_BYTES (2 * (size_t)RF_LEDGER_BULK_STATE_BYTES + (64u << 20))
/* Archived events are stored in chunks, one RocksDB key per chunk of
 * consecutive offsets (docs/ledger.md): a key per event cost a memtable
 * insert each. A chunk closes once it holds this many bytes, so reading one
 * archived offset reads at most this plus one event. */
#define RF_LEDGER_ARCHIVE_CHUNK_BYTES (64u << 10)
/* How far an event's occurred_at may run ahead of its message's trusted
 * clock (the broker's timestamp, archived with the event) and still advance
 * the partition's event time (docs/reliability.md, "Event time"). NTP-synced
 * hosts differ by milliseconds; a producer's batching and retries add
 * seconds: 5 minutes leaves honest apps far inside it, and bounds what a
 * wrong or hostile clock can skip (a hold period is days). A constant, not a
 * setting: the fold must give the same ledger from the same archive whoever
 * replays it, so changing it is a change to the fold, like a rule. */
#define RF_LEDGER_CLOCK_SKEW_MS (5 * 60 * 1000LL)
/* Committed records a writable ledger keeps in memory for its outbox until
 * acknowledged (the outbox reads them from there, not back from RocksDB).
 * About RF_FOLD_OUTBOX_INFLIGHT_MAX records of ~400 bytes; an outbox lagging
 * further reads from RocksDB. */
#define RF_LEDGER_TAIL_BYTES (4u << 20)
/* Verify recomputes every balance from the postings in a hash map of at most
 * this many accounts per pass (~220 bytes each: 256k accounts ~ 56 MiB); a
 * ledger with more accounts is verified in several passes over the records,
 * so memory stays bounded however large the ledger grows. */
#define RF_VERIFY_ACCOUNTS_MAX (1 << 18)

/* Producers (producers/). rf_producer_emit on a full local queue polls for
 * delivery reports this long before giving RF_ERR_RETRY back: long enough to
 * ride out one broker round trip of a full batch, short enough that a caller
 * with a dead broker hears about it. */
#define RF_PRODUCER_FULL_WAIT_MS 1000
/* Commands retry RF_ERR_RETRY (and wait in flush) at most this many times:
 * 300 x 1 s is librdkafka's default message.timeout.ms, after which queued
 * events have failed anyway. */
#define RF_PRODUCER_RETRY_MAX 300
/* loadgen: programs, and referrers over all programs, it simulates (24
 * bytes of state per referrer), and actions scheduled in the future (clicks waiting to
 * become signups, purchases waiting for refunds...): at about 48 bytes each
 * the schedule stays under 50 MiB; follow-ups beyond it are dropped. */
#define RF_LOADGEN_PROGRAMS_MAX  1000
#define RF_LOADGEN_REFERRERS_MAX 1000000
#define RF_LOADGEN_PENDING_MAX   (1 << 20)
/* loadgen throttling against the embedded broker: besides RF_MOCK_LAG_MAX
 * messages, keep a partition's unconsumed bytes under this share of the mock's
 * 5 MiB per partition (the smaller bound wins), and give up waiting for a
 * consumer that made no progress for this long. */
#define RF_MOCK_LAG_BYTES_MAX (4 * 1024 * 1024)
#define RF_LOADGEN_STALL_MS   60000
/* ... and, at the cap with a group that has committed nothing yet, wait this
 * long for its first commit before stopping: a consumer-group join on the
 * embedded broker takes about 3 s (DESIGN.md), so a fold started together
 * with loadgen is not mistaken for no consumer (--lag-wait overrides). */
#define RF_LOADGEN_FIRST_COMMIT_WAIT_MS 10000

/* HTTP API: request line + headers + query string. */
#define RF_HTTP_URL_MAX 2048

/* Projection worker (consumers/rf_project*.c): a poll cycle is a group
 * commit, as in the fold: it starts with the first record to arrive and
 * takes what the consumer already holds, up to RF_PROJECT_CYCLE_MAX records
 * or RF_PROJECT_BATCH_MS of taking; one synced WriteBatch per partition per
 * cycle. RF_PROJECT_BATCH_MAX is also --commit-ms's record bound. */
#define RF_PROJECT_BATCH_MAX 16384
#define RF_PROJECT_BATCH_MS  50
/* An idle projection worker blocks in the consumer's poll this long (a
 * record wakes it at once), then serves its stats, checkpoints and stop. */
#define RF_PROJECT_IDLE_WAIT_MS 100
/* A cycle's partitions are applied on more threads only when each thread
 * gets at least this many records: starting one costs tens of microseconds,
 * more than applying a handful of records on the polling thread. */
#define RF_PROJECT_APPLY_THREAD_MIN 256
/* ... but a worker with a backlog (catching up, or a burst) collects up to
 * this many per cycle: librdkafka hands over ~3,700-record runs of one
 * partition at a time, so a 16,384-record cycle gave ~5 partitions ~3,700
 * records each; 4x fewer cycles mean fewer commits (each rewrites the
 * partition's hot counters) and better-balanced apply threads (~20 MiB of
 * messages held at most). */
#define RF_PROJECT_CYCLE_MAX (4 * RF_PROJECT_BATCH_MAX)
/* `refold project --commit-ms`: how long a partition may keep applied records
 * uncommitted to batch more of them per commit (reads are that much staler;
 * a crash re-applies them from the stored offset). */
#define RF_PROJECT_COMMIT_MS_MAX 10000
/* Partitions a projection worker applies in parallel (one thread each, the
 * calling thread included): partitions share nothing, so more threads than
 * cores only add switching. */
#define RF_PROJECT_THREADS_MAX 16
/* A projection replica (refold project --replica) asks for the ledger
 * topic's partition count this often, to take up partitions added later:
 * one metadata round trip, and a new partition is rarely urgent. */
#define RF_PROJECT_REPLICA_REFRESH_MS 10000
/* How long a replica waits for the ledger topic's metadata at start: the
 * topic may be created by the first fold worker's outbox. */
#define RF_PROJECT_REPLICA_METADATA_MS 30000
/* The projection's per-partition write-back cache: a batch commits early
 * when it holds this many keys (a referral touches ~100 keys: 8 boards with
 * their rank counters), and a commit drops the cache above RF_PROJECT_CACHE_KEEP
 * keys (~100 bytes per entry: at most ~13 MiB per partition, ~6.5 MiB kept):
 * hot keys (a program's counters, board tops) stay cached across commits. */
#define RF_PROJECT_CACHE_ENTRIES_MAX 131072
#define RF_PROJECT_CACHE_KEEP        65536
/* The projection stores' block cache, one per process (environment) for
 * every partition: 16 partitions must not each take their own. */
#define RF_PROJECT_BLOCK_CACHE_BYTES (128u << 20)
/* A projection store's memtable: fixed, so partitions x this bounds the
 * memtables of a projection worker. */
#define RF_PROJECT_WRITE_BUFFER_BYTES (8u << 20)
/* Its memtable bloom filter (a fraction of the memtable): most cache misses
 * are keys that do not exist yet (a user's first day). */
#define RF_PROJECT_MEMTABLE_BLOOM_RATIO 0.05
/* Leaderboard top K and stats rows per query: a page, not an export. */
#define RF_LEADERBOARD_TOP_MAX 1000
#define RF_STATS_ROWS_MAX      4096
/* Query handles following a running worker (rocksdb secondary instances,
 * consumers/serve/rf_query.h) catch up when a store's directory changes
 * (inotify: a commit appends to its WAL), at most every RF_QUERY_REFRESH_MIN_MS
 * so one catch-up takes a burst of partition commits (the projection commits
 * its partitions together): a commit is visible to readers within about
 * that much. A follower sleeps up to RF_QUERY_REFRESH_MS at a time (its
 * thread's stop is served that often too), catches up every partition every
 * RF_QUERY_FULL_REFRESH_MS whatever the notifications said (a store whose
 * writes inotify does not see), and every RF_QUERY_REFRESH_MS where there is
 * no notification. */
#define RF_QUERY_REFRESH_MIN_MS  2
#define RF_QUERY_REFRESH_MS      100
#define RF_QUERY_FULL_REFRESH_MS 1000
/* A follower's secondary instance has a scratch dir under $TMPDIR named with
 * its pid; a dir of a process that is gone and untouched this long is
 * removed by the next follower that starts (a killed process leaves its own). */
#define RF_QUERY_SCRATCH_STALE_S 600
/* HTTP API (refold serve): connections served at once, worker threads (one
 * per core here), seconds before an idle connection is closed, and the
 * per-connection memory (request line + headers; larger requests get 414/431). */
#define RF_HTTP_CONN_MAX    512
#define RF_HTTP_THREADS     2
#define RF_HTTP_TIMEOUT_S   10
#define RF_HTTP_CONN_MEMORY 16384

/* JSON lines for `refold emit`: one event per line. */
#define RF_JSON_LINE_MAX (RF_RULES_MAX * 2 + 4096)

/* Referral rules (ledger/rules/, docs/programs.md). A program is a small
 * fixed-size struct compiled once per version, so these bound its size. */
/* Tiers and milestones per program: real programs use 3-5; 16 is ample. */
#define RF_RULES_TIERS_MAX      16
#define RF_RULES_MILESTONES_MAX 16
/* Sliding-window fraud checks (ip_cluster, velocity) keep the last N event
 * times per key: N <= 256 keeps a state value under 2 KiB. */
#define RF_RULES_WINDOW_MAX 256
/* Compiled programs cached per partition ledger (a miss re-reads and
 * re-parses the program's rules: correct, only slower). */
#define RF_RULES_CACHE_PROGRAMS 256
/* Rewarded purchases per referral when first_purchase_only is false: bounds
 * the rewards a review rejection or refund must reverse in one event. */
#define RF_RULES_QUALIFYING_MAX 8
/* The rules' write-through cache of their own state (users, referrers,
 * codes, windows): hot keys are read from memory, not RocksDB. Entries of at
 * most RF_RULES_STATE_VAL_MAX bytes; 8192 x ~1 KiB = 8 MiB per partition. */
#define RF_RULES_STATE_CACHE   8192
#define RF_RULES_STATE_VAL_MAX 768
/* Codes (code -> referrer, read by every click and signup) have a table of
 * their own in that cache, so one-off keys cannot evict them: 8192 x ~208
 * bytes = 1.6 MiB per partition. */
#define RF_RULES_CODE_CACHE 8192
/* Upcoming holds kept in memory per partition (read with one index scan), so
 * maturing rewards costs one scan per this many holds instead of one each. */
#define RF_RULES_DUE_AHEAD 64
/* Payment hashes kept per user for the self-referral check. */
#define RF_RULES_PAYMENT_HASHES 4

/* Finance and operator tools (ledger/rf_finance.h, consumers/rf_replay.c,
 * rf_dlq.c, rf_checkpoint.c, rf_metrics.h). Owner: the "tools" module. */
/* Accounts summed in one report (trial balance, statement, what-if): an
 * account is about 210 bytes, so 1M accounts stay near 200 MiB; maps grow by
 * doubling, so small ledgers use little. */
#define RF_FINANCE_ACCOUNTS_MAX (1u << 20)
/* Movements in one statement (one user over one period): a user with more
 * than 1M postings in a period is a bot; ask for a shorter period. */
#define RF_FINANCE_MOVEMENTS_MAX (1u << 20)
/* Payout lines and ledger redemptions matched in one reconcile run (about
 * 240 bytes each): a month of payouts of a large program; split bigger files
 * by period (--from/--to). */
#define RF_FINANCE_PAYOUTS_MAX (1u << 20)
/* Discrepancies listed one by one in a reconcile report (all are counted). */
#define RF_FINANCE_ISSUES_MAX 1000
/* One line of a payout CSV (5 short columns fit in a few hundred bytes). */
#define RF_FINANCE_CSV_LINE_MAX 4096
/* Replay: events folded per synced commit of the scratch ledger (the fold
 * worker's batch bound, so a replayed batch costs what a live one does). */
#define RF_REPLAY_BATCH_MAX RF_FOLD_BATCH_MAX
/* Replay threads (partitions folded in parallel from the archive): each holds
 * one partition's open batch (up to a few MiB), so 16 stays modest. */
#define RF_REPLAY_JOBS_MAX 16
/* Folded partitions of an archive replay waiting for the finisher thread
 * (state written, sync, ingest: rf_ledger_bulk_finish); a folding thread that
 * would exceed it waits. Each holds its state in memory until finished
 * (RF_LEDGER_BULK_STATE_BYTES), so with two folding threads at most 2 + 2 + 1
 * writable ledgers are open. */
#define RF_REPLAY_FINISH_QUEUE 2
/* Replay from Kafka: how long a partition may deliver nothing before the
 * replay gives up on reaching its end offset (a broker that lost data). */
#define RF_REPLAY_IDLE_MS 30000
/* Checkpoint: how long `refold checkpoint` waits for a running worker to
 * answer a checkpoint request (a worker polls between poll cycles of at most
 * RF_FOLD_BATCH_MS_MAX, but a slow synced commit or a rebalance can take
 * seconds), and how often a worker looks for a request. */
#define RF_CHECKPOINT_WAIT_MS 60000
#define RF_CHECKPOINT_POLL_MS 200
/* DLQ tools: dead letters redriven in one run (each is held in memory until
 * delivered) and bytes dumped by `dlq show` (a dead letter may be oversize). */
#define RF_DLQ_REDRIVE_MAX    100000
#define RF_DLQ_SHOW_BYTES_MAX (1 << 20)
/* Metrics registry: series (name + label set) a process exports. Labels are
 * bounded sets (outcome, reason = error code name, partition), so 16
 * partitions x 4 outcomes x ~20 reasons and the rest fit easily; a series
 * beyond the bound is dropped and counted (refold_metrics_dropped_total). */
#define RF_METRICS_SERIES_MAX 4096
#define RF_METRICS_NAME_MAX   96
#define RF_METRICS_LABELS_MAX 192
#define RF_METRICS_HELP_MAX   160
/* Histogram buckets per metric (Prometheus default latency buckets are 11). */
#define RF_METRICS_BUCKETS_MAX 24

/* `refold demo` (consumers/rf_demo*.c). Example programs it loads from
 * ops/programs (a handful; each takes over one loadgen program's traffic),
 * and the largest program file it reads (rules plus wrapper and blanks). */
#define RF_DEMO_PROGRAMS_MAX     32
#define RF_DEMO_PROGRAM_FILE_MAX (4 * RF_RULES_MAX)
/* The demo throttles its producer so that no partition of refold.ledger
 * holds more unprojected bytes than RF_MOCK_LAG_BYTES_MAX: it counts the
 * records the fold has not yet produced (events not folded x records per
 * event: the partition's own ratio so far (head seq / folded offset;
 * measured 1.04-1.16 over 1M loadgen events) plus this margin, in percent,
 * for reward-heavy stretches, and at least 1) plus the records not yet
 * projected, at this many bytes per record as the broker stores them: the
 * outbox compresses (gzip level 1, rf_kafka.c); measured on the embedded
 * broker, 5 MiB held 44,600-46,800 records of a partition, 112-117 bytes
 * each with batch overhead (uncompressed Avro: mean 319, max 552). Until a
 * partition has folded RF_DEMO_RPE_MIN_EVENTS events its ratio counts as
 * RF_DEMO_RECORDS_PER_EVENT_EST. */
#define RF_DEMO_RECORDS_PER_EVENT_EST 2
#define RF_DEMO_RPE_MARGIN_PCT        50
#define RF_DEMO_RPE_MIN_EVENTS        4096
#define RF_DEMO_RECORD_BYTES_EST      192
/* ... and, better than estimates, it measures what the broker keeps: every
 * this often, a partition's low and high watermarks on both topics; once the
 * broker deleted a partition's first batch, the messages between them are
 * what its 5 MiB hold, and a partition may hold this share of that unread
 * (the rest: the batch the broker deletes at once, up to 1 MB, and
 * messages bigger than those measured). */
#define RF_DEMO_KEPT_EVERY_MS 100
#define RF_DEMO_KEPT_PCT      70
/* A pipeline stage that makes no progress for this long while it has work
 * fails the demo (a stuck worker, not a slow one: stages move every 50 ms). */
#define RF_DEMO_STALL_MS 60000
/* `refold demo --webhooks`: its endpoint's generated secret, "whsec_" + 48
 * base64 characters (36 bytes of key, within RF_WEBHOOK_SECRET_BYTES_MAX) + NUL. */
#define RF_DEMO_WH_SECRET_CHARS 48
#define RF_DEMO_WH_SECRET_BUF   (6 + RF_DEMO_WH_SECRET_CHARS + 1)
/* The demo's endpoint is a local receiver: short timeouts, and retries that
 * end (parked) within RF_DEMO_WH_MAX_AGE_MS of a message's first attempt so
 * the demo ends. */
#define RF_DEMO_WH_TIMEOUT_MS   2000
#define RF_DEMO_WH_INITIAL_MS   200
#define RF_DEMO_WH_MAX_DELAY_MS 2000
#define RF_DEMO_WH_ATTEMPTS     5
#define RF_DEMO_WH_MAX_AGE_MS   20000
/* After the projection caught up, the demo's wait for the relay ends when
 * nothing moved for this long (a receiver that hangs without answering). */
#define RF_DEMO_WH_STALL_MS 30000

/* `refold program` (consumers/rf_program_cmd.c): the largest rules file it
 * reads: the rules (at most RF_RULES_MAX once compacted into the event) plus
 * the indentation and blanks of a hand-written, pretty-printed file. */
#define RF_PROGRAM_FILE_MAX (4 * RF_RULES_MAX)
/* How long `refold program apply` waits for the topic's partition count (a
 * metadata request), to check that the fold data directory it takes the
 * version from covers the program's partition: a connected broker answers in
 * milliseconds; longer means it is unreachable. */
#define RF_PROGRAM_METADATA_WAIT_MS 10000
/* `refold program apply --wait S`: how often it re-opens the partition's fold
 * ledger (read-only; an open costs milliseconds) to see whether the fold
 * reached the published event, and the longest wait it accepts. */
#define RF_PROGRAM_WAIT_POLL_MS 200
#define RF_PROGRAM_WAIT_MAX_S   3600

/* Every RocksDB store (common/rf_store.c): background flush and compaction
 * jobs (the machines have two cores), bloom filter bits per key in table
 * files (about 1% false positives), and levels (RocksDB's default). */
#define RF_STORE_BACKGROUND_JOBS 2
#define RF_STORE_BLOOM_BITS      10
#define RF_STORE_LEVELS          7

/* RocksDB's own info LOG per store (common/rf_store.c): files kept and the
 * size at which it rolls over. Diagnostics only; without a bound a
 * long-running worker's LOG grows forever (flush and compaction lines). */
#define RF_ROCKSDB_LOG_FILES      2
#define RF_ROCKSDB_LOG_FILE_BYTES (1u << 20)
/* ... and with statistics on (REFOLD_ROCKSDB_STATS_S): a dump of every
 * family's statistics is ~30 KiB, so 2 files of 16 MiB keep a few hours. */
#define RF_ROCKSDB_STATS_LOG_FILE_BYTES (16u << 20)

/* How often a command that runs until SIGINT/SIGTERM (`serve`, `broker`,
 * `demo --keep-broker`) looks at its stop flag: the longest delay between
 * the signal and the shutdown starting. */
#define RF_STOP_POLL_MS 100

/* `refold serve`'s pages (consumers/serve/rf_pages.c): a referral-page token
 * (rf_reftoken.h) lives at most RF_REFTOKEN_TTL_MAX_S (400 days: a yearly
 * campaign plus slack; a longer one is refused so a leaked link dies), its
 * text is at most RF_REFTOKEN_MAX bytes (two base64url ids, the expiry and
 * 64 hex digits), and the secret it is signed with is 16..256 bytes (HMAC
 * keys shorter than 16 bytes are guessable). The dashboard's reward chart
 * asks for at most RF_SERIES_MAX periods (a year of days plus one). */
#define RF_REFTOKEN_TTL_MAX_S  (400LL * 86400)
#define RF_REFTOKEN_MAX        320
#define RF_REFTOKEN_SECRET_MIN 16
#define RF_REFTOKEN_SECRET_MAX 256
#define RF_SERIES_MAX          367
/* The dashboard's user lookup (/v1/programs/{p}/users/{u}/explain) returns at
 * most this many records of `refold explain` (a busy referrer has thousands;
 * the summary still counts them all). */
#define RF_EXPLAIN_HTTP_RECORDS 500
/* /v1/ops reads the fold ledgers' heads in a background thread of serve
 * (opening 16 ledgers of a 1M-event demo read-only takes 1.5 s: done in a
 * request it would stall every connection of that HTTP thread): at most every
 * RF_OPS_REFRESH_MS while the dashboard asks, and not at all once nobody has
 * asked for RF_OPS_IDLE_MS. */
#define RF_OPS_REFRESH_MS 5000
#define RF_OPS_IDLE_MS    60000
/* The dashboard's review queue (/v1/programs/{p}/reviews?limit=N) lists at
 * most this many held referrals, oldest first: a page a reviewer works
 * through; the answer says when more are waiting. */
#define RF_REVIEWS_MAX     200
#define RF_REVIEWS_DEFAULT 50
/* A held referral's entry sums its held rewards per asset for this many
 * assets (a program pays in a referrer asset, a friend asset and maybe a
 * milestone asset); rewards in further assets are counted, not summed. */
#define RF_REVIEW_ASSETS_MAX 4
/* The referral page lists a referrer's most recent friends with their
 * progress: the projection keeps this many per referrer in a ring (a
 * referrer with thousands of friends costs a bounded key range, and the page
 * stays one screen); older friends drop out, the total is still counted. */
#define RF_REFERRAL_FRIENDS_MAX 20
/* `refold verify --data DIR` records its result in DIR/verify.json for
 * /v1/ops; serve reads at most this many bytes of it (16 partitions' lines
 * with their messages fit with room to spare; a larger file is not ours). */
#define RF_VERIFY_RESULT_MAX 65536
/* A program's landing URL (rules field landing_url, docs/programs.md): it
 * travels to the read side as a ledger fact, so a fact value's length. */
#define RF_LANDING_URL_MAX RF_FACT_VAL_MAX

/* `refold gateway` (producers/rf_gateway*.c, docs/intake.md):
 * - clicks wait for the publisher thread in a ring of this many entries
 *   (~600 bytes each: ~10 MiB); a full ring still redirects and drops the
 *   click (counted): at 10k clicks/s it holds 1.6 s of a stalled broker;
 * - one POST carries at most this many events and bytes (an ndjson batch
 *   is parsed and validated in full before anything is published, ~1.4 KiB
 *   per event held: ~1.4 MiB per request at most) and one JSON event at most
 *   RF_JSON_LINE_MAX bytes;
 * - a POST waits this long for the broker's acknowledgements before 503 (the
 *   producer's message.timeout.ms default, so every event has its report by
 *   then), and tells the client to retry after this many seconds;
 * - POSTs waiting for acknowledgements at once (each holds its events);
 * - app tokens (--tokens-file), and the longest token and Idempotency-Key. */
#define RF_GATEWAY_CLICK_QUEUE_MAX  16384
#define RF_GATEWAY_BATCH_EVENTS_MAX 1000
#define RF_GATEWAY_BODY_MAX         (1u << 20)
#define RF_GATEWAY_ACK_TIMEOUT_MS   10000
#define RF_GATEWAY_RETRY_AFTER_S    5
#define RF_GATEWAY_PENDING_MAX      256
#define RF_GATEWAY_TOKENS_MAX       64
#define RF_GATEWAY_TOKEN_MAX        256
#define RF_GATEWAY_IDEM_KEY_MAX     128
/* The gateway producer's linger.ms default (the library's is 10): a POST
 * waits for its acknowledgement, so linger is latency; under load batches
 * fill before it runs out anyway (a string: it is a librdkafka property). */
#define RF_GATEWAY_LINGER_MS_STR "2"
/* Trust roots a fold accepts (`--trust-root FILE`, one or more PEM public
 * keys): the current root and the retired ones whose signatures history
 * still holds (docs/security.md). A handful: roots are rotated rarely. */
#define RF_TRUST_ROOTS_MAX 8

/* The signing string of a privileged event (docs/security.md): the largest is
 * a ProgramConfigured, its rules (RF_RULES_MAX) and under 600 bytes of other
 * fields, names and lengths; the rest is room. */
#define RF_EVENT_AUTH_MSG_MAX (RF_RULES_MAX + 2048)
/* Schema registry client (schemas/rf_codec_registry.c): the URL's length
 * (host, port and a path prefix fit with room to spare); a response's size
 * (a schema registry answer is one schema: refold's event schema is ~10 KiB
 * of JSON; 1 MiB leaves room for a large foreign one while a misdirected
 * URL cannot make the codec buffer without bound); one attempt's connect +
 * read timeout; attempts before the fold gets RF_ERR_RETRY (with backoff
 * doubling from RF_REGISTRY_BACKOFF_MS: about 3 s in all, then the worker
 * stops without advancing and a restart retries; never a dead letter). */
#define RF_URL_MAX               512
#define RF_REGISTRY_RESPONSE_MAX (1 << 20)
#define RF_REGISTRY_TIMEOUT_MS   5000
#define RF_REGISTRY_ATTEMPTS     5
#define RF_REGISTRY_BACKOFF_MS   200
/* A request body the schema registry endpoint reads (a schema to look up or
 * register: refold's event schema is ~10 KiB of JSON). */
#define RF_HTTP_BODY_MAX (256 * 1024)
/* ---- the webhook relay (consumers/webhooks/, docs/webhooks.md) ---- */
/* Endpoints in one config file: each holds in-memory windows per partition,
 * and every one is a label value of the metrics (bounded series). */
#define RF_WEBHOOK_ENDPOINTS_MAX 32
/* Signing secrets per endpoint at once: a rotation needs two (old and new);
 * a few more cover a staged rollout. */
#define RF_WEBHOOK_SECRETS_MAX 4
/* Standard Webhooks: a secret's key is 24 to 64 bytes (base64 after whsec_). */
#define RF_WEBHOOK_SECRET_BYTES_MIN 24
#define RF_WEBHOOK_SECRET_BYTES_MAX 64
/* An endpoint id (metric label, store key): short and plain. */
#define RF_WEBHOOK_ID_MAX 64
/* A URL: browsers and proxies handle 2 KiB everywhere. */
#define RF_WEBHOOK_URL_MAX 2048
/* Programs an endpoint may name (absent: every program). */
#define RF_WEBHOOK_PROGRAMS_MAX 64
/* The config file: endpoints times a few KiB each. */
#define RF_WEBHOOK_CONFIG_BYTES_MAX (256u << 10)
/* A payload: the largest record's facts (RF_FACTS_MAX values of
 * RF_FACT_VAL_MAX) as JSON with escapes, and the envelope. */
#define RF_WEBHOOK_BODY_MAX 16384
/* Concurrent requests per endpoint (config max_in_flight, default 8): one
 * slow endpoint holds at most this many of the relay's connections. */
#define RF_WEBHOOK_IN_FLIGHT_MAX     64
#define RF_WEBHOOK_IN_FLIGHT_DEFAULT 8
/* Requests in flight over all endpoints: bounds sockets and body copies. */
#define RF_WEBHOOK_IN_FLIGHT_TOTAL_MAX 512
/* Pending deliveries kept in memory per (endpoint, partition); the rest wait
 * in RocksDB and are read back as the window drains. Bounds memory whatever
 * the backlog of a failing endpoint, at the price of head-of-line blocking
 * when the whole window waits on retries of a few users. */
#define RF_WEBHOOK_WINDOW 1024
/* Attempt timeout (config timeout_ms): a receiver should answer within
 * seconds (Standard Webhooks recommends 15 s at most); at most 60 s. */
#define RF_WEBHOOK_TIMEOUT_MS_DEFAULT 10000
#define RF_WEBHOOK_TIMEOUT_MS_MAX     60000
/* The default retry schedule (config retry.*): first retry after 5 s,
 * doubling to at most 1 h between attempts, 12 attempts over at most
 * 24 h (whichever ends first), each delay jittered by +-20%. */
#define RF_WEBHOOK_RETRY_INITIAL_MS_DEFAULT   5000
#define RF_WEBHOOK_RETRY_MAX_DELAY_MS_DEFAULT 3600000
#define RF_WEBHOOK_RETRY_ATTEMPTS_DEFAULT     12
#define RF_WEBHOOK_RETRY_MAX_AGE_MS_DEFAULT   86400000
#define RF_WEBHOOK_RETRY_JITTER_PCT           20
/* Bounds a config may set: 100 attempts, a week of retries. */
#define RF_WEBHOOK_RETRY_ATTEMPTS_MAX   100
#define RF_WEBHOOK_RETRY_MAX_AGE_MS_MAX (7 * 86400000LL)
/* Failed attempts in a row (no 2xx between) after which an endpoint is
 * disabled (config disable_after_failures). */
#define RF_WEBHOOK_DISABLE_AFTER_DEFAULT 100
#define RF_WEBHOOK_DISABLE_AFTER_MAX     1000000
/* A response body kept with a failed attempt (diagnostics only). */
#define RF_WEBHOOK_ERROR_MAX 200
/* Ledger records read per poll cycle, and the cycle's time budget: each
 * cycle ends with one synced commit per partition touched. */
#define RF_WEBHOOK_CYCLE_MAX 4096
#define RF_WEBHOOK_CYCLE_MS  20
/* How long a cycle delivers before it commits the outcomes: attempts that
 * finished within it are sent again after a kill -9 (they count as in
 * flight); longer amortises the synced commits over more deliveries. */
#define RF_WEBHOOK_DELIVER_MS 50
/* Partition stores committed at once, each on its own thread: their synced
 * writes overlap instead of queueing one fsync after another. */
#define RF_WEBHOOK_COMMIT_THREADS 8
/* The relay's block cache (its stores are small: pending, parked, history). */
#define RF_WEBHOOK_BLOCK_CACHE_BYTES (16u << 20)
/* How often the relay looks for operator requests, and how long a command
 * waits for a running relay to apply one. */
#define RF_WEBHOOK_REQUEST_POLL_MS 200
#define RF_WEBHOOK_REQUEST_WAIT_MS 30000
/* Rows an operator listing prints at most (`webhooks parked`). */
#define RF_WEBHOOK_LIST_MAX 100000

#endif
