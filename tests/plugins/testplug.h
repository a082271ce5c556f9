/* testplug.h - the SERVICE vtable the test plugins provide, shared with
 * the tests that call it through the registry. */
#ifndef DX_TESTPLUG_H
#define DX_TESTPLUG_H

#include <stdint.h>

typedef struct tp_service_vtable {
	uint32_t size;
	int (*answer)(void *self); /* the config's "answer", default 42 */
} tp_service_vtable;

#endif
