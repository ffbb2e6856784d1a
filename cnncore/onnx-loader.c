/* onnx-loader.c - ONNX protobuf (parsed by protobuf-c) to a cnn_model graph.
 *
 * Models are untrusted input: every count, dim, size and external-data path
 * is checked before it is used (see SECURITY.md). */
#include "cnn-private.h"
#include "onnx.pb-c.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static cnn_dtype
dtype_from_onnx (int32_t t)
{
  switch (t) {
    case 1: return CNN_DTYPE_FLOAT32;
    case 2: return CNN_DTYPE_UINT8;
    case 3: return CNN_DTYPE_INT8;
    case 6: return CNN_DTYPE_INT32;
    case 7: return CNN_DTYPE_INT64;
    case 9: return CNN_DTYPE_BOOL;
    case 10: return CNN_DTYPE_FLOAT16;
    default: return CNN_DTYPE_UNDEFINED;
  }
}

/* FLOAT16 and DOUBLE are computed in float32. */
#define ONNX_DOUBLE 11
static cnn_dtype
compute_dtype (int32_t t)
{
  if (t == 10 || t == ONNX_DOUBLE)
    return CNN_DTYPE_FLOAT32;
  return dtype_from_onnx (t);
}

static const char *
onnx_type_name (int32_t t)
{
  static const char *names[] = { "undefined", "float", "uint8", "int8", "uint16", "int16",
    "int32", "int64", "string", "bool", "float16", "double", "uint32", "uint64",
    "complex64", "complex128", "bfloat16" };
  return t >= 0 && t < (int32_t) G_N_ELEMENTS (names) ? names[t] : "unknown";
}

/* Reads n bytes of external data into a new *buf, keeping the file inside
 * base_dir; the file's size is checked before anything is allocated. */
static cnn_status
read_external (const Onnx__TensorProto *tp, const char *base_dir, void **buf, size_t n,
    GString *err)
{
  const char *location = NULL;
  int64_t offset = 0, length = -1;
  for (size_t i = 0; i < tp->n_external_data; i++) {
    const Onnx__StringStringEntryProto *e = tp->external_data[i];
    if (!e->key || !e->value)
      continue;
    if (strcmp (e->key, "location") == 0)
      location = e->value;
    else if (strcmp (e->key, "offset") == 0)
      offset = g_ascii_strtoll (e->value, NULL, 10);
    else if (strcmp (e->key, "length") == 0)
      length = g_ascii_strtoll (e->value, NULL, 10);
  }
  if (!location || !*location) {
    g_string_append_printf (err, "tensor '%s': external data without a location", tp->name);
    return CNN_E_INVALID;
  }
  if (!base_dir) {
    g_string_append_printf (err, "tensor '%s': external data '%s' but the model was not "
        "loaded from a file", tp->name, location);
    return CNN_E_INVALID;
  }
  if (offset < 0 || (length >= 0 && (size_t) length != n)) {
    g_string_append_printf (err, "tensor '%s': external data offset %" G_GINT64_FORMAT
        " / length %" G_GINT64_FORMAT " do not fit %zu bytes", tp->name, offset, length, n);
    return CNN_E_INVALID;
  }
  if (g_path_is_absolute (location)) {
    g_string_append_printf (err, "tensor '%s': external data path '%s' is absolute; "
        "it must stay inside the model's folder", tp->name, location);
    return CNN_E_INVALID;
  }
  char *path = g_build_filename (base_dir, location, NULL);
  char *real = realpath (path, NULL);
  int saved_errno = errno;
  char *real_base = realpath (base_dir, NULL);
  cnn_status st = CNN_OK;
  if (!real || !real_base) {
    g_string_append_printf (err, "tensor '%s': external data file '%s': %s", tp->name,
        path, g_strerror (real ? errno : saved_errno));
    st = CNN_E_IO;
  } else if (!g_str_has_prefix (real, real_base) || real[strlen (real_base)] != '/') {
    g_string_append_printf (err, "tensor '%s': external data path '%s' leaves the "
        "model's folder", tp->name, location);
    st = CNN_E_INVALID;
  } else {
    FILE *f = fopen (real, "rb");
    struct stat sb;
    if (!f || fstat (fileno (f), &sb) != 0 || (uint64_t) sb.st_size < (uint64_t) offset ||
        (uint64_t) sb.st_size - (uint64_t) offset < n) {
      g_string_append_printf (err, "tensor '%s': '%s' does not hold %zu bytes at offset %"
          G_GINT64_FORMAT, tp->name, location, n, offset);
      st = CNN_E_INVALID;
    } else if (!(*buf = g_try_malloc (MAX (n, 1)))) {
      g_string_append_printf (err, "tensor '%s': out of memory", tp->name);
      st = CNN_E_NOMEM;
    } else if (fseeko (f, offset, SEEK_SET) != 0 || fread (*buf, 1, n, f) != n) {
      g_string_append_printf (err, "tensor '%s': cannot read %zu bytes at offset %"
          G_GINT64_FORMAT " from '%s'", tp->name, n, offset, location);
      g_clear_pointer (buf, g_free);
      st = CNN_E_IO;
    }
    if (f)
      fclose (f);
  }
  free (real);
  free (real_base);
  g_free (path);
  return st;
}

