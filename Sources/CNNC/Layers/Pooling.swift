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
  public static let maxType = LayerType(name: "maxpool", keys: keys) { read(.max, &$0) }
  public static let averageType = LayerType(name: "avgpool", keys: keys) { read(.average, &$0) }

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
