/* The starter set as the loader's starters (keel_loader_starters):
 * requirement checks at install, binding instances, unbinding them. */
#include <keel/loader.h>

#include "starter_set_internal.h"

static keel_status loader_check(void *user, const keel_manifest *m, keel_error *err)
{
    return keel_starter_set_check(user, m, err);
}

static keel_status loader_bind(void *user, const keel_instance *inst, const char *name,
                               const char *range, const void **table, void **client, keel_error *err)
{
    const keel_manifest *m = keel_instance_manifest(inst);
    size_t n = keel_manifest_scene_count(m);
    const char *scenes[65];
    size_t k = 0;
    for (size_t i = 0; i < n && k < 64; i++)
        scenes[k++] = keel_manifest_scene(m, i);
    if (k == 0)
        scenes[k++] = "default";
    scenes[k] = NULL;
    keel_starter_binding who = {keel_instance_name(inst), keel_instance_version(inst),
                                keel_instance_id(inst), scenes[0], scenes};
    return keel_starter_set_bind(user, &who, name, range, table, client, err);
}

static void loader_unbind(void *user, const char *name, void *client)
{
    keel_starter_set_unbind(user, name, client);
}

void keel_starter_set_plug(keel_starter_set *set, keel_loader *loader)
{
    keel_loader_starters plug = {set, loader_check, loader_bind, loader_unbind};
    keel_loader_set_starters(loader, &plug);
}
