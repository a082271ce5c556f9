#define CHECK(c)                                                           \
	do {                                                               \
		if (!(c)) {                                                \
			fprintf(stderr, "%s:%d: failed: %s\n", __FILE__,   \
				__LINE__, #c);                             \
			return 1;                                          \
		}                                                          \
	} while (0)
