import Foundation

/// A `DevicePlan` run in Float, one image at a time, step by step as its C runs, keeping every
/// step's output: the values an int8 network is calibrated on and measured against.
struct FloatSteps {
  let plan: DevicePlan

  /// What one step produced: its output and, for a convolution fused with its pooling, the
  /// convolution's own output (activation applied) before the pooling.
  struct Output {
    var values: [Float]
    var beforePooling: [Float]? = nil
  }

  /// Every step's output for `input` (C×H×W floats).
  func run(_ input: [Float]) -> [Output] {
    var buffers = [[Float]](repeating: [], count: plan.buffers.count)
    buffers[0] = input
    var outputs: [Output] = []
    for step in plan.steps {
      let output = run(step, step.inputs.map { buffers[$0] })
      buffers[step.output] = output.values
      outputs.append(output)
    }
    return outputs
  }

  /// One step on its inputs' values.
  func run(_ step: DevicePlan.Step, _ inputs: [[Float]]) -> Output {
    let x = inputs[0]
    let constant = { (role: String) in step.constants.first { $0.role == role }?.values }
    switch step.operation {
    case .convolution(let window, let filters, let groups, let activation, let pooling):
      var y = Self.convolution(
        x, window, filters: filters, groups: groups, weight: constant("weight") ?? [],
        bias: constant("bias"))
      for i in y.indices { y[i] = Self.activate(y[i], activation) }
      guard let pooling else { return Output(values: y, beforePooling: nil) }
      return Output(values: Self.pooling(y, pooling.kind, pooling.window), beforePooling: y)
    case .pooling(let kind, let window):
      return Output(values: Self.pooling(x, kind, window))
    case .globalAveragePooling(let channels, let plane):
      return Output(
        values: (0..<channels).map { c in
          x[(c * plane)..<((c + 1) * plane)].reduce(0, +) / Float(plane)
        })
    case .dense(let count, let units, let activation):
      let weight = constant("weight") ?? []
      let bias = constant("bias")
      return Output(
        values: x.withUnsafeBufferPointer { x in
          weight.withUnsafeBufferPointer { weight in
            (0..<units).map { o in
              var sum = bias?[o] ?? 0
              for i in 0..<count { sum += weight[o * count + i] * x[i] }
              return Self.activate(sum, activation)
            }
          }
        })
    case .affine(let channels, let plane):
      let (scale, shift) = (constant("scale") ?? [], constant("shift") ?? [])
      return Output(
        values: (0..<(channels * plane)).map { i in x[i] * scale[i / plane] + shift[i / plane] })
    case .activation(let function, let count):
      return Output(values: (0..<count).map { Self.activate(x[$0], function) })
    case .softmax(let channels, let plane):
      var y = x
      for position in 0..<plane {
        let indices = (0..<channels).map { $0 * plane + position }
        let largest = indices.map { x[$0] }.max() ?? 0
        var sum: Float = 0
        for i in indices {
          y[i] = exp(x[i] - largest)
          sum += y[i]
        }
        for i in indices { y[i] /= sum }
      }
      return Output(values: y)
    case .concat:
      return Output(values: inputs.flatMap { $0 })
    case .add(let count):
      return Output(
        values: (0..<count).map { i in inputs.dropFirst().reduce(x[i]) { $0 + $1[i] } })
    case .copy(let count):
      return Output(values: Array(x.prefix(count)))
    }
  }

  static func activate(_ x: Float, _ function: Activation.Function?) -> Float {
    switch function {
    case nil: x
    case .relu: x > 0 ? x : 0
    case .leakyReLU(let slope): x > 0 ? x : slope * x
    case .sigmoid: 1 / (1 + exp(-x))
    case .tanh: tanh(x)
    }
  }

  /// x: (channels, height, width) → (filters, out_h, out_w); the window over all channels.
  static func convolution(
    _ x: [Float], _ g: WindowGeometry, filters: Int, groups: Int, weight: [Float], bias: [Float]?
  ) -> [Float] {
    let perGroup = g.channels / groups
    let filtersPerGroup = filters / groups
    var y = [Float](repeating: 0, count: filters * g.outputPlane)
    x.withUnsafeBufferPointer { x in
      weight.withUnsafeBufferPointer { weight in
        for f in 0..<filters {
          let first = f / filtersPerGroup * perGroup
          for oy in 0..<g.outputHeight {
            for ox in 0..<g.outputWidth {
              var sum = bias?[f] ?? 0
              for c in 0..<perGroup {
                for ky in 0..<g.kernelHeight {
                  let iy = oy * g.strideHeight - g.padHeight + ky
                  guard iy >= 0, iy < g.inputHeight else { continue }
                  let row = ((first + c) * g.inputHeight + iy) * g.inputWidth
                  let taps = ((f * perGroup + c) * g.kernelHeight + ky) * g.kernelWidth
                  for kx in 0..<g.kernelWidth {
                    let ix = ox * g.strideWidth - g.padWidth + kx
                    guard ix >= 0, ix < g.inputWidth else { continue }
                    sum += weight[taps + kx] * x[row + ix]
                  }
                }
              }
              y[f * g.outputPlane + oy * g.outputWidth + ox] = sum
            }
          }
        }
      }
    }
    return y
  }

  /// Max or average pooling over each plane (windows clipped to the input; the average divides
  /// by the positions the window spans in the padded input).
  static func pooling(_ x: [Float], _ kind: Pooling.Kind, _ g: WindowGeometry) -> [Float] {
    var y = [Float](repeating: 0, count: g.channels * g.outputPlane)
    for c in 0..<g.channels {
      for oy in 0..<g.outputHeight {
        for ox in 0..<g.outputWidth {
          let window = PoolingWindow(g, oy, ox)
          var best = -Float.infinity
          var sum: Float = 0
          for iy in window.rows {
            for ix in window.columns {
              let value = x[(c * g.inputHeight + iy) * g.inputWidth + ix]
              best = max(best, value)
              sum += value
            }
          }
          y[(c * g.outputHeight + oy) * g.outputWidth + ox] =
            kind == .max ? (window.isEmpty ? 0 : best) : sum / Float(window.span)
        }
      }
    }
    return y
  }
}

/// The input positions of one pooling output, clipped to the input, and the padded span its
/// average divides by (the executor's `windowSpan` in both dimensions).
struct PoolingWindow {
  var rows: Range<Int>
  var columns: Range<Int>
  var span: Int

  init(_ g: WindowGeometry, _ oy: Int, _ ox: Int) {
    let vertical = windowSpan(
      oy, stride: g.strideHeight, pad: g.padHeight, kernel: g.kernelHeight, input: g.inputHeight)
    let horizontal = windowSpan(
      ox, stride: g.strideWidth, pad: g.padWidth, kernel: g.kernelWidth, input: g.inputWidth)
    rows = vertical.start..<max(vertical.start, vertical.end)
    columns = horizontal.start..<max(horizontal.start, horizontal.end)
    span = vertical.padded * horizontal.padded
  }

  var isEmpty: Bool { rows.isEmpty || columns.isEmpty }
}
