/* dx_plugin_tmpl.h - the files `dx plugin new` writes, embedded at build
 * time from tools/plugin_templates/ (embed.py): "meson.build.in",
 * "test_check.c" (the tests' CHECK macro) and, per kind, "KIND/plugin.c",
 * "KIND/test.c" and "KIND/manifest.json.in". The text holds @NAME@,
 * @KIND@, @ID@ and @CHECK@ for dx_plugin_new.c to fill in, and
 * @PLUGIN@, @PLUGINDIR@, @BUILDDIR@ for meson's configure_file. */
#ifndef DX_PLUGIN_TMPL_H
#define DX_PLUGIN_TMPL_H

typedef struct dx_tmpl {
	const char *name;
	const char *text;
} dx_tmpl;

extern const dx_tmpl dx_templates[];
extern const unsigned dx_template_count;

#endif
