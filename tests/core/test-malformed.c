/* test-malformed - bad models give a GError naming what is wrong, never a
 * crash: truncated and corrupted files, wrong types, huge dims, cycles,
 * missing inputs, unsupported ops, bad shapes, external data escaping the
 * model's folder. */
#include "cnn.h"
#include "onnx-builder.h"
#include <stdio.h>
#include <glib/gstdio.h>

static int n_pass, n_fail;

#define CHECK(cond, ...) do { \
    if (cond) { n_pass++; } else { n_fail++; printf ("FAIL %s:%d: ", __FILE__, __LINE__); \
      printf (__VA_ARGS__); printf ("\n"); } \
  } while (0)

static uint8_t *
pack_free (ob_model *b, size_t *len)
{
  uint8_t *buf = ob_pack (b, len);
  ob_free (b);
  return buf;
}

/* A small valid Conv+Relu+GlobalAveragePool model. */
static ob_model *
valid_model (GRand *rng)
{
  ob_model *b = ob_new (13);
  int64_t xd[4] = { 1, 3, 8, 8 }, wd[4] = { 4, 3, 3, 3 }, bd[1] = { 4 };
  ob_input (b, "x", 4, xd);
  ob_init_float (b, "w", 4, wd, NULL, rng);
  ob_init_float (b, "b", 1, bd, NULL, rng);
  ob_node (b, "Conv", "x,w,b", "c");
  ob_node (b, "Relu", "c", "r");
  ob_node (b, "GlobalAveragePool", "r", "y");
  ob_output (b, "y");
  return b;
}

/* Loads; if that works, plans and runs on zeros.  Returns the error. */
static GError *
try_model (const uint8_t *buf, size_t len, const char *dir)
{
  GError *err = NULL;
  cnn_model *m = cnn_model_load_from_memory (buf, len, dir, &err);
  if (!m)
    return err;
  cnn_session_options so = CNN_SESSION_OPTIONS_INIT;
  so.threads = 1;
  cnn_session *s = cnn_session_new (m, &so, &err);
  if (s && cnn_model_get_n_inputs (m) == 1) {
    const cnn_tensor_info *info = cnn_model_get_input (m, 0);
    cnn_tensor t = { info->dtype, info->ndim };
    for (int i = 0; i < info->ndim; i++)
      t.dims[i] = info->dims[i] < 0 ? 1 : info->dims[i];
    int64_t n = cnn_tensor_numel (&t);
    if (n >= 0 && n < (1 << 24)) {
      t.data = g_malloc0 (MAX (n, 1) * MAX (cnn_dtype_size (t.dtype), 1));
      cnn_session_run (s, &t, 1, &err);
      g_free (t.data);
    }
  }
  cnn_session_free (s);
  cnn_model_unref (m);
  return err;
}

static void
expect_error (const uint8_t *buf, size_t len, const char *dir, int code, const char *const *words,
    const char *what)
{
  GError *err = try_model (buf, len, dir);
  CHECK (err != NULL, "%s: no error", what);
  if (!err)
    return;
  CHECK (code < 0 || err->code == code, "%s: code %d, expected %d (%s)", what, err->code, code,
      err->message);
  for (int i = 0; words && words[i]; i++)
    CHECK (strstr (err->message, words[i]) != NULL, "%s: '%s' not in: %s", what, words[i], err->message);
  printf ("ok   %s: %s\n", what, err->message);
  g_error_free (err);
}

