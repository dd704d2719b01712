/*
 * table.c - columns of text for people (jobs, runs, plugins): a header,
 * then rows, each column as wide as its widest cell, two spaces apart,
 * the last column not padded.  A cell may span columns (jobs puts the
 * reason there is no next run across NEXT and LEFT); the spanned
 * columns widen so that it fits and the table stays aligned.
 */
#include <stdlib.h>
#include <string.h>

#include "loopctl.h"

#define GAP 2

struct cell {
	char *text;
	const char *color;
	size_t span;
};

struct table {
	size_t ncols, nrows, cap;
	const char *const *headers;
	struct cell *cells; /* nrows * ncols; a spanned column is empty */
	size_t col;         /* the next column of the last row */
};

size_t table_text_width(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += ((unsigned char)*s & 0xc0) != 0x80;
	return n;
}

struct table *table_new(size_t ncols, const char *const *headers)
{
	struct table *t = calloc(1, sizeof(*t));

	if (!t)
		abort();
	t->ncols = ncols;
	t->headers = headers;
	return t;
}

void table_free(struct table *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < t->nrows * t->ncols; i++)
		free(t->cells[i].text);
	free(t->cells);
	free(t);
}

void table_row(struct table *t)
{
	if (t->nrows == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 16;
		t->cells = realloc(t->cells,
				   t->cap * t->ncols * sizeof(*t->cells));
		if (!t->cells)
			abort();
	}
	memset(&t->cells[t->nrows * t->ncols], 0, t->ncols * sizeof(*t->cells));
	t->nrows++;
	t->col = 0;
}

void table_cell_span(struct table *t, const char *text, const char *color,
		     size_t span)
{
	if (!t->nrows || t->col >= t->ncols)
		return; /* a caller's mistake: ignore rather than overrun */
	if (span < 1 || t->col + span > t->ncols)
		span = t->ncols - t->col;
	struct cell *c = &t->cells[(t->nrows - 1) * t->ncols + t->col];
	if (!(c->text = strdup(text ? text : "")))
		abort();
	c->color = color;
	c->span = span;
	t->col += span;
}

void table_cell(struct table *t, const char *text, const char *color)
{
	table_cell_span(t, text, color, 1);
}

/* Widths: single cells first, then spanning ones widen their last column. */
static void widths(const struct table *t, size_t *w)
{
	for (size_t j = 0; j < t->ncols; j++)
		w[j] = table_text_width(t->headers[j]);
	for (size_t i = 0; i < t->nrows * t->ncols; i++) {
		const struct cell *c = &t->cells[i];
		size_t n = c->text ? table_text_width(c->text) : 0;
		if (c->span == 1 && n > w[i % t->ncols])
			w[i % t->ncols] = n;
	}
	for (size_t i = 0; i < t->nrows * t->ncols; i++) {
		const struct cell *c = &t->cells[i];
		size_t j = i % t->ncols, have = 0;
		if (c->span < 2)
			continue;
		for (size_t k = j; k < j + c->span; k++)
			have += w[k] + (k > j ? GAP : 0);
		size_t n = table_text_width(c->text);
		if (n > have)
			w[j + c->span - 1] += n - have;
	}
}

static void print_cell(FILE *f, const char *text, const char *color,
		       size_t width, bool last, bool use_color)
{
	size_t n = table_text_width(text);

	if (use_color && color)
		fprintf(f, "%s%s%s", color, text, COLOR_OFF);
	else
		fputs(text, f);
	if (!last)
		fprintf(f, "%*s", (int)(width - n + GAP), "");
}

void table_print(const struct table *t, FILE *f, bool color, const char *indent)
{
	size_t *w = calloc(t->ncols, sizeof(*w));

	if (!w)
		abort();
	widths(t, w);
	fputs(indent, f);
	for (size_t j = 0; j < t->ncols; j++)
		print_cell(f, t->headers[j], COLOR_BOLD, w[j],
			   j + 1 == t->ncols, color);
	fputc('\n', f);
	for (size_t i = 0; i < t->nrows; i++) {
		const struct cell *row = &t->cells[i * t->ncols];
		fputs(indent, f);
		for (size_t j = 0; j < t->ncols;) {
			const struct cell *c = &row[j];
			size_t span = c->span ? c->span : 1, width = 0;
			for (size_t k = j; k < j + span; k++)
				width += w[k] + (k > j ? GAP : 0);
			print_cell(f, c->text ? c->text : "", c->color, width,
				   j + span == t->ncols, color);
			j += span;
		}
		fputc('\n', f);
	}
	free(w);
}
