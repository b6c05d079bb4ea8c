/* raft_api.h - RAFT_API, the mark of libkvdraft's public functions. */
#ifndef RAFT_RAFT_API_H_
#define RAFT_RAFT_API_H_

/* libkvdraft.so is built with hidden symbol visibility, so that the core's
 * internal raft__* functions (shared between its files) are not part of
 * the library's ABI; RAFT_API puts a declared function back into the
 * dynamic symbol table. In the static libraries and in a program including
 * the header it changes nothing: their symbols have default visibility
 * anyway. */
#if defined(__GNUC__) || defined(__clang__)
#define RAFT_API __attribute__((visibility("default")))
#else
#define RAFT_API
#endif

#endif /* RAFT_RAFT_API_H_ */
