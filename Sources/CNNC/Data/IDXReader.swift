import Foundation

/// An IDX file of unsigned bytes (the format of the MNIST files): its dimensions and values.
public struct IDXArray: Sendable {
  public var dimensions: [Int]
  public var values: [UInt8]
}

/// Reads IDX files, gzipped or raw, trusting nothing in them until it has been checked.
public enum IDXReader {
  /// Files larger than this (after inflating) are refused; MNIST's largest is 47 MB.
  public static let maximumBytes = 512 << 20

  /// Reads `path`, which must hold unsigned bytes in `dimensionCount` dimensions.
  /// A raw file's header is read and checked against the file's size before its body is read;
  /// a gzipped file larger than the limit is refused before it is read.
  public static func read(_ path: String, dimensionCount: Int) throws(DataError) -> IDXArray {
    try read(path, dimensionCounts: dimensionCount...dimensionCount)
  }

  /// Reads `path`, which must hold unsigned bytes in a number of dimensions in `dimensionCounts`.
  public static func read(_ path: String, dimensionCounts: ClosedRange<Int>) throws(DataError)
    -> IDXArray
  {
    do {
      let file = try SizedFile(path)
      let head = try file.read(4 + 4 * dimensionCounts.upperBound)
      let gzipped = head.starts(with: [0x1F, 0x8B])
      if gzipped {
        guard file.size <= maximumBytes else {
          throw DataError(
            file: path, "is \(file.size) bytes, more than cnnc reads (\(maximumBytes))")
        }
      } else {
        // The header alone says how long the file must be: check that before reading the rest.
        try parse(head, dimensionCounts: dimensionCounts, file: path, totalBytes: file.size)
      }
      // Read whole into one buffer (no concatenation), which parse then consumes.
      try file.rewind()
      let bytes = try file.read(file.size)
      if gzipped {
        return try parse(
          gunzip(bytes, limit: maximumBytes, file: path), dimensionCounts: dimensionCounts,
          file: path)
      }
      return try parse(bytes, dimensionCounts: dimensionCounts, file: path)
    } catch let failure as SizedFile.Failure {
      throw DataError(file: path, failure.reason)
    } catch let error as DataError {
      throw error
    } catch {
      throw DataError(file: path, "\(error)")
    }
  }

  /// Checks the magic number, the dimensions and that they account for every byte. With
  /// `totalBytes`, `bytes` is only the file's header and the file is that long: the header is
  /// checked against it and nothing else is returned.
  @discardableResult
  static func parse(
    _ bytes: consuming [UInt8], dimensionCounts: ClosedRange<Int>, file: String,
    totalBytes: Int? = nil
  ) throws(DataError) -> IDXArray {
    guard bytes.count >= 4 else {
      throw DataError(file: file, "too short for an IDX header (\(bytes.count) bytes)")
    }
    guard bytes[0] == 0, bytes[1] == 0 else {
      throw DataError(
        file: file, "not an IDX file: its magic number does not start with two zero bytes")
    }
    guard bytes[2] == 0x08 else {
      throw DataError(
        file: file, "IDX element type 0x\(String(bytes[2], radix: 16)) is not unsigned bytes (0x08)"
      )
    }
    let dimensionCount = Int(bytes[3])
    guard dimensionCounts.contains(dimensionCount) else {
      let expected =
        dimensionCounts.count == 1
        ? "\(dimensionCounts.lowerBound)"
        : "\(dimensionCounts.lowerBound) to \(dimensionCounts.upperBound)"
      throw DataError(file: file, "has \(bytes[3]) dimensions; expected \(expected)")
    }
    let headerBytes = 4 + 4 * dimensionCount
    guard bytes.count >= headerBytes else {
      throw DataError(
        file: file, "truncated inside its header (\(bytes.count) of \(headerBytes) bytes)")
    }
    var dimensions: [Int] = []
    for index in 0..<dimensionCount {
      let offset = 4 + 4 * index
      let size = bytes[offset..<offset + 4].reduce(0) { $0 << 8 | Int($1) }
      guard size > 0 else { throw DataError(file: file, "dimension \(index + 1) is zero") }
      dimensions.append(size)
    }
    guard let count = checkedProduct(dimensions), count <= maximumBytes else {
      throw DataError(file: file, "dimensions \(dimensions) describe more data than cnnc reads")
    }
    let expected = headerBytes + count
    let actual = totalBytes ?? bytes.count
    guard actual == expected else {
      let what = actual < expected ? "truncated" : "longer than its header says"
      throw DataError(
        file: file,
        "\(what): dimensions \(dimensions.map(String.init).joined(separator: "×")) need "
          + "\(expected) bytes, the file has \(actual)")
    }
    if totalBytes != nil { return IDXArray(dimensions: dimensions, values: []) }
    // The values are the bytes less the header, moved in place rather than copied: the
    // buffer is this function's own, so the file's data is held once, not twice.
    var values = bytes
    values.removeSubrange(0..<headerBytes)
    return IDXArray(dimensions: dimensions, values: values)
  }
}
