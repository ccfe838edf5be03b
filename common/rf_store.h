/* rf_store.h: RocksDB options every refold store shares (the fold ledgers,
 * the projection stores): where and how much RocksDB's own info LOG writes. */
#ifndef RF_ROCKSDB_H
#define RF_ROCKSDB_H

#include <rocksdb/c.h>

/* The environment variable naming a directory for RocksDB's info LOG files
 * (one per store, named after the store's path). Unset: the LOG lives in the
 * store's directory, RocksDB's default. Set it to a directory on another
 * filesystem than the data: Debian's librocksdb is built with assertions and
 * aborts the process when it writes a LOG line after a failed one, which is
 * what a full data filesystem does to a LOG kept there. */
#define RF_ROCKSDB_LOG_DIR_ENV "REFOLD_ROCKSDB_LOG_DIR"

/* Bounds the info LOG (RF_ROCKSDB_LOG_FILE_BYTES, RF_ROCKSDB_LOG_FILES) and
 * places it per RF_ROCKSDB_LOG_DIR_ENV. */
void rf_rocksdb_info_log(rocksdb_options_t *o);

#endif
