/* onnx-builder.h - builds small ONNX models in memory with protobuf-c, for
 * the op tests and the malformed-model tests. */
#ifndef CNN_TEST_ONNX_BUILDER_H
#define CNN_TEST_ONNX_BUILDER_H

#include "onnx.pb-c.h"
#include <glib.h>
#include <stdarg.h>
#include <stdint.h>
#include <string.h>

typedef struct {
  Onnx__ModelProto model;
  Onnx__GraphProto graph;
  Onnx__OperatorSetIdProto opset;
  Onnx__OperatorSetIdProto *opsets[1];
  GPtrArray *nodes, *inputs, *outputs, *inits;
  GPtrArray *garbage;           /* everything to free */
} ob_model;

static inline void *
ob_keep (ob_model *b, void *p)
{
  g_ptr_array_add (b->garbage, p);
  return p;
}

static inline char *
ob_str (ob_model *b, const char *s)
{
  return ob_keep (b, g_strdup (s));
}

static inline ob_model *
ob_new (int opset)
{
  ob_model *b = g_new0 (ob_model, 1);
  onnx__model_proto__init (&b->model);
  onnx__graph_proto__init (&b->graph);
  onnx__operator_set_id_proto__init (&b->opset);
  b->garbage = g_ptr_array_new_with_free_func (g_free);
  b->nodes = g_ptr_array_new ();
  b->inputs = g_ptr_array_new ();
  b->outputs = g_ptr_array_new ();
  b->inits = g_ptr_array_new ();
  b->opset.domain = ob_str (b, "");
  b->opset.has_version = 1;
  b->opset.version = opset;
  b->opsets[0] = &b->opset;
  b->model.has_ir_version = 1;
  b->model.ir_version = 8;
  b->model.n_opset_import = 1;
  b->model.opset_import = b->opsets;
  b->model.graph = &b->graph;
  b->graph.name = ob_str (b, "test");
  return b;
}

static inline Onnx__ValueInfoProto *
ob_value_info (ob_model *b, const char *name, int elem_type, int ndim, const int64_t *dims)
{
  Onnx__ValueInfoProto *vi = ob_keep (b, g_new0 (Onnx__ValueInfoProto, 1));
  Onnx__TypeProto *tp = ob_keep (b, g_new0 (Onnx__TypeProto, 1));
  Onnx__TypeProto__Tensor *tt = ob_keep (b, g_new0 (Onnx__TypeProto__Tensor, 1));
  Onnx__TensorShapeProto *sp = ob_keep (b, g_new0 (Onnx__TensorShapeProto, 1));
  onnx__value_info_proto__init (vi);
  onnx__type_proto__init (tp);
  onnx__type_proto__tensor__init (tt);
  onnx__tensor_shape_proto__init (sp);
  vi->name = ob_str (b, name);
  vi->type = tp;
  tp->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
  tp->tensor_type = tt;
  tt->has_elem_type = 1;
  tt->elem_type = elem_type;
  if (ndim >= 0) {
    tt->shape = sp;
    sp->n_dim = ndim;
    sp->dim = ob_keep (b, g_new0 (Onnx__TensorShapeProto__Dimension *, ndim + 1));
    for (int i = 0; i < ndim; i++) {
      Onnx__TensorShapeProto__Dimension *d = ob_keep (b, g_new0 (Onnx__TensorShapeProto__Dimension, 1));
      onnx__tensor_shape_proto__dimension__init (d);
      if (dims[i] < 0) {        /* symbolic */
        d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
        d->dim_param = ob_str (b, "N");
      } else {
        d->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE;
        d->dim_value = dims[i];
      }
      sp->dim[i] = d;
    }
  }
  return vi;
}

static inline void
ob_input (ob_model *b, const char *name, int ndim, const int64_t *dims)
{
  g_ptr_array_add (b->inputs, ob_value_info (b, name, 1, ndim, dims));
}

static inline void
ob_output (ob_model *b, const char *name)
{
  g_ptr_array_add (b->outputs, ob_value_info (b, name, 1, -1, NULL));
}

/* A float32 initializer (data copied; NULL data: random in [-1, 1)). */
static inline Onnx__TensorProto *
ob_init_float (ob_model *b, const char *name, int ndim, const int64_t *dims, const float *data,
    GRand *rng)
{
  Onnx__TensorProto *t = ob_keep (b, g_new0 (Onnx__TensorProto, 1));
  onnx__tensor_proto__init (t);
  t->name = ob_str (b, name);
  t->has_data_type = 1;
  t->data_type = 1;
  t->n_dims = ndim;
  t->dims = ob_keep (b, g_memdup2 (dims, sizeof (int64_t) * MAX (ndim, 1)));
  int64_t n = 1;
  for (int i = 0; i < ndim; i++)
    n *= dims[i];
  t->n_float_data = n;
  t->float_data = ob_keep (b, g_new (float, MAX (n, 1)));
  for (int64_t i = 0; i < n; i++)
    t->float_data[i] = data ? data[i] : (float) g_rand_double_range (rng, -1, 1);
  g_ptr_array_add (b->inits, t);
  return t;
}

static inline Onnx__TensorProto *
ob_init_int64 (ob_model *b, const char *name, int n, const int64_t *data)
{
  Onnx__TensorProto *t = ob_keep (b, g_new0 (Onnx__TensorProto, 1));
  onnx__tensor_proto__init (t);
  t->name = ob_str (b, name);
  t->has_data_type = 1;
  t->data_type = 7;
  t->n_dims = 1;
  t->dims = ob_keep (b, g_new (int64_t, 1));
  t->dims[0] = n;
  t->n_int64_data = n;
  t->int64_data = ob_keep (b, g_memdup2 (data, sizeof (int64_t) * MAX (n, 1)));
  g_ptr_array_add (b->inits, t);
  return t;
}

