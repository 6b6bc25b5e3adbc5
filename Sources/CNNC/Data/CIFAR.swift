/// The CIFAR-10 and CIFAR-100 binary files as distributed (`data_batch_1.bin`, …,
/// `test_batch.bin`; `train.bin`, `test.bin`): records of 1 label byte (CIFAR-10) or 2 (CIFAR-100:
/// coarse, then fine) and 3,072 pixel bytes, a 3×32×32 image channel by channel. The files are
/// read a record at a time; only the labels are read ahead, to check them.
public struct CIFARImages: ImageDataset {
  public static let pixelBytes = 3 * 32 * 32
  private let files: [DataFile]
  /// Each file's first sample.
  private let starts: [Int]
  private let labels: [Int32]
  private let labelBytes: Int

  public var count: Int { labels.count }
  public var imageShape: Shape { Shape(channels: 3, height: 32, width: 32) }
  public func label(of index: Int) -> Int { Int(labels[index]) }

  /// `classes` of the dataset (10 or 100) and of the network, whose outputs must cover every
  /// label; `coarse` takes CIFAR-100's 20 coarse labels.
  public init(files paths: [String], cifar: Int, coarse: Bool = false, networkClasses: Int)
    throws(DataError)
  {
    labelBytes = cifar == 100 ? 2 : 1
    let record = labelBytes + Self.pixelBytes
    var files: [DataFile] = []
    var starts: [Int] = []
    var labels: [Int64] = []
    for path in paths {
      let file = try DataFile(path)
      guard file.size > 0, file.size % record == 0 else {
        let other = cifar == 100 ? 10 : 100
        let hint =
          file.size > 0 && file.size % (Self.pixelBytes + (other == 100 ? 2 : 1)) == 0
          ? " (it would fit CIFAR-\(other)'s records: give cifar: \(other))" : ""
        throw DataError(
          file: path,
          "is \(file.size) bytes, not a whole number of CIFAR-\(cifar) records of \(record) bytes"
            + hint)
      }
      starts.append(labels.count)
      let which = coarse ? 0 : labelBytes - 1
      // Chunks of whole records, so each record's label byte is in the chunk it starts in.
      try file.forEachChunk(0..<file.size, chunk: record * 1024) { _, bytes in
        for start in stride(from: 0, to: bytes.count, by: record) {
          labels.append(Int64(bytes[start + which]))
        }
        return true
      }
      files.append(file)
    }
    if let bad = labels.firstIndex(where: { $0 >= Int64(networkClasses) }) {
      let file = paths[(starts.lastIndex(where: { $0 <= bad }) ?? 0)]
      throw DataError(
        file: file,
        "label \(labels[bad]) of record \(bad - (starts.last(where: { $0 <= bad }) ?? 0)) is not a "
          + "class of the network's \(networkClasses) outputs (0 to \(networkClasses - 1))")
    }
    self.files = files
    self.starts = starts
    self.labels = labels.map { Int32($0) }
  }

  private func place(of index: Int) -> (file: Int, record: Int) {
    let file = (starts.lastIndex(where: { $0 <= index }) ?? 0)
    return (file, index - starts[file])
  }

  public func name(of index: Int) -> String {
    let (file, record) = place(of: index)
    return "\(files[file].path) record \(record)"
  }

  public func readValues(
    of index: Int, into target: UnsafeMutablePointer<Float>, scratch: DecodeScratch
  ) throws(DataError) {
    let (file, record) = place(of: index)
    let start = record * (labelBytes + Self.pixelBytes) + labelBytes
    try files[file].withBytes(start..<start + Self.pixelBytes, scratch: &scratch.fileBytes) {
      bytes in
      for pixel in 0..<Self.pixelBytes { target[pixel] = Float(bytes[pixel]) }
    }
  }
}
