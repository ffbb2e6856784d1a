/* running-on-valgrind.h - RUNNING_ON_VALGRIND from valgrind's own header
 * where it is installed (Debian's valgrind package), else 0: for the tests
 * that valgrind cannot run as they are (it ignores flush-to-zero; volume
 * tests take hours under it). */
#ifndef CNN_TEST_RUNNING_ON_VALGRIND_H
#define CNN_TEST_RUNNING_ON_VALGRIND_H

#if defined(__has_include)
#if __has_include(<valgrind/valgrind.h>)
#include <valgrind/valgrind.h>
#endif
#endif
#ifndef RUNNING_ON_VALGRIND
#define RUNNING_ON_VALGRIND 0
#endif

#endif