/* Converts a TensorProto into a tensor with newly allocated data. */
static cnn_status
tensor_from_proto (const Onnx__TensorProto *tp, const char *base_dir, cnn_tensor *t,
    GString *err)
{
  const char *name = tp->name ? tp->name : "";
  int32_t ft = tp->data_type;
  memset (t, 0, sizeof *t);
  t->dtype = compute_dtype (ft);
  if (t->dtype == CNN_DTYPE_UNDEFINED) {
    g_string_append_printf (err, "tensor '%s': element type %s (%d) is not supported",
        name, onnx_type_name (ft), ft);
    return CNN_E_UNSUPPORTED;
  }
  if (tp->n_dims > CNN_MAX_DIMS) {
    g_string_append_printf (err, "tensor '%s': %zu dims, at most %d are supported",
        name, tp->n_dims, CNN_MAX_DIMS);
    return CNN_E_UNSUPPORTED;
  }
  t->ndim = (int) tp->n_dims;
  for (int i = 0; i < t->ndim; i++)
    t->dims[i] = tp->dims[i];
  size_t fsize = ft == ONNX_DOUBLE ? 8 : cnn_dtype_size (dtype_from_onnx (ft));
  int64_t n = cnn_shape_numel_checked (t->ndim, t->dims, MAX (fsize, 4));
  if (n < 0) {
    char buf[128];
    g_string_append_printf (err, "tensor '%s': dims %s are negative or too large", name,
        cnn_shape_str (t, buf, sizeof buf));
    return CNN_E_INVALID;
  }
  size_t esize = cnn_dtype_size (t->dtype);

  /* Where the bytes are: raw_data, external data or a typed field.  Their
   * amount is checked against the dims before anything is allocated, so a
   * small file cannot ask for gigabytes. */
  const void *src = NULL;
  size_t have = 0;
  void *ext = NULL;
  size_t fbytes = (size_t) n * fsize;
  bool external = tp->has_data_location && tp->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
  size_t count = 0;
  if (!external && !tp->has_raw_data) {
    switch (ft) {
      case 1: count = tp->n_float_data; break;
      case 7: count = tp->n_int64_data; break;
      case ONNX_DOUBLE: count = tp->n_double_data; break;
      default: count = tp->n_int32_data; break;
    }
    if (count != (size_t) n) {
      g_string_append_printf (err, "tensor '%s': holds %zu values, its dims need %" G_GINT64_FORMAT,
          name, count, n);
      return CNN_E_INVALID;
    }
  } else if (!external && tp->raw_data.len != fbytes) {
    g_string_append_printf (err, "tensor '%s': holds %zu bytes of data, its dims need %zu",
        name, tp->raw_data.len, fbytes);
    return CNN_E_INVALID;
  }
  if (external) {
    cnn_status st = read_external (tp, base_dir, &ext, fbytes, err);
    if (st != CNN_OK)
      return st;
    src = ext;
    have = fbytes;
  } else if (tp->has_raw_data) {
    src = tp->raw_data.data;
    have = tp->raw_data.len;
  }
  t->data = g_try_malloc0 (MAX ((size_t) n * esize, 1));
  if (!t->data) {
    g_free (ext);
    g_string_append_printf (err, "tensor '%s': out of memory", name);
    return CNN_E_NOMEM;
  }

  cnn_status st = CNN_OK;
  if (src || n == 0) {
    if (have != fbytes) {
      g_string_append_printf (err, "tensor '%s': holds %zu bytes of data, its dims need %zu",
          name, have, fbytes);
      st = CNN_E_INVALID;
    } else if (ft == 10) {
      const uint8_t *s = src;
      for (int64_t i = 0; i < n; i++)
        ((float *) t->data)[i] = cnn_half_to_float ((uint16_t) (s[2 * i] | (s[2 * i + 1] << 8)));
    } else if (ft == ONNX_DOUBLE) {
      for (int64_t i = 0; i < n; i++) {
        double d;
        memcpy (&d, (const char *) src + 8 * i, 8);
        ((float *) t->data)[i] = (float) d;
      }
    } else if (n) {
      memcpy (t->data, src, fbytes);
    }
  } else {
    {
      for (int64_t i = 0; i < n; i++) {
        switch (ft) {
          case 1: ((float *) t->data)[i] = tp->float_data[i]; break;
          case 7: ((int64_t *) t->data)[i] = tp->int64_data[i]; break;
          case ONNX_DOUBLE: ((float *) t->data)[i] = (float) tp->double_data[i]; break;
          case 10: ((float *) t->data)[i] = cnn_half_to_float ((uint16_t) tp->int32_data[i]); break;
          case 6: ((int32_t *) t->data)[i] = tp->int32_data[i]; break;
          default: ((uint8_t *) t->data)[i] = (uint8_t) tp->int32_data[i]; break;
        }
      }
    }
  }
  g_free (ext);
  if (st != CNN_OK)
    g_clear_pointer (&t->data, g_free);
  return st;
}

