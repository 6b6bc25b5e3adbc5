/// How stored values become the network's input, as torchvision's transforms do it: for
/// training only, a random crop of the zero-padded image and a random horizontal flip; then,
/// always, `(value × scale − mean[c]) / std[c]` per channel.
public struct Preprocessing: Sendable, Equatable {
  /// `random_crop: {size, pad}`: pad every side with `pad` zeros, then cut out a window of the
  /// network's input size at a random place. `size`, when given, must be that size.
  public struct Crop: Sendable, Equatable {
    public var size: Int?
    public var pad: Int
    /// Where it is in the spec, for errors against the network's input.
    public var location: SourceLocation

    public init(size: Int? = nil, pad: Int, location: SourceLocation = .init(line: 1, column: 1)) {
      self.size = size
      self.pad = pad
      self.location = location
    }
  }

  public var scale: Float
  /// One value per channel, or one for all; empty: 0.
  public var mean: [Float]
  /// One value per channel, or one for all; empty: 1.
  public var std: [Float]
  public var randomCrop: Crop?
  public var horizontalFlip: Bool

  public init(
    scale: Float = 1, mean: [Float] = [], std: [Float] = [], randomCrop: Crop? = nil,
    horizontalFlip: Bool = false
  ) {
    self.scale = scale
    self.mean = mean
    self.std = std
    self.randomCrop = randomCrop
    self.horizontalFlip = horizontalFlip
  }

  /// Whether training draws a random crop or flip for each sample.
  public var augments: Bool { randomCrop != nil || horizontalFlip }

  /// The same without the random parts: what evaluation uses.
  public var withoutAugmentation: Preprocessing {
    Preprocessing(scale: scale, mean: mean, std: std)
  }

  /// A problem with these settings for images of `shape`, or nil.
  public func problem(for shape: Shape) -> String? {
    for (key, values) in [("mean", mean), ("std", std)]
    where values.count > 1 && values.count != shape.channels {
      return "'\(key)' has \(values.count) values but the input has \(shape.channels) channels"
    }
    if let size = randomCrop?.size, size != shape.height || size != shape.width {
      return "random_crop size \(size) must be the input's size (\(shape.height)×\(shape.width))"
    }
    return nil
  }
}

/// The decoding buffers of one thread (file bytes and decoded pixels), kept between images so
/// that reading a sample allocates only when an image is larger than any before it.
public final class DecodeScratch {
  var fileBytes: [UInt8] = []
  var pixels: [UInt8] = []
  /// Other pixel buffers (resizing); grown like the others.
  var resized: [UInt8] = []
  /// The image library's decoder state (a TurboJPEG handle), made on first use.
  var jpegDecoder: OpaquePointer?
  /// All of libpng's memory while it decodes one image (grown for wider images).
  var pngArena: [UInt8] = []
  /// Where a decoder writes why it failed.
  var message = [CChar](repeating: 0, count: 200)

  public init() {}

  deinit { releaseJPEGDecoder() }
}

/// Reads samples of a dataset into a network's input, prepared by a `Preprocessing`: one per
/// worker thread, with its own buffers.
final class SampleReader {
  let preprocessing: Preprocessing
  let scratch = DecodeScratch()
  /// The stored image before cropping and flipping (only when augmenting).
  private var staging: [Float]
  private let shape: Shape

  init(_ preprocessing: Preprocessing, shape: Shape) {
    self.preprocessing = preprocessing
    self.shape = shape
    staging = [Float](
      repeating: 0, count: preprocessing.augments ? shape.channels * shape.height * shape.width : 0)
  }

  /// Writes sample `index` of `data` to `target`; `draw` is the sample's own random number for
  /// augmentation (nil: no augmentation), so runs repeat whatever the threads and the order.
  func read(
    _ data: any ImageDataset, _ index: Int, draw: UInt64?,
    into target: UnsafeMutablePointer<Float>
  ) throws(DataError) {
    if let draw, preprocessing.augments {
      try staging.withUnsafeMutableBufferPointer { (stored) throws(DataError) in
        try data.readValues(of: index, into: stored.baseAddress!, scratch: scratch)
        augment(UnsafePointer(stored.baseAddress!), draw: draw, into: target)
      }
    } else {
      try data.readValues(of: index, into: target, scratch: scratch)
    }
    normalise(target)
  }

  /// Crops the zero-padded `stored` image at the place `draw` picks, flipping it when `draw`
  /// says so. stored, target: C×H×W.
  private func augment(
    _ stored: UnsafePointer<Float>, draw: UInt64, into target: UnsafeMutablePointer<Float>
  ) {
    let (height, width) = (shape.height, shape.width)
    let pad = preprocessing.randomCrop?.pad ?? 0
    let places = UInt64(2 * pad + 1)
    let top = Int(draw % places) - pad
    let left = Int((draw >> 20) % places) - pad
    let flip = preprocessing.horizontalFlip && (draw >> 63) == 1
    for channel in 0..<shape.channels {
      let plane = channel * height * width
      for y in 0..<height {
        let row = target + plane + y * width
        let sourceY = y + top
        guard sourceY >= 0 && sourceY < height else {
          row.update(repeating: 0, count: width)
          continue
        }
        let source = stored + plane + sourceY * width
        for x in 0..<width {
          let sourceX = (flip ? width - 1 - x : x) + left
          row[x] = sourceX >= 0 && sourceX < width ? source[sourceX] : 0
        }
      }
    }
  }

  /// (value × scale − mean[c]) / std[c]; without mean and std only the product, as before they
  /// existed (bit for bit).
  private func normalise(_ values: UnsafeMutablePointer<Float>) {
    let plane = shape.height * shape.width
    let scale = preprocessing.scale
    let (mean, std) = (preprocessing.mean, preprocessing.std)
    for channel in 0..<shape.channels {
      let part = values + channel * plane
      if mean.isEmpty && std.isEmpty {
        for index in 0..<plane { part[index] *= scale }
        continue
      }
      let shift = mean.isEmpty ? 0 : mean[mean.count == 1 ? 0 : channel]
      let spread = std.isEmpty ? 1 : std[std.count == 1 ? 0 : channel]
      for index in 0..<plane { part[index] = (part[index] * scale - shift) / spread }
    }
  }
}

/// The random number of sample `index` in `epoch`: what its crop and flip are drawn from. A
/// function of the seed, the epoch and the sample alone, so a resumed run draws the same.
func augmentationDraw(seed: Int, epoch: Int, sample: Int) -> UInt64 {
  var generator = SplitMix64(
    seed: (UInt64(seed) &* 0x9FB2_1C65_1E98_DF25) ^ (UInt64(epoch) &* 0xC2B2_AE3D_27D4_EB4F)
      ^ UInt64(sample))
  return generator.next()
}
