/*
 * A small pool of base-owned worker threads for api->task_submit. Each task
 * belongs to a group (an instance), so that an instance can wait until all
 * of its tasks have run before its stop hook is called.
 */
#ifndef KEEL_TASK_POOL_H
#define KEEL_TASK_POOL_H

#include <pthread.h>
#include <keel/error.h>

typedef struct keel_task_pool keel_task_pool;

/* Pending-task counter of one instance; embedded in the instance. */
typedef struct keel_task_group {
    pthread_mutex_t lock;
    pthread_cond_t idle;
    unsigned pending;   /* queued + running */
    int closed;         /* no new tasks accepted */
} keel_task_group;

void keel_task_group_init(keel_task_group *g);
void keel_task_group_destroy(keel_task_group *g);

/* Starts `threads` workers. On KEEL_OK *out is owned by the caller. */
keel_status keel_task_pool_create(unsigned threads, keel_task_pool **out, keel_error *err);

/* Runs what is queued, joins the workers, frees the pool. NULL-safe. */
void keel_task_pool_destroy(keel_task_pool *pool);

/* Queues fn(ctx, arg) for group `g` (borrowed; must outlive the task).
 * KEEL_ERR_STATE when the group is closed. */
keel_status keel_task_pool_submit(keel_task_pool *pool, keel_task_group *g,
                                  void (*fn)(void *ctx, void *arg), void *ctx, void *arg);

/* Closes `g` to new tasks and waits up to `timeout_ms` for its pending
 * ones. Returns the number still pending (0 on success). */
unsigned keel_task_group_close_and_wait(keel_task_group *g, unsigned timeout_ms);

#endif
