/// The limits every part of cnnc shares, stated once.
public enum Limits {
  /// The largest size or count a spec may give (a dimension, a kernel, a batch). Sizes are
  /// products of a few of these, which a 64-bit integer then always holds per pair; longer
  /// products are checked for overflow.
  public static let maximumSize = Int(Int32.max)

  /// The most layers a network may have, from the spec reader to the planner. Offset assignment
  /// costs the number of buffers times the number alive alongside each, which in a deep chain's
  /// training plan grows with the square of the depth (10,000 layers plan in under a second);
  /// deeper networks are refused rather than left to run for minutes.
  public static let maximumLayerCount = 10_000
}

/// A height and width, for kernels, strides and pads.
public struct Pair: Hashable, Sendable, CustomStringConvertible {
  public var height: Int
  public var width: Int

  public init(height: Int, width: Int) {
    self.height = height
    self.width = width
  }

  public init(_ both: Int) { self.init(height: both, width: both) }

  public var description: String { "\(height)×\(width)" }
}
