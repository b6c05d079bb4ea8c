/* kvdraft_version.c - libkvdraft's run-time version (kvdraft/version.h). */
#include <kvdraft/version.h>

const char *kvdraft_version(void)
{
	return KVDRAFT_VERSION_STRING;
}

int kvdraft_version_number(void)
{
	return KVDRAFT_VERSION_NUMBER;
}
