/* rf_ledger_lock.c: which process holds a partition ledger open for writing
 * (RocksDB's fcntl lock on its LOCK file), so a worker handed a partition can
 * tell "its previous owner is still closing it" from a real storage error. */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "rf_ledger.h"

long rf_ledger_lock_holder(const char *data_dir, int32_t partition)
{
    RF_ASSERT(data_dir != NULL);
    char path[4096];
    int n = snprintf(path, sizeof path, "%s/fold/p-%04d/LOCK", data_dir, (int)partition);
    if (n < 0 || (size_t)n >= sizeof path) return -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    /* F_GETLK reports a conflicting lock of another process (never our own:
     * fcntl locks belong to the process) */
    struct flock fl;
    memset(&fl, 0, sizeof fl);
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    long pid = fcntl(fd, F_GETLK, &fl) < 0 ? -1 : fl.l_type == F_UNLCK ? 0 : (long)fl.l_pid;
    close(fd);
    RF_ASSERT(pid != (long)getpid());
    return pid;
}
