/*
 * The files `keel new` writes. {{NAME}}, {{SCENE}}, {{KEEL_INCLUDE}} and
 * {{KEEL}} are replaced (the last two escaped for a meson string), and so
 * are the starter parts (new_templates.h), all empty without --starter.
 */
#include "new_templates.h"

#include <stddef.h>

const char keel_new_template_module[] =
    "/*\n"
    " * {{NAME}}: a keel module. It publishes the service \"hello\" in scene\n"
    " * \"{{SCENE}}\". Once installed, try it with\n"
    " *\n"
    " *     keel call --scene {{SCENE}} hello '[\"world\"]'\n"
    " *\n"
    " * A module reaches its base only through the function table (keel_api)\n"
    " * handed to its start hook: see keel/module.h for what it offers and who\n"
    " * owns what.\n"
    " */\n"
    "#include <keel/module.h>\n"
    "{{STARTER_INCLUDES}}"
    "\n"
    "#include <stdio.h>\n"
    "\n"
    "{{STARTER_DECLS}}"
    "/* hello, signature \"i32(str,buf)\": writes a greeting for `who` into `out`\n"
    " * (`size` bytes) and returns the length it needed, like snprintf. */\n"
    "static int hello(const char *who, char *out, size_t size)\n"
    "{\n"
    "    return snprintf(out, size, \"hello, %s, from {{NAME}}\", who);\n"
    "}\n"
    "\n"
    "/* Called once after the base loaded the module: register what it serves.\n"
    " * Returning anything but KEEL_OK unloads it and keeps the previous version\n"
    " * serving. */\n"
    "static keel_status module_start(keel_ctx *ctx, const keel_api *api)\n"
    "{\n"
    "    keel_status st;\n"
    "{{STARTER_BINDS}}"
    "    st = api->service_register(ctx, \"{{SCENE}}\", \"hello\", \"i32(str,buf)\",\n"
    "                               (keel_fn)hello);\n"
    "    if (st != KEEL_OK) {\n"
    "        api->log(ctx, KEEL_LOG_ERROR, \"cannot publish hello in scene {{SCENE}} (status %d)\",\n"
    "                 (int)st);\n"
    "        return st;\n"
    "    }\n"
    "    api->log(ctx, KEEL_LOG_INFO, \"%s started\", api->instance_id(ctx));\n"
    "    return KEEL_OK;\n"
    "}\n"
    "\n"
    "/* Called once before unload: release what start acquired (join threads,\n"
    " * close files). Registered services are withdrawn by the base. */\n"
    "static void module_stop(keel_ctx *ctx, const keel_api *api)\n"
    "{\n"
    "    api->log(ctx, KEEL_LOG_INFO, \"%s stopping\", api->instance_id(ctx));\n"
    "}\n"
    "\n"
    "KEEL_MODULE(\"{{NAME}}\", module_start, module_stop)\n";

const char keel_new_template_manifest[] =
    "{\n"
    "  \"name\": \"{{NAME}}\",\n"
    "  \"version\": \"0.1.0\",\n"
    "  \"api\": {{API}},\n"
    "  \"library\": \"{{NAME}}.so\",\n"
    "  \"scenes\": [\"{{SCENE}}\"],\n"
    "  \"services\": [\n"
    "    {\"name\": \"hello\", \"scene\": \"{{SCENE}}\", \"signature\": \"i32(str,buf)\"}\n"
    "  ]{{REQUIRES}}\n"
    "}\n";

