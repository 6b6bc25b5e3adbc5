/// The plain C99 functions of an int8 network's generated file: the integer arithmetic of
/// `QuantizedNetwork` (`Int8Steps.swift`), operation for operation, so that the C gives the
/// integer reference's values bit for bit. Each function is written out only when a step needs
/// it, after the ones it calls.
enum CInt8Library {
  /// The functions in an order that defines each before its use.
  static let order = [
    "rounded_shift", "clamp8", "quantize", "qconvolution_row", "qconvolution", "qpool_window",
    "qpooling", "qconvolution_pooled", "qdense", "rescale", "dequantize", "qglobal_average",
    "qrelu",
  ]

  /// The functions each one calls.
  static let calls: [String: [String]] = [
    "rounded_shift": [],
    "clamp8": [],
    "quantize": ["clamp8"],
    "qconvolution_row": ["rounded_shift", "clamp8"],
    "qconvolution": ["qconvolution_row"],
    "qpool_window": ["clamp8"],
    "qpooling": ["qpool_window"],
    "qconvolution_pooled": ["qconvolution_row", "qpool_window"],
    "qdense": ["rounded_shift", "clamp8"],
    "rescale": ["rounded_shift", "clamp8"],
    "dequantize": [],
    "qglobal_average": ["rescale"],
    "qrelu": [],
  ]

  /// `functions` and what they call, in definition order.
  static func closure(of functions: Set<String>) -> [String] {
    var all = functions
    var pending = Array(functions)
    while let function = pending.popLast() {
      for callee in calls[function] ?? [] where all.insert(callee).inserted {
        pending.append(callee)
      }
    }
    return order.filter(all.contains)
  }

  static let types = """
    /* An int8 convolution's or pooling's window, and the int8 mappings around it. */
    struct window {
      int channels, height, width; /* the input */
      int kernel_h, kernel_w;
      int stride_h, stride_w;
      int pad_h, pad_w;
      int out_h, out_w; /* each output plane */
    };

    struct qconvolution {
      struct window window;
      int filters, groups;
      int32_t input_zero_point, output_zero_point;
      int32_t low; /* the clamp's low end: -128, or the output zero point for a fused ReLU */
    };

    enum pooling_kind { MAX_POOLING, AVERAGE_POOLING };

    struct qpooling {
      struct window window;
      enum pooling_kind kind;
      int32_t zero_point; /* the input's, which the output keeps */
    };
    """

