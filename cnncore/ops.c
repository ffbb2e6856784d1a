/* ops.c - the op table, generated from ops.def. */
#include "cnn-private.h"

#define CNN_OP(e, onnx_name, fn) extern const cnn_op_def cnn_op_def_##fn;
#include "ops.def"
#undef CNN_OP

const cnn_op_def *const cnn_op_defs[CNN_OP_COUNT] = {
#define CNN_OP(e, onnx_name, fn) [CNN_OP_##e] = &cnn_op_def_##fn,
#include "ops.def"
#undef CNN_OP
};

/* Tripwire: update when ops are added to ops.def. */
_Static_assert (CNN_OP_COUNT == 75, "ops.def changed: update the op count, the docs and tests");

cnn_op
cnn_op_lookup (const char *domain, const char *op_type)
{
  if (domain && *domain && strcmp (domain, "ai.onnx") != 0)
    return CNN_OP_COUNT;
  for (int i = 0; i < CNN_OP_COUNT; i++)
    if (strcmp (cnn_op_defs[i]->onnx_name, op_type) == 0)
      return (cnn_op) i;
  return CNN_OP_COUNT;
}
