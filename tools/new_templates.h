/*
 * new_templates.h — the files `keel new` writes (new_templates.c), with
 * {{NAME}}, {{SCENE}}, {{KEEL_INCLUDE}}, {{KEEL}}, {{API}} and the starter
 * parts' placeholders.
 */
#ifndef KEEL_TOOLS_NEW_TEMPLATES_H
#define KEEL_TOOLS_NEW_TEMPLATES_H

extern const char keel_new_template_module[];    /* NAME.c */
extern const char keel_new_template_manifest[];  /* manifest.json */
extern const char keel_new_template_meson[];     /* meson.build */
extern const char keel_new_template_options[];   /* meson_options.txt */
extern const char keel_new_template_stage[];     /* stage-bundle.sh */
extern const char keel_new_template_readme[];    /* README.md */

/* The starter parts, one per --starter NAME unless noted: rendered with
 * {{STARTER}} (the name), {{SID}} (the name as a C identifier) and
 * {{EXAMPLE}}, then put in the files above through {{STARTER_INCLUDES}},
 * {{STARTER_DECLS}}, {{STARTER_BINDS}}, {{REQUIRES}}, {{MESON_STARTERS}},
 * {{MESON_STARTERS_INC}}, {{OPTIONS_STARTERS}}, {{README_STARTERS}}. */
extern const char keel_new_template_starter_include[];   /* #include line */
extern const char keel_new_template_starter_decl[];      /* table, client */
extern const char keel_new_template_starter_bind[];      /* in module_start */
extern const char keel_new_template_starter_example[];   /* {{EXAMPLE}} of others */
extern const char keel_new_template_requires_item[];     /* "NAME": "^1.0" */
extern const char keel_new_template_meson_starters[];    /* once: the headers check */
extern const char keel_new_template_options_starters[];  /* once: the option */
extern const char keel_new_template_readme_starters[];   /* once: the section */
extern const char keel_new_template_readme_enable[];     /* keel starter enable NAME */

/* One call of a known starter's table, for the comment in module_start. */
typedef struct keel_new_starter_example {
    const char *name;   /* NULL ends keel_new_starter_examples */
    const char *call;
} keel_new_starter_example;
extern const keel_new_starter_example keel_new_starter_examples[];

#endif
