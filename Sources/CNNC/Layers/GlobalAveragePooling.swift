/// The mean of each channel over its whole height and width.
public struct GlobalAveragePooling: Layer {
  public init() {}

  public static let type = LayerType(name: "global_avgpool", keys: []) { _ in GlobalAveragePooling()
  }

  public func outputShape(for inputs: [Shape], check: inout ShapeCheck) -> Shape? {
    Shape(channels: inputs[0].channels, height: 1, width: 1)
  }
}