/* Adds a node; inputs and outputs are NULL-terminated lists in a string
 * "a,b,c" (empty entries allowed for absent optional inputs). */
static inline Onnx__NodeProto *
ob_node (ob_model *b, const char *op, const char *inputs, const char *outputs)
{
  Onnx__NodeProto *n = ob_keep (b, g_new0 (Onnx__NodeProto, 1));
  onnx__node_proto__init (n);
  n->op_type = ob_str (b, op);
  n->name = ob_str (b, outputs);
  char **in = g_strsplit (inputs, ",", -1), **out = g_strsplit (outputs, ",", -1);
  n->n_input = g_strv_length (in);
  n->input = ob_keep (b, g_new0 (char *, n->n_input + 1));
  for (size_t i = 0; i < n->n_input; i++)
    n->input[i] = ob_str (b, in[i]);
  n->n_output = g_strv_length (out);
  n->output = ob_keep (b, g_new0 (char *, n->n_output + 1));
  for (size_t i = 0; i < n->n_output; i++)
    n->output[i] = ob_str (b, out[i]);
  g_strfreev (in);
  g_strfreev (out);
  g_ptr_array_add (b->nodes, n);
  return n;
}

static inline Onnx__AttributeProto *
ob_attr_new (ob_model *b, Onnx__NodeProto *n, const char *name, Onnx__AttributeProto__AttributeType type)
{
  Onnx__AttributeProto *a = ob_keep (b, g_new0 (Onnx__AttributeProto, 1));
  onnx__attribute_proto__init (a);
  a->name = ob_str (b, name);
  a->has_type = 1;
  a->type = type;
  Onnx__AttributeProto **list = ob_keep (b, g_new0 (Onnx__AttributeProto *, n->n_attribute + 1));
  if (n->n_attribute)
    memcpy (list, n->attribute, sizeof (gpointer) * n->n_attribute);
  list[n->n_attribute++] = a;
  n->attribute = list;
  return a;
}

static inline void
ob_attr_int (ob_model *b, Onnx__NodeProto *n, const char *name, int64_t v)
{
  Onnx__AttributeProto *a = ob_attr_new (b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT);
  a->has_i = 1;
  a->i = v;
}

static inline void
ob_attr_float (ob_model *b, Onnx__NodeProto *n, const char *name, float v)
{
  Onnx__AttributeProto *a = ob_attr_new (b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOAT);
  a->has_f = 1;
  a->f = v;
}

static inline void
ob_attr_ints (ob_model *b, Onnx__NodeProto *n, const char *name, int count, const int64_t *v)
{
  Onnx__AttributeProto *a = ob_attr_new (b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS);
  a->n_ints = count;
  a->ints = ob_keep (b, g_memdup2 (v, sizeof (int64_t) * MAX (count, 1)));
}

static inline void
ob_attr_floats (ob_model *b, Onnx__NodeProto *n, const char *name, int count, const float *v)
{
  Onnx__AttributeProto *a = ob_attr_new (b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__FLOATS);
  a->n_floats = count;
  a->floats = ob_keep (b, g_memdup2 (v, sizeof (float) * MAX (count, 1)));
}

static inline void
ob_attr_string (ob_model *b, Onnx__NodeProto *n, const char *name, const char *v)
{
  Onnx__AttributeProto *a = ob_attr_new (b, n, name, ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__STRING);
  a->has_s = 1;
  a->s.data = (uint8_t *) ob_str (b, v);
  a->s.len = strlen (v);
}

/* Serializes the model; free the result with g_free. */
static inline uint8_t *
ob_pack (ob_model *b, size_t *len)
{
  b->graph.n_node = b->nodes->len;
  b->graph.node = (Onnx__NodeProto **) b->nodes->pdata;
  b->graph.n_input = b->inputs->len;
  b->graph.input = (Onnx__ValueInfoProto **) b->inputs->pdata;
  b->graph.n_output = b->outputs->len;
  b->graph.output = (Onnx__ValueInfoProto **) b->outputs->pdata;
  b->graph.n_initializer = b->inits->len;
  b->graph.initializer = (Onnx__TensorProto **) b->inits->pdata;
  *len = onnx__model_proto__get_packed_size (&b->model);
  uint8_t *buf = g_malloc (MAX (*len, 1));
  onnx__model_proto__pack (&b->model, buf);
  return buf;
}

/* Packs the model (b stays yours) into the file @path; FALSE if it cannot
 * be written. */
static inline gboolean
ob_save (ob_model *b, const char *path)
{
  size_t len;
  uint8_t *buf = ob_pack (b, &len);
  gboolean ok = g_file_set_contents (path, (const gchar *) buf, (gssize) len, NULL);
  g_free (buf);
  return ok;
}

#ifdef CNN_H
/* Packs and loads the model (b stays yours); NULL with @err set on failure. */
static inline cnn_model *
ob_load (ob_model *b, GError **err)
{
  size_t len;
  uint8_t *buf = ob_pack (b, &len);
  cnn_model *m = cnn_model_load_from_memory (buf, len, NULL, err);
  g_free (buf);
  return m;
}
#endif

static inline void
ob_free (ob_model *b)
{
  g_ptr_array_free (b->nodes, TRUE);
  g_ptr_array_free (b->inputs, TRUE);
  g_ptr_array_free (b->outputs, TRUE);
  g_ptr_array_free (b->inits, TRUE);
  g_ptr_array_free (b->garbage, TRUE);
  g_free (b);
}

#endif
