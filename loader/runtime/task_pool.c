#include "task_pool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct task {
    struct task *next;
    keel_task_group *group;
    void (*fn)(void *ctx, void *arg);
    void *ctx;
    void *arg;
} task;

struct keel_task_pool {
    pthread_mutex_t lock;
    pthread_cond_t ready;
    task *head, *tail;
    int quitting;
    unsigned thread_count;
    pthread_t *threads;
};

void keel_task_group_init(keel_task_group *g)
{
    pthread_mutex_init(&g->lock, NULL);
    pthread_cond_init(&g->idle, NULL);
    g->pending = 0;
    g->closed = 0;
}

void keel_task_group_destroy(keel_task_group *g)
{
    pthread_mutex_destroy(&g->lock);
    pthread_cond_destroy(&g->idle);
}

static void group_finished_one(keel_task_group *g)
{
    pthread_mutex_lock(&g->lock);
    if (--g->pending == 0)
        pthread_cond_broadcast(&g->idle);
    pthread_mutex_unlock(&g->lock);
}

static void *worker_main(void *arg)
{
    keel_task_pool *pool = arg;
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        while (pool->head == NULL && !pool->quitting)
            pthread_cond_wait(&pool->ready, &pool->lock);
        task *t = pool->head;
        if (t == NULL)
            break;
        pool->head = t->next;
        if (pool->head == NULL)
            pool->tail = NULL;
        pthread_mutex_unlock(&pool->lock);
        t->fn(t->ctx, t->arg);
        group_finished_one(t->group);
        free(t);
        pthread_mutex_lock(&pool->lock);
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

keel_status keel_task_pool_create(unsigned threads, keel_task_pool **out, keel_error *err)
{
    *out = NULL;
    keel_task_pool *pool = calloc(1, sizeof *pool);
    if (pool == NULL || (pool->threads = calloc(threads, sizeof *pool->threads)) == NULL) {
        free(pool);
        return keel_error_set(err, KEEL_ERR_NOMEM, "out of memory creating task workers");
    }
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->ready, NULL);
    for (unsigned i = 0; i < threads; i++) {
        int rc = pthread_create(&pool->threads[i], NULL, worker_main, pool);
        if (rc != 0) {
            keel_task_pool_destroy(pool);
            return keel_error_set(err, KEEL_ERR_LIMIT, "cannot start task worker: %s", strerror(rc));
        }
        pool->thread_count++;
    }
    *out = pool;
    return KEEL_OK;
}

void keel_task_pool_destroy(keel_task_pool *pool)
{
    if (pool == NULL)
        return;
    pthread_mutex_lock(&pool->lock);
    pool->quitting = 1;
    pthread_cond_broadcast(&pool->ready);
    pthread_mutex_unlock(&pool->lock);
    for (unsigned i = 0; i < pool->thread_count; i++)
        pthread_join(pool->threads[i], NULL);
    pthread_mutex_destroy(&pool->lock);
    pthread_cond_destroy(&pool->ready);
    free(pool->threads);
    free(pool);
}

keel_status keel_task_pool_submit(keel_task_pool *pool, keel_task_group *g,
                                  void (*fn)(void *ctx, void *arg), void *ctx, void *arg)
{
    task *t = malloc(sizeof *t);
    if (t == NULL)
        return KEEL_ERR_NOMEM;
    *t = (task){NULL, g, fn, ctx, arg};
    pthread_mutex_lock(&g->lock);
    if (g->closed) {
        pthread_mutex_unlock(&g->lock);
        free(t);
        return KEEL_ERR_STATE;
    }
    g->pending++;
    pthread_mutex_unlock(&g->lock);
    pthread_mutex_lock(&pool->lock);
    if (pool->tail != NULL)
        pool->tail->next = t;
    else
        pool->head = t;
    pool->tail = t;
    pthread_cond_signal(&pool->ready);
    pthread_mutex_unlock(&pool->lock);
    return KEEL_OK;
}

unsigned keel_task_group_close_and_wait(keel_task_group *g, unsigned timeout_ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&g->lock);
    g->closed = 1;
    while (g->pending > 0)
        if (pthread_cond_timedwait(&g->idle, &g->lock, &deadline) == ETIMEDOUT)
            break;
    unsigned left = g->pending;
    pthread_mutex_unlock(&g->lock);
    return left;
}
