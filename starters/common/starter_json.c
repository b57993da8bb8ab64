/* Shared message helpers of the starters: see starter_json.h. */
#include "starter_json.h"

#include <stdio.h>
#include <string.h>

const char *keel_starter_json_excerpt(const cJSON *value, size_t max, char *buf, size_t size)
{
    char *text = cJSON_PrintUnformatted(value);
    if (text == NULL)
        snprintf(buf, size, "?");
    else if (max >= 3 && strlen(text) > max)
        snprintf(buf, size, "%.*s...", (int)(max - 3), text);
    else
        snprintf(buf, size, "%s", text);
    cJSON_free(text);
    return buf;
}
