/*
 * test_exec_output.c - unit tests for the exec plugin's output buffer
 * (plugins/exec/output.c): head and tail kept up to the cap, the dropped
 * bytes counted in a marker line, UTF-8 repaired with U+FFFD per maximal
 * ill-formed subpart, the result never over the cap.
 *
 * Hand-written cases pin the contract; a seeded random test
 * (LOOPD_TEST_SEED reproduces) feeds random chunks of random bytes and
 * checks every result against an independent UTF-8 validator and, for
 * ASCII input, against the input itself.
 */
#include <errno.h>
#include <inttypes.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testseed.h"

#include "output.h"

static unsigned test_seed;

/* Independent of output.c: whether s[0..n) is well-formed UTF-8. */
static bool valid_utf8(const unsigned char *s, size_t n)
{
	size_t i = 0;
	while (i < n) {
		uint32_t c = s[i], min;
		int k;
		if (c < 0x80) {
			i++;
			continue;
		}
		if ((c & 0xe0) == 0xc0)
			k = 1, c &= 0x1f, min = 0x80;
		else if ((c & 0xf0) == 0xe0)
			k = 2, c &= 0x0f, min = 0x800;
		else if ((c & 0xf8) == 0xf0)
			k = 3, c &= 0x07, min = 0x10000;
		else
			return false;
		if (i + (size_t)k >= n)
			return false;
		for (int j = 1; j <= k; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return false;
			c = (c << 6) | (s[i + j] & 0x3f);
		}
		if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
			return false;
		i += (size_t)k + 1;
	}
	return true;
}

static char *take(struct outbuf *o, size_t *len)
{
	char *t = NULL;
	assert_int_equal(outbuf_take(o, &t, len), 0);
	assert_non_null(t);
	assert_int_equal(t[*len], '\0');
	return t;
}

/* The result of feeding s (n bytes) to a buffer of cap; caller frees. */
static char *run(const char *s, size_t n, size_t cap, size_t *len)
{
	struct outbuf o;
	char *t;
	outbuf_init(&o, cap);
	outbuf_add(&o, s, n);
	t = take(&o, len);
	assert_true(*len <= (cap < OUTBUF_MIN_CAP ? OUTBUF_MIN_CAP : cap));
	outbuf_free(&o);
	return t;
}

static void test_small_kept_whole(void **state)
{
	size_t len;
	char *t = run("hello\nworld\n", 12, 1024, &len);
	assert_int_equal(len, 12);
	assert_memory_equal(t, "hello\nworld\n", 12);
	free(t);
	t = run("", 0, 1024, &len);
	assert_int_equal(len, 0);
	free(t);
}

static void test_exactly_cap_kept_whole(void **state)
{
	char in[1024];
	size_t len;
	char *t;
	memset(in, 'a', sizeof(in));
	t = run(in, sizeof(in), sizeof(in), &len);
	assert_int_equal(len, sizeof(in));
	assert_memory_equal(t, in, sizeof(in));
	free(t);
}

/* One byte over the cap: head, marker, tail, the total still <= cap. */
static void test_one_over_cap(void **state)
{
	char in[1025], want_mark[64];
	size_t len, head = (1024 - OUTBUF_MARK_RESERVE) / 2;
	char *t, *m;
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (char)('a' + i % 26);
	t = run(in, sizeof(in), 1024, &len);
	assert_true(len <= 1024);
	assert_memory_equal(t, in, head);
	m = strstr(t, "[loopd: ");
	assert_non_null(m);
	assert_int_equal(m - t, head + 1); /* "\n" added: mid-line */
	assert_int_equal(t[head], '\n');
	size_t tail;
	unsigned long long dropped = strtoull(m + 8, NULL, 10);
	snprintf(want_mark, sizeof(want_mark), "[loopd: %llu bytes dropped]\n",
		 dropped);
	assert_memory_equal(m, want_mark, strlen(want_mark));
	tail = len - (size_t)(m - t) - strlen(want_mark);
	assert_memory_equal(m + strlen(want_mark), in + sizeof(in) - tail,
			    tail);
	assert_int_equal(head + tail + dropped, sizeof(in));
	free(t);
}

/* A head that ends at a newline gets no extra one before the marker. */
static void test_marker_on_its_own_line(void **state)
{
	size_t head = (OUTBUF_MIN_CAP - OUTBUF_MARK_RESERVE) / 2, len;
	char in[4096];
	char *t;
	memset(in, 'x', sizeof(in));
	in[head - 1] = '\n';
	t = run(in, sizeof(in), OUTBUF_MIN_CAP, &len);
	assert_memory_equal(t + head, "[loopd: ", 8);
	free(t);
}

/* Many small adds: the same as one big one. */
static void test_chunks_equal_one_add(void **state)
{
	static char in[100000];
	struct outbuf o;
	size_t len1, len2;
	char *a, *b;
	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (char)(' ' + i % 90);
	a = run(in, sizeof(in), 4096, &len1);
	outbuf_init(&o, 4096);
	for (size_t i = 0; i < sizeof(in); i += 7)
		outbuf_add(&o, in + i, sizeof(in) - i < 7 ? sizeof(in) - i : 7);
	assert_int_equal(o.total, sizeof(in));
	b = take(&o, &len2);
	assert_int_equal(len1, len2);
	assert_memory_equal(a, b, len1);
	outbuf_free(&o);
	free(a);
	free(b);
}

struct repl_case {
	const char *in, *out;
};

