import Foundation

/// A problem with a checkpoint file, naming the file and, where it is about one, the tensor.
public struct CheckpointError: Error, CustomStringConvertible, Sendable {
  public var file: String
  public var tensor: String?
  public var problem: String

  public var description: String {
    "\(file): " + (tensor.map { "tensor '\($0)': " } ?? "") + problem
  }
}

/// A safetensors file of F32 and I64 tensors: `[u64 little-endian header length][JSON
/// header][data]`, the header mapping each name to its dtype, shape and byte range in the data.
public struct SafeTensors: Sendable {
  /// The element types cnnc reads and writes.
  public enum DType: String, Sendable, CaseIterable {
    case f32 = "F32"
    /// Only batchnorm's `num_batches_tracked` is one, as PyTorch saves it.
    case i64 = "I64"
    /// Int8 checkpoints' biases, zero points and counts (`cnnc quantize`).
    case i32 = "I32"
    /// Int8 checkpoints' weights.
    case i8 = "I8"

    /// Bytes per element.
    var bytes: Int {
      switch self {
      case .f32, .i32: 4
      case .i64: 8
      case .i8: 1
      }
    }
  }

  /// One named tensor with its shape and data.
  public struct Tensor: Sendable {
    public var name: String
    public var shape: [Int]
    public var dtype: DType
    /// The data as 4-byte words, bits as stored: an F32 tensor's values, each I64 element as
    /// two words, low first (see `integers`), each I32 element as one, and I8 elements four to
    /// a word, the first in the low byte, the last word padded with zeros (see `int8s`).
    public var values: [Float]

    public init(name: String, shape: [Int], dtype: DType = .f32, values: [Float]) {
      self.name = name
      self.shape = shape
      self.dtype = dtype
      self.values = values
    }

    public init(name: String, shape: [Int], integers: [Int64]) {
      let words = integers.flatMap { value -> [Float] in
        let bits = UInt64(bitPattern: value)
        return [
          Float(bitPattern: UInt32(truncatingIfNeeded: bits)),
          Float(bitPattern: UInt32(bits >> 32)),
        ]
      }
      self.init(name: name, shape: shape, dtype: .i64, values: words)
    }

    public init(name: String, shape: [Int], int32s: [Int32]) {
      self.init(
        name: name, shape: shape, dtype: .i32,
        values: int32s.map { Float(bitPattern: UInt32(bitPattern: $0)) })
    }

    public init(name: String, shape: [Int], int8s: [Int8]) {
      let words = stride(from: 0, to: int8s.count, by: 4).map { start in
        var bits: UInt32 = 0
        for (n, value) in int8s[start..<min(start + 4, int8s.count)].enumerated() {
          bits |= UInt32(UInt8(bitPattern: value)) << (8 * n)
        }
        return Float(bitPattern: bits)
      }
      self.init(name: name, shape: shape, dtype: .i8, values: words)
    }

    /// Elements, from the shape.
    public var count: Int { checkedProduct(shape) ?? 0 }

    /// Bytes of the file it takes.
    var byteCount: Int { count * dtype.bytes }

    /// An I32 tensor's elements; nil for other types.
    public var int32s: [Int32]? {
      guard dtype == .i32 else { return nil }
      return values.map { Int32(bitPattern: $0.bitPattern) }
    }

    /// An I8 tensor's elements; nil for other types.
    public var int8s: [Int8]? {
      guard dtype == .i8 else { return nil }
      return (0..<count).map { index in
        Int8(truncatingIfNeeded: values[index / 4].bitPattern >> (8 * (index % 4)))
      }
    }

    /// An I64 tensor's elements; nil for other types.
    public var integers: [Int64]? {
      guard dtype == .i64 else { return nil }
      return stride(from: 0, to: values.count - 1, by: 2).map { index in
        Int64(
          bitPattern: UInt64(values[index].bitPattern)
            | UInt64(values[index + 1].bitPattern) << 32)
      }
    }
  }

  public var tensors: [Tensor]
  public var metadata: [String: String]

  public init(tensors: [Tensor], metadata: [String: String] = [:]) {
    self.tensors = tensors
    self.metadata = metadata
  }

  public subscript(name: String) -> Tensor? { tensors.first { $0.name == name } }

  /// Headers larger than this are refused (the reference implementation's limit).
  public static let maximumHeaderBytes = 100 << 20

  // MARK: Writing

