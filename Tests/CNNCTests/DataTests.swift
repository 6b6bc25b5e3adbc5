import Foundation
import Testing

@testable import CNNC

/// The IDX reader trusts nothing: every corruption is an error naming the file and the problem.
@Suite struct IDXReaderTests {
  static func idx(_ dimensions: [Int], _ values: [UInt8], type: UInt8 = 0x08) -> [UInt8] {
    var bytes: [UInt8] = [0, 0, type, UInt8(dimensions.count)]
    for size in dimensions {
      bytes += [
        UInt8(size >> 24 & 0xFF), UInt8(size >> 16 & 0xFF), UInt8(size >> 8 & 0xFF),
        UInt8(size & 0xFF),
      ]
    }
    return bytes + values
  }

  static func write(_ bytes: [UInt8], name: String, in folder: URL) throws -> String {
    let url = folder.appendingPathComponent(name)
    try Data(bytes).write(to: url)
    return url.path
  }

  static func folder() throws -> URL {
    let url = TestFiles.newURL()
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
  }

  /// gzip through the system's gzip, so the reader is tested against a real encoder.
  static func gzip(_ path: String) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["gzip", "-f", path]
    try process.run()
    process.waitUntilExit()
  }

  @Test func readsRawAndGzipped() throws {
    let folder = try Self.folder()
    let path = try Self.write(Self.idx([2, 2, 3], Array(0..<12)), name: "a", in: folder)
    let raw = try IDXReader.read(path, dimensionCount: 3)
    #expect(raw.dimensions == [2, 2, 3])
    #expect(raw.values == Array(0..<12))
    try Self.gzip(path)
    let zipped = try IDXReader.read(path + ".gz", dimensionCount: 3)
    #expect(zipped.values == raw.values)
  }

  struct Corruption: Sendable, CustomTestStringConvertible {
    var name: String
    var bytes: [UInt8]
    var dimensions: Int
    var message: String
    var testDescription: String { name }
  }

  static let corruptions: [Corruption] = [
    Corruption(name: "empty", bytes: [], dimensions: 1, message: "too short for an IDX header"),
    Corruption(
      name: "bad magic", bytes: [1, 0, 8, 1, 0, 0, 0, 1, 5], dimensions: 1,
      message: "not an IDX file"),
    Corruption(
      name: "float type", bytes: idx([1], [0, 0, 0, 0], type: 0x0D), dimensions: 1,
      message: "is not unsigned bytes"),
    Corruption(
      name: "wrong rank", bytes: idx([1, 1], [0]), dimensions: 1,
      message: "has 2 dimensions; expected 1"),
    Corruption(
      name: "truncated header", bytes: [0, 0, 8, 3, 0, 0], dimensions: 3,
      message: "truncated inside its header"),
    Corruption(
      name: "truncated data", bytes: idx([10], [1, 2, 3]), dimensions: 1,
      message: "truncated: dimensions 10 need 18 bytes, the file has 11"),
    Corruption(
      name: "trailing data", bytes: idx([2], [1, 2, 3]), dimensions: 1,
      message: "longer than its header says"),
    Corruption(
      name: "zero dimension", bytes: idx([0], []), dimensions: 1, message: "dimension 1 is zero"),
    Corruption(
      name: "huge dimensions", bytes: idx([65535, 65535, 65535], []), dimensions: 3,
      message: "more data than cnnc reads"),
  ]

  @Test(arguments: corruptions)
  func corruptFileIsAnError(_ corruption: Corruption) throws {
    let path = try Self.write(corruption.bytes, name: "bad", in: try Self.folder())
    let error = #expect(throws: DataError.self) {
      try IDXReader.read(path, dimensionCount: corruption.dimensions)
    }
    #expect(error?.file == path)
    #expect(error?.problem.contains(corruption.message) == true, "\(String(describing: error))")
  }

  @Test func truncatedAndCorruptGzip() throws {
    let folder = try Self.folder()
    let path = try Self.write(
      Self.idx([4000], (0..<4000).map { UInt8($0 % 251) }), name: "g", in: folder)
    try Self.gzip(path)
    let zipped = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path + ".gz")))
    let truncated = try Self.write(Array(zipped.prefix(zipped.count / 2)), name: "t.gz", in: folder)
    let error = #expect(throws: DataError.self) { try IDXReader.read(truncated, dimensionCount: 1) }
    #expect(error?.problem.contains("truncated") == true)
    var flipped = zipped
    for index in 12..<min(40, flipped.count) { flipped[index] ^= 0xFF }
    let corrupt = try Self.write(flipped, name: "c.gz", in: folder)
    #expect(throws: DataError.self) { try IDXReader.read(corrupt, dimensionCount: 1) }
  }

  @Test func labelsMustMatchImagesAndClasses() throws {
    let folder = try Self.folder()
    _ = try Self.write(
      Self.idx([2, 2, 2], Array(0..<8)), name: "train-images-idx3-ubyte", in: folder)
    _ = try Self.write(Self.idx([3], [0, 1, 2]), name: "train-labels-idx1-ubyte", in: folder)
    let countError = #expect(throws: DataError.self) {
      try MNIST.split(folder.path, "train", classes: 10)
    }
    #expect(countError?.problem.contains("has 3 labels but") == true)
    _ = try Self.write(Self.idx([2], [0, 12]), name: "train-labels-idx1-ubyte", in: folder)
    let rangeError = #expect(throws: DataError.self) {
      try MNIST.split(folder.path, "train", classes: 10)
    }
    #expect(rangeError?.problem.contains("label 12 of image 1 is not below the 10 classes") == true)
  }

  @Test func shippedMNIST() throws {
    let mnist = try MNIST(folder: modelPath("data/mnist"))
    #expect(mnist.train.count == 60_000)
    #expect(mnist.test.count == 10_000)
    #expect((mnist.train.rows, mnist.train.columns) == (28, 28))
    // The first training label of MNIST is 5, the first test label 7.
    #expect(mnist.train.labels.first == 5)
    #expect(mnist.test.labels.first == 7)
  }
}
