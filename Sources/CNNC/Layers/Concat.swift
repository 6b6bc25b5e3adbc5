/// Stacks its inputs along the channels; heights and widths must agree.
public struct Concat: Layer {
  public init() {}

  public static let type = LayerType(name: "concat", keys: [], arity: .twoOrMore) { _ in Concat() }

  public func outputShape(for inputs: [Shape], check: inout ShapeCheck) -> Shape? {
    let first = inputs[0]
    var channels = 0
    for (index, shape) in inputs.enumerated() {
      guard shape.height == first.height, shape.width == first.width else {
        check.error(
          "'\(check.inputNames[index])' is \(shape) but '\(check.inputNames[0])' is \(first); "
            + "heights and widths must be equal to concatenate")
        return nil
      }
      let (sum, overflow) = channels.addingReportingOverflow(shape.channels)
      guard !overflow else {
        check.error("the channel count overflows a 64-bit integer")
        return nil
      }
      channels = sum
    }
    return Shape(channels: channels, height: first.height, width: first.width)
  }
}
