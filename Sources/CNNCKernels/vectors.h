// Vectors of floats as clang's vector extension writes them, for the passes that are the same C
// compiled once per instruction set (winograd.c, weight_gradient.c, normalise.c): each function's
// target attribute decides how wide the machine's registers are under them.
#ifndef CNNC_VECTORS_H
#define CNNC_VECTORS_H

#include <stdint.h>
#include <string.h>

typedef float f8 __attribute__((ext_vector_type(8)));
typedef float f16 __attribute__((ext_vector_type(16)));
typedef float f32 __attribute__((ext_vector_type(32)));
typedef int32_t i16 __attribute__((ext_vector_type(16)));
typedef int32_t i32 __attribute__((ext_vector_type(32)));

// Unaligned loads and stores (macros, not functions: a vector argument's ABI would depend on
// the caller's instruction set).
#define VLOAD(type, p)           \
  ({                             \
    type v_;                     \
    memcpy(&v_, (p), sizeof v_); \
    v_;                          \
  })
#define VSTORE(p, v)             \
  do {                           \
    __typeof__(v) v_ = (v);      \
    memcpy((p), &v_, sizeof v_); \
  } while (0)

// A vector's lanes summed in a fixed tree (a fixed order, so results repeat).
#define VSUM8(v) ((((v)[0] + (v)[4]) + ((v)[1] + (v)[5])) + (((v)[2] + (v)[6]) + ((v)[3] + (v)[7])))
#define VSUM16(v)                                                                           \
  (((((v)[0] + (v)[8]) + ((v)[4] + (v)[12])) + (((v)[2] + (v)[10]) + ((v)[6] + (v)[14]))) + \
   ((((v)[1] + (v)[9]) + ((v)[5] + (v)[13])) + (((v)[3] + (v)[11]) + ((v)[7] + (v)[15]))))

// max(v, 0) on every lane, NaN kept (as cnnc_relu: zero where 0 >= value); `ints` is the
// integer vector of v's width.
#define VRELU(v, ints) ((__typeof__(v))((ints)(v) & ~(ints)((v) <= 0.0f)))

#endif
