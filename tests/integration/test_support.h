/* Helpers shared by the integration tests: temporary work directories,
 * bundle paths, counting what a process holds (fds, mappings). */
#ifndef KEEL_TEST_SUPPORT_H
#define KEEL_TEST_SUPPORT_H

#include <stddef.h>
#include <keel/loader.h>

/* A new empty directory under $TMPDIR; caller frees the string. */
char *test_make_work_dir(void);
/* Removes a tree (ignores errors). */
void test_remove_tree(const char *path);
/* Path of a built bundle: "samples/greeter-1.0.0" or "modules/probe".
 * Returns a static buffer. */
const char *test_bundle(const char *which);
/* Entries in a directory (not counting . and ..), -1 if it cannot be read. */
int test_dir_entries(const char *path);
/* Open file descriptors and file-backed mappings of this process. */
int test_fd_count(void);
int test_map_count(void);
/* A loader on a fresh work dir; *work_dir receives the dir (caller frees). */
keel_loader *test_loader_new(char **work_dir, unsigned max_namespaces);
/* Installs and starts a bundle, failing the test on error. */
keel_instance *test_install_started(keel_loader *l, const char *which);
/* The service `name` registered by `inst` in `scene`, or NULL. */
void (*test_service(keel_instance *inst, const char *scene, const char *name))(void);

#endif
