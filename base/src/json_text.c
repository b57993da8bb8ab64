#include "json_text.h"

cJSON *keel_json_parse_whole(const char *json, size_t size, size_t *error_at)
{
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, size, &end, 0);
    while (root != NULL && end < json + size &&
           (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n'))
        end++;
    if (root != NULL && end < json + size) {
        cJSON_Delete(root);
        root = NULL;
    }
    if (root == NULL)
        *error_at = end != NULL && end >= json ? (size_t)(end - json) : 0;
    return root;
}
