/* SPDX-License-Identifier: MIT */
/*
 * The Prometheus text exposition of the switch's counters, shared by
 * flipswitchctl (stats --prometheus) and flipswitchd's metrics endpoint.
 */
#ifndef FS_PROM_H
#define FS_PROM_H

#include <stdio.h>
#include <jansson.h>

/* Writes every series to f from the results of the control protocol's
 * `stats` (st, for every port) and `frames` (fr) commands. */
void prom_write(FILE *f, json_t *st, json_t *fr);

#endif /* FS_PROM_H */
