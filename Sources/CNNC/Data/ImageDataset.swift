/// One split of labelled images that training and evaluation read sample by sample: bytes in
/// memory, a `.npy` or CIFAR file read a sample at a time, or a folder of PNG and JPEG files decoded on
/// demand.
public protocol ImageDataset: Sendable {
  var count: Int { get }
  /// Every image's channels × height × width, as the network receives it.
  var imageShape: Shape { get }
  /// Image `index`'s class; -1 for unlabelled images (inference over `--input`).
  func label(of index: Int) -> Int
  /// Writes image `index`'s values as stored, channel by channel (C×H×W): a byte image's
  /// 0…255, a float image's floats. `scratch` holds the caller thread's decoding buffers.
  func readValues(
    of index: Int, into target: UnsafeMutablePointer<Float>, scratch: DecodeScratch
  ) throws(DataError)
  /// A name for image `index` in messages and output listings (its file, or its row).
  func name(of index: Int) -> String
}

extension ImageDataset {
  public var valuesPerImage: Int { imageShape.channels * imageShape.height * imageShape.width }
}

/// Some of another dataset's images, in the order given (a validation hold-out, or the rest).
public struct DatasetSubset: ImageDataset {
  public let base: any ImageDataset
  public let indices: [Int]

  public init(_ base: any ImageDataset, indices: [Int]) {
    self.base = base
    self.indices = indices
  }

  public var count: Int { indices.count }
  public var imageShape: Shape { base.imageShape }
  public func label(of index: Int) -> Int { base.label(of: indices[index]) }
  public func name(of index: Int) -> String { base.name(of: indices[index]) }
  public func readValues(
    of index: Int, into target: UnsafeMutablePointer<Float>, scratch: DecodeScratch
  ) throws(DataError) {
    try base.readValues(of: indices[index], into: target, scratch: scratch)
  }

  /// `base` split into a held-out `fraction` (at least one image, at most all but one) and the
  /// rest, chosen by a seeded shuffle; each part keeps the base's order.
  public static func holdOut(_ fraction: Double, of base: any ImageDataset, seed: Int)
    -> (kept: DatasetSubset, heldOut: DatasetSubset)
  {
    let held = min(max(1, Int((fraction * Double(base.count)).rounded())), base.count - 1)
    var generator = SplitMix64(seed: UInt64(seed) &* 0xD1B5_4A32_D192_ED03 &+ 0x5EED)
    var order = Array(0..<base.count)
    order.shuffle(using: &generator)
    let heldOut = order[0..<held].sorted()
    let kept = order[held...].sorted()
    return (DatasetSubset(base, indices: kept), DatasetSubset(base, indices: heldOut))
  }
}
