/* sahid_tf(): per-row phrase counts for BM25 over a window of FTS5 matches; and
 * sahid_rowids(), the rowids of a query's matches as one blob (document sets). */
#include <sqlite3ext.h>
SQLITE_EXTENSION_INIT1
#include <stdint.h>
#include <string.h>

typedef struct Ctx Ctx; /* FTS5's Fts5Context, opaque */
typedef struct Api Api;
typedef void (*aux_fn)(const Api *, Ctx *, sqlite3_context *, int, sqlite3_value **);

/* The leading members of FTS5's extension API table, in their ABI order (fts5.h). */
struct Api {
  int version;
  void *(*user_data)(Ctx *);
  int (*column_count)(Ctx *);
  int (*row_count)(Ctx *, sqlite3_int64 *);
  int (*column_total_size)(Ctx *, int, sqlite3_int64 *);
  void *tokenize;
  int (*phrase_count)(Ctx *);
  int (*phrase_size)(Ctx *, int);
  int (*inst_count)(Ctx *, int *);
  int (*inst)(Ctx *, int, int *, int *, int *);
  sqlite3_int64 (*rowid)(Ctx *);
  int (*column_text)(Ctx *, int, const char **, int *);
  int (*column_size)(Ctx *, int, int *);
};

/* The leading members of FTS5's registration table (fts5_api). */
typedef struct Registry {
  int version;
  void *create_tokenizer;
  void *find_tokenizer;
  int (*create_function)(struct Registry *, const char *, void *, aux_fn, void (*)(void *));
} Registry;

/* A blob of native uint32: the row's length in tokens (all columns, as bm25() counts
 * it), then for each phrase of the query its instances in the row. Words are only in
 * column 0 and facet tokens only in column 1, so a phrase's instances are in one. */
static void tf(const Api *api, Ctx *fts, sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc; (void)argv;
  int phrases = api->phrase_count(fts);
  uint32_t stack[64];
  uint32_t *out = phrases + 1 <= 64 ? stack : sqlite3_malloc64(sizeof(uint32_t) * (phrases + 1));
  if (!out) { sqlite3_result_error_nomem(ctx); return; }
  memset(out, 0, sizeof(uint32_t) * (phrases + 1));
  int len = 0, n = 0, rc = api->column_size(fts, -1, &len);
  if (rc == SQLITE_OK) rc = api->inst_count(fts, &n);
  out[0] = (uint32_t)len;
  for (int i = 0; rc == SQLITE_OK && i < n; i++) {
    int phrase, col, off;
    rc = api->inst(fts, i, &phrase, &col, &off);
    if (rc == SQLITE_OK && phrase >= 0 && phrase < phrases) out[phrase + 1]++;
  }
  if (rc != SQLITE_OK) sqlite3_result_error_code(ctx, rc);
  else sqlite3_result_blob(ctx, out, (int)(sizeof(uint32_t) * (phrases + 1)), SQLITE_TRANSIENT);
  if (out != stack) sqlite3_free(out);
}

/* sahid_rowids(rowid): every rowid it is given, as a blob of native int64 in the order
 * given. Python reads a query's thousands of rowids in one value instead of a row each
 * (a row costs about four times what FTS5 takes to find it). */
typedef struct Rowids { sqlite3_int64 *at; sqlite3_int64 n, cap; } Rowids;

static void rowids_step(sqlite3_context *ctx, int argc, sqlite3_value **argv) {
  (void)argc;
  Rowids *r = sqlite3_aggregate_context(ctx, sizeof(Rowids));
  if (!r) { sqlite3_result_error_nomem(ctx); return; }
  if (r->n == r->cap) {
    sqlite3_int64 cap = r->cap ? r->cap * 2 : 1024;
    sqlite3_int64 *at = sqlite3_realloc64(r->at, sizeof(sqlite3_int64) * (sqlite3_uint64)cap);
    if (!at) { sqlite3_result_error_nomem(ctx); return; }
    r->at = at;
    r->cap = cap;
  }
  r->at[r->n++] = sqlite3_value_int64(argv[0]);
}

static void rowids_final(sqlite3_context *ctx) {
  Rowids *r = sqlite3_aggregate_context(ctx, 0);
  if (!r || !r->n) {
    if (r) sqlite3_free(r->at);
    sqlite3_result_zeroblob(ctx, 0);
    return;
  }
  /* the blob takes the buffer over: SQLite frees it with sqlite3_free */
  sqlite3_result_blob64(ctx, r->at, sizeof(sqlite3_int64) * (sqlite3_uint64)r->n, sqlite3_free);
}

#ifdef _WIN32
__declspec(dllexport)
#endif
int sqlite3_extension_init(sqlite3 *db, char **err, const sqlite3_api_routines *routines) {
  SQLITE_EXTENSION_INIT2(routines);
  Registry *reg = 0;
  sqlite3_stmt *stmt = 0;
  int rc = sqlite3_prepare_v2(db, "SELECT fts5(?1)", -1, &stmt, 0);
  if (rc != SQLITE_OK) { *err = sqlite3_mprintf("sahid_tf needs FTS5"); return rc; }
  sqlite3_bind_pointer(stmt, 1, (void *)&reg, "fts5_api_ptr", 0);
  sqlite3_step(stmt);
  rc = sqlite3_finalize(stmt);
  if (rc != SQLITE_OK || reg == 0 || reg->version < 2) {
    *err = sqlite3_mprintf("sahid_tf: FTS5 registration API not found");
    return SQLITE_ERROR;
  }
  rc = reg->create_function(reg, "sahid_tf", 0, tf, 0);
  if (rc != SQLITE_OK) return rc;
  return sqlite3_create_function(db, "sahid_rowids", 1, SQLITE_UTF8, 0, 0, rowids_step,
                                 rowids_final);
}
