/// The plain C99 functions the generated file is made of. Each is written out only when a step
/// calls it (GCC's `-Wall` flags an unused static function), after the ones it calls.
enum CLibrary {
  /// A function of the generated file.
  enum Function: Int, CaseIterable, Comparable {
    case tanhOf, activate, convolutionRow, convolution, poolWindow, pooling, convolutionPooled
    case dense, affine, activateAll, globalAverage, softmax, add

    static func < (a: Self, b: Self) -> Bool { a.rawValue < b.rawValue }

    /// The functions it calls.
    var calls: [Function] {
      switch self {
      case .convolutionRow, .dense, .activateAll: [.activate]
      case .convolution: [.convolutionRow]
      case .pooling: [.poolWindow]
      case .convolutionPooled: [.convolutionRow, .poolWindow]
      default: []
      }
    }
  }

  /// `functions` and what they call, in an order that defines each before its use.
  static func closure(of functions: Set<Function>) -> [Function] {
    var all = functions
    var pending = Array(functions)
    while let function = pending.popLast() {
      for callee in function.calls where all.insert(callee).inserted { pending.append(callee) }
    }
    return all.sorted()
  }

  /// The types the functions use.
  static let types = """
    /* A convolution's or pooling's window over one image's planes (NCHW). */
    struct window {
      int channels, height, width; /* the input */
      int kernel_h, kernel_w;
      int stride_h, stride_w;
      int pad_h, pad_w;
      int out_h, out_w; /* each output plane */
    };

    /* What a convolution or dense layer applies to each value as it stores it. */
    enum activation { NO_ACTIVATION, RELU, LEAKY_RELU, SIGMOID, TANH };

    struct convolution {
      struct window window;
      int filters, groups;
      enum activation activation;
      float slope; /* leaky ReLU's, below zero */
    };

    enum pooling_kind { MAX_POOLING, AVERAGE_POOLING };

    struct pooling {
      struct window window;
      enum pooling_kind kind;
    };
    """

  /// The text of `function`; `activations` are the activation cases the file uses.
  static func text(of function: Function, activations: Set<String>) -> String {
    switch function {
    case .tanhOf: tanhOf
    case .activate: activate(activations)
    case .convolutionRow: convolutionRow
    case .convolution: convolution
    case .poolWindow: poolWindow
    case .pooling: pooling
    case .convolutionPooled: convolutionPooled
    case .dense: dense
    case .affine: affine
    case .activateAll: activateAll
    case .globalAverage: globalAverage
    case .softmax: softmax
    case .add: add
    }
  }

  private static let tanhOf = """
    /* tanh from expf alone: a series near zero, where 1 - 2 / (e^2x + 1) would cancel. */
    static float tanh_of(float x)
    {
      if (x > -0.1f && x < 0.1f) {
        float x2 = x * x;
        return x * (1.0f - x2 * (1.0f / 3.0f - x2 * (2.0f / 15.0f - x2 * (17.0f / 315.0f))));
      }
      return 1.0f - 2.0f / (expf(2.0f * x) + 1.0f);
    }
    """

  private static func activate(_ used: Set<String>) -> String {
    let cases: [(String, String)] = [
      ("RELU", "x > 0.0f ? x : 0.0f"), ("LEAKY_RELU", "x > 0.0f ? x : slope * x"),
      ("SIGMOID", "1.0f / (1.0f + expf(-x))"), ("TANH", "tanh_of(x)"),
    ]
    let body = cases.filter { used.contains($0.0) }.map { "  case \($0.0):\n    return \($0.1);\n" }
    return """
      static float activate(float x, enum activation activation, float slope)
      {
      \(used.contains("LEAKY_RELU") ? "" : "  (void)slope;\n")  switch (activation) {
      \(body.joined())  default:
          return x;
        }
      }
      """
  }

