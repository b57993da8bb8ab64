#include "readers.h"

#include <errno.h>
#include <linux/membarrier.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "stripe.h"

int keel_readers_light;

static _Atomic(keel_reader *) registry;
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_key_t reader_key;
_Thread_local keel_reader *keel_reader_mine;
static atomic_int stripes_given;

static int membarrier_call(int cmd)
{
    return (int)syscall(__NR_membarrier, cmd, 0, 0);
}

/* A thread that exits gives its record back; the next new thread reuses it. */
static void reader_release(void *arg)
{
    keel_reader *r = arg;
    /* A thread that ends inside calls (a cancelled hook) runs no module
     * code any more: it holds no version. */
    atomic_store_explicit(&r->depth, 0, memory_order_release);
    atomic_store_explicit(&r->window, 0, memory_order_release);
    atomic_store_explicit(&r->in_use, 0, memory_order_release);
}

static void readers_init(void)
{
    pthread_key_create(&reader_key, reader_release);
#if defined(__SANITIZE_THREAD__)
    /* ThreadSanitizer does not model membarrier: use the fenced path. */
    keel_readers_light = 0;
#else
    keel_readers_light = membarrier_call(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED) == 0;
#endif
}

static keel_reader *reader_claim_free(void)
{
    for (keel_reader *r = atomic_load(&registry); r != NULL; r = r->next) {
        int free_flag = 0;
        if (atomic_compare_exchange_strong(&r->in_use, &free_flag, 1))
            return r;
    }
    return NULL;
}

keel_reader *keel_reader_register(void)
{
    pthread_once(&once, readers_init);
    pthread_mutex_lock(&registry_lock);
    keel_reader *r = reader_claim_free();
    if (r == NULL && (r = aligned_alloc(64, (sizeof *r + 63) / 64 * 64)) != NULL) {
        memset(r, 0, sizeof *r);
        atomic_store(&r->in_use, 1);
        int given = atomic_fetch_add(&stripes_given, 1);
        r->stripe = given < KEEL_STRIPES ? given : -1;
        r->next = atomic_load(&registry);
        atomic_store(&registry, r);
    }
    pthread_mutex_unlock(&registry_lock);
    if (r != NULL) {
        pthread_setspecific(reader_key, r);
        keel_reader_mine = r;
    }
    return r;
}

void keel_readers_synchronize(void)
{
    pthread_once(&once, readers_init);
    if (keel_readers_light && membarrier_call(MEMBARRIER_CMD_PRIVATE_EXPEDITED) != 0) {
        /* Cannot happen once registered; be safe rather than fast. */
        atomic_thread_fence(memory_order_seq_cst);
    }
    for (keel_reader *r = atomic_load(&registry); r != NULL; r = r->next)
        for (unsigned spins = 0; atomic_load_explicit(&r->window, memory_order_acquire); spins++)
            if (spins > 64)
                sched_yield();
}

long keel_readers_count(const struct keel_router_version *v)
{
    long n = 0;
    for (keel_reader *r = atomic_load(&registry); r != NULL; r = r->next) {
        unsigned d = atomic_load_explicit(&r->depth, memory_order_acquire);
        for (unsigned i = 0; i < d && i < KEEL_READER_DEPTH; i++)
            n += atomic_load_explicit(&r->stack[i], memory_order_relaxed) == v;
    }
    return n;
}
