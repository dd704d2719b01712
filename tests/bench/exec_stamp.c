/*
 * exec_stamp.c - the child of the exec benchmarks (exec_bench.sh): reads
 * CLOCK_REALTIME as the first thing main does and prints it, so that
 * "child running" is measured inside the child, after its exec.
 *
 * usage: exec_stamp [TAG]
 * Prints one line on stdout, "[TAG ]NANOSECONDS\n", in one write(2): under
 * loopd the line is the run's output (kept in the database next to the
 * run's scheduled time); under spawn_peer every child appends to one file
 * opened O_APPEND, where one write is one whole line.
 *
 * Linked statically when the C library allows it (CMakeLists.txt), so the
 * dynamic loader does not run between the exec and the stamp; loopd and
 * its peer run the same binary either way.
 */
#include <stdio.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct timespec ts;
	char line[160];
	int n;

	clock_gettime(CLOCK_REALTIME, &ts);
	n = snprintf(line, sizeof(line), "%s%s%lld%09ld\n",
		     argc > 1 ? argv[1] : "", argc > 1 ? " " : "",
		     (long long)ts.tv_sec, ts.tv_nsec);
	if (n < 0 || (size_t)n >= sizeof(line))
		return 2;
	return write(STDOUT_FILENO, line, (size_t)n) == n ? 0 : 1;
}
