/*
 * main.c - the idlc program. Everything lives in libidlc (driver.c) so tests can run the
 * compiler in-process; this file only forwards the command line.
 */
#include "idlc.h"

int main(int argc, char **argv)
{
    return idlc_main(argc, argv);
}
