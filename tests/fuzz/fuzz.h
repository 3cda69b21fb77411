/*
 * fuzz.h: what the libFuzzer harnesses in tests/fuzz share.
 *
 * Each harness defines LLVMFuzzerTestOneInput and nothing else: with clang it
 * links against libFuzzer (fuzz_<target>), with any compiler against
 * replay.c (fuzz_replay_<target>: every corpus file once, a regression test).
 * A harness calls abort() (through FUZZ_CHECK) when a documented property of
 * the code under test fails, so a wrong answer is a crash like any other.
 *
 * Inputs reach the readers as files in one temporary directory per process
 * (made on first use, removed at exit), since the readers take paths.
 * Not thread-safe: one input at a time, as libFuzzer runs them.
 */
#ifndef CS_FUZZ_H
#define CS_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#define FUZZ_PATH_MAX 512

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Writes data[0..size) to the file NAME in the temporary directory and puts
 * its path in path[FUZZ_PATH_MAX]; aborts if that fails (not the input's fault). */
void fuzz_file_write(const char *name, const uint8_t *data, size_t size, char *path);
/* Removes path and the -wal, -shm and -journal files SQLite may leave beside it. */
void fuzz_file_remove(const char *path);
/* 1 when the file at path holds exactly data[0..size). */
int fuzz_file_equals(const char *path, const uint8_t *data, size_t size);
/* The input as a NUL-terminated string (cut at an embedded NUL); caller frees. */
char *fuzz_string(const uint8_t *data, size_t size);

struct Dataset;
/* The shape properties every loaded Dataset has: rows, inputs and targets
 * allocated for n, labels in 0..nclasses-1 with one-hot targets. */
void fuzz_dataset_check(const struct Dataset *ds);

/* Aborts with the property's text when cond is false. */
#define FUZZ_CHECK(cond) ((cond) ? (void)0 : fuzz_fail(#cond, __FILE__, __LINE__))
void fuzz_fail(const char *what, const char *file, int line) __attribute__((noreturn));

#endif
