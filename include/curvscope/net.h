/*
 * curvscope/net.h: networks from a spec, their losses, datasets and seeds.
 *
 * NetSpec from "mlp:..." / activation / embedding / initialisation specs
 * (netspec_parse_*, act_parse), Net (net_init, net_init_params, net_deinit),
 * losses (loss_parse, objective_eval), Dataset (data_load) and Rng.
 */
#ifndef CURVSCOPE_NET_H
#define CURVSCOPE_NET_H

#ifdef __cplusplus
extern "C" {
#endif

#include "core/act.h"
#include "core/dataset.h"
#include "core/err.h"
#include "core/loss.h"
#include "core/net.h"
#include "core/rng.h"
#include "core/threads.h"

#ifdef __cplusplus
}
#endif

#endif
