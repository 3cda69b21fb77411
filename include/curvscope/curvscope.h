/*
 * curvscope/curvscope.h: the whole public API of libcurvscope in one include.
 *
 *   curvscope/version.h    CURVSCOPE_VERSION_*, cs_version()
 *   curvscope/linop.h      Linop: y = A x, the one operator interface
 *   curvscope/net.h        NetSpec, Net, losses, Dataset, Rng
 *   curvscope/curvature.h  Curvature: Hessian, Gauss-Newton, NTK products and Linops
 *   curvscope/eig.h        top/bottom eigenpairs, Lanczos, trace, SLQ density
 *   curvscope/db.h         a run database: runs, checkpoints, series
 *   curvscope/run.h        a stored run's network and data rebuilt
 *
 * docs/LIBRARY.md says what is promised, walks through a program and gives the
 * link line (pkg-config --cflags --libs curvscope). Every fallible function
 * returns a CsStatus and fills a caller's Err; nothing in the library prints or
 * exits.
 */
#ifndef CURVSCOPE_H
#define CURVSCOPE_H

#include "curvscope/version.h"
#include "curvscope/linop.h"
#include "curvscope/net.h"
#include "curvscope/curvature.h"
#include "curvscope/eig.h"
#include "curvscope/db.h"
#include "curvscope/run.h"

#endif