gboolean
cnn_tensor_load_pb (const char *path, cnn_tensor *tensor, char **name, GError **error)
{
  gchar *contents;
  gsize len;
  if (!g_file_get_contents (path, &contents, &len, error))
    return FALSE;
  Onnx__TensorProto *tp = onnx__tensor_proto__unpack (NULL, len, (const uint8_t *) contents);
  g_free (contents);
  if (!tp) {
    g_set_error (error, CNN_ERROR, CNN_ERROR_INVALID_MODEL, "%s: not a TensorProto", path);
    return FALSE;
  }
  GString *err = g_string_new (NULL);
  char *dir = g_path_get_dirname (path);
  cnn_status st = tensor_from_proto (tp, dir, tensor, err);
  g_free (dir);
  if (st == CNN_OK && name)
    *name = g_strdup (tp->name ? tp->name : "");
  onnx__tensor_proto__free_unpacked (tp, NULL);
  if (st != CNN_OK)
    g_set_error (error, CNN_ERROR, cnn_error_code_from_status (st), "%s: %s", path, err->str);
  g_string_free (err, TRUE);
  return st == CNN_OK;
}

void
cnn_tensor_free_data (cnn_tensor *tensor)
{
  g_clear_pointer (&tensor->data, g_free);
}

static void
value_set_type (cnn_value *v, const Onnx__ValueInfoProto *vi)
{
  if (!vi->type || vi->type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE ||
      !vi->type->tensor_type)
    return;
  const Onnx__TypeProto__Tensor *tt = vi->type->tensor_type;
  if (tt->has_elem_type) {
    v->file_dtype = tt->elem_type == ONNX_DOUBLE ? CNN_DTYPE_FLOAT32 : dtype_from_onnx (tt->elem_type);
    v->dtype = compute_dtype (tt->elem_type);
  }
  if (tt->shape && tt->shape->n_dim <= CNN_MAX_DIMS) {
    v->ndim = (int) tt->shape->n_dim;
    for (int i = 0; i < v->ndim; i++) {
      const Onnx__TensorShapeProto__Dimension *d = tt->shape->dim[i];
      v->dims[i] = -1;
      if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE && d->dim_value >= 0)
        v->dims[i] = d->dim_value;
      else if (d->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM)
        v->dim_names[i] = g_strdup (d->dim_param);
    }
  }
}

