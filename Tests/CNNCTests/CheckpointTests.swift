import Foundation
import Testing

@testable import CNNC

@Suite struct SafeTensorsTests {
  static let sample = SafeTensors(
    tensors: [
      .init(name: "c.weight", shape: [2, 1, 1, 2], values: [1, -2, 3.5, 0]),
      .init(name: "c.bias", shape: [2], values: [0.25, -0.125]),
    ], metadata: ["step": "7"])

  @Test func roundTrip() throws {
    let bytes = Self.sample.encoded()
    // Header length is little-endian and the header is padded to a multiple of 8.
    let headerLength = Int(bytes[0]) | Int(bytes[1]) << 8
    #expect(headerLength % 8 == 0)
    #expect(bytes.count == 8 + headerLength + 6 * 4)
    let decoded = try SafeTensors.decode(bytes, file: "x")
    #expect(decoded.metadata == ["step": "7"])
    #expect(decoded["c.weight"]?.shape == [2, 1, 1, 2])
    #expect(decoded["c.weight"]?.values == [1, -2, 3.5, 0])
    #expect(decoded["c.bias"]?.values == [0.25, -0.125])
  }

  /// A file with `header` as its JSON header and `data` bytes after it.
  static func file(_ header: String, data: Int) -> [UInt8] {
    var bytes: [UInt8] = []
    withUnsafeBytes(of: UInt64(header.utf8.count).littleEndian) { bytes += $0 }
    return bytes + Array(header.utf8) + [UInt8](repeating: 0, count: data)
  }

  struct Corruption: Sendable, CustomTestStringConvertible {
    var name: String
    var bytes: [UInt8]
    var tensor: String?
    var message: String
    var testDescription: String { name }
  }

  static let corruptions: [Corruption] = [
    Corruption(name: "short", bytes: [1, 2, 3], tensor: nil, message: "too short"),
    Corruption(
      name: "header past the end", bytes: [255, 255, 0, 0, 0, 0, 0, 0, 123], tensor: nil,
      message: "runs past the end"),
    Corruption(
      name: "not JSON", bytes: file("{nope", data: 0), tensor: nil, message: "not valid JSON"),
    Corruption(
      name: "not an object", bytes: file("[1, 2]", data: 0), tensor: nil,
      message: "not a JSON object"),
    Corruption(
      name: "F16", bytes: file(#"{"w":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}}"#, data: 4),
      tensor: "w", message: "dtype F16 is none of F32, I64, I32 and I8"),
    Corruption(
      name: "shape and bytes disagree",
      bytes: file(#"{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: 8), tensor: "w",
      message: "shape [3] does not match its 8 bytes"),
    Corruption(
      name: "past the data",
      bytes: file(#"{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, data: 8),
      tensor: "w", message: "run past the data"),
    Corruption(
      name: "overlap",
      bytes: file(
        #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#,
        data: 12), tensor: "b", message: "overlap"),
    Corruption(
      name: "gap", bytes: file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#, data: 8),
      tensor: "a", message: "gap"),
    Corruption(
      name: "trailing bytes",
      bytes: file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}"#, data: 12),
      tensor: nil, message: "8 bytes at the end belong to no tensor"),
    Corruption(
      name: "negative shape",
      bytes: file(#"{"a":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}}"#, data: 4),
      tensor: "a", message: "not a list of non-negative integers"),
    Corruption(
      name: "boolean offsets",
      bytes: file(#"{"a":{"dtype":"F32","shape":[1],"data_offsets":[false,true]}}"#, data: 4),
      tensor: "a", message: "data_offsets"),
    Corruption(
      name: "deep JSON", bytes: file(String(repeating: "[", count: 100_000), data: 0), tensor: nil,
      message: "not valid JSON"),
  ]

  @Test(arguments: corruptions)
  func corruptFileIsAnError(_ corruption: Corruption) {
    let error = #expect(throws: CheckpointError.self) {
      try SafeTensors.decode(corruption.bytes, file: "ckpt")
    }
    #expect(error?.tensor == corruption.tensor)
    #expect(error?.problem.contains(corruption.message) == true, "\(String(describing: error))")
  }

  @Test func checkpointMustFitTheNetwork() throws {
    let network = try InferredNetwork(
      yaml: "input: [1, 3, 3]\nlayers: [{type: conv, name: c, filters: 2, kernel: 2}]\n")
    let plan = try Planner.plan(network, PlanOptions(mode: .inference, batch: 1))
    func load(_ file: SafeTensors) -> CheckpointError? {
      #expect(throws: CheckpointError.self) {
        _ = try Checkpoints.values(
          of: file, path: "p", plan.parameters, floats: plan.parameterFloats)
      }
    }
    let weight = SafeTensors.Tensor(
      name: "c.weight", shape: [2, 1, 2, 2], values: [Float](repeating: 1, count: 8))
    let bias = SafeTensors.Tensor(name: "c.bias", shape: [2], values: [0, 0])
    #expect(
      try Checkpoints.values(
        of: SafeTensors(tensors: [weight, bias]), path: "p", plan.parameters,
        floats: plan.parameterFloats
      ).count == plan.parameterFloats)
    #expect(load(SafeTensors(tensors: [weight]))?.tensor == "c.bias")
    #expect(
      load(SafeTensors(tensors: [weight, bias, .init(name: "d.weight", shape: [1], values: [0])]))?
        .tensor == "d.weight")
    let wrongShape = SafeTensors.Tensor(
      name: "c.weight", shape: [2, 2, 2, 1], values: [Float](repeating: 1, count: 8))
    #expect(
      load(SafeTensors(tensors: [wrongShape, bias]))?.problem.contains(
        "does not match the layer's [2, 1, 2, 2]") == true)
    let nan = SafeTensors.Tensor(name: "c.bias", shape: [2], values: [.nan, 0])
    #expect(load(SafeTensors(tensors: [weight, nan]))?.tensor == "c.bias")
  }

  @Test func atomicWriteReplacesTheFile() throws {
    let path = TestFiles.newURL(suffix: ".safetensors").path
    try Self.sample.write(to: path)
    try Self.sample.write(to: path)
    #expect(try SafeTensors.read(path)["c.bias"]?.values == [0.25, -0.125])
    let folder = (path as NSString).deletingLastPathComponent
    let leftovers = try FileManager.default.contentsOfDirectory(atPath: folder).filter {
      $0.hasSuffix(".tmp")
    }
    #expect(leftovers.isEmpty)
  }

  @Test func numpyHeader() {
    let bytes = NumPyFile.encoded(rows: 2, columns: 3, values: [1, 2, 3, 4, 5, 6])
    #expect(Array(bytes[0..<8]) == [0x93] + Array("NUMPY".utf8) + [1, 0])
    let headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
    #expect((10 + headerLength) % 64 == 0)
    let header = String(decoding: bytes[10..<(10 + headerLength)], as: UTF8.self)
    #expect(header.hasPrefix("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }"))
    #expect(header.hasSuffix("\n"))
    #expect(bytes.count == 10 + headerLength + 24)
  }
}
