#ifndef BOXOFFICE_CHIREDIS_SHIM_H
#define BOXOFFICE_CHIREDIS_SHIM_H
#include <hiredis/hiredis.h>
#endif
