/* rf_store.c: RocksDB options shared by every refold store. */
#include "rf_store.h"

#include <stdlib.h>

#include "rf_limits.h"

void rf_rocksdb_info_log(rocksdb_options_t *o)
{
    rocksdb_options_set_keep_log_file_num(o, RF_ROCKSDB_LOG_FILES);
    rocksdb_options_set_max_log_file_size(o, RF_ROCKSDB_LOG_FILE_BYTES);
    const char *dir = getenv(RF_ROCKSDB_LOG_DIR_ENV);
    if (dir && *dir) rocksdb_options_set_db_log_dir(o, dir);
}