static cnn_status
attr_from_proto (cnn_attr *a, const Onnx__AttributeProto *ap, const cnn_node *n, GString *err)
{
  a->name = g_strdup (ap->name ? ap->name : "");
  switch (ap->type) {
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT:
      a->type = CNN_ATTR_FLOAT;
      a->f = ap->f;
      break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT:
      a->type = CNN_ATTR_INT;
      a->i = ap->i;
      break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING:
      a->type = CNN_ATTR_STRING;
      /* an empty string can come without data: never leave s NULL */
      a->s = ap->s.data ? g_strndup ((const char *) ap->s.data, ap->s.len) : g_strdup ("");
      break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS:
      a->type = CNN_ATTR_FLOATS;
      a->n = (int) MIN (ap->n_floats, G_MAXINT);
      a->floats = g_memdup2 (ap->floats, sizeof (float) * a->n);
      break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS:
      a->type = CNN_ATTR_INTS;
      a->n = (int) MIN (ap->n_ints, G_MAXINT);
      a->ints = g_memdup2 (ap->ints, sizeof (int64_t) * a->n);
      break;
    case ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__TENSOR:
      a->type = CNN_ATTR_TENSOR;
      if (!ap->t)
        return cnn_node_fail (n, err, CNN_E_INVALID, "attribute '%s' has no tensor", a->name);
      {
        GString *e = g_string_new (NULL);
        cnn_status st = tensor_from_proto (ap->t, NULL, &a->t, e);
        if (st != CNN_OK)
          cnn_node_fail (n, err, st, "attribute '%s': %s", a->name, e->str);
        g_string_free (e, TRUE);
        return st;
      }
    default:
      a->type = CNN_ATTR_OTHER;  /* graphs and the like: ops that need them are unsupported */
      break;
  }
  return CNN_OK;
}

static int
lookup_value (cnn_model *m, const char *name)
{
  gpointer p = g_hash_table_lookup (m->value_by_name, name);
  return p ? GPOINTER_TO_INT (p) - 1 : -1;
}

