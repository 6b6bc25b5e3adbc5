import Foundation

/// One array in NumPy's `.npy` format (versions 1 to 3), read from a file (or bytes in memory): the header is
/// parsed and checked against the file's length before any value is touched.
struct NumPyArray {
  enum Kind: Character {
    case float = "f"
    case signed = "i"
    case unsigned = "u"
    case bool = "b"
  }

  let storage: DataFile
  /// Where the values are in `storage`.
  let values: Range<Int>
  let kind: Kind
  let itemBytes: Int
  let shape: [Int]
  /// The name messages use: the file, or "archive.npz/member.npy".
  let name: String

  var count: Int { shape.first ?? 0 }
  var dtype: String { "\(kind.rawValue)\(itemBytes)" }

  /// The most bytes a .npy header takes: the magic, version and length (12 at most), and a
  /// header dict of at most 64 KiB.
  static let maximumHeaderBytes = 12 + (1 << 16)

  /// The size of the whole .npy file whose beginning `head` holds (its header whole): header
  /// and data, as the header declares them.
  static func declaredBytes(_ head: DataFile, name: String) throws(DataError) -> Int {
    let header = try Header(head, range: 0..<head.size, name: name)
    guard let total = checkedSum([header.offset, header.dataBytes]) else {
      throw DataError(
        file: name, "its shape \(header.shape) describes more data than fits in memory")
    }
    return total
  }

  /// The array held in `range` of `storage` (all of it by default).
  init(_ storage: DataFile, range: Range<Int>? = nil, name: String? = nil) throws(DataError) {
    let range = range ?? 0..<storage.size
    let name = name ?? storage.path
    self.storage = storage
    self.name = name
    let header = try Header(storage, range: range, name: name)
    (kind, itemBytes, shape) = (header.kind, header.itemBytes, header.shape)
    let actual = range.upperBound - header.offset
    guard header.dataBytes == actual else {
      let what = actual < header.dataBytes ? "truncated" : "longer than its header says"
      throw DataError(
        file: name,
        "\(what): shape (\(shape.map(String.init).joined(separator: ", "))) of \(kind.rawValue)\(itemBytes) needs "
          + "\(header.dataBytes) bytes of data, the file has \(actual)")
    }
    values = header.offset..<range.upperBound
  }

  /// What a .npy header says: the element type, the shape, where the data starts and its size.
  private struct Header {
    var kind: Kind
    var itemBytes: Int
    var shape: [Int]
    var offset: Int
    var dataBytes: Int

    init(_ storage: DataFile, range: Range<Int>, name: String) throws(DataError) {
      guard range.count >= 10 else {
        throw DataError(file: name, "is too short for a .npy header (\(range.count) bytes)")
      }
      let start = try storage.bytes(range.lowerBound..<min(range.lowerBound + 12, range.upperBound))
      guard start.starts(with: [0x93] + Array("NUMPY".utf8)) else {
        throw DataError(file: name, "is not a .npy file (it does not start with \\x93NUMPY)")
      }
      let version = start[6]
      guard (1...3).contains(version) else {
        throw DataError(file: name, ".npy format version \(version) is not one cnnc reads (1 to 3)")
      }
      let lengthBytes = version == 1 ? 2 : 4
      guard start.count >= 8 + lengthBytes else {
        throw DataError(file: name, "is truncated inside its .npy header")
      }
      let headerLength = start[8..<(8 + lengthBytes)].reversed().reduce(0) { $0 << 8 | Int($1) }
      let headerStart = range.lowerBound + 8 + lengthBytes
      guard headerLength <= 1 << 16, headerStart + headerLength <= range.upperBound else {
        throw DataError(
          file: name, "its .npy header claims \(headerLength) bytes; the file is \(range.count)")
      }
      let text = String(
        decoding: try storage.bytes(headerStart..<headerStart + headerLength), as: UTF8.self)
      let fields = try NumPyArray.parseHeader(text, name: name)
      (kind, itemBytes, shape) = (fields.kind, fields.itemBytes, fields.shape)
      offset = headerStart + headerLength
      guard let elements = checkedProduct(shape), let bytes = checkedProduct([elements, itemBytes])
      else {
        throw DataError(file: name, "its shape \(shape) describes more data than fits in memory")
      }
      dataBytes = bytes
    }
  }

