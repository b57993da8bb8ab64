#include <keel/log.h>

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static atomic_int log_level = -1;

int keel_log_level_parse(const char *text)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    for (int i = 0; text != NULL && i < 4; i++)
        if (strcmp(text, names[i]) == 0)
            return i;
    return -1;
}

keel_log_level keel_log_get_level(void)
{
    int level = atomic_load(&log_level);
    if (level < 0) {
        level = keel_log_level_parse(getenv("KEEL_LOG_LEVEL"));
        if (level < 0)
            level = KEEL_LOG_INFO;
        atomic_store(&log_level, level);
    }
    return (keel_log_level)level;
}

void keel_log_set_level(keel_log_level level)
{
    atomic_store(&log_level, (int)level);
}

void keel_logv(keel_log_level level, const char *tag, const char *fmt, va_list ap)
{
    if (level < keel_log_get_level())
        return;
    static const char *labels[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};
    char line[2048];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, labels[level & 3]);
    if (tag != NULL)
        n += snprintf(line + n, sizeof line - (size_t)n, "[%s] ", tag);
    int body = n;
    vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
    for (char *p = line + body; *p; p++)
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    /* One write per line keeps concurrent lines whole. */
    fprintf(stderr, "%s\n", line);
}

void keel_log(keel_log_level level, const char *tag, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    keel_logv(level, tag, fmt, ap);
    va_end(ap);
}