/* Unicode's recommended practice: one U+FFFD per maximal subpart. */
static void test_replacement(void **state)
{
#define R "\xef\xbf\xbd"
	static const struct repl_case cases[] = {
		{ "plain", "plain" },
		{ "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
		  "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80" },
		{ "a\xff"
		  "b",
		  "a" R "b" },
		{ "\xc0\x80", R R },                /* overlong NUL */
		{ "\xed\xa0\x80", R R R },          /* a surrogate */
		{ "\xf4\x90\x80\x80", R R R R },    /* past U+10FFFF */
		{ "\xe2\x82", R },                  /* cut at the end */
		{ "\xe2\x82x", R "x" },             /* cut mid-stream */
		{ "\xf0\x9f\x98", R },              /* 3 of 4 */
		{ "\x80\x80", R R },                /* lone continuations */
		{ "\xe0\x9f\x80", R R R },          /* overlong 3-byte */
		{ "\xef\xbf\xbd", "\xef\xbf\xbd" }, /* U+FFFD itself */
		{ "\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf" }, /* U+10FFFF */
	};
#undef R
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = strlen(cases[i].in), len;
		char *t = run(cases[i].in, n, 1024, &len);
		assert_int_equal(len, strlen(cases[i].out));
		assert_memory_equal(t, cases[i].out, len);
		assert_int_equal(utf8_sanitized_len(cases[i].in, n), len);
		free(t);
	}
}

/* Replacement that makes the text longer than the cap: the middle goes,
 * at character boundaries, and the result stays within the cap. */
static void test_expansion_stays_under_cap(void **state)
{
	char in[OUTBUF_MIN_CAP];
	size_t len;
	char *t;
	memset(in, 0xff, sizeof(in));
	t = run(in, sizeof(in), sizeof(in), &len);
	assert_true(len <= sizeof(in));
	assert_true(valid_utf8((unsigned char *)t, len));
	assert_non_null(strstr(t, " bytes dropped]\n"));
	free(t);
}

/* A character cut by the head's end or the tail's start is dropped,
 * not replaced: 2-byte and 4-byte characters, cut at every offset. */
static void test_cut_characters_dropped(void **state)
{
	static const char *const chars[] = { "\xc3\xa9", "\xf0\x9f\x98\x80" };
	static char in[20000];
	size_t len;
	char *t;
	for (int c = 0; c < 2; c++) {
		size_t w = strlen(chars[c]);
		for (size_t i = 0; i + w <= sizeof(in); i += w)
			memcpy(in + i, chars[c], w);
		for (size_t cap = 300; cap < 310; cap++) {
			t = run(in, sizeof(in) / w * w, cap, &len);
			assert_true(len <= cap);
			assert_true(valid_utf8((unsigned char *)t, len));
			assert_null(strstr(t, "\xef\xbf\xbd"));
			free(t);
		}
	}
}

/* 10 MiB in 4 KiB reads, as a chatty job writes it. */
static void test_ten_mib(void **state)
{
	struct outbuf o;
	char chunk[4096], *t;
	size_t len;
	memset(chunk, 'y', sizeof(chunk));
	outbuf_init(&o, 64 * 1024);
	for (int i = 0; i < 10 * 256; i++)
		outbuf_add(&o, chunk, sizeof(chunk));
	assert_int_equal(o.total, 10 * 1024 * 1024);
	assert_true(o.head_alloc <= 64 * 1024);
	t = take(&o, &len);
	assert_true(len <= 64 * 1024);
	assert_true(len > 60 * 1024);
	assert_non_null(strstr(t, "bytes dropped]\n"));
	outbuf_free(&o);
	free(t);
}

/* Random bytes in random chunks into random caps. */
static void test_random(void **state)
{
	static unsigned char in[50000];
	rng_state = test_seed;
	for (int iter = 0; iter < 400; iter++) {
		size_t n = rng() % sizeof(in),
		       cap = OUTBUF_MIN_CAP + rng() % 5000, len;
		bool ascii = rng() % 2;
		struct outbuf o;
		char *t;
		for (size_t i = 0; i < n; i++)
			in[i] = ascii ? (unsigned char)(' ' + rng() % 90)
				      : (unsigned char)rng();
		outbuf_init(&o, cap);
		for (size_t i = 0; i < n;) {
			size_t k = 1 + rng() % 3000;
			k = k > n - i ? n - i : k;
			outbuf_add(&o, in + i, k);
			i += k;
		}
		t = take(&o, &len);
		assert_true(len <= cap);
		assert_true(valid_utf8((unsigned char *)t, len));
		if (ascii && n <= cap) {
			assert_int_equal(len, n);
			assert_memory_equal(t, in, n);
		} else if (ascii) {
			/* Head and tail are the input's own ends, and
			 * the counts add up. */
			char *m = strstr(t, "[loopd: ");
			assert_non_null(m);
			uint64_t dropped = strtoull(m + 8, NULL, 10);
			size_t head = (size_t)(m - t), tail;
			tail = len - head - (size_t)(strchr(m, '\n') + 1 - m);
			if (head && t[head - 1] == '\n' && in[head - 1] != '\n')
				head--; /* the newline added before it */
			assert_memory_equal(t, in, head);
			assert_memory_equal(t + len - tail, in + n - tail,
					    tail);
			assert_int_equal(head + tail + dropped, n);
		}
		outbuf_free(&o);
		free(t);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_small_kept_whole),
		cmocka_unit_test(test_exactly_cap_kept_whole),
		cmocka_unit_test(test_one_over_cap),
		cmocka_unit_test(test_marker_on_its_own_line),
		cmocka_unit_test(test_chunks_equal_one_add),
		cmocka_unit_test(test_replacement),
		cmocka_unit_test(test_expansion_stays_under_cap),
		cmocka_unit_test(test_cut_characters_dropped),
		cmocka_unit_test(test_ten_mib),
		cmocka_unit_test(test_random),
	};
	test_seed = test_seed_pick();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