  /// The dict NumPy writes, e.g. `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`.
  fileprivate static func parseHeader(_ header: String, name: String) throws(DataError) -> (
    kind: Kind, itemBytes: Int, shape: [Int]
  ) {
    func value(after key: String) -> Substring? {
      guard let range = header.range(of: "'\(key)':") else { return nil }
      return header[range.upperBound...].drop(while: { $0 == " " })
    }
    guard let descrText = value(after: "descr"), descrText.first == "'",
      let end = descrText.dropFirst().firstIndex(of: "'")
    else {
      throw DataError(
        file: name, "its .npy header has no plain 'descr' (structured arrays are not supported)")
    }
    let descr = descrText[descrText.index(after: descrText.startIndex)..<end]
    guard descr.count >= 3, let order = descr.first, let code = descr.dropFirst().first,
      let kind = Kind(rawValue: code), let size = Int(descr.dropFirst(2)),
      [1, 2, 4, 8].contains(size)
    else {
      throw DataError(file: name, "has dtype '\(descr)', which cnnc does not read")
    }
    guard order != ">" || size == 1 else {
      throw DataError(
        file: name, "is big-endian ('\(descr)'); save it little-endian (NumPy's default)")
    }
    guard let fortran = value(after: "fortran_order") else {
      throw DataError(file: name, "its .npy header has no 'fortran_order'")
    }
    guard fortran.hasPrefix("False") else {
      throw DataError(
        file: name, "is in Fortran order; save it in C order (np.ascontiguousarray)")
    }
    guard let shapeText = value(after: "shape"), shapeText.first == "(",
      let close = shapeText.firstIndex(of: ")")
    else { throw DataError(file: name, "its .npy header has no 'shape'") }
    var shape: [Int] = []
    for part in shapeText[shapeText.index(after: shapeText.startIndex)..<close].split(
      separator: ",")
    {
      let text = part.trimmingCharacters(in: .whitespaces)
      if text.isEmpty { continue }
      guard let dimension = Int(text), dimension >= 0 else {
        throw DataError(file: name, "its .npy shape has '\(text)', not a size")
      }
      shape.append(dimension)
    }
    return (kind, size, shape)
  }

  /// The values' bytes in `range` (counted from the first value's), in C order, copied into
  /// `scratch` (see `DataFile.withBytes`).
  func withValueBytes<Result>(
    _ range: Range<Int>, scratch: inout [UInt8], _ body: (UnsafeRawBufferPointer) -> Result
  ) throws(DataError) -> Result {
    try storage.withBytes(
      values.lowerBound + range.lowerBound..<values.lowerBound + range.upperBound,
      scratch: &scratch, body)
  }

  /// Every value's bytes, a chunk at a time (see `DataFile.forEachChunk`).
  func forEachValueChunk(_ body: (Int, UnsafeRawBufferPointer) -> Bool) throws(DataError) {
    try storage.forEachChunk(values, body)
  }

  /// Every value as an integer (any integer dtype), e.g. labels.
  func integers() throws(DataError) -> [Int64] {
    guard kind == .signed || kind == .unsigned || kind == .bool else {
      throw DataError(file: name, "holds \(dtype) values; labels must be integers")
    }
    let total = shape.reduce(1, *)
    let bytes = try storage.bytes(values)
    return (0..<total).map { index in
      var value: UInt64 = 0
      for byte in 0..<itemBytes {
        value |= UInt64(bytes[index * itemBytes + byte]) << (8 * UInt64(byte))
      }
      guard kind == .signed, itemBytes < 8 else { return Int64(bitPattern: value) }
      let shift = UInt64(64 - 8 * itemBytes)
      return Int64(bitPattern: value << shift) >> Int64(shift)  // sign-extend
    }
  }
}
