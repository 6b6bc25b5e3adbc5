import Foundation
import Testing

@testable import CNNC

/// `Inference`, the library's side of `cnnc run --weights`, called in-process: images chosen by
/// their path, a checkpoint checked against the network, outputs against the Double reference,
/// and the row names written beside the outputs.
@Suite struct InferenceTests {
  static let yaml = "input: [1, 3, 4]\nlayers: [{type: dense, name: fc, units: 3}]\n"

  /// An array of `count` unlabelled 1×3×4 images, and a checkpoint of `yaml`'s dense layer.
  static func files(count: Int) throws -> (folder: String, images: [Float], weight: [Float]) {
    let folder = try DataFileWriters.folder()
    let images = randomValues(count * 12, seed: 3)
    try DataFileWriters.npy(
      descr: "<f4", shape: [count, 1, 3, 4], body: DataFileWriters.float32Bytes(images),
      to: folder + "/images.npy")
    let weight = randomValues(3 * 12 + 3, seed: 4)
    try SafeTensors(tensors: [
      .init(name: "fc.weight", shape: [3, 12], values: Array(weight[0..<36])),
      .init(name: "fc.bias", shape: [3], values: Array(weight[36...])),
    ]).write(to: folder + "/fc.safetensors")
    return (folder, images, weight)
  }

  @Test func outputsOfAnArrayMatchTheReferenceAndNameTheirRows() throws {
    let count = 5
    let (folder, images, weight) = try Self.files(count: count)
    let network = try InferredNetwork(yaml: Self.yaml)
    let data = try Inference.images(at: folder + "/images.npy", for: network)
    #expect(data.count == count)
    let result = try Inference.run(
      network, weights: folder + "/fc.safetensors", over: data, preprocessing: Preprocessing(),
      keepOutputs: true)
    #expect(result.images == count)
    #expect(result.correct == nil, "unlabelled images have no accuracy")
    #expect(result.outputs.count == count * 3)
    for image in 0..<count {
      let expected = Reference.dense(
        images[(image * 12)..<((image + 1) * 12)].map(Double.init),
        weight: weight[0..<36].map(Double.init), bias: weight[36...].map(Double.init), units: 3)
      for unit in 0..<3 {
        #expect(abs(Double(result.outputs[image * 3 + unit]) - expected[unit]) < 1e-5)
      }
    }

    let output = folder + "/out.npy"
    try Inference.writeOutputs(of: result, data, to: output, namingRows: true)
    let names = try String(contentsOfFile: Inference.rowNamesPath(for: output), encoding: .utf8)
    #expect(names == (0..<count).map { "\(folder)/images.npy image \($0)\n" }.joined())
    // The .npy holds the outputs as they were computed, after its header.
    let bytes = try Data(contentsOf: URL(fileURLWithPath: output))
    #expect(Array(bytes.suffix(count * 3 * 4)) == DataFileWriters.float32Bytes(result.outputs))
  }

  @Test func aCheckpointOrImagesThatDoNotFitAreErrors() throws {
    let (folder, _, _) = try Self.files(count: 2)
    let data = try Inference.images(
      at: folder + "/images.npy", for: try InferredNetwork(yaml: Self.yaml))
    // Another layer's name: the checkpoint's tensors are not this network's.
    let renamed = try InferredNetwork(yaml: Self.yaml.replacingOccurrences(of: "fc", with: "out"))
    let missing = #expect(throws: CheckpointError.self) {
      try Inference.run(
        renamed, weights: folder + "/fc.safetensors", over: data, preprocessing: Preprocessing(),
        keepOutputs: false)
    }
    #expect(missing?.tensor == "fc.bias")
    #expect(missing?.problem == "the network has no such parameter")
    let wider = try InferredNetwork(
      yaml: Self.yaml.replacingOccurrences(of: "[1, 3, 4]", with: "[1, 4, 4]"))
    let shape = #expect(throws: TrainingError.self) {
      try Inference.run(
        wider, weights: folder + "/fc.safetensors", over: data, preprocessing: Preprocessing(),
        keepOutputs: false)
    }
    #expect(
      shape?.message.contains("the network's input is 1×4×4") == true,
      "\(String(describing: shape))")
  }
}