  /// The file's bytes: tensors in the order given, back to back, header padded to 8 bytes.
  public func encoded() -> [UInt8] {
    var entries: [String] = []
    if !metadata.isEmpty {
      let pairs = metadata.keys.sorted().map {
        "\(jsonQuoted($0)):\(jsonQuoted(metadata[$0] ?? ""))"
      }
      entries.append("\"__metadata__\":{\(pairs.joined(separator: ","))}")
    }
    var offset = 0
    for tensor in tensors {
      let end = offset + tensor.byteCount
      let shape = tensor.shape.map(String.init).joined(separator: ",")
      entries.append(
        "\(jsonQuoted(tensor.name)):{\"dtype\":\"\(tensor.dtype.rawValue)\",\"shape\":[\(shape)],\"data_offsets\":[\(offset),\(end)]}"
      )
      offset = end
    }
    var header = Array("{\(entries.joined(separator: ","))}".utf8)
    while header.count % 8 != 0 { header.append(UInt8(ascii: " ")) }
    var bytes: [UInt8] = []
    bytes.reserveCapacity(8 + header.count + offset)
    withUnsafeBytes(of: UInt64(header.count).littleEndian) { bytes.append(contentsOf: $0) }
    bytes.append(contentsOf: header)
    for tensor in tensors {
      let start = bytes.count
      for value in tensor.values {
        withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
      }
      // An I8 tensor's last word may hold padding past its elements.
      bytes.removeLast(bytes.count - start - tensor.byteCount)
    }
    return bytes
  }

  /// Writes atomically (`OutputFile`), so an interrupted write never leaves a broken file where
  /// a good one was; `faultLabel` names the save's fault-injection points (tests only).
  public func write(to path: String, faultLabel: String? = nil) throws(CheckpointError) {
    try OutputFile.write(encoded(), to: path, faultLabel: faultLabel)
  }

  // MARK: Reading

  /// Reads the header first and checks it against the file's size; the tensor data, whose size
  /// is then known, is read only when everything in the header holds.
  public static func read(_ path: String) throws(CheckpointError) -> SafeTensors {
    do {
      let file = try SizedFile(path)
      let headerEnd = try headerEnd(try file.read(8), fileBytes: file.size, file: path)
      let layout = try parseHeader(
        try file.read(headerEnd - 8), dataBytes: file.size - headerEnd, file: path)
      let data = try file.read(file.size - headerEnd)
      guard data.count == file.size - headerEnd else {
        throw CheckpointError(file: path, problem: "changed while it was read")
      }
      return tensors(layout, data: data[...])
    } catch let failure as SizedFile.Failure {
      throw CheckpointError(file: path, problem: failure.reason)
    } catch let error as CheckpointError {
      throw error
    } catch {
      throw CheckpointError(file: path, problem: "\(error)")
    }
  }

  /// Checks everything before trusting it: header length and JSON, dtype, that each shape
  /// matches its byte range, offsets inside the data, no overlaps and no gaps.
  public static func decode(_ bytes: [UInt8], file: String) throws(CheckpointError) -> SafeTensors {
    let headerEnd = try headerEnd(bytes, fileBytes: bytes.count, file: file)
    let layout = try parseHeader(
      Array(bytes[8..<headerEnd]), dataBytes: bytes.count - headerEnd, file: file)
    return tensors(layout, data: bytes[headerEnd...])
  }

  /// Where the header ends, from the 8-byte length that opens `bytes` (a file of
  /// `fileBytes` bytes).
  private static func headerEnd(_ bytes: [UInt8], fileBytes: Int, file: String)
    throws(CheckpointError) -> Int
  {
    guard bytes.count >= 8, fileBytes >= 8 else {
      throw CheckpointError(
        file: file,
        problem: "too short for a safetensors header length (\(min(bytes.count, fileBytes)) bytes)")
    }
    let declared = bytes[0..<8].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
    guard declared <= UInt64(min(maximumHeaderBytes, fileBytes - 8)) else {
      throw CheckpointError(
        file: file,
        problem: "header length \(declared) runs past the end of the file (\(fileBytes) bytes)")
    }
    return 8 + Int(declared)
  }

  /// The tensors' names, shapes and byte ranges, and the metadata: a header checked against
  /// the `dataBytes` that follow it.
  private struct Layout {
    var metadata: [String: String]
    var entries: [(name: String, shape: [Int], dtype: DType, range: Range<Int>)]
  }