cnn_status
cnn_onnx_load (cnn_model *m, const void *data, size_t size, GString *err)
{
  Onnx__ModelProto *mp = onnx__model_proto__unpack (NULL, size, data);
  cnn_status st = CNN_OK;
  if (!mp) {
    g_string_append (err, "not an ONNX model: the protobuf does not parse (truncated or "
        "not a ModelProto)");
    return CNN_E_INVALID;
  }
  const Onnx__GraphProto *g = mp->graph;
  if (!g) {
    g_string_append (err, "the model has no graph");
    st = CNN_E_INVALID;
    goto out;
  }
  m->stats.ir_version = mp->ir_version;
  m->producer = g_strdup (mp->producer_name ? mp->producer_name : "");
  m->stats.producer = m->producer;
  int opset = 0;
  for (size_t i = 0; i < mp->n_opset_import; i++) {
    const char *d = mp->opset_import[i]->domain;
    if (!d || !*d || strcmp (d, "ai.onnx") == 0)
      opset = (int) mp->opset_import[i]->version;
  }
  if (mp->n_opset_import == 0)
    opset = 1;                  /* IR version 1/2 models carry none */
  m->stats.opset = opset;
  if (opset < 1 || opset > 18) {
    g_string_append_printf (err, "opset %d of the default domain is not supported (7 to 17 are)", opset);
    st = CNN_E_UNSUPPORTED;
    goto out;
  }

  /* Initializers become constants. */
  for (size_t i = 0; i < g->n_initializer; i++) {
    const Onnx__TensorProto *tp = g->initializer[i];
    if (!tp->name || !*tp->name) {
      g_string_append_printf (err, "initializer %zu has no name", i);
      st = CNN_E_INVALID;
      goto out;
    }
    if (lookup_value (m, tp->name) >= 0) {
      g_string_append_printf (err, "initializer '%s' is defined twice", tp->name);
      st = CNN_E_INVALID;
      goto out;
    }
    cnn_tensor t;
    st = tensor_from_proto (tp, m->base_dir, &t, err);
    if (st != CNN_OK)
      goto out;
    cnn_value *v = cnn_model_value (m, cnn_model_add_value (m, tp->name));
    v->dtype = t.dtype;
    v->file_dtype = tp->data_type == ONNX_DOUBLE ? CNN_DTYPE_FLOAT32 : dtype_from_onnx (tp->data_type);
    v->ndim = t.ndim;
    memcpy (v->dims, t.dims, sizeof t.dims);
    v->const_data = t.data;
    m->stats.n_params += cnn_tensor_numel (&t);
  }

  /* Graph inputs that are not initializers. */
  GArray *inputs = g_array_new (FALSE, FALSE, sizeof (int));
  for (size_t i = 0; i < g->n_input; i++) {
    const char *name = g->input[i]->name;
    if (!name || !*name) {
      g_string_append_printf (err, "graph input %zu has no name", i);
      st = CNN_E_INVALID;
      g_array_free (inputs, TRUE);
      goto out;
    }
    int vi = lookup_value (m, name);
    if (vi >= 0) {
      if (cnn_model_value (m, vi)->const_data)
        continue;
      g_string_append_printf (err, "graph input '%s' is listed twice", name);
      st = CNN_E_INVALID;
      g_array_free (inputs, TRUE);
      goto out;
    }
    vi = cnn_model_add_value (m, name);
    cnn_value *v = cnn_model_value (m, vi);
    value_set_type (v, g->input[i]);
    if (v->dtype == CNN_DTYPE_UNDEFINED) {
      g_string_append_printf (err, "graph input '%s' is not a tensor of a supported type", name);
      st = CNN_E_UNSUPPORTED;
      g_array_free (inputs, TRUE);
      goto out;
    }
    v->input_index = inputs->len;
    g_array_append_val (inputs, vi);
  }
  m->n_inputs = inputs->len;
  m->input_values = (int *) g_array_free (inputs, FALSE);

  /* Nodes: first every output, so inputs can be checked whatever the order. */
  GString *unsupported = g_string_new (NULL);
  int n_unsupported = 0;
  for (size_t i = 0; i < g->n_node; i++) {
    const Onnx__NodeProto *np = g->node[i];
    cnn_node *n = g_new0 (cnn_node, 1);
    g_ptr_array_add (m->nodes, n);
    n->op_type = g_strdup (np->op_type ? np->op_type : "");
    n->name = g_strdup (np->name && *np->name ? np->name :
        (np->n_output && np->output[0] && *np->output[0]) ? np->output[0] : n->op_type);
    n->opset = opset;
    n->op = cnn_op_lookup (np->domain, n->op_type);
    if (n->op == CNN_OP_COUNT) {
      n_unsupported++;
      if (n_unsupported <= 20)
        g_string_append_printf (unsupported, "%s'%s' (%s%s%s)", n_unsupported > 1 ? ", " : "",
            n->name, np->domain && *np->domain ? np->domain : "", np->domain && *np->domain ? "." : "",
            n->op_type);
    }
    n->n_out = (int) MIN (np->n_output, 64);
    n->out = g_new0 (int, MAX (n->n_out, 1));
    if (np->n_output > 64) {
      cnn_node_fail (n, err, CNN_E_INVALID, "%zu outputs", np->n_output);
      st = CNN_E_INVALID;
      break;
    }
    for (int k = 0; k < n->n_out; k++) {
      const char *oname = np->output[k];
      if (!oname || !*oname) {
        n->out[k] = -1;
        continue;
      }
      if (lookup_value (m, oname) >= 0) {
        cnn_node_fail (n, err, CNN_E_INVALID, "output '%s' is already produced by another "
            "node, an initializer or a graph input", oname);
        st = CNN_E_INVALID;
        break;
      }
      n->out[k] = cnn_model_add_value (m, oname);
      cnn_model_value (m, n->out[k])->producer = (int) i;
    }
    if (st != CNN_OK)
      break;
  }
  if (st == CNN_OK && n_unsupported) {
    g_string_append_printf (err, "%d node%s use%s unsupported ops: %s%s", n_unsupported,
        n_unsupported > 1 ? "s" : "", n_unsupported > 1 ? "" : "s", unsupported->str,
        n_unsupported > 20 ? ", ..." : "");
    st = CNN_E_UNSUPPORTED;
  }
  g_string_free (unsupported, TRUE);
  if (st != CNN_OK)
    goto out;

  for (size_t i = 0; i < g->n_node && st == CNN_OK; i++) {
    const Onnx__NodeProto *np = g->node[i];
    cnn_node *n = cnn_model_node (m, (int) i);
    if (np->n_input > 1024) {
      st = cnn_node_fail (n, err, CNN_E_INVALID, "%zu inputs", np->n_input);
      break;
    }
    n->n_in = (int) np->n_input;
    n->in = g_new0 (int, MAX (n->n_in, 1));
    for (int k = 0; k < n->n_in; k++) {
      const char *iname = np->input[k];
      if (!iname || !*iname) {
        n->in[k] = -1;
        continue;
      }
      n->in[k] = lookup_value (m, iname);
      if (n->in[k] < 0) {
        st = cnn_node_fail (n, err, CNN_E_INVALID, "input '%s' is not produced by any "
            "node, initializer or graph input", iname);
        break;
      }
    }
    n->n_attrs = (int) MIN (np->n_attribute, 256);
    n->attrs = g_new0 (cnn_attr, MAX (n->n_attrs, 1));
    for (int k = 0; k < n->n_attrs && st == CNN_OK; k++)
      st = attr_from_proto (&n->attrs[k], np->attribute[k], n, err);
  }
  if (st != CNN_OK)
    goto out;

  /* Declared types of intermediate values help tools; shapes are inferred. */
  for (size_t i = 0; i < g->n_value_info; i++) {
    int vi = g->value_info[i]->name ? lookup_value (m, g->value_info[i]->name) : -1;
    if (vi >= 0 && !cnn_model_value (m, vi)->const_data && cnn_model_value (m, vi)->input_index < 0)
      value_set_type (cnn_model_value (m, vi), g->value_info[i]);
  }

  /* Graph outputs. */
  m->n_outputs = (int) g->n_output;
  m->output_values = g_new0 (int, MAX (m->n_outputs, 1));
  if (m->n_outputs == 0) {
    g_string_append (err, "the graph has no outputs");
    st = CNN_E_INVALID;
    goto out;
  }
  for (int i = 0; i < m->n_outputs; i++) {
    const char *name = g->output[i]->name;
    int vi = name ? lookup_value (m, name) : -1;
    if (vi < 0) {
      g_string_append_printf (err, "graph output '%s' is not produced by any node",
          name ? name : "");
      st = CNN_E_INVALID;
      goto out;
    }
    cnn_value *v = cnn_model_value (m, vi);
    if (v->output_index >= 0) {
      g_string_append_printf (err, "graph output '%s' is listed twice", name);
      st = CNN_E_INVALID;
      goto out;
    }
    v->output_index = i;
    m->output_values[i] = vi;
    if (!v->const_data && v->input_index < 0)
      value_set_type (v, g->output[i]);
  }
  m->stats.n_nodes_file = (int) g->n_node;

out:
  onnx__model_proto__free_unpacked (mp, NULL);
  return st;
}