const char keel_new_template_meson[] =
    "# {{NAME}}: a keel module.\n"
    "#\n"
    "#     meson setup b && ninja -C b\n"
    "#\n"
    "# builds b/{{NAME}}.so and packs it with manifest.json into the bundle\n"
    "# b/{{NAME}}-VERSION.keel. Where keel/module.h and the keel command are:\n"
    "# meson_options.txt (-Dkeel_include=DIR -Dkeel=PATH).\n"
    "project('{{NAME}}', 'c',\n"
    "  version : '0.1.0',   # keep it equal to \"version\" in manifest.json\n"
    "  meson_version : '>=0.60.0',\n"
    "  default_options : ['c_std=c17', 'warning_level=2', 'b_sanitize=none'])\n"
    "\n"
    "keel_include = get_option('keel_include')\n"
    "if not import('fs').is_file(keel_include / 'keel' / 'module.h')\n"
    "  error('keel/module.h is not under \"' + keel_include + '\": pass -Dkeel_include=DIR')\n"
    "endif\n"
    "{{MESON_STARTERS}}"
    "keel = find_program(get_option('keel'))\n"
    "\n"
    "# keeld loads the module into its own link-map namespace: no sanitizers\n"
    "# there, and only the entry symbol (KEEL_MODULE) is exported.\n"
    "module = shared_module('{{NAME}}', '{{NAME}}.c',\n"
    "  name_prefix : '',\n"
    "  include_directories : include_directories(keel_include{{MESON_STARTERS_INC}}),\n"
    "  c_args : ['-fvisibility=hidden'])\n"
    "\n"
    "# The bundle: manifest.json and the module staged in a directory, packed by\n"
    "# `keel bundle`. Add resources as extra arguments of stage-bundle.sh.\n"
    "custom_target('bundle',\n"
    "  output : '{{NAME}}-' + meson.project_version() + '.keel',\n"
    "  input : ['manifest.json', module],\n"
    "  command : [find_program('stage-bundle.sh'), keel, '@INPUT0@', '@INPUT1@', '@OUTPUT@'],\n"
    "  build_by_default : true)\n";

const char keel_new_template_options[] =
    "option('keel_include', type : 'string', value : '{{KEEL_INCLUDE}}',\n"
    "       description : 'the directory that holds keel/module.h')\n"
    "option('keel', type : 'string', value : '{{KEEL}}',\n"
    "       description : 'the keel command, which packs the bundle')\n"
    "{{OPTIONS_STARTERS}}";

const char keel_new_template_stage[] =
    "#!/bin/sh\n"
    "# Stages a bundle directory (manifest.json, the module, resources) and packs\n"
    "# it with `keel bundle`.\n"
    "# Usage: stage-bundle.sh KEEL MANIFEST MODULE OUT.keel [RESOURCE...]\n"
    "set -eu\n"
    "keel=$1 manifest=$2 module=$3 out=$4\n"
    "shift 4\n"
    "stage=$(mktemp -d \"${TMPDIR:-/tmp}/keel-stage.XXXXXX\")\n"
    "trap 'rm -rf \"$stage\"' EXIT\n"
    "cp \"$manifest\" \"$stage/manifest.json\"\n"
    "cp \"$module\" \"$stage/{{NAME}}.so\"\n"
    "for resource in \"$@\"; do\n"
    "  cp \"$resource\" \"$stage/\"\n"
    "done\n"
    "\"$keel\" bundle \"$stage\" -o \"$out\" >/dev/null\n";

const char keel_new_template_readme[] =
    "# {{NAME}}\n"
    "\n"
    "A keel module. It publishes the service `hello` (signature `i32(str,buf)`) in\n"
    "scene `{{SCENE}}`.\n"
    "\n"
    "| file | what it is |\n"
    "|---|---|\n"
    "| `{{NAME}}.c` | the module: start and stop hooks, the `hello` service |\n"
    "| `manifest.json` | name, version, module-api version, library, scenes, services |\n"
    "| `meson.build` | builds `{{NAME}}.so` and the bundle `{{NAME}}-0.1.0.keel` |\n"
    "| `meson_options.txt` | where `keel/module.h` and the `keel` command are |\n"
    "| `stage-bundle.sh` | stages the bundle directory and runs `keel bundle` |\n"
    "\n"
    "## Build\n"
    "\n"
    "```sh\n"
    "meson setup b && ninja -C b\n"
    "```\n"
    "\n"
    "gives `b/{{NAME}}.so` and `b/{{NAME}}-0.1.0.keel`. If keel moved, point the\n"
    "build at it: `meson setup b -Dkeel_include=/path/to/module-api/include -Dkeel=/path/to/keel`.\n"
    "\n"
    "{{README_STARTERS}}"
    "## Install and try it\n"
    "\n"
    "With a running base (`keeld --work-dir DIR --socket PATH`), and\n"
    "`export KEEL_SOCKET=PATH`:\n"
    "\n"
    "```sh\n"
    "keel install b/{{NAME}}-0.1.0.keel\n"
    "keel list\n"
    "keel call --scene {{SCENE}} hello '[\"world\"]'\n"
    "keel history {{NAME}}\n"
    "```\n"
    "\n"
    "## Ship a new version\n"
    "\n"
    "Change the code, bump `version` in `manifest.json` and in `meson.build`,\n"
    "rebuild, then:\n"
    "\n"
    "```sh\n"
    "keel install b/{{NAME}}-0.2.0.keel       # installs and activates it\n"
    "keel rollback {{NAME}}                   # back to 0.1.0 if it misbehaves\n"
    "keel uninstall {{NAME}}@0.1.0            # once you are happy\n"
    "```\n";