  static let functions: [String: String] = [
    "rounded_shift": """
    /* round(value * multiplier / 2^shift), halves away from zero, from the exact product. */
    static int64_t rounded_shift(int64_t product, int shift)
    {
      int64_t half = (int64_t)1 << (shift - 1);
      return product >= 0 ? (product + half) >> shift : -((half - product) >> shift);
    }
    """,
    "clamp8": """
    static int8_t clamp8(int64_t value, int32_t low)
    {
      return (int8_t)(value < low ? low : value > 127 ? 127 : value);
    }
    """,
    "quantize": """
    /* x / scale rounded to the nearest integer, halves away from zero, plus the zero point:
     * the network input's quantization. */
    static int8_t quantize(float x, float scale, int32_t zero_point)
    {
      float v = x / scale;
      int32_t q;
      float fraction;
      if (!(v > -1000.0f))
        return -128;
      if (!(v < 1000.0f))
        return 127;
      q = (int32_t)v; /* toward zero; exact below 2^23 */
      fraction = v - (float)q;
      if (fraction >= 0.5f)
        q++;
      else if (fraction <= -0.5f)
        q--;
      return clamp8((int64_t)q + zero_point, -128);
    }
    """,
    "qconvolution_row": """
    /* acc = bias + sum of (x - input zero point) * w over the filter's taps, requantized by the
     * filter's multiplier and shift. out: one row of out_w outputs of filter f. */
    static void qconvolution_row(const struct qconvolution *c, const int8_t *x, const int8_t *weight,
                                 const int32_t *bias, const int32_t *multiplier,
                                 const unsigned char *shift, int f, int oy, int8_t *out)
    {
      const struct window *w = &c->window;
      int per_group = w->channels / c->groups;
      int first_channel = f / (c->filters / c->groups) * per_group;
      const int8_t *taps = weight + f * per_group * w->kernel_h * w->kernel_w;
      int ci, ky, kx, ox;
      for (ox = 0; ox < w->out_w; ox++) {
        int32_t acc = bias[f];
        for (ci = 0; ci < per_group; ci++) {
          for (ky = 0; ky < w->kernel_h; ky++) {
            int iy = oy * w->stride_h - w->pad_h + ky;
            const int8_t *row;
            if (iy < 0 || iy >= w->height)
              continue;
            row = x + ((first_channel + ci) * w->height + iy) * w->width;
            for (kx = 0; kx < w->kernel_w; kx++) {
              int ix = ox * w->stride_w - w->pad_w + kx;
              if (ix >= 0 && ix < w->width)
                acc += ((int32_t)row[ix] - c->input_zero_point)
                       * (int32_t)taps[(ci * w->kernel_h + ky) * w->kernel_w + kx];
            }
          }
        }
        out[ox] = clamp8(rounded_shift((int64_t)acc * multiplier[f], shift[f])
                         + c->output_zero_point, c->low);
      }
    }
    """,
    "qconvolution": """
    static void qconvolution(const struct qconvolution *c, const int8_t *x, const int8_t *weight,
                             const int32_t *bias, const int32_t *multiplier,
                             const unsigned char *shift, int8_t *y)
    {
      int f, oy;
      for (f = 0; f < c->filters; f++)
        for (oy = 0; oy < c->window.out_h; oy++)
          qconvolution_row(c, x, weight, bias, multiplier, shift, f, oy,
                           y + (f * c->window.out_h + oy) * c->window.out_w);
    }
    """,
    "qpool_window": """
    /* One pooling output of one plane (rows in a ring of `ring` rows when ring > 0): the max of
     * the window's values, or the average of their differences from the zero point. */
    static int8_t qpool_window(const struct qpooling *p, const int8_t *plane, int ring, int oy, int ox)
    {
      const struct window *w = &p->window;
      int y0 = oy * w->stride_h - w->pad_h, x0 = ox * w->stride_w - w->pad_w;
      int y1 = y0 + w->kernel_h, x1 = x0 + w->kernel_w;
      int64_t span = (int64_t)((y1 < w->height + w->pad_h ? y1 : w->height + w->pad_h) - y0)
                     * ((x1 < w->width + w->pad_w ? x1 : w->width + w->pad_w) - x0);
      int iy, ix, empty = 1;
      int8_t best = (int8_t)p->zero_point;
      int64_t sum = 0;
      if (y0 < 0)
        y0 = 0;
      if (x0 < 0)
        x0 = 0;
      if (y1 > w->height)
        y1 = w->height;
      if (x1 > w->width)
        x1 = w->width;
      for (iy = y0; iy < y1; iy++) {
        const int8_t *row = plane + (ring > 0 ? iy % ring : iy) * w->width;
        for (ix = x0; ix < x1; ix++) {
          if (empty || row[ix] > best)
            best = row[ix];
          empty = 0;
          sum += (int32_t)row[ix] - p->zero_point;
        }
      }
      if (p->kind == MAX_POOLING)
        return best;
      sum = sum >= 0 ? (2 * sum + span) / (2 * span) : -((-2 * sum + span) / (2 * span));
      return clamp8(sum + p->zero_point, -128);
    }
    """,
    "qpooling": """
    static void qpooling(const struct qpooling *p, const int8_t *x, int8_t *y)
    {
      const struct window *w = &p->window;
      int c, oy, ox;
      for (c = 0; c < w->channels; c++)
        for (oy = 0; oy < w->out_h; oy++)
          for (ox = 0; ox < w->out_w; ox++)
            y[(c * w->out_h + oy) * w->out_w + ox] =
                qpool_window(p, x + c * w->height * w->width, 0, oy, ox);
    }
    """,
    "qconvolution_pooled": """
    static void qconvolution_pooled(const struct qconvolution *c, const struct qpooling *p,
                                    const int8_t *x, const int8_t *weight, const int32_t *bias,
                                    const int32_t *multiplier, const unsigned char *shift,
                                    int8_t *ring, int8_t *y)
    {
      const struct window *w = &p->window;
      int f, py, px, row;
      for (f = 0; f < c->filters; f++) {
        int next = 0; /* the first convolution row not yet computed */
        for (py = 0; py < w->out_h; py++) {
          int first = py * w->stride_h - w->pad_h, last = first + w->kernel_h;
          if (first < 0)
            first = 0;
          if (last > w->height)
            last = w->height;
          for (row = first > next ? first : next; row < last; row++)
            qconvolution_row(c, x, weight, bias, multiplier, shift, f, row,
                             ring + (row % w->kernel_h) * w->width);
          if (last > next)
            next = last;
          for (px = 0; px < w->out_w; px++)
            y[(f * w->out_h + py) * w->out_w + px] = qpool_window(p, ring, w->kernel_h, py, px);
        }
      }
    }
    """,
    "qdense": """
    static void qdense(const int8_t *x, const int8_t *weight, const int32_t *bias,
                       const int32_t *multiplier, const unsigned char *shift, int inputs, int units,
                       int32_t input_zero_point, int32_t output_zero_point, int32_t low, int8_t *y)
    {
      int o, i;
      for (o = 0; o < units; o++) {
        const int8_t *row = weight + o * inputs;
        int32_t acc = bias[o];
        for (i = 0; i < inputs; i++)
          acc += ((int32_t)x[i] - input_zero_point) * (int32_t)row[i];
        y[o] = clamp8(rounded_shift((int64_t)acc * multiplier[o], shift[o]) + output_zero_point, low);
      }
    }
    """,
    "rescale": """
    /* y = sum over inputs k of (x_k - zero_k) * multiplier_k / 2^shift, one rounding, plus the
     * output zero point: an add's, a concat's or (one input, its plane summed) a global
     * average's requantization. */
    static int8_t rescale(const int64_t *differences, const int64_t *multipliers, int count,
                          int shift, int32_t zero_point)
    {
      int64_t sum = 0;
      int k;
      for (k = 0; k < count; k++)
        sum += differences[k] * multipliers[k];
      return clamp8(rounded_shift(sum, shift) + zero_point, -128);
    }
    """,
    "dequantize": """
    static float dequantize(int8_t q, float scale, int32_t zero_point)
    {
      return scale * (float)((int32_t)q - zero_point);
    }

    """,
    "qglobal_average": """
    /* Each channel's sum of differences from the input zero point, requantized once. */
    static void qglobal_average(const int8_t *x, int channels, int plane, int32_t input_zero_point,
                                int64_t multiplier, int shift, int32_t output_zero_point, int8_t *y)
    {
      int c, i;
      for (c = 0; c < channels; c++) {
        int64_t sum = 0;
        for (i = 0; i < plane; i++)
          sum += (int32_t)x[c * plane + i] - input_zero_point;
        y[c] = rescale(&sum, &multiplier, 1, shift, output_zero_point);
      }
    }
    """,
    "qrelu": """
    /* ReLU on int8: nothing below the zero point; y may be x. */
    static void qrelu(const int8_t *x, int count, int32_t zero_point, int8_t *y)
    {
      int i;
      for (i = 0; i < count; i++)
        y[i] = x[i] < zero_point ? (int8_t)zero_point : x[i];
    }
    """,
  ]
}