  private static func parseHeader(_ headerBytes: [UInt8], dataBytes: Int, file: String)
    throws(CheckpointError) -> Layout
  {
    func fail(_ problem: String, _ tensor: String? = nil) -> CheckpointError {
      CheckpointError(file: file, tensor: tensor, problem: problem)
    }
    let json: Any
    do {
      json = try JSONSerialization.jsonObject(with: Data(headerBytes))
    } catch {
      throw fail("the header is not valid JSON")
    }
    guard let header = json as? [String: Any] else { throw fail("the header is not a JSON object") }

    var metadata: [String: String] = [:]
    var entries: [(name: String, shape: [Int], dtype: DType, range: Range<Int>)] = []
    for (name, value) in header {
      if name == "__metadata__" {
        guard let map = value as? [String: Any] else { throw fail("__metadata__ is not an object") }
        for (key, item) in map {
          guard let text = item as? String else { throw fail("metadata '\(key)' is not a string") }
          metadata[key] = text
        }
        continue
      }
      guard let info = value as? [String: Any] else {
        throw fail("its entry is not an object", name)
      }
      guard let dtype = info["dtype"] as? String else { throw fail("has no dtype", name) }
      guard let type = DType(rawValue: dtype) else {
        throw fail("dtype \(dtype) is none of F32, I64, I32 and I8", name)
      }
      guard let shape = integers(info["shape"]), shape.allSatisfy({ $0 >= 0 }) else {
        throw fail("its shape is not a list of non-negative integers", name)
      }
      guard let offsets = integers(info["data_offsets"]), offsets.count == 2,
        offsets[0] >= 0, offsets[0] <= offsets[1]
      else { throw fail("its data_offsets are not [begin, end]", name) }
      guard offsets[1] <= dataBytes else {
        throw fail(
          "its bytes \(offsets[0])..<\(offsets[1]) run past the data (\(dataBytes) bytes)", name)
      }
      guard let count = checkedProduct(shape), let size = checkedProduct([count, type.bytes]),
        size == offsets[1] - offsets[0]
      else {
        throw fail("shape \(shape) does not match its \(offsets[1] - offsets[0]) bytes", name)
      }
      entries.append((name, shape, type, offsets[0]..<offsets[1]))
    }
    entries.sort {
      ($0.range.lowerBound, $0.range.upperBound) < ($1.range.lowerBound, $1.range.upperBound)
    }
    var cursor = 0
    for entry in entries {
      guard entry.range.lowerBound >= cursor else {
        throw fail("its bytes overlap another tensor's", entry.name)
      }
      guard entry.range.lowerBound == cursor else {
        throw fail("a gap in the data precedes it", entry.name)
      }
      cursor = entry.range.upperBound
    }
    guard cursor == dataBytes else {
      throw fail("\(dataBytes - cursor) bytes at the end belong to no tensor")
    }
    return Layout(metadata: metadata, entries: entries)
  }

  /// The tensors of a checked layout, from its data bytes (little-endian words).
  private static func tensors(_ layout: Layout, data: ArraySlice<UInt8>) -> SafeTensors {
    let base = data.startIndex
    let tensors = layout.entries.map { entry in
      // Whole words, the last one (an I8 tensor's) padded with zeros.
      let values = (0..<((entry.range.count + 3) / 4)).map { index -> Float in
        let at = base + entry.range.lowerBound + 4 * index
        let end = base + entry.range.upperBound
        var bits: UInt32 = 0
        for n in 0..<4 where at + n < end { bits |= UInt32(data[at + n]) << (8 * n) }
        return Float(bitPattern: bits)
      }
      return Tensor(name: entry.name, shape: entry.shape, dtype: entry.dtype, values: values)
    }
    return SafeTensors(tensors: tensors, metadata: layout.metadata)
  }

  /// A JSON array of integers, or nil. Booleans ("c") and numbers written with a fraction or
  /// exponent ("d", "f") are not integers, as in the reference implementation.
  private static func integers(_ value: Any?) -> [Int]? {
    guard let array = value as? [Any] else { return nil }
    var result: [Int] = []
    for item in array {
      guard let number = item as? NSNumber,
        !["c", "d", "f"].contains(String(cString: number.objCType))
      else { return nil }
      result.append(number.intValue)
    }
    return result
  }
}

/// `text` as a JSON string literal, quotes and escapes included.
func jsonQuoted(_ text: String) -> String {
  var out = "\""
  for scalar in text.unicodeScalars {
    switch scalar {
    case "\"": out += "\\\""
    case "\\": out += "\\\\"
    case "\n": out += "\\n"
    case "\t": out += "\\t"
    case _ where scalar.value < 0x20: out += String(format: "\\u%04x", scalar.value)
    default: out.unicodeScalars.append(scalar)
    }
  }
  return out + "\""
}
