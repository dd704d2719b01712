/*
 * ctl_methods.h - the io.loopd.* method table (ctl_methods.c); its ctx is
 * the struct daemon (daemon.h).
 */
#ifndef LOOPD_CTL_METHODS_H
#define LOOPD_CTL_METHODS_H

#include "ctl.h"

extern const struct ctl_method ctl_methods[];

#endif