  private static let convolutionRow = """
    /* Row oy of filter f's output plane into out[0 .. out_w): the bias, every tap over the
     * filter's group of channels, then the activation.
     * x: (channels, height, width); weight: (filters, channels / groups, kernel_h, kernel_w) */
    static void convolution_row(const struct convolution *c, const float *x, const float *weight,
                                const float *bias, int f, int oy, float *out)
    {
      const struct window *w = &c->window;
      int per_group = w->channels / c->groups;
      int first_channel = f / (c->filters / c->groups) * per_group;
      const float *taps = weight + f * per_group * w->kernel_h * w->kernel_w;
      int ci, ky, kx, ox;
      for (ox = 0; ox < w->out_w; ox++)
        out[ox] = bias ? bias[f] : 0.0f;
      for (ci = 0; ci < per_group; ci++) {
        for (ky = 0; ky < w->kernel_h; ky++) {
          int iy = oy * w->stride_h - w->pad_h + ky;
          const float *row;
          if (iy < 0 || iy >= w->height)
            continue;
          row = x + ((first_channel + ci) * w->height + iy) * w->width;
          for (kx = 0; kx < w->kernel_w; kx++) {
            float tap = taps[(ci * w->kernel_h + ky) * w->kernel_w + kx];
            /* the outputs whose input column ox * stride_w + shift lies inside the row */
            int shift = kx - w->pad_w;
            int begin = shift < 0 ? (w->stride_w - 1 - shift) / w->stride_w : 0;
            int end = w->width - shift <= 0 ? 0 : (w->width - shift - 1) / w->stride_w + 1;
            if (end > w->out_w)
              end = w->out_w;
            if (w->stride_w == 1) /* a loop compilers vectorise */
              for (ox = begin; ox < end; ox++)
                out[ox] += tap * row[ox + shift];
            else
              for (ox = begin; ox < end; ox++)
                out[ox] += tap * row[ox * w->stride_w + shift];
          }
        }
      }
      for (ox = 0; ox < w->out_w; ox++)
        out[ox] = activate(out[ox], c->activation, c->slope);
    }
    """

  private static let convolution = """
    /* y: (filters, out_h, out_w) */
    static void convolution(const struct convolution *c, const float *x, const float *weight,
                            const float *bias, float *y)
    {
      int f, oy;
      for (f = 0; f < c->filters; f++)
        for (oy = 0; oy < c->window.out_h; oy++)
          convolution_row(c, x, weight, bias, f, oy,
                          y + (f * c->window.out_h + oy) * c->window.out_w);
    }
    """

  private static let poolWindow = """
    /* The value of output (oy, ox) of one plane. Input row iy is at plane + iy * width, or, with
     * ring > 0 (rows held in a ring of that many), at plane + (iy % ring) * width. A window is
     * clipped to the input; the average divides by the positions it spans in the padded input
     * (Caffe's and PyTorch's rule). */
    static float pool_window(const struct pooling *p, const float *plane, int ring, int oy, int ox)
    {
      const struct window *w = &p->window;
      int y0 = oy * w->stride_h - w->pad_h, x0 = ox * w->stride_w - w->pad_w;
      int y1 = y0 + w->kernel_h, x1 = x0 + w->kernel_w;
      int span_h = (y1 < w->height + w->pad_h ? y1 : w->height + w->pad_h) - y0;
      int span_w = (x1 < w->width + w->pad_w ? x1 : w->width + w->pad_w) - x0;
      int iy, ix, empty = 1;
      float best = 0.0f, sum = 0.0f;
      if (y0 < 0)
        y0 = 0;
      if (x0 < 0)
        x0 = 0;
      if (y1 > w->height)
        y1 = w->height;
      if (x1 > w->width)
        x1 = w->width;
      for (iy = y0; iy < y1; iy++) {
        const float *row = plane + (ring > 0 ? iy % ring : iy) * w->width;
        for (ix = x0; ix < x1; ix++) {
          if (empty || row[ix] > best)
            best = row[ix];
          empty = 0;
          sum += row[ix];
        }
      }
      if (p->kind == MAX_POOLING)
        return best;
      return sum / (float)(span_h * span_w);
    }
    """

  private static let pooling = """
    /* y: (channels, out_h, out_w); each output is written after its window is read, so y may
     * be x where the plan proved no later window reads what an output overwrites. */
    static void pooling(const struct pooling *p, const float *x, float *y)
    {
      const struct window *w = &p->window;
      int c, oy, ox;
      for (c = 0; c < w->channels; c++)
        for (oy = 0; oy < w->out_h; oy++)
          for (ox = 0; ox < w->out_w; ox++)
            y[(c * w->out_h + oy) * w->out_w + ox] =
                pool_window(p, x + c * w->height * w->width, 0, oy, ox);
    }
    """

