/// Images in a `.npy` array (uint8 or float32; N×C×H×W, N×H×W×C with `layout: nhwc`, or N×H×W
/// for one channel) with their labels in another (any integer dtype, N), or both in one `.npz`
/// as arrays named `images` and `labels`. The images stay in the file, read a sample at a time.
public struct NumPyImages: ImageDataset {
  private let images: NumPyArray
  private let labels: [Int32]
  public let imageShape: Shape
  private let channelsLast: Bool

  public var count: Int { images.count }
  public func label(of index: Int) -> Int { labels.isEmpty ? -1 : Int(labels[index]) }
  public func name(of index: Int) -> String { "\(images.name) image \(index)" }

  /// `images` and `labels` files; `labels` nil for unlabelled images. Every label must be below
  /// `classes`.
  public init(images: String, labels: String?, layout: DataSource.Layout = .nchw, classes: Int)
    throws(DataError)
  {
    let array = try NumPyArray(DataFile(images))
    let labelArray = try labels.map { (path) throws(DataError) in try NumPyArray(DataFile(path)) }
    try self.init(array, labelArray, layout: layout, classes: classes)
  }

  /// The arrays `images` and `labels` of a `.npz` archive.
  public init(archive: String, layout: DataSource.Layout = .nchw, classes: Int) throws(DataError) {
    try self.init(
      NumPyArchive.array("images", in: archive), NumPyArchive.array("labels", in: archive),
      layout: layout, classes: classes)
  }

  private init(
    _ images: NumPyArray, _ labels: NumPyArray?, layout: DataSource.Layout, classes: Int
  ) throws(DataError) {
    guard
      (images.kind == .unsigned || images.kind == .float)
        && images.itemBytes == (images.kind == .float ? 4 : 1)
    else {
      throw DataError(
        file: images.name,
        "holds \(images.dtype) values; images must be uint8 or float32 (convert with "
          + ".astype(np.uint8) or .astype(np.float32))")
    }
    let shape = images.shape
    switch (shape.count, layout) {
    case (3, _): imageShape = Shape(channels: 1, height: shape[1], width: shape[2])
    case (4, .nchw): imageShape = Shape(channels: shape[1], height: shape[2], width: shape[3])
    case (4, .nhwc): imageShape = Shape(channels: shape[3], height: shape[1], width: shape[2])
    default:
      throw DataError(
        file: images.name,
        "has shape (\(shape.map(String.init).joined(separator: ", "))); images must be N×C×H×W "
          + "(N×H×W×C with layout: nhwc) or N×H×W")
    }
    guard images.count > 0, imageShape.elementCount ?? 0 > 0 else {
      throw DataError(file: images.name, "holds no images (shape \(shape))")
    }
    self.images = images
    channelsLast = shape.count == 4 && layout == .nhwc
    if images.kind == .float, let found = try Self.firstNonFinite(images) {
      let perImage = imageShape.elementCount ?? 1
      throw DataError(
        file: images.name,
        "image \(found.index / perImage) holds \(found.value.isNaN ? "NaN" : "an infinite value") "
          + "(its element \(found.index % perImage)); images must be finite numbers")
    }
    guard let labels else {
      self.labels = []
      return
    }
    guard labels.shape.count == 1, labels.count == images.count else {
      throw DataError(
        file: labels.name,
        "has shape \(labels.shape); labels must be one integer per image (\(images.count))")
    }
    self.labels = try checkedLabels(labels.integers(), classes: classes, file: labels.name)
  }

  /// The first NaN or infinity among float32 values, found when the data is opened (a NaN
  /// would otherwise surface as "the loss is nan at step N", naming neither file nor image).
  private static func firstNonFinite(_ array: NumPyArray) throws(DataError)
    -> (index: Int, value: Float)?
  {
    var found: (index: Int, value: Float)?
    try array.forEachValueChunk { offset, bytes in
      // Chunks are a multiple of 4 bytes long, so every value lies whole in one.
      let count = bytes.count / 4
      var index = 0
      while index < count {
        // Exponent bits all ones: NaN or infinity. Runs of 1,024 test cheaply first.
        let end = min(index + 1024, count)
        var any: UInt32 = 0
        for i in index..<end {
          let bits = UInt32(
            littleEndian: bytes.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))
          any |= (bits & 0x7F80_0000) == 0x7F80_0000 ? 1 : 0
        }
        if any != 0 {
          for i in index..<end {
            let bits = UInt32(
              littleEndian: bytes.loadUnaligned(fromByteOffset: 4 * i, as: UInt32.self))
            if (bits & 0x7F80_0000) == 0x7F80_0000 {
              found = (offset / 4 + i, Float(bitPattern: bits))
              return false
            }
          }
        }
        index = end
      }
      return true
    }
    return found
  }

  public func readValues(
    of index: Int, into target: UnsafeMutablePointer<Float>, scratch: DecodeScratch
  ) throws(DataError) {
    let (channels, plane) = (imageShape.channels, imageShape.height * imageShape.width)
    let values = channels * plane
    let isFloat = images.kind == .float
    let bytesPerImage = values * images.itemBytes
    let start = index * bytesPerImage
    try images.withValueBytes(start..<start + bytesPerImage, scratch: &scratch.fileBytes) { bytes in
      for element in 0..<values {
        // Stored element `element` goes to its (c, h, w) place.
        let place = channelsLast ? (element % channels) * plane + element / channels : element
        target[place] =
          isFloat
          ? Float(
            bitPattern: UInt32(
              littleEndian: bytes.loadUnaligned(fromByteOffset: 4 * element, as: UInt32.self)))
          : Float(bytes[element])
      }
    }
  }
}

/// `values` as class indices, each checked to be in 0..<classes.
func checkedLabels(_ values: [Int64], classes: Int, file: String) throws(DataError) -> [Int32] {
  if let index = values.firstIndex(where: { $0 < 0 || $0 >= Int64(classes) }) {
    throw DataError(
      file: file,
      "label \(values[index]) of image \(index) is not a class of the network's \(classes) outputs "
        + "(0 to \(classes - 1))")
  }
  return values.map { Int32($0) }
}