/* ---- the starter parts (--starter NAME) ----------------------------------- */

const char keel_new_template_starter_include[] =
    "#include <keel/starters/{{STARTER}}.h>\n";

const char keel_new_template_starter_decl[] =
    "/* Starter \"{{STARTER}}\": its function table and this module's client, set in\n"
    " * module_start. Both belong to the base and stay valid, across upgrades of\n"
    " * the starter, until module_stop returns. */\n"
    "static const keel_{{SID}}_api *{{SID}}_api;\n"
    "static keel_{{SID}} *{{SID}}_client;\n"
    "\n";

const char keel_new_template_starter_bind[] =
    "    /* Starter \"{{STARTER}}\" (keel/starters/{{STARTER}}.h), which the manifest\n"
    "     * \"requires\". Its functions take the client first, for example:\n"
    "     *     {{EXAMPLE}}\n"
    "     */\n"
    "    st = api->starter_get(ctx, \"{{STARTER}}\", NULL, (const void **)&{{SID}}_api,\n"
    "                          (void **)&{{SID}}_client);\n"
    "    if (st != KEEL_OK) {\n"
    "        api->log(ctx, KEEL_LOG_ERROR, \"cannot bind starter {{STARTER}} (status %d): \"\n"
    "                 \"does the base run it ('keel starter list')?\", (int)st);\n"
    "        return st;\n"
    "    }\n";

const char keel_new_template_starter_example[] =
    "{{SID}}_api->FUNCTION({{SID}}_client, ...);  (see keel/starters/{{STARTER}}.h)";

const keel_new_starter_example keel_new_starter_examples[] = {
    {"kv", "kv_api->set(kv_client, \"visits\", \"1\", 1, 0);"},
    {"db", "db_api->exec(db_client, \"INSERT INTO notes(text) VALUES (?)\", \"[\\\"hi\\\"]\", "
           "NULL);"},
    {"config", "config_api->get_i64(config_client, NULL, \"retries\", &retries);"},
    {"timer", "timer_api->schedule(timer_client, \"flush\", "
              "\"{\\\"service\\\": \\\"flush\\\", \\\"every\\\": \\\"30s\\\"}\", &error);"},
    {"http", "http_api->route_add(http_client, \"{\\\"method\\\": \\\"GET\\\", "
             "\\\"path\\\": \\\"/hello\\\", \\\"service\\\": \\\"hello\\\"}\", "
             "error, sizeof error);"},
    {NULL, NULL},
};

const char keel_new_template_requires_item[] = "\"{{STARTER}}\": \"^1.0\"";

const char keel_new_template_meson_starters[] =
    "# The starters' headers, keel/starters/NAME.h: -Dkeel_starters_include=DIR.\n"
    "keel_starters_include = get_option('keel_starters_include')\n"
    "foreach starter : [{{STARTER_LIST}}]\n"
    "  header = keel_starters_include / 'keel' / 'starters' / (starter + '.h')\n"
    "  if not import('fs').is_file(header)\n"
    "    error(header + ' is missing: pass -Dkeel_starters_include=DIR, the directory ' +\n"
    "          'that holds keel/starters/' + starter + '.h')\n"
    "  endif\n"
    "endforeach\n";

const char keel_new_template_options_starters[] =
    "option('keel_starters_include', type : 'string', value : '{{KEEL_STARTERS_INCLUDE}}',\n"
    "       description : 'the directory that holds keel/starters/NAME.h')\n";

const char keel_new_template_readme_starters[] =
    "## Starters\n"
    "\n"
    "`{{NAME}}.c` binds the starters {{STARTER_LIST_MD}} in `module_start`\n"
    "(`api->starter_get`), and `manifest.json` lists them under `requires` with\n"
    "the version range each must satisfy (`^1.0`: change it to what you need).\n"
    "The base must run them before the module installs:\n"
    "\n"
    "```sh\n"
    "keel market search                     # what the base's market offers\n"
    "{{STARTER_ENABLES}}"
    "```\n"
    "\n";

const char keel_new_template_readme_enable[] = "keel starter enable {{STARTER}}\n";