  private static let convolutionPooled = """
    /* A convolution and the pooling after it: one filter at a time, the convolution's rows go
     * into a ring of the pooling's kernel_h rows as the pooling's windows reach them, so the
     * convolution's whole output never exists. ring: kernel_h rows of the convolution's out_w;
     * y: (filters, pooling out_h, pooling out_w) */
    static void convolution_pooled(const struct convolution *c, const struct pooling *p,
                                   const float *x, const float *weight, const float *bias,
                                   float *ring, float *y)
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
            convolution_row(c, x, weight, bias, f, row, ring + (row % w->kernel_h) * w->width);
          if (last > next)
            next = last;
          for (px = 0; px < w->out_w; px++)
            y[(f * w->out_h + py) * w->out_w + px] = pool_window(p, ring, w->kernel_h, py, px);
        }
      }
    }
    """

  private static let dense = """
    /* y[o] = activation(bias[o] + sum over i of weight[o][i] * x[i]); weight: (units, inputs).
     * Four partial sums, so that the additions do not wait on one another. */
    static void dense(const float *x, const float *weight, const float *bias, int inputs,
                      int units, enum activation activation, float slope, float *y)
    {
      int o, i, whole = inputs / 4 * 4;
      for (o = 0; o < units; o++) {
        const float *row = weight + o * inputs;
        float sum[4] = {0.0f, 0.0f, 0.0f, 0.0f};
        for (i = 0; i < whole; i += 4) {
          sum[0] += row[i] * x[i];
          sum[1] += row[i + 1] * x[i + 1];
          sum[2] += row[i + 2] * x[i + 2];
          sum[3] += row[i + 3] * x[i + 3];
        }
        for (i = whole; i < inputs; i++)
          sum[0] += row[i] * x[i];
        y[o] = activate((bias ? bias[o] : 0.0f) + ((sum[0] + sum[1]) + (sum[2] + sum[3])),
                        activation, slope);
      }
    }
    """

  private static let affine = """
    /* A batchnorm by its running statistics: y = x * scale[c] + shift[c]; y may be x. */
    static void channel_affine(const float *x, const float *scale, const float *shift,
                               int channels, int plane, float *y)
    {
      int c, i;
      for (c = 0; c < channels; c++)
        for (i = c * plane; i < (c + 1) * plane; i++)
          y[i] = x[i] * scale[c] + shift[c];
    }
    """

  private static let activateAll = """
    /* y may be x. */
    static void activate_all(const float *x, int count, enum activation activation, float slope,
                             float *y)
    {
      int i;
      for (i = 0; i < count; i++)
        y[i] = activate(x[i], activation, slope);
    }
    """

  private static let globalAverage = """
    /* Each channel's mean; y may be x (y[c] is written after plane c, at or past it, is read). */
    static void global_average(const float *x, int channels, int plane, float *y)
    {
      int c, i;
      for (c = 0; c < channels; c++) {
        float sum = 0.0f;
        for (i = 0; i < plane; i++)
          sum += x[c * plane + i];
        y[c] = sum / (float)plane;
      }
    }
    """

  private static let softmax = """
    /* Over the channels at each position; y may be x. */
    static void softmax(const float *x, int channels, int plane, float *y)
    {
      int position, c;
      for (position = 0; position < plane; position++) {
        float largest = x[position], sum = 0.0f;
        for (c = 1; c < channels; c++)
          if (x[c * plane + position] > largest)
            largest = x[c * plane + position];
        for (c = 0; c < channels; c++) {
          float e = expf(x[c * plane + position] - largest);
          y[c * plane + position] = e;
          sum += e;
        }
        for (c = 0; c < channels; c++)
          y[c * plane + position] /= sum;
      }
    }
    """

  private static let add = """
    /* y = a + b; y may be a or b. */
    static void add(const float *a, const float *b, int count, float *y)
    {
      int i;
      for (i = 0; i < count; i++)
        y[i] = a[i] + b[i];
    }
    """
}
