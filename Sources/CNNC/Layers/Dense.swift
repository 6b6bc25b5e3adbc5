/// A fully connected layer; its input is flattened in channel, row, column order.
public struct Dense: Layer {
  public var units: Int
  public var hasBias: Bool

  public init(units: Int, hasBias: Bool = true) {
    self.units = units
    self.hasBias = hasBias
  }

  public static let type = LayerType(
    name: "dense", keys: ["units", "bias"], onnx: ONNXReading(["Gemm"], read: readGemm)
  ) { keys in
    Dense(units: keys.positive("units"), hasBias: keys.boolean("bias", default: true))
  }

  public func outputShape(for inputs: [Shape], check: inout ShapeCheck) -> Shape? {
    Shape(channels: units, height: 1, width: 1)
  }

  /// Weight `[units, inputs]`, PyTorch's `nn.Linear` layout.
  public func parameters(for inputs: [Shape]) -> [ParameterTensor] {
    let weight = ParameterTensor(
      name: "weight", dimensions: [units, inputs[0].elementCount ?? 0], initializer: .fans)
    let bias = ParameterTensor(name: "bias", dimensions: [units], initializer: .zeros)
    return hasBias ? [weight, bias] : [weight]
  }

  public func multiplyAdds(for inputs: [Shape], output: Shape) -> Int? {
    inputs[0].elementCount.flatMap { checkedProduct([$0, units]) }
  }
}

// ONNX's Gemm: Y = X · Bᵀ + C with transB 1 (B is cnnc's weight as it is).
extension Dense {
  public func onnxOperator(inputCount: Int) -> ONNXOperator {
    ONNXOperator(
      "Gemm", [("transB", .int(1))], tensors: ["weight", "bias"], input: .flat, outputIsFlat: true)
  }

  static func readGemm(_ node: inout ONNXNodeReader) throws(ONNXError) {
    try node.onlyAttributes(["alpha", "beta", "transA", "transB"])
    guard node.float("alpha", default: 1) == 1, node.float("beta", default: 1) == 1,
      node.int("transA", default: 0) == 0
    else { throw node.problem("only alpha 1, beta 1 and transA 0 have a cnnc dense layer") }
    guard var weight = try node.weight(1), weight.dims.count == 2 else {
      throw node.problem("its B must be a 2-D initializer")
    }
    if node.int("transB", default: 0) == 0 {
      // B is (in, out); cnnc keeps (out, in).
      let (rows, columns) = (weight.dims[0], weight.dims[1])
      var transposed = [Float](repeating: 0, count: weight.values.count)
      for row in 0..<rows {
        for column in 0..<columns {
          transposed[column * rows + row] = weight.values[row * columns + column]
        }
      }
      weight = ([columns, rows], transposed)
    }
    node.keys.append(("units", String(weight.dims[0])))
    node.tensors["\(node.layerName).weight"] = weight.values
    if let bias = try node.weight(2) {
      guard bias.values.count == weight.dims[0] else {
        throw node.problem("its C has \(bias.values.count) values for \(weight.dims[0]) units")
      }
      node.tensors["\(node.layerName).bias"] = bias.values
    } else {
      node.keys.append(("bias", "false"))
    }
    node.outputForm = ONNXForm(rank: 2)
  }
}

// Forward: Y (N, U) = X (N, I) · Wᵀ + b, with W (U, I).
// Backward: dW = dYᵀ · X, db = Σ_n dY[n], dX = dY · W.
extension Dense {
  public var backwardReads: BackwardReads { .input }

  /// GEMM packing for forward, then for backward.
  public func scratch(batch: Int, inputs: [Shape], output: Shape, training: Bool)
    -> [ScratchRequest]
  {
    let inputCount = inputs[0].elementCount ?? 0
    return [
      ScratchRequest(
        name: ScratchKey.forwardPacking,
        elements: gemmWorkspaceFloats([(batch, units, inputCount)]),
        lifetime: .forward, perThread: true),
      ScratchRequest(
        name: ScratchKey.backwardPacking,
        elements: gemmWorkspaceFloats([(units, inputCount, batch), (batch, inputCount, units)]),
        lifetime: .backward),
    ]
  }

  public func forwardKernel(_ b: LayerBinding, training: Bool) -> Kernel {
    let (x, y, weight) = (b.inputs[0], b.output, b.parameters[0])
    let bias = hasBias ? b.parameters[1] : nil
    let packing = b.requiredScratch(ScratchKey.forwardPacking, as: Float.self)
    let (batch, inputs, units, isa) = (b.batch, b.inputCount, self.units, b.isa)
    // With several threads on one image, each takes a range of the units (rows of W).
    let parts = outputRanges(units, threads: b.threads)
    let workspaceStride = gemmWorkspaceFloats(m: batch, n: units, k: inputs)
    let task = TeamTask { part in
      let (first, count) = (parts[part].lowerBound, parts[part].count)
      let (rows, out, workspace) = (
        weight + first * inputs, y + first, packing + part * workspaceStride
      )
      if let bias {
        gemm(
          isa, transposeA: false, transposeB: true, m: batch, n: count, k: inputs, a: x,
          lda: inputs, b: rows, ldb: inputs, columnBias: bias + first, c: out, ldc: units,
          workspace: workspace)
      } else {
        gemm(
          isa, transposeA: false, transposeB: true, m: batch, n: count, k: inputs, a: x,
          lda: inputs, b: rows, ldb: inputs, beta: 0, c: out, ldc: units, workspace: workspace)
      }
    }
    return { task.run(on: b.team, parts: parts.count) }
  }

  public func backwardKernel(_ b: LayerBinding) -> Kernel {
    let (x, weight, weightGradient) = (b.inputs[0], b.parameters[0], b.parameterGradients[0])
    let biasGradient = hasBias ? b.parameterGradients[1] : nil
    let packing = b.requiredScratch(ScratchKey.backwardPacking, as: Float.self)
    let (batch, inputs, units, isa) = (b.batch, b.inputCount, self.units, b.isa)
    let (dy, dx, accumulate) = (b.requiredOutputGradient, b.inputGradients[0], b.accumulate[0])
    return {
      gemm(
        isa, transposeA: true, transposeB: false, m: units, n: inputs, k: batch, a: dy, lda: units,
        b: x, ldb: inputs, beta: 0, c: weightGradient, ldc: inputs, workspace: packing)
      if let biasGradient {
        biasBackward(dy, biasGradient, samples: batch, channels: units, plane: 1)
      }
      if let dx {
        gemm(
          isa, transposeA: false, transposeB: false, m: batch, n: inputs, k: units, a: dy,
          lda: units, b: weight, ldb: inputs, beta: accumulate ? 1 : 0, c: dx, ldc: inputs,
          workspace: packing)
      }
    }
  }
}

// MARK: Code generation (`cnnc compile`)

extension Dense {
  public func deviceOperation(inputs: [Shape], output: Shape) -> DeviceOperation? {
    .dense(units: units, hasBias: hasBias)
  }
}
