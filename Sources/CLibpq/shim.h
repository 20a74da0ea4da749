#ifndef BOXOFFICE_CLIBPQ_SHIM_H
#define BOXOFFICE_CLIBPQ_SHIM_H
#include <libpq-fe.h>
#endif