int
main (void)
{
  GRand *rng = g_rand_new_with_seed (7);
  size_t len;
  uint8_t *good = pack_free (valid_model (rng), &len);
  GError *err = try_model (good, len, NULL);
  CHECK (err == NULL, "the valid model fails: %s", err ? err->message : "");
  g_clear_error (&err);

  /* Truncated at every length: an error or a model that runs, never a crash. */
  int truncated_errors = 0;
  for (size_t cut = 0; cut < len; cut++) {
    err = try_model (good, cut, NULL);
    truncated_errors += err != NULL;
    g_clear_error (&err);
  }
  CHECK (truncated_errors > (int) len / 2, "only %d of %zu truncations were refused", truncated_errors, len);
  printf ("ok   %zu truncations: %d refused with an error, none crashed\n", len, truncated_errors);

  /* Random byte corruption. */
  uint8_t *bad = g_malloc (len);
  int corrupt_errors = 0;
  for (int it = 0; it < 2000; it++) {
    memcpy (bad, good, len);
    for (int k = 0; k < 1 + it % 4; k++)
      bad[g_rand_int_range (rng, 0, (gint32) len)] = (uint8_t) g_rand_int_range (rng, 0, 256);
    err = try_model (bad, len, NULL);
    corrupt_errors += err != NULL;
    g_clear_error (&err);
  }
  printf ("ok   2000 corrupted copies: %d refused with an error, none crashed\n", corrupt_errors);
  g_free (bad);
  g_free (good);

  expect_error ((const uint8_t *) "not a model at all", 18, NULL, CNN_ERROR_INVALID_MODEL,
      (const char *const[]) { "protobuf", NULL }, "garbage bytes");

  /* A cycle. */
  ob_model *b = ob_new (13);
  int64_t d4[4] = { 1, 2, 3, 3 };
  ob_input (b, "x", 4, d4);
  ob_node (b, "Add", "x,q", "p");
  ob_node (b, "Relu", "p", "q");
  ob_output (b, "q");
  uint8_t *buf = pack_free (b, &len);
  expect_error (buf, len, NULL, CNN_ERROR_INVALID_MODEL, (const char *const[]) { "cycle", NULL }, "cycle");
  g_free (buf);

  /* A missing input. */
  b = ob_new (13);
  ob_input (b, "x", 4, d4);
  ob_node (b, "Add", "x,nowhere", "y");
  ob_output (b, "y");
  buf = pack_free (b, &len);
  expect_error (buf, len, NULL, CNN_ERROR_INVALID_MODEL,
      (const char *const[]) { "'y' (Add)", "nowhere", NULL }, "missing input");
  g_free (buf);

  /* Unsupported ops: all listed at once. */
  b = ob_new (13);
  ob_input (b, "x", 4, d4);
  ob_node (b, "FancyOp", "x", "a");
  ob_node (b, "Relu", "a", "r");
  ob_node (b, "OtherOp", "r", "y");
  ob_output (b, "y");
  buf = pack_free (b, &len);
  expect_error (buf, len, NULL, CNN_ERROR_UNSUPPORTED,
      (const char *const[]) { "FancyOp", "OtherOp", "2 nodes", NULL }, "unsupported ops");
  g_free (buf);

  /* Initializer whose data does not match its dims. */
  b = ob_new (13);
  ob_input (b, "x", 4, d4);
  Onnx__TensorProto *t = ob_init_float (b, "w", 4, d4, NULL, rng);
  t->n_float_data = 5;
  ob_node (b, "Add", "x,w", "y");
  ob_output (b, "y");
  buf = pack_free (b, &len);
  expect_error (buf, len, NULL, CNN_ERROR_INVALID_MODEL,
      (const char *const[]) { "'w'", "values", NULL }, "initializer size mismatch");
  g_free (buf);

  /* raw_data of the wrong length. */
  b = ob_new (13);
  ob_input (b, "x", 4, d4);
  t = ob_init_float (b, "w", 4, d4, NULL, rng);
  t->n_float_data = 0;
  t->has_raw_data = 1;
  t->raw_data.len = 7;
  t->raw_data.data = (uint8_t *) ob_str (b, "1234567");
  ob_node (b, "Add", "x,w", "y");
  ob_output (b, "y");
  buf = pack_free (b, &len);
  expect_error (buf, len, NULL, CNN_ERROR_INVALID_MODEL,
      (const char *const[]) { "'w'", "bytes", NULL }, "raw_data size mismatch");
  g_free (buf);

  /* Huge dims on an initializer. */
  b = ob_new (13);
  ob_input (b, "x", 4, d4);
  t = ob_init_float (b, "w", 1, d4, NULL, rng);
  t->dims[0] = INT64_C (1) << 40;
  ob_node (b, "Add", "x,w", "y");
  ob_output (b, "y");
  buf = pack_free (b, &len);
  expect_error (buf, len, NULL, CNN_ERROR_INVALID_MODEL,
      (const char *const[]) { "'w'", "too large", NULL }, "huge initializer dims");
  g_free (buf);

  /* Huge dims on an input: the plan refuses, nothing is allocated. */
  b = ob_new (13);
  int64_t huge[4] = { 1 << 20, 1 << 20, 1 << 20, 1 << 20 };
  ob_input (b, "x", 4, huge);
  ob_node (b, "Relu", "x", "y");
  ob_output (b, "y");
  buf = pack_free (b, &len);
  expect_error (buf, len, NULL, -1, (const char *const[]) { "too large", NULL }, "huge input dims");
  g_free (buf);

  /* A string-typed input. */
  b = ob_new (13);
  g_ptr_array_add (b->inputs, ob_value_info (b, "s", 8, 1, d4));
  ob_node (b, "Identity", "s", "y");
  ob_output (b, "y");
  buf = pack_free (b, &len);
  expect_error (buf, len, NULL, CNN_ERROR_UNSUPPORTED,
      (const char *const[]) { "'s'", NULL }, "string input");
  g_free (buf);

  /* Conv whose weight does not fit the input: names node, op and shapes. */
  b = ob_new (13);
  int64_t wd[4] = { 4, 5, 3, 3 };
  ob_input (b, "x", 4, d4);
  ob_init_float (b, "w", 4, wd, NULL, rng);
  ob_node (b, "Conv", "x,w", "y");
  ob_output (b, "y");
  buf = pack_free (b, &len);
  expect_error (buf, len, NULL, CNN_ERROR_SHAPE,
      (const char *const[]) { "'y' (Conv)", "[1,2,3,3]", "[4,5,3,3]", NULL }, "conv channel mismatch");
  g_free (buf);

  /* Reshape to an impossible size. */
  b = ob_new (13);
  int64_t shp[2] = { 5, 5 };
  ob_input (b, "x", 4, d4);
  ob_init_int64 (b, "shape", 2, shp);
  ob_node (b, "Reshape", "x,shape", "y");
  ob_output (b, "y");
  buf = pack_free (b, &len);
  expect_error (buf, len, NULL, CNN_ERROR_SHAPE,
      (const char *const[]) { "(Reshape)", "18 elements", "[5,5]", NULL }, "bad reshape");
  g_free (buf);

  /* External data that leaves the model's folder. */
  char *dir = g_dir_make_tmp ("cnn-ext-XXXXXX", NULL);
  char *outside = g_build_filename (g_get_tmp_dir (), "cnn-outside.bin", NULL);
  g_file_set_contents (outside, "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789ab", 72, NULL);
  for (int variant = 0; variant < 3; variant++) {
    b = ob_new (13);
    ob_input (b, "x", 4, d4);
    t = ob_init_float (b, "w", 4, d4, NULL, rng);
    t->n_float_data = 0;
    t->has_data_location = 1;
    t->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    Onnx__StringStringEntryProto *e = ob_keep (b, g_new0 (Onnx__StringStringEntryProto, 1));
    onnx__string_string_entry_proto__init (e);
    e->key = ob_str (b, "location");
    e->value = ob_str (b, variant == 0 ? "../cnn-outside.bin" : variant == 1 ? outside : "missing.bin");
    t->n_external_data = 1;
    t->external_data = ob_keep (b, g_new0 (Onnx__StringStringEntryProto *, 1));
    t->external_data[0] = e;
    ob_node (b, "Add", "x,w", "y");
    ob_output (b, "y");
    buf = pack_free (b, &len);
    const char *word = variant == 0 ? "leaves" : variant == 1 ? "absolute" : "missing.bin";
    expect_error (buf, len, dir, -1, (const char *const[]) { "'w'", word, NULL },
        variant == 0 ? "external data ../" : variant == 1 ? "external data absolute" : "external data missing");
    g_free (buf);
  }
  g_remove (outside);
  g_free (outside);
  g_rmdir (dir);
  g_free (dir);

  /* Wrong input handed to run. */
  b = valid_model (rng);
  buf = pack_free (b, &len);
  cnn_model *m = cnn_model_load_from_memory (buf, len, NULL, NULL);
  g_free (buf);
  cnn_session *s = cnn_session_new (m, NULL, NULL);
  float data[2 * 3 * 8 * 8] = { 0 };
  cnn_tensor in = { CNN_DTYPE_FLOAT32, 4, { 1, 4, 8, 8 }, data };
  err = NULL;
  CHECK (!cnn_session_run (s, &in, 1, &err) && err && strstr (err->message, "'x'"),
      "wrong input shape accepted");
  if (err)
    printf ("ok   wrong input shape: %s\n", err->message);
  g_clear_error (&err);
  in.dtype = CNN_DTYPE_INT64;
  CHECK (!cnn_session_run (s, &in, 1, &err) && err, "wrong input type accepted");
  g_clear_error (&err);
  CHECK (!cnn_session_run (s, &in, 0, &err) && err, "missing input accepted");
  g_clear_error (&err);
  cnn_session_free (s);
  cnn_model_unref (m);

  /* inputs the fuzzer once crashed on (tests/fuzz/regressions) */
  GDir *rd = g_dir_open (FUZZ_REGRESSIONS, 0, NULL);
  const char *rn;
  int n_reg = 0;
  while (rd && (rn = g_dir_read_name (rd))) {
    if (rn[0] == '.')
      continue;
    char *path = g_build_filename (FUZZ_REGRESSIONS, rn, NULL);
    gchar *data;
    gsize rlen;
    if (g_file_get_contents (path, &data, &rlen, NULL)) {
      g_clear_error (&err);
      err = try_model ((const uint8_t *) data, rlen, NULL);
      g_clear_error (&err);
      n_reg++;
      g_free (data);
    }
    g_free (path);
  }
  if (rd)
    g_dir_close (rd);
  printf ("ok   %d fuzzer regression inputs: no crash\n", n_reg);
  n_pass++;

  GError *io = NULL;
  CHECK (cnn_model_load ("/nonexistent/model.onnx", &io) == NULL && io && io->code == CNN_ERROR_IO,
      "missing file");
  g_clear_error (&io);

  g_rand_free (rng);
  printf ("test-malformed: %d passed, %d failed\n", n_pass, n_fail);
  return n_fail ? 1 : 0;
}
