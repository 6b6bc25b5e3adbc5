/// The shape of one sample flowing between layers: channels × height × width.
public struct Shape: Hashable, Sendable, CustomStringConvertible {
  public var channels: Int
  public var height: Int
  public var width: Int

  public init(channels: Int, height: Int, width: Int) {
    self.channels = channels
    self.height = height
    self.width = width
  }

  /// c·h·w, or nil when it does not fit a 64-bit integer.
  public var elementCount: Int? { checkedProduct([channels, height, width]) }

  public var description: String { "\(channels)×\(height)×\(width)" }
  public var dimensions: [Int] { [channels, height, width] }
}

/// The product of `factors`, or nil on 64-bit overflow.
public func checkedProduct(_ factors: [Int]) -> Int? {
  var product = 1
  for factor in factors {
    let (result, overflow) = product.multipliedReportingOverflow(by: factor)
    if overflow { return nil }
    product = result
  }
  return product
}

/// The sum of `terms`, or nil on 64-bit overflow.
public func checkedSum(_ terms: [Int]) -> Int? {
  var sum = 0
  for term in terms {
    let (result, overflow) = sum.addingReportingOverflow(term)
    if overflow { return nil }
    sum = result
  }
  return sum
}
