/*
 * new_templates.h — the files `keel new` writes (new_templates.c), with
 * {{NAME}}, {{SCENE}}, {{KEEL_INCLUDE}} and {{KEEL}} placeholders.
 */
#ifndef KEEL_TOOLS_NEW_TEMPLATES_H
#define KEEL_TOOLS_NEW_TEMPLATES_H

extern const char keel_new_template_module[];    /* NAME.c */
extern const char keel_new_template_manifest[];  /* manifest.json */
extern const char keel_new_template_meson[];     /* meson.build */
extern const char keel_new_template_options[];   /* meson_options.txt */
extern const char keel_new_template_stage[];     /* stage-bundle.sh */
extern const char keel_new_template_readme[];    /* README.md */

#endif
