/// Max or average pooling over `kernel` windows, channel by channel.
public struct Pooling: Layer {
  /// `maxpool` or `avgpool`.
  public enum Kind: Sendable {
    case max
    case average
  }

  public var kind: Kind
  public var kernel: Pair
  public var stride: Pair
  public var pad: Pair
  /// Ceil (Caffe's default) or floor rounding of the output size.
  public var ceilMode: Bool

  public init(
    kind: Kind, kernel: Pair, stride: Pair? = nil, pad: Pair = Pair(0), ceilMode: Bool = true
  ) {
    self.kind = kind
    self.kernel = kernel
    self.stride = stride ?? kernel
    self.pad = pad
    self.ceilMode = ceilMode
  }

  static let keys = ["kernel", "stride", "pad", "round"]
  public static let maxType = LayerType(
    name: "maxpool", keys: keys, onnx: ONNXReading(["MaxPool"], read: readONNX)
  ) { read(.max, &$0) }
  public static let averageType = LayerType(
    name: "avgpool", keys: keys, onnx: ONNXReading(["AveragePool"], read: readONNX)
  ) { read(.average, &$0) }

  private static func read(_ kind: Kind, _ keys: inout KeyReader) -> Pooling {
    let sizes = 1...Limits.maximumSize
    let kernel = keys.pair("kernel", in: sizes)
    let stride = keys.pair("stride", default: kernel, in: sizes)
    let pad = keys.pair("pad", default: Pair(0), in: 0...Limits.maximumSize)
    let round = keys.choice("round", among: ["ceil", "floor"], default: "ceil")
    if pad.height >= kernel.height || pad.width >= kernel.width {
      // A window wholly inside the padding would pool nothing at all.
      keys.report("pad \(pad) must be smaller than kernel \(kernel)", at: "pad")
    }
    return Pooling(kind: kind, kernel: kernel, stride: stride, pad: pad, ceilMode: round == "ceil")
  }

  public func outputShape(for inputs: [Shape], check: inout ShapeCheck) -> Shape? {
    let input = inputs[0]
    let window = Window(kernel: kernel, stride: stride, pad: pad)
    guard
      let (height, width) = window.outputSize(
        of: input, rule: .pooling(ceil: ceilMode), check: &check)
    else { return nil }
    return Shape(channels: input.channels, height: height, width: width)
  }
}

// ONNX's MaxPool and AveragePool.
extension Pooling {
  public func onnxOperator(inputCount: Int) -> ONNXOperator {
    var node = ONNXOperator(
      kind == .max ? "MaxPool" : "AveragePool",
      [
        ("kernel_shape", .ints([kernel.height, kernel.width])),
        ("strides", .ints([stride.height, stride.width])),
        ("pads", .ints([pad.height, pad.width, pad.height, pad.width])),
        ("ceil_mode", .int(ceilMode ? 1 : 0)),
      ], input: .image)
    // cnnc divides by the positions a window spans in the padded input, as Caffe does.
    if kind == .average { node.attributes.append(("count_include_pad", .int(1))) }
    return node
  }

  static func readONNX(_ node: inout ONNXNodeReader) throws(ONNXError) {
    try node.onlyAttributes([
      "kernel_shape", "strides", "pads", "ceil_mode", "count_include_pad", "auto_pad",
      "dilations", "storage_order",
    ])
    try node.noDilation()
    guard node.int("storage_order", default: 0) == 0 else {
      throw node.problem("attribute 'storage_order' other than 0 (row major) is not supported")
    }
    let kernel = node.ints("kernel_shape", default: [])
    node.keys.append(("kernel", try node.pair(kernel, "kernel_shape", default: nil)!))
    let strides = node.ints("strides", default: [1, 1])
    // cnnc's pooling stride defaults to the kernel.
    if strides != kernel, let stride = try node.pair(strides, "strides", default: nil) {
      node.keys.append(("stride", stride))
    }
    let pads = try node.symmetricPads()
    if let pad = try node.pair(pads, "pads", default: 0) { node.keys.append(("pad", pad)) }
    if node.operatorType == "AveragePool", pads != [0, 0],
      node.int("count_include_pad", default: 0) != 1
    {
      throw node.problem(
        "attribute 'count_include_pad' 0 with padding: cnnc's average counts the padding")
    }
    if node.int("ceil_mode", default: 0) == 0 { node.keys.append(("round", "floor")) }
  }
}

extension Pooling {
  func geometry(_ input: Shape, _ output: Shape) -> WindowGeometry {
    Window(kernel: kernel, stride: stride, pad: pad).geometry(input: input, output: output)
  }

  public func scratch(batch: Int, inputs: [Shape], output: Shape, training: Bool)
    -> [ScratchRequest]
  {
    guard kind == .max else { return [] }
    let winners = output.elementCount.flatMap { checkedProduct([batch, $0]) }
    return [
      ScratchRequest(name: ScratchKey.argmax, elements: winners, lifetime: .forwardToBackward)
    ]
  }

  public func forwardKernel(_ b: LayerBinding, training: Bool) -> Kernel {
    let g = geometry(b.inputShapes[0], b.outputShape)
    let planes = b.batch * g.channels
    let (x, y) = (b.inputs[0], b.output)
    switch kind {
    case .max where !training:
      return { maxPoolForwardValues(x, y, planes: planes, g) }
    case .max:
      let argmax = b.requiredScratch(ScratchKey.argmax, as: Int32.self)
      return { maxPoolForward(x, y, argmax, planes: planes, g) }
    case .average:
      return { averagePoolForward(x, y, planes: planes, g) }
    }
  }

  public func backwardKernel(_ b: LayerBinding) -> Kernel {
    let g = geometry(b.inputShapes[0], b.outputShape)
    let planes = b.batch * g.channels
    guard let dx = b.inputGradients[0], let dy = b.outputGradient else { return {} }
    let overwrite = !b.accumulate[0]
    switch kind {
    case .max:
      let argmax = b.requiredScratch(ScratchKey.argmax, as: Int32.self)
      return { maxPoolBackward(dy, argmax, dx, planes: planes, overwrite: overwrite, g) }
    case .average:
      return { averagePoolBackward(dy, dx, planes: planes, overwrite: overwrite, g) }
    }
  }
}

// MARK: Code generation (`cnnc compile`)

extension Pooling {
  public func deviceOperation(inputs: [Shape], output: Shape) -> DeviceOperation? {
    .pooling(kind, geometry(inputs[0], output))
  }
}
