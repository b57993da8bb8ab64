/*
 * Messages: a topic's subscribers are modules (slots), each with one
 * mailbox, so a switch between versions of a subscriber neither loses nor
 * repeats a message: whichever version is primary when a message comes out
 * of the mailbox handles it.
 */
#include <stdlib.h>
#include <string.h>

#include "router_internal.h"

static const vsubscription *subscription_for(const keel_router_version *v, const char *scene,
                                             const char *topic)
{
    const subscription_list *sl = atomic_load(&v->subs);
    for (size_t i = 0; sl != NULL && i < sl->count; i++) {
        const route *rt = sl->items[i].route;
        if (strcmp(rt->name, topic) == 0 && strcmp(rt->scene, scene) == 0)
            return &sl->items[i];
    }
    return NULL;
}

/* A mailbox worker hands one message to the subscriber's primary version. */
static void slot_deliver(void *owner, const keel_mail *mail)
{
    module_slot *slot = owner;
    keel_reader *reader = keel_reader_self();
    int too_deep = 0;
    keel_router_version *v = reader ? keel_slot_enter(slot, NULL, 0, reader, &too_deep) : NULL;
    const vsubscription *sub = v ? subscription_for(v, mail->scene, mail->topic) : NULL;
    if (sub != NULL) {
        keel_message msg = {mail->scene, mail->topic, mail->data, mail->size};
        sub->fn(v->ctx, &msg, sub->user);
    } else {
        atomic_fetch_add(&slot->undeliverable, 1);
    }
    if (v != NULL)
        keel_reader_pop(reader);
}

keel_status keel_topic_add_subscriber(keel_router *r, route *topic, module_slot *slot, keel_error *err)
{
    if (slot->mailbox == NULL) {
        keel_status st = keel_mailbox_create(r->bus, r->opts.queue_capacity, r->opts.overflow,
                                             slot_deliver, slot, &slot->mailbox, err);
        if (st != KEEL_OK)
            return st;
    }
    keel_status st = KEEL_OK;
    pthread_rwlock_wrlock(&r->topics_lock);
    int present = 0;
    for (size_t i = 0; i < topic->subscriber_count; i++)
        present |= topic->subscribers[i] == slot;
    if (!present) {
        module_slot **grown = realloc(topic->subscribers, (topic->subscriber_count + 1) * sizeof *grown);
        if (grown == NULL) {
            st = keel_error_set(err, KEEL_ERR_NOMEM, "out of memory");
        } else {
            topic->subscribers = grown;
            topic->subscribers[topic->subscriber_count++] = slot;
        }
    }
    pthread_rwlock_unlock(&r->topics_lock);
    return st;
}

void keel_topic_remove_subscriber(keel_router *r, route *topic, module_slot *slot)
{
    pthread_rwlock_wrlock(&r->topics_lock);
    for (size_t i = 0; i < topic->subscriber_count; i++)
        if (topic->subscribers[i] == slot) {
            topic->subscribers[i] = topic->subscribers[--topic->subscriber_count];
            break;
        }
    pthread_rwlock_unlock(&r->topics_lock);
}

void keel_slot_mailbox_close(module_slot *slot)
{
    if (slot->mailbox != NULL) {
        keel_mailbox_destroy(slot->mailbox, 5000, NULL);
        slot->mailbox = NULL;
    }
}

keel_status keel_router_publish(keel_router *r, keel_router_version *publisher, const char *scene,
                                const char *topic, const void *data, size_t size, unsigned flags,
                                size_t *receivers, keel_error *err)
{
    if (receivers != NULL)
        *receivers = 0;
    if (scene == NULL)
        scene = keel_default_scene(publisher);
    if (topic == NULL || topic[0] == '\0' || strlen(topic) > 128 || scene[0] == '\0' || strlen(scene) > 128 ||
        (data == NULL && size > 0))
        return keel_error_set(err, KEEL_ERR_INVALID, "a message needs a scene, a topic and its data");
    keel_status st = keel_scene_check(publisher, scene, NULL, topic, err);
    if (st != KEEL_OK)
        return st;
    route *rt = keel_route_find(r, scene, topic, 1);
    if (rt == NULL)
        return KEEL_OK;
    /* Copy the mailboxes out so that a sync send never waits while holding
     * the topics lock (a handler may subscribe or unsubscribe). Mailboxes
     * live as long as their slot, which lives as long as the router. */
    keel_mailbox *local[16], **boxes = local;
    pthread_rwlock_rdlock(&r->topics_lock);
    size_t n = rt->subscriber_count;
    if (n > 16)
        boxes = malloc(n * sizeof *boxes);
    for (size_t i = 0; boxes != NULL && i < n; i++)
        boxes[i] = rt->subscribers[i]->mailbox;
    pthread_rwlock_unlock(&r->topics_lock);
    if (boxes == NULL)
        return keel_error_set(err, KEEL_ERR_NOMEM, "out of memory");
    size_t full = 0;
    for (size_t i = 0; i < n; i++) {
        keel_status one = keel_mailbox_post(boxes[i], scene, topic, data, size,
                                            (flags & KEEL_PUBLISH_SYNC) != 0, r->opts.publish_timeout_ms);
        if (one == KEEL_ERR_LIMIT || one == KEEL_ERR_TIMEOUT)
            full++;
        else if (one != KEEL_OK && st == KEEL_OK)
            st = one;
    }
    if (boxes != local)
        free(boxes);
    if (receivers != NULL)
        *receivers = n;
    if (full > 0)
        return keel_error_set(err, KEEL_ERR_LIMIT,
                              "topic \"%s\" in scene \"%s\": %zu of %zu subscribers did not take the "
                              "message (queue full or too slow)", topic, scene, full, n);
    if (st != KEEL_OK)
        keel_error_set(err, st, "topic \"%s\" in scene \"%s\": %s", topic, scene, keel_status_name(st));
    return st;
}

keel_status keel_router_flush(keel_router *r, unsigned timeout_ms)
{
    pthread_mutex_lock(&r->lock);
    module_slot *slots = r->slots;
    pthread_mutex_unlock(&r->lock);
    keel_status st = KEEL_OK;
    for (module_slot *slot = slots; slot != NULL; slot = slot->next) {
        pthread_mutex_lock(&slot->lock);
        keel_mailbox *mb = slot->mailbox;
        pthread_mutex_unlock(&slot->lock);
        if (mb != NULL && keel_mailbox_flush(mb, timeout_ms) != KEEL_OK)
            st = KEEL_ERR_TIMEOUT;
    }
    return st;
}

size_t keel_router_queue_metrics(keel_router *r, void (*fn)(const keel_queue_metrics *m, void *user),
                                 void *user)
{
    pthread_mutex_lock(&r->lock);
    module_slot *slots = r->slots;
    pthread_mutex_unlock(&r->lock);
    size_t n = 0;
    for (module_slot *slot = slots; slot != NULL; slot = slot->next) {
        pthread_mutex_lock(&slot->lock);
        if (slot->mailbox != NULL) {
            keel_queue_metrics m = {slot->name, {0}, atomic_load(&slot->undeliverable)};
            keel_mailbox_stats_get(slot->mailbox, &m.stats);
            fn(&m, user);
            n++;
        }
        pthread_mutex_unlock(&slot->lock);
    }
    return n;
}
