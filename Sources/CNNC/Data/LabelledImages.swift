/// Labelled byte images held in memory (count, channels, rows, columns), e.g. one split of
/// MNIST, an IDX pair or a synthetic benchmark set.
public struct LabelledImages: ImageDataset {
  public var images: [UInt8]
  public var labels: [UInt8]
  public var channels: Int
  public var rows: Int
  public var columns: Int
  /// Where the images came from, for messages.
  public var origin: String

  public init(
    images: [UInt8], labels: [UInt8], channels: Int = 1, rows: Int, columns: Int,
    origin: String = "images"
  ) {
    self.images = images
    self.labels = labels
    self.channels = channels
    self.rows = rows
    self.columns = columns
    self.origin = origin
  }

  public var count: Int { labels.count }
  public var pixelsPerImage: Int { channels * rows * columns }
  public var imageShape: Shape { Shape(channels: channels, height: rows, width: columns) }
  public func label(of index: Int) -> Int { Int(labels[index]) }
  public func name(of index: Int) -> String { "\(origin) image \(index)" }

  public func readValues(
    of index: Int, into target: UnsafeMutablePointer<Float>, scratch: DecodeScratch
  ) throws(DataError) {
    writePixels(of: index, scale: 1, to: target)
  }

  /// Writes image `index`'s pixels, each times `scale`, to `target` (pixelsPerImage floats).
  public func writePixels(of index: Int, scale: Float, to target: UnsafeMutablePointer<Float>) {
    let pixels = pixelsPerImage
    images.withUnsafeBufferPointer { bytes in
      guard let base = bytes.baseAddress else { return }
      let source = base + index * pixels
      for pixel in 0..<pixels { target[pixel] = Float(source[pixel]) * scale }
    }
  }
}

extension LabelledImages {
  /// An IDX pair (`format: idx`): images N×H×W (one channel) or N×C×H×W (N×H×W×C with
  /// `layout: nhwc`), and labels N, each below `classes`.
  public init(idxImages: String, labels: String, layout: DataSource.Layout = .nchw, classes: Int)
    throws(DataError)
  {
    let images = try IDXReader.read(idxImages, dimensionCounts: 3...4)
    let labelArray = try IDXReader.read(labels, dimensionCount: 1)
    guard images.dimensions[0] == labelArray.dimensions[0] else {
      throw DataError(
        file: labels,
        "has \(labelArray.dimensions[0]) labels but \(idxImages) has \(images.dimensions[0]) images"
      )
    }
    let checked = try checkedLabels(
      labelArray.values.map(Int64.init), classes: classes, file: labels)
    let sizes = images.dimensions
    var shape = Shape(channels: 1, height: sizes[1], width: sizes[2])
    var pixels = images.values
    if sizes.count == 4 {
      shape =
        layout == .nhwc
        ? Shape(channels: sizes[3], height: sizes[1], width: sizes[2])
        : Shape(channels: sizes[1], height: sizes[2], width: sizes[3])
      if layout == .nhwc { pixels = Self.planar(pixels, shape: shape) }
    }
    self.init(
      images: pixels, labels: checked.map { UInt8($0) }, channels: shape.channels,
      rows: shape.height, columns: shape.width, origin: idxImages)
  }

  /// N×H×W×C bytes reordered to N×C×H×W.
  private static func planar(_ values: [UInt8], shape: Shape) -> [UInt8] {
    let (channels, plane) = (shape.channels, shape.height * shape.width)
    var result = values
    for image in stride(from: 0, to: values.count, by: channels * plane) {
      for pixel in 0..<plane {
        for channel in 0..<channels {
          result[image + channel * plane + pixel] = values[image + pixel * channels + channel]
        }
      }
    }
    return result
  }
}
